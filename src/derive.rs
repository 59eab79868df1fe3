//! `bnproof derive`: the chain-rule derivation of a model, its gradients,
//! and kernel-checked proofs that they equal every reference form the model
//! file states (`claim` lines: the paper's equations, the compact form), plus
//! the standard facts about normalization gradients.
//!
//! Proofs are about the fully inlined expressions (every definition
//! substituted), so that they depend on nothing but the inputs, the
//! parameters, the constants and the upstream gradient; the report shows them
//! in the model's own names.

use crate::diff::{self, Derivation};
use crate::ir::{Assumption, Expr, RedOp, Statement, Symbol};
use crate::kernel::Proof;
use crate::models::Loaded;
use crate::prove::{self, Options, Outcome};
use crate::refute::Counterexample;
use crate::refute::{self, RefuteOptions, RefuteOutcome};
use crate::syntax::{self, Model};
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::time::{Duration, Instant};

/// What a derivation is asked for.
#[derive(Clone, Debug)]
pub struct DeriveOptions {
    /// Only these inputs/params (all when `None`).
    pub wrt: Option<Vec<String>>,
    /// Prover limits for each equality.
    pub prover: Options,
    /// 1: gradients; 2: also the double backward; 3: also the third
    /// directional derivative.
    pub order: u8,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        DeriveOptions {
            wrt: None,
            prover: Options::default(),
            order: 1,
        }
    }
}

/// The verdict on one equality.
#[derive(Clone, Debug)]
pub enum Verdict {
    Proved(Proof),
    Refuted(Box<Counterexample>),
    Unknown(String),
}

/// One equality the derivation checks, in the model's names.
#[derive(Clone, Debug)]
pub struct Equality {
    /// What it says, e.g. "∂ℓ/∂x equals claim (line 17)".
    pub title: String,
    pub lhs: Expr,
    pub rhs: Expr,
    /// Whether it is expected to hold (facts that fail on purpose do not).
    pub expect_true: bool,
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// The model file's line this equality checks (a claim's line).
    pub line: Option<usize>,
}

impl Equality {
    /// The verdict is the expected one.
    pub fn as_expected(&self) -> bool {
        matches!(
            (&self.verdict, self.expect_true),
            (Verdict::Proved(_), true) | (Verdict::Refuted(_), false)
        )
    }
}

/// A gradient in raw and simplified form.
#[derive(Clone, Debug)]
pub struct Gradient {
    pub name: String,
    /// Straight out of reverse mode.
    pub raw: Expr,
    /// The cheapest form proved equal to the raw one.
    pub simplified: Expr,
    pub raw_cost: usize,
    pub simplified_cost: usize,
}

/// Everything `derive` reports.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: String,
    pub model: Model,
    pub derivation: Derivation,
    pub gradients: Vec<Gradient>,
    pub equalities: Vec<Equality>,
    /// The symbolic higher derivatives (order 2 and 3), when asked for.
    pub higher: Option<crate::higher::Higher>,
    /// Reductions in the chain rule's contributions that are zero, with
    /// their proofs (the terms that vanish).
    pub vanishing: Vec<(Expr, Proof)>,
    pub elapsed: Duration,
}

impl Report {
    /// The vanishing reductions that occur in `e`.
    pub fn vanishing_in<'a>(&'a self, e: &'a Expr) -> impl Iterator<Item = &'a (Expr, Proof)> {
        self.vanishing.iter().filter(move |(z, _)| contains(e, z))
    }

    /// Every equality got its expected verdict.
    pub fn ok(&self) -> bool {
        self.equalities.iter().all(Equality::as_expected)
    }
}

/// Why a derivation could not be made.
#[derive(Debug)]
pub enum DeriveError {
    Diff(diff::DiffError),
    UnknownWrt(String),
}

impl fmt::Display for DeriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeriveError::Diff(e) => write!(f, "cannot differentiate the model: {e}"),
            DeriveError::UnknownWrt(w) => {
                write!(
                    f,
                    "--wrt {w}: not an input or parameter of the model; name one of its `input` or `param` lines"
                )
            }
        }
    }
}

impl std::error::Error for DeriveError {}

/// Operations per output element: every arithmetic node and every
/// reduction counts one; numbers and symbols are free.
pub fn cost(e: &Expr) -> usize {
    match e {
        Expr::Num(_) | Expr::Sym(_) | Expr::PVar(_) => 0,
        _ => 1 + e.children().iter().map(|c| cost(c)).sum::<usize>(),
    }
}

/// The cost of each name the derivation introduces: the cost of what it
/// stands for, so that naming a subexpression never lowers a cost. The
/// model's own definitions cost nothing (the forward pass computes them).
fn name_costs(d: &Derivation) -> BTreeMap<String, usize> {
    let mut costs = BTreeMap::new();
    for (s, e) in d.program() {
        let c = cost_in(&e, &costs);
        costs.insert(s.name, c);
    }
    costs
}

/// [`cost`], with each name in `costs` counted as its cost.
fn cost_in(e: &Expr, costs: &BTreeMap<String, usize>) -> usize {
    match e {
        Expr::Sym(s) => costs.get(&s.name).copied().unwrap_or(0),
        Expr::Num(_) | Expr::PVar(_) => 0,
        _ => e
            .children()
            .iter()
            .fold(1usize, |acc, c| acc.saturating_add(cost_in(c, costs))),
    }
}

/// Derive the model and check every equality.
pub fn derive(loaded: &Loaded, opts: &DeriveOptions) -> Result<Report, DeriveError> {
    let start = Instant::now();
    let model = &loaded.model;
    let derivation = diff::derive(model).map_err(DeriveError::Diff)?;
    let wanted: Vec<String> = match &opts.wrt {
        Some(w) => {
            for name in w {
                if derivation.gradient(name).is_none() {
                    return Err(DeriveError::UnknownWrt(name.clone()));
                }
            }
            w.clone()
        }
        None => derivation.gradients.iter().map(|g| g.of.clone()).collect(),
    };
    let ctx = Ctx::new(model, &derivation, &opts.prover);
    let costs = name_costs(&derivation);
    let mut equalities = Vec::new();
    let mut gradients = Vec::new();
    for name in &wanted {
        let raw = derivation
            .gradient(name)
            .cloned()
            .unwrap_or_else(|| Expr::num(0));
        let mut candidates = vec![raw.clone()];
        for (k, claim) in model
            .claims
            .iter()
            .enumerate()
            .filter(|(_, c)| &c.wrt == name)
        {
            let named = derivation
                .gradient_symbol(name)
                .unwrap_or_else(|| raw.clone());
            let mut eq = ctx.check(
                format!("∂ℓ/∂{name} equals the claim on line {}", claim.line),
                named,
                claim.expr.clone(),
                true,
            );
            eq.line = Some(claim.line);
            if matches!(eq.verdict, Verdict::Proved(_)) {
                candidates.push(model.claims[k].expr.clone());
            }
            equalities.push(eq);
        }
        let simplified = candidates
            .iter()
            .min_by_key(|e| cost_in(e, &costs))
            .cloned()
            .unwrap_or_else(|| raw.clone());
        gradients.push(Gradient {
            name: name.clone(),
            raw_cost: cost_in(&raw, &costs),
            simplified_cost: cost_in(&simplified, &costs),
            raw,
            simplified,
        });
    }
    // Claims about intermediate gradients (the paper's ∂ℓ/∂x̂, ∂ℓ/∂σ², ∂ℓ/∂μ).
    for claim in &model.claims {
        if model.defs.iter().any(|(d, _)| *d == claim.wrt) {
            let Some(adj) = derivation.adjoints.iter().find(|a| a.of == claim.wrt) else {
                continue;
            };
            let mut eq = ctx.check(
                format!("∂ℓ/∂{} equals the claim on line {}", claim.wrt, claim.line),
                Expr::Sym(adj.name.clone()),
                claim.expr.clone(),
                true,
            );
            eq.line = Some(claim.line);
            equalities.push(eq);
        }
    }
    equalities.extend(facts(model, &derivation, &ctx, &wanted));
    let higher = if opts.order >= 2 {
        crate::higher::derive(model, opts.order).ok()
    } else {
        None
    };
    if let Some(h) = &higher {
        equalities.extend(higher_facts(model, h, &ctx));
    }
    let contributions: Vec<&Expr> = derivation.steps.iter().map(|s| &s.contribution).collect();
    let vanishing = crate::named::vanishing(&contributions, &ctx.definitions, &model.assumptions);
    Ok(Report {
        name: loaded.name.clone(),
        model: model.clone(),
        vanishing,
        derivation,
        gradients,
        equalities,
        higher,
        elapsed: start.elapsed(),
    })
}

/// The standard facts for a normalization layer whose input is `x` and whose
/// statistics are `mu = mean[A](x)`, `xhat` the normalized value.
fn facts(model: &Model, d: &Derivation, ctx: &Ctx, wanted: &[String]) -> Vec<Equality> {
    let mut out = Vec::new();
    let Some(Expr::Reduce(RedOp::Mean, axes, _)) =
        model.defs.iter().find(|(n, _)| n == "mu").map(|(_, e)| e)
    else {
        return out;
    };
    let Some(dx) = d
        .gradient_symbol("x")
        .filter(|_| wanted.iter().any(|w| w == "x"))
    else {
        return out;
    };
    let dx = &dx;
    let axes: Vec<&str> = axes.iter().map(String::as_str).collect();
    let label = axes.join(",");
    out.push(ctx.check(
        format!("Σ over {label} of ∂ℓ/∂x is 0 (the gradient has no component along the mean)"),
        Expr::reduce(RedOp::Sum, &axes, dx.clone()),
        Expr::num(0),
        true,
    ));
    if let Some((_, xhat)) = model.defs.iter().find(|(n, _)| n == "xhat") {
        let xhat_sym = Expr::Sym(crate::ir::Symbol::new("xhat", xhat.free_axes()));
        let inner = Expr::reduce(RedOp::Sum, &axes, Expr::mul(xhat_sym, dx.clone()));
        let has_eps = model
            .assumptions
            .iter()
            .any(|a| a.expr == Expr::sym("eps", &[]));
        out.push(ctx.check(
            format!(
                "⟨x̂, ∂ℓ/∂x⟩ over {label} is 0 — false with ε > 0, where mean(x̂²) = σ²/(σ²+ε) < 1"
            ),
            inner,
            Expr::num(0),
            !has_eps,
        ));
    }
    // With ε = 0 (and a batch that is not constant) x̂ is orthogonal to the
    // gradient: the scale-invariance of Section 3.3 seen from the gradient.
    if let (Some((_, xhat)), true) = (
        model.defs.iter().find(|(n, _)| n == "xhat"),
        model
            .assumptions
            .iter()
            .any(|a| a.expr == Expr::sym("eps", &[])),
    ) {
        let xhat_sym = Expr::Sym(crate::ir::Symbol::new("xhat", xhat.free_axes()));
        let inner = Expr::reduce(RedOp::Sum, &axes, Expr::mul(xhat_sym, dx.clone()));
        let zero: BTreeMap<String, Expr> = [("eps".to_string(), Expr::num(0))].into();
        let x = model
            .inputs
            .iter()
            .find(|s| s.name == "x")
            .map(|s| Expr::Sym(s.clone()));
        if let Some(x) = x {
            let var = Expr::reduce(RedOp::Var, &axes, x);
            let assumptions = vec![crate::ir::Assumption {
                expr: var.clone(),
                rel: crate::ir::Rel::Gt,
            }];
            let start = Instant::now();
            let stmt = Statement {
                lhs: diff::subst(&ctx.inline(&inner), &zero),
                rhs: Expr::num(0),
            };
            let verdict = match prove::by_normal_form(&stmt, &assumptions) {
                Some(p) => Verdict::Proved(p),
                None => Verdict::Unknown("the normal forms differ".into()),
            };
            out.push(Equality {
                title: format!(
                    "⟨x̂, ∂ℓ/∂x⟩ over {label} is 0 when ε = 0 (assuming {} > 0)",
                    syntax::print(&var)
                ),
                lhs: diff::subst(&inner, &zero),
                rhs: Expr::num(0),
                expect_true: true,
                verdict,
                elapsed: start.elapsed(),
                line: None,
            });
        }
    }
    // The input Jacobian J (∂ℓ/∂x = Jᵀ dy) is symmetric: ⟨w, J u⟩ = ⟨u, J w⟩,
    // when gamma does not vary along the statistics' axes.
    if let Some(output) = model.outputs.first() {
        let dy = diff::upstream(model, output);
        let dy_expr = Expr::Sym(dy.clone());
        let (u, w) = (like("u", &dy_expr), like("w", &dy_expr));
        // The program's names substituted, the model's kept (the check
        // inlines those for the proof).
        let dx_inlined = diff::inline_defs(dx, &d.program());
        let with = |t: &Expr| -> Expr {
            let m: BTreeMap<String, Expr> = [(dy.name.clone(), t.clone())].into();
            diff::subst(&dx_inlined, &m)
        };
        let stats: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
        out.push(ctx.check(
            "the input Jacobian is symmetric: ⟨w, ∂ℓ/∂x at dy = u⟩ = ⟨u, ∂ℓ/∂x at dy = w⟩".into(),
            inner(&w, &with(&u)),
            inner(&u, &with(&w)),
            gamma_outside_statistics(model, &stats),
        ));
    }
    if let Some(dmu) = model.claims.iter().find(|c| c.wrt == "mu") {
        // The paper's ∂ℓ/∂μ has a second term that vanishes: Σ (x − μ) = 0.
        if let Expr::Add(_, second) = &dmu.expr {
            out.push(ctx.check(
                format!(
                    "the second term of the paper's ∂ℓ/∂μ (line {}) is 0",
                    dmu.line
                ),
                (**second).clone(),
                Expr::num(0),
                true,
            ));
        }
    }
    out
}

fn contains(e: &Expr, x: &Expr) -> bool {
    e == x || e.children().iter().any(|c| contains(c, x))
}

/// A fresh symbol with the axes of `like`, named `name`.
fn like(name: &str, like: &Expr) -> Expr {
    Expr::Sym(crate::ir::Symbol::new(name, like.free_axes()))
}

/// `Σ over every axis of a and b` of `a · b`.
fn inner(a: &Expr, b: &Expr) -> Expr {
    let axes: Vec<String> = a.free_axes().union(&b.free_axes()).cloned().collect();
    let prod = Expr::mul(a.clone(), b.clone());
    if axes.is_empty() {
        return prod;
    }
    let refs: Vec<&str> = axes.iter().map(String::as_str).collect();
    Expr::reduce(RedOp::Sum, &refs, prod)
}

/// Whether the scale `gamma` is constant along the statistics' axes, which
/// is what makes the input Jacobian symmetric.
fn gamma_outside_statistics(model: &Model, stat_axes: &[String]) -> bool {
    match model.params.iter().find(|p| p.name == "gamma") {
        Some(g) => !g.axes.iter().any(|a| stat_axes.contains(a)),
        None => true,
    }
}

fn stat_axes(model: &Model) -> Option<Vec<String>> {
    match model.defs.iter().find(|(n, _)| n == "mu").map(|(_, e)| e) {
        Some(Expr::Reduce(RedOp::Mean, axes, _)) => Some(axes.clone()),
        _ => None,
    }
}

/// Second-order facts: the Hessian is symmetric, and the gradient of
/// `⟨∂ℓ/∂x, v⟩` with respect to `dy` is `Jᵀ v`, which is `∂ℓ/∂x` with `dy`
/// replaced by `v` exactly when the Jacobian is symmetric.
fn higher_facts(model: &Model, h: &crate::higher::Higher, ctx: &Ctx) -> Vec<Equality> {
    let mut out = Vec::new();
    let v = like(crate::higher::DIRECTION, &h.hvp_x);
    let w = like("w", &h.hvp_x);
    let swap: BTreeMap<String, Expr> = [(crate::higher::DIRECTION.to_string(), w.clone())].into();
    out.push(ctx.check(
        "the Hessian in x is symmetric: ⟨H v, w⟩ = ⟨H w, v⟩".into(),
        inner(&h.hvp_x, &w),
        inner(&diff::subst(&h.hvp_x, &swap), &v),
        true,
    ));
    if let Some(stats) = stat_axes(model) {
        let dx = model
            .inputs
            .iter()
            .find(|s| s.name == "x")
            .and_then(|_| ctx.gradient("x"));
        if let Some(dx) = dx {
            let to_v: BTreeMap<String, Expr> = [(h.dy.clone(), v.clone())].into();
            out.push(ctx.check(
                format!("∂/∂{} ⟨∂ℓ/∂x, v⟩ is ∂ℓ/∂x at {} = v (Jᵀ = J)", h.dy, h.dy),
                h.mixed_dy.clone(),
                diff::subst(&ctx.inline(&dx), &to_v),
                gamma_outside_statistics(model, &stats),
            ));
        }
    }
    out
}

/// Samples of the fallback's counterexample search.
const FALLBACK_SAMPLES: usize = 64;

/// What checking an equality needs.
struct Ctx<'a> {
    model: &'a Model,
    derivation: &'a Derivation,
    assumptions: Vec<Assumption>,
    /// The model's definitions, then the derivation's program.
    definitions: Vec<(Symbol, Expr)>,
    prover: &'a Options,
}

impl<'a> Ctx<'a> {
    fn new(model: &'a Model, d: &'a Derivation, prover: &'a Options) -> Self {
        Ctx {
            model,
            derivation: d,
            definitions: d.all_definitions(model),
            assumptions: model.assumptions.clone(),
            prover,
        }
    }

    fn gradient(&self, name: &str) -> Option<Expr> {
        self.derivation.gradient(name).cloned()
    }

    /// Fully inline: the program's names, then the model's definitions.
    fn inline(&self, e: &Expr) -> Expr {
        self.derivation.inline(e, self.model)
    }

    /// The deterministic counterexample search of the fallback.
    fn refute_options(&self) -> RefuteOptions {
        RefuteOptions {
            seed: self.prover.seed,
            samples: self.prover.samples.min(FALLBACK_SAMPLES),
            max_axis_size: 3,
            deadline: None,
        }
    }

    fn check(&self, title: String, lhs: Expr, rhs: Expr, expect_true: bool) -> Equality {
        let start = Instant::now();
        let verdict = match crate::named::by_names(&lhs, &rhs, &self.definitions, &self.assumptions)
        {
            Some(p) => Verdict::Proved(p),
            None => {
                // Fallback: the one-shot proof over the fully inlined
                // statement, and the counterexample search.
                let stmt = Statement {
                    lhs: self.inline(&lhs),
                    rhs: self.inline(&rhs),
                };
                match prove::by_normal_form(&stmt, &self.assumptions) {
                    Some(p) => Verdict::Proved(p),
                    // A counterexample search bounded by samples, not the
                    // clock, so the verdict does not change with load.
                    None if let RefuteOutcome::Refuted(c) =
                        refute::refute(&stmt, &self.assumptions, &self.refute_options()) =>
                    {
                        Verdict::Refuted(Box::new(c))
                    }
                    None => match prove::prove(&stmt, &self.assumptions, self.prover).0 {
                        Outcome::Proved(p) => Verdict::Proved(p),
                        Outcome::Refuted(c) => Verdict::Refuted(Box::new(c)),
                        Outcome::Unknown { reason } => Verdict::Unknown(reason),
                    },
                }
            }
        };
        Equality {
            title,
            lhs,
            rhs,
            expect_true,
            verdict,
            elapsed: start.elapsed(),
            line: None,
        }
    }
}

/// The derivation as text: forward pass, chain rule, intermediate and final
/// gradients, simplified results with their costs, and the proofs (one line
/// each, or in full with `expand`).
pub fn write_text(out: &mut impl Write, r: &Report, expand: bool) -> fmt::Result {
    let title = r.model.title.clone().unwrap_or_default();
    writeln!(
        out,
        "model {}{}",
        r.name,
        if title.is_empty() {
            String::new()
        } else {
            format!(" — {title}")
        }
    )?;
    writeln!(out, "\nforward pass")?;
    for (n, e) in &r.model.defs {
        writeln!(out, "  {n} = {}", syntax::print(e))?;
    }
    for a in &r.model.assumptions {
        writeln!(out, "  assuming {a}")?;
    }
    writeln!(out)?;
    r.derivation.write_text_with(out, |s| {
        r.vanishing_in(&s.contribution)
            .map(|(z, p)| {
                let rules: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
                format!(
                    "this term is 0: {} = 0 (kernel-checked: {})",
                    syntax::print(z),
                    rules.join(", ")
                )
            })
            .collect()
    })?;
    writeln!(
        out,
        "\nsimplified gradients (cost = operations per element, reductions counted once)"
    )?;
    for g in &r.gradients {
        writeln!(out, "  ∂ℓ/∂{} = {}", g.name, syntax::print(&g.simplified))?;
        writeln!(
            out,
            "      cost {} (raw reverse mode: {})",
            g.simplified_cost, g.raw_cost
        )?;
    }
    if let Some(h) = &r.higher {
        writeln!(out, "\nhigher order (v: a direction with the axes of x)")?;
        let mut rows = vec![(
            "∂/∂x ⟨∂ℓ/∂x, v⟩ (Hessian-vector product)".to_string(),
            &h.hvp_x,
        )];
        if let Some(g) = &h.mixed_gamma {
            rows.push(("∂/∂gamma ⟨∂ℓ/∂x, v⟩".to_string(), g));
        }
        rows.push((format!("∂/∂{} ⟨∂ℓ/∂x, v⟩", h.dy), &h.mixed_dy));
        if let Some(t) = &h.third {
            rows.push(("∂/∂x ⟨H v, v⟩ (third order)".to_string(), t));
        }
        for (what, e) in rows {
            writeln!(out, "  {what}: symbolic, cost {}", cost(e))?;
        }
        writeln!(out, "  (`bnproof verify --order 2|3` checks each exactly against the oracle's Taylor series; `--format json` lists them)")?;
    }
    writeln!(
        out,
        "\nproofs and checks (every proof re-checked by the kernel)"
    )?;
    for eq in &r.equalities {
        let mark = if eq.as_expected() { "ok " } else { "BAD" };
        let ms = eq.elapsed.as_secs_f64() * 1e3;
        match &eq.verdict {
            Verdict::Proved(p) => {
                let rules: Vec<&str> = {
                    let mut v: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
                    v.dedup();
                    v
                };
                writeln!(
                    out,
                    "  {mark} proved   {} — {} steps ({}), {ms:.1} ms",
                    eq.title,
                    p.steps.len(),
                    rules.join(", ")
                )?;
                if expand {
                    let mut s = String::new();
                    crate::render::proof_text(&mut s, p)?;
                    for line in s.lines() {
                        writeln!(out, "        {line}")?;
                    }
                }
            }
            Verdict::Refuted(c) => {
                writeln!(
                    out,
                    "  {mark} refuted  {} — {} = {}, {ms:.1} ms",
                    eq.title,
                    syntax::print(&eq.lhs),
                    syntax::print(&eq.rhs)
                )?;
                let mut s = String::new();
                crate::render::counterexample_text(&mut s, c)?;
                for line in s.lines() {
                    writeln!(out, "        {line}")?;
                }
            }
            Verdict::Unknown(why) => writeln!(out, "  {mark} unknown  {} — {why}", eq.title)?,
        }
    }
    let n_ok = r.equalities.iter().filter(|e| e.as_expected()).count();
    writeln!(
        out,
        "\n{n_ok}/{} checks as expected; derived and checked in {:.1} ms",
        r.equalities.len(),
        r.elapsed.as_secs_f64() * 1e3
    )
}

/// The derivation as JSON: every expression in the input syntax, using the
/// model's names and `d<output>`, so any gradient can be evaluated from the
/// inputs and the listed definitions alone.
pub fn to_json(r: &Report) -> serde_json::Value {
    let defs: serde_json::Map<String, serde_json::Value> = r
        .model
        .defs
        .iter()
        .cloned()
        .chain(
            r.derivation
                .helpers
                .iter()
                .map(|(s, e)| (s.name.clone(), e.clone())),
        )
        .map(|(n, e)| (n, syntax::print(&e).into()))
        .collect();
    let grads: serde_json::Map<String, serde_json::Value> = r
        .gradients
        .iter()
        .map(|g| (g.name.clone(), syntax::print(&g.simplified).into()))
        .collect();
    let raw: serde_json::Map<String, serde_json::Value> = r
        .gradients
        .iter()
        .map(|g| (g.name.clone(), syntax::print(&g.raw).into()))
        .collect();
    let higher = r.higher.as_ref().map(|h| {
        serde_json::json!({
            "direction": crate::higher::DIRECTION,
            "x": syntax::print(&h.hvp_x),
            "gamma": h.mixed_gamma.as_ref().map(syntax::print),
            "upstream": syntax::print(&h.mixed_dy),
            "third": h.third.as_ref().map(syntax::print),
        })
    });
    // Every name an expression uses is an input, a param, a constant, an
    // upstream gradient, a key of `definitions` or `d` + a key of `adjoints`.
    let adjoints: serde_json::Map<String, serde_json::Value> = r
        .derivation
        .adjoints
        .iter()
        .chain(&r.derivation.gradients)
        .filter(|a| a.is_definition())
        .map(|a| {
            let key = a.name.name.strip_prefix('d').unwrap_or(&a.name.name);
            (key.to_string(), syntax::print(&a.expr).into())
        })
        .collect();
    let proofs: Vec<serde_json::Value> = r
        .equalities
        .iter()
        .map(|eq| {
            let (verdict, cert) = match &eq.verdict {
                Verdict::Proved(p) => (
                    "proved",
                    serde_json::to_value(crate::cert::to_certificate(p, true)).unwrap_or_default(),
                ),
                Verdict::Refuted(_) => ("refuted", serde_json::Value::Null),
                Verdict::Unknown(_) => ("unknown", serde_json::Value::Null),
            };
            let mut v = serde_json::json!({
                "title": eq.title,
                "file": r.name,
                "line": eq.line,
                "lhs": syntax::print(&eq.lhs),
                "rhs": syntax::print(&eq.rhs),
                "expected": if eq.expect_true { "proved" } else { "refuted" },
                "verdict": verdict,
                "as_expected": eq.as_expected(),
                "certificate": cert,
            });
            match &eq.verdict {
                Verdict::Refuted(c) => v["counterexample"] = crate::cert::counterexample_json(c),
                Verdict::Unknown(why) => v["reason"] = why.as_str().into(),
                Verdict::Proved(_) => {}
            }
            v
        })
        .collect();
    serde_json::json!({
        "model": r.name,
        "file": r.name,
        "definitions": defs,
        "gradients": grads,
        "raw_gradients": raw,
        "adjoints": adjoints,
        "proofs": proofs,
        "double_backward": higher,
        "checked": r.ok(),
    })
}

/// JUnit XML: one test suite for the model file, one test case per checked
/// equality (claims and facts); a case fails when its verdict is not the
/// expected one, and an `unknown` verdict is an error.
pub fn write_junit(out: &mut impl Write, r: &Report) -> fmt::Result {
    let cases = r
        .equalities
        .iter()
        .map(|eq| {
            let at = match eq.line {
                Some(l) => format!("{}:{l}", r.name),
                None => r.name.clone(),
            };
            let mut case = crate::junit::Case::new(r.name.clone(), format!("{at}: {}", eq.title));
            case.file = Some(r.name.clone());
            case.line = eq.line;
            let stated = format!("{} = {}", syntax::print(&eq.lhs), syntax::print(&eq.rhs));
            case.outcome = match &eq.verdict {
                _ if eq.as_expected() => crate::junit::Outcome::Pass,
                Verdict::Refuted(c) => {
                    let mut text = format!("{at}: refuted: {stated}\n");
                    crate::render::counterexample_text(&mut text, c)?;
                    crate::junit::Outcome::Failure {
                        message: format!("{at}: refuted, expected a proof: {stated}"),
                        text,
                    }
                }
                Verdict::Proved(p) => crate::junit::Outcome::Failure {
                    message: format!("{at}: proved, expected a refutation: {stated}"),
                    text: format!("{at}: proved in {} steps: {stated}", p.steps.len()),
                },
                Verdict::Unknown(why) => crate::junit::Outcome::Error {
                    message: format!("{at}: unknown: {why}"),
                    text: format!("{at}: neither proved nor refuted: {stated}"),
                },
            };
            Ok(case)
        })
        .collect::<Result<Vec<_>, fmt::Error>>()?;
    let suite = crate::junit::Suite {
        name: format!("bnproof derive {}", r.name),
        cases,
    };
    crate::junit::write(out, "bnproof derive", &[suite])
}

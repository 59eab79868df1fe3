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
use crate::syntax::{self, CheckKind, Model};
use std::collections::{BTreeMap, BTreeSet};
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
    Proved(Box<Proof>),
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
    /// For a refuted claim: what is wrong with it, proved by the kernel.
    pub diagnosis: Option<Diagnosis>,
}

/// What is wrong with a refuted claim: `claim − derived = residual`, proved
/// by the kernel, and its kind.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    pub kind: DiagnosisKind,
    /// `claim − derived` in the model's names (`None` when no form of it
    /// was proved equal to the difference).
    pub residual: Option<Expr>,
    /// The proof of the kind (`claim = −derived`, `claim = c · derived`) or
    /// of the residual.
    pub proof: Proof,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiagnosisKind {
    /// `claim = −derived`.
    Sign,
    /// `claim = c · derived` for this constant.
    Factor(crate::ir::Rat),
    /// A missing or extra term: `claim = derived + residual`.
    Term,
}

impl Diagnosis {
    /// One line: what the claim is, in terms of the derived gradient.
    pub fn text(&self, derived: &str) -> String {
        match &self.kind {
            DiagnosisKind::Sign => format!("the claim is −{derived}: a flipped sign (kernel-checked)"),
            DiagnosisKind::Factor(c) => {
                format!("the claim is {c} · {derived}: a constant factor (kernel-checked)")
            }
            DiagnosisKind::Term => match &self.residual {
                Some(r) => format!(
                    "the claim is {derived} + R, a missing or extra term, with R = {} (kernel-checked)",
                    syntax::print(r)
                ),
                None => "the claim differs from the derived gradient by a term".to_string(),
            },
        }
    }
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
    /// Intermediate adjoints (`∂ℓ/∂h₁` between stacked layers) that the
    /// simplified gradients keep as names, each with its own simplified
    /// form, proved like the gradients'; empty for a single layer.
    pub adjoint_forms: Vec<Gradient>,
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

    /// Some equality got the opposite of its expected verdict (a claim or
    /// check refuted, or a `check false` proved).
    pub fn failed(&self) -> bool {
        self.equalities
            .iter()
            .any(|e| !e.as_expected() && !matches!(e.verdict, Verdict::Unknown(_)))
    }
}

/// Why a derivation could not be made.
#[derive(Debug)]
pub enum DeriveError {
    Diff(diff::DiffError),
    UnknownWrt(String),
    /// A `check` line that cannot be checked as written (bad input).
    Check {
        line: usize,
        message: String,
    },
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
            DeriveError::Check { line, message } => write!(f, "line {line}: {message}"),
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
    // Each derivation starts with nothing remembered (those it makes for
    // its checks share what it learns), so its time is a fresh process's.
    let _facts = crate::named::Remember::enter();
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
    let mut costs = name_costs(&derivation);
    // Reverse mode's own costs, before any adjoint is simplified.
    let raw_costs = costs.clone();
    let mut equalities = Vec::new();
    let mut gradients = Vec::new();
    let cuts = cut_adjoints(&derivation, &wanted, &ctx);
    let adjoint_forms = simplified_adjoints(&derivation, &cuts, &mut costs, &ctx, &mut equalities);
    // Where costs saturate, what one layer writes out decides (kept names 0).
    let local = layer_costs(&costs, &cuts);
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
            eq.diagnosis = ctx.diagnose(&eq);
            equalities.push(eq);
        }
        // Only proved forms come back.
        if let Some(eq) = found_form(name, &raw, &candidates, &costs, &derivation, &cuts, &ctx) {
            candidates.push(eq.rhs.clone());
            equalities.push(eq);
        }
        let simplified = candidates
            .iter()
            .min_by_key(|e| (cost_in(e, &costs), cost_in(e, &local)))
            .cloned()
            .unwrap_or_else(|| raw.clone());
        gradients.push(Gradient {
            name: name.clone(),
            raw_cost: cost_in(&raw, &raw_costs),
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
            eq.diagnosis = ctx.diagnose(&eq);
            equalities.push(eq);
        }
    }
    equalities.extend(written_checks(model, &derivation, &ctx)?);
    let higher = if opts.order >= 2 {
        crate::higher::derive(model, opts.order).ok()
    } else {
        None
    };
    if let Some(h) = &higher {
        equalities.extend(higher_facts(model, h, &ctx, &derivation));
    }
    let contributions: Vec<&Expr> = derivation.steps.iter().map(|s| &s.contribution).collect();
    let vanishing = crate::named::vanishing(&contributions, &ctx.definitions, &model.assumptions);
    Ok(Report {
        name: loaded.name.clone(),
        model: model.clone(),
        vanishing,
        derivation,
        gradients,
        adjoint_forms,
        equalities,
        higher,
        elapsed: start.elapsed(),
    })
}

/// Most simplified forms tried per gradient (each costs one proof attempt).
const MAX_FORMS_TRIED: usize = 3;

/// A simplified form of the gradient `d<name>` in the model's names
/// ([`crate::simplify`]) cheaper than every candidate so far, with its
/// kernel-checked proof over names; `None` when none is found or proved.
fn found_form(
    name: &str,
    raw: &Expr,
    candidates: &[Expr],
    costs: &BTreeMap<String, usize>,
    d: &Derivation,
    cuts: &BTreeSet<String>,
    ctx: &Ctx,
) -> Option<Equality> {
    let best = candidates.iter().map(|e| cost_in(e, costs)).min()?;
    let named = d.gradient_symbol(name)?;
    // Between kept adjoints only an input's gradient is one layer's work;
    // a parameter every layer shares keeps reverse mode's sum over the
    // layers (each term in the simplified adjoints' names).
    if !cuts.is_empty() && !ctx.model.inputs.iter().any(|i| i.name == name) {
        return None;
    }
    simplest_proved(name, &named, raw, best, costs, cuts, ctx)
}

/// The cheapest of the simplifier's forms of `raw` (the definition of
/// `named`, which is `∂ℓ/∂of`) that costs less than `best` and that the
/// kernel proves equal to `named`, as an equality to report. The names in
/// `cuts` stay names: they are not inlined.
fn simplest_proved(
    of: &str,
    named: &Expr,
    raw: &Expr,
    best: usize,
    costs: &BTreeMap<String, usize>,
    cuts: &BTreeSet<String>,
    ctx: &Ctx,
) -> Option<Equality> {
    let split = ctx.model.defs.len();
    let (model_defs, program) = ctx.definitions.split_at(split);
    let mut program: Vec<(Symbol, Expr)> = program
        .iter()
        .filter(|(s, _)| !cuts.contains(&s.name))
        .cloned()
        .collect();
    // With kept names (a stack of layers), one layer's adjoint needs only
    // the forward definitions it names itself (its statistics), not the
    // chain below them: the simplification and the proof then hold for
    // every value of the rest, and their work does not grow with depth.
    let nearby: Vec<(Symbol, Expr)>;
    let model_defs = if cuts.is_empty() {
        model_defs
    } else {
        let reached = crate::named::used_definitions(raw, raw, &program);
        let mut names = BTreeSet::new();
        raw.symbols(&mut names);
        for (_, body) in &reached {
            body.symbols(&mut names);
        }
        nearby = model_defs
            .iter()
            .filter(|(s, _)| names.contains(s))
            .cloned()
            .collect();
        program = reached;
        &nearby
    };
    let mut forms =
        crate::simplify::in_names(raw, model_defs, &program, &ctx.assumptions, &ctx.model.axes);
    // Costs saturate in a deep stack (every name counts as what it stands
    // for); there the layer's own cost decides, the kept names counted 0.
    let local = layer_costs(costs, cuts);
    let local_best = cost_in(raw, &local);
    forms.retain(|f| {
        let c = cost_in(f, costs);
        c < best || (c == usize::MAX && best == usize::MAX && cost_in(f, &local) < local_best)
    });
    forms.sort_by_key(|f| (cost_in(f, costs), cost_in(f, &local)));
    // The other kept names stay undefined in the proof: it then holds for
    // every value of them (the upstream layers' adjoints), and its
    // certificate does not carry the whole program downstream.
    let mut definitions: Vec<(Symbol, Expr)> = model_defs.to_vec();
    if cuts.is_empty() {
        definitions.extend(program);
    } else {
        if let Expr::Sym(n) = named {
            if let Some(d) = ctx.definitions.iter().find(|(s, _)| s == n) {
                definitions.extend(crate::named::used_definitions(&d.1, &d.1, &program));
                definitions.push(d.clone());
            }
        }
    }
    forms.into_iter().take(MAX_FORMS_TRIED).find_map(|f| {
        let start = Instant::now();
        let proof = crate::named::by_names(named, &f, &definitions, &ctx.assumptions)?;
        Some(Equality {
            title: format!("∂ℓ/∂{of} equals its simplified form"),
            lhs: named.clone(),
            rhs: f,
            expect_true: true,
            verdict: Verdict::Proved(Box::new(proof)),
            elapsed: start.elapsed(),
            line: None,
            diagnosis: None,
        })
    })
}

/// `costs` with the kept names counting 0: one layer's own cost, which
/// decides where the full costs saturate in a deep stack.
fn layer_costs(
    costs: &BTreeMap<String, usize>,
    cuts: &BTreeSet<String>,
) -> BTreeMap<String, usize> {
    costs
        .iter()
        .filter(|(k, _)| !cuts.contains(*k))
        .map(|(k, c)| (k.clone(), *c))
        .collect()
}

/// The adjoints kept as names while the gradients are simplified: none
/// when every wanted gradient inlines to a size the simplifier takes;
/// otherwise (stacked layers, whose inlining grows exponentially) every
/// adjoint of a definition shaped like an input (`∂ℓ/∂h₁` between two
/// layers), so that each layer is simplified on its own.
fn cut_adjoints(d: &Derivation, wanted: &[String], ctx: &Ctx) -> BTreeSet<String> {
    let program = &ctx.definitions[ctx.model.defs.len()..];
    let too_large = wanted.iter().any(|w| {
        d.gradient(w)
            .is_some_and(|g| crate::simplify::too_large(g, program))
    });
    if !too_large {
        return BTreeSet::new();
    }
    d.adjoints
        .iter()
        .filter(|a| a.is_definition())
        .filter(|a| ctx.model.inputs.iter().any(|i| i.axes == a.name.axes))
        .map(|a| a.name.name.clone())
        .collect()
}

/// Most intermediate adjoints simplified per derivation: each costs a
/// normal form and a proof, so a deep stack keeps the adjoints of the layers
/// nearest its output as reverse mode wrote them, and the work stays
/// bounded.
const MAX_ADJOINT_FORMS: usize = 8;

/// Simplified forms of the adjoints in `cuts` (of the
/// [`MAX_ADJOINT_FORMS`] layers nearest the inputs), in evaluation order,
/// each proved (its equality pushed to `equalities`); `costs` then counts
/// each at its simplified cost.
fn simplified_adjoints(
    d: &Derivation,
    cuts: &BTreeSet<String>,
    costs: &mut BTreeMap<String, usize>,
    ctx: &Ctx,
    equalities: &mut Vec<Equality>,
) -> Vec<Gradient> {
    let mut out = Vec::new();
    let kept: Vec<&diff::Adjoint> = d
        .adjoints
        .iter()
        .filter(|a| cuts.contains(&a.name.name))
        .collect();
    // The layers nearest the inputs, whose adjoints ∂ℓ/∂x is written in,
    // in evaluation order (each one's cost counts the next one's).
    let skip = kept.len().saturating_sub(MAX_ADJOINT_FORMS);
    for a in kept.into_iter().skip(skip) {
        let raw_cost = cost_in(&a.expr, costs);
        let named = Expr::Sym(a.name.clone());
        let Some(eq) = simplest_proved(&a.of, &named, &a.expr, raw_cost, costs, cuts, ctx) else {
            continue;
        };
        let simplified_cost = cost_in(&eq.rhs, costs);
        costs.insert(a.name.name.clone(), simplified_cost);
        out.push(Gradient {
            name: a.of.clone(),
            raw: a.expr.clone(),
            simplified: eq.rhs.clone(),
            raw_cost,
            simplified_cost,
        });
        equalities.push(eq);
    }
    out
}

/// The `check` lines of the model file, each proved or refuted as the file
/// expects. Nothing here depends on what a name is called.
fn written_checks(model: &Model, d: &Derivation, ctx: &Ctx) -> Result<Vec<Equality>, DeriveError> {
    let mut out = Vec::new();
    for c in &model.checks {
        let title = format!(
            "the check on line {}{}: {}",
            c.line,
            if c.expect_true {
                ""
            } else {
                " (expected false)"
            },
            c.text
        );
        match &c.kind {
            CheckKind::Equal {
                lhs,
                rhs,
                subst,
                assuming,
            } => {
                let grads = grad_map(d, [lhs, rhs]);
                let (lhs, rhs) = (diff::subst(lhs, &grads), diff::subst(rhs, &grads));
                let consts: BTreeMap<String, Expr> = subst.iter().cloned().collect();
                // `where c = e` replaces the constant everywhere, and the
                // file's assumptions about it no longer apply.
                let mut assumptions: Vec<Assumption> = model
                    .assumptions
                    .iter()
                    .filter(|a| {
                        let mut syms = std::collections::BTreeSet::new();
                        a.expr.symbols(&mut syms);
                        !syms.iter().any(|s| consts.contains_key(&s.name))
                    })
                    .cloned()
                    .collect();
                assumptions.extend(assuming.iter().cloned());
                let definitions: Vec<(Symbol, Expr)> = ctx
                    .definitions
                    .iter()
                    .map(|(n, b)| (n.clone(), diff::subst(b, &consts)))
                    .collect();
                let mut eq = ctx.check_in(
                    title,
                    diff::subst(&lhs, &consts),
                    diff::subst(&rhs, &consts),
                    c.expect_true,
                    &definitions,
                    &assumptions,
                );
                eq.line = Some(c.line);
                out.push(eq);
            }
            CheckKind::Symmetric { wrt } => {
                let (lhs, rhs) = symmetry(model, d, wrt).map_err(|message| DeriveError::Check {
                    line: c.line,
                    message,
                })?;
                let mut eq = ctx.check(title, lhs, rhs, c.expect_true);
                eq.line = Some(c.line);
                out.push(eq);
            }
        }
    }
    Ok(out)
}

/// `grad NAME` (as parsed) ↦ the derivation's name for that gradient; 0 when
/// nothing depends on NAME.
pub(crate) fn grad_map<'e>(
    d: &Derivation,
    exprs: impl IntoIterator<Item = &'e Expr>,
) -> BTreeMap<String, Expr> {
    let mut syms = std::collections::BTreeSet::new();
    for e in exprs {
        e.symbols(&mut syms);
    }
    syms.iter()
        .filter_map(|s| {
            let target = syntax::grad_target(s)?;
            let g = gradient_name(d, target).unwrap_or_else(|| Expr::num(0));
            Some((s.name.clone(), g))
        })
        .collect()
}

/// The program's name for ∂ℓ/∂`of` (an input's or parameter's gradient, or
/// a definition's adjoint); `None` when nothing depends on it.
pub(crate) fn gradient_name(d: &Derivation, of: &str) -> Option<Expr> {
    d.gradient_symbol(of).or_else(|| {
        d.adjoints
            .iter()
            .find(|a| a.of == of)
            .map(|a| Expr::Sym(a.name.clone()))
    })
}

/// The two sides of `⟨w, J u⟩ = ⟨u, J w⟩` for the map J from the upstream
/// gradient to ∂ℓ/∂wrt, with fresh directions u and w. Needs one output
/// whose upstream gradient has the axes of the gradient.
fn symmetry(model: &Model, d: &Derivation, wrt: &str) -> Result<(Expr, Expr), String> {
    let g = gradient_name(d, wrt)
        .ok_or_else(|| format!("nothing depends on {wrt}, so its gradient is 0"))?;
    let [output] = model.outputs.as_slice() else {
        return Err(format!(
            "`check symmetric` needs exactly one output (the map from its upstream gradient to \
             ∂ℓ/∂{wrt}); the model has {}",
            model.outputs.len()
        ));
    };
    let dy = diff::upstream(model, output);
    let axes: Vec<String> = g.free_axes().into_iter().collect();
    if dy.axes != axes {
        return Err(format!(
            "∂ℓ/∂{wrt} has axes [{}] but the upstream gradient {} has axes [{}]; a symmetric map \
             needs the same space on both sides",
            axes.join(","),
            dy.name,
            dy.axes.join(",")
        ));
    }
    let dy_expr = Expr::Sym(dy.clone());
    let fresh = |base: &str| -> String {
        let mut n = base.to_string();
        while model.defs.iter().any(|(d, _)| *d == n)
            || model
                .inputs
                .iter()
                .chain(&model.params)
                .any(|s| s.name == n)
            || model.consts.contains(&n)
        {
            n.push('_');
        }
        n
    };
    let (u, w) = (like(&fresh("u"), &dy_expr), like(&fresh("w"), &dy_expr));
    // The program's names substituted, the model's kept (the check inlines
    // those for the proof).
    let g_inlined = diff::inline_defs(&g, &d.program());
    let with = |t: &Expr| -> Expr {
        let m: BTreeMap<String, Expr> = [(dy.name.clone(), t.clone())].into();
        diff::subst(&g_inlined, &m)
    };
    Ok((inner(&w, &with(&u)), inner(&u, &with(&w))))
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

/// Second-order facts: the Hessian is symmetric, and the gradient of
/// `⟨∂ℓ/∂x, v⟩` with respect to `dy` is `Jᵀ v`, which is `∂ℓ/∂x` with `dy`
/// replaced by `v` exactly when the Jacobian is symmetric.
fn higher_facts(
    model: &Model,
    h: &crate::higher::Higher,
    ctx: &Ctx,
    d: &Derivation,
) -> Vec<Equality> {
    let mut out = Vec::new();
    let x = &h.input;
    // Inlined: the tangents depend on `v`, which the swap replaces, and the
    // normal form proves the inlined statement in one step (over names it
    // takes five times longer).
    let hvp = ctx.inline(&h.inline_tangents(&h.hvp));
    let v = like(&h.direction, &hvp);
    // The direction is named from `v`, so a fresh `w` never meets it.
    let w_name = crate::higher::fresh_name(model, "w");
    let w = like(&w_name, &hvp);
    let swap: BTreeMap<String, Expr> = [(h.direction.clone(), w.clone())].into();
    out.push(ctx.check(
        format!(
            "the Hessian in {x} is symmetric: ⟨H {v}, {w}⟩ = ⟨H {w}, {v}⟩",
            v = h.direction,
            w = w_name
        ),
        inner(&hvp, &w),
        inner(&diff::subst(&hvp, &swap), &v),
        true,
    ));
    // Jᵀ = J exactly when the file's `check symmetric grad x` holds: then
    // the gradient of ⟨∂ℓ/∂x, v⟩ with respect to dy is ∂ℓ/∂x at dy = v.
    let symmetric = model
        .checks
        .iter()
        .find(|c| matches!(&c.kind, CheckKind::Symmetric { wrt } if wrt == x));
    if let (Some(c), Some(dx)) = (symmetric, d.gradient_symbol(x)) {
        let to_v: BTreeMap<String, Expr> = [(h.dy.clone(), v.clone())].into();
        out.push(ctx.check(
            format!(
                "∂/∂{dy} ⟨∂ℓ/∂{x}, {v}⟩ is ∂ℓ/∂{x} at {dy} = {v} (Jᵀ = J, the check on line {})",
                c.line,
                dy = h.dy,
                v = h.direction,
            ),
            h.inline_tangents(&h.mixed_dy),
            diff::subst(&ctx.inline(&dx), &to_v),
            c.expect_true,
        ));
    }
    out
}

/// The fraction with the smallest denominator (at most 100) within 1e-9
/// (relative) of `x`: a guess, which a proof then confirms or not.
fn small_fraction(x: f64) -> Option<crate::ir::Rat> {
    if !x.is_finite() {
        return None;
    }
    (1..=100i64).find_map(|d| {
        let n = (x * d as f64).round();
        ((n / d as f64 - x).abs() <= 1e-9 * x.abs().max(1.0) && n.abs() < 1e12)
            .then(|| crate::ir::Rat::new((n as i64).into(), d.into()))
    })
}

/// Samples of the fallback's counterexample search.
const FALLBACK_SAMPLES: usize = 64;

/// Statement size (nodes, both sides) up to which the fallback search draws
/// all of [`FALLBACK_SAMPLES`]; beyond it proportionally fewer, at least 4.
const FALLBACK_NODES: usize = 2000;

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

    /// Fully inline: the program's names, then the model's definitions.
    fn inline(&self, e: &Expr) -> Expr {
        self.derivation.inline(e, self.model)
    }

    /// For a refuted `derived = claim`: a flipped sign, a constant factor
    /// (read off the counterexample, then proved), or the residual
    /// `claim − derived` in the model's names.
    fn diagnose(&self, eq: &Equality) -> Option<Diagnosis> {
        let Verdict::Refuted(c) = &eq.verdict else {
            return None;
        };
        let (derived, claim) = (&eq.lhs, &eq.rhs);
        let by_names =
            |a: &Expr, b: &Expr| crate::named::by_names(a, b, &self.definitions, &self.assumptions);
        // claim = c · derived makes claim − derived = (c − 1) · derived.
        let times = |c: &crate::ir::Rat| {
            let one = crate::ir::Rat::from_integer(1.into());
            let k = c - &one;
            Some(if k == one {
                derived.clone()
            } else {
                Expr::mul(Expr::Num(k), derived.clone())
            })
        };
        if let Some(p) = by_names(claim, &Expr::neg(derived.clone())) {
            return Some(Diagnosis {
                kind: DiagnosisKind::Sign,
                residual: times(&crate::ir::Rat::from_integer((-1).into())),
                proof: p,
            });
        }
        // The factor the counterexample suggests (exact, or the simplest
        // fraction its enclosures point at), then proved.
        let factor = match (&c.lhs, &c.rhs) {
            (crate::eval::Value::Exact(l), crate::eval::Value::Exact(r))
                if !num_traits::Zero::is_zero(l) =>
            {
                Some(r / l)
            }
            (l, r) => small_fraction(r.approx() / l.approx()),
        };
        if let Some(f) = factor.filter(|f| {
            !num_traits::Zero::is_zero(f) && *f != crate::ir::Rat::from_integer(1.into())
        }) {
            if let Some(p) = by_names(claim, &Expr::mul(Expr::Num(f.clone()), derived.clone())) {
                return Some(Diagnosis {
                    residual: times(&f),
                    kind: DiagnosisKind::Factor(f),
                    proof: p,
                });
            }
        }
        let (r, p) = crate::grade::residual_in(
            derived,
            claim,
            &self.definitions,
            self.model.defs.len(),
            &self.assumptions,
            true,
        )?;
        Some(Diagnosis {
            kind: DiagnosisKind::Term,
            residual: Some(r),
            proof: *p,
        })
    }

    /// The deterministic counterexample search of the fallback: fewer
    /// samples for a larger statement (each sample evaluates all of it; the
    /// inlined Hessian of a softmax head runs to thousands of nodes).
    fn refute_options(&self, stmt: &Statement) -> RefuteOptions {
        let size = stmt.lhs.size().saturating_add(stmt.rhs.size()).max(1);
        let by_size = (FALLBACK_SAMPLES * FALLBACK_NODES / size).clamp(4, FALLBACK_SAMPLES);
        RefuteOptions {
            seed: self.prover.seed,
            samples: self.prover.samples.min(by_size),
            max_axis_size: 3,
            deadline: None,
        }
    }

    fn check(&self, title: String, lhs: Expr, rhs: Expr, expect_true: bool) -> Equality {
        self.check_in(
            title,
            lhs,
            rhs,
            expect_true,
            &self.definitions,
            &self.assumptions,
        )
    }

    /// [`Ctx::check`] under other definitions and assumptions (a check's
    /// `where` and `assuming`).
    fn check_in(
        &self,
        title: String,
        lhs: Expr,
        rhs: Expr,
        expect_true: bool,
        definitions: &[(Symbol, Expr)],
        assumptions: &[Assumption],
    ) -> Equality {
        let start = Instant::now();
        // A counterexample search bounded by samples, not the clock, so the
        // verdict does not change with load.
        // Samples are evaluated through the definitions, each once.
        let named = Statement {
            lhs: lhs.clone(),
            rhs: rhs.clone(),
        };
        let program = refute::Program {
            stmt: &named,
            assumptions,
            definitions,
        };
        let search = |stmt: &Statement, inlined: &[Assumption]| match refute::refute_program(
            stmt,
            inlined,
            Some(program),
            &self.refute_options(stmt),
        ) {
            RefuteOutcome::Refuted(c) => Some(c),
            RefuteOutcome::NotFound { .. } => None,
        };
        // A statement the model expects to be false is searched for a
        // counterexample first: no proof of it exists (the prover is sound),
        // so every proof attempt before the search would be spent for
        // nothing. The search is the one the fallback below runs, so the
        // verdict is the same, only found sooner.
        let refuted_first = if expect_true {
            None
        } else {
            let (stmt, inlined) = diff::inline_statement(&lhs, &rhs, assumptions, definitions);
            Some(search(&stmt, &inlined))
        };
        let verdict = match refuted_first {
            Some(Some(c)) => Verdict::Refuted(Box::new(c)),
            _ => match crate::named::by_names(&lhs, &rhs, definitions, assumptions) {
                Some(p) => Verdict::Proved(Box::new(p)),
                None => {
                    // Fallback: the one-shot proof over the fully inlined
                    // statement, and the counterexample search.
                    let (stmt, inlined) =
                        diff::inline_statement(&lhs, &rhs, assumptions, definitions);
                    let assumptions = &inlined[..];
                    match prove::by_normal_form(&stmt, assumptions) {
                        Some(p) => Verdict::Proved(Box::new(p)),
                        None if let Some(c) = refuted_first
                            .is_none()
                            .then(|| search(&stmt, assumptions))
                            .flatten() =>
                        {
                            Verdict::Refuted(Box::new(c))
                        }
                        None => match prove::prove(&stmt, assumptions, self.prover).0 {
                            Outcome::Proved(p) => Verdict::Proved(Box::new(p)),
                            Outcome::Refuted(c) => Verdict::Refuted(Box::new(c)),
                            Outcome::Unknown { reason } => Verdict::Unknown(reason),
                        },
                    }
                }
            },
        };
        Equality {
            title,
            lhs,
            rhs,
            expect_true,
            verdict,
            elapsed: start.elapsed(),
            line: None,
            diagnosis: None,
        }
    }
}

/// The derivation as text: forward pass, chain rule, intermediate and final
/// gradients, simplified results with their costs, and the proofs (one line
/// each, or in full with `expand`).
pub fn write_text(out: &mut impl Write, r: &Report, expand: bool) -> fmt::Result {
    // Index lists and counterexamples in the model's declared axis order.
    let _order = crate::syntax::order::AxisOrder::for_model(&r.model).enter();
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
        write_simplified(out, g)?;
    }
    if !r.adjoint_forms.is_empty() {
        writeln!(
            out,
            "  with the adjoints between layers, each simplified alike (its cost counts in the gradients'):"
        )?;
        for g in &r.adjoint_forms {
            write_simplified(out, g)?;
        }
    }
    if let Some(h) = &r.higher {
        writeln!(
            out,
            "\nhigher order ({}: a direction with the axes of {})",
            h.direction, h.input
        )?;
        writeln!(
            out,
            "  tangents along {v} (forward mode through the program above; {v}_NAME is the tangent of NAME):",
            v = h.direction
        )?;
        for (n, e) in &h.definitions {
            writeln!(out, "  {} = {}", n.name, syntax::print(e))?;
        }
        for (what, e) in h.rows() {
            writeln!(out, "  {what} = {}, cost {}", syntax::print(e), h.cost(e))?;
        }
        writeln!(out, "  (cost: operations per element of the tangents each uses, each counted once; `bnproof verify --order 2|3` checks each exactly against the oracle's Taylor series)")?;
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
                if let Some(d) = &eq.diagnosis {
                    writeln!(out, "        {}", d.text(&syntax::print(&eq.lhs)))?;
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
    let _order = crate::syntax::order::AxisOrder::for_model(&r.model).enter();
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
            "direction": h.direction,
            "input": h.input,
            "hvp": syntax::print(&h.hvp),
            "param": h.mixed.as_ref().map(|(p, _)| p.clone()),
            "mixed": h.mixed.as_ref().map(|(_, e)| syntax::print(e)),
            "upstream": syntax::print(&h.mixed_dy),
            "third": h.third.as_ref().map(syntax::print),
            // The tangents; `order` lists them in dependency order (a JSON
            // object's keys come out sorted).
            "definitions": h
                .definitions
                .iter()
                .map(|(n, e)| (n.name.clone(), syntax::print(e).into()))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
            "order": h.definitions.iter().map(|(n, _)| n.name.clone()).collect::<Vec<_>>(),
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
                Verdict::Refuted(c) => {
                    v["counterexample"] = crate::cert::counterexample_json(c);
                    if let Some(d) = &eq.diagnosis {
                        let claim_minus_derived = Expr::sub(eq.rhs.clone(), eq.lhs.clone());
                        v["residual"] =
                            syntax::print(d.residual.as_ref().unwrap_or(&claim_minus_derived))
                                .into();
                        v["diagnosis"] = match &d.kind {
                            DiagnosisKind::Sign => serde_json::json!({"kind": "sign"}),
                            DiagnosisKind::Factor(f) => {
                                serde_json::json!({"kind": "factor", "factor": f.to_string()})
                            }
                            DiagnosisKind::Term => serde_json::json!({"kind": "term"}),
                        };
                        v["diagnosis"]["text"] = d.text(&syntax::print(&eq.lhs)).into();
                        v["diagnosis"]["certificate"] =
                            serde_json::to_value(crate::cert::to_certificate(&d.proof, true))
                                .unwrap_or_default();
                    }
                }
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
        // Simplified forms of the adjoints that `gradients` keep as names
        // (stacked layers), keyed like `adjoints`.
        "simplified_adjoints": r
            .adjoint_forms
            .iter()
            .map(|g| (g.name.clone(), syntax::print(&g.simplified).into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "proofs": proofs,
        "double_backward": higher,
        "checked": r.ok(),
    })
}

fn write_simplified(out: &mut impl Write, g: &Gradient) -> fmt::Result {
    writeln!(out, "  ∂ℓ/∂{} = {}", g.name, syntax::print(&g.simplified))?;
    writeln!(
        out,
        "      cost {} (raw reverse mode: {})",
        cost_text(g.simplified_cost),
        cost_text(g.raw_cost)
    )
}

/// A cost as printed: a saturated one (a deep stack of layers, each name
/// counted as what it stands for) says so instead of printing `usize::MAX`.
pub fn cost_text(c: usize) -> String {
    if c == usize::MAX {
        format!("more than {:.1e}", c as f64)
    } else {
        c.to_string()
    }
}

/// JUnit XML: one test suite for the model file, one test case per checked
/// equality (claims and facts); a case fails when its verdict is not the
/// expected one, and an `unknown` verdict is an error.
pub fn write_junit(out: &mut impl Write, r: &Report) -> fmt::Result {
    let _order = crate::syntax::order::AxisOrder::for_model(&r.model).enter();
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

//! Symbolic reverse-mode differentiation over named axes.
//!
//! # The loss
//!
//! For a model with outputs `y, z, …` the scalar differentiated is
//! `ℓ = Σ_{axes of y} dy · y + Σ_{axes of z} dz · z + …`, where the upstream
//! gradient `d<output>` (e.g. `dy`) is a symbol with the axes of its output
//! (see [`loss`] and [`upstream`]). Every output is seeded; a model usually
//! has one.
//!
//! # Adjoints and the broadcasting rule
//!
//! Every definition `v` has free axes `F_v`, and its adjoint `∂ℓ/∂v` has the
//! same free axes. Definitions are processed in reverse file order; the
//! adjoint of `v` is complete when `v` is reached because only later
//! definitions use it. The adjoint is then pushed down through the tree of
//! `v`'s definition, carrying an adjoint expression and the *context axes*
//! `C`: the axes the current subterm varies along in its enclosing context,
//! i.e. `F_v` plus the axes bound by the enclosing reductions.
//!
//! * `a + b`, `a - b`, `-a`, `a * b`, `a / b` (`∂/∂b = -a/b^2`), `a^p` for a
//!   constant `p` (`p·a^(p-1)`), `sqrt(a)` (`1/(2·sqrt(a))`): the usual rules.
//! * `sum[A](body)`: the body's adjoint is the adjoint; `mean[A](body)`: the
//!   adjoint divided by `sum[A](1)` (the size of `A`); `A` joins the context.
//!   `var[A](body)` is differentiated as `mean[A]((body - mean[A](body))^2)`.
//! * Shadowing: if a reduction binds an axis that is already in the context
//!   (`mean[n](x - mean[n](x))`), the inner reduction's value does not vary
//!   along that axis, so its adjoint is first summed over the shadowed axes
//!   (`sum[A ∩ C](adjoint)`); the bound axis inside is then a fresh index.
//! * At a leaf `r[axes(r)]` naming a definition, an input or a parameter, the
//!   contribution to `∂ℓ/∂r` is `sum[C \ axes(r)](adjoint)` (no sum when the
//!   difference is empty): broadcasting a value along an axis in the forward
//!   direction is summing over that axis in the backward direction. Since
//!   axis names are global, a leaf `x[n]` inside `mean[n](…)` refers to the
//!   bound `n`, and its contribution is free in `n`, as `∂ℓ/∂x[n]` must be.
//! * Constants (numbers, undeclared scalar names such as `eps`) get no
//!   adjoint.
//!
//! Results are kept unsimplified but free of noise: zero contributions are
//! dropped and small smart constructors avoid `* 1`, `+ 0`, `0 * …`, `--a`.
//! Adjoints and gradients are written in the model's names (defined names
//! stay `Sym` references), the upstream gradients, inputs and parameters;
//! [`inline`] substitutes the definitions.

use crate::ir::{Expr, Fun, Rat, RedOp, Symbol};
use crate::syntax::{print, Model};
use num_traits::{One, Zero};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The result of [`derive()`]: a program of named definitions.
///
/// Every adjoint and gradient is written in terms of earlier names (the
/// model's definitions, the helpers, earlier adjoints, `d<output>`), never
/// by substituting them, so the program grows linearly with the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Derivation {
    /// Abbreviations the derivation introduces (the batch size `m =
    /// sum[n](1)` of each set of reduced axes), evaluated first.
    pub helpers: Vec<(Symbol, Expr)>,
    /// `∂ℓ/∂v` for every definition `v`, in evaluation order (reverse file
    /// order). An output that no other definition uses has its upstream
    /// gradient as its adjoint and no definition of its own.
    pub adjoints: Vec<Adjoint>,
    /// `∂ℓ/∂w` for every input, then every parameter, in declaration order,
    /// named `d<w>`.
    pub gradients: Vec<Adjoint>,
    /// The narrative: the seeding of each output, then every local
    /// derivative and accumulation in the order performed.
    pub steps: Vec<DiffStep>,
}

/// One named adjoint: `name := expr` is `∂ℓ/∂of`.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjoint {
    /// The definition, input or parameter it is the adjoint of.
    pub of: String,
    /// Its name in the program (`dxhat`), with the axes of `of`.
    pub name: Symbol,
    pub expr: Expr,
}

impl Adjoint {
    /// Whether this adjoint is a definition of the program (an output's
    /// upstream gradient is an input of it instead).
    pub fn is_definition(&self) -> bool {
        !matches!(&self.expr, Expr::Sym(s) if *s == self.name)
    }
}

impl Derivation {
    /// The gradient with respect to an input or parameter, in the program's
    /// names.
    pub fn gradient(&self, name: &str) -> Option<&Expr> {
        self.gradients
            .iter()
            .find(|a| a.of == name)
            .map(|a| &a.expr)
    }

    /// The named gradient `d<name>` as a symbol.
    pub fn gradient_symbol(&self, name: &str) -> Option<Expr> {
        self.gradients
            .iter()
            .find(|a| a.of == name)
            .map(|a| Expr::Sym(a.name.clone()))
    }

    /// The adjoint of a definition, in the program's names.
    pub fn adjoint(&self, name: &str) -> Option<&Expr> {
        self.adjoints.iter().find(|a| a.of == name).map(|a| &a.expr)
    }

    /// The definitions the derivation adds to the model, in evaluation
    /// order: helpers, adjoints, gradients.
    pub fn program(&self) -> Vec<(Symbol, Expr)> {
        let mut out: Vec<(Symbol, Expr)> = self.helpers.clone();
        for a in self.adjoints.iter().chain(&self.gradients) {
            if a.is_definition() {
                out.push((a.name.clone(), a.expr.clone()));
            }
        }
        out
    }

    /// The model's definitions followed by [`Derivation::program`].
    pub fn all_definitions(&self, model: &Model) -> Vec<(Symbol, Expr)> {
        let mut out: Vec<(Symbol, Expr)> = model
            .defs
            .iter()
            .map(|(n, e)| (Symbol::new(n.clone(), e.free_axes()), e.clone()))
            .collect();
        out.extend(self.program());
        out
    }

    /// `e` with every name of the program and of the model substituted, so
    /// that it mentions only inputs, parameters, constants and upstream
    /// gradients. The result is a tree and may be exponentially larger than
    /// the program: only for small models (the higher-order facts `derive`
    /// proves and the `explain` narratives).
    pub fn inline(&self, e: &Expr, model: &Model) -> Expr {
        inline_defs(e, &self.all_definitions(model))
    }

    /// A plain-text account of the derivation.
    pub fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.write_text_with(out, |_| Vec::new())
    }

    /// [`Derivation::write_text`], with `notes` lines under each chain-rule
    /// step.
    pub fn write_text_with(
        &self,
        out: &mut impl fmt::Write,
        notes: impl Fn(&DiffStep) -> Vec<String>,
    ) -> fmt::Result {
        writeln!(out, "chain rule, step by step:")?;
        for s in &self.steps {
            writeln!(out, "  {s}")?;
            for n in notes(s) {
                writeln!(out, "      {n}")?;
            }
        }
        writeln!(out, "the backward pass, as definitions:")?;
        for (n, e) in self.program() {
            writeln!(out, "  {} = {}", n.name, print(&e))?;
        }
        Ok(())
    }
}

/// Substitute ordered definitions (each may use earlier ones) into `e`.
pub fn inline_defs(e: &Expr, defs: &[(Symbol, Expr)]) -> Expr {
    // Only the names `e` reaches are inlined, each once: a stack of layers
    // defines names whose inlinings grow exponentially, and most questions
    // reach only a few of them. A body sees only the names defined before it.
    let mut by_name: BTreeMap<&str, (usize, &Expr)> = BTreeMap::new();
    for (k, (n, d)) in defs.iter().enumerate() {
        by_name.insert(n.name.as_str(), (k, d));
    }
    let mut done: BTreeMap<String, Expr> = BTreeMap::new();
    inline_before(e, usize::MAX, &by_name, &mut done)
}

/// `e` with each name defined at a position before `limit` inlined.
fn inline_before(
    e: &Expr,
    limit: usize,
    by_name: &BTreeMap<&str, (usize, &Expr)>,
    done: &mut BTreeMap<String, Expr>,
) -> Expr {
    match e {
        Expr::Sym(s) => match by_name.get(s.name.as_str()) {
            Some((k, body)) if *k < limit => {
                if let Some(x) = done.get(&s.name) {
                    return x.clone();
                }
                let x = inline_before(body, *k, by_name, done);
                done.insert(s.name.clone(), x.clone());
                x
            }
            _ => e.clone(),
        },
        Expr::Num(_) | Expr::PVar(_) => e.clone(),
        Expr::Neg(a) => Expr::Neg(Box::new(inline_before(a, limit, by_name, done))),
        Expr::Sqrt(a) => Expr::Sqrt(Box::new(inline_before(a, limit, by_name, done))),
        Expr::Add(a, b) => Expr::add(
            inline_before(a, limit, by_name, done),
            inline_before(b, limit, by_name, done),
        ),
        Expr::Sub(a, b) => Expr::sub(
            inline_before(a, limit, by_name, done),
            inline_before(b, limit, by_name, done),
        ),
        Expr::Mul(a, b) => Expr::mul(
            inline_before(a, limit, by_name, done),
            inline_before(b, limit, by_name, done),
        ),
        Expr::Div(a, b) => Expr::div(
            inline_before(a, limit, by_name, done),
            inline_before(b, limit, by_name, done),
        ),
        Expr::Pow(a, b) => Expr::pow(
            inline_before(a, limit, by_name, done),
            inline_before(b, limit, by_name, done),
        ),
        Expr::Reduce(op, axes, body) => Expr::Reduce(
            *op,
            axes.clone(),
            Box::new(inline_before(body, limit, by_name, done)),
        ),
        Expr::App(..) => e.map_children(|c| inline_before(c, limit, by_name, done)),
    }
}

/// `lhs = rhs` and its assumptions with every definition substituted
/// (assumptions may name definitions too: `assuming var > 0`).
pub fn inline_statement(
    lhs: &Expr,
    rhs: &Expr,
    assumptions: &[crate::ir::Assumption],
    defs: &[(Symbol, Expr)],
) -> (crate::ir::Statement, Vec<crate::ir::Assumption>) {
    let stmt = crate::ir::Statement {
        lhs: inline_defs(lhs, defs),
        rhs: inline_defs(rhs, defs),
    };
    let inlined = assumptions
        .iter()
        .map(|a| crate::ir::Assumption {
            expr: inline_defs(&a.expr, defs),
            rel: a.rel,
        })
        .collect();
    (stmt, inlined)
}

/// One step of the chain rule: the use of `to` inside the definition of
/// `from` contributes `contribution` to `∂ℓ/∂to`.
///
/// `local` is `∂from/∂to` at this occurrence (the derivative pushed down
/// from `from` with seed 1), free in the context axes; `contribution` is
/// `∂ℓ/∂from · …` summed over `summed_over` (the context axes `to` does not
/// vary along, plus any axes shadowed by an inner reduction on the way
/// down), with the free axes of `to`. For the
/// seeding of an output `y`, `from` is `ℓ` and `local = contribution = dy`.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffStep {
    pub from: String,
    pub to: String,
    pub local: Expr,
    pub contribution: Expr,
    pub summed_over: Vec<String>,
}

/// The name of the loss in [`DiffStep::from`] for the seeding steps.
pub const LOSS: &str = "ℓ";

impl fmt::Display for DiffStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == LOSS {
            return write!(
                f,
                "ℓ → {}: ∂ℓ/∂{} = {} (the upstream gradient)",
                self.to,
                self.to,
                print(&self.contribution)
            );
        }
        write!(
            f,
            "{} → {}: ∂{}/∂{} = {}; adds ",
            self.from,
            self.to,
            self.from,
            self.to,
            print(&self.local)
        )?;
        if !self.summed_over.is_empty() {
            write!(
                f,
                "(summed over {}) ",
                crate::syntax::order::shown_axes(&self.summed_over).join(", ")
            )?;
        }
        write!(f, "{} to ∂ℓ/∂{}", print(&self.contribution), self.to)
    }
}

/// Why a model could not be differentiated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("the model has no output; add a line such as `output y`")]
    NoOutput,
    #[error("the upstream gradient `{0}` clashes with a name used in the model; rename that name")]
    NameClash(String),
    #[error("in `{context}`: the exponent `{exponent}` depends on a variable; only constant exponents can be differentiated: use a number (or a constant name) as the exponent")]
    NonConstantExponent { context: String, exponent: String },
    #[error("pattern variable ?{0} cannot be differentiated; model files use plain names: write `{0}` and declare it")]
    PatternVariable(String),
    #[error("the derivation is too large: the adjoints up to `{0}` exceed the bound of {MAX_DERIVATION_SIZE} operations plus {SIZE_PER_MODEL_NODE} per node of the model; name repeated subexpressions as definitions, or split the layer into smaller models")]
    TooLarge(String),
}

/// Most expression nodes all adjoints and chain-rule contributions of one
/// derivation may hold together. Adjoints are trees: a chain of definitions
/// each using the previous one twice doubles them at every link, and a
/// random 500-definition model took 1.7 GB in 20 s before this bound. The
/// built-in models need at most 230 (`derive batchnorm --order 3`). Now that
/// adjoints are named the program is linear in the model, so the bound grows
/// with it ([`SIZE_PER_MODEL_NODE`] per node) and stays a safety net.
pub const MAX_DERIVATION_SIZE: usize = 1_000_000;

/// Nodes of adjoints and contributions allowed per node of the model's
/// definitions, on top of [`MAX_DERIVATION_SIZE`].
pub const SIZE_PER_MODEL_NODE: usize = 100;

/// The upstream gradient of an output: `d<output>` with the output's axes.
pub fn upstream(model: &Model, output: &str) -> Symbol {
    let axes: Vec<String> = model
        .defs
        .iter()
        .find(|(n, _)| n == output)
        .map(|(_, e)| e.free_axes().into_iter().collect())
        .unwrap_or_default();
    Symbol::new(format!("d{output}"), axes)
}

/// The loss `ℓ = Σ_y Σ_{axes of y} dy · y`, in the model's names.
pub fn loss(model: &Model) -> Expr {
    let mut total = Expr::num(0);
    for y in &model.outputs {
        let d = upstream(model, y);
        let axes = d.axes.clone();
        let term = mk::mul(
            Expr::Sym(d.clone()),
            Expr::Sym(Symbol::new(y.clone(), axes)),
        );
        total = mk::add(total, mk::sum(&d.axes, term));
    }
    total
}

/// Every name the model itself uses: inputs, parameters, definitions,
/// upstream gradients and the constants its lines mention.
fn model_names(model: &Model) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for s in model.inputs.iter().chain(&model.params) {
        names.insert(s.name.clone());
    }
    let mut syms = BTreeSet::new();
    for (n, e) in &model.defs {
        names.insert(n.clone());
        e.symbols(&mut syms);
    }
    for a in &model.assumptions {
        a.expr.symbols(&mut syms);
    }
    names.extend(syms.into_iter().map(|s| s.name));
    names
}

/// Reverse-mode differentiation of a model (see the module documentation).
pub fn derive(model: &Model) -> Result<Derivation, DiffError> {
    if model.outputs.is_empty() {
        return Err(DiffError::NoOutput);
    }
    let mut targets: BTreeSet<String> = BTreeSet::new();
    for s in model.inputs.iter().chain(&model.params) {
        targets.insert(s.name.clone());
    }
    for (n, _) in &model.defs {
        targets.insert(n.clone());
    }
    let taken = model_names(model);
    let mut used = BTreeSet::new();
    for (_, e) in &model.defs {
        e.symbols(&mut used);
    }
    let used_names: BTreeSet<&str> = used.iter().map(|s| s.name.as_str()).collect();
    // Names the program introduces; none may be a name of the model.
    let mut generated: BTreeSet<String> = BTreeSet::new();
    let mut claim = |name: String| -> Result<String, DiffError> {
        if taken.contains(&name) || !generated.insert(name.clone()) {
            return Err(DiffError::NameClash(name));
        }
        Ok(name)
    };
    let mut names: BTreeMap<String, Symbol> = BTreeMap::new();
    let mut acc: BTreeMap<String, Expr> = BTreeMap::new();
    let mut steps = Vec::new();
    for y in &model.outputs {
        let d = upstream(model, y);
        claim(d.name.clone())?;
        // An output other definitions use gets a total adjoint of its own,
        // so that its upstream gradient and its adjoint are different names.
        if used_names.contains(y.as_str()) {
            let total = claim(format!("{}_total", d.name))?;
            names.insert(y.clone(), Symbol::new(total, d.axes.clone()));
        } else {
            names.insert(y.clone(), d.clone());
        }
        let seed = Expr::Sym(d);
        accumulate(&mut acc, y, seed.clone());
        steps.push(DiffStep {
            from: LOSS.to_string(),
            to: y.clone(),
            local: seed.clone(),
            contribution: seed,
            summed_over: vec![],
        });
    }
    for (v, e) in &model.defs {
        if !names.contains_key(v) {
            let n = claim(format!("d{v}"))?;
            names.insert(v.clone(), Symbol::new(n, e.free_axes()));
        }
    }
    for s in model.inputs.iter().chain(&model.params) {
        let n = claim(format!("d{}", s.name))?;
        names.insert(s.name.clone(), Symbol::new(n, s.axes.clone()));
    }
    let mut sizes = Sizes {
        taken: taken.union(&generated).cloned().collect(),
        helpers: Vec::new(),
    };
    let is_target = |n: &str| targets.contains(n);
    let model_size: usize = model.defs.iter().map(|(_, e)| e.size()).sum();
    let bound = MAX_DERIVATION_SIZE.saturating_add(SIZE_PER_MODEL_NODE.saturating_mul(model_size));
    let mut adjoints = Vec::new();
    let mut total = 0usize;
    for (v, e) in model.defs.iter().rev() {
        let a = acc.get(v).cloned().unwrap_or_else(|| Expr::num(0));
        total = total.saturating_add(a.size());
        if total > bound {
            return Err(DiffError::TooLarge(v.clone()));
        }
        let name = names[v].clone();
        adjoints.push(Adjoint {
            of: v.clone(),
            name: name.clone(),
            expr: a.clone(),
        });
        if mk::is_zero(&a) {
            continue;
        }
        let ctx = e.free_axes();
        let mut b = Back {
            targets: &is_target,
            hits: Vec::new(),
            context: v,
            sizes: Some(&mut sizes),
        };
        // Pushed down by name: the contributions mention `d<v>`, not its
        // expression, so the program stays linear in the model.
        let seed = Expr::Sym(name);
        b.back(
            e,
            Adj {
                local: Expr::num(1),
                full: seed,
                summed: vec![],
            },
            &ctx,
        )?;
        for h in b.hits {
            total = total.saturating_add(h.full.size());
            if total > bound {
                return Err(DiffError::TooLarge(v.clone()));
            }
            accumulate(&mut acc, &h.name, h.full.clone());
            steps.push(DiffStep {
                from: v.clone(),
                to: h.name,
                local: h.local,
                contribution: h.full,
                summed_over: h.summed,
            });
        }
    }
    let gradients = model
        .inputs
        .iter()
        .chain(&model.params)
        .map(|s| Adjoint {
            of: s.name.clone(),
            name: names[&s.name].clone(),
            expr: acc.get(&s.name).cloned().unwrap_or_else(|| Expr::num(0)),
        })
        .collect();
    Ok(Derivation {
        helpers: sizes.helpers,
        adjoints,
        gradients,
        steps,
    })
}

/// The batch-size abbreviations: one fresh name per set of reduced axes.
struct Sizes {
    /// Every name of the model and of the program so far.
    taken: BTreeSet<String>,
    helpers: Vec<(Symbol, Expr)>,
}

impl Sizes {
    /// The name standing for `sum[axes](1)`: `m` for the first set of axes
    /// (as in the paper), `m_<axes>` for later ones, made fresh.
    fn of(&mut self, axes: &[String]) -> Expr {
        let body = Expr::Reduce(RedOp::Sum, axes.to_vec(), Box::new(Expr::num(1)));
        if let Some((s, _)) = self.helpers.iter().find(|(_, b)| *b == body) {
            return Expr::Sym(s.clone());
        }
        let base = if self.helpers.is_empty() {
            "m".to_string()
        } else {
            format!("m_{}", axes.join(""))
        };
        let mut name = base.clone();
        let mut k = 1;
        while self.taken.contains(&name) {
            k += 1;
            name = format!("{base}{k}");
        }
        self.taken.insert(name.clone());
        let s = Symbol::new(name, Vec::<String>::new());
        self.helpers.push((s.clone(), body));
        Expr::Sym(s)
    }
}

fn accumulate(acc: &mut BTreeMap<String, Expr>, name: &str, c: Expr) {
    if mk::is_zero(&c) {
        return;
    }
    let new = match acc.remove(name) {
        Some(old) => mk::add(old, c),
        None => c,
    };
    acc.insert(name.to_string(), new);
}

/// Substitute the model's definitions (transitively), so that the result
/// mentions only inputs, parameters, constants and upstream gradients.
pub fn inline(e: &Expr, model: &Model) -> Expr {
    let mut done: BTreeMap<String, Expr> = BTreeMap::new();
    for (n, d) in &model.defs {
        let x = subst(d, &done);
        done.insert(n.clone(), x);
    }
    subst(e, &done)
}

/// Replace every symbol named in `map` by its expression.
pub fn subst(e: &Expr, map: &BTreeMap<String, Expr>) -> Expr {
    let b = |x: &Expr| Box::new(subst(x, map));
    match e {
        Expr::Sym(s) => map.get(&s.name).cloned().unwrap_or_else(|| e.clone()),
        Expr::Num(_) | Expr::PVar(_) => e.clone(),
        Expr::Neg(a) => Expr::Neg(b(a)),
        Expr::Sqrt(a) => Expr::Sqrt(b(a)),
        Expr::Add(x, y) => Expr::Add(b(x), b(y)),
        Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
        Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
        Expr::Div(x, y) => Expr::Div(b(x), b(y)),
        Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
        Expr::Reduce(op, axes, body) => Expr::Reduce(*op, axes.clone(), b(body)),
        Expr::App(..) => e.map_children(|c| subst(c, map)),
    }
}

/// `∂/∂wrt` of `ℓ = Σ (over the free axes of e and seed) seed · e`, where
/// `e` mentions `wrt` directly (inline model definitions first). The result
/// varies along (at most) the axes `wrt` carries in `e`. Every symbol other
/// than `wrt` is treated as a constant, so the result can be differentiated
/// again: a second derivative in direction `v` is
/// `grad_of(&gradient(e, x)?, &v, x)`.
pub fn grad_of(e: &Expr, seed: &Expr, wrt: &str) -> Result<Expr, DiffError> {
    let is_target = |n: &str| n == wrt;
    let mut ctx = e.free_axes();
    ctx.extend(seed.free_axes());
    let mut b = Back {
        targets: &is_target,
        hits: Vec::new(),
        context: wrt,
        sizes: None,
    };
    b.back(
        e,
        Adj {
            local: seed.clone(),
            full: seed.clone(),
            summed: vec![],
        },
        &ctx,
    )?;
    let mut total = Expr::num(0);
    for h in b.hits {
        total = mk::add(total, h.full);
    }
    Ok(total)
}

/// `∂/∂wrt` of `Σ (over the free axes of e) e`: [`grad_of`] with seed 1.
pub fn gradient(e: &Expr, wrt: &str) -> Result<Expr, DiffError> {
    grad_of(e, &Expr::num(1), wrt)
}

/// An adjoint pushed down twice in lockstep: with seed 1 (the local
/// derivative, for the narrative) and with the real seed.
#[derive(Clone)]
struct Adj {
    local: Expr,
    full: Expr,
    /// Axes already summed over on the way down (shadowed reductions).
    summed: Vec<String>,
}

impl Adj {
    fn map(&self, f: impl Fn(Expr) -> Expr) -> Adj {
        Adj {
            local: f(self.local.clone()),
            full: f(self.full.clone()),
            summed: self.summed.clone(),
        }
    }
}

struct Hit {
    name: String,
    summed: Vec<String>,
    local: Expr,
    full: Expr,
}

struct Back<'a> {
    targets: &'a dyn Fn(&str) -> bool,
    hits: Vec<Hit>,
    /// The definition being differentiated (for error messages).
    context: &'a str,
    /// Where the batch sizes get their names (`None`: written out as
    /// `sum[A](1)`).
    sizes: Option<&'a mut Sizes>,
}

impl Back<'_> {
    fn mentions(&self, e: &Expr) -> bool {
        match e {
            Expr::Sym(s) => (self.targets)(&s.name),
            _ => e.children().iter().any(|c| self.mentions(c)),
        }
    }

    fn back(&mut self, e: &Expr, adj: Adj, ctx: &BTreeSet<String>) -> Result<(), DiffError> {
        if mk::is_zero(&adj.full) {
            return Ok(());
        }
        if let Expr::PVar(v) = e {
            return Err(DiffError::PatternVariable(v.clone()));
        }
        if !self.mentions(e) {
            return Ok(());
        }
        match e {
            Expr::Num(_) | Expr::PVar(_) => {}
            Expr::Sym(s) => {
                let here: Vec<String> = ctx
                    .iter()
                    .filter(|a| !s.axes.contains(a))
                    .cloned()
                    .collect();
                let mut summed = adj.summed;
                summed.extend(here.iter().cloned());
                summed.sort();
                summed.dedup();
                self.hits.push(Hit {
                    name: s.name.clone(),
                    local: adj.local,
                    full: mk::sum(&here, adj.full),
                    summed,
                });
            }
            Expr::Neg(a) => self.back(a, adj.map(mk::neg), ctx)?,
            Expr::Add(a, b) => {
                self.back(a, adj.clone(), ctx)?;
                self.back(b, adj, ctx)?;
            }
            Expr::Sub(a, b) => {
                self.back(a, adj.clone(), ctx)?;
                self.back(b, adj.map(mk::neg), ctx)?;
            }
            Expr::Mul(a, b) => {
                if self.mentions(a) {
                    self.back(a, adj.map(|g| mk::mul(g, (**b).clone())), ctx)?;
                }
                if self.mentions(b) {
                    self.back(b, adj.map(|g| mk::mul(g, (**a).clone())), ctx)?;
                }
            }
            Expr::Div(a, b) => {
                if self.mentions(a) {
                    self.back(a, adj.map(|g| mk::div(g, (**b).clone())), ctx)?;
                }
                if self.mentions(b) {
                    // `a / c^p` (and `a / sqrt(c)`, p = 1/2) goes straight to
                    // `c` with the paper's local derivative `a · (−p) · c^(−p−1)`.
                    let power = match &**b {
                        Expr::Sqrt(c) => Some(((**c).clone(), Rat::new(1.into(), 2.into()))),
                        Expr::Pow(c, p) => p.const_value().map(|p| ((**c).clone(), p)),
                        _ => None,
                    };
                    if let Some((c, p)) = power.filter(|(_, p)| !p.is_zero()) {
                        let exp = -p.clone() - Rat::one();
                        let local = mk::mul(Expr::Num(-p), Expr::pow(c.clone(), Expr::Num(exp)));
                        let a = (**a).clone();
                        self.back(
                            &c,
                            adj.map(|g| mk::mul(mk::mul(g, a.clone()), local.clone())),
                            ctx,
                        )?;
                        return Ok(());
                    }
                    let bb = Expr::pow((**b).clone(), Expr::num(2));
                    self.back(
                        b,
                        adj.map(|g| mk::neg(mk::div(mk::mul(g, (**a).clone()), bb.clone()))),
                        ctx,
                    )?;
                }
            }
            Expr::Pow(a, p) => {
                if self.mentions(p) {
                    return Err(DiffError::NonConstantExponent {
                        context: self.context.to_string(),
                        exponent: print(p),
                    });
                }
                let local = mk::pow_local(a, p);
                self.back(a, adj.map(|g| mk::mul(g, local.clone())), ctx)?;
            }
            Expr::Sqrt(a) => {
                let two_root = Expr::mul(Expr::num(2), Expr::sqrt((**a).clone()));
                self.back(a, adj.map(|g| mk::div(g, two_root.clone())), ctx)?;
            }
            Expr::App(f, args) => {
                for (a, local) in args.iter().zip(fun_partials(*f, args, e)) {
                    if let (Some(local), true) = (local, self.mentions(a)) {
                        self.back(a, adj.map(|g| mk::mul(g, local.clone())), ctx)?;
                    }
                }
            }
            Expr::Reduce(RedOp::Var, axes, body) => {
                let m = Expr::Reduce(RedOp::Mean, axes.clone(), body.clone());
                let sq = Expr::pow(Expr::sub((**body).clone(), m), Expr::num(2));
                let rewritten = Expr::Reduce(RedOp::Mean, axes.clone(), Box::new(sq));
                self.back(&rewritten, adj, ctx)?;
            }
            Expr::Reduce(op, axes, body) => {
                let shadow: Vec<String> =
                    axes.iter().filter(|a| ctx.contains(*a)).cloned().collect();
                let mut adj = adj.map(|g| mk::sum(&shadow, g));
                adj.summed.extend(shadow.iter().cloned());
                let mut inner = ctx.clone();
                inner.extend(axes.iter().cloned());
                let adj = if *op == RedOp::Mean {
                    let size = match self.sizes.as_deref_mut() {
                        Some(s) => s.of(axes),
                        None => Expr::Reduce(RedOp::Sum, axes.clone(), Box::new(Expr::num(1))),
                    };
                    adj.map(|g| mk::div(g, size.clone()))
                } else {
                    adj
                };
                self.back(body, adj, &inner)?;
            }
        }
        Ok(())
    }
}

/// The local partial derivatives of `e = f(args)`, one per argument; `None`
/// where nothing flows back (`detach`).
///
/// `log x = log |x|` gives `1/x` (`1/0 = 0`); `abs'(a) = a/|a|`, 0 at
/// `a = 0` as in PyTorch. With `s = (a − b)/|a − b|` (0 on a tie), `max`
/// passes `(1 + s)/2` to `a` and `(1 − s)/2` to `b`, `min` the other way
/// round: a tie splits the gradient evenly, as `torch.maximum` does.
pub(crate) fn fun_partials(f: Fun, args: &[Expr], e: &Expr) -> Vec<Option<Expr>> {
    let half = |sign: Expr| Expr::div(sign, Expr::num(2));
    match (f, args) {
        (Fun::Exp, [_]) => vec![Some(e.clone())],
        (Fun::Log, [a]) => vec![Some(Expr::div(Expr::num(1), a.clone()))],
        (Fun::Abs, [a]) => vec![Some(Expr::div(a.clone(), e.clone()))],
        (Fun::Max | Fun::Min, [a, b]) => {
            let d = Expr::sub(a.clone(), b.clone());
            let s = Expr::div(d.clone(), Expr::abs(d));
            let (up, down) = (
                half(Expr::add(Expr::num(1), s.clone())),
                half(Expr::sub(Expr::num(1), s)),
            );
            if f == Fun::Max {
                vec![Some(up), Some(down)]
            } else {
                vec![Some(down), Some(up)]
            }
        }
        _ => vec![None; args.len()],
    }
}

/// Smart constructors that avoid obvious noise; each is an identity under
/// the total semantics.
pub(crate) mod mk {
    use super::*;

    pub fn is_zero(e: &Expr) -> bool {
        matches!(e, Expr::Num(r) if r.is_zero())
    }

    fn is_one(e: &Expr) -> bool {
        matches!(e, Expr::Num(r) if r.is_one())
    }

    fn is_minus_one(e: &Expr) -> bool {
        matches!(e, Expr::Num(r) if (-r).is_one())
    }

    pub fn neg(a: Expr) -> Expr {
        match a {
            Expr::Num(r) => Expr::Num(-r),
            Expr::Neg(b) => *b,
            a => Expr::neg(a),
        }
    }

    pub fn add(a: Expr, b: Expr) -> Expr {
        if is_zero(&a) {
            return b;
        }
        if is_zero(&b) {
            return a;
        }
        match b {
            Expr::Neg(c) => Expr::sub(a, *c),
            b => Expr::add(a, b),
        }
    }

    pub fn mul(a: Expr, b: Expr) -> Expr {
        if is_zero(&a) || is_zero(&b) {
            return Expr::num(0);
        }
        if is_one(&a) {
            return b;
        }
        if is_one(&b) {
            return a;
        }
        if is_minus_one(&a) {
            return neg(b);
        }
        if is_minus_one(&b) {
            return neg(a);
        }
        match (a, b) {
            (Expr::Num(x), Expr::Num(y)) => Expr::Num(x * y),
            (Expr::Neg(x), b) => neg(mul(*x, b)),
            (a, Expr::Neg(y)) => neg(mul(a, *y)),
            (a, b) => Expr::mul(a, b),
        }
    }

    pub fn div(a: Expr, b: Expr) -> Expr {
        if is_zero(&a) {
            return Expr::num(0);
        }
        if is_one(&b) {
            return a;
        }
        match a {
            Expr::Neg(x) => neg(div(*x, b)),
            a => Expr::div(a, b),
        }
    }

    /// `sum[axes](body)`, or `body` when `axes` is empty. Factors of a
    /// product (and a divisor) that do not vary along `axes` are taken out of
    /// the sum: `sum[n](c * f[n]) = c * sum[n](f[n])`, as in the paper's
    /// `∂ℓ/∂σ² · Σ_i −2(x_i − μ)/m`.
    pub fn sum(axes: &[String], body: Expr) -> Expr {
        if axes.is_empty() || is_zero(&body) {
            return body;
        }
        let free_of = |e: &Expr| e.free_axes().iter().all(|a| !axes.contains(a));
        if free_of(&body) {
            return plain_sum(axes, body);
        }
        match body {
            Expr::Neg(b) => neg(sum(axes, *b)),
            Expr::Div(a, b) if free_of(&b) => div(sum(axes, *a), *b),
            body @ Expr::Mul(..) => {
                let mut fs = Vec::new();
                factors(body, &mut fs);
                let (free, dep): (Vec<Expr>, Vec<Expr>) = fs.into_iter().partition(free_of);
                let dep = product(dep);
                if free.is_empty() {
                    plain_sum(axes, dep)
                } else {
                    mul(product(free), sum(axes, dep))
                }
            }
            body => plain_sum(axes, body),
        }
    }

    fn plain_sum(axes: &[String], body: Expr) -> Expr {
        let mut axes = axes.to_vec();
        axes.sort();
        axes.dedup();
        Expr::Reduce(RedOp::Sum, axes, Box::new(body))
    }

    fn factors(e: Expr, out: &mut Vec<Expr>) {
        match e {
            Expr::Mul(a, b) => {
                factors(*a, out);
                factors(*b, out);
            }
            e => out.push(e),
        }
    }

    /// The left-nested product of non-empty `fs` (`1` when empty).
    fn product(fs: Vec<Expr>) -> Expr {
        fs.into_iter()
            .reduce(Expr::mul)
            .unwrap_or_else(|| Expr::num(1))
    }

    /// `∂(a^p)/∂a = p · a^(p-1)` for a constant exponent `p`.
    pub fn pow_local(a: &Expr, p: &Expr) -> Expr {
        match p.const_value() {
            Some(pv) => {
                let q: Rat = pv.clone() - Rat::one();
                let power = if q.is_zero() {
                    Expr::num(1)
                } else if q.is_one() {
                    a.clone()
                } else {
                    Expr::pow(a.clone(), Expr::Num(q))
                };
                mul(Expr::Num(pv), power)
            }
            None => mul(
                p.clone(),
                Expr::pow(a.clone(), Expr::sub(p.clone(), Expr::num(1))),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{assignments, eval, eval_all, Env, Tensor, Value};
    use crate::models::{builtin, BUILTIN};
    use crate::syntax::{parse_expr, parse_model};
    use num_bigint::BigInt;
    use num_traits::ToPrimitive;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn q(p: i64, d: i64) -> Rat {
        Rat::new(BigInt::from(p), BigInt::from(d))
    }

    /// A gradient with the program's names substituted (the model's
    /// definitions stay names).
    fn gp(d: &Derivation, w: &str) -> Option<Expr> {
        d.gradient(w).map(|e| inline_defs(e, &d.program()))
    }

    /// An adjoint, likewise.
    fn ap(d: &Derivation, v: &str) -> Option<Expr> {
        d.adjoint(v).map(|e| inline_defs(e, &d.program()))
    }

    fn model(name: &str) -> Model {
        parse_model(builtin(name).unwrap()).unwrap()
    }

    fn size_of(sizes: &BTreeMap<String, usize>, axes: &[String]) -> usize {
        axes.iter().map(|a| sizes[a]).product()
    }

    fn random_tensor(
        rng: &mut ChaCha8Rng,
        axes: &[String],
        sizes: &BTreeMap<String, usize>,
    ) -> Tensor {
        let data = (0..size_of(sizes, axes))
            .map(|_| q(rng.gen_range(-12..=12), rng.gen_range(1..=4)))
            .collect();
        Tensor {
            axes: axes.to_vec(),
            data,
        }
    }

    /// Random inputs, parameters and upstream gradients; `eps` (every
    /// undeclared scalar constant) is 1/10.
    fn random_env(m: &Model, sizes: &BTreeMap<String, usize>, rng: &mut ChaCha8Rng) -> Env {
        let mut env = Env {
            sizes: sizes.clone(),
            values: BTreeMap::new(),
        };
        for s in m.inputs.iter().chain(&m.params) {
            env.values
                .insert(s.name.clone(), random_tensor(rng, &s.axes, sizes));
        }
        for y in &m.outputs {
            let d = upstream(m, y);
            env.values
                .insert(d.name, random_tensor(rng, &d.axes, sizes));
        }
        let mut syms = BTreeSet::new();
        for (_, e) in &m.defs {
            e.symbols(&mut syms);
        }
        for s in syms {
            if !env.values.contains_key(&s.name) && !m.defs.iter().any(|(n, _)| *n == s.name) {
                env.values.insert(s.name, Tensor::scalar(q(1, 10)));
            }
        }
        env
    }

    /// The exact value, or the midpoint of an enclosure rounded to a
    /// multiple of 2^-60 (keeps later arithmetic cheap; far below the
    /// tolerances that use it).
    fn mid(v: &Value) -> Rat {
        match v {
            Value::Exact(r) => r.clone(),
            Value::Interval(lo, hi) => {
                // A grid fine enough that a tiny value (a softmax
                // probability) keeps its relative precision.
                let scale = Rat::from_integer(BigInt::from(2).pow(200));
                let m = (lo + hi) / Rat::from_integer(BigInt::from(2));
                (m * &scale).round() / scale
            }
        }
    }

    /// Bind every definition to its value (midpoints of enclosures for
    /// irrational roots).
    fn forward(m: &Model, env: &Env) -> Env {
        let mut env = env.clone();
        for (n, e) in &m.defs {
            let axes: Vec<String> = e.free_axes().into_iter().collect();
            let data = eval_all(e, &env)
                .unwrap_or_else(|err| panic!("{n}: {err}"))
                .iter()
                .map(|(_, v)| mid(v))
                .collect();
            env.values.insert(n.clone(), Tensor { axes, data });
        }
        env
    }

    /// Values of `e` at every position of `axes` (broadcast if `e` varies
    /// along fewer).
    fn values(e: &Expr, env: &Env, axes: &[String]) -> Vec<Value> {
        assignments(axes, &env.sizes, 1 << 20)
            .unwrap()
            .iter()
            .map(|ix| eval(e, env, ix).unwrap_or_else(|err| panic!("{}: {err}", print(e))))
            .collect()
    }

    fn f(v: &Value) -> f64 {
        v.approx()
    }

    /// Axis sizes for sample `k`: small, every axis of size 1 or more, and
    /// every reduction over at least two points in some sample.
    fn sizes_for(m: &Model, k: usize) -> BTreeMap<String, usize> {
        const PATTERNS: [[usize; 5]; 2] = [[3, 2, 2, 1, 1], [2, 1, 2, 2, 2]];
        m.axes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    a.clone(),
                    if m.axes.len() <= 2 {
                        [3, 2][(i + k) % 2]
                    } else {
                        PATTERNS[k][i % 5]
                    },
                )
            })
            .collect()
    }

    #[test]
    fn every_builtin_derives_with_the_right_axes() {
        for (name, _) in BUILTIN {
            let m = model(name);
            let d = derive(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.adjoints.len(), m.defs.len());
            assert_eq!(d.adjoints[0].of, *m.defs.last().map(|(n, _)| n).unwrap());
            for s in m.inputs.iter().chain(&m.params) {
                let g = &gp(&d, &s.name).unwrap();
                let free: Vec<String> = g.free_axes().into_iter().collect();
                assert_eq!(free, s.axes, "{name}: ∂ℓ/∂{} = {}", s.name, print(g));
            }
            for (v, e) in &m.defs {
                let a = &ap(&d, v).unwrap();
                assert_eq!(a.free_axes(), e.free_axes(), "{name}: ∂ℓ/∂{v}");
            }
            for s in &d.steps {
                let to_axes: BTreeSet<String> =
                    if let Some((_, e)) = m.defs.iter().find(|(n, _)| *n == s.to) {
                        e.free_axes()
                    } else {
                        m.inputs
                            .iter()
                            .chain(&m.params)
                            .find(|w| w.name == s.to)
                            .unwrap()
                            .axes
                            .iter()
                            .cloned()
                            .collect()
                    };
                assert!(
                    s.contribution.free_axes().is_subset(&to_axes),
                    "{name}: {s}"
                );
            }
            let mut text = String::new();
            d.write_text(&mut text).unwrap();
            assert!(text.contains("∂ℓ/∂x") || text.contains("∂ℓ/∂u"), "{text}");
        }
    }

    /// ⟨∂ℓ/∂w, v⟩ against a central difference of ℓ(w + t v), for every
    /// input and parameter of every built-in model, and every claim against
    /// the derived gradient.
    #[test]
    fn gradients_match_finite_differences_and_claims() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let t = q(1, 100_000);
        for (name, _) in BUILTIN {
            let m = model(name);
            let d = derive(&m).unwrap();
            let l = loss(&m);
            for k in 0..2 {
                let sizes = sizes_for(&m, k);
                let env = random_env(&m, &sizes, &mut rng);
                // Definitions are bound to the midpoints of their
                // enclosures (exp, log): at 256 bits the inconsistency
                // between a bound name and its recomputed body stays far
                // below the test's 1e-12.
                let fwd = crate::eval::with_precision(256, || forward(&m, &env));
                for w in m.inputs.iter().chain(&m.params) {
                    let g = &gp(&d, &w.name).unwrap();
                    let gv = values(g, &fwd, &w.axes);
                    let dir = random_tensor(&mut rng, &w.axes, &sizes);
                    let analytic: f64 = gv
                        .iter()
                        .zip(&dir.data)
                        .map(|(a, b)| f(a) * b.to_f64().unwrap())
                        .sum();
                    let shifted = |sign: i64| {
                        let mut e = env.clone();
                        let x = e.values.get_mut(&w.name).unwrap();
                        for (xi, vi) in x.data.iter_mut().zip(&dir.data) {
                            *xi += Rat::from_integer(BigInt::from(sign)) * &t * vi;
                        }
                        mid(&eval(&l, &forward(&m, &e), &BTreeMap::new()).unwrap())
                    };
                    let fd = ((shifted(1) - shifted(-1))
                        / (Rat::from_integer(BigInt::from(2)) * &t))
                        .to_f64()
                        .unwrap();
                    let tol = 1e-6 * (analytic.abs() + fd.abs()) + 1e-9;
                    assert!(
                        (analytic - fd).abs() <= tol,
                        "{name} (sizes {sizes:?}): ∂ℓ/∂{}: analytic {analytic}, finite difference {fd}",
                        w.name
                    );
                }
                for c in &m.claims {
                    // Claims use intermediate gradients by name (dxhat);
                    // a claim on a definition is about its adjoint.
                    let (got, axes) =
                        match m.inputs.iter().chain(&m.params).find(|s| s.name == c.wrt) {
                            Some(w) => (gp(&d, &c.wrt).unwrap(), w.axes.clone()),
                            None => {
                                let (_, def) = m.defs.iter().find(|(n, _)| *n == c.wrt).unwrap();
                                (
                                    ap(&d, &c.wrt).unwrap(),
                                    def.free_axes().into_iter().collect(),
                                )
                            }
                        };
                    let claim = inline_defs(&c.expr, &d.program());
                    let got = values(&got, &fwd, &axes);
                    let want = values(&claim, &fwd, &axes);
                    let scale = want.iter().map(|v| f(v).abs()).fold(1e-300, f64::max);
                    for (a, b) in got.iter().zip(&want) {
                        assert!(
                            (f(a) - f(b)).abs() <= 1e-12 * scale,
                            "{name}: claim grad {} (line {}): {} vs {}",
                            c.wrt,
                            c.line,
                            f(a),
                            f(b)
                        );
                    }
                }
            }
        }
    }

    /// One channel: `eps = s² − var` with `s = var + 1` keeps every square
    /// root exact.
    fn exact_batchnorm_env(n: usize, rng: &mut ChaCha8Rng) -> (Model, Env) {
        let m = model("batchnorm");
        let sizes: BTreeMap<String, usize> = [("n".to_string(), n)].into_iter().collect();
        let mut env = random_env(&m, &sizes, rng);
        let x = &env.values["x"].data;
        let nn = Rat::from_integer(BigInt::from(n as i64));
        let mu: Rat = x.iter().sum::<Rat>() / &nn;
        let var: Rat = x.iter().map(|v| (v - &mu) * (v - &mu)).sum::<Rat>() / &nn;
        let s = &var + Rat::one();
        env.values
            .insert("eps".into(), Tensor::scalar(&s * &s - &var));
        (m, env)
    }

    #[test]
    fn batchnorm_matches_the_three_term_form_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let three = parse_expr(
            "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))",
        )
        .unwrap();
        let dgamma = parse_expr("sum[n](dy[n] * xhat[n])").unwrap();
        let dbeta = parse_expr("sum[n](dy[n])").unwrap();
        for n in [1, 2, 3, 4, 5] {
            let (m, env) = exact_batchnorm_env(n, &mut rng);
            let d = derive(&m).unwrap();
            let fwd = forward(&m, &env);
            let axes = ["n".to_string()];
            for (g, want, ax) in [
                (&gp(&d, "x").unwrap(), &three, &axes[..]),
                (&gp(&d, "gamma").unwrap(), &dgamma, &[][..]),
                (&gp(&d, "beta").unwrap(), &dbeta, &[][..]),
            ] {
                // With the definitions bound to their values…
                let got = values(g, &fwd, ax);
                let exp = values(want, &fwd, ax);
                // …and with everything inlined, from the inputs alone.
                let got_i = values(&inline(g, &m), &env, ax);
                let exp_i = values(&inline(want, &m), &env, ax);
                for k in 0..got.len() {
                    assert!(
                        got[k].is_exact() && got[k] == exp[k],
                        "n={n}: {} vs {}",
                        got[k],
                        exp[k]
                    );
                    assert!(got_i[k].is_exact() && got_i[k] == exp_i[k] && got_i[k] == got[k]);
                }
            }
            // Σ ∂ℓ/∂x = 0 always.
            let total = parse_expr("sum[n](g[n])").unwrap();
            let mut map = BTreeMap::new();
            map.insert("g".to_string(), gp(&d, "x").unwrap());
            let v = eval(&subst(&total, &map), &fwd, &BTreeMap::new()).unwrap();
            assert_eq!(v, Value::Exact(Rat::zero()));
        }
    }

    #[test]
    fn centering_gives_b_a_zero_gradient_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let m = model("centering");
        let d = derive(&m).unwrap();
        let gb = &gp(&d, "b").unwrap();
        let gb_inlined = inline(gb, &m);
        let mut syms = BTreeSet::new();
        gb_inlined.symbols(&mut syms);
        assert!(syms.iter().all(|s| s.name != "x" && s.name != "xhat"));
        for n in 1..=5 {
            let sizes: BTreeMap<String, usize> = [("i".to_string(), n)].into_iter().collect();
            let env = random_env(&m, &sizes, &mut rng);
            let zero = Value::Exact(Rat::zero());
            assert_eq!(eval(&gb_inlined, &env, &BTreeMap::new()).unwrap(), zero);
            assert_eq!(
                eval(gb, &forward(&m, &env), &BTreeMap::new()).unwrap(),
                zero
            );
        }
        // The narrative names the path from xhat back to b.
        assert!(d.steps.iter().any(|s| s.from == "x" && s.to == "b"));
        assert!(d
            .steps
            .iter()
            .any(|s| s.from == "xhat" && s.to == "x" && s.summed_over == vec!["i".to_string()]));
    }

    #[test]
    fn batchnorm_steps_follow_the_paper() {
        let d = derive(&model("batchnorm")).unwrap();
        let names: Vec<&str> = d.adjoints.iter().map(|a| a.of.as_str()).collect();
        assert_eq!(names, ["y", "xhat", "var", "mu"]);
        assert_eq!(print(&ap(&d, "xhat").unwrap()), "dy[n] * gamma");
        assert_eq!(print(&gp(&d, "gamma").unwrap()), "sum[n](dy[n] * xhat[n])");
        assert_eq!(print(&gp(&d, "beta").unwrap()), "sum[n](dy[n])");
        let s = d
            .steps
            .iter()
            .find(|s| s.from == "xhat" && s.to == "var")
            .unwrap();
        assert_eq!(s.summed_over, vec!["n".to_string()]);
        assert!(
            s.to_string().starts_with("xhat → var: ∂xhat/∂var = "),
            "{s}"
        );
        // No noise.
        for a in d.adjoints.iter().chain(&d.gradients) {
            let p = print(&a.expr);
            assert!(
                !p.contains("* 1)") && !p.contains("+ 0") && !p.contains("0 *"),
                "{p}"
            );
        }
    }

    fn exact(e: &Expr, env: &Env, axes: &[&str]) -> Vec<Value> {
        let axes: Vec<String> = axes.iter().map(|s| s.to_string()).collect();
        values(e, env, &axes)
    }

    fn env_x(xs: &[Rat], vs: &[Rat]) -> Env {
        let mut env = Env::default();
        env.sizes.insert("n".into(), xs.len());
        let t = |d: &[Rat]| Tensor {
            axes: vec!["n".into()],
            data: d.to_vec(),
        };
        env.values.insert("x".into(), t(xs));
        env.values.insert("v".into(), t(vs));
        env
    }

    #[test]
    fn shadowed_reductions_var_and_second_order() {
        let xs = [q(1, 2), q(-3, 1), q(5, 4)];
        let vs = [q(2, 1), q(1, 3), q(-1, 1)];
        let env = env_x(&xs, &vs);
        let check = |e: &str, want: &str| {
            let g = gradient(&parse_expr(e).unwrap(), "x").unwrap();
            let want = parse_expr(want).unwrap();
            assert_eq!(
                exact(&g, &env, &["n"]),
                exact(&want, &env, &["n"]),
                "∂/∂x {e} = {}",
                print(&g)
            );
        };
        // ℓ = Σ_n x_n · mean(x) = (Σx)²/N: ∂ℓ/∂x_k = 2 mean(x).
        check("sum[n](x[n] * mean[n](x[n]))", "2 * mean[n](x[n])");
        check("var[n](x[n])", "2 * (x[n] - mean[n](x[n])) / sum[n](1)");
        check("mean[n](x[n] - mean[n](x[n]))", "0 * x[n]");
        check("sum[n](sqrt(x[n]^2 + 1))", "x[n] / sqrt(x[n]^2 + 1)");
        // Second order: ∂/∂x ⟨v, ∂/∂x Σ x³⟩ = 6 v x.
        let g = gradient(&parse_expr("sum[n](x[n]^3)").unwrap(), "x").unwrap();
        assert_eq!(
            exact(&g, &env, &["n"]),
            exact(&parse_expr("3 * x[n]^2").unwrap(), &env, &["n"])
        );
        let h = grad_of(&g, &parse_expr("v[n]").unwrap(), "x").unwrap();
        assert_eq!(
            exact(&h, &env, &["n"]),
            exact(&parse_expr("6 * v[n] * x[n]").unwrap(), &env, &["n"])
        );
    }

    #[test]
    fn errors() {
        let m = parse_model("axis n\ninput x[n]\ny = x\n").unwrap();
        assert_eq!(derive(&m), Err(DiffError::NoOutput));
        let m = parse_model("axis n\ninput x[n], dy[n]\ny = x * dy\noutput y\n").unwrap();
        assert_eq!(derive(&m), Err(DiffError::NameClash("dy".into())));
        let e = Expr::pow(Expr::num(2), Expr::sym("x", &["n"]));
        assert!(matches!(
            gradient(&e, "x"),
            Err(DiffError::NonConstantExponent { .. })
        ));
    }
}

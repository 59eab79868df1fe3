//! `bnproof exercises MODEL`: what-if exercises built by structural
//! transformations of a model, each with its answer proved by the kernel
//! and one or two tempting wrong answers refuted with their residuals.
//!
//! The transformations ([`variants`]) read the parsed model only — the
//! shapes of its definitions, its declarations and its axes — never what a
//! name is called, so a copy of a model with every name changed gets the
//! same exercises up to names:
//!
//! 1. [`Kind::UnbiasedVariance`]: a definition `mean[A]((e - s)^2)` where
//!    `s` is defined as `mean[A](e)` (or `var[A](e)`) becomes
//!    `sum[A]((e - s)^2) / (sum[A](1) - 1)`;
//! 2. [`Kind::ConstantZero`]: a constant set to 0; where its assumption was
//!    what the sign analysis needed for a radicand, a power or a divisor
//!    (`sqrt(var + eps)` with `eps > 0`), the variant assumes that
//!    subterm positive (non-zero for a divisor) instead, or is skipped;
//! 3. [`Kind::PerFeature`]: a parameter gets one more axis of the output
//!    that no statistic reduces;
//! 4. [`Kind::Detach`]: a statistic (a definition whose body is a
//!    reduction, used by a later definition) becomes `detach(…)`: its value
//!    stays, no gradient flows through it (one variant per statistic);
//! 5. [`Kind::OtherAxes`]: every reduction's axes change consistently, the
//!    first reduced axis swapped for the first axis of the output none
//!    reduces (batch norm 2-D over `[n,h,w]` becomes one over `[c,h,w]`).
//!
//! Each variant is written as a model file ([`source`]) and read back by
//! the parser, so it is a model a student can run `bnproof derive` on.
//! [`build`] derives it ([`derive::derive`] finds the simplified gradient
//! and proves it), then derives it again with the answer and the wrong
//! answers as `claim` lines: the answer must be proved, each wrong answer
//! refuted, its residual (`claim − derived`) proved by the kernel
//! ([`derive::Diagnosis`]). Wrong answers are built from the answer and
//! the original model's answer ([`wrong_candidates`]); one that turns out
//! to be right is dropped and said so.

use crate::derive::{self, DeriveError, DeriveOptions, Equality, Report, Verdict};
use crate::diff;
use crate::ir::{Assumption, Expr, RedOp, Rel, Symbol};
use crate::models::Loaded;
use crate::render::derivation::forward_rows;
use crate::render::layout::layout;
use crate::render::{self, Markup, Notation, Page, Span};
use crate::sign::{self, Facts};
use crate::syntax::{self, Model};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};

/// The five kinds of what-if exercise, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    UnbiasedVariance,
    ConstantZero,
    PerFeature,
    Detach,
    OtherAxes,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::UnbiasedVariance,
        Kind::ConstantZero,
        Kind::PerFeature,
        Kind::Detach,
        Kind::OtherAxes,
    ];

    /// What the transformation does, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Kind::UnbiasedVariance => "normalize by the unbiased variance",
            Kind::ConstantZero => "set a constant to 0",
            Kind::PerFeature => "make a parameter per-feature",
            Kind::Detach => "detach a statistic",
            Kind::OtherAxes => "reduce over other axes",
        }
    }
}

/// A transformed model.
#[derive(Clone, Debug)]
pub struct Variant {
    pub kind: Kind,
    /// What changed, one sentence each, in the model's names.
    pub changes: Vec<String>,
    /// The transformed model (no claims, checks or derivations to grade).
    pub model: Model,
    /// Symbols replaced in the original model's expressions to read them in
    /// the variant (the constant set to 0).
    pub subst: BTreeMap<String, Expr>,
}

/// A transformation that does not apply, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub kind: Kind,
    pub reason: String,
}

/// The model's applicable variants and the transformations skipped, in
/// [`Kind::ALL`]'s order.
pub fn variants(m: &Model) -> (Vec<Variant>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for kind in Kind::ALL {
        let (vs, why) = match kind {
            Kind::UnbiasedVariance => unbiased(m),
            Kind::ConstantZero => constant_zero(m),
            Kind::PerFeature => per_feature(m),
            Kind::Detach => detach_statistic(m),
            Kind::OtherAxes => other_axes(m),
        };
        // Each variant as the parser reads its model file: the names'
        // axes follow the change (`mu` varies along what is left).
        for mut v in vs {
            let src = source(&v.model, kind.title());
            match syntax::parse_model(&src) {
                Ok(back) => {
                    v.model = base(&back);
                    out.push(v);
                }
                Err(e) => skipped.push(Skipped {
                    kind,
                    reason: format!("the changed model does not read back: {}", e.message),
                }),
            }
        }
        skipped.extend(why.into_iter().map(|reason| Skipped { kind, reason }));
    }
    (out, skipped)
}

/// The model without what does not carry over to a variant: claims, checks,
/// derivations, warnings.
fn base(m: &Model) -> Model {
    Model {
        claims: Vec::new(),
        checks: Vec::new(),
        chains: Vec::new(),
        warnings: Vec::new(),
        ..m.clone()
    }
}

/// `e` with every symbol written without axes (the parser gives each name
/// its declared or defined axes back).
pub fn bare(e: &Expr) -> Expr {
    match e {
        Expr::Sym(s) => Expr::Sym(Symbol::new(s.name.clone(), Vec::<String>::new())),
        _ => e.map_children(bare),
    }
}

/// `e` printed in the input syntax, names without axes.
pub fn print(e: &Expr) -> String {
    syntax::print(&bare(e))
}

/// [`print()`], each reduction's axes in the model's order `axes`
/// (`mean[n,h,w]`, as the file declares them) rather than sorted.
pub fn print_in(e: &Expr, axes: &[String]) -> String {
    fn ordered(e: &Expr, order: &[String]) -> Expr {
        match e {
            Expr::Reduce(op, axes, body) => {
                let mut sorted: Vec<String> =
                    order.iter().filter(|a| axes.contains(a)).cloned().collect();
                sorted.extend(axes.iter().filter(|a| !order.contains(a)).cloned());
                Expr::Reduce(*op, sorted, Box::new(ordered(body, order)))
            }
            _ => e.map_children(|c| ordered(c, order)),
        }
    }
    print(&ordered(e, axes))
}

fn is_zero(e: &Expr) -> bool {
    e.const_value()
        .is_some_and(|v| num_traits::Zero::is_zero(&v))
}

/// `e` with the zeros a substitution left folded away (`var + 0` is `var`,
/// `0 * a` is 0).
fn fold_zero(e: &Expr) -> Expr {
    let e = e.map_children(fold_zero);
    let zero = Expr::num(0);
    match &e {
        Expr::Add(a, b) if is_zero(b) => (**a).clone(),
        Expr::Add(a, b) if is_zero(a) => (**b).clone(),
        Expr::Sub(a, b) if is_zero(b) => (**a).clone(),
        Expr::Sub(a, b) if is_zero(a) => Expr::neg((**b).clone()),
        Expr::Mul(a, b) if is_zero(a) || is_zero(b) => zero,
        Expr::Div(a, _) if is_zero(a) => zero,
        Expr::Neg(a) | Expr::Sqrt(a) | Expr::Reduce(_, _, a) if is_zero(a) => zero,
        _ => e,
    }
}

/// The body of the definition `name`.
fn def_body<'m>(m: &'m Model, name: &str) -> Option<&'m Expr> {
    m.defs.iter().find(|(d, _)| d == name).map(|(_, b)| b)
}

/// `(A, e - s)` when `body` is `mean[A]((e - s)^2)` (or `(e - s) * (e - s)`)
/// with `s` defined as `mean[A](e)`, or `var[A](e)` (then `s` is
/// `mean[A](e)` written out).
fn centred_square(m: &Model, body: &Expr) -> Option<(Vec<String>, Expr)> {
    let Expr::Reduce(op, axes, inner) = body else {
        return None;
    };
    if *op == RedOp::Var {
        let mean = Expr::Reduce(RedOp::Mean, axes.clone(), inner.clone());
        return Some((axes.clone(), Expr::sub((**inner).clone(), mean)));
    }
    if *op != RedOp::Mean {
        return None;
    }
    let centred = match &**inner {
        Expr::Pow(b, p) if p.const_value() == Expr::num(2).const_value() => &**b,
        Expr::Mul(a, b) if a == b => &**a,
        _ => return None,
    };
    let Expr::Sub(e, s) = centred else {
        return None;
    };
    let Expr::Sym(s) = &**s else {
        return None;
    };
    let mean = Expr::Reduce(RedOp::Mean, axes.clone(), e.clone());
    (def_body(m, &s.name) == Some(&mean)).then(|| (axes.clone(), centred.clone()))
}

fn refs(axes: &[String]) -> Vec<&str> {
    axes.iter().map(String::as_str).collect()
}

/// Variant 1: the unbiased variance, one variant per definition that is a
/// variance.
fn unbiased(m: &Model) -> (Vec<Variant>, Vec<String>) {
    let mut out = Vec::new();
    for (k, (name, body)) in m.defs.iter().enumerate() {
        let Some((axes, centred)) = centred_square(m, body) else {
            continue;
        };
        let a = refs(&axes);
        let count = Expr::reduce(RedOp::Sum, &a, Expr::num(1));
        let new = Expr::div(
            Expr::reduce(RedOp::Sum, &a, Expr::pow(centred, Expr::num(2))),
            Expr::sub(count.clone(), Expr::num(1)),
        );
        let mut v = base(m);
        v.defs[k].1 = new.clone();
        // The divisor is not zero: the statistic's axes hold two entries or
        // more (the sign analysis needs it to clear the denominator).
        let at_least_two = Assumption {
            expr: Expr::sub(count.clone(), Expr::num(1)),
            rel: Rel::Gt,
        };
        v.assumptions.push(at_least_two.clone());
        out.push(Variant {
            kind: Kind::UnbiasedVariance,
            changes: vec![
                format!(
                    "{name} = {} becomes {name} = {}",
                    print_in(body, &m.axes),
                    print_in(&new, &m.axes)
                ),
                format!(
                    "assume {} (at least two entries along [{}])",
                    print_assumption(&at_least_two, &m.axes),
                    m.axes
                        .iter()
                        .filter(|a| axes.contains(a))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ],
            model: v,
            subst: BTreeMap::new(),
        });
    }
    let why = if out.is_empty() {
        vec![
            "no definition is a variance: a mean over axes A of a squared deviation (e - s)^2 \
              where s is defined as the mean over A of e, or var[A](e)"
                .to_string(),
        ]
    } else {
        Vec::new()
    };
    (out, why)
}

fn print_assumption(a: &Assumption, axes: &[String]) -> String {
    format!("{} {} 0", print_in(&a.expr, axes), a.rel.as_str())
}

/// Whether `name` occurs in `e`.
fn mentions(e: &Expr, name: &str) -> bool {
    let mut syms = BTreeSet::new();
    e.symbols(&mut syms);
    syms.iter().any(|s| s.name == name)
}

/// The subterms the sign analysis must decide for a model to be
/// well-defined and differentiable: radicands and bases of negative or
/// fractional powers must be positive, divisors non-zero. Paths into `e`.
/// Innermost first, so that an assumption added for a radicand is known
/// when the root around it is a divisor.
fn guarded(e: &Expr, path: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, Rel)>) {
    for (k, c) in e.children().into_iter().enumerate() {
        path.push(k);
        guarded(c, path, out);
        path.pop();
    }
    match e {
        Expr::Sqrt(_) => out.push(([path.as_slice(), &[0]].concat(), Rel::Gt)),
        Expr::Pow(_, p)
            if p.const_value()
                .is_some_and(|v| !v.is_integer() || num_traits::Signed::is_negative(&v)) =>
        {
            out.push(([path.as_slice(), &[0]].concat(), Rel::Gt))
        }
        Expr::Div(_, _) => out.push(([path.as_slice(), &[1]].concat(), Rel::Ne)),
        _ => {}
    }
}

/// Whether the sign analysis decides `e REL 0` in `m` (definitions and
/// assumptions inlined).
fn decided(e: &Expr, rel: Rel, m: &Model) -> bool {
    let assumptions: Vec<Assumption> = m
        .assumptions
        .iter()
        .map(|a| Assumption {
            expr: diff::inline(&a.expr, m),
            rel: a.rel,
        })
        .collect();
    let facts = Facts::new(&assumptions);
    let e = diff::inline(e, m);
    match rel {
        Rel::Gt => sign::is_pos(&e, &facts),
        Rel::Ge => sign::is_nonneg(&e, &facts),
        Rel::Ne => sign::is_nonzero(&e, &facts),
    }
}

/// Variant 2: each constant set to 0.
fn constant_zero(m: &Model) -> (Vec<Variant>, Vec<String>) {
    let mut out = Vec::new();
    let mut why = Vec::new();
    if m.consts.is_empty() {
        why.push("the model declares no constant".to_string());
    }
    for c in &m.consts {
        if !m.defs.iter().any(|(_, b)| mentions(b, c)) {
            why.push(format!("{c} does not occur in the forward pass"));
            continue;
        }
        match constant_zero_one(m, c) {
            Ok(v) => out.push(v),
            Err(reason) => why.push(reason),
        }
    }
    (out, why)
}

fn constant_zero_one(m: &Model, c: &str) -> Result<Variant, String> {
    let zero: BTreeMap<String, Expr> = [(c.to_string(), Expr::num(0))].into();
    let mut v = base(m);
    v.consts.retain(|k| k != c);
    let dropped: Vec<Assumption> = v
        .assumptions
        .iter()
        .filter(|a| mentions(&a.expr, c))
        .cloned()
        .collect();
    v.assumptions.retain(|a| !mentions(&a.expr, c));
    // Substituted but not folded: the same shape as the original, so each
    // guarded subterm has its original counterpart at the same path.
    let raw: Vec<(String, Expr)> = m
        .defs
        .iter()
        .map(|(n, b)| (n.clone(), diff::subst(b, &zero)))
        .collect();
    v.defs = raw.iter().map(|(n, b)| (n.clone(), fold_zero(b))).collect();
    let mut changes = vec![format!("{c} = 0")];
    if !dropped.is_empty() {
        let list: Vec<String> = dropped
            .iter()
            .map(|a| print_assumption(a, &m.axes))
            .collect();
        changes.push(format!(
            "the assumption {} no longer applies",
            list.join(", ")
        ));
    }
    let mut added: Vec<Assumption> = Vec::new();
    for ((_, orig), (_, sub)) in m.defs.iter().zip(&raw) {
        let mut places = Vec::new();
        guarded(orig, &mut Vec::new(), &mut places);
        for (path, rel) in places {
            let (Some(o), Some(s)) = (orig.at(&path), sub.at(&path)) else {
                continue;
            };
            if !decided(o, rel, m) || decided(s, rel, &v) {
                continue;
            }
            let needed = fold_zero(s);
            let what = if rel == Rel::Ne {
                "divides by"
            } else {
                "takes the root or a negative power of"
            };
            if needed.const_value().is_some() {
                return Err(format!(
                    "with {c} = 0 the forward pass {what} {} = {}, which no assumption can make \
                     well-defined",
                    print_in(o, &m.axes),
                    print_in(&needed, &m.axes)
                ));
            }
            let a = Assumption { expr: needed, rel };
            if !added.contains(&a) {
                added.push(a.clone());
                v.assumptions.push(a);
            }
        }
    }
    for a in &added {
        changes.push(format!(
            "assume {} (what {c} > 0 guaranteed before)",
            print_assumption(a, &m.axes)
        ));
    }
    let inlined: Vec<Assumption> = v
        .assumptions
        .iter()
        .map(|a| Assumption {
            expr: diff::inline(&a.expr, &v),
            rel: a.rel,
        })
        .collect();
    if Facts::new(&inlined).is_contradictory() {
        return Err(format!(
            "with {c} = 0 the assumptions the forward pass needs ({}) contradict each other",
            added
                .iter()
                .map(|a| print_assumption(a, &m.axes))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Variant {
        kind: Kind::ConstantZero,
        changes,
        model: v,
        subst: zero,
    })
}

/// The axes of the outputs, in the model's axis order.
fn output_axes(m: &Model) -> Vec<String> {
    let mut set = BTreeSet::new();
    for o in &m.outputs {
        if let Some(b) = def_body(m, o) {
            set.extend(b.free_axes());
        } else if let Some(s) = m.inputs.iter().chain(&m.params).find(|s| s.name == *o) {
            set.extend(s.axes.iter().cloned());
        }
    }
    m.axes
        .iter()
        .filter(|a| set.contains(*a))
        .cloned()
        .collect()
}

/// Every reduction in the definitions, as its operation, axes and path.
fn reductions(m: &Model) -> Vec<Vec<String>> {
    fn go(e: &Expr, out: &mut Vec<Vec<String>>) {
        if let Expr::Reduce(_, axes, _) = e {
            out.push(axes.clone());
        }
        for c in e.children() {
            go(c, out);
        }
    }
    let mut out = Vec::new();
    for (_, b) in &m.defs {
        go(b, &mut out);
    }
    out
}

/// The axes some statistic reduces over.
fn reduced_axes(m: &Model) -> BTreeSet<String> {
    reductions(m).into_iter().flatten().collect()
}

/// Variant 3: each parameter gets the first axis of the output that it
/// lacks and no statistic reduces.
fn per_feature(m: &Model) -> (Vec<Variant>, Vec<String>) {
    if m.params.is_empty() {
        return (Vec::new(), vec!["the model has no parameter".to_string()]);
    }
    let out_axes = output_axes(m);
    let reduced = reduced_axes(m);
    let free: Vec<&String> = out_axes.iter().filter(|a| !reduced.contains(*a)).collect();
    if free.is_empty() {
        return (
            Vec::new(),
            vec![format!(
                "every axis of the output ({}) is reduced by a statistic: there is no feature \
                 axis for a parameter to vary along",
                out_axes.join(", ")
            )],
        );
    }
    let mut out = Vec::new();
    for p in &m.params {
        let declared = m
            .declared_axes
            .get(&p.name)
            .cloned()
            .unwrap_or_else(|| p.axes.clone());
        let Some(axis) = free.iter().find(|a| !declared.contains(*a)) else {
            continue;
        };
        let mut v = base(m);
        let mut axes = declared.clone();
        axes.push((*axis).clone());
        let sym = Symbol::new(p.name.clone(), axes.clone());
        for q in v.params.iter_mut().filter(|q| q.name == p.name) {
            *q = sym.clone();
        }
        v.declared_axes.insert(p.name.clone(), axes.clone());
        let map: BTreeMap<String, Expr> = [(p.name.clone(), Expr::Sym(sym))].into();
        for (_, b) in v.defs.iter_mut() {
            *b = diff::subst(b, &map);
        }
        let was = if declared.is_empty() {
            "a scalar".to_string()
        } else {
            format!("[{}]", declared.join(","))
        };
        out.push(Variant {
            kind: Kind::PerFeature,
            changes: vec![format!(
                "param {} becomes {}[{}] (was {was}): one value per {axis}",
                p.name,
                p.name,
                axes.join(",")
            )],
            model: v,
            subst: BTreeMap::new(),
        });
    }
    let why = if out.is_empty() {
        vec![format!(
            "every parameter already varies along every axis of the output no statistic reduces ({})",
            free.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        )]
    } else {
        Vec::new()
    };
    (out, why)
}

/// Variant 4: one statistic at a time treated as a constant in the backward
/// pass, as Batch Renormalization does with r and d.
fn detach_statistic(m: &Model) -> (Vec<Variant>, Vec<String>) {
    let used_later = |k: usize, name: &str| {
        m.defs[k + 1..].iter().any(|(_, b)| {
            let mut syms = BTreeSet::new();
            b.symbols(&mut syms);
            syms.iter().any(|s| s.name == name)
        })
    };
    let mut out = Vec::new();
    for (k, (name, body)) in m.defs.iter().enumerate() {
        if !matches!(body, Expr::Reduce(..)) || !used_later(k, name) {
            continue;
        }
        let mut v = base(m);
        let new = Expr::detach(body.clone());
        v.defs[k].1 = new.clone();
        out.push(Variant {
            kind: Kind::Detach,
            changes: vec![format!(
                "{name} = {} becomes {name} = {}: the same value, but no gradient flows \
                 through {name} (a stop-gradient)",
                print_in(body, &m.axes),
                print_in(&new, &m.axes)
            )],
            model: v,
            subst: BTreeMap::new(),
        });
    }
    let why = if out.is_empty() {
        vec!["no definition is a statistic (a reduction) that later definitions use".to_string()]
    } else {
        Vec::new()
    };
    (out, why)
}

/// Variant 5: every reduction over the same axes `R` changes to `R` with
/// its first axis (in the model's order) swapped for the first axis of the
/// output outside `R`.
fn other_axes(m: &Model) -> (Vec<Variant>, Vec<String>) {
    let sets: BTreeSet<Vec<String>> = reductions(m).into_iter().collect();
    let r = match sets.len() {
        0 => {
            return (
                Vec::new(),
                vec!["the forward pass has no statistic (no reduction)".to_string()],
            )
        }
        1 => sets.into_iter().next().unwrap_or_default(),
        _ => {
            let list: Vec<String> = sets.iter().map(|s| format!("[{}]", s.join(","))).collect();
            return (
                Vec::new(),
                vec![format!(
                    "the statistics reduce over different axes ({}): no one change applies to all",
                    list.join(", ")
                )],
            );
        }
    };
    let out_axes = output_axes(m);
    let Some(to) = out_axes.iter().find(|a| !r.contains(*a)) else {
        return (
            Vec::new(),
            vec![format!(
                "every axis of the output ({}) is already reduced: there is no other axis to \
                 reduce over",
                out_axes.join(", ")
            )],
        );
    };
    let Some(from) = m.axes.iter().find(|a| r.contains(*a)) else {
        return (Vec::new(), vec!["no reduced axis is declared".to_string()]);
    };
    let mut new: Vec<String> = r.iter().filter(|a| *a != from).cloned().collect();
    new.push(to.clone());
    let new_refs = refs(&new);
    fn swap(e: &Expr, r: &[String], new: &[&str]) -> Expr {
        match e {
            Expr::Reduce(op, axes, body) if axes == r => Expr::reduce(*op, new, swap(body, r, new)),
            _ => e.map_children(|c| swap(c, r, new)),
        }
    }
    let mut v = base(m);
    for (_, b) in v.defs.iter_mut() {
        *b = swap(b, &r, &new_refs);
    }
    let in_order = |set: &[String]| -> String {
        let v: Vec<&str> = m
            .axes
            .iter()
            .filter(|a| set.contains(a))
            .map(String::as_str)
            .collect();
        format!("[{}]", v.join(","))
    };
    let variant = Variant {
        kind: Kind::OtherAxes,
        changes: vec![format!(
            "every statistic reduces over {} instead of {} ({from} becomes {to})",
            in_order(&new),
            in_order(&r)
        )],
        model: v,
        subst: BTreeMap::new(),
    };
    (vec![variant], Vec::new())
}

/// A model written as a model file: declarations, assumptions, definitions,
/// outputs and claims, every name without axes (the parser gives them
/// back). Reads back as the same model.
pub fn source(m: &Model, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {title}");
    let _ = writeln!(s, "axis {}", m.axes.join(", "));
    let declared = |sym: &Symbol| -> String {
        let axes = m.declared_axes.get(&sym.name).unwrap_or(&sym.axes);
        if axes.is_empty() {
            sym.name.clone()
        } else {
            format!("{}[{}]", sym.name, axes.join(","))
        }
    };
    for (kw, syms) in [("input", &m.inputs), ("param", &m.params)] {
        for sym in syms {
            let _ = writeln!(s, "{kw} {}", declared(sym));
        }
    }
    for c in &m.consts {
        let _ = writeln!(s, "const {c}");
    }
    for (n, b) in &m.defs {
        let _ = writeln!(s, "{n} = {}", print_in(b, &m.axes));
    }
    // After the definitions: an assumption may speak of a defined name.
    for a in &m.assumptions {
        let _ = writeln!(s, "assume {}", print_assumption(a, &m.axes));
    }
    for o in &m.outputs {
        let _ = writeln!(s, "output {o}");
    }
    for c in &m.claims {
        let _ = writeln!(s, "claim grad {} = {}", c.wrt, print_in(&c.expr, &m.axes));
    }
    s
}

/// A tempting wrong answer: how it was built and the derivation's verdict
/// on it as a claim of the variant.
#[derive(Clone, Debug)]
pub struct Wrong {
    pub expr: Expr,
    pub how: String,
    pub equality: Equality,
}

/// One question of an exercise: derive ∂ℓ/∂`wrt`.
#[derive(Clone, Debug)]
pub struct Question {
    pub wrt: String,
    /// The simplified gradient `derive` found, in the model's names.
    pub answer: Expr,
    /// The answer as a claim of the variant, checked by `derive`.
    pub equality: Option<Equality>,
    /// Wrong answers refuted, each with its residual.
    pub wrong: Vec<Wrong>,
    /// Candidates that turned out right (proved equal), dropped.
    pub not_wrong: Vec<(String, Expr)>,
}

/// One exercise: a variant and its questions.
#[derive(Clone, Debug)]
pub struct Exercise {
    pub variant: Variant,
    /// The variant as a model file, with the answers and wrong answers as
    /// claims, read back by the parser.
    pub loaded: Loaded,
    pub questions: Vec<Question>,
}

/// Every exercise of a model.
#[derive(Clone, Debug)]
pub struct Exercises {
    pub name: String,
    pub model: Model,
    pub exercises: Vec<Exercise>,
    pub skipped: Vec<Skipped>,
    /// What failed: an answer not proved, a wrong answer neither refuted
    /// nor proved, a residual not proved, a variant that does not read back.
    pub failures: Vec<String>,
}

impl Exercises {
    /// Every answer proved and every wrong answer refuted with its residual.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// `e` in the model's names: the derivation's own names (adjoints, counts)
/// inlined.
fn in_model_names(e: &Expr, r: &Report) -> Expr {
    diff::inline_defs(e, &r.derivation.program())
}

/// Tempting wrong answers for a gradient whose answer is `answer`, in order
/// of preference: the original model's answer unchanged (`original`), the
/// answer with one term dropped, with its first mean taken as a sum (or a
/// sum as a mean), with one factor dropped. Each with how it was built.
/// `axes` orders the reductions' axes in the descriptions.
pub fn wrong_candidates(
    answer: &Expr,
    original: Option<&Expr>,
    axes: &[String],
) -> Vec<(String, Expr)> {
    let mut out: Vec<(String, Expr)> = Vec::new();
    if let Some(o) = original {
        out.push((
            "the original model's answer, applied unchanged".to_string(),
            o.clone(),
        ));
    }
    if let Some((path, e)) = shallowest(answer, &|e| matches!(e, Expr::Add(..) | Expr::Sub(..))) {
        let mut ts = Vec::new();
        terms(e, false, &mut ts);
        // The largest term: the longest path of the chain rule, the one
        // most easily forgotten.
        if let Some(k) = (0..ts.len()).max_by_key(|&k| (ts[k].1.size(), std::cmp::Reverse(k))) {
            let dropped = ts.remove(k).1;
            if let Some(w) = answer.replace_at(&path, sum_of(ts)) {
                out.push((
                    format!(
                        "the answer with the term {} dropped",
                        print_in(&dropped, axes)
                    ),
                    w,
                ));
            }
        }
    }
    if let Some((path, e)) = first(answer, &|e| {
        matches!(e, Expr::Reduce(RedOp::Mean | RedOp::Sum, _, _))
    }) {
        if let Expr::Reduce(op, axes, body) = e {
            let (other, says) = if *op == RedOp::Mean {
                (RedOp::Sum, "a sum instead of a mean")
            } else {
                (RedOp::Mean, "a mean instead of a sum")
            };
            let swapped = Expr::Reduce(other, axes.clone(), body.clone());
            if let Some(w) = answer.replace_at(&path, swapped) {
                out.push((
                    format!("the answer with {says} in {}", print_in(e, axes)),
                    w,
                ));
            }
        }
    }
    if let Some((path, e)) = first(answer, &|e| matches!(e, Expr::Mul(..) | Expr::Div(..))) {
        let c = e.children();
        // Drop the divisor, or the smaller factor of a product.
        let (kept, dropped) = match e {
            Expr::Div(..) => (c[0], c[1]),
            _ if c[1].size() < c[0].size() => (c[0], c[1]),
            _ => (c[1], c[0]),
        };
        if let Some(w) = answer.replace_at(&path, kept.clone()) {
            out.push((
                format!("the answer without the factor {}", print_in(dropped, axes)),
                w,
            ));
        }
    }
    let mut seen: Vec<Expr> = vec![answer.clone()];
    out.retain(|(_, w)| {
        let fresh = !seen.contains(w);
        seen.push(w.clone());
        fresh
    });
    out
}

/// The terms of a chain of `+` and `-`, each with whether it is
/// subtracted.
fn terms(e: &Expr, minus: bool, out: &mut Vec<(bool, Expr)>) {
    match e {
        Expr::Add(a, b) => {
            terms(a, minus, out);
            terms(b, minus, out);
        }
        Expr::Sub(a, b) => {
            terms(a, minus, out);
            terms(b, !minus, out);
        }
        _ => out.push((minus, e.clone())),
    }
}

/// The terms added up again, left to right.
fn sum_of(ts: Vec<(bool, Expr)>) -> Expr {
    let mut acc: Option<Expr> = None;
    for (minus, t) in ts {
        acc = Some(match (acc, minus) {
            (None, false) => t,
            (None, true) => Expr::neg(t),
            (Some(a), false) => Expr::add(a, t),
            (Some(a), true) => Expr::sub(a, t),
        });
    }
    acc.unwrap_or_else(|| Expr::num(0))
}

/// The shallowest subterm (the leftmost of those) that `pred` accepts, with
/// its path.
fn shallowest<'e>(e: &'e Expr, pred: &dyn Fn(&Expr) -> bool) -> Option<(Vec<usize>, &'e Expr)> {
    let mut level: Vec<(Vec<usize>, &Expr)> = vec![(Vec::new(), e)];
    while !level.is_empty() {
        if let Some(hit) = level.iter().find(|(_, s)| pred(s)) {
            return Some(hit.clone());
        }
        level = level
            .into_iter()
            .flat_map(|(p, s)| {
                s.children().into_iter().enumerate().map(move |(k, c)| {
                    let mut q = p.clone();
                    q.push(k);
                    (q, c)
                })
            })
            .collect();
    }
    None
}

/// The first subterm (pre-order) that `pred` accepts, with its path.
fn first<'e>(e: &'e Expr, pred: &dyn Fn(&Expr) -> bool) -> Option<(Vec<usize>, &'e Expr)> {
    if pred(e) {
        return Some((Vec::new(), e));
    }
    e.children().into_iter().enumerate().find_map(|(k, c)| {
        first(c, pred).map(|(mut p, s)| {
            p.insert(0, k);
            (p, s)
        })
    })
}

/// Wrong answers tried per question (the first that read back in the
/// variant; one may turn out right), and shown at most.
const WRONG_TRIED: usize = 3;
const WRONG_SHOWN: usize = 2;

/// A question to ask: the gradient, its answer, the wrong answers to try
/// (each with how it was built).
type Asked = (String, Expr, Vec<(String, Expr)>);

/// A model file read back.
fn reread(name: &str, src: String) -> Result<Loaded, String> {
    let parsed = syntax::parse_model(&src).map_err(|e| e.render(name, &src))?;
    Ok(Loaded {
        name: name.to_string(),
        source: src,
        model: parsed,
    })
}

/// The `claim` line of `e` as ∂ℓ/∂`wrt`.
fn claim_line(wrt: &str, e: &Expr) -> String {
    format!("claim grad {wrt} = {}\n", print(e))
}

/// Whether the claim reads back after the model file `plain` (it may
/// speak of a name the variant lacks).
fn reads_back(plain: &str, wrt: &str, e: &Expr) -> bool {
    syntax::parse_model(&format!("{plain}{}", claim_line(wrt, e))).is_ok()
}

/// The variant with `claims` (gradient, expression) added, read back, and
/// each claim's line (`None` for one that does not read back, left out).
fn with_claims(
    name: &str,
    title: &str,
    m: &Model,
    claims: &[(String, Expr)],
) -> Result<(Loaded, Vec<Option<usize>>), String> {
    let plain = source(m, title);
    let mut src = plain.clone();
    let mut lines = Vec::new();
    for (wrt, e) in claims {
        if reads_back(&plain, wrt, e) {
            src.push_str(&claim_line(wrt, e));
            lines.push(Some(src.lines().count()));
        } else {
            lines.push(None);
        }
    }
    Ok((reread(name, src)?, lines))
}

/// Build every exercise of a model: variants, answers proved, wrong answers
/// refuted. `Err` only when the model itself cannot be derived (bad input).
pub fn build(loaded: &Loaded, opts: &DeriveOptions) -> Result<Exercises, DeriveError> {
    let m = &loaded.model;
    // The original's own answers (claims and checks left out: the answers
    // are the forms derive finds).
    let plain = Loaded {
        model: base(m),
        ..loaded.clone()
    };
    let original = derive::derive(&plain, opts)?;
    let (vars, skipped) = variants(m);
    let mut failures = Vec::new();
    let mut exercises = Vec::new();
    for (k, v) in vars.into_iter().enumerate() {
        let name = format!("{}-exercise-{}", loaded.name, k + 1);
        let title = format!("{}: {}", loaded.name, v.kind.title());
        match exercise(&name, &title, v, &original, opts) {
            Ok((ex, mut f)) => {
                failures.append(&mut f);
                exercises.push(ex);
            }
            Err(e) => failures.push(format!("exercise {} ({title}): {e}", k + 1)),
        }
    }
    Ok(Exercises {
        name: loaded.name.clone(),
        model: m.clone(),
        exercises,
        skipped,
        failures,
    })
}

/// One exercise: the variant derived (its answers), then derived again with
/// the answers and the wrong answers as claims. Returns the failures.
fn exercise(
    name: &str,
    title: &str,
    v: Variant,
    original: &Report,
    opts: &DeriveOptions,
) -> Result<(Exercise, Vec<String>), String> {
    let plain = source(&v.model, title);
    let first = reread(name, plain.clone())?;
    let r1 = derive::derive(&first, opts).map_err(|e| e.to_string())?;
    // (gradient, answer, the wrong answers to try with how they were built)
    let mut asked: Vec<Asked> = Vec::new();
    let mut claims: Vec<(String, Expr)> = Vec::new();
    for g in &r1.gradients {
        let answer = in_model_names(&g.simplified, &r1);
        let orig = original
            .gradients
            .iter()
            .find(|o| o.name == g.name)
            .map(|o| {
                fold_zero(&diff::subst(
                    &in_model_names(&o.simplified, original),
                    &v.subst,
                ))
            });
        let wrongs: Vec<(String, Expr)> = wrong_candidates(&answer, orig.as_ref(), &v.model.axes)
            .into_iter()
            .filter(|(_, e)| reads_back(&plain, &g.name, e))
            .take(WRONG_TRIED)
            .collect();
        claims.push((g.name.clone(), answer.clone()));
        claims.extend(wrongs.iter().map(|(_, e)| (g.name.clone(), e.clone())));
        asked.push((g.name.clone(), answer, wrongs));
    }
    let (loaded, lines) = with_claims(name, title, &v.model, &claims)?;
    let r2 = derive::derive(&loaded, opts).map_err(|e| e.to_string())?;
    let by_line = |l: Option<usize>| -> Option<Equality> {
        let l = l?;
        r2.equalities.iter().find(|e| e.line == Some(l)).cloned()
    };
    let mut failures = Vec::new();
    let mut questions = Vec::new();
    let mut at = 0;
    for (wrt, answer, wrongs) in asked {
        let equality = by_line(lines[at]);
        at += 1;
        match &equality {
            Some(eq) if matches!(eq.verdict, Verdict::Proved(_)) => {}
            Some(eq) => failures.push(format!(
                "{title}: the answer ∂ℓ/∂{wrt} = {} was not proved ({})",
                print(&answer),
                verdict_word(&eq.verdict)
            )),
            None => failures.push(format!(
                "{title}: the answer ∂ℓ/∂{wrt} = {} does not read back as a claim",
                print(&answer)
            )),
        }
        let mut q = Question {
            wrt: wrt.clone(),
            answer,
            equality,
            wrong: Vec::new(),
            not_wrong: Vec::new(),
        };
        for (how, e) in wrongs {
            let eq = by_line(lines[at]);
            at += 1;
            let Some(eq) = eq else {
                failures.push(format!(
                    "{title}: the wrong answer ∂ℓ/∂{wrt} = {} was not checked",
                    print(&e)
                ));
                continue;
            };
            match &eq.verdict {
                Verdict::Proved(_) => q.not_wrong.push((how, e)),
                Verdict::Refuted(_) if q.wrong.len() >= WRONG_SHOWN => {}
                Verdict::Refuted(_) => {
                    if eq.diagnosis.as_ref().and_then(|d| d.residual.as_ref()).is_none() {
                        failures.push(format!(
                            "{title}: the wrong answer ∂ℓ/∂{wrt} = {} was refuted, but no \
                             residual was proved",
                            print(&e)
                        ));
                    }
                    q.wrong.push(Wrong {
                        expr: e,
                        how,
                        equality: eq,
                    });
                }
                Verdict::Unknown(why) => failures.push(format!(
                    "{title}: the wrong answer ∂ℓ/∂{wrt} = {} was neither refuted nor proved ({why})",
                    print(&e)
                )),
            }
        }
        questions.push(q);
    }
    Ok((
        Exercise {
            variant: v,
            loaded,
            questions,
        },
        failures,
    ))
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Proved(_) => "proved",
        Verdict::Refuted(_) => "refuted: the derived gradient differs",
        Verdict::Unknown(_) => "unknown",
    }
}

/// The exercises as a document body on `page`: the original forward pass,
/// each exercise (what changes, the variant's forward pass and model file,
/// the question, the tempting wrong answers to diagnose), the
/// transformations skipped with their reasons, then the answers: each
/// proved answer, and whether each wrong answer was refuted. With
/// `solutions` the answers section also shows every proof's chains and each
/// wrong answer's counterexample and residual.
pub fn write<W: Write>(page: &mut Page<'_, W>, ex: &Exercises, solutions: bool) -> fmt::Result {
    let n = Notation::for_model(&ex.model);
    page.heading(1, &format!("Exercises: {}", ex.name), None)?;
    page.text(&format!(
        "What-if exercises made from the model {} by changing its structure. Each exercise \
         changes the forward pass and asks for its gradients. Every answer below was proved by \
         bnproof's kernel as a claim of the changed model; every tempting wrong answer was refuted \
         by a double-checked counterexample, and its residual (the wrong answer minus the right \
         one) proved by the kernel.",
        ex.name
    ))?;
    page.heading(2, "The model", None)?;
    if let Some(t) = &ex.model.title {
        page.text(t)?;
    }
    forward(page, &ex.model, &n)?;
    for (k, e) in ex.exercises.iter().enumerate() {
        exercise_body(page, k + 1, e)?;
    }
    if !ex.skipped.is_empty() {
        page.heading(2, "Not applicable to this model", None)?;
        let items: Vec<Vec<Span>> = ex
            .skipped
            .iter()
            .map(|s| {
                vec![
                    Span::Strong(capitalized(s.kind.title())),
                    Span::text(format!(": skipped, {}.", s.reason)),
                ]
            })
            .collect();
        page.list(&items)?;
    }
    page.heading(2, "Answers", None)?;
    if ex.exercises.is_empty() {
        page.text("No transformation applies to this model.")?;
    }
    for (k, e) in ex.exercises.iter().enumerate() {
        answers(page, k + 1, e, solutions)?;
    }
    if !ex.failures.is_empty() {
        page.heading(2, "Not checked", None)?;
        let items: Vec<Vec<Span>> = ex.failures.iter().map(|f| vec![Span::text(f)]).collect();
        page.list(&items)?;
    }
    Ok(())
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A forward pass and its assumptions.
fn forward<W: Write>(page: &mut Page<'_, W>, m: &Model, n: &Notation) -> fmt::Result {
    page.aligned(&forward_rows(m, n))?;
    if !m.assumptions.is_empty() {
        let mut spans = vec![Span::text("Assuming ")];
        spans.extend(render::proof::math_list(
            m.assumptions
                .iter()
                .map(|a| render::proof::assumption(a, n))
                .collect(),
        ));
        spans.push(Span::text("."));
        page.para(&spans)?;
    }
    Ok(())
}

/// ∂ℓ/∂`name` in the model's notation.
fn grad_node(m: &Model, name: &str, n: &Notation) -> render::layout::Node {
    render::layout::Node::grad(n, &render::derivation::model_symbol(m, name))
}

/// `lhs = rhs` as one formula.
fn eq_node(lhs: render::layout::Node, rhs: &Expr, n: &Notation) -> render::layout::Node {
    render::layout::Node::rel(lhs, render::layout::Op::Eq, layout(rhs, n))
}

/// The answer as the variant's claim reads it (with its axes).
fn shown_answer(q: &Question) -> &Expr {
    q.equality.as_ref().map_or(&q.answer, |e| &e.rhs)
}

fn exercise_body<W: Write>(page: &mut Page<'_, W>, k: usize, e: &Exercise) -> fmt::Result {
    let m = &e.loaded.model;
    let n = Notation::for_model(m);
    page.heading(
        2,
        &format!("Exercise {k}: {}", e.variant.kind.title()),
        None,
    )?;
    page.text("What changes:")?;
    let items: Vec<Vec<Span>> = e
        .variant
        .changes
        .iter()
        .map(|c| vec![Span::text(c.clone())])
        .collect();
    page.list(&items)?;
    page.text("The changed forward pass:")?;
    forward(page, m, &n)?;
    page.text("As a model file (bnproof derive reads it):")?;
    page.pre(&source(
        &e.variant.model,
        &format!("{}: {}", e.loaded.name, e.variant.kind.title()),
    ))?;
    let mut spans = vec![Span::Strong("Question.".into()), Span::text(" Derive ")];
    spans.extend(render::proof::math_list(
        e.questions
            .iter()
            .map(|q| grad_node(m, &q.wrt, &n))
            .collect(),
    ));
    spans.push(Span::text(
        " in the names above and the upstream gradient, and simplify.",
    ));
    page.para(&spans)?;
    let tempting: Vec<Vec<Span>> = e
        .questions
        .iter()
        .flat_map(|q| {
            q.wrong.iter().map(|w| {
                vec![Span::Math(eq_node(
                    grad_node(m, &q.wrt, &n),
                    &w.equality.rhs,
                    &n,
                ))]
            })
        })
        .collect();
    if !tempting.is_empty() {
        page.para(&[
            Span::Strong("Find the mistake.".into()),
            Span::text(" Each of these answers is tempting and wrong; say what is wrong with it."),
        ])?;
        page.list(&tempting)?;
    }
    Ok(())
}

fn answers<W: Write>(
    page: &mut Page<'_, W>,
    k: usize,
    e: &Exercise,
    solutions: bool,
) -> fmt::Result {
    let m = &e.loaded.model;
    let n = Notation::for_model(m);
    page.heading(
        3,
        &format!("Exercise {k}: {}", e.variant.kind.title()),
        None,
    )?;
    for q in &e.questions {
        page.display(&eq_node(grad_node(m, &q.wrt, &n), shown_answer(q), &n))?;
        match q.equality.as_ref().map(|eq| &eq.verdict) {
            Some(Verdict::Proved(p)) => {
                let k = p.steps.len();
                page.text(&format!(
                    "Proved by the kernel as a claim of the changed model ({k} step{}).",
                    if k == 1 { "" } else { "s" }
                ))?;
                if solutions {
                    render::proof::chains(page, p, &n, false)?;
                }
            }
            Some(v) => page.text(&format!("NOT PROVED: {}.", verdict_word(v)))?,
            None => page.text("NOT CHECKED: the answer does not read back as a claim.")?,
        }
        for w in &q.wrong {
            let eq = &w.equality;
            let mut spans = vec![
                Span::Strong("Wrong:".into()),
                Span::text(" "),
                Span::Math(eq_node(grad_node(m, &q.wrt, &n), &eq.rhs, &n)),
                Span::text(format!(" ({})", w.how)),
            ];
            match &eq.verdict {
                Verdict::Refuted(c) => {
                    spans.push(Span::text(": refuted by a counterexample"));
                    let residual = eq.diagnosis.as_ref().and_then(|d| d.residual.as_ref());
                    if let (true, Some(r)) = (solutions, residual) {
                        spans.push(Span::text("; it is the right answer plus "));
                        spans.push(Span::Math(layout(r, &n)));
                        spans.push(Span::text(" (kernel-checked)."));
                        page.para(&spans)?;
                        render::proof::counterexample(
                            page,
                            &c.in_order(&m.declared_axes, &m.axes),
                            &n,
                        )?;
                    } else {
                        spans.push(Span::text("."));
                        page.para(&spans)?;
                    }
                }
                v => {
                    spans.push(Span::text(format!(": NOT REFUTED ({}).", verdict_word(v))));
                    page.para(&spans)?;
                }
            }
        }
        for (how, _) in &q.not_wrong {
            page.text(&format!(
                "Note: {how} is still right for this model (proved by the kernel)."
            ))?;
        }
    }
    Ok(())
}

/// The whole document in `markup`: Markdown as it is, LaTeX as a standalone
/// document (the handout's preamble).
pub fn document(ex: &Exercises, markup: Markup, solutions: bool) -> Result<String, fmt::Error> {
    let mut out = String::new();
    if markup == Markup::Latex {
        crate::handout::preamble(&mut out, &format!("bnproof exercises: {}", ex.name))?;
    }
    write(&mut Page::new(&mut out, markup), ex, solutions)?;
    if markup == Markup::Latex {
        out.push_str(crate::handout::END);
    }
    Ok(out)
}

/// The file `DIR/<model>-exercises.md` (or `.tex`); the model's name is
/// kept to letters, digits, `-` and `_`.
pub fn file_name(name: &str, markup: Markup) -> String {
    let stem = crate::handout::stem(name);
    let ext = if markup == Markup::Latex { "tex" } else { "md" };
    format!("{stem}-exercises.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_expr;

    fn model(name: &str) -> Model {
        crate::models::load(name).unwrap().model
    }

    fn body<'m>(m: &'m Model, name: &str) -> &'m Expr {
        def_body(m, name).unwrap()
    }

    #[test]
    fn the_variance_becomes_the_unbiased_one() {
        let m = model("batchnorm");
        let (vs, why) = unbiased(&m);
        assert!(why.is_empty());
        let [v] = vs.as_slice() else { panic!("{vs:?}") };
        let var = m
            .defs
            .iter()
            .position(|(_, b)| centred_square(&m, b).is_some())
            .unwrap();
        assert_eq!(
            print(&v.model.defs[var].1),
            "sum[n]((x - mu)^2) / (sum[n](1) - 1)"
        );
        assert!(v
            .model
            .assumptions
            .iter()
            .any(|a| print(&a.expr) == "sum[n](1) - 1"));
        // Not a variance: a mean of squares that are not centred (rmsnorm).
        assert!(unbiased(&model("rmsnorm")).0.is_empty());
    }

    #[test]
    fn var_reductions_are_variances_too() {
        let m = crate::syntax::parse_model(
            "axis i\ninput x[i]\nv = var[i](x)\ny = x / sqrt(v + 1)\noutput y\n",
        )
        .unwrap();
        let (vs, _) = unbiased(&m);
        assert_eq!(
            print(&vs[0].model.defs[0].1),
            "sum[i]((x - mean[i](x))^2) / (sum[i](1) - 1)"
        );
    }

    #[test]
    fn a_constant_set_to_zero_assumes_what_it_guaranteed() {
        let m = model("batchnorm");
        let (vs, _) = constant_zero(&m);
        let v = &vs[0];
        assert!(v.model.consts.is_empty());
        assert_eq!(print(body(&v.model, "xhat")), "(x - mu) / sqrt(var)");
        let assumed: Vec<String> = v
            .model
            .assumptions
            .iter()
            .map(|a| print_assumption(a, &[]))
            .collect();
        assert_eq!(assumed, ["var > 0"], "one assumption, on the radicand only");
        // rmsnorm: the radicand is a reduction, assumed positive as written.
        let (vs, _) = constant_zero(&model("rmsnorm"));
        let assumed: Vec<String> = vs[0]
            .model
            .assumptions
            .iter()
            .map(|a| print_assumption(a, &[]))
            .collect();
        assert_eq!(assumed, ["mean[d](x^2) > 0"]);
        // A constant the forward pass divides by alone cannot be 0.
        let m =
            crate::syntax::parse_model("axis i\ninput x[i]\nconst c > 0\ny = x / c\noutput y\n")
                .unwrap();
        let (vs, why) = constant_zero(&m);
        assert!(vs.is_empty());
        assert!(why[0].contains("divides by c = 0"), "{why:?}");
    }

    #[test]
    fn a_parameter_gets_an_axis_no_statistic_reduces() {
        let m = model("layernorm");
        let (vs, why) = per_feature(&m);
        assert!(why.is_empty());
        assert_eq!(vs.len(), 2, "gamma and beta");
        let (all, _) = variants(&m);
        let read = all.iter().find(|v| v.kind == Kind::PerFeature).unwrap();
        assert_eq!(read.model.params[0].axes, ["d", "n"]);
        assert_eq!(vs[0].model.declared_axes["gamma"], ["d", "n"]);
        assert_eq!(vs[0].model.params[0].axes, ["d", "n"]);
        // batch norm: its only axis is reduced.
        let (vs, why) = per_feature(&model("batchnorm"));
        assert!(vs.is_empty());
        assert!(why[0].contains("every axis of the output (n) is reduced"));
        // batchnorm2d: gamma[c] already has the only free axis.
        assert!(per_feature(&model("batchnorm2d")).0.is_empty());
    }

    #[test]
    fn the_statistics_move_to_other_axes_consistently() {
        let m = model("batchnorm2d");
        let (vs, _) = other_axes(&m);
        let v = &vs[0];
        assert_eq!(print(body(&v.model, "mu")), "mean[c,h,w](x)");
        assert_eq!(
            print_in(body(&m, "var"), &m.axes),
            "mean[n,h,w]((x - mu)^2)",
            "in the declared order"
        );
        assert_eq!(print(body(&v.model, "var")), "mean[c,h,w]((x - mu)^2)");
        let (vs, why) = other_axes(&model("batchnorm"));
        assert!(vs.is_empty() && why[0].contains("already reduced"));
        let (vs, why) = other_axes(&model("batchnorm-eval"));
        assert!(vs.is_empty() && why[0].contains("no statistic"));
    }

    #[test]
    fn detach_wraps_each_statistic_used_later() {
        let (vs, why) = detach_statistic(&model("batchnorm"));
        assert!(why.is_empty());
        let changed: Vec<(&str, String)> = vs
            .iter()
            .map(|v| {
                let (k, (n, b)) = v
                    .model
                    .defs
                    .iter()
                    .enumerate()
                    .find(|(k, (_, b))| *b != model("batchnorm").defs[*k].1)
                    .unwrap();
                assert_eq!(v.model.defs.len(), model("batchnorm").defs.len(), "{k}");
                (n.as_str(), print(b))
            })
            .collect();
        assert_eq!(
            changed,
            vec![
                ("mu", "detach(mean[n](x))".to_string()),
                ("var", "detach(mean[n]((x - mu)^2))".to_string())
            ]
        );
        // A model with no statistic has nothing to detach.
        let (vs, why) = detach_statistic(&model("batchnorm-eval"));
        assert!(vs.is_empty() && why[0].contains("no definition is a statistic"));
    }

    #[test]
    fn every_variant_reads_back_as_itself() {
        for name in crate::models::builtin_names() {
            let (vs, skipped) = variants(&model(name));
            assert!(
                skipped.iter().all(|s| !s.reason.contains("read back")),
                "{skipped:?}"
            );
            for v in vs {
                let src = source(&v.model, "t");
                let back =
                    crate::syntax::parse_model(&src).unwrap_or_else(|e| panic!("{src}\n{e}"));
                assert_eq!(back.defs, v.model.defs, "{src}");
                assert_eq!(back.assumptions.len(), v.model.assumptions.len(), "{src}");
            }
        }
    }

    #[test]
    fn zeros_fold_away() {
        let e = parse_expr("sqrt(v + 0) * (0 * a + b) - 0").unwrap();
        assert_eq!(print(&fold_zero(&e)), "sqrt(v) * b");
    }

    #[test]
    fn wrong_candidates_drop_the_largest_term_and_swap_a_mean() {
        let a = parse_expr("g * (dy - mean[n](dy) - h * mean[n](dy * h))").unwrap();
        let ws = wrong_candidates(&a, None, &[]);
        let printed: Vec<String> = ws.iter().map(|(_, e)| print(e)).collect();
        assert_eq!(
            printed,
            [
                "g * (dy - mean[n](dy))",
                "g * (dy - sum[n](dy) - h * mean[n](dy * h))",
                "dy - mean[n](dy) - h * mean[n](dy * h)",
            ]
        );
        // The original's answer first; the answer itself never.
        let ws = wrong_candidates(&a, Some(&a), &[]);
        assert!(ws.iter().all(|(_, e)| *e != a));
    }
}

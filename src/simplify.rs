//! Simplification in the model's names: candidate forms of a gradient (or
//! of a residual) written with the model's own definitions, found by a
//! change of variables and a normal form. Nothing here is trusted: every
//! candidate is used only once `named::by_names` has proved it equal to
//! what it replaces, and the kernel has checked that proof.
//!
//! The idea is the one a person applies by hand to batch normalization:
//! a forward definition `h = (u − a) / b` (x̂ = (x − μ)/√(σ²+ε)) lets every
//! remaining `u` be written `a + b·h`; the ring normal form with linear
//! reductions then collects the gradient into a few reductions over `h`
//! and the upstream gradient, the reductions the kernel proves zero
//! (Σ x̂ = 0) drop out, and the common factor is pulled out front. Which
//! definitions qualify follows from their shape, never from their names.

use crate::diff;
use crate::ir::{Assumption, Expr, Rat, RedOp, Symbol};
use crate::ring::{self, Atom, Poly};
use crate::sign;
use num_traits::{One, Signed};
use std::collections::BTreeMap;

/// Largest expression (nodes) the derivation's names may inline to before
/// simplification is skipped: the normal form's work (and the proof's)
/// grows much faster than it, and a stack of layers inlines to a tree
/// exponentially larger than its program. A one-layer normalization's
/// ∂ℓ/∂x inlines to 75 nodes; two stacked batch norms' to 371.
const MAX_INLINED: usize = 300;

/// Candidate forms of `e` (an expression over the model's and the
/// derivation's names) in the model's names, simplest first by printed
/// length. `model_defs` are the model's definitions, `program` the
/// derivation's (helpers and adjoints), both in evaluation order.
pub fn in_names(
    e: &Expr,
    model_defs: &[(Symbol, Expr)],
    program: &[(Symbol, Expr)],
    assumptions: &[Assumption],
    axis_order: &[String],
) -> Vec<Expr> {
    if too_large(e, program) {
        return Vec::new();
    }
    let inlined = diff::inline_defs(e, program);
    let facts = sign::Facts::new(assumptions);
    // As the kernel decides signs: through the names, then inlined.
    let body = |n: &str| model_defs.iter().find(|(h, _)| h.name == n).map(|(_, b)| b);
    let proves = |x: &Expr, want: fn(&sign::Sign) -> bool| {
        want(&sign::sign_through(x, &facts, &body))
            || (inlined_size(x, model_defs) <= crate::kernel::MAX_SIGN_INLINE
                && want(&sign::sign(&diff::inline_defs(x, model_defs), &facts)))
    };
    let checks = ring::FieldChecks::new(|x| proves(x, |s| s.nonzero), |x| proves(x, |s| s.nonneg));
    // Each start: the expression after a change of variables, and the
    // centred difference its fresh variable stands for, if any. A change
    // that changes nothing would only repeat the plain start's work.
    let mut starts: Vec<(Expr, Vec<(Expr, Expr)>)> = vec![(inlined.clone(), Vec::new())];
    for (h, body) in model_defs {
        if let Some((u, value)) = affine_inverse(h, body, &*checks.nonzero) {
            let mut map = BTreeMap::new();
            map.insert(u, value);
            let s = diff::subst(&inlined, &map);
            if !starts.iter().any(|(t, _)| *t == s) {
                starts.push((s, Vec::new()));
            }
        }
    }
    // Each centring alone, then all of them at once (one per variable).
    let centred = centrings(&inlined, model_defs);
    let mut groups: Vec<Vec<(Expr, Expr)>> = centred.iter().map(|c| vec![c.clone()]).collect();
    let mut all_at_once: Vec<(Expr, Expr)> = Vec::new();
    for (t, d) in &centred {
        // One centring per variable: `x` cannot be both `t + μ` and `t + ν`.
        if !all_at_once.iter().any(|(s, _)| s == t) {
            all_at_once.push((t.clone(), d.clone()));
        }
    }
    if all_at_once.len() > 1 {
        groups.push(all_at_once);
    }
    for group in groups {
        let mut map = BTreeMap::new();
        for (t, d) in &group {
            if let (Expr::Sym(u), Expr::Sub(_, a)) = (t, d) {
                map.insert(centred_variable(u), Expr::add(t.clone(), (**a).clone()));
            }
        }
        starts.push((diff::subst(&inlined, &map), group));
    }
    // The model's way of writing a subterm first, then the statement's own.
    let mut written = written_forms(model_defs);
    collect_compound(e, &mut written);
    let folds = atom_folds(model_defs, &checks);
    let all: Vec<(Symbol, Expr)> = model_defs.iter().chain(program).cloned().collect();
    let mut out: Vec<Expr> = Vec::new();
    for (s, centred) in starts {
        let Some(mut p) = normal(&s, &checks) else {
            continue;
        };
        // The fresh variable of a centring goes back to what it stands for.
        let back = |e: &Expr| {
            centred
                .iter()
                .fold(e.clone(), |acc, (t, diff)| replace(&acc, t, diff))
        };
        // Reductions the kernel proves zero (Σ x̂ = 0) drop out.
        let form = ring::to_expr(&p);
        let zeros: Vec<Expr> = crate::named::vanishing(&[&back(&form)], &all, assumptions)
            .into_iter()
            .map(|(r, _)| {
                centred
                    .iter()
                    .fold(r, |acc, (t, diff)| replace(&acc, diff, t))
            })
            .collect();
        if !zeros.is_empty() {
            let pruned = zeros
                .iter()
                .fold(form, |acc, z| replace(&acc, z, &Expr::num(0)));
            match normal(&pruned, &checks) {
                Some(q) => p = q,
                None => continue,
            }
        }
        let Some(p) = folded(&p, &folds) else {
            continue;
        };
        let mut forms = vec![ordered(&p)];
        forms.extend(factored(&p));
        for f in forms {
            let f = counted_sums(&back(&f));
            let f = rewritten(&merge_means(&f, axis_order), &written);
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out.sort_by_key(|f| crate::syntax::print(f).chars().count());
    out
}

/// The field normal form of `e` (linear reductions, cancellations the
/// assumptions allow).
fn normal(e: &Expr, checks: &ring::FieldChecks<'_>) -> Option<Poly> {
    checks.reset_seen();
    ring::normalize_with(e, &checks.mode()).ok()
}

/// For each model definition whose body's normal form is one atom
/// (`r = 1/sqrt(mean[d](x^2) + eps)`): that atom and the name, so that a
/// normal form can say `r^3` where it would say `1/sqrt(…)^3`.
fn atom_folds(model_defs: &[(Symbol, Expr)], checks: &ring::FieldChecks<'_>) -> Vec<(Atom, Poly)> {
    let mut out = Vec::new();
    for (h, body) in model_defs {
        let Some(p) = normal(body, checks) else {
            continue;
        };
        let Some(atom) = p.as_atom().cloned() else {
            continue;
        };
        // A bare name or a reduction reads as well as the name does.
        if !matches!(
            atom,
            Atom::Sqrt(_) | Atom::Root(..) | Atom::Pow(..) | Atom::Inv(_)
        ) {
            continue;
        }
        let name = Poly::atom(Atom::Sym(h.clone()));
        // The square may normalize to another atom (`1/sqrt(s)` squared is
        // `1/s`): that one is the name squared.
        let square = Expr::pow(atom.to_expr(), Expr::num(2));
        if let (Some(sq), Ok(name2)) = (normal(&square, checks), name.pow(2)) {
            if let Some(a2) = sq.as_atom() {
                out.push((a2.clone(), name2));
            }
        }
        out.push((atom, name));
    }
    out
}

/// `p` with every atom of `folds` replaced by its name (or power).
fn folded(p: &Poly, folds: &[(Atom, Poly)]) -> Option<Poly> {
    if folds.is_empty() {
        return Some(p.clone());
    }
    let mut out = Poly::zero();
    for (m, c) in p.terms() {
        let mut term = Poly::constant_poly(c.clone());
        for (a, k) in m.factors() {
            let factor = match folds.iter().find(|(f, _)| f == a) {
                Some((_, name)) => name.clone(),
                None => Poly::atom(a.clone()),
            };
            term = term.times(&factor.pow(k).ok()?).ok()?;
        }
        out = out.plus(&term).ok()?;
    }
    Some(out)
}

/// `p` as a sum with its positive terms first (`dy − mean(dy) − …`).
fn ordered(p: &Poly) -> Expr {
    let terms = p.display_terms();
    let (pos, neg): (Vec<_>, Vec<_>) = terms.into_iter().partition(|(_, c)| !c.is_negative());
    let term = |m: &ring::Monomial, c: &Rat| ring::to_expr(&Poly::monomial(c.clone(), m.clone()));
    let mut out: Option<Expr> = None;
    for (m, c) in pos {
        let t = term(m, c);
        out = Some(match out {
            None => t,
            Some(o) => Expr::add(o, t),
        });
    }
    for (m, c) in neg {
        let t = term(m, &-c.clone());
        out = Some(match out {
            None => Expr::neg(t),
            Some(o) => Expr::sub(o, t),
        });
    }
    out.unwrap_or_else(|| Expr::num(0))
}

/// `p` as its common factor times the rest (`γ/√(σ²+ε) · (…)`), once with
/// each sign of the factor (the cost decides which reads better); empty
/// when there is no common factor or only one term.
fn factored(p: &Poly) -> Vec<Expr> {
    if p.len() < 2 {
        return Vec::new();
    }
    let Some((c, g, q)) = p.split_content() else {
        return Vec::new();
    };
    let front = Poly::monomial(c, g);
    if front.constant().is_some_and(|k| k.is_one()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (f, q) in [(front.clone(), q.clone()), (front.negate(), q.negate())] {
        let q = match rank_one(&q) {
            // `(1 − γ) · (dy − …)` rather than six terms.
            Some((b, rest)) => Expr::mul(ordered(&b), ordered(&rest)),
            None => ordered(&q),
        };
        let f = ring::to_expr(&f);
        out.push(Expr::mul(f.clone(), q.clone()));
        // `a / b · q` also as `a · q / b`, and `1 / b · q` as `q / b`.
        if let Expr::Div(a, b) = &f {
            let top = match &**a {
                Expr::Num(k) if k.is_one() => q,
                a => Expr::mul(a.clone(), q),
            };
            out.push(Expr::div(top, (**b).clone()));
        }
    }
    out
}

/// `q = u · v` with `u` over a set of atoms `U` and `v` over the others,
/// each of at least two terms: `(1 − γ) · (dy − …)`,
/// `(1/(ε + √σ²) − 1/√(σ²+ε)) · (dy − …)`. `U` is tried as each single
/// atom, then as every atom that is neither per-element nor a reduction
/// (the scalars and their functions).
fn rank_one(q: &Poly) -> Option<(Poly, Poly)> {
    let atoms: std::collections::BTreeSet<&Atom> = q
        .terms()
        .flat_map(|(m, _)| m.factors().map(|(a, _)| a))
        .collect();
    let scalars: Vec<&Atom> = atoms
        .iter()
        .copied()
        .filter(|a| a.free_axes().is_empty() && !matches!(a, Atom::Reduce(..)))
        .collect();
    let mut tries: Vec<Vec<&Atom>> = atoms.iter().map(|a| vec![*a]).collect();
    tries.push(scalars);
    tries.into_iter().find_map(|u| split_rank_one(q, &u))
}

/// [`rank_one`] for one set of atoms `u`.
fn split_rank_one(q: &Poly, u: &[&Atom]) -> Option<(Poly, Poly)> {
    // Each term as (its U-part, its V-part, coefficient).
    let mut rows: Vec<(Poly, Vec<(Poly, Rat)>)> = Vec::new();
    for (m, c) in q.terms() {
        let (mut up, mut vp) = (
            Poly::constant_poly(Rat::one()),
            Poly::constant_poly(Rat::one()),
        );
        for (a, k) in m.factors() {
            let f = Poly::atom(a.clone()).pow(k).ok()?;
            if u.contains(&a) {
                up = up.times(&f).ok()?;
            } else {
                vp = vp.times(&f).ok()?;
            }
        }
        match rows.iter_mut().find(|(r, _)| *r == up) {
            Some((_, cols)) => cols.push((vp, c.clone())),
            None => rows.push((up, vec![(vp, c.clone())])),
        }
    }
    if rows.len() < 2 {
        return None;
    }
    let column = |cols: &[(Poly, Rat)]| -> Option<Poly> {
        cols.iter()
            .try_fold(Poly::zero(), |acc, (v, c)| acc.plus(&v.scale(c).ok()?).ok())
    };
    let first = column(&rows[0].1)?;
    if first.len() < 2 {
        return None;
    }
    let (m0, c0) = first.terms().next()?;
    let mut left = Poly::zero();
    for (up, cols) in &rows {
        let col = column(cols)?;
        let c = col.terms().find(|(m, _)| *m == m0)?.1 / c0;
        if col != first.scale(&c).ok()? {
            return None;
        }
        left = left.plus(&up.scale(&c).ok()?).ok()?;
    }
    Some((left, first))
}

/// Nested means (or sums) merged into one over all their axes, in the
/// model's axis order, with factors that do not vary along the inner axes
/// moved inside: `mean[k](γ · mean[h](mean[w](e)))` is `mean[k,h,w](γ · e)`.
fn merge_means(e: &Expr, order: &[String]) -> Expr {
    match e {
        Expr::Reduce(op @ (RedOp::Mean | RedOp::Sum), axes, body) => {
            let body = merge_means(body, order);
            let (inner_axes, inner, front) = match &body {
                Expr::Reduce(op2, a2, inner) if op2 == op => (a2.clone(), (**inner).clone(), None),
                Expr::Mul(f, r) => match &**r {
                    Expr::Reduce(op2, a2, inner)
                        if op2 == op && f.free_axes().iter().all(|x| !a2.contains(x)) =>
                    {
                        (a2.clone(), (**inner).clone(), Some((**f).clone()))
                    }
                    _ => return Expr::Reduce(*op, sorted(axes, order), Box::new(body)),
                },
                _ => return Expr::Reduce(*op, sorted(axes, order), Box::new(body)),
            };
            if inner_axes.iter().any(|a| axes.contains(a)) {
                return Expr::Reduce(*op, sorted(axes, order), Box::new(body));
            }
            let mut all = axes.clone();
            all.extend(inner_axes);
            let inner = match front {
                Some(f) => Expr::mul(f, inner),
                None => inner,
            };
            merge_means(&Expr::Reduce(*op, all, Box::new(inner)), order)
        }
        _ => e.map_children(|c| merge_means(c, order)),
    }
}

/// `axes` in the model's declaration order (unknown ones last, as given).
fn sorted(axes: &[String], order: &[String]) -> Vec<String> {
    let mut v = axes.to_vec();
    v.sort_by_key(|a| order.iter().position(|o| o == a).unwrap_or(usize::MAX));
    v
}

/// For a definition `h = body` where `body` is built from one occurrence
/// of a name `u` with exactly `h`'s axes by adding, subtracting,
/// multiplying or dividing by terms that do not mention `u`
/// (`x̂ = (x − μ)/√(σ²+ε)`, `h = γ·(x − μ)/s + β`): `u` and what it equals
/// in terms of `h`, by undoing those operations (`x = μ + √(σ²+ε)·x̂`).
/// Only factors `nonzero` proves non-zero are divided by: a form with
/// `1/γ` in it, where γ may be 0, is no simplification for a reader.
fn affine_inverse(
    h: &Symbol,
    body: &Expr,
    nonzero: &dyn Fn(&Expr) -> bool,
) -> Option<(String, Expr)> {
    let mut syms = std::collections::BTreeSet::new();
    body.symbols(&mut syms);
    syms.into_iter()
        .filter(|u| u.axes == h.axes && u.name != h.name && count(&u.name, body) == 1)
        .find_map(|u| {
            let value = invert(body, &u.name, Expr::Sym(h.clone()), nonzero)?;
            (count(&h.name, &value) == 1).then_some((u.name, value))
        })
}

/// Centrings `u = t + a` for each difference `u − a` a model definition
/// writes (`x − μ`), where `a` is a model definition with fewer axes than
/// `u` (a statistic) and `u` occurs in `e`: a fresh variable `t` and the
/// difference it stands for. Written in `t`, a gradient collects into
/// reductions of the centred difference that the kernel proves zero or
/// that the variance names, as x̂ does where the model names it.
fn centrings(e: &Expr, model_defs: &[(Symbol, Expr)]) -> Vec<(Expr, Expr)> {
    let mut diffs: Vec<Expr> = Vec::new();
    for (_, body) in model_defs {
        collect_diffs(body, model_defs, &mut diffs);
    }
    diffs
        .into_iter()
        .filter_map(|d| {
            let Expr::Sub(u, _) = &d else { return None };
            let Expr::Sym(u) = &**u else { return None };
            if count(&u.name, e) == 0 {
                return None;
            }
            // A name no model can use; it never reaches the output.
            let name = format!("{}{CENTRED}", u.name);
            Some((Expr::Sym(Symbol::new(name, &u.axes)), d))
        })
        .collect()
}

/// Marks a centring's fresh variable: `x#c` stands for `x − μ`. The `#`
/// cannot occur in a name the parser accepts, so the fresh name is free.
const CENTRED: &str = "#c";

/// The variable a centring's fresh variable `t` replaces.
fn centred_variable(t: &Symbol) -> String {
    t.name
        .rsplit_once(CENTRED)
        .map_or_else(|| t.name.clone(), |(u, _)| u.to_string())
}

fn collect_diffs(e: &Expr, model_defs: &[(Symbol, Expr)], out: &mut Vec<Expr>) {
    if let Expr::Sub(u, a) = e {
        if let (Expr::Sym(u), Expr::Sym(a)) = (&**u, &**a) {
            let statistic = model_defs.iter().any(|(h, _)| h == a)
                && a.axes.len() < u.axes.len()
                && a.axes.iter().all(|x| u.axes.contains(x));
            if statistic && !out.contains(e) {
                out.push(e.clone());
            }
        }
    }
    for c in e.children() {
        collect_diffs(c, model_defs, out);
    }
}

/// `e` with each product of a count `sum[A](1)` and a mean over the same
/// axes written as the sum it is (`mean[n](b) * sum[n](1)` is `sum[n](b)`).
fn counted_sums(e: &Expr) -> Expr {
    let e = e.map_children(counted_sums);
    let Expr::Mul(..) = &e else { return e };
    let mut factors = Vec::new();
    flatten_product(&e, &mut factors);
    let count_at = factors
        .iter()
        .position(|f| matches!(f, Expr::Reduce(RedOp::Sum, _, b) if **b == Expr::num(1)));
    let Some(i) = count_at else { return e };
    let Expr::Reduce(_, axes, _) = &factors[i] else {
        return e;
    };
    let mean_at = factors
        .iter()
        .position(|f| matches!(f, Expr::Reduce(RedOp::Mean, a, _) if a == axes));
    let Some(j) = mean_at else { return e };
    let Expr::Reduce(_, _, body) = &factors[j] else {
        return e;
    };
    let sum = Expr::Reduce(RedOp::Sum, axes.clone(), body.clone());
    let rest: Vec<Expr> = factors
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != i && *k != j)
        .map(|(_, f)| f.clone())
        .collect();
    rest.into_iter().fold(sum, Expr::mul)
}

fn flatten_product(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Mul(a, b) => {
            flatten_product(a, out);
            flatten_product(b, out);
        }
        _ => out.push(e.clone()),
    }
}

/// Occurrences of the name `u` in `e`.
fn count(u: &str, e: &Expr) -> usize {
    match e {
        Expr::Sym(s) => usize::from(s.name == u),
        _ => e.children().iter().map(|c| count(u, c)).sum(),
    }
}

/// Solve `e = value` for the one occurrence of `u` in `e`, dividing only
/// by factors `nonzero` accepts.
fn invert(e: &Expr, u: &str, value: Expr, nonzero: &dyn Fn(&Expr) -> bool) -> Option<Expr> {
    let has = |x: &Expr| count(u, x) > 0;
    let go = |x: &Expr, v: Expr| invert(x, u, v, nonzero);
    match e {
        Expr::Sym(s) if s.name == u => Some(value),
        Expr::Neg(a) => go(a, Expr::neg(value)),
        Expr::Add(a, b) if has(a) => go(a, Expr::sub(value, (**b).clone())),
        Expr::Add(a, b) => go(b, Expr::sub(value, (**a).clone())),
        Expr::Sub(a, b) if has(a) => go(a, Expr::add((**b).clone(), value)),
        Expr::Sub(a, b) => go(b, Expr::sub((**a).clone(), value)),
        Expr::Mul(a, b) if has(a) && nonzero(b) => go(a, Expr::div(value, (**b).clone())),
        Expr::Mul(a, b) if !has(a) && nonzero(a) => go(b, Expr::div(value, (**a).clone())),
        Expr::Div(a, b) if has(a) => go(a, Expr::mul((**b).clone(), value)),
        _ => None,
    }
}

/// The canonical form of every compound subterm of the model's definitions
/// (`sqrt(eps + var)`), mapped to the way the model writes it
/// (`sqrt(var + eps)`), so that a normal form reads in the model's words.
fn written_forms(model_defs: &[(Symbol, Expr)]) -> Vec<(Expr, Expr)> {
    let mut out: Vec<(Expr, Expr)> = Vec::new();
    for (_, body) in model_defs {
        collect_compound(body, &mut out);
    }
    out
}

fn collect_compound(e: &Expr, out: &mut Vec<(Expr, Expr)>) {
    if matches!(
        e,
        Expr::Sqrt(_) | Expr::Pow(..) | Expr::Add(..) | Expr::Sub(..)
    ) {
        if let Ok(c) = ring::canonical(e) {
            if c != *e && !out.iter().any(|(k, _)| *k == c) {
                out.push((c, e.clone()));
            }
        }
    }
    for c in e.children() {
        collect_compound(c, out);
    }
}

/// `e` with every canonical subterm in `forms` written the model's way.
fn rewritten(e: &Expr, forms: &[(Expr, Expr)]) -> Expr {
    forms.iter().fold(e.clone(), |acc, (canon, written)| {
        replace(&acc, canon, written)
    })
}

/// `e` with every occurrence of the subterm `from` replaced by `to`.
fn replace(e: &Expr, from: &Expr, to: &Expr) -> Expr {
    if e == from {
        return to.clone();
    }
    e.map_children(|c| replace(c, from, to))
}

/// The size `e` would inline to over `defs`, without building it
/// (saturating).
/// Whether `e` inlines (through `program`) to more than `MAX_INLINED`
/// nodes, so that [`in_names`] would skip it.
pub fn too_large(e: &Expr, program: &[(Symbol, Expr)]) -> bool {
    inlined_size(e, program) > MAX_INLINED
}

fn inlined_size(e: &Expr, defs: &[(Symbol, Expr)]) -> usize {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, body) in defs {
        let n = size_with(body, &sizes);
        sizes.insert(&s.name, n);
    }
    size_with(e, &sizes)
}

fn size_with(e: &Expr, sizes: &BTreeMap<&str, usize>) -> usize {
    match e {
        Expr::Sym(s) => sizes.get(s.name.as_str()).copied().unwrap_or(1),
        _ => e
            .children()
            .iter()
            .fold(1usize, |acc, c| acc.saturating_add(size_with(c, sizes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_expr;

    fn def(name: &str, axes: &[&str], body: &str) -> (Symbol, Expr) {
        (
            Symbol::new(name, axes.iter().copied()),
            parse_expr(body).unwrap(),
        )
    }

    #[test]
    fn affine_definitions_are_inverted_whatever_their_names() {
        let (h, body) = def("zn", &["b"], "(z[b] - c) / sqrt(s + t)");
        let (u, value) = affine_inverse(&h, &body, &|_| true).unwrap();
        assert_eq!(u, "z");
        assert_eq!(value, parse_expr("c + sqrt(s + t) * zn[b]").unwrap());
        let (h, body) = def("h", &["n"], "g * (x[n] - m) / r + b");
        let (_, value) = affine_inverse(&h, &body, &|_| true).unwrap();
        assert_eq!(value, parse_expr("m + r * (h[n] - b) / g").unwrap());
        // Not where the scale `g` may be zero.
        let g = parse_expr("g").unwrap();
        assert!(affine_inverse(&h, &body, &|e| *e != g).is_none());
    }

    #[test]
    fn a_name_used_twice_or_under_a_root_is_not_inverted() {
        let (h, body) = def("h", &["n"], "x[n] * x[n]");
        assert!(affine_inverse(&h, &body, &|_| true).is_none());
        let (h, body) = def("h", &["n"], "sqrt(x[n]) + 1");
        assert!(affine_inverse(&h, &body, &|_| true).is_none());
        // A name with other axes than the definition's is not a change of
        // variables (it would not be pointwise).
        let (h, body) = def("h", &["n", "d"], "(x[n] - m[n]) / s");
        assert!(affine_inverse(&h, &body, &|_| true).is_none());
    }
}

//! Lemmas for proofs over names: the library's proved theorems as kernel
//! [`Lemma`]s (each with the proof `prove` finds for it), and matching a
//! lemma's left side against a term to cite it under a substitution.
//! Nothing here is trusted: the kernel re-checks every lemma's proof and
//! every instance ([`kernel::instantiate`]).

use crate::ir::Expr;
use crate::kernel::{self, Direction, Lemma, Step};
use crate::library::{self, Expect};
use crate::prove::{self, Outcome};
use crate::rules::{Binding, Subst};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The library theorem `name` as a lemma, with the proof `prove` finds
/// (none when it is not a proved theorem or its proof needs more than a
/// plain chain).
pub fn from_library(name: &str) -> Option<Lemma> {
    let t = library::get(name).filter(|t| t.expect == Expect::Proved)?;
    let (statement, assumptions) = library::parse(t).ok()?;
    let (Outcome::Proved(proof), _) =
        prove::prove(&statement, &assumptions, &prove::Options::default())
    else {
        return None;
    };
    let plain = proof.definitions.is_empty() && proof.haves.is_empty() && proof.lemmas.is_empty();
    plain.then(|| Lemma {
        name: t.name.to_string(),
        statement,
        assumptions,
        steps: proof.steps,
    })
}

/// The library's lemmas that say a reduction is zero, with no assumptions
/// (`centred-sum-zero`, `centred-mean-zero`), proved once per process.
pub fn vanishing() -> &'static [Lemma] {
    static LEMMAS: OnceLock<Vec<Lemma>> = OnceLock::new();
    LEMMAS.get_or_init(|| {
        library::THEOREMS
            .iter()
            .filter(|t| t.expect == Expect::Proved && t.assume.is_empty())
            .filter_map(|t| {
                let (s, _) = library::parse(t).ok()?;
                (s.rhs == Expr::num(0) && matches!(s.lhs, Expr::Reduce(..)))
                    .then(|| from_library(t.name))
                    .flatten()
            })
            .collect()
    })
}

/// A substitution under which `lemma`'s left side is `target`, if the
/// kernel accepts it as an instance.
pub fn instance(lemma: &Lemma, target: &Expr) -> Option<Subst> {
    let mut axes = BTreeMap::new();
    let mut exprs = BTreeMap::new();
    if !matches(&lemma.statement.lhs, target, &mut axes, &mut exprs) {
        return None;
    }
    let subst: Subst = axes
        .into_iter()
        .map(|(a, b)| (a, Binding::Axes(b)))
        .chain(exprs.into_iter().map(|(s, e)| (s, Binding::Expr(e))))
        .collect();
    let (inst, _) = kernel::instantiate(lemma, &subst).ok()?;
    (inst.lhs == *target).then_some(subst)
}

/// Structural match of a lemma's expression against a term: the lemma's
/// symbols bind subterms, its axes bind axes (the same each time).
fn matches(
    pattern: &Expr,
    term: &Expr,
    axes: &mut BTreeMap<String, Vec<String>>,
    exprs: &mut BTreeMap<String, Expr>,
) -> bool {
    let mut same = |p: &Expr, t: &Expr| matches(p, t, axes, exprs);
    match (pattern, term) {
        (Expr::Sym(s), _) => match exprs.get(&s.name) {
            Some(bound) => bound == term,
            None => {
                exprs.insert(s.name.clone(), term.clone());
                true
            }
        },
        (Expr::Num(a), Expr::Num(b)) => a == b,
        (Expr::Neg(a), Expr::Neg(b)) | (Expr::Sqrt(a), Expr::Sqrt(b)) => same(a, b),
        (Expr::Add(a, b), Expr::Add(c, d))
        | (Expr::Sub(a, b), Expr::Sub(c, d))
        | (Expr::Mul(a, b), Expr::Mul(c, d))
        | (Expr::Div(a, b), Expr::Div(c, d))
        | (Expr::Pow(a, b), Expr::Pow(c, d)) => same(a, c) && same(b, d),
        (Expr::Reduce(op, over, body), Expr::Reduce(op2, over2, body2)) => {
            // A lemma reduction over one axis matches a reduction over any
            // set of axes (their product); over several, the split of the
            // target's axes would be ambiguous.
            let [a] = over.as_slice() else {
                return false;
            };
            if op != op2 {
                return false;
            }
            match axes.get(a) {
                Some(bound) if bound != over2 => return false,
                Some(_) => {}
                None => {
                    axes.insert(a.clone(), over2.clone());
                }
            }
            matches(body, body2, axes, exprs)
        }
        _ => false,
    }
}

/// The step rewriting `target` (at `position` of `whole`) into the right
/// side of the first lemma of `lemmas` it is an instance of, with that
/// lemma.
pub fn cite<'a>(
    whole: &Expr,
    position: &[usize],
    lemmas: &'a [Lemma],
) -> Option<(Step, &'a Lemma)> {
    let target = whole.at(position)?;
    lemmas.iter().find_map(|lemma| {
        let subst = instance(lemma, target)?;
        let (inst, _) = kernel::instantiate(lemma, &subst).ok()?;
        let expr = whole.replace_at(position, inst.rhs)?;
        Some((
            Step {
                expr,
                rule: kernel::lemma_rule(&lemma.name),
                direction: Direction::Forward,
                position: position.to_vec(),
                subst: Some(subst),
            },
            lemma,
        ))
    })
}

//! Proofs over names: a statement that mentions defined names (a model's
//! definitions, a derivation's adjoints, `prove … where` clauses) is proved
//! by unfolding names and one normal-form step, and the certificate
//! carries the definitions it uses. Nothing depends on what a name is
//! called: which names are unfolded follows from where they occur and the
//! order in which they are defined.

use crate::ir::{Assumption, Expr, Statement, Symbol};
use crate::kernel::{self, Direction, Proof, Step};
use std::collections::BTreeSet;

/// Most definition unfoldings one proof over names may make.
const MAX_UNFOLDS: usize = 64;
/// Largest expression (nodes) a proof over names may unfold to.
const MAX_UNFOLDED_SIZE: usize = 20_000;

/// A proof of `lhs = rhs` in the model's names: unfold the latest-defined
/// name occurring on either side (the derivation's names first, then the
/// model's, latest first) until one normal-form step closes the gap; the
/// right side's unfoldings become folds at the end. The certificate carries
/// the definitions it uses; nothing depends on what a name is called.
pub fn by_names(
    lhs: &Expr,
    rhs: &Expr,
    all: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<Proof> {
    let definitions = used_definitions(lhs, rhs, all);
    let mut left = vec![Step {
        expr: lhs.clone(),
        rule: String::new(),
        direction: Direction::Forward,
        position: Vec::new(),
        subst: None,
    }];
    let mut right = left.clone();
    right[0].expr = rhs.clone();
    let mut unfolds = 0;
    loop {
        let (l, r) = (&left.last()?.expr, &right.last()?.expr);
        // A name on one side only must go; a name on both sides may stay an
        // atom, so those are tried one at a time, and unfolded (latest
        // first) only when no single one closes the gap. No closing step is
        // tried while a one-sided name remains (it could only cancel).
        let one_sided = definitions
            .iter()
            .rev()
            .find(|(s, _)| occurs(s, l) != occurs(s, r));
        let close = match one_sided {
            Some(_) => None,
            None => closing_step(l, r, &definitions, assumptions),
        };
        if let Some(close) = close {
            let mut steps: Vec<Step> = left.drain(1..).collect();
            steps.extend(close);
            // Each right-side unfolding, undone in reverse: a fold into the
            // expression before it.
            for k in (1..right.len()).rev() {
                steps.push(Step {
                    expr: right[k - 1].expr.clone(),
                    rule: right[k].rule.clone(),
                    direction: Direction::Backward,
                    position: right[k].position.clone(),
                    subst: None,
                });
            }
            let proof = Proof {
                statement: Statement {
                    lhs: lhs.clone(),
                    rhs: rhs.clone(),
                },
                assumptions: assumptions.to_vec(),
                steps,
                definitions,
            };
            return kernel::check(&proof).is_ok().then_some(proof);
        }
        let (name, body) = match one_sided {
            Some(d) => d,
            None => {
                let both: Vec<&(Symbol, Expr)> = definitions
                    .iter()
                    .rev()
                    .filter(|(s, _)| occurs(s, l))
                    .collect();
                let first = *both.first()?;
                both.into_iter()
                    .find(|(s, b)| {
                        let (Some(l2), Some(r2)) = (unfold_all(s, b, l), unfold_all(s, b, r))
                        else {
                            return false;
                        };
                        closing_step(&l2, &r2, &definitions, assumptions).is_some()
                    })
                    .unwrap_or(first)
            }
        };
        for side in [&mut left, &mut right] {
            loop {
                let cur = &side.last()?.expr;
                let Some(path) = find(name, cur) else { break };
                let next = cur.replace_at(&path, body.clone())?;
                if next.size() > MAX_UNFOLDED_SIZE {
                    return None;
                }
                unfolds += 1;
                if unfolds > MAX_UNFOLDS {
                    return None;
                }
                side.push(Step {
                    expr: next,
                    rule: kernel::def_rule(&name.name),
                    direction: Direction::Forward,
                    position: path,
                    subst: None,
                });
            }
        }
    }
}

/// The one normal-form step from `l` to `r` at the place they differ
/// (none when equal), if the kernel accepts one.
fn closing_step(
    l: &Expr,
    r: &Expr,
    definitions: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<Vec<Step>> {
    if l == r {
        return Some(Vec::new());
    }
    let position = crate::rules::diff_position(l, r).unwrap_or_default();
    for rule in ["ring", "linear", "field"] {
        let step = Step {
            expr: r.clone(),
            rule: rule.into(),
            direction: Direction::Forward,
            position: position.clone(),
            subst: None,
        };
        let proof = Proof {
            statement: Statement {
                lhs: l.clone(),
                rhs: r.clone(),
            },
            assumptions: assumptions.to_vec(),
            steps: vec![step.clone()],
            definitions: definitions.to_vec(),
        };
        if kernel::check(&proof).is_ok() {
            return Some(vec![step]);
        }
    }
    None
}

/// The definitions `lhs` and `rhs` reach, in order.
pub fn used_definitions(lhs: &Expr, rhs: &Expr, all: &[(Symbol, Expr)]) -> Vec<(Symbol, Expr)> {
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut syms = BTreeSet::new();
    lhs.symbols(&mut syms);
    rhs.symbols(&mut syms);
    wanted.extend(syms.into_iter().map(|s| s.name));
    let mut keep = vec![false; all.len()];
    for (k, (s, body)) in all.iter().enumerate().rev() {
        if wanted.contains(&s.name) {
            keep[k] = true;
            let mut inner = BTreeSet::new();
            body.symbols(&mut inner);
            wanted.extend(inner.into_iter().map(|s| s.name));
        }
    }
    all.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(d, _)| d.clone())
        .collect()
}

/// `e` with every occurrence of `s` replaced by `body` (bounded size).
fn unfold_all(s: &Symbol, body: &Expr, e: &Expr) -> Option<Expr> {
    let mut cur = e.clone();
    while let Some(path) = find(s, &cur) {
        cur = cur.replace_at(&path, body.clone())?;
        if cur.size() > MAX_UNFOLDED_SIZE {
            return None;
        }
    }
    Some(cur)
}

fn occurs(s: &Symbol, e: &Expr) -> bool {
    find(s, e).is_some()
}

/// The path of the first occurrence of the name `s` in `e`.
fn find(s: &Symbol, e: &Expr) -> Option<Vec<usize>> {
    match e {
        Expr::Sym(t) if t.name == s.name => Some(Vec::new()),
        _ => e.children().iter().enumerate().find_map(|(k, c)| {
            let mut p = find(s, c)?;
            p.insert(0, k);
            Some(p)
        }),
    }
}

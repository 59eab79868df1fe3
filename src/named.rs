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

/// Ordered definitions `name := body`.
type Definitions = Vec<(Symbol, Expr)>;

/// The facts a proof over names starts from: the haves, each shortened
/// name with its have's 1-based index and form, and the lemmas the haves
/// cite.
type StartingFacts = (
    Vec<kernel::Have>,
    Vec<(String, usize, Expr)>,
    Vec<kernel::Lemma>,
);

/// Most reductions tried as vanishing facts in one proof.
const MAX_VANISHING_TRIES: usize = 32;

/// How a name is unfolded in a chain: by its definition (`def NAME`), or by
/// an earlier fact giving a shorter form (`have K`).
struct Unfold<'a> {
    name: &'a Symbol,
    rule: String,
    into: Expr,
}

/// A proof of `lhs = rhs` in the model's names.
///
/// First the facts: every reduction in a definition's body that is zero
/// (`sum[n](x[n] - mu) = 0`, by unfolding and one normal-form step) is a
/// `have`, and a definition whose body contains one gets a `have` with the
/// vanishing terms dropped (`dmu = -(sum[n](dxhat[n]) / sqrt(var + eps))`).
/// Then the chain: unfold the latest-defined name occurring on one side
/// only (by its shorter form where there is one), until one normal-form
/// step closes the gap; the right side's unfoldings fold back at the end.
/// The certificate carries the definitions it uses; nothing depends on
/// what a name is called.
pub fn by_names(
    lhs: &Expr,
    rhs: &Expr,
    all: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<Proof> {
    let definitions = used_definitions(lhs, rhs, all);
    let (haves, shorter, lemmas) = facts(&definitions, assumptions);
    let unfolds: Vec<Unfold<'_>> = definitions
        .iter()
        .map(
            |(s, body)| match shorter.iter().find(|(n, _, _)| n == &s.name) {
                Some((_, k, form)) => Unfold {
                    name: s,
                    rule: kernel::have_rule(*k),
                    into: form.clone(),
                },
                None => Unfold {
                    name: s,
                    rule: kernel::def_rule(&s.name),
                    into: body.clone(),
                },
            },
        )
        .collect();
    let steps = chain(lhs, rhs, &unfolds, &definitions, assumptions)?;
    let proof = Proof {
        statement: Statement {
            lhs: lhs.clone(),
            rhs: rhs.clone(),
        },
        assumptions: assumptions.to_vec(),
        steps,
        definitions,
        haves,
        lemmas,
    };
    kernel::check(&proof).is_ok().then_some(proof)
}

/// The reductions in `exprs` that are zero, each with its proof over
/// names (a bounded number tried): the chain rule's terms
/// that vanish, such as batch norm's σ²-path term of ∂ℓ/∂μ.
pub fn vanishing(
    exprs: &[&Expr],
    all: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Vec<(Expr, Proof)> {
    let mut reductions = Vec::new();
    for e in exprs {
        collect_reductions(e, &mut reductions);
    }
    let zero = Expr::num(0);
    reductions
        .into_iter()
        .take(MAX_VANISHING_TRIES)
        .filter_map(|r| {
            let (steps, definitions, lemmas) = zero_chain(r, all, assumptions)?;
            let proof = Proof {
                statement: Statement {
                    lhs: r.clone(),
                    rhs: zero.clone(),
                },
                assumptions: assumptions.to_vec(),
                steps,
                definitions,
                haves: Vec::new(),
                lemmas,
            };
            kernel::check(&proof).is_ok().then(|| (r.clone(), proof))
        })
        .collect()
}

/// Most names unfolded while showing that a reduction is zero: such facts
/// are shallow (`sum[n](x[n] - mu)` needs `mu` only), and deeper tries
/// would cost work that grows with the model.
const MAX_ZERO_UNFOLDS: usize = 3;

/// A short chain from `r` to 0: unfold the latest name in `r` (every
/// occurrence), then cite a library lemma that says the reduction is zero
/// (`centred-sum-zero`), else try one normal-form step; at most
/// [`MAX_ZERO_UNFOLDS`] names. Returns the steps, the definitions they
/// unfold and the lemmas they cite.
fn zero_chain(
    r: &Expr,
    definitions: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<(Vec<Step>, Definitions, Vec<kernel::Lemma>)> {
    let zero = Expr::num(0);
    let mut steps: Vec<Step> = Vec::new();
    let mut unfolded: Vec<&(Symbol, Expr)> = Vec::new();
    for _ in 0..MAX_ZERO_UNFOLDS {
        let cur = steps.last().map_or(r, |s| &s.expr).clone();
        let def = definitions.iter().rev().find(|(s, _)| occurs(s, &cur))?;
        let (name, body) = def;
        unfolded.push(def);
        let mut next = cur;
        while let Some(path) = find(name, &next) {
            next = next.replace_at(&path, body.clone())?;
            if next.size() > MAX_UNFOLDED_SIZE {
                return None;
            }
            steps.push(Step {
                expr: next.clone(),
                rule: kernel::def_rule(&name.name),
                direction: Direction::Forward,
                position: path,
                subst: None,
            });
        }
        // A vanishing reduction is a linear fact; larger expressions or
        // field normal forms are not worth their (model-sized) work here.
        if next.size() > MAX_ZERO_SIZE {
            return None;
        }
        // Only the names unfolded are defined in the fact (the others stay
        // free symbols, a stronger statement): its check costs what the
        // fact needs, not what the model holds.
        let mut own: Vec<(Symbol, Expr)> = definitions
            .iter()
            .filter(|d| unfolded.iter().any(|u| std::ptr::eq(*u, *d)))
            .cloned()
            .collect();
        own.dedup_by(|a, b| a.0 == b.0);
        if let Some((step, lemma)) = crate::lemma::cite(&next, &[], crate::lemma::vanishing()) {
            steps.push(step);
            return Some((steps, own, vec![lemma.clone()]));
        }
        if let Some(close) = closing_with(&next, &zero, &own, assumptions, &["ring", "linear"]) {
            steps.extend(close);
            return Some((steps, own, Vec::new()));
        }
    }
    None
}

/// Largest expression (nodes) tried as a vanishing reduction.
const MAX_ZERO_SIZE: usize = 200;

/// The facts a proof over `definitions` starts from: vanishing reductions,
/// then shorter forms of the definitions that contain them. Returns the
/// haves and, for each shortened name, its have's 1-based index and form.
fn facts(definitions: &[(Symbol, Expr)], assumptions: &[Assumption]) -> StartingFacts {
    let mut haves: Vec<kernel::Have> = Vec::new();
    let mut lemmas: Vec<kernel::Lemma> = Vec::new();
    let mut tried: BTreeSet<Expr> = BTreeSet::new();
    let mut shorter = Vec::new();
    for (s, body) in definitions {
        let mut reductions = Vec::new();
        collect_reductions(body, &mut reductions);
        let mut cited: Vec<(usize, Expr)> = Vec::new();
        for r in reductions {
            if let Some(k) = haves.iter().position(|h| h.statement.lhs == *r) {
                cited.push((k + 1, r.clone()));
                continue;
            }
            if tried.len() >= MAX_VANISHING_TRIES || !tried.insert(r.clone()) {
                continue;
            }
            let zero = Expr::num(0);
            if let Some((steps, _, used)) = zero_chain(r, definitions, assumptions) {
                for l in used {
                    if !lemmas.iter().any(|k| k.name == l.name) {
                        lemmas.push(l);
                    }
                }
                haves.push(kernel::Have {
                    statement: Statement {
                        lhs: r.clone(),
                        rhs: zero,
                    },
                    steps,
                });
                cited.push((haves.len(), r.clone()));
            }
        }
        if cited.is_empty() {
            continue;
        }
        // `name = body` → (have steps) body with the reductions at 0 →
        // [ring] the terms that vanish dropped.
        let mut steps = vec![Step {
            expr: body.clone(),
            rule: kernel::def_rule(&s.name),
            direction: Direction::Forward,
            position: Vec::new(),
            subst: None,
        }];
        let mut cur = body.clone();
        for (k, r) in &cited {
            while let Some(path) = find_expr(r, &cur) {
                let Some(next) = cur.replace_at(&path, Expr::num(0)) else {
                    break;
                };
                cur = next;
                steps.push(Step {
                    expr: cur.clone(),
                    rule: kernel::have_rule(*k),
                    direction: Direction::Forward,
                    position: path,
                    subst: None,
                });
            }
        }
        let pruned = prune_zeros(&cur);
        if pruned != cur {
            let position = crate::rules::diff_position(&cur, &pruned).unwrap_or_default();
            steps.push(Step {
                expr: pruned.clone(),
                rule: "ring".into(),
                direction: Direction::Forward,
                position,
                subst: None,
            });
        }
        haves.push(kernel::Have {
            statement: Statement {
                lhs: Expr::Sym(s.clone()),
                rhs: pruned.clone(),
            },
            steps,
        });
        shorter.push((s.name.clone(), haves.len(), pruned));
    }
    // Keep only what checks: a have the kernel rejects (and everything
    // after it, which may cite it) is dropped.
    let mut ok = haves.len();
    for k in 0..haves.len() {
        let probe = Proof {
            statement: haves[k].statement.clone(),
            assumptions: assumptions.to_vec(),
            steps: haves[k].steps.clone(),
            definitions: definitions.to_vec(),
            haves: haves[..k].to_vec(),
            lemmas: lemmas.clone(),
        };
        if kernel::check(&probe).is_err() {
            ok = k;
            break;
        }
    }
    haves.truncate(ok);
    shorter.retain(|(_, k, _)| *k <= ok);
    // Only the lemmas the kept haves cite travel with the proof.
    lemmas.retain(|l| {
        let rule = kernel::lemma_rule(&l.name);
        haves.iter().any(|h| h.steps.iter().any(|s| s.rule == rule))
    });
    (haves, shorter, lemmas)
}

/// The chain from `lhs` to `rhs`: unfold the latest-defined name that
/// occurs on one side only; once none is left, try one normal-form step,
/// else unfold a name on both sides (one that closes the gap if there is
/// one, else the latest). The right side's unfoldings fold back at the end.
fn chain(
    lhs: &Expr,
    rhs: &Expr,
    unfolds: &[Unfold<'_>],
    definitions: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<Vec<Step>> {
    let mut left = vec![Step {
        expr: lhs.clone(),
        rule: String::new(),
        direction: Direction::Forward,
        position: Vec::new(),
        subst: None,
    }];
    let mut right = left.clone();
    right[0].expr = rhs.clone();
    let mut count = 0;
    loop {
        let (l, r) = (&left.last()?.expr, &right.last()?.expr);
        // A name on one side only must go; a name on both sides may stay an
        // atom. No closing step is tried while a one-sided name remains (it
        // could only cancel).
        let one_sided = unfolds
            .iter()
            .rev()
            .find(|u| occurs(u.name, l) != occurs(u.name, r));
        let close = match one_sided {
            Some(_) => None,
            None => closing_step(l, r, definitions, assumptions),
        };
        if let Some(close) = close {
            let mut steps: Vec<Step> = left.drain(1..).collect();
            steps.extend(close);
            for k in (1..right.len()).rev() {
                steps.push(Step {
                    expr: right[k - 1].expr.clone(),
                    rule: right[k].rule.clone(),
                    direction: Direction::Backward,
                    position: right[k].position.clone(),
                    subst: None,
                });
            }
            return Some(steps);
        }
        let u = match one_sided {
            Some(u) => u,
            None => {
                let both: Vec<&Unfold<'_>> =
                    unfolds.iter().rev().filter(|u| occurs(u.name, l)).collect();
                let first = *both.first()?;
                both.into_iter()
                    .find(|u| {
                        let (Some(l2), Some(r2)) = (
                            unfold_all(u.name, &u.into, l),
                            unfold_all(u.name, &u.into, r),
                        ) else {
                            return false;
                        };
                        closing_step(&l2, &r2, definitions, assumptions).is_some()
                    })
                    .unwrap_or(first)
            }
        };
        for side in [&mut left, &mut right] {
            loop {
                let cur = &side.last()?.expr;
                let Some(path) = find(u.name, cur) else { break };
                let next = cur.replace_at(&path, u.into.clone())?;
                if next.size() > MAX_UNFOLDED_SIZE {
                    return None;
                }
                count += 1;
                if count > MAX_UNFOLDS {
                    return None;
                }
                side.push(Step {
                    expr: next,
                    rule: u.rule.clone(),
                    direction: Direction::Forward,
                    position: path,
                    subst: None,
                });
            }
        }
    }
}

/// The distinct `sum`/`mean` reductions in `e`, outermost first, until
/// `out` holds [`MAX_VANISHING_TRIES`] (no more are ever tried).
fn collect_reductions<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    let mut seen: std::collections::HashSet<&'a Expr> = out.iter().copied().collect();
    collect_new(e, out, &mut seen);
}

fn collect_new<'a>(
    e: &'a Expr,
    out: &mut Vec<&'a Expr>,
    seen: &mut std::collections::HashSet<&'a Expr>,
) {
    if out.len() >= MAX_VANISHING_TRIES {
        return;
    }
    if let Expr::Reduce(crate::ir::RedOp::Sum | crate::ir::RedOp::Mean, _, _) = e {
        if seen.insert(e) {
            out.push(e);
        }
    }
    for c in e.children() {
        collect_new(c, out, seen);
    }
}

/// The path of the first occurrence of the subterm `x` in `e`.
fn find_expr(x: &Expr, e: &Expr) -> Option<Vec<usize>> {
    if e == x {
        return Some(Vec::new());
    }
    e.children().iter().enumerate().find_map(|(k, c)| {
        let mut p = find_expr(x, c)?;
        p.insert(0, k);
        Some(p)
    })
}

/// `e` with products, quotients and sums involving a literal 0 simplified
/// (`0 · a = 0`, `0 / a = 0`, `a ± 0 = a`, `-0 = 0`): ring identities, so a
/// `ring` step justifies them.
fn prune_zeros(e: &Expr) -> Expr {
    let zero = |x: &Expr| matches!(x, Expr::Num(r) if num_traits::Zero::is_zero(r));
    match e {
        Expr::Neg(a) => {
            let a = prune_zeros(a);
            if zero(&a) {
                a
            } else {
                Expr::Neg(Box::new(a))
            }
        }
        Expr::Add(a, b) | Expr::Sub(a, b) => {
            let (a, b) = (prune_zeros(a), prune_zeros(b));
            match (zero(&a), zero(&b), e) {
                (_, true, _) => a,
                (true, false, Expr::Add(..)) => b,
                (true, false, _) => Expr::Neg(Box::new(b)),
                (false, false, Expr::Add(..)) => Expr::Add(Box::new(a), Box::new(b)),
                _ => Expr::Sub(Box::new(a), Box::new(b)),
            }
        }
        Expr::Mul(a, b) => {
            let (a, b) = (prune_zeros(a), prune_zeros(b));
            if zero(&a) || zero(&b) {
                Expr::num(0)
            } else {
                Expr::Mul(Box::new(a), Box::new(b))
            }
        }
        Expr::Div(a, b) => {
            let (a, b) = (prune_zeros(a), prune_zeros(b));
            if zero(&a) {
                Expr::num(0)
            } else {
                Expr::Div(Box::new(a), Box::new(b))
            }
        }
        _ => e.clone(),
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
    closing_with(l, r, definitions, assumptions, &["ring", "linear", "field"])
}

/// [`closing_step`] with only the given normal forms.
fn closing_with(
    l: &Expr,
    r: &Expr,
    definitions: &[(Symbol, Expr)],
    assumptions: &[Assumption],
    rules: &[&str],
) -> Option<Vec<Step>> {
    if l == r {
        return Some(Vec::new());
    }
    let position = crate::rules::diff_position(l, r).unwrap_or_default();
    for &rule in rules {
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
            haves: Vec::new(),
            lemmas: Vec::new(),
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

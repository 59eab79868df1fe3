//! Proofs over names: a statement that mentions defined names (a model's
//! definitions, a derivation's adjoints, `prove … where` clauses) is proved
//! by unfolding names and one normal-form step, and the certificate
//! carries the definitions it uses. Nothing depends on what a name is
//! called: which names are unfolded follows from where they occur and the
//! order in which they are defined.

use crate::ir::{Assumption, Expr, RedOp, Statement, Symbol};
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
    let (mut haves, shorter, mut lemmas) = facts(&definitions, assumptions);
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
    let mut known = Known {
        haves: &mut haves,
        lemmas: &mut lemmas,
        definitions: &definitions,
        assumptions,
        probe: None,
    };
    let steps = chain(lhs, rhs, &unfolds, &mut known)?;
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
) -> Option<ZeroChain> {
    // The same reductions are tried by every proof over one program (each
    // claim and check of a model): remembered per reduction, the definitions
    // it reaches and the assumptions. A remembered chain is still checked
    // by the kernel with the proof that uses it.
    let key = format!(
        "{r:?}|{:?}|{assumptions:?}",
        used_definitions(r, r, definitions)
    );
    if let Some(found) = ZERO_CHAINS.with(|c| c.borrow().get(&key).cloned()) {
        return found;
    }
    let found = zero_chain_uncached(r, definitions, assumptions);
    ZERO_CHAINS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_REMEMBERED {
            c.clear();
        }
        c.insert(key, found.clone());
    });
    found
}

/// A chain from a reduction to 0: its steps, the definitions they unfold
/// and the lemmas they cite.
type ZeroChain = (Vec<Step>, Definitions, Vec<kernel::Lemma>);

/// Most zero chains remembered (then forgotten all at once).
const MAX_REMEMBERED: usize = 4096;

thread_local! {
    static ZERO_CHAINS: std::cell::RefCell<std::collections::HashMap<String, Option<ZeroChain>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// A scope of remembered zero chains: the outermost one starts with
/// nothing remembered; scopes inside it (a derivation made for a check)
/// share what it remembers.
pub struct Remember(());

impl Remember {
    pub fn enter() -> Remember {
        if DEPTH.with(|d| d.replace(d.get() + 1)) == 0 {
            ZERO_CHAINS.with(|c| c.borrow_mut().clear());
        }
        Remember(())
    }
}

impl Drop for Remember {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn zero_chain_uncached(
    r: &Expr,
    definitions: &[(Symbol, Expr)],
    assumptions: &[Assumption],
) -> Option<ZeroChain> {
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
        if !have_checks(&haves[k], assumptions, definitions, &haves[..k], &lemmas) {
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

/// Whether the kernel accepts `have`'s chain with `earlier` haves and
/// `lemmas` to cite, under the proof's assumptions and definitions.
fn have_checks(
    have: &kernel::Have,
    assumptions: &[Assumption],
    definitions: &[(Symbol, Expr)],
    earlier: &[kernel::Have],
    lemmas: &[kernel::Lemma],
) -> bool {
    let probe = Proof {
        statement: have.statement.clone(),
        assumptions: assumptions.to_vec(),
        steps: have.steps.clone(),
        definitions: definitions.to_vec(),
        haves: earlier.to_vec(),
        lemmas: lemmas.to_vec(),
    };
    kernel::check(&probe).is_ok()
}

/// The chain from `lhs` to `rhs`: unfold the latest-defined name that
/// occurs on one side only; once none is left, try one normal-form step,
/// else unfold a name on both sides (one that closes the gap if there is
/// one, else the latest). The right side's unfoldings fold back at the end.
fn chain(
    lhs: &Expr,
    rhs: &Expr,
    unfolds: &[Unfold<'_>],
    known: &mut Known<'_>,
) -> Option<Vec<Step>> {
    let (definitions, assumptions) = (known.definitions, known.assumptions);
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
    let mut distributed = false;
    // Kernel checks the early closing may spend: a statement that is false
    // must not pay one per name per round.
    let mut tries = MAX_EARLY_TRIES;
    let mut candidates = MAX_EARLY_TRIES;
    // The closing step found for the sides a chosen unfolding leads to.
    let mut found: Option<(Expr, Expr, Vec<Step>)> = None;
    loop {
        let (l, r) = (&left.last()?.expr, &right.last()?.expr);
        // A name on one side only must go; a name on both sides may stay an
        // atom. No closing step is tried while a one-sided name remains (it
        // could only cancel).
        let one_sided = unfolds
            .iter()
            .rev()
            .find(|u| occurs(u.name, l) != occurs(u.name, r));
        // While a one-sided name remains, a closing step is tried only
        // against a number and on small sides: there a name such as `var`
        // may cancel (`sum[n](dx[n]) = 0`), and unfolding it would only
        // lengthen every later line. Elsewhere the attempt would cost a
        // kernel check per name for nothing.
        let early = tries > 0 && matches!(r, Expr::Num(_)) && l.size() <= MAX_EARLY_CLOSE_SIZE;
        let close = if one_sided.is_none() {
            match found.take() {
                // Found while choosing the name just unfolded.
                Some((fl, fr, close)) if (&fl, &fr) == (l, r) => Some(close),
                _ => closing_step(l, r, definitions, assumptions),
            }
        } else if early {
            // One check decides whether any normal form closes the gap
            // (field normalizes furthest); only then is the weakest sought.
            tries -= 1;
            closing_with(l, r, definitions, assumptions, &["field"])
                .and_then(|_| closing_step(l, r, definitions, assumptions))
        } else {
            None
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
            // Against a number, a one-sided name whose unfolding alone
            // closes the gap goes first (a count such as `m` in
            // `sum[n](dx[n]) = 0`): the others' bodies would only lengthen
            // the lines.
            Some(u) if early => unfolds
                .iter()
                .rev()
                .filter(|v| occurs(v.name, l) && !occurs(v.name, r))
                .take(MAX_EARLY_CANDIDATES)
                .find(|v| {
                    if candidates == 0 {
                        return false;
                    }
                    candidates -= 1;
                    unfold_all(v.name, &v.into, l).is_some_and(|l2| {
                        closing_with(&l2, r, definitions, assumptions, &["field"]).is_some()
                    })
                })
                .unwrap_or(u),
            Some(u) => u,
            None => {
                let both: Vec<&Unfold<'_>> =
                    unfolds.iter().rev().filter(|u| occurs(u.name, l)).collect();
                let first = *both.first()?;
                // Candidates with the smallest bodies first: of two
                // unfoldings that close the gap, the shorter lines win (and
                // it is found sooner); the latest name stays the default.
                let mut both = both;
                both.sort_by_key(|u| u.into.size());
                both.into_iter()
                    .find(|u| {
                        let (Some(l2), Some(r2)) = (
                            unfold_all(u.name, &u.into, l),
                            unfold_all(u.name, &u.into, r),
                        ) else {
                            return false;
                        };
                        let close = closing_step(&l2, &r2, definitions, assumptions);
                        let hit = close.is_some();
                        found = close.map(|c| (l2, r2, c));
                        hit
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
        // Split the left side's reduction when the right side is a number
        // (`sum[n](dx[n]) = 0`); against a reduction it would only break the
        // two sides' symmetry.
        if !distributed && matches!(right.last()?.expr, Expr::Num(_)) {
            if let Some(steps) = split_reduction(&left.last()?.expr, known) {
                distributed = true;
                left.extend(steps);
            }
        }
    }
}

/// Most kernel checks one chain spends on closing early against a number,
/// and as many again on finding the name whose unfolding closes it.
const MAX_EARLY_TRIES: usize = 8;

/// Most names tried as the one whose unfolding closes a gap to a number.
const MAX_EARLY_CANDIDATES: usize = 8;

/// Largest side (nodes) on which a closing step against a number is tried
/// while a name on one side only remains.
const MAX_EARLY_CLOSE_SIZE: usize = 160;

/// What a chain may cite and extend: the proof's haves and lemmas, its
/// definitions and assumptions.
struct Known<'a> {
    haves: &'a mut Vec<kernel::Have>,
    lemmas: &'a mut Vec<kernel::Lemma>,
    definitions: &'a [(Symbol, Expr)],
    assumptions: &'a [Assumption],
    /// Made when a new fact is first sought.
    probe: Option<Probe>,
}

/// A numeric screen for facts `r = 0`: the definitions evaluated in `f64`
/// at one fixed sample. A reduction clearly non-zero there is not given to
/// the kernel (this only saves work: a fact that passes is still proved and
/// checked, and a fact screened out is only not cited).
struct Probe {
    env: Option<crate::oracle::fd::EnvF64>,
}

impl Probe {
    /// Every axis of size 3, every free symbol's entries drawn in [1/2, 3/2)
    /// from the sampler's fixed-seed generator.
    fn new(definitions: &[(Symbol, Expr)]) -> Probe {
        use crate::oracle::fd::{bind_program_f64, EnvF64, TensorF64};
        let defined: BTreeSet<&str> = definitions.iter().map(|(s, _)| s.name.as_str()).collect();
        let mut syms = BTreeSet::new();
        let mut axes = BTreeSet::new();
        for (s, body) in definitions {
            body.symbols(&mut syms);
            body.all_axes(&mut axes);
            axes.extend(s.axes.iter().cloned());
        }
        let mut env = EnvF64::default();
        for a in &axes {
            env.sizes.insert(a.clone(), 3);
        }
        use rand::Rng;
        let mut rng = crate::oracle::sample::rng(0, crate::oracle::sample::Stream::Sample);
        for s in syms.iter().filter(|s| !defined.contains(s.name.as_str())) {
            let len = s.axes.iter().map(|_| 3usize).product();
            let data = (0..len).map(|_| rng.gen_range(0.5..1.5)).collect();
            let axes = s.axes.clone();
            env.values.insert(s.name.clone(), TensorF64 { axes, data });
        }
        let env = bind_program_f64(&mut env, definitions).ok().map(|()| env);
        Probe { env }
    }

    /// False only when `r` evaluates to a finite value clearly away from 0
    /// somewhere at the sample.
    fn maybe_zero(&self, r: &Expr) -> bool {
        let Some(env) = &self.env else { return true };
        let axes: Vec<String> = r.free_axes().into_iter().collect();
        match crate::oracle::fd::eval_over(r, env, &axes) {
            Ok(v) => v.iter().all(|x| !x.is_finite() || x.abs() <= 1e-9),
            Err(_) => true,
        }
    }
}

/// When `e` is a sum or mean of terms (a statement such as
/// `sum[n](dx[n]) = 0` once `dx` is unfolded): one `linear` step to the
/// reduction of each term, factors constant along the reduced axes taken
/// out, then each of those reductions that is zero replaced by 0 (a `have`,
/// proved here if no earlier fact says so) and the zeros dropped (`ring`).
/// So the chain rule's vanishing terms are seen as the paper sees them
/// (`Σ(x − μ) = 0`), and nothing is unfolded to find them.
fn split_reduction(e: &Expr, known: &mut Known<'_>) -> Option<Vec<Step>> {
    let Expr::Reduce(op @ (RedOp::Sum | RedOp::Mean), axes, body) = e else {
        return None;
    };
    let split = distribute(*op, axes, body);
    if split == *e
        || closing_with(e, &split, known.definitions, known.assumptions, &["linear"]).is_none()
    {
        return None;
    }
    let mut steps = vec![Step {
        expr: split.clone(),
        rule: "linear".into(),
        direction: Direction::Forward,
        position: Vec::new(),
        subst: None,
    }];
    let mut reductions = Vec::new();
    collect_reductions(&split, &mut reductions);
    let mut cur = split.clone();
    for r in reductions {
        let Some(k) = zero_fact(r, known) else {
            continue;
        };
        while let Some(path) = find_expr(r, &cur) {
            let next = cur.replace_at(&path, Expr::num(0))?;
            cur = next;
            steps.push(Step {
                expr: cur.clone(),
                rule: kernel::have_rule(k),
                direction: Direction::Forward,
                position: path,
                subst: None,
            });
        }
    }
    if steps.len() == 1 {
        return Some(steps);
    }
    let pruned = prune_zeros(&cur);
    if pruned != cur {
        let position = crate::rules::diff_position(&cur, &pruned).unwrap_or_default();
        steps.push(Step {
            expr: pruned,
            rule: "ring".into(),
            direction: Direction::Forward,
            position,
            subst: None,
        });
    }
    Some(steps)
}

/// The 1-based index of a have saying `r = 0`: an existing one, else one
/// proved now by [`zero_chain`] and appended (with the lemmas it cites),
/// if the kernel accepts it.
fn zero_fact(r: &Expr, known: &mut Known<'_>) -> Option<usize> {
    let zero = Expr::num(0);
    if let Some(k) = known
        .haves
        .iter()
        .position(|h| h.statement.lhs == *r && h.statement.rhs == zero)
    {
        return Some(k + 1);
    }
    if !matches!(r, Expr::Reduce(RedOp::Sum | RedOp::Mean, _, _)) {
        return None;
    }
    let definitions = known.definitions;
    if !known
        .probe
        .get_or_insert_with(|| Probe::new(definitions))
        .maybe_zero(r)
    {
        return None;
    }
    let (steps, _, used) = zero_chain(r, known.definitions, known.assumptions)?;
    let have = kernel::Have {
        statement: Statement {
            lhs: r.clone(),
            rhs: zero,
        },
        steps,
    };
    let mut lemmas = known.lemmas.clone();
    for l in used {
        if !lemmas.iter().any(|k| k.name == l.name) {
            lemmas.push(l);
        }
    }
    if !have_checks(
        &have,
        known.assumptions,
        known.definitions,
        known.haves,
        &lemmas,
    ) {
        return None;
    }
    *known.lemmas = lemmas;
    known.haves.push(have);
    Some(known.haves.len())
}

/// `op[axes](body)` as a sum of reductions of `body`'s terms, with factors
/// constant along `axes` taken out (`sum[n](c * t) = c * sum[n](t)`). Only
/// the outer terms are split: inside a factor the reduction stays whole
/// (`sum[n](x[n] - mu)`, the form a vanishing fact has); a term constant
/// along `axes` stays reduced (`sum[n](c)`), so the step needs no count.
fn distribute(op: RedOp, axes: &[String], body: &Expr) -> Expr {
    split_terms(op, axes, body, true)
}

fn split_terms(op: RedOp, axes: &[String], body: &Expr, outer: bool) -> Expr {
    let constant = |e: &Expr| e.free_axes().iter().all(|a| !axes.contains(a));
    let d = |e: &Expr| Box::new(split_terms(op, axes, e, outer));
    let sum = |e: &Expr| matches!(e, Expr::Add(..) | Expr::Sub(..));
    match body {
        Expr::Add(a, b) if outer => Expr::Add(d(a), d(b)),
        Expr::Sub(a, b) if outer => Expr::Sub(d(a), d(b)),
        Expr::Neg(a) => Expr::Neg(d(a)),
        // A varying factor times a sum of terms: each term on its own.
        Expr::Mul(a, b) if outer && !constant(a) && sum(b) => {
            let (op2, b1, b2) = match &**b {
                Expr::Add(x, y) => (true, x, y),
                Expr::Sub(x, y) => (false, x, y),
                _ => unreachable!("matched a sum"),
            };
            let t1 = Expr::Mul(a.clone(), b1.clone());
            let t2 = Expr::Mul(a.clone(), b2.clone());
            let (t1, t2) = (d(&t1), d(&t2));
            if op2 {
                Expr::Add(t1, t2)
            } else {
                Expr::Sub(t1, t2)
            }
        }
        Expr::Mul(..) | Expr::Div(..) => {
            // The factors constant along `axes` go outside the reduction.
            let mut num = Vec::new();
            let mut den = Vec::new();
            factors(body, &mut num, &mut den, &constant);
            let (c, v): (Vec<&Expr>, Vec<&Expr>) = num.into_iter().partition(|e| constant(e));
            if c.is_empty() && den.is_empty() {
                return Expr::Reduce(op, axes.to_vec(), Box::new(body.clone()));
            }
            let product = |fs: Vec<&Expr>| fs.into_iter().cloned().reduce(Expr::mul);
            let Some(inner) = product(v) else {
                return Expr::Reduce(op, axes.to_vec(), Box::new(body.clone()));
            };
            let mut out = Expr::Reduce(op, axes.to_vec(), Box::new(inner));
            if let Some(k) = product(c) {
                out = Expr::mul(k, out);
            }
            for e in den {
                out = Expr::Div(Box::new(out), Box::new(e.clone()));
            }
            out
        }
        _ => Expr::Reduce(op, axes.to_vec(), Box::new(body.clone())),
    }
}

/// The factors of a product: `num` multiplied, `den` divided by (only
/// divisors that are `constant`; another quotient stays one factor).
fn factors<'a>(
    e: &'a Expr,
    num: &mut Vec<&'a Expr>,
    den: &mut Vec<&'a Expr>,
    constant: &dyn Fn(&Expr) -> bool,
) {
    match e {
        Expr::Mul(a, b) => {
            factors(a, num, den, constant);
            factors(b, num, den, constant);
        }
        Expr::Div(a, b) if constant(b) => {
            factors(a, num, den, constant);
            den.push(b);
        }
        _ => num.push(e),
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
    if let Expr::Reduce(RedOp::Sum | RedOp::Mean, _, _) = e {
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
    if opaque_differ(l, r) {
        return None;
    }
    let position = crate::rules::diff_position(l, r).unwrap_or_default();
    // Where the sides differ only inside a reduction, the bodies may differ
    // at each index while the reductions agree (`sum[n](w * J u)` and
    // `sum[n](u * J w)`): the outermost reduction on the way is tried too.
    let outer = (0..position.len())
        .find(|&k| {
            l.at(&position[..k])
                .is_some_and(|e| matches!(e, Expr::Reduce(..)))
        })
        .map(|k| position[..k].to_vec());
    let positions: Vec<_> = std::iter::once(position).chain(outer).collect();
    // The weakest rule first, at either position.
    for (rule, position) in rules
        .iter()
        .flat_map(|&r| positions.iter().map(move |p| (r, p.clone())))
    {
        let step = Step {
            expr: r.clone(),
            rule: rule.into(),
            direction: Direction::Forward,
            position,
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

/// Whether no normal form can equate `l` and `r`, by one sample: `ring`,
/// `linear` and `field` treat every name, defined or not, as an opaque
/// atom, so sides they equate agree wherever each name takes any value and
/// every division and root on the way is defined. Each name gets its own
/// values here (in `[1/2, 3/2)`, in order of first appearance, every axis
/// of size 2), compared at the first position; sides that clearly differ
/// there cannot be closed, and the kernel checks that would fail are not
/// run. This only saves work: a closing step that passes is still checked
/// by the kernel, and a screen past its budget passes.
fn opaque_differ(l: &Expr, r: &Expr) -> bool {
    use crate::oracle::fd::{EnvF64, TensorF64};
    use rand::Rng;
    fn names(e: &Expr, out: &mut Vec<Symbol>) {
        match e {
            Expr::Sym(s) => {
                if !out.iter().any(|t| t.name == s.name) {
                    out.push(s.clone());
                }
            }
            _ => e.children().into_iter().for_each(|c| names(c, out)),
        }
    }
    let mut syms = Vec::new();
    names(l, &mut syms);
    names(r, &mut syms);
    let mut axes = BTreeSet::new();
    l.all_axes(&mut axes);
    r.all_axes(&mut axes);
    let mut env = EnvF64::default();
    for a in axes {
        env.sizes.insert(a, OPAQUE_AXIS_SIZE);
    }
    let mut rng = crate::oracle::sample::rng(0, crate::oracle::sample::Stream::Sample);
    for s in syms {
        let len = OPAQUE_AXIS_SIZE.pow(s.axes.len() as u32);
        let data = (0..len).map(|_| rng.gen_range(0.5..1.5)).collect();
        let t = TensorF64 { axes: s.axes, data };
        env.values.insert(s.name, t);
    }
    let mut at = std::collections::BTreeMap::new();
    for a in l.free_axes().into_iter().chain(r.free_axes()) {
        at.insert(a, 0);
    }
    crate::oracle::fd::clearly_differ(l, r, &env, &at, OPAQUE_BUDGET)
}

/// Axis size of [`opaque_differ`]'s sample (a reduction over three axes
/// sums 8 terms).
const OPAQUE_AXIS_SIZE: usize = 2;

/// Node evaluations [`opaque_differ`] may spend (a failed kernel check
/// costs more than this many).
const OPAQUE_BUDGET: u64 = 20_000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{parse_expr, print};

    fn e(s: &str) -> Expr {
        parse_expr(s).unwrap()
    }

    fn def(name: &str, axes: &[&str], body: &str) -> (Symbol, Expr) {
        (Symbol::new(name, axes.iter().copied()), e(body))
    }

    #[test]
    fn a_reduction_splits_into_its_outer_terms_with_constant_factors_outside() {
        let n = ["n".to_string()];
        let split = distribute(RedOp::Sum, &n, &e("c * (u[n] - q) + w[n] / (k + 1) - q"));
        // The centred sum stays whole (the form of a vanishing fact); the
        // constant term stays reduced.
        assert_eq!(
            print(&split),
            "c * sum[n](u[n] - q) + sum[n](w[n]) / (k + 1) - sum[n](q)"
        );
        // A varying factor times a sum of terms: each term on its own.
        let split = distribute(RedOp::Mean, &n, &e("h[n] * (a * u[n] + b)"));
        assert_eq!(
            print(&split),
            "a * mean[n](h[n] * u[n]) + b * mean[n](h[n])"
        );
        // Nothing to take out: the reduction is left as it is.
        let whole = e("sum[n](u[n] * w[n])");
        let Expr::Reduce(op, axes, body) = &whole else {
            unreachable!()
        };
        assert_eq!(distribute(*op, axes, body), whole);
    }

    #[test]
    fn a_vanishing_sum_is_cited_not_unfolded_whatever_the_names() {
        // `zeta` is a centred copy of `u`, scaled: its sum is 0 because
        // `sum[k](u[k] - q) = 0`, with `q` the mean. Unusual names on
        // purpose: nothing depends on them.
        let defs = vec![
            def("q", &[], "mean[k](u[k])"),
            def("zeta", &["k"], "c * (u[k] - q) + b * (u[k] - q)"),
        ];
        let p = by_names(&e("sum[k](zeta[k])"), &Expr::num(0), &defs, &[]).expect("proved");
        assert!(kernel::check(&p).is_ok());
        let rules: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(rules[..2], ["def zeta", "linear"], "{rules:?}");
        assert!(
            rules.iter().any(|r| kernel::have_index(r).is_some()),
            "{rules:?}"
        );
        // `q` is never unfolded in the main chain: the fact says the sum is 0.
        assert!(!rules.contains(&"def q"), "{rules:?}");
        let fact = &p.haves[kernel::have_index(rules[2]).unwrap() - 1];
        assert_eq!(print(&fact.statement.lhs), "sum[k](u[k] - q)");
        assert!(p.steps.len() <= 6, "{rules:?}");
    }

    #[test]
    fn remembered_zero_chains_give_the_same_proof() {
        let defs = vec![
            def("q", &[], "mean[k](u[k])"),
            def("zeta", &["k"], "c * (u[k] - q)"),
        ];
        let _scope = Remember::enter();
        let prove = || by_names(&e("sum[k](zeta[k])"), &Expr::num(0), &defs, &[]);
        let first = prove().expect("proved");
        let again = prove().expect("proved again");
        assert_eq!(first.steps, again.steps);
        assert_eq!(first.haves.len(), again.haves.len());
        // A false statement stays unproved with the chains remembered.
        let defs2 = vec![
            def("q", &[], "mean[k](u[k])"),
            def("zeta", &["k"], "c * u[k]"),
        ];
        assert!(by_names(&e("sum[k](zeta[k])"), &Expr::num(0), &defs2, &[]).is_none());
    }

    #[test]
    fn the_opaque_screen_passes_what_normal_forms_equate() {
        let defs = vec![
            def("mu", &[], "mean[n](x[n])"),
            def("var", &[], "mean[n]((x[n] - mu)^2)"),
            def("s", &[], "sqrt(var + eps)"),
        ];
        let eps = [Assumption {
            expr: e("eps"),
            rel: crate::ir::Rel::Gt,
        }];
        // Closings the kernel accepts, some only with a sign proved
        // through a definition (s ≠ 0, var + eps ≥ 0): the screen lets
        // every one through.
        for (l, r) in [
            ("s * (1 / s)", "1"),
            ("sqrt(var + eps)^2", "var + eps"),
            (
                "(x[n] - mu) / sqrt(var + eps) / sqrt(var + eps)",
                "(x[n] - mu) / (var + eps)",
            ),
            ("sum[n](x[n] * s)", "s * sum[n](1) * mean[n](x[n])"),
            (
                "sum[n](w[n] * (u[n] + mu))",
                "sum[n](u[n] * w[n]) + mu * sum[n](w[n])",
            ),
        ] {
            let (l, r) = (e(l), e(r));
            assert!(!opaque_differ(&l, &r), "{} = {}", print(&l), print(&r));
            assert!(
                closing_step(&l, &r, &defs, &eps).is_some(),
                "{} = {}",
                print(&l),
                print(&r)
            );
        }
        // True only through a definition (Σ(x − μ) = 0 needs μ's body):
        // screened out, and no normal form closes it either.
        let (l, r) = (e("sum[n](x[n] - mu)"), e("0"));
        assert!(opaque_differ(&l, &r));
        for rule in ["ring", "linear", "field"] {
            let step = Step {
                expr: r.clone(),
                rule: rule.into(),
                direction: Direction::Forward,
                position: Vec::new(),
                subst: None,
            };
            let proof = Proof {
                statement: Statement {
                    lhs: l.clone(),
                    rhs: r.clone(),
                },
                assumptions: eps.to_vec(),
                steps: vec![step],
                definitions: defs.clone(),
                haves: Vec::new(),
                lemmas: Vec::new(),
            };
            assert!(kernel::check(&proof).is_err(), "{rule}");
        }
    }

    #[test]
    fn sides_equal_only_as_reductions_close_at_the_reduction() {
        // `p` occurs on the left only and `t` on the right only, so both
        // are unfolded; then the bodies differ at every index (w[n] * U
        // against u[n] * W) while the sums agree: the closing step is at
        // the outer sum.
        let defs = vec![def("p", &[], "sum[n](u[n])"), def("t", &[], "sum[n](w[n])")];
        let lhs = e("sum[n](w[n] * p)");
        let rhs = e("sum[n](u[n] * t)");
        assert!(by_names(&lhs, &rhs, &defs, &[]).is_some_and(|p| {
            kernel::check(&p).is_ok() && p.steps.iter().any(|s| s.position.is_empty())
        }));
        // A false one stays unproved.
        assert!(by_names(&e("sum[n](w[n] * p)"), &e("sum[n](u[n] * p)"), &defs, &[]).is_none());
    }
}

//! Counterexample search: seeded random samples of axis sizes and exact
//! rational values, evaluated with [`crate::eval`]. A sample refutes a
//! statement only when every assumption definitely holds at every position
//! and the two sides definitely differ at some position (exactly, or with
//! disjoint rigorous enclosures); the finding is then re-checked from
//! scratch by [`check_counterexample`] before it is reported.

use crate::eval::{assignments, Env, EvalError, Evaluator, Limits, Tensor, Value, DEFAULT_BUDGET};
use crate::ir::{Assumption, Expr, Rat, Rel, Statement, Symbol};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Options of the search.
#[derive(Clone, Debug)]
pub struct RefuteOptions {
    pub seed: u64,
    /// Samples to decide (samples discarded because an assumption is false
    /// do not count, up to four times this many draws in all).
    pub samples: usize,
    /// Axis sizes tried are `1..=max_axis_size`.
    pub max_axis_size: usize,
    pub deadline: Option<Instant>,
}

impl Default for RefuteOptions {
    fn default() -> Self {
        RefuteOptions {
            seed: 0,
            samples: 300,
            max_axis_size: 5,
            deadline: None,
        }
    }
}

/// Axis sizes and values at which the two sides differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    pub sizes: BTreeMap<String, usize>,
    /// Keyed by symbol name.
    pub values: BTreeMap<String, Tensor>,
    /// The free-axis position where the sides differ.
    pub index: BTreeMap<String, usize>,
    pub lhs: Value,
    pub rhs: Value,
}

impl Counterexample {
    /// The same values with each array's axes in the order `order` gives
    /// for its name (a model's declared order; other arrays follow the
    /// order of `axes`, the model's `axis` lines), data permuted to match;
    /// for showing, not for evaluating (evaluation expects sorted axes).
    pub fn in_order(
        &self,
        order: &BTreeMap<String, Vec<String>>,
        axes: &[String],
    ) -> Counterexample {
        let mut out = self.clone();
        for (name, t) in out.values.iter_mut() {
            let want = order.get(name).cloned().unwrap_or_else(|| {
                axes.iter()
                    .filter(|a| t.axes.contains(a))
                    .cloned()
                    .collect()
            });
            *t = crate::syntax::order::reorder_tensor(t, &want, &self.sizes);
        }
        out
    }

    pub fn env(&self) -> Env {
        Env {
            sizes: self.sizes.clone(),
            values: self.values.clone(),
        }
    }
}

/// The result of a search. (`Refuted` is unboxed, as the interface
/// specifies; outcomes are produced once per statement.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefuteOutcome {
    Refuted(Counterexample),
    NotFound {
        /// Samples where the assumptions held and both sides were decided equal
        /// at every position.
        tried: usize,
        /// Samples where evaluation was undecidable (or too large), or an
        /// assumption could not be decided.
        skipped: usize,
    },
}

/// How values of a symbol are biased by a bare-symbol assumption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bias {
    NonZero,
    NonNeg,
    Positive,
}

fn statement_axes(stmt: &Statement, assumptions: &[Assumption]) -> BTreeSet<String> {
    let mut axes = BTreeSet::new();
    stmt.lhs.all_axes(&mut axes);
    stmt.rhs.all_axes(&mut axes);
    for a in assumptions {
        a.expr.all_axes(&mut axes);
    }
    axes
}

fn statement_symbols(stmt: &Statement, assumptions: &[Assumption]) -> BTreeMap<String, Symbol> {
    let mut syms = BTreeSet::new();
    stmt.lhs.symbols(&mut syms);
    stmt.rhs.symbols(&mut syms);
    for a in assumptions {
        a.expr.symbols(&mut syms);
    }
    // One tensor per name; a name used with two axis sets cannot be
    // evaluated consistently (evaluation reports it and the sample is skipped).
    let mut out = BTreeMap::new();
    for s in syms {
        out.entry(s.name.clone()).or_insert(s);
    }
    out
}

fn biases(assumptions: &[Assumption]) -> BTreeMap<String, Bias> {
    let mut out: BTreeMap<String, Bias> = BTreeMap::new();
    for a in assumptions {
        if let Expr::Sym(s) = &a.expr {
            let b = match a.rel {
                Rel::Gt => Bias::Positive,
                Rel::Ge => Bias::NonNeg,
                Rel::Ne => Bias::NonZero,
            };
            let e = out.entry(s.name.clone()).or_insert(b);
            *e = (*e).max(b);
        }
    }
    out
}

fn rat(p: i64, q: i64) -> Rat {
    Rat::new(BigInt::from(p), BigInt::from(q))
}

/// Axis sizes for sample number `n`: all twos, all ones, then uniform sizes
/// cycling through `1..=max`, and mixed random sizes.
fn draw_sizes(
    n: usize,
    axes: &BTreeSet<String>,
    max: usize,
    rng: &mut ChaCha8Rng,
) -> BTreeMap<String, usize> {
    let uniform = |s: usize| axes.iter().map(|a| (a.clone(), s)).collect();
    // Size 2 first: the smallest shape where statistics are not trivial
    // (a batch of one has zero variance); then the batch of one.
    if max <= 1 || n == 1 {
        return uniform(1);
    }
    if n == 0 {
        return uniform(2);
    }
    match n % 4 {
        // uniform, cycling 2..=max
        1 => uniform(2 + (n / 4) % (max - 1)),
        // mixed, any size
        2 => axes
            .iter()
            .map(|a| (a.clone(), rng.gen_range(1..=max)))
            .collect(),
        // mixed, at least 2
        3 => axes
            .iter()
            .map(|a| (a.clone(), rng.gen_range(2..=max)))
            .collect(),
        // uniform, cycling 1..=max
        _ => uniform(1 + (n / 4) % max),
    }
}

/// Most index positions a sample may have: with many axes (a 5-axis group
/// norm) large shapes make exact evaluation slow while small ones find the
/// same counterexamples.
const MAX_POSITIONS: usize = 64;

/// Shrink the largest sizes until the shape has at most [`MAX_POSITIONS`].
fn shrink(mut sizes: BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    // Saturating: with hundreds of axes the plain product overflows (and
    // wrapped to 0 for 300 axes of size 2, so nothing was shrunk).
    let positions =
        |s: &BTreeMap<String, usize>| s.values().fold(1usize, |acc, n| acc.saturating_mul(*n));
    while positions(&sizes) > MAX_POSITIONS {
        let Some((_, n)) = sizes.iter_mut().max_by_key(|(_, n)| **n) else {
            break;
        };
        if *n <= 1 {
            break;
        }
        *n -= 1;
    }
    sizes
}

/// A random rational in the given style.
fn draw_value(style: u32, rng: &mut ChaCha8Rng) -> Rat {
    let pick = rng.gen_range(0..10);
    match (style, pick) {
        // small integers, zero included
        (0, _) | (1, 0..=5) | (2, 0..=3) | (3, 0..=2) => rat(rng.gen_range(-3..=3), 1),
        // simple fractions
        (1, _) | (3, 3..=5) => rat(rng.gen_range(-6..=6), rng.gen_range(2..=5)),
        // perfect squares of simple rationals (roots stay exact)
        (2, _) | (3, 6) => {
            let r = rat(rng.gen_range(0..=5), rng.gen_range(1..=3));
            &r * &r
        }
        // wider values
        _ => rat(rng.gen_range(-12..=12), rng.gen_range(1..=7)),
    }
}

fn apply_bias(v: Rat, bias: Option<Bias>, rng: &mut ChaCha8Rng) -> Rat {
    let nonzero = |rng: &mut ChaCha8Rng| rat(rng.gen_range(1..=4), rng.gen_range(1..=2));
    match bias {
        None => v,
        Some(Bias::NonNeg) => v.abs(),
        Some(Bias::Positive) => {
            if v.is_zero() {
                nonzero(rng)
            } else {
                v.abs()
            }
        }
        Some(Bias::NonZero) => {
            if v.is_zero() {
                let r = nonzero(rng);
                if rng.gen_bool(0.5) {
                    -r
                } else {
                    r
                }
            } else {
                v
            }
        }
    }
}

fn draw_values(
    syms: &BTreeMap<String, Symbol>,
    sizes: &BTreeMap<String, usize>,
    bias: &BTreeMap<String, Bias>,
    rng: &mut ChaCha8Rng,
) -> BTreeMap<String, Tensor> {
    let style = rng.gen_range(0..4u32);
    let mut out = BTreeMap::new();
    for (name, s) in syms {
        let len: usize = s
            .axes
            .iter()
            .map(|a| sizes.get(a).copied().unwrap_or(1))
            .product();
        let b = bias.get(name).copied();
        // Sometimes a tensor is constant along its axes (zero variance).
        let constant = !s.axes.is_empty() && rng.gen_range(0..8) == 0;
        let mut data = Vec::with_capacity(len);
        for k in 0..len {
            if constant && k > 0 {
                let first: &Rat = &data[0];
                data.push(first.clone());
            } else {
                let v = draw_value(style, rng);
                data.push(apply_bias(v, b, rng));
            }
        }
        out.insert(
            name.clone(),
            Tensor {
                axes: s.axes.clone(),
                data,
            },
        );
    }
    out
}

/// `Some(true)` when every assumption definitely holds at every position,
/// `Some(false)` when one definitely fails somewhere, `None` when undecided.
fn assumptions_hold(ev: &mut Evaluator, assumptions: &[Assumption]) -> Option<bool> {
    let mut undecided = false;
    for a in assumptions {
        let points = match ev.eval_all(&a.expr) {
            Ok(p) => p,
            Err(_) => {
                undecided = true;
                continue;
            }
        };
        for (_, v) in points {
            match v.holds(a.rel) {
                Some(true) => {}
                Some(false) => return Some(false),
                None => undecided = true,
            }
        }
    }
    if undecided {
        None
    } else {
        Some(true)
    }
}

fn free_axes(stmt: &Statement) -> Vec<String> {
    let mut f = stmt.lhs.free_axes();
    f.extend(stmt.rhs.free_axes());
    f.into_iter().collect()
}

enum Compare {
    Differ(Box<(BTreeMap<String, usize>, Value, Value)>),
    Equal,
    Undecided,
}

fn compare(ev: &mut Evaluator, stmt: &Statement, env: &Env) -> Compare {
    let Ok(points) = assignments(&free_axes(stmt), &env.sizes, DEFAULT_BUDGET) else {
        return Compare::Undecided;
    };
    let mut undecided = false;
    for idx in points {
        let l = ev.eval(&stmt.lhs, &idx);
        let r = ev.eval(&stmt.rhs, &idx);
        match (l, r) {
            (Ok(l), Ok(r)) => {
                if l.definitely_ne(&r) {
                    return Compare::Differ(Box::new((idx, l, r)));
                }
                if !l.definitely_eq(&r) {
                    undecided = true;
                }
            }
            (Err(EvalError::TooLarge(_)), _) | (_, Err(EvalError::TooLarge(_))) => {
                return Compare::Undecided;
            }
            _ => undecided = true,
        }
    }
    if undecided {
        Compare::Undecided
    } else {
        Compare::Equal
    }
}

/// Evaluation work one counterexample search may spend over all its
/// samples (each also stops at [`DEFAULT_BUDGET`]).
const TOTAL_BUDGET: u64 = 8 * DEFAULT_BUDGET;

/// A statement over defined names, with the definitions (in dependency
/// order) that give the names their meaning.
#[derive(Clone, Copy)]
pub struct Program<'a> {
    pub stmt: &'a Statement,
    pub assumptions: &'a [Assumption],
    pub definitions: &'a [(Symbol, Expr)],
}

/// What a sample is evaluated against: the inlined statement, and where
/// one is given the same statement as a program, whose definitions are
/// evaluated once per sample instead of once per use. A name's values are
/// those its inlined body evaluates to, so both give the same verdict;
/// should a definition fail to evaluate (at a position the statement might
/// not need), the sample falls back to the inlined statement.
struct Target<'a> {
    stmt: &'a Statement,
    assumptions: &'a [Assumption],
    program: Option<Program<'a>>,
}

impl Target<'_> {
    /// Whether the assumptions hold at `env` and, when they do, how the
    /// sides compare; with the evaluation work spent.
    fn sample(&self, env: &Env, limits: Limits) -> (Option<bool>, Option<Compare>, u64) {
        let mut spent = 0;
        if let Some(p) = &self.program {
            let mut ev = Evaluator::with_limits(env, limits.clone());
            if bind(&mut ev, p.definitions).is_ok() {
                let held = assumptions_hold(&mut ev, p.assumptions);
                let verdict = (held == Some(true)).then(|| compare(&mut ev, p.stmt, env));
                return (held, verdict, ev.steps());
            }
            spent = ev.steps();
        }
        let limits = Limits {
            budget: limits.budget.saturating_sub(spent),
            deadline: limits.deadline,
        };
        let mut ev = Evaluator::with_limits(env, limits);
        let held = assumptions_hold(&mut ev, self.assumptions);
        let verdict = (held == Some(true)).then(|| compare(&mut ev, self.stmt, env));
        (held, verdict, spent + ev.steps())
    }
}

/// Binds every definition at every position of its axes, in order.
fn bind(ev: &mut Evaluator, definitions: &[(Symbol, Expr)]) -> Result<(), EvalError> {
    for (s, body) in definitions {
        let values = ev.eval_over(body, &s.axes)?;
        ev.bind(&s.name, s.axes.clone(), values);
    }
    Ok(())
}

/// The definitions `program` reaches from its statement and assumptions,
/// in their order.
fn reached<'a>(program: &Program<'a>) -> Vec<(Symbol, Expr)> {
    let mut want = BTreeSet::new();
    program.stmt.lhs.symbols(&mut want);
    program.stmt.rhs.symbols(&mut want);
    for a in program.assumptions {
        a.expr.symbols(&mut want);
    }
    let mut keep = vec![false; program.definitions.len()];
    for (k, (s, body)) in program.definitions.iter().enumerate().rev() {
        if want.iter().any(|w| w.name == s.name) {
            keep[k] = true;
            body.symbols(&mut want);
        }
    }
    program
        .definitions
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(d, _)| d.clone())
        .collect()
}

/// Searches for a counterexample to `stmt` under `assumptions`.
pub fn refute(stmt: &Statement, assumptions: &[Assumption], opts: &RefuteOptions) -> RefuteOutcome {
    refute_program(stmt, assumptions, None, opts)
}

/// [`refute`] for `stmt` and `assumptions`, the inlining of `program`:
/// samples are drawn for the inlined statement's symbols and evaluated
/// through the program's definitions, once each; a counterexample is
/// double-checked against the inlined statement.
pub fn refute_program(
    stmt: &Statement,
    assumptions: &[Assumption],
    program: Option<Program>,
    opts: &RefuteOptions,
) -> RefuteOutcome {
    let definitions = program.as_ref().map(reached).unwrap_or_default();
    let target = Target {
        stmt,
        assumptions,
        program: program.map(|p| Program {
            definitions: &definitions,
            ..p
        }),
    };
    let axes = statement_axes(stmt, assumptions);
    let syms = statement_symbols(stmt, assumptions);
    let bias = biases(assumptions);
    let max = opts.max_axis_size.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (mut tried, mut skipped) = (0usize, 0usize);
    let max_draws = opts.samples.saturating_mul(4);
    let mut draw = 0usize;
    // One budget for the whole search as well as one per sample: a
    // statement too large to evaluate would otherwise spend a full budget
    // on every sample.
    let mut total = TOTAL_BUDGET;
    while tried + skipped < opts.samples && draw < max_draws && total > 0 {
        if opts.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let sizes = shrink(draw_sizes(draw, &axes, max, &mut rng));
        draw += 1;
        let values = draw_values(&syms, &sizes, &bias, &mut rng);
        let env = Env { sizes, values };
        let limits = Limits {
            budget: DEFAULT_BUDGET.min(total),
            deadline: opts.deadline,
        };
        let (held, verdict, steps) = target.sample(&env, limits);
        total = total.saturating_sub(steps.max(1));
        match (held, verdict) {
            (Some(false), _) => {}
            (None, _) | (_, None) => skipped += 1,
            (_, Some(Compare::Equal)) => tried += 1,
            (_, Some(Compare::Undecided)) => skipped += 1,
            (_, Some(Compare::Differ(found))) => {
                let (index, lhs, rhs) = *found;
                let cx = Counterexample {
                    sizes: env.sizes,
                    values: env.values,
                    index,
                    lhs,
                    rhs,
                };
                if check_counterexample(stmt, assumptions, &cx) {
                    return RefuteOutcome::Refuted(simplest(&target, cx, opts.deadline));
                }
                skipped += 1;
            }
        }
    }
    RefuteOutcome::NotFound { tried, skipped }
}

/// Node evaluations [`simplest`] may spend looking for a simpler
/// counterexample (a work budget, not a time limit, so the result does not
/// depend on the machine).
const SIMPLIFY_BUDGET: u64 = 40_000;

/// [`simplest`] spends at most this many times the work of evaluating the
/// sample it starts from.
const SIMPLIFY_TRIES: u64 = 64;

/// Replacement values tried for an entry, simplest first: small integers,
/// then squares of simple rationals (under which square roots stay exact).
fn simple_values() -> Vec<Rat> {
    [
        (0, 1),
        (1, 1),
        (-1, 1),
        (2, 1),
        (-2, 1),
        (4, 1),
        (1, 4),
        (1, 2),
        (3, 4),
        (3, 1),
        (-3, 1),
        (9, 1),
        (9, 4),
        (1, 9),
    ]
    .iter()
    .map(|&(p, q)| rat(p, q))
    .collect()
}

/// How hard a value is to read: numerator and denominator, a sign.
fn complexity(r: &Rat) -> u64 {
    let size = |b: &BigInt| -> u64 { b.abs().try_into().unwrap_or(u64::MAX / 4).min(u64::MAX / 4) };
    2 * (size(r.numer()) + size(r.denom())) + u64::from(r.is_negative())
}

/// What makes a counterexample harder to read, compared lexicographically:
/// sides known only by enclosures, then larger axis sizes, then more
/// complex values.
fn score(cx: &Counterexample) -> (usize, usize, u64) {
    let inexact = usize::from(!cx.lhs.is_exact()) + usize::from(!cx.rhs.is_exact());
    let sizes = cx.sizes.values().sum();
    let values = cx
        .values
        .values()
        .flat_map(|t| t.data.iter())
        .map(complexity)
        .fold(0u64, u64::saturating_add);
    (inexact, sizes, values)
}

/// `t` (row-major over its sorted axes at `sizes`) cut to its first `n`
/// positions along `axis`.
fn slice(t: &Tensor, sizes: &BTreeMap<String, usize>, axis: &str, n: usize) -> Tensor {
    let Some(k) = t.axes.iter().position(|a| a == axis) else {
        return t.clone();
    };
    let dims: Vec<usize> = t
        .axes
        .iter()
        .map(|a| sizes.get(a).copied().unwrap_or(1))
        .collect();
    let mut idx = vec![0usize; dims.len()];
    let mut data = Vec::new();
    for v in &t.data {
        if idx[k] < n {
            data.push(v.clone());
        }
        for j in (0..idx.len()).rev() {
            idx[j] += 1;
            if idx[j] < dims[j] {
                break;
            }
            idx[j] = 0;
        }
    }
    Tensor {
        axes: t.axes.clone(),
        data,
    }
}

/// The counterexample at `env`, when every assumption holds there and the
/// sides differ (not yet double-checked); `budget` is charged the work.
fn refutes_at(
    target: &Target,
    env: Env,
    budget: &mut u64,
    deadline: Option<Instant>,
) -> Option<Counterexample> {
    let limits = Limits {
        budget: *budget,
        deadline,
    };
    let (_, found, steps) = target.sample(&env, limits);
    *budget = budget.saturating_sub(steps.max(1));
    match found {
        Some(Compare::Differ(found)) => {
            let (index, lhs, rhs) = *found;
            Some(Counterexample {
                sizes: env.sizes,
                values: env.values,
                index,
                lhs,
                rhs,
            })
        }
        _ => None,
    }
}

/// A simpler counterexample than `cx` where one is found within
/// its budget: both sides exact where a constant makes the square roots
/// exact, then the smallest axis sizes, then small integers, tried one
/// change at a time (a smaller size, one entry set to a simple value). The
/// result is double-checked by [`check_counterexample`] like any other;
/// should that fail, `cx` itself (already checked) is returned.
fn simplest(target: &Target, cx: Counterexample, deadline: Option<Instant>) -> Counterexample {
    let (stmt, assumptions) = (target.stmt, target.assumptions);
    // At most the work of SIMPLIFY_TRIES evaluations of the sample found
    // (smaller samples cost less, so more of them are tried).
    let mut probe = SIMPLIFY_BUDGET;
    let _ = refutes_at(target, cx.env(), &mut probe, deadline);
    let one = SIMPLIFY_BUDGET - probe;
    let mut budget = SIMPLIFY_BUDGET.min(one.saturating_mul(SIMPLIFY_TRIES));
    let mut best = cx.clone();
    let mut best_score = score(&best);
    let simple = simple_values();
    let mut improved = true;
    while improved && budget > 0 {
        improved = false;
        let mut consider = |cand: Env, best: &mut Counterexample, best_score: &mut _| {
            if let Some(c) = refutes_at(target, cand, &mut budget, deadline) {
                let s = score(&c);
                if s < *best_score {
                    *best = c;
                    *best_score = s;
                    return true;
                }
            }
            false
        };
        // Smaller axis sizes, smallest first.
        let axes: Vec<String> = best.sizes.keys().cloned().collect();
        for a in &axes {
            let now = best.sizes[a];
            for n in 1..now {
                let mut sizes = best.sizes.clone();
                sizes.insert(a.clone(), n);
                let values = best
                    .values
                    .iter()
                    .map(|(k, t)| (k.clone(), slice(t, &best.sizes, a, n)))
                    .collect();
                if consider(Env { sizes, values }, &mut best, &mut best_score) {
                    improved = true;
                    break;
                }
            }
        }
        // Single entries set to simple values.
        let names: Vec<String> = best.values.keys().cloned().collect();
        for name in &names {
            for k in 0..best.values[name].data.len() {
                // Values simpler than the entry's; for a scalar, past it
                // while a side is still inexact (a constant such as ε can
                // make a root exact: var + ε a square).
                let scalar = best.values[name].axes.is_empty();
                let mut past = false;
                for v in &simple {
                    let now = &best.values[name].data[k];
                    if now == v {
                        past = true;
                        continue;
                    }
                    if past && (best_score.0 == 0 || !scalar) {
                        break;
                    }
                    let mut values = best.values.clone();
                    if let Some(t) = values.get_mut(name) {
                        t.data[k] = v.clone();
                    }
                    let env = Env {
                        sizes: best.sizes.clone(),
                        values,
                    };
                    if consider(env, &mut best, &mut best_score) {
                        improved = true;
                        break;
                    }
                }
            }
        }
    }
    if best != cx && check_counterexample(stmt, assumptions, &best) {
        best
    } else {
        cx
    }
}

/// Re-evaluates a counterexample from scratch: true only when every axis of
/// the statement and assumptions has a size of at least 1, every assumption
/// definitely holds at every position, and the two sides definitely differ
/// at the stated position.
pub fn check_counterexample(
    stmt: &Statement,
    assumptions: &[Assumption],
    cx: &Counterexample,
) -> bool {
    for a in statement_axes(stmt, assumptions) {
        match cx.sizes.get(&a) {
            Some(&n) if n >= 1 => {}
            _ => return false,
        }
    }
    for a in free_axes(stmt) {
        match (cx.index.get(&a), cx.sizes.get(&a)) {
            (Some(i), Some(n)) if i < n => {}
            _ => return false,
        }
    }
    let env = cx.env();
    let mut ev = Evaluator::new(&env);
    if assumptions_hold(&mut ev, assumptions) != Some(true) {
        return false;
    }
    let mut ev = Evaluator::new(&env);
    match (ev.eval(&stmt.lhs, &cx.index), ev.eval(&stmt.rhs, &cx.index)) {
        (Ok(l), Ok(r)) => l.definitely_ne(&r),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counterexamples_show_arrays_in_declared_axis_order() {
        let q = |n: i64| Rat::from_integer(n.into());
        let cx = Counterexample {
            sizes: BTreeMap::from([("c".to_string(), 2), ("n".to_string(), 3)]),
            // Stored sorted: x[c,n], c-major.
            values: BTreeMap::from([(
                "x".to_string(),
                Tensor {
                    axes: vec!["c".into(), "n".into()],
                    data: (0..6).map(q).collect(),
                },
            )]),
            index: BTreeMap::new(),
            lhs: Value::Exact(q(0)),
            rhs: Value::Exact(q(1)),
        };
        let order = BTreeMap::from([("x".to_string(), vec!["n".to_string(), "c".to_string()])]);
        let shown = cx.in_order(&order, &[]);
        let x = &shown.values["x"];
        assert_eq!(x.axes, vec!["n", "c"]);
        // x[n,c] = x_sorted[c,n]: n-major over (0..3) × (0..2).
        assert_eq!(x.data, vec![q(0), q(3), q(1), q(4), q(2), q(5)]);
        // No order given: the `axis` lines' order.
        let by_axes = cx.in_order(&BTreeMap::new(), &["n".to_string(), "c".to_string()]);
        assert_eq!(by_axes.values["x"].data, x.data);
    }

    use super::*;
    use crate::ir::RedOp::{Mean, Sum, Var};
    use proptest::prelude::*;

    fn x(name: &str) -> Expr {
        Expr::sym(name, &["i"])
    }
    fn s(name: &str) -> Expr {
        Expr::sym(name, &[])
    }
    fn mean(e: Expr) -> Expr {
        Expr::reduce(Mean, &["i"], e)
    }
    fn var(e: Expr) -> Expr {
        Expr::reduce(Var, &["i"], e)
    }
    fn st(lhs: Expr, rhs: Expr) -> Statement {
        Statement { lhs, rhs }
    }
    fn gt(e: Expr) -> Assumption {
        Assumption {
            expr: e,
            rel: Rel::Gt,
        }
    }
    fn ge(e: Expr) -> Assumption {
        Assumption {
            expr: e,
            rel: Rel::Ge,
        }
    }
    fn ne(e: Expr) -> Assumption {
        Assumption {
            expr: e,
            rel: Rel::Ne,
        }
    }

    fn refuted(stmt: &Statement, asm: &[Assumption]) -> Counterexample {
        match refute(stmt, asm, &RefuteOptions::default()) {
            RefuteOutcome::Refuted(cx) => {
                assert!(check_counterexample(stmt, asm, &cx));
                assert!(cx.lhs.definitely_ne(&cx.rhs));
                cx
            }
            other => panic!("not refuted: {stmt:?}: {other:?}"),
        }
    }

    fn not_refuted(stmt: &Statement, asm: &[Assumption]) -> (usize, usize) {
        match refute(stmt, asm, &RefuteOptions::default()) {
            RefuteOutcome::NotFound { tried, skipped } => (tried, skipped),
            RefuteOutcome::Refuted(cx) => panic!("true statement refuted: {stmt:?}: {cx:?}"),
        }
    }

    /// `(a x - mean(a x)) / sqrt(var(a x) + k)`
    fn bn(scale: Expr, k: Expr) -> Expr {
        let ax = Expr::mul(scale, x("x"));
        Expr::div(
            Expr::sub(ax.clone(), mean(ax.clone())),
            Expr::sqrt(Expr::add(var(ax), k)),
        )
    }

    fn plain_bn() -> Expr {
        Expr::div(
            Expr::sub(x("x"), mean(x("x"))),
            Expr::sqrt(Expr::add(var(x("x")), s("eps"))),
        )
    }

    #[test]
    fn refutes_false_statements() {
        refuted(
            &st(
                mean(Expr::mul(x("x"), x("y"))),
                Expr::mul(mean(x("x")), mean(x("y"))),
            ),
            &[],
        );
        let cx = refuted(&st(Expr::div(s("x"), s("x")), Expr::num(1)), &[]);
        assert!(cx.values["x"].data[0].is_zero());
        let cx = refuted(
            &st(Expr::sqrt(Expr::pow(s("a"), Expr::num(2))), s("a")),
            &[],
        );
        assert!(cx.values["a"].data[0].is_negative());
        let b_d = Expr::add(s("b"), x("d"));
        let lhs = Expr::sub(Expr::add(x("u"), b_d.clone()), mean(Expr::add(x("u"), b_d)));
        let rhs = Expr::sub(Expr::add(x("u"), s("b")), mean(Expr::add(x("u"), s("b"))));
        refuted(&st(lhs, rhs), &[]);
        refuted(
            &st(Expr::reduce(Sum, &["i"], Expr::num(1)), Expr::num(3)),
            &[],
        );
    }

    #[test]
    fn refutes_with_irrational_roots() {
        let asm = [gt(s("a")), gt(s("eps"))];
        let cx = refuted(&st(bn(s("a"), s("eps")), plain_bn()), &asm);
        // a counterexample that breaks an assumption fails the double check
        let mut bad = cx.clone();
        bad.values.insert("eps".into(), Tensor::scalar(Rat::zero()));
        assert!(!check_counterexample(
            &st(bn(s("a"), s("eps")), plain_bn()),
            &asm,
            &bad
        ));
    }

    #[test]
    fn counterexamples_are_the_smallest_and_simplest_found() {
        // x[i] = mean(x) needs two positions; values 0 and 1 suffice.
        let cx = refuted(&st(x("x"), mean(x("x"))), &[]);
        assert_eq!(cx.sizes["i"], 2);
        let simple = |r: &Rat| r.is_integer() && r.abs() <= Rat::from_integer(BigInt::from(1));
        assert!(cx.values["x"].data.iter().all(simple), "{cx:?}");
        // Exact sides where values make the root exact: sqrt(a^2 + b) = a
        // under b > 0 is refuted with a perfect square a^2 + b.
        let lhs = Expr::sqrt(Expr::add(Expr::pow(s("a"), Expr::num(2)), s("b")));
        let cx = refuted(&st(lhs, s("a")), &[gt(s("b"))]);
        assert!(cx.lhs.is_exact() && cx.rhs.is_exact(), "{cx:?}");
        // The layer-norm shape: one size per axis where one suffices.
        let cx = refuted(&st(Expr::add(x("x"), s("c")), x("x")), &[]);
        assert_eq!(cx.sizes["i"], 1);
        assert_eq!(
            cx.values["c"].data,
            vec![Rat::from_integer(BigInt::from(1))]
        );
    }

    #[test]
    fn does_not_refute_true_statements() {
        not_refuted(
            &st(mean(Expr::sub(x("x"), mean(x("x")))), Expr::num(0)),
            &[],
        );
        let sq = Expr::sqrt(Expr::pow(s("a"), Expr::num(2)));
        let (tried, _) = not_refuted(&st(sq, s("a")), &[ge(s("a"))]);
        assert!(tried > 100);
        let (tried, _) = not_refuted(&st(Expr::div(s("x"), s("x")), Expr::num(1)), &[ne(s("x"))]);
        assert!(tried > 100);
        not_refuted(&st(var(Expr::add(x("x"), s("c"))), var(x("x"))), &[]);
        let a2eps = Expr::mul(Expr::pow(s("a"), Expr::num(2)), s("eps"));
        let (tried, skipped) = not_refuted(
            &st(bn(s("a"), a2eps), plain_bn()),
            &[gt(s("a")), gt(s("eps"))],
        );
        assert!(tried + skipped >= 300);
        let two = Expr::mul(Expr::sqrt(Expr::num(2)), Expr::sqrt(Expr::num(2)));
        let (tried, skipped) = not_refuted(&st(two, Expr::num(2)), &[]);
        assert_eq!(tried, 0);
        assert!(skipped > 0);
        not_refuted(
            &st(
                Expr::reduce(Sum, &["i"], Expr::num(1)),
                Expr::reduce(Sum, &["i"], Expr::num(1)),
            ),
            &[],
        );
    }

    #[test]
    fn assumptions_hold_at_every_position() {
        let sq = Expr::sqrt(Expr::pow(x("x"), Expr::num(2)));
        let stmt = st(sq, x("x"));
        let (tried, _) = not_refuted(&stmt, &[ge(x("x"))]);
        assert!(tried > 100);
        // a mean that is positive does not make every entry non-negative
        let cx = refuted(&stmt, &[gt(mean(x("x")))]);
        assert!(cx.values["x"].data.iter().any(|v| v.is_negative()));
        // x[i]/x[i] = 1 under x[i] != 0
        let stmt = st(Expr::div(x("x"), x("x")), Expr::num(1));
        not_refuted(&stmt, &[ne(x("x"))]);
        refuted(&stmt, &[]);
        // var > 0 only excludes constant tensors, not the statement
        let stmt = st(var(x("x")), Expr::num(0));
        refuted(&stmt, &[]);
        let (tried, skipped) = not_refuted(&st(var(x("x")), var(x("x"))), &[gt(var(x("x")))]);
        assert!(tried > 100 && skipped == 0);
    }

    #[test]
    fn intervals_decide_close_irrational_values() {
        // sqrt(2) differs from this 16-digit decimal only after 1e-16
        let approx = Expr::Num(Rat::new(
            BigInt::from(1414213562373095i64),
            BigInt::from(1000000000000000i64),
        ));
        let cx = refuted(&st(Expr::sqrt(Expr::num(2)), approx), &[]);
        assert!(!cx.lhs.is_exact());
        assert!(cx.lhs.to_string().contains('≈'));
        // cube roots: (2^(1/3))^3 = 2 is never refuted
        let c = Expr::pow(Expr::pow(Expr::num(2), Expr::rat(1, 3)), Expr::num(3));
        not_refuted(&st(c, Expr::num(2)), &[]);
        // sqrt(a)^2 = a under a >= 0, with irrational roots of random values
        let e = Expr::pow(Expr::sqrt(s("a")), Expr::num(2));
        not_refuted(&st(e.clone(), s("a")), &[ge(s("a"))]);
        // ... and refuted without the assumption
        refuted(&st(e, s("a")), &[]);
    }

    #[test]
    fn a_program_is_refuted_as_its_inlining_is() {
        use crate::syntax::parse_expr;
        let p = |src: &str| parse_expr(src).unwrap();
        let defs = vec![
            (Symbol::new("mu", [""; 0]), p("mean[n](x[n])")),
            (Symbol::new("var", [""; 0]), p("mean[n]((x[n] - mu)^2)")),
            (
                Symbol::new("xhat", ["n"]),
                p("(x[n] - mu) / sqrt(var + eps)"),
            ),
            // Not reached by any statement below.
            (Symbol::new("junk", ["k"]), p("1 / (y[k] - y[k])")),
        ];
        let eps = Assumption {
            expr: p("eps"),
            rel: Rel::Gt,
        };
        let var = Assumption {
            expr: p("var"),
            rel: Rel::Gt,
        };
        let cases = [
            (
                "sum[n](xhat[n] * xhat[n])",
                "sum[n](1)",
                vec![eps.clone()],
                false,
            ),
            (
                "sum[n](xhat[n] * x[n])",
                "0",
                vec![eps.clone(), var.clone()],
                false,
            ),
            ("sum[n](xhat[n])", "0", vec![eps.clone()], true),
            (
                "mean[n](xhat[n] * xhat[n])",
                "var / (var + eps)",
                vec![eps],
                true,
            ),
        ];
        for (l, r, asm, holds) in cases {
            let (inlined, inlined_asm) = crate::diff::inline_statement(&p(l), &p(r), &asm, &defs);
            let named = st(p(l), p(r));
            let program = Program {
                stmt: &named,
                assumptions: &asm,
                definitions: &defs,
            };
            let opts = RefuteOptions::default();
            let through = refute_program(&inlined, &inlined_asm, Some(program), &opts);
            let plain = refute(&inlined, &inlined_asm, &opts);
            match (&through, holds) {
                (RefuteOutcome::Refuted(cx), false) => {
                    assert!(check_counterexample(&inlined, &inlined_asm, cx));
                    assert_eq!(through, plain, "{l} = {r}");
                }
                (RefuteOutcome::NotFound { tried, .. }, true) => {
                    assert!(*tried > 0, "{l} = {r}");
                    assert!(matches!(plain, RefuteOutcome::NotFound { .. }), "{l} = {r}");
                }
                _ => panic!("{l} = {r}: {through:?}"),
            }
        }
    }

    #[test]
    fn deterministic_and_deadline() {
        let stmt = st(
            mean(Expr::mul(x("x"), x("y"))),
            Expr::mul(mean(x("x")), mean(x("y"))),
        );
        let o = RefuteOptions {
            seed: 7,
            ..RefuteOptions::default()
        };
        assert_eq!(refute(&stmt, &[], &o), refute(&stmt, &[], &o));
        let o = RefuteOptions {
            deadline: Some(Instant::now()),
            ..RefuteOptions::default()
        };
        assert_eq!(
            refute(&stmt, &[], &o),
            RefuteOutcome::NotFound {
                tried: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn check_rejects_bad_counterexamples() {
        let stmt = st(Expr::div(s("x"), s("x")), Expr::num(1));
        let mut cx = refuted(&stmt, &[]);
        assert!(!check_counterexample(&stmt, &[ne(s("x"))], &cx));
        cx.values.insert(
            "x".into(),
            Tensor::scalar(Rat::from_integer(BigInt::from(2))),
        );
        assert!(!check_counterexample(&stmt, &[], &cx));
        // sizes must be at least 1 and the index in range
        let stmt = st(x("x"), mean(x("x")));
        let cx = refuted(&stmt, &[]);
        let mut bad = cx.clone();
        bad.index.insert("i".into(), 99);
        assert!(!check_counterexample(&stmt, &[], &bad));
        let mut bad = cx;
        bad.index.clear();
        assert!(!check_counterexample(&stmt, &[], &bad));
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            Just(x("x")),
            Just(x("y")),
            Just(s("a")),
            Just(s("b")),
            (-2i64..=2).prop_map(Expr::num),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(Expr::neg),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::add(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::sub(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::mul(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::div(a, b)),
                inner.clone().prop_map(Expr::sqrt),
                (
                    inner.clone(),
                    prop_oneof![
                        Just((2, 1)),
                        Just((-1, 1)),
                        Just((1, 2)),
                        Just((3, 2)),
                        Just((-1, 3))
                    ]
                )
                    .prop_map(|(a, (p, q))| Expr::pow(a, Expr::rat(p, q))),
                inner.clone().prop_map(mean),
                inner.clone().prop_map(var),
                inner.prop_map(|e| Expr::reduce(Sum, &["i"], e)),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn reflexive_statements_are_never_refuted(e in expr(), seed in 0u64..1000) {
            let o = RefuteOptions { seed, samples: 40, ..RefuteOptions::default() };
            let stmt = st(e.clone(), e.clone());
            let outcome = refute(&stmt, &[], &o);
            let not_found = matches!(outcome, RefuteOutcome::NotFound { .. });
            prop_assert!(not_found, "e = e refuted: {:?}", outcome);
            let stmt1 = st(e.clone(), Expr::add(e, Expr::num(1)));
            if let RefuteOutcome::Refuted(cx) = refute(&stmt1, &[], &o) {
                prop_assert!(check_counterexample(&stmt1, &[], &cx));
            }
        }
    }
}

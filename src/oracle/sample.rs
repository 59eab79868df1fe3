//! Samples for the oracles: exact rational samples whose square roots are
//! all rational, and `f64` samples for finite differences.
//!
//! Exact samples. Inputs and parameters get random small rationals; every
//! scalar constant that feeds a radicand (an argument of `sqrt` or the base
//! of a non-integer power), such as `eps`, is the "epsilon" of the model.
//!
//! * One statistic (a single radicand with no free axes, affine in one such
//!   constant `c` with a positive coefficient `k`: `R = V + k c`): pick a
//!   rational `s` with `s² > V` and set `c = (s² − V) / k > 0`.
//! * Otherwise (rows sharing one constant, as in batchnorm2d or layernorm):
//!   set the constant to `1/100` and make each row's radicand a square by
//!   scaling the row's inputs. For a row (an assignment of the radicand's
//!   free axes) the entries of the inputs and parameters feeding the
//!   radicand that agree with the row are scaled by `a`; the radicand is
//!   measured at `a = 0, 1, −1, 2`. When it is `R(a) = a² V + e²` (the
//!   variance case), a rational point on the conic `a² V + e² = s²` is
//!   `a = 2 e t / (V − t²)`, `s = e + t a` for any rational `t ≠ 0` with
//!   `t² ≠ V` (with `e = 1/10` this is the spec's `a = t / (5 (V − t²))`,
//!   `s = 1/10 + t a`). Indeed `s² = e² + 2 e t a + t² a²` and
//!   `2 e t a = a² (V − t²)`, so `s² = e² + a² V`. When it is
//!   `R(a) = a V + E` (a running variance), `a = (s² − E) / V` for a
//!   rational `s` with `s² > E`. Every row is re-evaluated after scaling
//!   and must be the expected square.
//!
//! Finally every definition must evaluate exactly and every assumption of
//! the model must hold (checked with [`crate::eval`]); otherwise the sample
//! is redrawn (a few times) before giving up. A sample on a kink of `abs`,
//! `max`, `min` or `log` (with every input and parameter moving) is
//! redrawn too, and kept only when every draw lands on one.
//!
//! Interval samples ([`interval_sample`]), for models with no rational
//! sample (`exp`, `log`, roots that cannot be made rational): the same
//! random draw without the squaring of radicands; the definitions must
//! evaluate over enclosures with no kink and the assumptions must hold.

use super::fd::{EnvF64, TensorF64};
use super::forward::{count, offset, Coef, Forward, JetEval};
use super::interval::{bind_expr, Dual};
use super::jet::{exact_root, Jet};
use super::OracleError;
use crate::eval::{assignments, eval, Env, EvalError, Evaluator, Tensor};
use crate::ir::{Expr, Fun, Rat, Rel};
use crate::syntax::Model;
use num_bigint::BigInt;
use num_traits::{One, Signed, Zero};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// Redraws before giving up when assumptions fail.
const ATTEMPTS: u64 = 24;

/// The value scalar constants feeding a radicand get in the scaling mode.
fn eps_value() -> Rat {
    Rat::new(BigInt::from(1), BigInt::from(100))
}

/// Independent random streams from one seed. The sample, the directions
/// and the upstream gradient must not share a stream: with one stream the
/// upstream gradient repeated the inputs' draws (shifted), which left
/// `∂ℓ/∂x` of a batch norm close to zero and the checks weak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Inputs, parameters and constants of a sample.
    Sample = 0,
    /// Directions `v`, `w` and upstream gradients of the exact checks.
    Directions = 1,
    /// The f64 upstream gradient.
    Upstream = 2,
    /// The torch backend's direction `v`.
    Torch = 3,
}

/// The generator of `stream` for `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream as u64);
    r
}

/// A random nonzero small rational `±p/q`, `p ≤ 12`, `q ≤ 6`.
pub fn random_rat(rng: &mut impl Rng) -> Rat {
    let p: i64 = rng.gen_range(1..=12);
    let q: i64 = rng.gen_range(1..=6);
    let r = Rat::new(BigInt::from(p), BigInt::from(q));
    if rng.gen_bool(0.5) {
        -r
    } else {
        r
    }
}

/// A tensor over `axes` of random nonzero small rationals.
pub fn random_tensor(
    axes: &[String],
    sizes: &BTreeMap<String, usize>,
    rng: &mut impl Rng,
) -> Result<Tensor, OracleError> {
    let n = count(axes, sizes)?;
    if n as u64 > super::forward::BUDGET {
        return Err(OracleError::TooLarge("tensor too large".to_string()));
    }
    Ok(Tensor {
        axes: axes.to_vec(),
        data: (0..n).map(|_| random_rat(rng)).collect(),
    })
}

/// What the sampler knows about a model's names.
struct Names {
    /// Inputs and parameters with their axes.
    vars: Vec<(String, Vec<String>)>,
    /// Scalar constants (undeclared, undefined names).
    consts: BTreeSet<String>,
    /// Names assumed `> 0` or `>= 0` directly.
    positive: BTreeSet<String>,
    /// Base names (inputs, parameters, constants) each definition reads.
    def_deps: BTreeMap<String, BTreeSet<String>>,
}

impl Names {
    fn new(model: &Model) -> Self {
        let vars: Vec<(String, Vec<String>)> = model
            .inputs
            .iter()
            .chain(&model.params)
            .map(|s| (s.name.clone(), s.axes.clone()))
            .collect();
        let is_var = |n: &str| vars.iter().any(|(v, _)| v == n);
        let mut def_deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut consts = BTreeSet::new();
        let mut all = Vec::new();
        for (name, e) in &model.defs {
            let d = deps_with(e, &def_deps);
            for n in &d {
                if !is_var(n) {
                    consts.insert(n.clone());
                }
            }
            def_deps.insert(name.clone(), d);
            all.push(e);
        }
        let mut positive = BTreeSet::new();
        for a in &model.assumptions {
            for n in deps_with(&a.expr, &def_deps) {
                if !is_var(&n) {
                    consts.insert(n);
                }
            }
            if let Expr::Sym(s) = &a.expr {
                if matches!(a.rel, Rel::Gt | Rel::Ge) {
                    positive.insert(s.name.clone());
                }
            }
        }
        Names {
            vars,
            consts,
            positive,
            def_deps,
        }
    }
}

/// Base names `e` reads, looking through definitions.
fn deps_with(e: &Expr, def_deps: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut syms = BTreeSet::new();
    e.symbols(&mut syms);
    let mut out = BTreeSet::new();
    for s in syms {
        match def_deps.get(&s.name) {
            Some(d) => out.extend(d.iter().cloned()),
            None => {
                out.insert(s.name);
            }
        }
    }
    out
}

/// Radicands of `e`: arguments of `sqrt` and bases of non-integer powers.
fn radicands(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Sqrt(a) => out.push((**a).clone()),
        Expr::Pow(a, p) if p.const_value().is_none_or(|p| !p.is_integer()) => {
            out.push((**a).clone())
        }
        _ => {}
    }
    for c in e.children() {
        radicands(c, out);
    }
}

/// `env` with the definitions before `upto` evaluated (exactly) and bound.
fn with_defs(model: &Model, env: &Env, upto: usize) -> Result<Env, OracleError> {
    let mut ev = JetEval::new(env, &BTreeMap::new(), 0)?;
    for (name, e) in model.defs.iter().take(upto) {
        let t = ev.eval_tensor(e)?;
        ev.bind(name, e, t);
    }
    let mut out = env.clone();
    for (k, t) in ev.bound() {
        out.values.insert(k.clone(), t.values());
    }
    Ok(out)
}

/// The smallest `m/10` (`m >= 1`) whose square exceeds `v`.
fn root_above(v: &Rat) -> Rat {
    let m = if v.is_negative() {
        BigInt::one()
    } else {
        (v * Rat::from_integer(100.into()))
            .floor()
            .to_integer()
            .sqrt()
            + 1
    };
    Rat::new(m, BigInt::from(10))
}

/// One radicand at one row, with the entries feeding it.
struct Row<'m> {
    model: &'m Model,
    def: usize,
    radicand: &'m Expr,
    index: BTreeMap<String, usize>,
    feeds: Vec<(String, usize)>,
}

impl Row<'_> {
    fn value(&self, env: &Env) -> Result<Rat, OracleError> {
        let full = with_defs(self.model, env, self.def)?;
        let mut ev = JetEval::new(&full, &BTreeMap::new(), 0)?;
        Ok(ev.eval_at(self.radicand, &self.index)?.value().clone())
    }

    fn scaled(&self, env: &Env, a: &Rat) -> Env {
        let mut out = env.clone();
        for (name, i) in &self.feeds {
            if let Some(t) = out.values.get_mut(name) {
                t.data[*i] = &t.data[*i] * a;
            }
        }
        out
    }
}

fn irrational(radicand: &Expr, why: &str) -> OracleError {
    OracleError::Irrational(format!(
        "cannot make the radicand `{}` a rational square: {why}",
        crate::syntax::print(radicand)
    ))
}

/// Make one row's radicand a perfect square by scaling its feeding entries.
fn fix_row(row: &Row<'_>, env: &mut Env, rng: &mut impl Rng) -> Result<(), OracleError> {
    let r1 = row.value(env)?;
    if r1.is_negative() || exact_root(&r1, 2).is_some() {
        return Ok(());
    }
    if row.feeds.is_empty() {
        return Err(irrational(row.radicand, "it reads no input or parameter"));
    }
    let int = |n: i64| Rat::from_integer(n.into());
    let e0 = row.value(&row.scaled(env, &Rat::zero()))?;
    let rm = row.value(&row.scaled(env, &int(-1)))?;
    let r2 = row.value(&row.scaled(env, &int(2)))?;
    let v = &r1 - &e0;
    if v.is_zero() {
        return Err(irrational(
            row.radicand,
            "it does not change with the inputs",
        ));
    }
    let (a, s) = if rm == r1 && r2 == &e0 + &v * int(4) {
        // R(a) = a² V + e²: a rational point on the conic.
        let e = exact_root(&e0, 2)
            .filter(|e| e.is_positive())
            .ok_or_else(|| {
                irrational(row.radicand, "its constant part is not a positive square")
            })?;
        let t = loop {
            let t = random_rat(rng) / int(rng.gen_range(1..=4));
            if &t * &t != v {
                break t;
            }
        };
        let a = int(2) * &e * &t / (&v - &t * &t);
        let s = e + t * &a;
        (a, s)
    } else if r2 == &e0 + &v * int(2) {
        // R(a) = a V + E.
        let s = root_above(&e0) + Rat::new(rng.gen_range(0..=3).into(), 10.into());
        ((&s * &s - &e0) / &v, s)
    } else {
        return Err(irrational(
            row.radicand,
            "it is neither quadratic nor linear in the inputs of a row",
        ));
    };
    let new = row.scaled(env, &a);
    if row.value(&new)? != &s * &s {
        return Err(irrational(
            row.radicand,
            "scaling the row's inputs did not give a square",
        ));
    }
    *env = new;
    Ok(())
}

/// The entries of the inputs and parameters in `deps` that agree with the
/// row `index` on their shared axes.
fn feeding(
    names: &Names,
    deps: &BTreeSet<String>,
    index: &BTreeMap<String, usize>,
    sizes: &BTreeMap<String, usize>,
) -> Result<Vec<(String, usize)>, OracleError> {
    let mut out = Vec::new();
    for (name, axes) in &names.vars {
        if !deps.contains(name) {
            continue;
        }
        for p in assignments(axes, sizes, super::forward::BUDGET)? {
            if p.iter().all(|(a, i)| index.get(a).is_none_or(|j| j == i)) {
                out.push((name.clone(), offset(axes, sizes, &p)?.0));
            }
        }
    }
    Ok(out)
}

/// Try the one-statistic construction; `Ok(false)` when it does not apply.
fn fix_eps(
    model: &Model,
    def: usize,
    radicand: &Expr,
    eps: &str,
    env: &mut Env,
    rng: &mut impl Rng,
) -> Result<bool, OracleError> {
    let at = |env: &Env, c: Rat| -> Result<Rat, OracleError> {
        let mut e = env.clone();
        e.values.insert(eps.to_string(), Tensor::scalar(c));
        let row = Row {
            model,
            def,
            radicand,
            index: BTreeMap::new(),
            feeds: vec![],
        };
        row.value(&e)
    };
    let int = |n: i64| Rat::from_integer(n.into());
    let v = at(env, Rat::zero())?;
    let k = at(env, int(1))? - &v;
    if !k.is_positive() || at(env, int(2))? != &v + &k * int(2) {
        return Ok(false);
    }
    let s = root_above(&v) + Rat::new(rng.gen_range(0..=3).into(), 10.into());
    let c = (&s * &s - &v) / k;
    env.values.insert(eps.to_string(), Tensor::scalar(c));
    Ok(true)
}

/// Whether every assumption holds at every position.
fn assumptions_hold(model: &Model, env: &Env) -> Result<bool, OracleError> {
    let full = with_defs(model, env, model.defs.len())?;
    for a in &model.assumptions {
        let axes: Vec<String> = a.expr.free_axes().into_iter().collect();
        for p in assignments(&axes, &full.sizes, super::forward::BUDGET)? {
            if eval(&a.expr, &full, &p)?.holds(a.rel) != Some(true) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Radicands in definition order, without repeats, and the scalar
/// constants feeding them (the model's "epsilons").
fn radicands_of(model: &Model, names: &Names) -> (Vec<(usize, Expr)>, BTreeSet<String>) {
    let mut rads: Vec<(usize, Expr)> = Vec::new();
    for (i, (_, e)) in model.defs.iter().enumerate() {
        let mut out = Vec::new();
        radicands(e, &mut out);
        for r in out {
            if !rads.iter().any(|(_, q)| *q == r) {
                rads.push((i, r));
            }
        }
    }
    let eps: BTreeSet<String> = rads
        .iter()
        .flat_map(|(_, r)| deps_with(r, &names.def_deps))
        .filter(|n| names.consts.contains(n))
        .collect();
    (rads, eps)
}

/// Random small rationals for inputs, parameters and constants (those
/// feeding a radicand get [`eps_value`]); assumed-positive names positive.
fn draw(
    names: &Names,
    eps: &BTreeSet<String>,
    sizes: &BTreeMap<String, usize>,
    rng: &mut impl Rng,
) -> Result<Env, OracleError> {
    let mut env = Env {
        sizes: sizes.clone(),
        values: BTreeMap::new(),
    };
    for (name, axes) in &names.vars {
        let mut t = random_tensor(axes, sizes, rng)?;
        if names.positive.contains(name) {
            t.data.iter_mut().for_each(|x| *x = x.abs());
        }
        env.values.insert(name.clone(), t);
    }
    for c in &names.consts {
        let v = if eps.contains(c) {
            eps_value()
        } else {
            let v = random_rat(rng);
            if names.positive.contains(c) {
                v.abs()
            } else {
                v
            }
        };
        env.values.insert(c.clone(), Tensor::scalar(v));
    }
    Ok(env)
}

fn try_exact(
    model: &Model,
    names: &Names,
    sizes: &BTreeMap<String, usize>,
    rng: &mut impl Rng,
) -> Result<Env, OracleError> {
    let (rads, eps) = radicands_of(model, names);
    let mut env = draw(names, &eps, sizes, rng)?;
    let mut done = false;
    if let [(def, r)] = rads.as_slice() {
        let own: Vec<String> = deps_with(r, &names.def_deps)
            .into_iter()
            .filter(|n| eps.contains(n))
            .collect();
        if r.free_axes().is_empty() && own.len() == 1 {
            done = fix_eps(model, *def, r, &own[0], &mut env, rng)?;
        }
    }
    if !done {
        for _pass in 0..2 {
            for (def, r) in &rads {
                let deps = deps_with(r, &names.def_deps);
                let axes: Vec<String> = r.free_axes().into_iter().collect();
                for index in assignments(&axes, sizes, super::forward::BUDGET)? {
                    let feeds = feeding(names, &deps, &index, sizes)?;
                    let row = Row {
                        model,
                        def: *def,
                        radicand: r,
                        index,
                        feeds,
                    };
                    fix_row(&row, &mut env, rng)?;
                }
            }
        }
    }
    Ok(env)
}

/// The generator of one attempt at a sample.
fn attempt_rng(seed: u64, attempt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_add(attempt.wrapping_mul(0x9E37_79B9)))
}

/// An exact sample for `model` at the axis `sizes`: random small rationals
/// for inputs and parameters, constants chosen (or inputs scaled) so that
/// every square root in the definitions is rational, and every assumption
/// holds. Deterministic in `seed`.
pub fn exact_sample(
    model: &Model,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
) -> Result<Env, OracleError> {
    let names = Names::new(model);
    let kinks = model.defs.iter().any(|(_, e)| has_kink(e));
    let mut last = OracleError::Model("no attempt made".to_string());
    let mut on_kink = None;
    for attempt in 0..ATTEMPTS {
        let mut rng = attempt_rng(seed, attempt);
        let env = try_exact(model, &names, sizes, &mut rng)?;
        match with_defs(model, &env, model.defs.len()) {
            Ok(_) => {}
            Err(e @ (OracleError::Irrational(_) | OracleError::NotSmooth(_))) => {
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        }
        if assumptions_hold(model, &env)? {
            if kinks
                && matches!(
                    smooth::<Jet>(model, &names, &env),
                    Err(OracleError::NotSmooth(_))
                )
            {
                on_kink.get_or_insert(env);
                continue;
            }
            return Ok(env);
        }
        last = OracleError::Excluded(
            "the model's assumptions failed at every sample of this shape".to_string(),
        );
    }
    on_kink.ok_or(last)
}

/// Whether `e` applies `abs`, `max`, `min` or `log` (kinks a sample can
/// land on; `log` jumps at 0).
fn has_kink(e: &Expr) -> bool {
    matches!(e, Expr::App(Fun::Abs | Fun::Max | Fun::Min | Fun::Log, _))
        || e.children().iter().any(|c| has_kink(c))
}

/// The definitions evaluated with every input and parameter moving (along
/// ones), so that a kink of anything they feed is
/// [`OracleError::NotSmooth`].
fn smooth<C: Coef>(model: &Model, names: &Names, env: &Env) -> Result<(), OracleError> {
    let dirs: BTreeMap<String, Tensor> = names
        .vars
        .iter()
        .filter_map(|(n, _)| env.values.get(n).map(|t| (n.clone(), t)))
        .map(|(n, t)| {
            let ones = Tensor {
                axes: t.axes.clone(),
                data: vec![Rat::one(); t.data.len()],
            };
            (n, ones)
        })
        .collect();
    let mut ev = Forward::<C>::new(env, &dirs, 1)?;
    ev.run_defs(model)
}

/// Whether every assumption holds at every position, by enclosures (the
/// definitions bound as enclosures).
fn assumptions_hold_enclosed(model: &Model, env: &Env) -> Result<bool, OracleError> {
    let mut ev = Evaluator::new(env);
    for (name, e) in &model.defs {
        bind_expr(&mut ev, name, e)?;
    }
    for a in &model.assumptions {
        let axes: Vec<String> = a.expr.free_axes().into_iter().collect();
        for v in ev.eval_over(&a.expr, &axes)? {
            if v.holds(a.rel) != Some(true) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// A sample for the interval oracle: random small rationals as in
/// [`exact_sample`] (radicands not made squares), redrawn while a
/// definition sits on a kink or cannot be enclosed, or an assumption is
/// not certainly true. Deterministic in `seed`.
pub fn interval_sample(
    model: &Model,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
) -> Result<Env, OracleError> {
    let names = Names::new(model);
    let (_, eps) = radicands_of(model, &names);
    let mut last = OracleError::Model("no attempt made".to_string());
    for attempt in 0..ATTEMPTS {
        let mut rng = attempt_rng(seed, attempt);
        let env = draw(&names, &eps, sizes, &mut rng)?;
        match smooth::<Dual>(model, &names, &env) {
            Ok(()) => {}
            Err(
                e @ (OracleError::NotSmooth(_)
                | OracleError::Irrational(_)
                | OracleError::Eval(EvalError::Undefined(_))),
            ) => {
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        }
        match assumptions_hold_enclosed(model, &env) {
            Ok(true) => return Ok(env),
            Ok(false) => {
                last = OracleError::Excluded(
                    "the model's assumptions failed at every sample of this shape".to_string(),
                )
            }
            Err(e @ OracleError::Eval(EvalError::Undefined(_))) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// An `f64` sample: inputs and parameters uniform in `[-2, 2]` (`[0.5, 2]`
/// when assumed positive), constants feeding a radicand `1e-3`, other
/// constants like parameters; redrawn until the assumptions hold.
pub fn f64_sample(
    model: &Model,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
) -> Result<EnvF64, OracleError> {
    let names = Names::new(model);
    let mut rads = Vec::new();
    for (_, e) in &model.defs {
        radicands(e, &mut rads);
    }
    let eps: BTreeSet<String> = rads
        .iter()
        .flat_map(|r| deps_with(r, &names.def_deps))
        .collect();
    for attempt in 0..ATTEMPTS {
        let mut rng = attempt_rng(seed, attempt);
        let mut draw = |name: &str, n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| {
                    if names.positive.contains(name) {
                        rng.gen_range(0.5..2.0)
                    } else {
                        rng.gen_range(-2.0..2.0)
                    }
                })
                .collect()
        };
        let mut env = EnvF64 {
            sizes: sizes.clone(),
            values: BTreeMap::new(),
        };
        for (name, axes) in &names.vars {
            let n = count(axes, sizes)?;
            env.values.insert(
                name.clone(),
                TensorF64 {
                    axes: axes.clone(),
                    data: draw(name, n),
                },
            );
        }
        for c in &names.consts {
            let data = if eps.contains(c) {
                vec![1e-3]
            } else {
                draw(c, 1)
            };
            env.values
                .insert(c.clone(), TensorF64 { axes: vec![], data });
        }
        if super::fd::assumptions_hold_f64(model, &env)? {
            return Ok(env);
        }
    }
    Err(OracleError::Excluded(
        "the model's assumptions failed at every f64 sample of this shape".to_string(),
    ))
}

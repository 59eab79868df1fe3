//! Numeric gradient oracles, independent of the symbolic differentiation.
//!
//! Nothing here calls the derivation code: the model's forward pass is
//! evaluated afresh, over exact truncated Taylor series ([`jet`]) for the
//! exact oracle and over `f64` ([`fd`]) for central finite differences.
//!
//! * [`check_gradient`]: `⟨grad, v⟩ == d/dt ℓ(x + t v)` exactly, with
//!   `ℓ = Σ dy · y`, random `v` and `dy`, on a sample from
//!   [`sample::exact_sample`] (all square roots rational).
//! * [`check_hvp`]: a symbolic Hessian-vector product `H v` against the
//!   exact `wᵀ H v`, obtained by polarization of second derivatives along
//!   one direction: `wᵀ H v = (Q(v + w) − Q(v) − Q(w)) / 2` with
//!   `Q(u) = d²/dt² ℓ(x + t u)` from [`directional`] at order 2.
//! * [`check_second_order`]: the derivative of a gradient expression,
//!   `d/ds ⟨grad(x + s w), v⟩` (the gradient evaluated over jets), against
//!   the same `wᵀ H v`.
//! * [`directional`] gives `d^k ℓ/dt^k` for `k ≤ 3` (and beyond) along one
//!   direction; a symbolic third derivative `T` is checked as
//!   `T[v, v, v] == directional(.., 3)[2]`.
//! * [`fd::fd_check`]: central finite differences in `f64`.
//! * [`interval`]: where no sample keeps every value rational (`exp`,
//!   `log`, irrational roots), first-order checks over dual numbers of
//!   rigorous enclosures: tight overlapping enclosures pass, disjoint ones
//!   fail.

pub mod fd;
pub mod forward;
pub mod interval;
pub mod jet;
pub mod sample;

pub use forward::{def_values, directional, Coef, Forward, JetEval, JetTensor, Upstream};
pub use interval::{check_gradient_interval, Dual, IntervalCheck, Wrt};
pub use jet::Jet;
pub use sample::{exact_sample, f64_sample, interval_sample};

use crate::eval::{assignments, Env, EvalError, Evaluator, Tensor, Value};
use crate::ir::{Expr, Rat, Symbol};
use crate::syntax::Model;
use num_traits::Zero;
use std::collections::BTreeMap;

/// Why an oracle gave no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// The sample sits where the total semantics is not differentiable
    /// (a division by, or a root of, a quantity whose value is 0).
    #[error("not differentiable at the sample: {0}")]
    NotSmooth(String),
    /// No exact value: a root proven irrational, a value known only by an
    /// enclosure, or no sample with rational roots was found.
    // The message says whether irrationality is proven (a root of a
    // rational that is not a perfect power) or only not excluded (a value
    // known by an enclosure).
    #[error("no exact value: {0}")]
    Irrational(String),
    /// The model, the gradient expression or the inputs do not fit together.
    #[error("bad input: {0}")]
    Model(String),
    /// No sample of this shape satisfies the model's assumptions (an
    /// assumption such as `sum[n](1) - 1 > 0` excludes the shape): nothing
    /// to check there, not a mismatch.
    #[error("{0}")]
    Excluded(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("evaluation failed: {0}")]
    Eval(#[from] EvalError),
}

/// Result of an exact check: `lhs` from the candidate expression, `rhs`
/// from the jets; `equal` is exact equality (no tolerance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactCheck {
    pub lhs: Rat,
    pub rhs: Rat,
    pub equal: bool,
}

impl ExactCheck {
    pub fn new(lhs: Rat, rhs: Rat) -> Self {
        let equal = lhs == rhs;
        ExactCheck { lhs, rhs, equal }
    }
}

/// The axes of an input, parameter or bound constant named `name`.
pub fn axes_of(model: &Model, env: &Env, name: &str) -> Result<Vec<String>, OracleError> {
    if let Some(s) = model
        .inputs
        .iter()
        .chain(&model.params)
        .find(|s| s.name == name)
    {
        return Ok(s.axes.clone());
    }
    if model.defs.iter().any(|(n, _)| n == name) {
        return Err(OracleError::Model(format!(
            "`{name}` is a definition, not an input, parameter or constant"
        )));
    }
    env.values
        .get(name)
        .map(|t| t.axes.clone())
        .ok_or_else(|| OracleError::Model(format!("unknown name `{name}`")))
}

/// The name of the upstream gradient of the first output (`dy` for `y`).
pub fn upstream_name(model: &Model) -> Result<String, OracleError> {
    Ok(format!("d{}", forward::output_of(model)?.0))
}

/// `env` plus the exact values of every definition and the upstream
/// gradient `d<output>` of every output: the environment in which a
/// gradient expression is read.
pub fn gradient_env(model: &Model, env: &Env, dy: &Upstream) -> Result<Env, OracleError> {
    let mut out = env.clone();
    for (k, t) in def_values(model, env)? {
        out.values.insert(k, t);
    }
    bind_upstream(&mut out, dy);
    Ok(out)
}

/// Bind `d<output>` to each output's upstream gradient.
pub fn bind_upstream(env: &mut Env, dy: &Upstream) {
    for (out, t) in dy {
        env.values.insert(format!("d{out}"), t.clone());
    }
}

/// Evaluate the definitions of a derivation's program (adjoints, helpers;
/// each may use earlier ones) once each, in order, and bind them in `env`:
/// a gradient is read as a program, never inlined into a tree.
pub fn bind_program(env: &mut Env, program: &[(Symbol, Expr)]) -> Result<(), OracleError> {
    if program.is_empty() {
        return Ok(());
    }
    let mut ev = JetEval::new(env, &BTreeMap::new(), 0)?;
    for (s, e) in program {
        let t = ev.eval_tensor(e)?;
        ev.bind(&s.name, e, t);
    }
    let values: Vec<(String, Tensor)> = program
        .iter()
        .filter_map(|(s, _)| ev.get(&s.name).map(|t| (s.name.clone(), t.values())))
        .collect();
    env.values.extend(values);
    Ok(())
}

/// `Σ_positions e · v` over the positions of `v`, evaluated exactly with
/// [`crate::eval`]. The free axes of `e` must be among those of `v`.
pub fn inner_product(e: &Expr, env: &Env, v: &Tensor) -> Result<Rat, OracleError> {
    if let Some(a) = e.free_axes().iter().find(|a| !v.axes.contains(a)) {
        return Err(OracleError::Model(format!(
            "the expression varies along `{a}`, which the direction does not have"
        )));
    }
    let points = assignments(&v.axes, &env.sizes, forward::BUDGET)?;
    if points.len() != v.data.len() {
        return Err(OracleError::Model("direction has a wrong size".to_string()));
    }
    let mut ev = Evaluator::new(env);
    let mut acc = Rat::zero();
    for (p, vi) in points.iter().zip(&v.data) {
        if vi.is_zero() {
            continue;
        }
        match ev.eval(e, p)? {
            Value::Exact(r) => acc += r * vi,
            Value::Interval(..) => {
                return Err(OracleError::Irrational(
                    "the expression's value at the sample is known only by a rigorous enclosure"
                        .to_string(),
                ))
            }
        }
    }
    Ok(acc)
}

/// A random direction over `axes` and a random upstream gradient of every
/// output, drawn from `seed`: the same for the exact and interval checks.
pub(crate) fn direction_and_upstream(
    model: &Model,
    env: &Env,
    axes: &[String],
    seed: u64,
) -> Result<(Tensor, Upstream), OracleError> {
    let mut rng = sample::rng(seed, sample::Stream::Directions);
    let v = sample::random_tensor(axes, &env.sizes, &mut rng)?;
    let dy = forward::random_upstream(model, env, &mut rng)?;
    Ok((v, dy))
}

/// Check a candidate gradient `grad` of `ℓ = Σ dy · y` with respect to
/// `wrt` (an input, parameter or constant) exactly at `env`:
/// `⟨grad, v⟩ == d/dt ℓ(wrt + t v)` for a random direction `v` and a random
/// upstream gradient `dy` drawn from `seed`. `grad` may use the model's
/// inputs, parameters, constants, definitions, `d<output>` and the names
/// `program` defines.
pub fn check_gradient(
    model: &Model,
    program: &[(Symbol, Expr)],
    wrt: &str,
    grad: &Expr,
    env: &Env,
    seed: u64,
) -> Result<ExactCheck, OracleError> {
    let (v, dy) = direction_and_upstream(model, env, &axes_of(model, env, wrt)?, seed)?;
    let dirs = BTreeMap::from([(wrt.to_string(), v.clone())]);
    let rhs = directional(model, env, &dirs, &dy, 1)?.remove(0);
    let mut genv = gradient_env(model, env, &dy)?;
    bind_program(&mut genv, program)?;
    let lhs = inner_product(grad, &genv, &v)?;
    Ok(ExactCheck::new(lhs, rhs))
}

/// Check a candidate gradient with respect to a definition `def` (an
/// intermediate such as `var`) exactly: `⟨grad, v⟩ == d/dt ℓ` where the
/// forward pass is cut at `def` and its value moved by `t · v` (what
/// follows sees the move, what it is computed from does not).
pub fn check_gradient_of_definition(
    model: &Model,
    program: &[(Symbol, Expr)],
    def: &str,
    grad: &Expr,
    env: &Env,
    seed: u64,
) -> Result<ExactCheck, OracleError> {
    let values = def_values(model, env)?;
    let axes = &values
        .get(def)
        .ok_or_else(|| OracleError::Model(format!("`{def}` is not a definition")))?
        .axes;
    let (v, dy) = direction_and_upstream(model, env, axes, seed)?;
    let mut ev = JetEval::new(env, &BTreeMap::new(), 1)?;
    ev.run_defs_cut(model, Some((def, &v)))?;
    let rhs = forward::loss_jet(model, &ev, &dy)?
        .derivatives()
        .into_iter()
        .nth(1)
        .unwrap_or_else(Rat::zero);
    let mut genv = gradient_env(model, env, &dy)?;
    bind_program(&mut genv, program)?;
    let lhs = inner_product(grad, &genv, &v)?;
    Ok(ExactCheck::new(lhs, rhs))
}

/// `wᵀ H v` for the Hessian `H` of `ℓ = Σ dy · y` in `wrt`, by
/// polarization of exact second directional derivatives.
pub fn hessian_form(
    model: &Model,
    wrt: &str,
    env: &Env,
    dy: &Upstream,
    v: &Tensor,
    w: &Tensor,
) -> Result<Rat, OracleError> {
    let q = |u: &Tensor| -> Result<Rat, OracleError> {
        let dirs = BTreeMap::from([(wrt.to_string(), u.clone())]);
        Ok(directional(model, env, &dirs, dy, 2)?.remove(1))
    };
    let sum = Tensor {
        axes: v.axes.clone(),
        data: v.data.iter().zip(&w.data).map(|(a, b)| a + b).collect(),
    };
    let two = Rat::from_integer(2.into());
    Ok((q(&sum)? - q(v)? - q(w)?) / two)
}

/// Random directions `v`, `w` (axes of `wrt`), a random upstream `dy`, and
/// the exact `wᵀ H v` there: what both second-order checks compare against.
fn second_order_setup(
    model: &Model,
    wrt: &str,
    env: &Env,
    seed: u64,
) -> Result<(Tensor, Tensor, Upstream, Rat), OracleError> {
    let mut rng = sample::rng(seed, sample::Stream::Directions);
    let axes = axes_of(model, env, wrt)?;
    let v = sample::random_tensor(&axes, &env.sizes, &mut rng)?;
    let w = sample::random_tensor(&axes, &env.sizes, &mut rng)?;
    let dy = forward::random_upstream(model, env, &mut rng)?;
    let rhs = hessian_form(model, wrt, env, &dy, &v, &w)?;
    Ok((v, w, dy, rhs))
}

/// Check a symbolic Hessian-vector product: `hvp` is `H v` (with the axes
/// of `wrt`), written in the model's names, `d<output>` and a symbol named
/// `dir` with the axes of `wrt` standing for `v`, and the names `program`
/// defines (evaluated in order after `dir` is bound). Compares `⟨hvp, w⟩`
/// with the exact `wᵀ H v` for random `v`, `w`, `dy`.
pub fn check_hvp(
    model: &Model,
    wrt: &str,
    hvp: &Expr,
    dir: &str,
    program: &[(Symbol, Expr)],
    env: &Env,
    seed: u64,
) -> Result<ExactCheck, OracleError> {
    let (v, w, dy, rhs) = second_order_setup(model, wrt, env, seed)?;
    let mut genv = gradient_env(model, env, &dy)?;
    genv.values.insert(dir.to_string(), v);
    bind_program(&mut genv, program)?;
    let lhs = inner_product(hvp, &genv, &w)?;
    Ok(ExactCheck::new(lhs, rhs))
}

/// Check a gradient expression to second order: `d/ds ⟨grad(x + s w), v⟩`
/// (the expression `grad` evaluated over jets, definitions included)
/// against the exact `wᵀ H v` of the model, for random `v`, `w`, `dy`.
pub fn check_second_order(
    model: &Model,
    program: &[(Symbol, Expr)],
    wrt: &str,
    grad: &Expr,
    env: &Env,
    seed: u64,
) -> Result<ExactCheck, OracleError> {
    let (v, w, dy, rhs) = second_order_setup(model, wrt, env, seed)?;
    let mut genv = env.clone();
    bind_upstream(&mut genv, &dy);
    let dirs = BTreeMap::from([(wrt.to_string(), w)]);
    let mut ev = JetEval::new(&genv, &dirs, 1)?;
    ev.run_defs(model)?;
    for (s, e) in program {
        let t = ev.eval_tensor(e)?;
        ev.bind(&s.name, e, t);
    }
    let axes = axes_of(model, env, wrt)?;
    if let Some(a) = grad.free_axes().iter().find(|a| !axes.contains(a)) {
        return Err(OracleError::Model(format!(
            "the gradient varies along `{a}`, which `{wrt}` does not have"
        )));
    }
    let points = assignments(&axes, &env.sizes, forward::BUDGET)?;
    let mut lhs = Rat::zero();
    for (p, vi) in points.iter().zip(&v.data) {
        let g = ev.eval_at(grad, p)?;
        lhs += &g.c[1] * vi;
    }
    Ok(ExactCheck::new(lhs, rhs))
}

#[cfg(test)]
mod tests;

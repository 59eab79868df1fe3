//! Central finite differences in `f64`, with an `f64` evaluator of its own
//! (total semantics: `x/0 = 0`, `sqrt` and non-integer powers of negative
//! numbers are `0`, `0^-n = 0`).

use super::forward::{count, offset, outputs_of, BUDGET};
use super::OracleError;
use crate::eval::assignments;
use crate::ir::{Expr, Fun, RedOp, Symbol};
use crate::syntax::Model;
use num_traits::ToPrimitive;
use rand::Rng;
use std::collections::BTreeMap;

/// Finite-difference step.
pub const STEP: f64 = 1e-6;
/// Absolute tolerance (torch gradcheck's default).
pub const ATOL: f64 = 1e-5;
/// Relative tolerance (torch gradcheck's default).
pub const RTOL: f64 = 1e-3;

const MAX_DEPTH: usize = 256;

/// A tensor of `f64` values, laid out like [`crate::eval::Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub struct TensorF64 {
    pub axes: Vec<String>,
    pub data: Vec<f64>,
}

/// Axis sizes and `f64` values of symbols.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvF64 {
    pub sizes: BTreeMap<String, usize>,
    pub values: BTreeMap<String, TensorF64>,
}

/// Result of comparing a gradient with finite differences.
#[derive(Clone, Debug, PartialEq)]
pub struct FdCheck {
    /// `max |got − ref|`.
    pub max_abs_err: f64,
    /// `max |got − ref| / max |ref|` (the absolute error when `ref` is 0).
    pub rel_err: f64,
    /// Every entry within `ATOL + RTOL · |ref|`.
    pub passed: bool,
    /// The entry with the largest error (a NaN counts as infinite), when
    /// the two have entries and equal lengths.
    pub worst: Option<Worst>,
}

/// One entry of a comparison: its row-major position and both values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Worst {
    pub at: usize,
    pub got: f64,
    pub reference: f64,
}

struct F64Eval<'a> {
    env: &'a EnvF64,
    steps: u64,
}

impl F64Eval<'_> {
    fn ev(
        &mut self,
        e: &Expr,
        index: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> Result<f64, OracleError> {
        self.steps += 1;
        if self.steps > BUDGET {
            return Err(OracleError::TooLarge("f64 evaluation budget".to_string()));
        }
        if depth > MAX_DEPTH {
            return Err(OracleError::TooLarge(
                "expression nested too deeply".to_string(),
            ));
        }
        let d = depth + 1;
        Ok(match e {
            Expr::Num(r) => r.to_f64().unwrap_or(f64::NAN),
            Expr::Sym(s) => {
                let t = self
                    .env
                    .values
                    .get(&s.name)
                    .ok_or_else(|| OracleError::Model(format!("no value for `{}`", s.name)))?;
                if t.axes != s.axes {
                    return Err(OracleError::Model(format!(
                        "`{}` used with axes [{}] but bound with axes [{}]",
                        s.name,
                        s.axes.join(","),
                        t.axes.join(",")
                    )));
                }
                let (off, total) = offset(&t.axes, &self.env.sizes, index)?;
                if t.data.len() != total {
                    return Err(OracleError::Model(format!("`{}` has a wrong size", s.name)));
                }
                t.data[off]
            }
            Expr::PVar(v) => return Err(OracleError::Model(format!("pattern variable ?{v}"))),
            Expr::Neg(a) => -self.ev(a, index, d)?,
            Expr::Add(a, b) => self.ev(a, index, d)? + self.ev(b, index, d)?,
            Expr::Sub(a, b) => self.ev(a, index, d)? - self.ev(b, index, d)?,
            Expr::Mul(a, b) => self.ev(a, index, d)? * self.ev(b, index, d)?,
            Expr::Div(a, b) => {
                let x = self.ev(a, index, d)?;
                let y = self.ev(b, index, d)?;
                if y == 0.0 {
                    0.0
                } else {
                    x / y
                }
            }
            Expr::Sqrt(a) => {
                let x = self.ev(a, index, d)?;
                if x <= 0.0 {
                    0.0
                } else {
                    x.sqrt()
                }
            }
            Expr::App(f, args) => {
                let x = self.ev(&args[0], index, d)?;
                match f {
                    Fun::Exp => x.exp(),
                    // log x = log |x|, log 0 = 0.
                    Fun::Log if x == 0.0 => 0.0,
                    Fun::Log => x.abs().ln(),
                    Fun::Abs => x.abs(),
                    Fun::Max => x.max(self.ev(&args[1], index, d)?),
                    Fun::Min => x.min(self.ev(&args[1], index, d)?),
                    // Values only: central differences see through it.
                    Fun::Detach => x,
                }
            }
            Expr::Pow(a, p) => {
                let x = self.ev(a, index, d)?;
                match p.const_value() {
                    Some(p) if p.is_integer() => {
                        let n = p
                            .to_integer()
                            .to_i32()
                            .ok_or_else(|| OracleError::TooLarge(format!("exponent {p}")))?;
                        if x == 0.0 && n < 0 {
                            0.0
                        } else {
                            x.powi(n)
                        }
                    }
                    other => {
                        let p = match other {
                            Some(p) => p.to_f64().unwrap_or(f64::NAN),
                            None => self.ev(p, index, d)?,
                        };
                        if x < 0.0 || (x == 0.0 && p < 0.0) {
                            0.0
                        } else {
                            x.powf(p)
                        }
                    }
                }
            }
            Expr::Reduce(op, axes, body) => {
                let points = assignments(axes, &self.env.sizes, BUDGET)?;
                let saved: Vec<(String, Option<usize>)> = axes
                    .iter()
                    .map(|a| (a.clone(), index.get(a).copied()))
                    .collect();
                let mut vals = Vec::with_capacity(points.len());
                let mut err = None;
                for p in &points {
                    index.extend(p.iter().map(|(k, v)| (k.clone(), *v)));
                    match self.ev(body, index, d) {
                        Ok(v) => vals.push(v),
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
                for (a, v) in saved {
                    match v {
                        Some(v) => index.insert(a, v),
                        None => index.remove(&a),
                    };
                }
                if let Some(e) = err {
                    return Err(e);
                }
                let n = vals.len() as f64;
                let mean = |vs: &[f64]| {
                    if vs.is_empty() {
                        0.0
                    } else {
                        vs.iter().sum::<f64>() / n
                    }
                };
                match op {
                    RedOp::Sum => vals.iter().sum(),
                    RedOp::Mean => mean(&vals),
                    RedOp::Var => {
                        let m = mean(&vals);
                        let sq: Vec<f64> = vals.iter().map(|v| (v - m) * (v - m)).collect();
                        mean(&sq)
                    }
                }
            }
        })
    }

    fn tensor(&mut self, e: &Expr) -> Result<TensorF64, OracleError> {
        let axes: Vec<String> = e.free_axes().into_iter().collect();
        let mut data = Vec::new();
        for mut p in assignments(&axes, &self.env.sizes, BUDGET)? {
            data.push(self.ev(e, &mut p, 0)?);
        }
        Ok(TensorF64 { axes, data })
    }
}

/// The `f64` value of `e` at one position (total semantics).
pub fn eval_f64(
    e: &Expr,
    env: &EnvF64,
    index: &BTreeMap<String, usize>,
) -> Result<f64, OracleError> {
    let mut idx = index.clone();
    F64Eval { env, steps: 0 }.ev(e, &mut idx, 0)
}

/// The `f64` values of `e` at every position of `axes`, row-major in the
/// order given (one evaluation budget for all of them).
pub fn eval_over(e: &Expr, env: &EnvF64, axes: &[String]) -> Result<Vec<f64>, OracleError> {
    let mut ev = F64Eval { env, steps: 0 };
    assignments(axes, &env.sizes, BUDGET)?
        .into_iter()
        .map(|mut p| ev.ev(e, &mut p, 0))
        .collect()
}

/// `env` with every definition of the model evaluated and bound.
pub fn with_defs_f64(model: &Model, env: &EnvF64) -> Result<EnvF64, OracleError> {
    let mut out = env.clone();
    for (name, e) in &model.defs {
        let t = F64Eval {
            env: &out,
            steps: 0,
        }
        .tensor(e)?;
        out.values.insert(name.clone(), t);
    }
    Ok(out)
}

/// Bind the definitions of a derivation's program, each evaluated once, in
/// order (see [`super::bind_program`]).
pub fn bind_program_f64(env: &mut EnvF64, program: &[(Symbol, Expr)]) -> Result<(), OracleError> {
    for (s, e) in program {
        let t = F64Eval { env, steps: 0 }.tensor(e)?;
        env.values.insert(s.name.clone(), t);
    }
    Ok(())
}

/// Whether every assumption of the model holds at every position.
pub fn assumptions_hold_f64(model: &Model, env: &EnvF64) -> Result<bool, OracleError> {
    let full = with_defs_f64(model, env)?;
    for a in &model.assumptions {
        let t = F64Eval {
            env: &full,
            steps: 0,
        }
        .tensor(&a.expr)?;
        let ok = t.data.iter().all(|&v| match a.rel {
            crate::ir::Rel::Gt => v > 0.0,
            crate::ir::Rel::Ge => v >= 0.0,
            crate::ir::Rel::Ne => v != 0.0,
        });
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The upstream gradient of every output in f64, keyed by output name.
pub type UpstreamF64 = BTreeMap<String, TensorF64>;

/// `ℓ = Σ_outputs Σ dy · y`.
pub fn loss_f64(model: &Model, env: &EnvF64, dy: &UpstreamF64) -> Result<f64, OracleError> {
    let full = with_defs_f64(model, env)?;
    let mut total = 0.0;
    for (out, dy) in dy {
        let y = full
            .values
            .get(out)
            .ok_or_else(|| OracleError::Model(format!("no value for output `{out}`")))?;
        if dy.axes != y.axes || y.data.len() != dy.data.len() {
            return Err(OracleError::Model(format!(
                "upstream gradient does not match the output `{out}`"
            )));
        }
        total += y.data.iter().zip(&dy.data).map(|(a, b)| a * b).sum::<f64>();
    }
    Ok(total)
}

/// The gradient of `ℓ = Σ dy · y` in `wrt` by central differences with
/// step [`STEP`], one entry at a time (row-major over `wrt`'s axes).
pub fn fd_gradient(
    model: &Model,
    wrt: &str,
    env: &EnvF64,
    dy: &UpstreamF64,
) -> Result<Vec<f64>, OracleError> {
    let n = env
        .values
        .get(wrt)
        .ok_or_else(|| OracleError::Model(format!("no value for `{wrt}`")))?
        .data
        .len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let at = |delta: f64| -> Result<f64, OracleError> {
            let mut e = env.clone();
            if let Some(t) = e.values.get_mut(wrt) {
                t.data[i] += delta;
            }
            loss_f64(model, &e, dy)
        };
        out.push((at(STEP)? - at(-STEP)?) / (2.0 * STEP));
    }
    Ok(out)
}

/// Compare `got` with the reference `reference` entry by entry, with the
/// finite-difference tolerances [`ATOL`] and [`RTOL`].
pub fn compare(got: &[f64], reference: &[f64]) -> FdCheck {
    compare_with(got, reference, ATOL, RTOL)
}

/// Compare entry by entry: every `|got − ref| ≤ atol + rtol · |ref|`, and
/// the whole-tensor errors. A NaN or a length mismatch fails.
pub fn compare_with(got: &[f64], reference: &[f64], atol: f64, rtol: f64) -> FdCheck {
    let mut max_abs_err: f64 = if got.len() == reference.len() {
        0.0
    } else {
        f64::INFINITY
    };
    let mut max_ref: f64 = 0.0;
    let mut passed = got.len() == reference.len();
    let mut worst: Option<(f64, Worst)> = None;
    for (at, (g, r)) in got.iter().zip(reference).enumerate() {
        let err = (g - r).abs();
        if err.is_nan() || err > atol + rtol * r.abs() {
            passed = false;
        }
        let err = if err.is_nan() { f64::INFINITY } else { err };
        if got.len() == reference.len() && worst.is_none_or(|(w, _)| err > w) {
            let point = Worst {
                at,
                got: *g,
                reference: *r,
            };
            worst = Some((err, point));
        }
        max_abs_err = max_abs_err.max(err);
        max_ref = max_ref.max(r.abs());
    }
    let rel_err = if max_ref > 0.0 {
        max_abs_err / max_ref
    } else {
        max_abs_err
    };
    FdCheck {
        max_abs_err,
        rel_err,
        passed,
        worst: worst.map(|(_, w)| w),
    }
}

/// A random upstream gradient for every output, uniform in `[-1, 1]`.
pub fn random_dy(model: &Model, env: &EnvF64, seed: u64) -> Result<UpstreamF64, OracleError> {
    let mut rng = super::sample::rng(seed, super::sample::Stream::Upstream);
    let mut out = BTreeMap::new();
    for (name, axes) in outputs_of(model)? {
        let n = count(&axes, &env.sizes)?;
        let t = TensorF64 {
            axes,
            data: (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        };
        out.insert(name, t);
    }
    Ok(out)
}

/// Bind `d<output>` to each output's upstream gradient.
pub fn bind_upstream_f64(env: &mut EnvF64, dy: &UpstreamF64) {
    for (out, t) in dy {
        env.values.insert(format!("d{out}"), t.clone());
    }
}

/// Compare precomputed gradient values (row-major over `wrt`'s axes) with
/// central finite differences for the upstream gradient `dy`.
pub fn fd_check_values(
    model: &Model,
    wrt: &str,
    grad_values: &[f64],
    env: &EnvF64,
    dy: &UpstreamF64,
) -> Result<FdCheck, OracleError> {
    let reference = fd_gradient(model, wrt, env, dy)?;
    Ok(compare(grad_values, &reference))
}

/// Check the gradient expression `grad` (in the model's names and
/// `d<output>`) against central finite differences, with a random upstream
/// gradient drawn from `seed`.
pub fn fd_check(
    model: &Model,
    program: &[(Symbol, Expr)],
    wrt: &str,
    grad: &Expr,
    env: &EnvF64,
    seed: u64,
) -> Result<FdCheck, OracleError> {
    let dy = random_dy(model, env, seed)?;
    let mut full = with_defs_f64(model, env)?;
    bind_upstream_f64(&mut full, &dy);
    bind_program_f64(&mut full, program)?;
    let axes = env
        .values
        .get(wrt)
        .ok_or_else(|| OracleError::Model(format!("no value for `{wrt}`")))?
        .axes
        .clone();
    if let Some(a) = grad.free_axes().iter().find(|a| !axes.contains(a)) {
        return Err(OracleError::Model(format!(
            "the gradient varies along `{a}`, which `{wrt}` does not have"
        )));
    }
    let got = eval_over(grad, &full, &axes)?;
    fd_check_values(model, wrt, &got, env, &dy)
}

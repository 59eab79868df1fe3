//! Central finite differences in `f64`, with an `f64` evaluator of its own
//! (total semantics: `x/0 = 0`, `sqrt` and non-integer powers of negative
//! numbers are `0`, `0^-n = 0`, `log x = log |x|`, `log 0 = 0`).
//!
//! Central differences see only values, so they cannot see a stop-gradient:
//! for a model with `detach`, [`fd_gradient`] differentiates the forward
//! pass with forward-mode dual numbers in `f64` instead (the same
//! evaluator over [`Dual`]), where `detach` drops the tangent.

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

/// A tensor of values, laid out like [`crate::eval::Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub struct TensorOf<T> {
    pub axes: Vec<String>,
    pub data: Vec<T>,
}

/// A tensor of `f64` values.
pub type TensorF64 = TensorOf<f64>;

/// Axis sizes and values of symbols.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvOf<T> {
    pub sizes: BTreeMap<String, usize>,
    pub values: BTreeMap<String, TensorOf<T>>,
}

impl<T> Default for EnvOf<T> {
    fn default() -> Self {
        EnvOf {
            sizes: BTreeMap::new(),
            values: BTreeMap::new(),
        }
    }
}

/// Axis sizes and `f64` values of symbols.
pub type EnvF64 = EnvOf<f64>;

/// What the evaluator computes with: `f64`, or [`Dual`] numbers. Every
/// operation follows the total semantics.
trait Scalar: Copy + std::fmt::Debug {
    fn constant(x: f64) -> Self;
    fn value(self) -> f64;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn neg(self) -> Self;
    /// `self / o` with `x / 0 = 0`.
    fn div(self, o: Self) -> Self;
    /// `self^p` for a constant `p` (integer or not).
    fn pow(self, p: f64, integer: Option<i32>) -> Self;
    fn app(f: Fun, x: Self, y: Option<Self>) -> Self;
}

fn pow_f64(x: f64, p: f64, integer: Option<i32>) -> f64 {
    match integer {
        Some(n) if x == 0.0 && n < 0 => 0.0,
        Some(n) => x.powi(n),
        None if x < 0.0 || (x == 0.0 && p < 0.0) => 0.0,
        None => x.powf(p),
    }
}

impl Scalar for f64 {
    fn constant(x: f64) -> f64 {
        x
    }
    fn value(self) -> f64 {
        self
    }
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    fn neg(self) -> f64 {
        -self
    }
    fn div(self, o: f64) -> f64 {
        if o == 0.0 {
            0.0
        } else {
            self / o
        }
    }
    fn pow(self, p: f64, integer: Option<i32>) -> f64 {
        pow_f64(self, p, integer)
    }
    fn app(f: Fun, x: f64, y: Option<f64>) -> f64 {
        let y = y.unwrap_or(f64::NAN);
        match f {
            Fun::Exp => x.exp(),
            Fun::Log if x == 0.0 => 0.0,
            Fun::Log => x.abs().ln(),
            Fun::Abs => x.abs(),
            Fun::Max => x.max(y),
            Fun::Min => x.min(y),
            // Values only: central differences see through it.
            Fun::Detach => x,
        }
    }
}

/// A dual number `v + d ε` (`ε² = 0`): a value and its derivative along one
/// direction. Kinks follow PyTorch: `abs'(0) = 0`, a `max`/`min` tie splits
/// the derivative evenly; `detach` has derivative 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual {
    pub v: f64,
    pub d: f64,
}

impl Scalar for Dual {
    fn constant(x: f64) -> Dual {
        Dual { v: x, d: 0.0 }
    }
    fn value(self) -> f64 {
        self.v
    }
    fn add(self, o: Dual) -> Dual {
        Dual {
            v: self.v + o.v,
            d: self.d + o.d,
        }
    }
    fn mul(self, o: Dual) -> Dual {
        Dual {
            v: self.v * o.v,
            d: self.d * o.v + self.v * o.d,
        }
    }
    fn neg(self) -> Dual {
        Dual {
            v: -self.v,
            d: -self.d,
        }
    }
    fn div(self, o: Dual) -> Dual {
        if o.v == 0.0 {
            return Dual::constant(0.0);
        }
        let q = self.v / o.v;
        Dual {
            v: q,
            d: (self.d - q * o.d) / o.v,
        }
    }
    fn pow(self, p: f64, integer: Option<i32>) -> Dual {
        let v = pow_f64(self.v, p, integer);
        // d x^p = p x^(p-1) dx where the power is smooth; 0 where the total
        // semantics makes it constant (negative base of a non-integer power).
        let slope = match integer {
            Some(0) => 0.0,
            Some(n) => f64::from(n) * pow_f64(self.v, p - 1.0, Some(n - 1)),
            None => p * pow_f64(self.v, p - 1.0, None),
        };
        Dual {
            v,
            d: slope * self.d,
        }
    }
    fn app(f: Fun, x: Dual, y: Option<Dual>) -> Dual {
        let y = y.unwrap_or(Dual::constant(f64::NAN));
        let v = f64::app(f, x.v, Some(y.v));
        let d = match f {
            Fun::Exp => v * x.d,
            Fun::Log => f64::div(x.d, x.v),
            Fun::Abs => x.v.signum() * x.d * f64::from(u8::from(x.v != 0.0)),
            Fun::Max | Fun::Min if x.v == y.v => (x.d + y.d) / 2.0,
            Fun::Max => {
                if x.v > y.v {
                    x.d
                } else {
                    y.d
                }
            }
            Fun::Min => {
                if x.v < y.v {
                    x.d
                } else {
                    y.d
                }
            }
            Fun::Detach => 0.0,
        };
        Dual { v, d }
    }
}

/// An `f64` value with a first-order bound on the rounding error of
/// computing it, in units of the unit roundoff: every rounded operation
/// adds its result's magnitude, and errors already made propagate through
/// the operation's derivative (running error analysis). A value that
/// cancels to nearly 0 keeps the magnitudes it was computed from, which is
/// what its rounding noise scales with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rounding {
    pub v: f64,
    pub e: f64,
}

impl Scalar for Rounding {
    fn constant(x: f64) -> Rounding {
        // A leaf is rounded once on the way in (to f32, say).
        Rounding { v: x, e: x.abs() }
    }
    fn value(self) -> f64 {
        self.v
    }
    fn add(self, o: Rounding) -> Rounding {
        let v = self.v + o.v;
        Rounding {
            v,
            e: self.e + o.e + v.abs(),
        }
    }
    fn mul(self, o: Rounding) -> Rounding {
        let v = self.v * o.v;
        Rounding {
            v,
            e: self.e * o.v.abs() + o.e * self.v.abs() + v.abs(),
        }
    }
    fn neg(self) -> Rounding {
        Rounding {
            v: -self.v,
            e: self.e,
        }
    }
    fn div(self, o: Rounding) -> Rounding {
        if o.v == 0.0 {
            return Rounding { v: 0.0, e: 0.0 };
        }
        let v = self.v / o.v;
        Rounding {
            v,
            e: self.e / o.v.abs() + o.e * v.abs() / o.v.abs() + v.abs(),
        }
    }
    fn pow(self, p: f64, integer: Option<i32>) -> Rounding {
        let d = Dual { v: self.v, d: 1.0 }.pow(p, integer);
        Rounding {
            v: d.v,
            e: d.d.abs() * self.e + d.v.abs(),
        }
    }
    fn app(f: Fun, x: Rounding, y: Option<Rounding>) -> Rounding {
        let y = y.unwrap_or(Rounding::constant(f64::NAN));
        let v = f64::app(f, x.v, Some(y.v));
        // exp and log round; abs, max, min and detach are exact.
        let e = match f {
            Fun::Exp => v.abs() * x.e + v.abs(),
            Fun::Log => f64::div(x.e, x.v.abs()) + v.abs(),
            Fun::Abs | Fun::Detach => x.e,
            Fun::Max | Fun::Min => x.e.max(y.e),
        };
        Rounding { v, e }
    }
}

/// A [`Rounding`] value under the partial semantics of real arithmetic:
/// where an operation is undefined (`x / 0`, a root or non-integer power
/// of a negative number, `0` to a negative power, the log of a number
/// `≤ 0`) the value is NaN instead of the total semantics' value, and a
/// NaN is never dropped (not even by `max` or `min`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Partial(Rounding);

const UNDEFINED: Partial = Partial(Rounding {
    v: f64::NAN,
    e: f64::NAN,
});

impl Scalar for Partial {
    fn constant(x: f64) -> Partial {
        Partial(Rounding::constant(x))
    }
    fn value(self) -> f64 {
        self.0.v
    }
    fn add(self, o: Partial) -> Partial {
        Partial(self.0.add(o.0))
    }
    fn mul(self, o: Partial) -> Partial {
        Partial(self.0.mul(o.0))
    }
    fn neg(self) -> Partial {
        Partial(self.0.neg())
    }
    fn div(self, o: Partial) -> Partial {
        if o.0.v == 0.0 || o.0.v.is_nan() {
            return UNDEFINED;
        }
        Partial(self.0.div(o.0))
    }
    fn pow(self, p: f64, integer: Option<i32>) -> Partial {
        let x = self.0.v;
        let undefined = match integer {
            Some(n) => x == 0.0 && n < 0,
            None => x < 0.0 || (x == 0.0 && p < 0.0) || p.is_nan(),
        };
        if undefined || x.is_nan() {
            return UNDEFINED;
        }
        Partial(self.0.pow(p, integer))
    }
    fn app(f: Fun, x: Partial, y: Option<Partial>) -> Partial {
        let y = y.unwrap_or(UNDEFINED);
        let undefined = match f {
            Fun::Log => x.0.v.is_nan() || x.0.v <= 0.0,
            Fun::Max | Fun::Min => x.0.v.is_nan() || y.0.v.is_nan(),
            _ => x.0.v.is_nan(),
        };
        if undefined {
            return UNDEFINED;
        }
        Partial(Rounding::app(f, x.0, Some(y.0)))
    }
}

/// Whether `a` and `b` clearly differ in real arithmetic at `env`, at the
/// position `index` (of at least both free axes): both are defined there
/// (every division, root and power on the way is: NaN where real
/// arithmetic is undefined, never dropped by `max` or `min`) and
/// they differ by far more than their bound on rounding error. An
/// evaluation error, or more than `budget` node evaluations, answers
/// `false`.
pub fn clearly_differ(
    a: &Expr,
    b: &Expr,
    env: &EnvF64,
    index: &BTreeMap<String, usize>,
    budget: u64,
) -> bool {
    let env = EnvOf {
        sizes: env.sizes.clone(),
        values: env
            .values
            .iter()
            .map(|(k, t)| {
                let data = t.data.iter().map(|&x| Partial::constant(x)).collect();
                let axes = t.axes.clone();
                (k.clone(), TensorOf { axes, data })
            })
            .collect(),
    };
    let mut ev = F64Eval {
        env: &env,
        steps: 0,
        budget,
    };
    let (Ok(x), Ok(y)) = (
        ev.ev(a, &mut index.clone(), 0),
        ev.ev(b, &mut index.clone(), 0),
    ) else {
        return false;
    };
    let (x, y) = (x.0, y.0);
    // The first-order bound is in units of the unit roundoff (2^-53);
    // 2^-40 leaves a factor of 8192 for what it does not count.
    let slack = (-40f64).exp2();
    let finite = [x.v, y.v, x.e, y.e].iter().all(|v| v.is_finite());
    finite && (x.v - y.v).abs() > slack * (x.e + y.e)
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

struct F64Eval<'a, T = f64> {
    env: &'a EnvOf<T>,
    steps: u64,
    /// Node evaluations allowed ([`BUDGET`] but for a screen).
    budget: u64,
}

impl<T: Scalar> F64Eval<'_, T> {
    fn ev(
        &mut self,
        e: &Expr,
        index: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> Result<T, OracleError> {
        self.steps += 1;
        if self.steps > self.budget {
            return Err(OracleError::TooLarge("f64 evaluation budget".to_string()));
        }
        if depth > MAX_DEPTH {
            return Err(OracleError::TooLarge(
                "expression nested too deeply".to_string(),
            ));
        }
        let d = depth + 1;
        Ok(match e {
            Expr::Num(r) => T::constant(r.to_f64().unwrap_or(f64::NAN)),
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
            Expr::Neg(a) => self.ev(a, index, d)?.neg(),
            Expr::Add(a, b) => self.ev(a, index, d)?.add(self.ev(b, index, d)?),
            Expr::Sub(a, b) => self.ev(a, index, d)?.add(self.ev(b, index, d)?.neg()),
            Expr::Mul(a, b) => self.ev(a, index, d)?.mul(self.ev(b, index, d)?),
            Expr::Div(a, b) => self.ev(a, index, d)?.div(self.ev(b, index, d)?),
            Expr::Sqrt(a) => self.ev(a, index, d)?.pow(0.5, None),
            Expr::App(f, args) => {
                let x = self.ev(&args[0], index, d)?;
                let y = match args.get(1) {
                    Some(b) => Some(self.ev(b, index, d)?),
                    None => None,
                };
                T::app(*f, x, y)
            }
            Expr::Pow(a, p) => {
                let x = self.ev(a, index, d)?;
                match p.const_value() {
                    Some(p) if p.is_integer() => {
                        let n = p
                            .to_integer()
                            .to_i32()
                            .ok_or_else(|| OracleError::TooLarge(format!("exponent {p}")))?;
                        x.pow(f64::from(n), Some(n))
                    }
                    other => {
                        let p = match other {
                            Some(p) => p.to_f64().unwrap_or(f64::NAN),
                            None => self.ev(p, index, d)?.value(),
                        };
                        x.pow(p, None)
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
                let n = T::constant(vals.len() as f64);
                let sum = |vs: &[T]| vs.iter().fold(T::constant(0.0), |acc, v| acc.add(*v));
                let mean = |vs: &[T]| sum(vs).div(n);
                match op {
                    RedOp::Sum => sum(&vals),
                    RedOp::Mean => mean(&vals),
                    RedOp::Var => {
                        let m = mean(&vals).neg();
                        let sq: Vec<T> = vals
                            .iter()
                            .map(|v| {
                                let c = v.add(m);
                                c.mul(c)
                            })
                            .collect();
                        mean(&sq)
                    }
                }
            }
        })
    }

    fn tensor(&mut self, e: &Expr) -> Result<TensorOf<T>, OracleError> {
        let axes: Vec<String> = e.free_axes().into_iter().collect();
        let mut data = Vec::new();
        for mut p in assignments(&axes, &self.env.sizes, BUDGET)? {
            data.push(self.ev(e, &mut p, 0)?);
        }
        Ok(TensorOf { axes, data })
    }
}

/// The `f64` value of `e` at one position (total semantics).
pub fn eval_f64(
    e: &Expr,
    env: &EnvF64,
    index: &BTreeMap<String, usize>,
) -> Result<f64, OracleError> {
    let mut idx = index.clone();
    F64Eval {
        env,
        steps: 0,
        budget: BUDGET,
    }
    .ev(e, &mut idx, 0)
}

/// The `f64` values of `e` at every position of `axes`, row-major in the
/// order given (one evaluation budget for all of them).
pub fn eval_over(e: &Expr, env: &EnvF64, axes: &[String]) -> Result<Vec<f64>, OracleError> {
    eval_over_of(e, env, axes)
}

fn eval_over_of<T: Scalar>(
    e: &Expr,
    env: &EnvOf<T>,
    axes: &[String],
) -> Result<Vec<T>, OracleError> {
    let mut ev = F64Eval {
        env,
        steps: 0,
        budget: BUDGET,
    };
    assignments(axes, &env.sizes, BUDGET)?
        .into_iter()
        .map(|mut p| ev.ev(e, &mut p, 0))
        .collect()
}

/// `env` with every definition of the model evaluated and bound.
pub fn with_defs_f64(model: &Model, env: &EnvF64) -> Result<EnvF64, OracleError> {
    with_defs(model, env.clone())
}

fn with_defs<T: Scalar>(model: &Model, mut out: EnvOf<T>) -> Result<EnvOf<T>, OracleError> {
    for (name, e) in &model.defs {
        let t = F64Eval {
            env: &out,
            steps: 0,
            budget: BUDGET,
        }
        .tensor(e)?;
        out.values.insert(name.clone(), t);
    }
    Ok(out)
}

/// `Σ_outputs Σ dy · part(y)` over a forward pass's values.
fn output_dot<T: Copy>(
    full: &EnvOf<T>,
    dy: &UpstreamF64,
    part: impl Fn(T) -> f64,
) -> Result<f64, OracleError> {
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
        total += y
            .data
            .iter()
            .zip(&dy.data)
            .map(|(a, b)| part(*a) * b)
            .sum::<f64>();
    }
    Ok(total)
}

/// Bind the definitions of a derivation's program, each evaluated once, in
/// order (see [`super::bind_program`]).
pub fn bind_program_f64(env: &mut EnvF64, program: &[(Symbol, Expr)]) -> Result<(), OracleError> {
    bind_program(env, program)
}

fn bind_program<T: Scalar>(
    env: &mut EnvOf<T>,
    program: &[(Symbol, Expr)],
) -> Result<(), OracleError> {
    for (s, e) in program {
        let t = F64Eval {
            env,
            steps: 0,
            budget: BUDGET,
        }
        .tensor(e)?;
        env.values.insert(s.name.clone(), t);
    }
    Ok(())
}

/// [`Rounding`] values of `f64` ones: each a leaf, rounded once.
pub fn rounding_of(t: &TensorF64) -> TensorOf<Rounding> {
    TensorOf {
        axes: t.axes.clone(),
        data: t.data.iter().map(|&x| Rounding::constant(x)).collect(),
    }
}

/// `env` (leaves only) as [`Rounding`] values, with every definition of
/// the model evaluated and bound.
pub fn with_defs_rounding(model: &Model, env: &EnvF64) -> Result<EnvOf<Rounding>, OracleError> {
    let leaves = EnvOf {
        sizes: env.sizes.clone(),
        values: env
            .values
            .iter()
            .map(|(k, t)| (k.clone(), rounding_of(t)))
            .collect(),
    };
    with_defs(model, leaves)
}

/// [`bind_program_f64`] over [`Rounding`] values.
pub fn bind_program_rounding(
    env: &mut EnvOf<Rounding>,
    program: &[(Symbol, Expr)],
) -> Result<(), OracleError> {
    bind_program(env, program)
}

/// [`eval_over`] over [`Rounding`] values.
pub fn eval_over_rounding(
    e: &Expr,
    env: &EnvOf<Rounding>,
    axes: &[String],
) -> Result<Vec<Rounding>, OracleError> {
    eval_over_of(e, env, axes)
}

/// Whether every assumption of the model holds at every position.
pub fn assumptions_hold_f64(model: &Model, env: &EnvF64) -> Result<bool, OracleError> {
    let full = with_defs_f64(model, env)?;
    for a in &model.assumptions {
        let t = F64Eval {
            env: &full,
            steps: 0,
            budget: BUDGET,
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
    output_dot(&with_defs_f64(model, env)?, dy, |v| v)
}

/// Whether any definition of the model stops a gradient (`detach`).
pub fn has_detach(model: &Model) -> bool {
    fn walk(e: &Expr) -> bool {
        matches!(e, Expr::App(Fun::Detach, _)) || e.children().into_iter().any(walk)
    }
    model.defs.iter().any(|(_, e)| walk(e))
}

/// `ℓ = Σ dy · y` over dual numbers: its tangent is the derivative of the
/// loss when entry `at` of `wrt` moves with unit speed.
fn loss_dual(
    model: &Model,
    env: &EnvF64,
    dy: &UpstreamF64,
    wrt: &str,
    at: usize,
) -> Result<f64, OracleError> {
    let lift = |name: &String, t: &TensorF64| TensorOf {
        axes: t.axes.clone(),
        data: t
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| Dual {
                v,
                d: if name == wrt && i == at { 1.0 } else { 0.0 },
            })
            .collect(),
    };
    let lifted = EnvOf {
        sizes: env.sizes.clone(),
        values: env
            .values
            .iter()
            .map(|(n, t)| (n.clone(), lift(n, t)))
            .collect(),
    };
    output_dot(&with_defs(model, lifted)?, dy, |d: Dual| d.d)
}

/// The gradient of `ℓ = Σ dy · y` in `wrt`, one entry at a time
/// (row-major over `wrt`'s axes): by central differences with step
/// [`STEP`], or, for a model with `detach` (which values cannot show), by
/// forward-mode dual numbers.
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
    if has_detach(model) {
        return (0..n).map(|i| loss_dual(model, env, dy, wrt, i)).collect();
    }
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
    compare_with_floor(got, reference, atol, rtol, &[])
}

/// [`compare_with`], where entry `i` may also differ by `floor[i]` (a
/// rounding bound; a missing or non-finite one counts as 0).
pub fn compare_with_floor(
    got: &[f64],
    reference: &[f64],
    atol: f64,
    rtol: f64,
    floor: &[f64],
) -> FdCheck {
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
        let extra = floor
            .get(at)
            .copied()
            .filter(|f| f.is_finite())
            .unwrap_or(0.0);
        if err.is_nan() || err > atol + rtol * r.abs() + extra {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(x: &[f64]) -> (EnvF64, UpstreamF64) {
        let t = |data: Vec<f64>| TensorF64 {
            axes: vec!["i".to_string()],
            data,
        };
        let env = EnvF64 {
            sizes: [("i".to_string(), x.len())].into(),
            values: [("x".to_string(), t(x.to_vec()))].into(),
        };
        let dy = [("y".to_string(), t(vec![1.0; x.len()]))].into();
        (env, dy)
    }

    fn gradient(src: &str, x: &[f64]) -> Vec<f64> {
        let m = crate::syntax::parse_model(src).unwrap();
        let (env, dy) = env(x);
        fd_gradient(&m, "x", &env, &dy).unwrap()
    }

    #[test]
    fn dual_numbers_follow_pytorch_at_kinks() {
        let d = |v: f64| Dual { v, d: 1.0 };
        let c = Dual::constant;
        assert_eq!(Dual::app(Fun::Abs, d(0.0), None).d, 0.0);
        assert_eq!(Dual::app(Fun::Abs, d(-2.0), None).d, -1.0);
        assert_eq!(Dual::app(Fun::Max, d(2.0), Some(c(2.0))).d, 0.5);
        assert_eq!(Dual::app(Fun::Min, c(2.0), Some(d(2.0))).d, 0.5);
        assert_eq!(Dual::app(Fun::Max, d(1.0), Some(c(2.0))).d, 0.0);
        assert_eq!(Dual::app(Fun::Log, d(0.0), None), c(0.0));
        assert_eq!(Dual::app(Fun::Log, d(-4.0), None).d, -0.25);
        assert_eq!(Dual::app(Fun::Detach, d(3.0), None), c(3.0));
    }

    #[test]
    fn a_model_with_detach_is_differentiated_by_dual_numbers() {
        // Central differences would see d/dx (x · x) = 2x.
        let g = gradient(
            "axis i\ninput x[i]\ny = detach(x) * x\noutput y\n",
            &[0.5, -2.0],
        );
        assert_eq!(g, vec![0.5, -2.0]);
        let g = gradient("axis i\ninput x[i]\ny = x * x\noutput y\n", &[0.5, -2.0]);
        assert!(
            (g[0] - 1.0).abs() < 1e-8 && (g[1] + 4.0).abs() < 1e-8,
            "{g:?}"
        );
        // A detached statistic: y = x − detach(mean(x)) has gradient dy.
        let g = gradient(
            "axis i\ninput x[i]\nm = detach(mean[i](x))\ny = x - m\noutput y\n",
            &[1.0, 2.0, 4.0],
        );
        assert_eq!(g, vec![1.0, 1.0, 1.0]);
    }
}

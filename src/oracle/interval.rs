//! The interval oracle, for samples where not every value is rational
//! (`exp`, `log`, an irrational root): the forward pass runs over
//! first-order dual numbers whose parts are rigorous enclosures ([`Iv`]),
//! and the candidate gradient is evaluated over enclosures by
//! [`Evaluator`]. Like the exact oracle it never calls the differentiation
//! code.
//!
//! A check passes only when the enclosures of `⟨grad, v⟩` and of
//! `d/dt ℓ(x + t v)` overlap and each is tight (width at most `10^-20`
//! relative to the larger of its magnitude and 1, so that a true 0 can
//! pass; retried at higher precision); disjoint enclosures fail;
//! anything else is undecided. A kink (`abs` at an enclosure containing 0,
//! `max`/`min` of overlapping enclosures, `log` or a division at an
//! enclosure containing 0) is [`OracleError::NotSmooth`], so the sampler
//! draws again.

use super::forward::{self, Coef, Forward, Upstream};
use super::{axes_of, bind_upstream, direction_and_upstream, OracleError};
use crate::eval::{self, Env, EvalError, Evaluator, Iv, Tensor, Value};
use crate::ir::{Expr, Rat, Symbol};
use crate::syntax::Model;
use num_bigint::BigInt;
use num_traits::{One, Signed, Zero};
use std::collections::BTreeMap;

/// `v + d · t` with both parts enclosed (first order only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dual {
    pub v: Iv,
    pub d: Iv,
}

fn point(v: &Rat) -> Iv {
    Iv::from_value(&Value::Exact(v.clone()))
}

fn kink(what: &str) -> OracleError {
    OracleError::NotSmooth(format!("{what} (by its enclosure)"))
}

impl Dual {
    /// `f(self)` where `f(self.v)` is enclosed by `v` and `f'` by `slope`.
    fn chain(&self, v: Iv, slope: &Iv) -> Result<Dual, OracleError> {
        Ok(Dual {
            v,
            d: self.d.mul(slope)?,
        })
    }
}

impl Coef for Dual {
    fn constant(v: Rat, _order: usize) -> Self {
        Dual {
            v: point(&v),
            d: point(&Rat::zero()),
        }
    }

    fn linear(v: Rat, dv: Rat, _order: usize) -> Self {
        Dual {
            v: point(&v),
            d: point(&dv),
        }
    }

    fn add(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(Dual {
            v: self.v.add(&o.v)?,
            d: self.d.add(&o.d)?,
        })
    }

    fn sub(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(Dual {
            v: self.v.sub(&o.v)?,
            d: self.d.sub(&o.d)?,
        })
    }

    fn mul(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(Dual {
            v: self.v.mul(&o.v)?,
            d: self.v.mul(&o.d)?.add(&self.d.mul(&o.v)?)?,
        })
    }

    fn neg(&self) -> Self {
        Dual {
            v: -self.v.clone(),
            d: -self.d.clone(),
        }
    }

    fn scale(&self, s: &Rat) -> Result<Self, OracleError> {
        let s = point(s);
        Ok(Dual {
            v: self.v.mul(&s)?,
            d: self.d.mul(&s)?,
        })
    }

    fn div(&self, o: &Self) -> Result<Self, OracleError> {
        if o.v.contains_zero() {
            return Err(kink("division by a quantity whose value may be 0"));
        }
        let q = self.v.div(&o.v)?;
        let d = self.d.sub(&q.mul(&o.d)?)?.div(&o.v)?;
        Ok(Dual { v: q, d })
    }

    fn pow(&self, p: &Rat) -> Result<Self, OracleError> {
        if p.is_zero() {
            return Ok(Dual::constant(Rat::one(), 1));
        }
        if !p.is_integer() && self.v.hi().is_negative() {
            // A non-integer power of a negative number is 0 nearby.
            return Ok(Dual::constant(Rat::zero(), 1));
        }
        if (!p.is_integer() || p.is_negative()) && self.v.contains_zero() {
            return Err(kink(&format!(
                "power {p} of a quantity whose value may be 0"
            )));
        }
        let v = self.v.pow(p)?;
        let slope = self.v.pow(&(p - Rat::one()))?.mul(&point(p))?;
        self.chain(v, &slope)
    }

    fn exp(&self) -> Result<Self, OracleError> {
        let v = self.v.clone().exp()?;
        self.chain(v.clone(), &v)
    }

    fn log(&self) -> Result<Self, OracleError> {
        if self.v.contains_zero() {
            return Err(kink("log at a quantity whose value may be 0"));
        }
        let v = self.v.clone().log()?;
        self.chain(v, &self.v.recip()?)
    }

    fn abs(&self) -> Result<Self, OracleError> {
        if self.v.lo().is_positive() {
            Ok(self.clone())
        } else if self.v.hi().is_negative() {
            Ok(Coef::neg(self))
        } else {
            Err(kink("abs at a quantity whose value may be 0"))
        }
    }

    fn max_min(&self, o: &Self, is_max: bool) -> Result<Self, OracleError> {
        let name = if is_max { "max" } else { "min" };
        if self.v.lo() > o.v.hi() {
            Ok(if is_max { self.clone() } else { o.clone() })
        } else if o.v.lo() > self.v.hi() {
            Ok(if is_max { o.clone() } else { self.clone() })
        } else {
            Err(kink(&format!("{name} of values that may tie")))
        }
    }

    fn detach(&self) -> Self {
        Dual {
            v: self.v.clone(),
            d: point(&Rat::zero()),
        }
    }

    fn value_is_zero(&self) -> bool {
        self.v.is_zero()
    }

    fn value_eq(&self, o: &Self) -> bool {
        self.v.is_exact() && o.v.is_exact() && self.v.lo() == o.v.lo()
    }

    fn exact_value(&self) -> Option<Rat> {
        self.v.is_exact().then(|| self.v.lo().clone())
    }
}

/// The outcome of an interval check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalCheck {
    /// An enclosure of `⟨grad, v⟩`, from the candidate.
    pub lhs: Value,
    /// An enclosure of the directional derivative, from the forward pass.
    pub rhs: Value,
    /// `Some(true)`: overlapping and tight; `Some(false)`: disjoint;
    /// `None`: overlapping but too wide even at the highest precision.
    pub verdict: Option<bool>,
    /// The rounding precision (bits) of the enclosures.
    pub bits: u32,
}

impl IntervalCheck {
    /// Widths of the two enclosures, as [`width`] measures them.
    pub fn widths(&self) -> (Rat, Rat) {
        (
            width(&Iv::from_value(&self.lhs)),
            width(&Iv::from_value(&self.rhs)),
        )
    }
}

/// An enclosure's width relative to the larger of its magnitude and 1. A
/// purely relative width never gets small around a true 0 (one class of a
/// softmax, one example of a batch norm), so below magnitude 1 the width
/// counts absolutely.
pub fn width(iv: &Iv) -> Rat {
    if iv.is_exact() {
        return Rat::zero();
    }
    let m = iv.lo().abs().max(iv.hi().abs()).max(Rat::one());
    (iv.hi() - iv.lo()) / m
}

/// Relative width both enclosures must reach before overlap passes.
pub fn tight() -> Rat {
    Rat::new(BigInt::one(), BigInt::from(10).pow(20))
}

/// Rounding precisions tried in turn, in bits.
const PRECISIONS: [u32; 3] = [96, 256, 1024];

fn decide(lhs: &Iv, rhs: &Iv) -> Option<bool> {
    if lhs.hi() < rhs.lo() || rhs.hi() < lhs.lo() {
        return Some(false);
    }
    let t = tight();
    (width(lhs) <= t && width(rhs) <= t).then_some(true)
}

/// Runs `once` at increasing precision until the enclosures decide; an
/// enclosure too wide to evaluate through (a division by one containing
/// 0) is retried too.
fn at_precisions(
    once: impl Fn() -> Result<(Iv, Iv), OracleError>,
) -> Result<IntervalCheck, OracleError> {
    let mut last = Err(OracleError::Model("no precision tried".to_string()));
    for bits in PRECISIONS {
        match eval::with_precision(bits, &once) {
            Ok((lhs, rhs)) => {
                let verdict = decide(&lhs, &rhs);
                let check = IntervalCheck {
                    lhs: lhs.to_value(),
                    rhs: rhs.to_value(),
                    verdict,
                    bits,
                };
                if verdict.is_some() {
                    return Ok(check);
                }
                last = Ok(check);
            }
            Err(e @ (OracleError::NotSmooth(_) | OracleError::Eval(EvalError::Undefined(_)))) => {
                last = Err(e)
            }
            Err(e) => return Err(e),
        }
    }
    last
}

/// Bind `name` in `ev` to the enclosures of `e` at every position of its
/// free axes.
pub(crate) fn bind_expr(ev: &mut Evaluator<'_>, name: &str, e: &Expr) -> Result<(), EvalError> {
    let axes: Vec<String> = e.free_axes().into_iter().collect();
    let values = ev.eval_over(e, &axes)?;
    ev.bind(name, axes, values);
    Ok(())
}

/// An enclosure of `Σ_positions grad · v`, with the model's definitions,
/// `d<output>` and the program's names bound as enclosures.
fn pairing(
    model: &Model,
    program: &[(Symbol, Expr)],
    grad: &Expr,
    env: &Env,
    dy: &Upstream,
    v: &Tensor,
) -> Result<Iv, OracleError> {
    if let Some(a) = grad.free_axes().iter().find(|a| !v.axes.contains(a)) {
        return Err(OracleError::Model(format!(
            "the expression varies along `{a}`, which the direction does not have"
        )));
    }
    let mut genv = env.clone();
    bind_upstream(&mut genv, dy);
    let mut ev = Evaluator::new(&genv);
    for (name, e) in &model.defs {
        bind_expr(&mut ev, name, e)?;
    }
    for (s, e) in program {
        bind_expr(&mut ev, &s.name, e)?;
    }
    let values = ev.eval_over(grad, &v.axes)?;
    if values.len() != v.data.len() {
        return Err(OracleError::Model("direction has a wrong size".to_string()));
    }
    let mut acc = point(&Rat::zero());
    for (g, vi) in values.iter().zip(&v.data) {
        if !vi.is_zero() {
            acc = acc.add(&Iv::from_value(g).mul(&point(vi))?)?;
        }
    }
    Ok(acc)
}

/// What an interval check differentiates with respect to.
#[derive(Clone, Copy, Debug)]
pub enum Wrt<'s> {
    /// An input, parameter or constant, moved along `v`
    /// ([`super::check_gradient`]).
    Input(&'s str),
    /// A definition, whose value is moved along `v` once computed
    /// ([`super::check_gradient_of_definition`]).
    Definition(&'s str),
}

/// [`super::check_gradient`] (or, for a definition,
/// [`super::check_gradient_of_definition`]) over enclosures: the same
/// direction `v` and upstream `dy` drawn from `seed`, `⟨grad, v⟩` against
/// `d/dt ℓ` along `v`.
pub fn check_gradient_interval(
    model: &Model,
    program: &[(Symbol, Expr)],
    wrt: Wrt<'_>,
    grad: &Expr,
    (env, seed): (&Env, u64),
) -> Result<IntervalCheck, OracleError> {
    let axes: Vec<String> = match wrt {
        Wrt::Input(name) => axes_of(model, env, name)?,
        Wrt::Definition(def) => model
            .defs
            .iter()
            .rev()
            .find(|(n, _)| n == def)
            .ok_or_else(|| OracleError::Model(format!("`{def}` is not a definition")))?
            .1
            .free_axes()
            .into_iter()
            .collect(),
    };
    let (v, dy) = direction_and_upstream(model, env, &axes, seed)?;
    at_precisions(|| {
        let ev = match wrt {
            Wrt::Input(name) => {
                let dirs = BTreeMap::from([(name.to_string(), v.clone())]);
                let mut ev = Forward::<Dual>::new(env, &dirs, 1)?;
                ev.run_defs(model)?;
                ev
            }
            Wrt::Definition(def) => {
                let mut ev = Forward::<Dual>::new(env, &BTreeMap::new(), 1)?;
                ev.run_defs_cut(model, Some((def, &v)))?;
                ev
            }
        };
        let rhs = forward::loss_jet(model, &ev, &dy)?.d;
        Ok((pairing(model, program, grad, env, &dy, &v)?, rhs))
    })
}

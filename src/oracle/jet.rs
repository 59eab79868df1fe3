//! Truncated Taylor series ("jets") over exact rationals.
//!
//! A [`Jet`] of order `K` holds the Taylor coefficients `c[0..=K]` of a
//! function of one real variable `t` at `t = 0`: `f(t) = Σ c[k] t^k + O(t^(K+1))`.
//! Order 1 is the dual numbers. Arithmetic truncates at order `K`, so the
//! coefficients are exact: `k! · c[k]` is the exact `k`-th derivative.
//!
//! The total semantics of bnproof (`x/0 = 0`, `sqrt` of a negative number is
//! `0`) make division, roots and non-integer powers non-differentiable where
//! the argument's value is `0`. There a jet would be wrong, so these
//! operations answer [`OracleError::NotSmooth`] instead. A root whose value
//! is irrational cannot be held exactly and answers [`OracleError::Irrational`].

use super::OracleError;
use crate::ir::{int_pow, Rat, MAX_EXPONENT};
use num_bigint::BigInt;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::ops::{Add, Mul, Neg, Sub};

/// Largest jet order accepted by the constructors.
pub const MAX_ORDER: usize = 8;

/// Largest root index of a rational power evaluated exactly.
pub const MAX_ROOT: u64 = 64;

/// Taylor coefficients `c[0..=K]` at `t = 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jet {
    pub c: Vec<Rat>,
}

fn rat(n: i64) -> Rat {
    Rat::from_integer(BigInt::from(n))
}

/// The exact `b`-th root of `x` (`x >= 0` unless `b = 1`), if it is rational.
pub fn exact_root(x: &Rat, b: u64) -> Option<Rat> {
    if b == 1 {
        return Some(x.clone());
    }
    if x.is_negative() || b == 0 {
        return None;
    }
    let b32 = u32::try_from(b).ok()?;
    let root = |n: &BigInt| -> Option<BigInt> {
        let r = n.nth_root(b32);
        (num_traits::pow(r.clone(), b as usize) == *n).then_some(r)
    };
    Some(Rat::new(root(x.numer())?, root(x.denom())?))
}

impl Jet {
    /// The constant `v` (all higher coefficients zero).
    pub fn constant(v: Rat, order: usize) -> Jet {
        let mut c = vec![Rat::zero(); order + 1];
        c[0] = v;
        Jet { c }
    }

    /// The zero jet.
    pub fn zero(order: usize) -> Jet {
        Jet::constant(Rat::zero(), order)
    }

    /// `v + dv · t`.
    pub fn linear(v: Rat, dv: Rat, order: usize) -> Jet {
        let mut j = Jet::constant(v, order);
        if order >= 1 {
            j.c[1] = dv;
        }
        j
    }

    /// The truncation order `K`.
    pub fn order(&self) -> usize {
        self.c.len().saturating_sub(1)
    }

    /// The value at `t = 0`.
    pub fn value(&self) -> &Rat {
        &self.c[0]
    }

    /// True when every coefficient is zero.
    pub fn is_zero(&self) -> bool {
        self.c.iter().all(Zero::is_zero)
    }

    /// The derivatives `d^k f / dt^k` at `t = 0`, `k = 0..=K` (`k! · c[k]`).
    pub fn derivatives(&self) -> Vec<Rat> {
        let mut fact = Rat::one();
        self.c
            .iter()
            .enumerate()
            .map(|(k, c)| {
                if k > 0 {
                    fact *= rat(k as i64);
                }
                c * &fact
            })
            .collect()
    }

    /// Multiply every coefficient by `s`.
    pub fn scale(&self, s: &Rat) -> Jet {
        Jet {
            c: self.c.iter().map(|c| c * s).collect(),
        }
    }

    fn check_order(&self, other: &Jet) {
        debug_assert_eq!(self.c.len(), other.c.len(), "jets of different orders");
    }

    /// `1 / self`; [`OracleError::NotSmooth`] when the value is `0`.
    pub fn recip(&self) -> Result<Jet, OracleError> {
        Jet::constant(Rat::one(), self.order()).div(self)
    }

    /// `self / other`; [`OracleError::NotSmooth`] when `other`'s value is `0`
    /// (the total semantics `x/0 = 0` is not differentiable there).
    pub fn div(&self, other: &Jet) -> Result<Jet, OracleError> {
        self.check_order(other);
        let b0 = other.value();
        if b0.is_zero() {
            return Err(OracleError::NotSmooth(
                "division by a quantity whose value is 0".to_string(),
            ));
        }
        let k = self.c.len().min(other.c.len());
        let mut q: Vec<Rat> = Vec::with_capacity(k);
        for i in 0..k {
            let mut acc = self.c[i].clone();
            for j in 1..=i {
                acc -= &other.c[j] * &q[i - j];
            }
            q.push(acc / b0);
        }
        Ok(Jet { c: q })
    }

    /// `self ^ n` for an integer `n` (`0^0 = 1`); a negative `n` needs a
    /// nonzero value.
    pub fn powi(&self, n: i64) -> Result<Jet, OracleError> {
        if n.unsigned_abs() > MAX_EXPONENT as u64 {
            return Err(OracleError::TooLarge(format!("exponent {n}")));
        }
        let k = self.order();
        if n < 0 {
            return self.powi(-n)?.recip();
        }
        let mut result = Jet::constant(Rat::one(), k);
        let mut base = self.clone();
        let mut e = n as u64;
        while e > 0 {
            if e & 1 == 1 {
                result = &result * &base;
            }
            e >>= 1;
            if e > 0 {
                base = &base * &base;
            }
        }
        Ok(result)
    }

    /// `self ^ p` for a rational `p`, under the total semantics: a
    /// non-integer power of a negative value is `0` (and so is its jet, the
    /// function being `0` nearby). A non-integer or negative power at value
    /// `0` is [`OracleError::NotSmooth`]; an irrational value of the power is
    /// [`OracleError::Irrational`].
    pub fn pow(&self, p: &Rat) -> Result<Jet, OracleError> {
        let k = self.order();
        let x0 = self.value();
        if p.is_integer() {
            let n = p
                .to_integer()
                .to_i64()
                .ok_or_else(|| OracleError::TooLarge(format!("exponent {p}")))?;
            if n >= 0 || x0.is_zero() {
                return self.powi(n);
            }
        } else if x0.is_negative() {
            return Ok(Jet::zero(k));
        } else if x0.is_zero() {
            return Err(OracleError::NotSmooth(format!(
                "power {p} of a quantity whose value is 0"
            )));
        }
        // x0 != 0: binomial series of x0^p (1 + u)^p with u = self/x0 - 1.
        let num = p
            .numer()
            .to_i64()
            .filter(|n| n.unsigned_abs() <= MAX_EXPONENT as u64)
            .ok_or_else(|| OracleError::TooLarge(format!("exponent {p}")))?;
        let den = p
            .denom()
            .to_u64()
            .filter(|&d| d <= MAX_ROOT)
            .ok_or_else(|| OracleError::TooLarge(format!("root index of exponent {p}")))?;
        let lead = int_pow(x0, num).ok_or_else(|| OracleError::TooLarge(format!("{x0}^{num}")))?;
        let lead = exact_root(&lead, den).ok_or_else(|| {
            OracleError::Irrational(format!("{x0}^({p}) is not a rational number"))
        })?;
        let mut u = self.scale(&x0.recip());
        u.c[0] = Rat::zero();
        let mut sum = Jet::constant(Rat::one(), k);
        let mut term = Jet::constant(Rat::one(), k);
        let mut coef = Rat::one();
        for i in 1..=k {
            coef = coef * (p - rat(i as i64 - 1)) / rat(i as i64);
            term = &term * &u;
            sum = &sum + &term.scale(&coef);
        }
        Ok(sum.scale(&lead))
    }

    /// `sqrt(self)`: exact when the value is a rational square, `0` (and a
    /// zero jet) for a negative value, [`OracleError::NotSmooth`] at `0`.
    pub fn sqrt(&self) -> Result<Jet, OracleError> {
        self.pow(&Rat::new(BigInt::from(1), BigInt::from(2)))
    }

    /// `self` with its value removed (`u(0) = 0`).
    fn centred(&self) -> Jet {
        let mut u = self.clone();
        u.c[0] = Rat::zero();
        u
    }

    /// `Σ_{i=0..=k} coef(i) · u^i` for a jet `u` with `u(0) = 0`.
    fn series(u: &Jet, coef: impl Fn(usize) -> Rat) -> Jet {
        let k = u.order();
        let mut sum = Jet::constant(coef(0), k);
        let mut term = Jet::constant(Rat::one(), k);
        for i in 1..=k {
            term = &term * u;
            sum = &sum + &term.scale(&coef(i));
        }
        sum
    }

    /// `exp(self)`: rational only when the value is 0.
    pub fn exp(&self) -> Result<Jet, OracleError> {
        if !self.value().is_zero() {
            return Err(OracleError::Irrational(format!(
                "exp({}) is not a rational number",
                self.value()
            )));
        }
        let mut fact = Rat::one();
        let mut facts = vec![Rat::one()];
        for i in 1..=self.order() {
            fact *= rat(i as i64);
            facts.push(fact.recip());
        }
        Ok(Jet::series(self, |i| facts[i].clone()))
    }

    /// `log |self|` (`log 0 = 0`): rational only when the value is ±1;
    /// [`OracleError::NotSmooth`] at 0.
    pub fn log(&self) -> Result<Jet, OracleError> {
        let v = self.value().clone();
        if v.is_zero() {
            return Err(OracleError::NotSmooth("log at 0".to_string()));
        }
        if !v.abs().is_one() {
            return Err(OracleError::Irrational(format!(
                "log({v}) is not a rational number"
            )));
        }
        // log |v (1 + u)| = log (1 + u) for |v| = 1, u = self / v − 1.
        let u = self.scale(&v.recip()).centred();
        Ok(Jet::series(&u, |i| {
            if i == 0 {
                Rat::zero()
            } else {
                let s = if i % 2 == 1 { 1 } else { -1 };
                Rat::new(BigInt::from(s), BigInt::from(i))
            }
        }))
    }

    /// `|self|`; [`OracleError::NotSmooth`] at the kink 0.
    pub fn abs(&self) -> Result<Jet, OracleError> {
        match self.value() {
            v if v.is_positive() => Ok(self.clone()),
            v if v.is_negative() => Ok(-self),
            _ => Err(OracleError::NotSmooth("abs at 0".to_string())),
        }
    }

    /// `max(self, other)` (`is_max`) or `min`; [`OracleError::NotSmooth`] on
    /// a tie.
    pub fn max_min(&self, other: &Jet, is_max: bool) -> Result<Jet, OracleError> {
        let (a, b) = (self.value(), other.value());
        if a == b {
            return Err(OracleError::NotSmooth(format!(
                "{} at a tie",
                if is_max { "max" } else { "min" }
            )));
        }
        Ok(if (a > b) == is_max {
            self.clone()
        } else {
            other.clone()
        })
    }

    /// The value with no derivative (`detach`).
    pub fn detach(&self) -> Jet {
        Jet::constant(self.value().clone(), self.order())
    }
}

impl Add for &Jet {
    type Output = Jet;
    fn add(self, other: &Jet) -> Jet {
        self.check_order(other);
        Jet {
            c: self.c.iter().zip(&other.c).map(|(a, b)| a + b).collect(),
        }
    }
}

impl Sub for &Jet {
    type Output = Jet;
    fn sub(self, other: &Jet) -> Jet {
        self.check_order(other);
        Jet {
            c: self.c.iter().zip(&other.c).map(|(a, b)| a - b).collect(),
        }
    }
}

impl Neg for &Jet {
    type Output = Jet;
    fn neg(self) -> Jet {
        Jet {
            c: self.c.iter().map(|a| -a).collect(),
        }
    }
}

impl Mul for &Jet {
    type Output = Jet;
    fn mul(self, other: &Jet) -> Jet {
        self.check_order(other);
        let k = self.c.len().min(other.c.len());
        let c = (0..k)
            .map(|i| {
                let mut acc = Rat::zero();
                for j in 0..=i {
                    if !self.c[j].is_zero() && !other.c[i - j].is_zero() {
                        acc += &self.c[j] * &other.c[i - j];
                    }
                }
                acc
            })
            .collect();
        Jet { c }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: i64, d: i64) -> Rat {
        Rat::new(BigInt::from(p), BigInt::from(d))
    }

    #[test]
    fn cube_of_shift() {
        // (x + t)^3 at x = 2: 8 + 12 t + 6 t^2 + t^3.
        let x = Jet::linear(q(2, 1), q(1, 1), 3);
        let y = x.powi(3).unwrap();
        assert_eq!(y.c, vec![q(8, 1), q(12, 1), q(6, 1), q(1, 1)]);
        assert_eq!(y.derivatives(), vec![q(8, 1), q(12, 1), q(12, 1), q(6, 1)]);
        assert_eq!(x.pow(&q(3, 1)).unwrap(), y);
    }

    #[test]
    fn sqrt_series() {
        // sqrt(4 + t) = 2 + t/4 - t^2/64 + t^3/512 - ...
        let x = Jet::linear(q(4, 1), q(1, 1), 3);
        let y = x.sqrt().unwrap();
        assert_eq!(y.c, vec![q(2, 1), q(1, 4), q(-1, 64), q(1, 512)]);
        // squaring it back gives 4 + t exactly (to order 3)
        assert_eq!((&y * &y).c, x.c);
    }

    #[test]
    fn division_and_inverse_powers() {
        let x = Jet::linear(q(2, 1), q(1, 1), 3);
        // 1/(2 + t) = 1/2 - t/4 + t^2/8 - t^3/16
        let r = x.recip().unwrap();
        assert_eq!(r.c, vec![q(1, 2), q(-1, 4), q(1, 8), q(-1, 16)]);
        assert_eq!(x.powi(-1).unwrap(), r);
        assert_eq!(x.pow(&q(-1, 1)).unwrap(), r);
        assert_eq!((&r * &x).c, Jet::constant(q(1, 1), 3).c);
        // (4 + t)^(-1/2) = 1/2 - t/16 + 3 t^2/256 - 5 t^3/2048
        let s = Jet::linear(q(4, 1), q(1, 1), 3).pow(&q(-1, 2)).unwrap();
        assert_eq!(s.c, vec![q(1, 2), q(-1, 16), q(3, 256), q(-5, 2048)]);
    }

    #[test]
    fn non_smooth_and_irrational_points() {
        let z = Jet::linear(q(0, 1), q(1, 1), 2);
        assert!(matches!(z.recip(), Err(OracleError::NotSmooth(_))));
        assert!(matches!(z.sqrt(), Err(OracleError::NotSmooth(_))));
        assert!(matches!(z.powi(-2), Err(OracleError::NotSmooth(_))));
        assert_eq!(z.powi(2).unwrap().c, vec![q(0, 1), q(0, 1), q(1, 1)]);
        assert_eq!(z.powi(0).unwrap(), Jet::constant(q(1, 1), 2));
        let two = Jet::linear(q(2, 1), q(1, 1), 2);
        assert!(matches!(two.sqrt(), Err(OracleError::Irrational(_))));
        // sqrt of a negative value is 0 nearby
        let neg = Jet::linear(q(-1, 1), q(1, 1), 2);
        assert_eq!(neg.sqrt().unwrap(), Jet::zero(2));
        // integer powers of negative values are fine
        assert_eq!(neg.powi(2).unwrap().c, vec![q(1, 1), q(-2, 1), q(1, 1)]);
        assert_eq!(
            neg.pow(&q(-1, 1)).unwrap().c,
            vec![q(-1, 1), q(-1, 1), q(-1, 1)]
        );
        assert_eq!(exact_root(&q(8, 27), 3), Some(q(2, 3)));
        assert_eq!(exact_root(&q(2, 1), 2), None);
    }
}

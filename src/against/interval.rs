//! The derived program over `f64` intervals rounded outward: every result
//! encloses the true value, and its width bounds the error of the `f64`
//! midpoint. Used above [`super::EXACT_ENTRIES`] positions, where exact
//! rationals cost too much. Where an interval cannot decide an operation
//! of the total semantics (a divisor or a radicand whose interval contains
//! 0), evaluation stops with an error and the caller evaluates exactly.

use super::{Approx, Bound, References};
use crate::diff::Derivation;
use crate::ir::{Expr, Fun, RedOp};
use crate::syntax::Model;
use num_traits::ToPrimitive;
use std::collections::{BTreeMap, HashMap};

/// A closed interval `[lo, hi]` of `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iv {
    pub lo: f64,
    pub hi: f64,
}

fn down(x: f64) -> f64 {
    -super::next_up(-x)
}

fn up(x: f64) -> f64 {
    super::next_up(x)
}

impl Iv {
    pub fn point(x: f64) -> Iv {
        Iv { lo: x, hi: x }
    }

    fn out(lo: f64, hi: f64) -> Iv {
        Iv {
            lo: down(lo),
            hi: up(hi),
        }
    }

    fn contains_zero(self) -> bool {
        self.lo <= 0.0 && self.hi >= 0.0
    }

    fn add(self, o: Iv) -> Iv {
        Iv::out(self.lo + o.lo, self.hi + o.hi)
    }

    fn neg(self) -> Iv {
        Iv {
            lo: -self.hi,
            hi: -self.lo,
        }
    }

    fn mul(self, o: Iv) -> Iv {
        let p = [
            self.lo * o.lo,
            self.lo * o.hi,
            self.hi * o.lo,
            self.hi * o.hi,
        ];
        let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Iv::out(lo, hi)
    }

    fn recip(self) -> Result<Iv, String> {
        if self.lo == 0.0 && self.hi == 0.0 {
            return Ok(Iv::point(0.0)); // 1/0 = 0
        }
        if self.contains_zero() {
            return Err("a divisor's interval contains 0".to_string());
        }
        Ok(Iv::out(1.0 / self.hi, 1.0 / self.lo))
    }

    fn sqrt(self) -> Iv {
        // sqrt of a negative number is 0; IEEE sqrt is correctly rounded.
        let lo = if self.lo <= 0.0 {
            0.0
        } else {
            down(self.lo.sqrt())
        };
        let hi = if self.hi <= 0.0 {
            0.0
        } else {
            up(self.hi.sqrt())
        };
        Iv {
            lo: lo.max(0.0),
            hi,
        }
    }

    fn powi(self, n: i64) -> Result<Iv, String> {
        if n < 0 {
            return self.powi(-n)?.recip();
        }
        let mut acc = Iv::point(1.0);
        let mut base = self;
        let mut k = n;
        // Even powers of an interval around 0 start at 0.
        if n % 2 == 0 && self.contains_zero() {
            let m = self.lo.abs().max(self.hi.abs());
            return Iv::point(m).powi(n).map(|i| Iv { lo: 0.0, hi: i.hi });
        }
        while k > 0 {
            if k & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.mul(base);
            k >>= 1;
        }
        Ok(acc)
    }

    /// `f(x)` for a monotone increasing `f` from libm, which is within an
    /// ulp or two: widened by four ulps on each side.
    fn monotone(self, f: fn(f64) -> f64) -> Iv {
        let widen = |x: f64, g: fn(f64) -> f64| (0..4).fold(x, |v, _| g(v));
        Iv {
            lo: widen(f(self.lo), down),
            hi: widen(f(self.hi), up),
        }
    }

    fn exp(self) -> Iv {
        let e = self.monotone(f64::exp);
        Iv {
            lo: e.lo.max(0.0),
            hi: e.hi,
        }
    }

    fn abs(self) -> Iv {
        if self.lo >= 0.0 {
            self
        } else if self.hi <= 0.0 {
            self.neg()
        } else {
            Iv {
                lo: 0.0,
                hi: self.hi.max(-self.lo),
            }
        }
    }

    /// `log |x|`, `log 0 = 0`.
    fn log(self) -> Result<Iv, String> {
        if self.lo == 0.0 && self.hi == 0.0 {
            return Ok(Iv::point(0.0));
        }
        if self.contains_zero() {
            return Err("a logarithm's argument interval contains 0".to_string());
        }
        Ok(self.abs().monotone(f64::ln))
    }

    /// `x^p` for a non-integer `p`, defined for `x > 0` (and 0 at `x <= 0`).
    fn powf(self, p: f64) -> Result<Iv, String> {
        if self.hi <= 0.0 {
            return Ok(Iv::point(0.0));
        }
        if self.lo <= 0.0 {
            return Err("a non-integer power's base interval contains 0".to_string());
        }
        // libm's pow is within an ulp or two; widen by four on each side.
        let widen = |x: f64, f: fn(f64) -> f64| (0..4).fold(x, |v, _| f(v));
        let (a, b) = (self.lo.powf(p), self.hi.powf(p));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Ok(Iv {
            lo: widen(lo, down).max(0.0),
            hi: widen(hi, up),
        })
    }
}

struct Eval<'a> {
    sizes: &'a BTreeMap<String, usize>,
    bound: HashMap<String, (Vec<String>, Vec<Iv>)>,
    memo: HashMap<(usize, Vec<usize>), Iv>,
    free: HashMap<usize, Vec<String>>,
}

impl Eval<'_> {
    fn symbol(&self, s: &crate::ir::Symbol, index: &BTreeMap<String, usize>) -> Result<Iv, String> {
        let (axes, data) = self
            .bound
            .get(&s.name)
            .ok_or_else(|| format!("no value for `{}`", s.name))?;
        let mut off = 0;
        for a in axes {
            off = off * self.sizes[a] + index.get(a).copied().unwrap_or(0);
        }
        data.get(off)
            .copied()
            .ok_or_else(|| format!("`{}` has a wrong size", s.name))
    }

    fn ev(&mut self, e: &Expr, index: &mut BTreeMap<String, usize>) -> Result<Iv, String> {
        Ok(match e {
            Expr::Num(r) => {
                let v = r.to_f64().unwrap_or(f64::NAN);
                if crate::ir::Rat::from_float(v).as_ref() == Some(r) {
                    Iv::point(v)
                } else {
                    Iv::out(v, v)
                }
            }
            Expr::Sym(s) => self.symbol(s, index)?,
            Expr::PVar(v) => return Err(format!("pattern variable ?{v}")),
            Expr::Neg(a) => self.ev(a, index)?.neg(),
            Expr::Add(a, b) => self.ev(a, index)?.add(self.ev(b, index)?),
            Expr::Sub(a, b) => self.ev(a, index)?.add(self.ev(b, index)?.neg()),
            Expr::Mul(a, b) => self.ev(a, index)?.mul(self.ev(b, index)?),
            Expr::Div(a, b) => {
                let x = self.ev(a, index)?;
                x.mul(self.ev(b, index)?.recip()?)
            }
            Expr::Sqrt(a) => self.ev(a, index)?.sqrt(),
            Expr::App(f, args) => {
                let x = self.ev(&args[0], index)?;
                match f {
                    Fun::Exp => x.exp(),
                    Fun::Log => x.log()?,
                    Fun::Abs => x.abs(),
                    // Both monotone in each argument; no rounding.
                    Fun::Max | Fun::Min => {
                        let y = self.ev(&args[1], index)?;
                        let pick = if *f == Fun::Max { f64::max } else { f64::min };
                        Iv {
                            lo: pick(x.lo, y.lo),
                            hi: pick(x.hi, y.hi),
                        }
                    }
                    Fun::Detach => x,
                }
            }
            Expr::Pow(a, p) => {
                let p = p
                    .const_value()
                    .ok_or("an exponent that is not a rational constant")?;
                let x = self.ev(a, index)?;
                if p.is_integer() {
                    let n = p.to_integer().to_i64().ok_or("an exponent too large")?;
                    x.powi(n)?
                } else {
                    x.powf(p.to_f64().unwrap_or(f64::NAN))?
                }
            }
            Expr::Reduce(op, axes, body) => {
                let addr = e as *const Expr as usize;
                let free = self
                    .free
                    .entry(addr)
                    .or_insert_with(|| e.free_axes().into_iter().collect());
                let key: Vec<usize> = free
                    .iter()
                    .map(|a| index.get(a).copied().unwrap_or(0))
                    .collect();
                if let Some(v) = self.memo.get(&(addr, key.clone())) {
                    return Ok(*v);
                }
                let v = self.reduce(*op, axes, body, index)?;
                self.memo.insert((addr, key), v);
                v
            }
        })
    }

    fn reduce(
        &mut self,
        op: RedOp,
        axes: &[String],
        body: &Expr,
        index: &mut BTreeMap<String, usize>,
    ) -> Result<Iv, String> {
        let saved: Vec<Option<usize>> = axes.iter().map(|a| index.get(a).copied()).collect();
        let points =
            crate::eval::assignments(axes, self.sizes, u64::MAX).map_err(|e| e.to_string())?;
        let mut vals = Vec::with_capacity(points.len());
        for p in &points {
            index.extend(p.iter().map(|(k, v)| (k.clone(), *v)));
            vals.push(self.ev(body, index)?);
        }
        for (a, s) in axes.iter().zip(saved) {
            match s {
                Some(v) => index.insert(a.clone(), v),
                None => index.remove(a),
            };
        }
        let n = Iv::point(vals.len() as f64);
        let sum = vals.iter().fold(Iv::point(0.0), |s, v| s.add(*v));
        Ok(match op {
            RedOp::Sum => sum,
            RedOp::Mean => sum.mul(n.recip()?),
            RedOp::Var => {
                let m = sum.mul(n.recip()?);
                let sq = vals
                    .iter()
                    .map(|v| v.add(m.neg()).powi(2))
                    .collect::<Result<Vec<_>, _>>()?;
                sq.iter()
                    .fold(Iv::point(0.0), |s, v| s.add(*v))
                    .mul(n.recip()?)
            }
        })
    }

    fn over(&mut self, e: &Expr, axes: &[String]) -> Result<Vec<Iv>, String> {
        self.memo.clear();
        self.free.clear();
        let points =
            crate::eval::assignments(axes, self.sizes, u64::MAX).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(points.len());
        for mut p in points {
            out.push(self.ev(e, &mut p)?);
        }
        self.memo.clear();
        self.free.clear();
        Ok(out)
    }
}

/// The derived gradients at the bound arrays over `f64` intervals: the
/// midpoint of each and the half-width as its error bound.
pub fn references(
    model: &Model,
    derivation: &Derivation,
    bound: &Bound,
) -> Result<References, String> {
    let sizes = bound.size_map();
    let mut ev = Eval {
        sizes: &sizes,
        bound: HashMap::new(),
        memo: HashMap::new(),
        free: HashMap::new(),
    };
    for (e, a) in &bound.arrays {
        if e.role.is_compared() {
            continue;
        }
        let mut sorted = e.axes.clone();
        sorted.sort();
        let data = super::permute(&a.data, &e.axes, &sorted, &sizes)
            .into_iter()
            .map(Iv::point)
            .collect();
        ev.bound.insert(e.name.clone(), (sorted, data));
    }
    let defs = model
        .defs
        .iter()
        .map(|(n, e)| (crate::ir::Symbol::new(n.clone(), e.free_axes()), e.clone()));
    for (s, e) in defs.chain(derivation.program()) {
        let v = ev.over(&e, &s.axes)?;
        ev.bound.insert(s.name.clone(), (s.axes.clone(), v));
    }
    let mut out = BTreeMap::new();
    for (name, e, axes) in super::gradient_reads(model, derivation) {
        let v = ev.over(&e, &axes)?;
        let approx = v
            .iter()
            .map(|i| {
                let mid = i.lo / 2.0 + i.hi / 2.0;
                let bound = up((i.hi - mid).max(mid - i.lo));
                if !(mid.is_finite() && bound.is_finite()) {
                    return Err(format!("the reference for `{name}` overflows f64"));
                }
                Ok(Approx { value: mid, bound })
            })
            .collect::<Result<Vec<_>, String>>()?;
        out.insert(name, approx);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_enclose_the_true_value() {
        let third = Iv::point(1.0).mul(Iv::point(3.0).recip().unwrap());
        assert!(third.lo < third.hi && third.lo <= 1.0 / 3.0 && 1.0 / 3.0 <= third.hi);
        let s = Iv::point(2.0).sqrt();
        assert!(s.lo * s.lo <= 2.0 && s.hi * s.hi >= 2.0);
        assert_eq!(Iv::point(0.0).recip().unwrap(), Iv::point(0.0));
        assert!(Iv { lo: -1.0, hi: 1.0 }.recip().is_err());
        let sq = Iv { lo: -2.0, hi: 1.0 }.powi(2).unwrap();
        assert_eq!(sq.lo, 0.0);
        assert!(sq.hi >= 4.0);
        let p = Iv::point(4.0).powf(-1.5).unwrap();
        assert!(p.lo <= 0.125 && 0.125 <= p.hi);
    }
}

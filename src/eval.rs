//! Exact evaluation of expressions under the total semantics, with a
//! rigorous interval fallback for irrational roots.
//!
//! Values are exact rationals whenever possible. A square root or `b`-th
//! root of a rational that is not a perfect power becomes a rational
//! interval `[lo, hi]` with `lo^b <= x <= hi^b` established by integer
//! arithmetic, and interval arithmetic is carried through the remaining
//! operations with outward rounding. Every result is an enclosure of the
//! true value: an [`Value::Interval`] never claims more than is known.
//!
//! Operations are total (Lean's mathlib conventions): `x/0 = 0`,
//! `sqrt(x) = 0` for `x < 0`, `0^-n = 0`, non-integer powers of negative
//! numbers are `0`. Where such a convention makes an operation discontinuous
//! (division or a negative power near `0`) and an interval straddles the
//! discontinuity, evaluation answers [`EvalError::Undefined`] rather than
//! guess.

use crate::ir::{int_pow, Expr, Fun, Rat, RedOp, Rel, MAX_EXPONENT};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Instant;

/// Largest bit length of a numerator or denominator before evaluation gives
/// up with [`EvalError::TooLarge`].
pub const MAX_BITS: u64 = 100_000;

/// Default work budget: node evaluations per [`Evaluator`].
pub const DEFAULT_BUDGET: u64 = 2_000_000;

/// Budget units one `exp` or `log` enclosure costs: a series of a few dozen
/// rounded products.
const SERIES_TICKS: u64 = 64;

/// Budget units an operation whose result is an enclosure costs: two
/// outward roundings at the working precision.
const INTERVAL_TICKS: u64 = 16;

/// Interval endpoints with a denominator longer than this many bits (or
/// than the precision plus 32) are rounded outward to a grid of relative
/// spacing `2^-precision` (96 bits unless [`with_precision`] says more).
const ROUND_THRESHOLD_BITS: u64 = 128;
const ROUND_PREC: i64 = 96;

/// Bits of the integer root computed for an irrational root (relative
/// precision of the enclosure, about `2^-(precision − 16)`, 80 bits by
/// default).
const ROOT_PREC_MARGIN: i64 = 16;

thread_local! {
    /// The rounding precision of enclosures on this thread.
    static PRECISION: std::cell::Cell<i64> = const { std::cell::Cell::new(ROUND_PREC) };
}

fn round_prec() -> i64 {
    PRECISION.with(|p| p.get())
}

fn root_prec() -> i64 {
    round_prec() - ROOT_PREC_MARGIN
}

/// Run `f` with enclosures rounded to a grid of relative spacing
/// `2^-bits` (at least the default 96) on this thread: narrower intervals
/// for callers that must decide something an enclosure left open (the
/// rounding of a value to `f64`). Every result is still a rigorous
/// enclosure; only its width changes.
pub fn with_precision<T>(bits: u32, f: impl FnOnce() -> T) -> T {
    struct Restore(i64);
    impl Drop for Restore {
        fn drop(&mut self) {
            PRECISION.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(round_prec());
    PRECISION.with(|p| p.set(i64::from(bits).max(ROUND_PREC)));
    f()
}

/// Largest root index enclosed by integer roots of `x·2^(b·k)`; larger
/// indices (up to [`MAX_EXPONENT`]) are enclosed from a floating-point
/// estimate checked exactly ([`root_bounds_checked`]), because the integer
/// root converges too slowly there.
const MAX_ROOT_INDEX: u64 = 64;

/// Deepest expression tree evaluated (recursion guard).
const MAX_DEPTH: usize = 256;

/// A tensor of exact values: row-major over `axes` (sorted, as in
/// [`crate::ir::Symbol`]), the last axis varying fastest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub axes: Vec<String>,
    pub data: Vec<Rat>,
}

impl Tensor {
    /// A tensor with no axes.
    pub fn scalar(v: Rat) -> Tensor {
        Tensor {
            axes: vec![],
            data: vec![v],
        }
    }
}

/// Axis sizes and symbol values (keyed by symbol name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub sizes: BTreeMap<String, usize>,
    pub values: BTreeMap<String, Tensor>,
}

/// The value of an expression at one point: exact, or a rigorous enclosure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Exact(Rat),
    /// `lo <= true value <= hi`, with `lo < hi`.
    Interval(Rat, Rat),
}

impl Value {
    pub fn lo(&self) -> &Rat {
        match self {
            Value::Exact(v) => v,
            Value::Interval(lo, _) => lo,
        }
    }

    pub fn hi(&self) -> &Rat {
        match self {
            Value::Exact(v) => v,
            Value::Interval(_, hi) => hi,
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Value::Exact(_))
    }

    /// True only when the two values certainly differ: both exact and
    /// different, or disjoint enclosures.
    pub fn definitely_ne(&self, other: &Value) -> bool {
        rat_cmp(self.hi(), other.lo()).is_lt() || rat_cmp(other.hi(), self.lo()).is_lt()
    }

    /// True only when both values are exact and equal.
    pub fn definitely_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Exact(a), Value::Exact(b)) => rat_eq(a, b),
            _ => false,
        }
    }

    /// Whether `value REL 0` holds: `Some(true)` / `Some(false)` when
    /// decided (exactly or by the enclosure), `None` when undecided.
    pub fn holds(&self, rel: Rel) -> Option<bool> {
        let zero = Rat::zero();
        let (lo, hi) = (self.lo(), self.hi());
        match rel {
            Rel::Gt => {
                if *lo > zero {
                    Some(true)
                } else if *hi <= zero {
                    Some(false)
                } else {
                    None
                }
            }
            Rel::Ge => {
                if *lo >= zero {
                    Some(true)
                } else if *hi < zero {
                    Some(false)
                } else {
                    None
                }
            }
            Rel::Ne => {
                if *lo > zero || *hi < zero {
                    Some(true)
                } else if lo.is_zero() && hi.is_zero() {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// A floating-point approximation (the midpoint of an interval).
    pub fn approx(&self) -> f64 {
        match self {
            Value::Exact(v) => rat_to_f64(v),
            Value::Interval(lo, hi) => {
                rat_to_f64(&((lo + hi) / Rat::from_integer(BigInt::from(2))))
            }
        }
    }

    fn from_iv(iv: Iv) -> Value {
        if rat_eq(&iv.lo, &iv.hi) {
            Value::Exact(iv.lo)
        } else {
            Value::Interval(iv.lo, iv.hi)
        }
    }
}

/// `a` against `b` by cross-multiplication. num-rational compares (and
/// tests equality) by expanding both into continued fractions, a long
/// division per term; the two ends of a narrow enclosure share many terms,
/// and that expansion was a fifth of `derive batchnorm`'s work.
fn rat_cmp(a: &Rat, b: &Rat) -> std::cmp::Ordering {
    let (ad, bd) = (a.denom(), b.denom());
    if !ad.is_positive() || !bd.is_positive() {
        // Not reduced (only `Ratio::new_raw` makes these): the library's way.
        return a.cmp(b);
    }
    let (sa, sb) = (a.numer().sign(), b.numer().sign());
    if sa != sb {
        return sa.cmp(&sb);
    }
    if ad == bd {
        return a.numer().cmp(b.numer());
    }
    (a.numer() * bd).cmp(&(b.numer() * ad))
}

fn rat_eq(a: &Rat, b: &Rat) -> bool {
    rat_cmp(a, b) == std::cmp::Ordering::Equal
}

fn rat_to_f64(v: &Rat) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Exact(v) => write!(f, "{v}"),
            Value::Interval(lo, hi) => write!(f, "[{lo}, {hi}] (≈ {:e})", self.approx()),
        }
    }
}

/// Why evaluation gave no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("unbound symbol `{0}`")]
    UnboundSymbol(String),
    #[error("no size for axis `{0}`")]
    UnknownAxisSize(String),
    #[error("undecidable: {0}")]
    Undefined(String),
    #[error("too large: {0}")]
    TooLarge(String),
}

type R<T> = Result<T, EvalError>;

/// Values at positions: each assignment of the free axes with its value.
pub type Points = Vec<(BTreeMap<String, usize>, Value)>;

/// An enclosure `lo <= v <= hi`; exact when `lo == hi`. Arithmetic
/// rounds outward and follows the total semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iv {
    lo: Rat,
    hi: Rat,
}

fn too_large(what: &str) -> EvalError {
    EvalError::TooLarge(what.to_string())
}

fn check_bits(r: &Rat) -> R<()> {
    if r.numer().bits() > MAX_BITS || r.denom().bits() > MAX_BITS {
        Err(too_large("a number exceeds 100000 bits"))
    } else {
        Ok(())
    }
}

fn pow2(k: u64) -> BigInt {
    BigInt::one() << (k as usize)
}

/// Approximate `log2 |v|` (exact to within 1) for `v != 0`.
fn log2_approx(v: &Rat) -> i64 {
    v.numer().bits() as i64 - v.denom().bits() as i64
}

/// `v` rounded toward `-inf` (`up = false`) or `+inf` (`up = true`) to a
/// grid of relative spacing `2^-ROUND_PREC`, when its denominator is long.
fn round_dir(v: Rat, up: bool) -> Rat {
    let prec = round_prec();
    if v.is_zero() || v.denom().bits() <= ROUND_THRESHOLD_BITS.max(prec as u64 + 32) {
        return v;
    }
    round_rel(&v, prec, up)
}

/// `v != 0` rounded down or up to a grid of relative spacing `2^-prec`.
fn round_rel(v: &Rat, prec: i64, up: bool) -> Rat {
    round_parts(v.numer(), v.denom(), prec, up)
}

/// `n / d` (`n != 0`, `d > 0`, not necessarily in lowest terms) rounded
/// down or up to a grid of relative spacing `2^-prec`, without reducing
/// the fraction first (a gcd of long numbers costs more than the division).
fn round_parts(n: &BigInt, d: &BigInt, prec: i64, up: bool) -> Rat {
    let shift = prec - (n.bits() as i64 - d.bits() as i64);
    // floor or ceil of (n / d) * 2^shift, then divided back.
    let (num, den) = if shift >= 0 {
        (n << (shift as usize), d.clone())
    } else {
        (n.clone(), d << ((-shift) as usize))
    };
    let q = div_dir(&num, &den, up);
    if shift >= 0 {
        Rat::new(q, pow2(shift as u64))
    } else {
        Rat::from_integer(q * pow2((-shift) as u64))
    }
}

/// `floor(x / 2^w)` (`up = false`) or `ceil(x / 2^w)`, for `x >= 0`.
fn shr_dir(x: &BigInt, w: u64, up: bool) -> BigInt {
    if up {
        (x + pow2(w) - BigInt::one()) >> (w as usize)
    } else {
        x >> (w as usize)
    }
}

/// `floor(n / d)` (`up = false`) or `ceil(n / d)`, for `d > 0`.
fn div_dir(n: &BigInt, d: &BigInt, up: bool) -> BigInt {
    if up {
        -((-n).div_floor(d))
    } else {
        n.div_floor(d)
    }
}

impl std::ops::Neg for Iv {
    type Output = Iv;
    fn neg(self) -> Iv {
        Iv::neg(self)
    }
}

fn exact(v: Rat) -> R<Iv> {
    check_bits(&v)?;
    Ok(Iv {
        lo: v.clone(),
        hi: v,
    })
}

/// Builds an enclosure from `lo <= hi`, rounding outward.
fn mk(lo: Rat, hi: Rat) -> R<Iv> {
    if rat_eq(&lo, &hi) {
        return exact(lo);
    }
    let lo = round_dir(lo, false);
    let hi = round_dir(hi, true);
    check_bits(&lo)?;
    check_bits(&hi)?;
    if rat_eq(&lo, &hi) {
        Ok(Iv {
            lo: lo.clone(),
            hi: lo,
        })
    } else {
        Ok(Iv { lo, hi })
    }
}

impl Iv {
    /// The exact value `v`.
    pub fn exact(v: Rat) -> R<Iv> {
        exact(v)
    }

    /// The enclosure of a value.
    pub fn from_value(v: &Value) -> Iv {
        Iv {
            lo: v.lo().clone(),
            hi: v.hi().clone(),
        }
    }

    /// As a value (exact when the ends agree).
    pub fn to_value(&self) -> Value {
        Value::from_iv(self.clone())
    }

    pub fn lo(&self) -> &Rat {
        &self.lo
    }

    pub fn hi(&self) -> &Rat {
        &self.hi
    }

    /// `self ^ p` for a rational constant `p` under the total semantics.
    pub fn pow(&self, p: &Rat) -> R<Iv> {
        pow_value(self, p)
    }

    /// `hi − lo` over the larger magnitude of the ends: 0 when exact.
    pub fn rel_width(&self) -> Rat {
        if self.is_exact() {
            return Rat::zero();
        }
        let m = self.lo.abs().max(self.hi.abs());
        (&self.hi - &self.lo) / m
    }

    /// `|x|`, exact where `x` is.
    pub fn abs(self) -> Iv {
        let zero = Rat::zero();
        if self.lo >= zero {
            self
        } else if self.hi <= zero {
            self.neg()
        } else {
            let hi = (-self.lo).max(self.hi);
            Iv { lo: zero, hi }
        }
    }

    /// `max(x, y)` (`is_max`) or `min(x, y)`: both are monotone in each
    /// argument, so the ends are the max (min) of the ends.
    pub fn max_min(self, y: &Iv, is_max: bool) -> Iv {
        if is_max {
            Iv {
                lo: self.lo.max(y.lo.clone()),
                hi: self.hi.max(y.hi.clone()),
            }
        } else {
            Iv {
                lo: self.lo.min(y.lo.clone()),
                hi: self.hi.min(y.hi.clone()),
            }
        }
    }

    /// `exp(x)`: exact only at 0; monotone, so the ends map to the ends.
    pub fn exp(self) -> R<Iv> {
        if self.is_zero() {
            return exact(Rat::one());
        }
        mk(exp_dir(&self.lo, false)?, exp_dir(&self.hi, true)?)
    }

    /// `log |x|` with `log 0 = 0`: exact at 0 and ±1. The total function
    /// jumps at 0, so an enclosure containing 0 (other than `[0, 0]`) is
    /// undecidable; on either side of 0 it is monotone in `|x|`.
    pub fn log(self) -> R<Iv> {
        if self.lo == self.hi && (self.lo.is_zero() || self.lo.abs().is_one()) {
            return exact(Rat::zero());
        }
        if self.contains_zero() {
            return Err(EvalError::Undefined(
                "log of an interval containing 0".to_string(),
            ));
        }
        let (a, b) = if self.lo.is_positive() {
            (self.lo, self.hi)
        } else {
            (-self.hi, -self.lo)
        };
        mk(log_dir(&a, false)?, log_dir(&b, true)?)
    }

    pub fn is_exact(&self) -> bool {
        rat_eq(&self.lo, &self.hi)
    }

    pub fn contains_zero(&self) -> bool {
        !self.lo.is_positive() && !self.hi.is_negative()
    }

    pub fn is_zero(&self) -> bool {
        self.lo.is_zero() && self.hi.is_zero()
    }

    fn neg(self) -> Iv {
        Iv {
            lo: -self.hi,
            hi: -self.lo,
        }
    }

    pub fn add(&self, o: &Iv) -> R<Iv> {
        if self.is_exact() && o.is_exact() {
            return exact(&self.lo + &o.lo);
        }
        mk(&self.lo + &o.lo, &self.hi + &o.hi)
    }

    pub fn sub(&self, o: &Iv) -> R<Iv> {
        if self.is_exact() && o.is_exact() {
            return exact(&self.lo - &o.lo);
        }
        mk(&self.lo - &o.hi, &self.hi - &o.lo)
    }

    pub fn mul(&self, o: &Iv) -> R<Iv> {
        if self.is_zero() || o.is_zero() {
            return exact(Rat::zero());
        }
        if self.is_exact() && o.is_exact() {
            return exact(&self.lo * &o.lo);
        }
        // Where neither factor straddles 0 the signs say which two of the
        // four end products are the ends (half the work, and the usual
        // case: an exact factor or a positive enclosure).
        let (a, b) = (self, o);
        let pos = |x: &Iv| !x.lo.is_negative();
        let neg = |x: &Iv| !x.hi.is_positive();
        let ends = match (pos(a), neg(a), pos(b), neg(b)) {
            (true, _, true, _) => Some((&a.lo * &b.lo, &a.hi * &b.hi)),
            (true, _, _, true) => Some((&a.hi * &b.lo, &a.lo * &b.hi)),
            (_, true, true, _) => Some((&a.lo * &b.hi, &a.hi * &b.lo)),
            (_, true, _, true) => Some((&a.hi * &b.hi, &a.lo * &b.lo)),
            _ => None,
        };
        if let Some((lo, hi)) = ends {
            return mk(lo, hi);
        }
        let ps = [
            &self.lo * &o.lo,
            &self.lo * &o.hi,
            &self.hi * &o.lo,
            &self.hi * &o.hi,
        ];
        let lo = ps.iter().min_by(|a, b| rat_cmp(a, b));
        let hi = ps.iter().max_by(|a, b| rat_cmp(a, b));
        let (lo, hi) = (
            lo.cloned().unwrap_or_default(),
            hi.cloned().unwrap_or_default(),
        );
        mk(lo, hi)
    }

    /// Total reciprocal: `1/0 = 0`; undecidable for an enclosure of `0`.
    pub fn recip(&self) -> R<Iv> {
        if self.is_exact() {
            return exact(if self.lo.is_zero() {
                Rat::zero()
            } else {
                self.lo.recip()
            });
        }
        if self.contains_zero() {
            return Err(EvalError::Undefined(
                "division by an interval containing 0".to_string(),
            ));
        }
        mk(self.hi.recip(), self.lo.recip())
    }

    pub fn div(&self, o: &Iv) -> R<Iv> {
        if self.is_zero() {
            return exact(Rat::zero());
        }
        self.mul(&o.recip()?)
    }

    fn sq(&self) -> R<Iv> {
        self.ipow(2)
    }

    /// `self ^ n` for an integer `n >= 0` (`0^0 = 1`).
    fn ipow(&self, n: u64) -> R<Iv> {
        if n == 0 {
            return exact(Rat::one());
        }
        if self.is_exact() {
            let v = &self.lo;
            if !v.is_zero() && !v.abs().is_one() {
                let bits = v.numer().bits().max(v.denom().bits());
                if bits.saturating_mul(n) > MAX_BITS + 64 {
                    return Err(too_large("power of a number exceeds 100000 bits"));
                }
            }
            return exact(int_pow(v, n as i64).ok_or_else(|| too_large("exponent"))?);
        }
        let (lo, hi) = (&self.lo, &self.hi);
        if !lo.is_negative() {
            mk(pow_dir(lo, n, false)?, pow_dir(hi, n, true)?)
        } else if !hi.is_positive() {
            let (a, b) = (-hi, -lo); // |x| in [a, b]
            let (pa, pb) = (pow_dir(&a, n, false)?, pow_dir(&b, n, true)?);
            if n % 2 == 0 {
                mk(pa, pb)
            } else {
                mk(-pb, -pa)
            }
        } else {
            let neg = -lo;
            if n % 2 == 0 {
                let m = if neg > *hi { neg } else { hi.clone() };
                mk(Rat::zero(), pow_dir(&m, n, true)?)
            } else {
                mk(-pow_dir(&neg, n, true)?, pow_dir(hi, n, true)?)
            }
        }
    }

    /// `self ^ (a/b)` under the total semantics, `b >= 1`, `gcd(a, b) = 1`.
    fn rpow(&self, a: i64, b: u64) -> R<Iv> {
        if b == 1 {
            return if a >= 0 {
                self.ipow(a as u64)
            } else {
                self.ipow(a.unsigned_abs())?.recip()
            };
        }
        // Non-integer exponent: 0 for x <= 0 (including 0^(negative)).
        if !self.hi.is_positive() {
            return exact(Rat::zero());
        }
        let root = if self.lo.is_positive() {
            if self.is_exact() {
                match root_exact(&self.lo, b)? {
                    Some(r) => exact(r)?,
                    None => {
                        let (l, h) = root_bounds(&self.lo, b)?;
                        mk(l, h)?
                    }
                }
            } else {
                mk(root_dir(&self.lo, b, false)?, root_dir(&self.hi, b, true)?)?
            }
        } else {
            // The interval straddles 0 (or starts at it): x^(a/b) is 0 on
            // the non-positive part and continuous at 0 when a > 0.
            if a < 0 {
                return Err(EvalError::Undefined(
                    "negative power of an interval containing 0".to_string(),
                ));
            }
            mk(Rat::zero(), root_dir(&self.hi, b, true)?)?
        };
        if a >= 0 {
            root.ipow(a as u64)
        } else {
            root.ipow(a.unsigned_abs())?.recip()
        }
    }
}

/// Largest `|x|` whose `exp` is enclosed: `e^65536 ≈ 2^94548` still fits
/// in [`MAX_BITS`]; beyond it the value (or its reciprocal) does not.
const EXP_ARG_MAX: i64 = 1 << 16;

/// Bits carried beyond the target precision by the series of `exp` and
/// `log` (rounding of up to a few hundred terms, squarings).
const SERIES_GUARD: u64 = 24;

/// Largest working precision of `exp` and `log` (their cost grows with
/// its square); [`with_precision`] beyond it answers `TooLarge`.
const SERIES_MAX_PREC: i64 = 20_000;

/// Target bits of the series: the precision of roots.
fn series_bits() -> R<u64> {
    let p = root_prec();
    if p > SERIES_MAX_PREC {
        return Err(too_large("precision of exp/log beyond 20000 bits"));
    }
    Ok(p.max(1) as u64)
}

/// A bound `F / 2^w` of `exp(x)` from below (`up = false`) or above, for
/// `0 <= x <= EXP_ARG_MAX`, in fixed point with `w` fractional bits.
///
/// `y = x / 2^s <= 1/2`; the Taylor terms `T_k = T_(k-1) y / k` are
/// rounded the same way as the bound (every quantity is non-negative, so
/// each rounded term stays on its side), and the sum stops at a term
/// `T_N <= 2^-w`. The tail `Σ_(j>N) y^j/j! <= T_N Σ_i (y/(N+2))^i <= T_N`
/// (as `y/(N+2) <= 1/2`) is added to the upper bound. Then `s` squarings,
/// each rounded the same way.
fn exp_fixed(x: &Rat, bits: u64, up: bool) -> (BigInt, u64) {
    let s = x.ceil().to_integer().bits() + 1;
    let w = bits + s + SERIES_GUARD;
    let one = pow2(w);
    let y = div_dir(
        &(x.numer() << (w as usize)),
        &(x.denom() << (s as usize)),
        up,
    );
    let mut sum = one.clone();
    let mut term = one.clone();
    let mut k = 1u64;
    loop {
        term = div_dir(&(&term * &y), &(BigInt::from(k) << (w as usize)), up);
        sum += &term;
        if term <= BigInt::one() {
            if up {
                sum += &term;
            }
            break;
        }
        k += 1;
    }
    for _ in 0..s {
        sum = shr_dir(&(&sum * &sum), w, up);
    }
    (sum, w)
}

/// A rigorous bound of `exp(x)` from below (`up = false`) or above.
fn exp_dir(x: &Rat, up: bool) -> R<Rat> {
    if x.is_zero() {
        return Ok(Rat::one());
    }
    if x.abs() > Rat::from_integer(BigInt::from(EXP_ARG_MAX)) {
        return Err(too_large(
            "exp of a number beyond ±65536 exceeds 100000 bits",
        ));
    }
    let bits = series_bits()?;
    let prec = (bits + SERIES_GUARD) as i64;
    Ok(if x.is_positive() {
        let (f, w) = exp_fixed(x, bits, up);
        round_parts(&f, &pow2(w), prec, up)
    } else {
        // exp(x) = 1 / exp(-x): a lower bound from an upper one.
        let (f, w) = exp_fixed(&-x, bits, !up);
        round_parts(&pow2(w), &f, prec, up)
    })
}

/// Bounds `(lo, hi)` of `atanh(d) = d Σ_j d^(2j) / (2j + 1)` for
/// `|d| <= 1/3`. With `q = d² <= 1/9`, the powers `P_j = q^j 2^w` are
/// rounded each way; the sum stops at `P_J <= 1` and the tail
/// `Σ_(j>J) q^j/(2j+1) <= q^J · q/(1−q) <= q^J` is added to the upper sum.
fn atanh_bounds(d: &Rat, bits: u64) -> (Rat, Rat) {
    let w = bits + SERIES_GUARD;
    let one = pow2(w);
    let q = d * d;
    let series = |up: bool| {
        let mut p = one.clone();
        let mut sum = one.clone();
        let mut j = 1u64;
        loop {
            p = div_dir(&(&p * q.numer()), q.denom(), up);
            sum += div_dir(&p, &BigInt::from(2 * j + 1), up);
            if p <= BigInt::one() {
                if up {
                    sum += &p;
                }
                break;
            }
            j += 1;
        }
        Rat::new(sum, one.clone())
    };
    let (lo, hi) = (series(false), series(true));
    if d.is_negative() {
        (d * hi, d * lo)
    } else {
        (d * lo, d * hi)
    }
}

/// A rigorous bound of `log m` for `m > 0` from below (`up = false`) or
/// above: `m = 2^k f` with `2/3 <= f < 4/3`, `log f = 2 atanh(u)` with
/// `u = (f − 1)/(f + 1)`, `|u| <= 1/5` (rounded outward, `atanh` being
/// increasing), and `ln 2 = 2 atanh(1/3)`. With `f` near 1 the series
/// keeps the relative precision of a `log` near 0; otherwise
/// `|log m| >= log(4/3)` and nothing cancels.
fn log_dir(m: &Rat, up: bool) -> R<Rat> {
    if m.is_one() {
        return Ok(Rat::zero());
    }
    // f = fn / fd, kept unreduced: m may have 10^5-bit parts.
    let mut k = log2_approx(m);
    let (mut fn_, mut fd) = (m.numer().clone(), m.denom().clone());
    if k >= 0 {
        fd <<= k as usize;
    } else {
        fn_ <<= k.unsigned_abs() as usize;
    }
    while BigInt::from(3) * &fn_ >= BigInt::from(4) * &fd {
        fd <<= 1;
        k += 1;
    }
    while BigInt::from(3) * &fn_ < BigInt::from(2) * &fd {
        fn_ <<= 1;
        k -= 1;
    }
    let bits = series_bits()? + 64 - u64::from(k.unsigned_abs().leading_zeros());
    let two = Rat::from_integer(2.into());
    let mut out = Rat::zero();
    let un = &fn_ - &fd;
    if !un.is_zero() {
        let u = round_parts(&un, &(&fn_ + &fd), (bits + SERIES_GUARD) as i64, up);
        let (lo, hi) = atanh_bounds(&u, bits);
        out += &two * if up { hi } else { lo };
    }
    if k != 0 {
        let (lo, hi) = atanh_bounds(&Rat::new(1.into(), 3.into()), bits);
        // k ln 2: the upper bound of ln 2 bounds k ln 2 above when k > 0.
        let ln2 = &two * if up == (k > 0) { hi } else { lo };
        out += ln2 * Rat::from_integer(k.into());
    }
    Ok(out)
}

/// `v^n` for `v >= 0`, rounded down or up (each step rounded the same way,
/// which is sound because every intermediate is non-negative).
fn pow_dir(v: &Rat, n: u64, up: bool) -> R<Rat> {
    if v.is_zero() {
        return Ok(Rat::zero());
    }
    let mag = log2_approx(v).unsigned_abs() + 1;
    if mag.saturating_mul(n) > MAX_BITS {
        return Err(too_large("power of an interval exceeds 100000 bits"));
    }
    let mut result = Rat::one();
    let mut base = v.clone();
    let mut e = n;
    while e > 0 {
        if e & 1 == 1 {
            result = round_dir(&result * &base, up);
            check_bits(&result)?;
        }
        e >>= 1;
        if e > 0 {
            base = round_dir(&base * &base, up);
            check_bits(&base)?;
        }
    }
    Ok(result)
}

/// The exact `b`-th root of `x > 0` if `x` is a perfect `b`-th power.
fn root_exact(x: &Rat, b: u64) -> R<Option<Rat>> {
    let b32 = u32::try_from(b).map_err(|_| too_large("root index"))?;
    let n = x.numer();
    let d = x.denom();
    let rn = n.nth_root(b32);
    if &num_traits::pow(rn.clone(), b as usize) != n {
        return Ok(None);
    }
    let rd = d.nth_root(b32);
    if &num_traits::pow(rd.clone(), b as usize) != d {
        return Ok(None);
    }
    Ok(Some(Rat::new(rn, rd)))
}

/// Rigorous bounds `lo <= x^(1/b) <= hi` for `x > 0`, `lo < hi`, relative
/// width about `2^-(precision − 16)`.
///
/// With `M = floor(x * 2^(b k))` and `s = floor(M^(1/b))` (exact integer
/// root): `s^b <= M <= x 2^(bk)` gives `(s/2^k)^b <= x`, and
/// `(s+1)^b > M`, i.e. `(s+1)^b >= M + 1 > x 2^(bk)`, gives
/// `((s+1)/2^k)^b > x`.
fn root_bounds(x: &Rat, b: u64) -> R<(Rat, Rat)> {
    if b > MAX_ROOT_INDEX {
        return root_bounds_checked(x, b);
    }
    let b32 = u32::try_from(b).map_err(|_| too_large("root index"))?;
    let bi = b as i64;
    let k = root_prec() - log2_approx(x).div_euclid(bi);
    let shift = (bi as u128) * (k.unsigned_abs() as u128);
    if shift > (4 * MAX_BITS as u128) {
        return Err(too_large("root of a number too large or small"));
    }
    let shift = shift as usize;
    let (n, d) = (x.numer(), x.denom());
    let m = if k >= 0 {
        (n << shift).div_floor(d)
    } else {
        n.div_floor(&(d << shift))
    };
    let s = m.nth_root(b32);
    let s1 = &s + BigInt::one();
    if k >= 0 {
        let den = pow2(k as u64);
        Ok((Rat::new(s, den.clone()), Rat::new(s1, den)))
    } else {
        let f = pow2(k.unsigned_abs());
        Ok((Rat::from_integer(s * &f), Rat::from_integer(s1 * f)))
    }
}

/// `log2 |v|` in floating point (from the leading 60 bits), `v != 0`.
fn log2_f64(v: &BigInt) -> f64 {
    let bits = v.bits();
    let sh = bits.saturating_sub(60);
    let top = (v.abs() >> (sh as usize)).to_f64().unwrap_or(1.0);
    sh as f64 + top.log2()
}

/// Rigorous bounds `lo <= x^(1/b) <= hi` for `x > 0` and a large index `b`:
/// a floating-point estimate `s ≈ x^(1/b)·2^k` (about 50 bits), widened by
/// `2^16` on each side, then *checked* in integers: `lo^b·d <= n·2^(b·k)`
/// and `hi^b·d >= n·2^(b·k)` for `x = n/d`. The estimate only guides; the
/// enclosure holds because of the check (else: undecided).
fn root_bounds_checked(x: &Rat, b: u64) -> R<(Rat, Rat)> {
    if b > MAX_EXPONENT as u64 {
        return Err(too_large("root index beyond MAX_EXPONENT"));
    }
    let t = (log2_f64(x.numer()) - log2_f64(x.denom())) / b as f64;
    if !t.is_finite() {
        return Err(too_large("root of a number too large or small"));
    }
    let k = 50 - t.floor() as i64;
    let est = (t - t.floor() + 50.0).exp2();
    let s = BigInt::from(est as u64);
    let slack = BigInt::from(1u64 << 16);
    let lo = &s - &slack;
    let hi = &s + &slack;
    let bk = (b as u128) * (k.unsigned_abs() as u128);
    if bk > 4 * MAX_BITS as u128 || !lo.is_positive() {
        return Err(too_large("root of a number too large or small"));
    }
    let shifted = |v: &BigInt| -> BigInt {
        // v · 2^(b·k) when k >= 0; the other side takes 2^(b·|k|) otherwise.
        if k >= 0 {
            v << (bk as usize)
        } else {
            v.clone()
        }
    };
    let other = |v: BigInt| -> BigInt {
        if k >= 0 {
            v
        } else {
            v << (bk as usize)
        }
    };
    let (n, d) = (x.numer(), x.denom());
    let rhs = shifted(n);
    let lo_ok = other(num_traits::pow(lo.clone(), b as usize) * d) <= rhs;
    let hi_ok = other(num_traits::pow(hi.clone(), b as usize) * d) >= rhs;
    if !(lo_ok && hi_ok) {
        return Err(EvalError::Undefined(
            "root estimate could not be confirmed".to_string(),
        ));
    }
    let scale = |v: BigInt| {
        if k >= 0 {
            Rat::new(v, pow2(k as u64))
        } else {
            Rat::from_integer(v * pow2(k.unsigned_abs()))
        }
    };
    Ok((scale(lo), scale(hi)))
}

/// A rigorous bound of `x^(1/b)` for `x >= 0` from below (`up = false`) or above.
fn root_dir(x: &Rat, b: u64, up: bool) -> R<Rat> {
    if x.is_zero() {
        return Ok(Rat::zero());
    }
    if let Some(r) = root_exact(x, b)? {
        return Ok(r);
    }
    let (lo, hi) = root_bounds(x, b)?;
    Ok(if up { hi } else { lo })
}

/// Limits of one evaluation run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Node evaluations allowed.
    pub budget: u64,
    pub deadline: Option<Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget: DEFAULT_BUDGET,
            deadline: None,
        }
    }
}

/// An evaluator over one environment; all calls share one work budget.
pub struct Evaluator<'a> {
    env: &'a Env,
    limits: Limits,
    steps: u64,
    /// Values of reductions by (address of the node, positions of its free
    /// axes); valid during one top-level [`Evaluator::eval`], whose tree is
    /// borrowed throughout, and cleared between calls. A reduction whose
    /// value does not depend on an enclosing index is evaluated once.
    memo: HashMap<(usize, Vec<usize>), Iv>,
    free: HashMap<usize, Vec<String>>,
    /// Names bound by [`Evaluator::bind`] (sorted axes, row-major values,
    /// exact or enclosures); they shadow the environment.
    bound: HashMap<String, (Vec<String>, Vec<Iv>)>,
}

impl<'a> Evaluator<'a> {
    pub fn new(env: &'a Env) -> Self {
        Evaluator {
            env,
            limits: Limits::default(),
            steps: 0,
            memo: HashMap::new(),
            free: HashMap::new(),
            bound: HashMap::new(),
        }
    }

    pub fn with_limits(env: &'a Env, limits: Limits) -> Self {
        Evaluator {
            env,
            limits,
            steps: 0,
            memo: HashMap::new(),
            free: HashMap::new(),
            bound: HashMap::new(),
        }
    }

    /// Node evaluations spent so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The value of `e` at one assignment of (at least) its free axes.
    pub fn eval(&mut self, e: &Expr, index: &BTreeMap<String, usize>) -> R<Value> {
        self.memo.clear();
        self.free.clear();
        let mut idx = index.clone();
        self.ev(e, &mut idx, 0).map(Value::from_iv)
    }

    /// Bind `name` to values computed earlier (a program's definition, each
    /// evaluated once): `axes` sorted as in [`crate::ir::Symbol`], `values`
    /// row-major over them, exact or enclosures. Shadows the environment.
    pub fn bind(&mut self, name: &str, axes: Vec<String>, values: Vec<Value>) {
        let data = values
            .into_iter()
            .map(|v| match v {
                Value::Exact(r) => Iv {
                    lo: r.clone(),
                    hi: r,
                },
                Value::Interval(lo, hi) => Iv { lo, hi },
            })
            .collect();
        self.bound.insert(name.to_string(), (axes, data));
    }

    /// The values of `e` at every position of `axes` (which must include
    /// its free axes), row-major in the order given. A reduction that does
    /// not depend on a position is evaluated once for all of them.
    pub fn eval_over(&mut self, e: &Expr, axes: &[String]) -> R<Vec<Value>> {
        self.memo.clear();
        self.free.clear();
        let points = assignments(axes, &self.env.sizes, self.limits.budget)?;
        let mut out = Vec::with_capacity(points.len());
        for mut p in points {
            out.push(self.ev(e, &mut p, 0).map(Value::from_iv)?);
        }
        self.memo.clear();
        self.free.clear();
        Ok(out)
    }

    /// The value of `e` at every assignment of its free axes, in
    /// lexicographic order of the (sorted) free axes.
    pub fn eval_all(&mut self, e: &Expr) -> R<Points> {
        let axes: Vec<String> = e.free_axes().into_iter().collect();
        let points = assignments(&axes, &self.env.sizes, self.limits.budget)?;
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            let v = self.eval(e, &p)?;
            out.push((p, v));
        }
        Ok(out)
    }

    fn size(&self, axis: &str) -> R<usize> {
        self.env
            .sizes
            .get(axis)
            .copied()
            .ok_or_else(|| EvalError::UnknownAxisSize(axis.to_string()))
    }

    fn tick(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.budget {
            return Err(too_large("evaluation work budget exhausted"));
        }
        if self.steps % 1024 == 0 {
            self.check_deadline()?;
        }
        Ok(())
    }

    fn check_deadline(&self) -> R<()> {
        match self.limits.deadline {
            Some(d) if Instant::now() >= d => {
                Err(too_large("time limit reached during evaluation"))
            }
            _ => Ok(()),
        }
    }

    /// After an operation on large numbers (one costs far more than reading
    /// the clock), look at the deadline now rather than 1024 ticks later:
    /// a product of 10 000 factors grows its numbers to 10⁵ bits. The work
    /// budget is charged by size too (one unit per 256 bits, more for an
    /// enclosure), so that a budget bounds the time of the arithmetic.
    fn check_deadline_if_large(&mut self, v: &Iv) -> R<()> {
        let bits = |r: &Rat| r.numer().bits() + r.denom().bits();
        let size = bits(&v.lo) + bits(&v.hi);
        // An enclosure costs a rounding of each end on top of the operation.
        self.steps += size / 256 + if v.is_exact() { 0 } else { INTERVAL_TICKS };
        if self.steps > self.limits.budget {
            return Err(too_large("evaluation work budget exhausted"));
        }
        if size > 4096 {
            self.check_deadline()?;
        }
        Ok(())
    }

    fn symbol(&self, s: &crate::ir::Symbol, index: &BTreeMap<String, usize>) -> R<Iv> {
        if let Some((axes, data)) = self.bound.get(&s.name) {
            if *axes != s.axes {
                return Err(EvalError::Undefined(format!(
                    "symbol `{}` used with axes [{}] but bound with axes [{}]",
                    s.name,
                    s.axes.join(","),
                    axes.join(",")
                )));
            }
            let at = self.offset(&s.name, axes, data.len(), index)?;
            return Ok(data[at].clone());
        }
        let t = self
            .env
            .values
            .get(&s.name)
            .ok_or_else(|| EvalError::UnboundSymbol(s.name.clone()))?;
        if t.axes != s.axes {
            return Err(EvalError::Undefined(format!(
                "symbol `{}` used with axes [{}] but bound with axes [{}]",
                s.name,
                s.axes.join(","),
                t.axes.join(",")
            )));
        }
        let at = self.offset(&s.name, &t.axes, t.data.len(), index)?;
        exact(t.data[at].clone())
    }

    /// The row-major position of `index` in a tensor over `axes` holding
    /// `len` values.
    fn offset(
        &self,
        name: &str,
        axes: &[String],
        len: usize,
        index: &BTreeMap<String, usize>,
    ) -> R<usize> {
        let mut offset: usize = 0;
        let mut total: usize = 1;
        for a in axes {
            let n = self.size(a)?;
            let i = *index
                .get(a)
                .ok_or_else(|| EvalError::Undefined(format!("no position given for axis `{a}`")))?;
            if i >= n {
                return Err(EvalError::Undefined(format!(
                    "position {i} out of range for axis `{a}` of size {n}"
                )));
            }
            offset = offset * n + i;
            total = total.saturating_mul(n);
        }
        if len != total {
            return Err(EvalError::Undefined(format!(
                "symbol `{name}` has {len} values, expected {total}"
            )));
        }
        Ok(offset)
    }

    fn ev(&mut self, e: &Expr, index: &mut BTreeMap<String, usize>, depth: usize) -> R<Iv> {
        self.tick()?;
        if depth > MAX_DEPTH {
            return Err(too_large("expression nested too deeply"));
        }
        let d = depth + 1;
        // Each arm calls out so that this recursive frame stays small.
        match e {
            Expr::Num(r) => exact(r.clone()),
            Expr::Sym(s) => self.symbol(s, index),
            Expr::PVar(v) => Err(EvalError::Undefined(format!("pattern variable ?{v}"))),
            Expr::Neg(a) => Ok(self.ev(a, index, d)?.neg()),
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                self.binary(e, a, b, index, d)
            }
            Expr::Sqrt(a) => self.ev(a, index, d)?.rpow(1, 2),
            Expr::App(f, args) => {
                let x = self.ev(&args[0], index, d)?;
                match f {
                    // A series costs more than reading the clock, and
                    // the work budget counts it as the many operations it
                    // is (so budgets bound time, whatever the clock says).
                    Fun::Exp | Fun::Log => {
                        self.check_deadline()?;
                        for _ in 0..SERIES_TICKS {
                            self.tick()?;
                        }
                        if *f == Fun::Exp {
                            x.exp()
                        } else {
                            x.log()
                        }
                    }
                    Fun::Abs => Ok(x.abs()),
                    Fun::Max | Fun::Min => {
                        let y = self.ev(&args[1], index, d)?;
                        Ok(x.max_min(&y, *f == Fun::Max))
                    }
                    Fun::Detach => Ok(x),
                }
            }
            Expr::Pow(a, p) => self.power(a, p, index, d),
            Expr::Reduce(op, axes, body) => {
                let addr = e as *const Expr as usize;
                let free = self
                    .free
                    .entry(addr)
                    .or_insert_with(|| e.free_axes().into_iter().collect());
                let key: Option<Vec<usize>> = free.iter().map(|a| index.get(a).copied()).collect();
                let key = key.map(|k| (addr, k));
                if let Some(v) = key.as_ref().and_then(|k| self.memo.get(k)) {
                    return Ok(v.clone());
                }
                let v = self.reduce(*op, axes, body, index, d)?;
                if let Some(k) = key {
                    self.memo.insert(k, v.clone());
                }
                Ok(v)
            }
        }
    }

    #[inline(never)]
    fn binary(
        &mut self,
        e: &Expr,
        a: &Expr,
        b: &Expr,
        index: &mut BTreeMap<String, usize>,
        d: usize,
    ) -> R<Iv> {
        // A chain `a + b - c + …` is a left-leaning tree as tall as it is
        // long: walk its spine here, so only real nesting adds depth.
        let additive = matches!(e, Expr::Add(..) | Expr::Sub(..));
        let mut spine = vec![(e, b)];
        let mut first = a;
        while let Expr::Add(l, r) | Expr::Sub(l, r) | Expr::Mul(l, r) | Expr::Div(l, r) = first {
            if additive != matches!(first, Expr::Add(..) | Expr::Sub(..)) {
                break;
            }
            self.tick()?;
            spine.push((first, r));
            first = l;
        }
        let mut x = self.ev(first, index, d)?;
        for (op, operand) in spine.into_iter().rev() {
            let y = self.ev(operand, index, d)?;
            x = match op {
                Expr::Add(..) => x.add(&y),
                Expr::Sub(..) => x.sub(&y),
                Expr::Mul(..) => x.mul(&y),
                _ => x.div(&y),
            }?;
            self.check_deadline_if_large(&x)?;
        }
        Ok(x)
    }

    #[inline(never)]
    fn power(
        &mut self,
        a: &Expr,
        p: &Expr,
        index: &mut BTreeMap<String, usize>,
        d: usize,
    ) -> R<Iv> {
        let p = match p.const_value() {
            Some(p) => p,
            None => {
                let v = self.ev(p, index, d)?;
                if !v.is_exact() {
                    return Err(EvalError::Undefined(
                        "exponent is not a rational constant".to_string(),
                    ));
                }
                v.lo
            }
        };
        let x = self.ev(a, index, d)?;
        pow_value(&x, &p)
    }

    #[inline(never)]
    fn reduce(
        &mut self,
        op: RedOp,
        axes: &[String],
        body: &Expr,
        index: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> R<Iv> {
        let sizes: Vec<usize> = axes.iter().map(|a| self.size(a)).collect::<R<_>>()?;
        let mut count: usize = 1;
        for &n in &sizes {
            count = count
                .checked_mul(n)
                .filter(|&c| (c as u64) <= self.limits.budget)
                .ok_or_else(|| too_large("reduction over too many points"))?;
        }
        let saved: Vec<Option<usize>> = axes.iter().map(|a| index.get(a).copied()).collect();
        let result = self.reduce_inner(op, axes, &sizes, count, body, index, depth);
        for (a, s) in axes.iter().zip(saved) {
            match s {
                Some(v) => {
                    index.insert(a.clone(), v);
                }
                None => {
                    index.remove(a);
                }
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn reduce_inner(
        &mut self,
        op: RedOp,
        axes: &[String],
        sizes: &[usize],
        count: usize,
        body: &Expr,
        index: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> R<Iv> {
        let mut vals: Vec<Iv> = Vec::new();
        let mut sum = exact(Rat::zero())?;
        let mut pos = vec![0usize; axes.len()];
        for _ in 0..count {
            for (a, &p) in axes.iter().zip(&pos) {
                index.insert(a.clone(), p);
            }
            let v = self.ev(body, index, depth)?;
            sum = sum.add(&v)?;
            if op == RedOp::Var {
                vals.push(v);
            }
            // advance the odometer, last axis fastest
            for k in (0..pos.len()).rev() {
                pos[k] += 1;
                if pos[k] < sizes[k] {
                    break;
                }
                pos[k] = 0;
            }
        }
        let n = exact(Rat::from_integer(BigInt::from(count)))?;
        match op {
            RedOp::Sum => Ok(sum),
            RedOp::Mean => sum.div(&n),
            RedOp::Var => {
                let m = sum.div(&n)?;
                let mut acc = exact(Rat::zero())?;
                for v in &vals {
                    self.tick()?;
                    acc = acc.add(&v.sub(&m)?.sq()?)?;
                }
                acc.div(&n)
            }
        }
    }
}

/// `x ^ p` for a rational constant `p` under the total semantics.
fn pow_value(x: &Iv, p: &Rat) -> R<Iv> {
    // Bases 0, 1, -1 with any exponent, before the exponent size check.
    if x.is_exact() {
        let v = &x.lo;
        if v.is_zero() {
            return exact(if p.is_zero() { Rat::one() } else { Rat::zero() });
        }
        if v.is_one() {
            return exact(Rat::one());
        }
        if (-v).is_one() {
            if !p.is_integer() {
                return exact(Rat::zero());
            }
            let odd = p.numer().is_odd();
            return exact(if odd { -Rat::one() } else { Rat::one() });
        }
    }
    let a = p
        .numer()
        .to_i64()
        .filter(|a| a.unsigned_abs() <= MAX_EXPONENT as u64)
        .ok_or_else(|| too_large("exponent beyond MAX_EXPONENT"))?;
    let b = p
        .denom()
        .to_u64()
        .filter(|&b| b <= MAX_EXPONENT as u64)
        .ok_or_else(|| too_large("root index beyond MAX_EXPONENT"))?;
    x.rpow(a, b)
}

/// Every assignment of `axes` to positions, in lexicographic order (last
/// axis fastest).
pub fn assignments(
    axes: &[String],
    sizes: &BTreeMap<String, usize>,
    max_points: u64,
) -> R<Vec<BTreeMap<String, usize>>> {
    let mut dims = Vec::with_capacity(axes.len());
    let mut count: u64 = 1;
    for a in axes {
        let n = *sizes
            .get(a)
            .ok_or_else(|| EvalError::UnknownAxisSize(a.clone()))?;
        count = count.saturating_mul(n as u64);
        dims.push(n);
    }
    if count > max_points {
        return Err(too_large("too many positions to evaluate"));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut pos = vec![0usize; axes.len()];
    for _ in 0..count {
        out.push(axes.iter().cloned().zip(pos.iter().copied()).collect());
        for k in (0..pos.len()).rev() {
            pos[k] += 1;
            if pos[k] < dims[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    Ok(out)
}

/// The value of `e` at one assignment of its free axes (default limits).
pub fn eval(e: &Expr, env: &Env, index: &BTreeMap<String, usize>) -> Result<Value, EvalError> {
    Evaluator::new(env).eval(e, index)
}

/// The value of `e` at every assignment of its free axes (default limits,
/// one budget for all of them).
pub fn eval_all(e: &Expr, env: &Env) -> Result<Points, EvalError> {
    Evaluator::new(env).eval_all(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::RedOp::{Mean, Sum, Var};

    fn q(p: i64, d: i64) -> Rat {
        Rat::new(BigInt::from(p), BigInt::from(d))
    }

    fn z(p: i64) -> Rat {
        Rat::from_integer(BigInt::from(p))
    }

    fn n(p: i64) -> Expr {
        Expr::num(p)
    }

    fn env(sizes: &[(&str, usize)], values: &[(&str, &[&str], Vec<Rat>)]) -> Env {
        let mut e = Env::default();
        for (a, s) in sizes {
            e.sizes.insert(a.to_string(), *s);
        }
        for (name, axes, data) in values {
            let mut axes: Vec<String> = axes.iter().map(|s| s.to_string()).collect();
            axes.sort();
            e.values.insert(
                name.to_string(),
                Tensor {
                    axes,
                    data: data.clone(),
                },
            );
        }
        e
    }

    fn at(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(a, i)| (a.to_string(), *i)).collect()
    }

    fn exact_of(e: &Expr, en: &Env, idx: &BTreeMap<String, usize>) -> Rat {
        match eval(e, en, idx) {
            Ok(Value::Exact(v)) => v,
            other => panic!("expected an exact value for {e:?}, got {other:?}"),
        }
    }

    #[test]
    fn total_semantics_table() {
        let cases: Vec<(Expr, Rat)> = vec![
            (Expr::div(n(1), n(0)), z(0)),
            (Expr::div(n(0), n(0)), z(0)),
            (Expr::sqrt(n(-4)), z(0)),
            (Expr::sqrt(n(0)), z(0)),
            (Expr::sqrt(Expr::rat(9, 4)), q(3, 2)),
            (Expr::pow(n(0), n(-1)), z(0)),
            (Expr::pow(n(0), n(0)), z(1)),
            (Expr::pow(n(-8), Expr::rat(1, 3)), z(0)),
            (Expr::pow(n(0), Expr::rat(-1, 2)), z(0)),
            (Expr::pow(n(4), Expr::rat(3, 2)), z(8)),
            (Expr::pow(n(4), Expr::rat(-3, 2)), q(1, 8)),
            (Expr::pow(Expr::rat(8, 27), Expr::rat(2, 3)), q(4, 9)),
            (Expr::pow(n(-2), n(3)), z(-8)),
            (Expr::pow(n(-2), n(-2)), q(1, 4)),
            (Expr::pow(n(-1), n(1 << 40)), z(1)),
            (Expr::pow(n(1), Expr::rat(1, 1 << 40)), z(1)),
            (
                Expr::neg(Expr::sub(n(2), Expr::mul(n(3), Expr::rat(1, 3)))),
                z(-1),
            ),
            // sqrt(2) * 0 stays exact
            (Expr::mul(Expr::sqrt(n(2)), n(0)), z(0)),
            (Expr::div(n(0), Expr::sqrt(n(2))), z(0)),
        ];
        let en = Env::default();
        for (e, want) in cases {
            assert_eq!(exact_of(&e, &en, &BTreeMap::new()), want, "{e:?}");
        }
    }

    fn interval(e: &Expr) -> (Rat, Rat) {
        match eval(e, &Env::default(), &BTreeMap::new()) {
            Ok(Value::Interval(lo, hi)) => {
                assert!(lo < hi);
                (lo, hi)
            }
            other => panic!("expected an interval for {e:?}, got {other:?}"),
        }
    }

    #[test]
    fn irrational_roots_are_tight_rigorous_intervals() {
        let (lo, hi) = interval(&Expr::pow(n(2), Expr::rat(1, 2)));
        let r = Rat::new(BigInt::from(141421356), BigInt::from(100000000));
        assert!(lo <= &r + q(1, 100000000) && r <= hi);
        assert!(&lo * &lo <= z(2) && z(2) <= &hi * &hi);
        assert!((&hi - &lo) < Rat::new(BigInt::one(), BigInt::from(10u64.pow(15))));
        let (lo, hi) = interval(&Expr::sqrt(n(2)));
        assert!(&lo * &lo <= z(2) && z(2) <= &hi * &hi);
        // cube root of 2, and 2^(-1/2)
        let (lo, hi) = interval(&Expr::pow(n(2), Expr::rat(1, 3)));
        assert!(num_traits::pow(lo, 3) <= z(2) && z(2) <= num_traits::pow(hi, 3));
        let (lo, hi) = interval(&Expr::pow(n(2), Expr::rat(-1, 2)));
        assert!(&lo * &lo <= q(1, 2) && q(1, 2) <= &hi * &hi);
        // sqrt(2) * sqrt(2) encloses 2 but is not exact
        let two = Expr::mul(Expr::sqrt(n(2)), Expr::sqrt(n(2)));
        let v = eval(&two, &Env::default(), &BTreeMap::new()).unwrap();
        assert!(!v.definitely_ne(&Value::Exact(z(2))));
        assert!(!v.definitely_eq(&Value::Exact(z(2))));
        // sqrt(3) - sqrt(2) is definitely positive
        let d = Expr::sub(Expr::sqrt(n(3)), Expr::sqrt(n(2)));
        let v = eval(&d, &Env::default(), &BTreeMap::new()).unwrap();
        assert_eq!(v.holds(Rel::Gt), Some(true));
        // huge and tiny radicands
        let big = Expr::sqrt(Expr::pow(n(10), n(301)));
        let (lo, hi) = interval(&big);
        assert!(&lo * &lo <= num_traits::pow(z(10), 301));
        assert!(num_traits::pow(z(10), 301) <= &hi * &hi);
        let tiny = Expr::sqrt(Expr::pow(n(10), n(-301)));
        let (lo, hi) = interval(&tiny);
        assert!(lo.is_positive() && &lo * &lo <= num_traits::pow(q(1, 10), 301));
        assert!(num_traits::pow(q(1, 10), 301) <= &hi * &hi);
    }

    /// A decimal literal as a rational.
    fn dec(s: &str) -> Rat {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits: BigInt = format!("{int}{frac}").parse().unwrap();
        Rat::new(digits, BigInt::from(10).pow(frac.len() as u32))
    }

    /// `e` encloses the 45-digit decimal `want` (rounded, so within
    /// `5e-45` relative of the truth) with relative width at most `2^-bits`.
    fn encloses(e: &Expr, want: &Rat, bits: u32) {
        let (lo, hi) = interval(e);
        let slack = want.abs() * Rat::new(BigInt::from(5), BigInt::from(10).pow(45));
        assert!(
            lo <= want + &slack && want - &slack <= hi,
            "{e:?}: [{lo}, {hi}]"
        );
        let width = (&hi - &lo) / want.abs();
        assert!(
            width <= Rat::new(BigInt::one(), pow2(u64::from(bits))),
            "{e:?}"
        );
    }

    #[test]
    fn exp_and_log_enclose_known_values_tightly() {
        let e = |x: Expr| Expr::app(Fun::Exp, vec![x]);
        let l = |x: Expr| Expr::app(Fun::Log, vec![x]);
        let cases = [
            (e(n(1)), "2.71828182845904523536028747135266249775724709"),
            (
                e(n(-30)),
                "0.0000000000000935762296884017460491583222337870674495832269",
            ),
            (
                e(Expr::rat(15, 2)),
                "1808.04241445606320690380148277880545202784436",
            ),
            (
                e(Expr::sqrt(n(2))),
                "4.11325037878292751717358181514030450240166396",
            ),
            (l(n(2)), "0.693147180559945309417232121458176568075500134"),
            (l(n(-2)), "0.693147180559945309417232121458176568075500134"),
            (
                l(Expr::rat(1, 3)),
                "-1.09861228866810969139524523692252570464749056",
            ),
            (l(n(100)), "4.60517018598809136803598290936872841520220298"),
            (
                l(e(Expr::rat(7, 3))),
                "2.33333333333333333333333333333333333333333333",
            ),
        ];
        for (x, want) in cases {
            let want = if let Some(w) = want.strip_prefix('-') {
                -dec(w)
            } else {
                dec(want)
            };
            encloses(&x, &want, 60);
        }
        // log(1 + 2^-200) ∈ [ε − ε²/2, ε]: a log near 0 keeps its relative precision.
        let eps = Rat::new(BigInt::one(), pow2(200));
        let (lo, hi) = interval(&l(Expr::Num(Rat::one() + &eps)));
        assert!(lo <= eps && &eps - &eps * &eps / z(2) <= hi);
        assert!((&hi - &lo) / &eps <= Rat::new(BigInt::one(), pow2(60)));
        // exp(log 5) encloses 5; a higher precision narrows the enclosure.
        let five = e(l(n(5)));
        let (lo, hi) = interval(&five);
        assert!(lo < z(5) && z(5) < hi);
        let (lo2, hi2) = with_precision(400, || interval(&five));
        assert!(lo <= lo2 && hi2 <= hi && lo2 < z(5) && z(5) < hi2);
        assert!(&hi2 - &lo2 <= Rat::new(BigInt::one(), pow2(300)));
        // Exact points.
        let none = BTreeMap::new();
        let en = Env::default();
        for (x, want) in [
            (e(n(0)), z(1)),
            (l(n(0)), z(0)),
            (l(n(1)), z(0)),
            (l(n(-1)), z(0)),
        ] {
            assert_eq!(eval(&x, &en, &none), Ok(Value::Exact(want)), "{x:?}");
        }
    }

    #[test]
    fn exp_and_log_of_intervals() {
        let iv = |lo: Rat, hi: Rat| Iv { lo, hi };
        // Monotone: the ends map to the ends.
        let x = iv(z(0), z(1)).exp().unwrap();
        assert!(
            x.lo.is_one() && x.hi > dec("2.718281828459045") && x.hi < dec("2.7182818284590453")
        );
        let x = iv(z(-3), q(-1, 2)).log().unwrap(); // log |x| on [1/2, 3]
        assert!(x.lo < dec("-0.693147180559945") && x.lo > dec("-0.6931471805599454"));
        assert!(x.hi > dec("1.098612288668109") && x.hi < dec("1.0986122886681099"));
        // log jumps at 0 under the total semantics: never guessed.
        for bad in [iv(z(-1), z(1)), iv(z(0), z(2)), iv(q(-1, 2), z(0))] {
            assert!(matches!(bad.log(), Err(EvalError::Undefined(_))));
        }
        let none = BTreeMap::new();
        let en = Env::default();
        let z0 = Expr::sub(Expr::mul(Expr::sqrt(n(2)), Expr::sqrt(n(2))), n(2));
        let log_z0 = Expr::app(Fun::Log, vec![z0]);
        assert!(matches!(
            eval(&log_z0, &en, &none),
            Err(EvalError::Undefined(_))
        ));
    }

    #[test]
    fn huge_exp_and_log_arguments_are_refused_fast() {
        let none = BTreeMap::new();
        let en = Env::default();
        let start = Instant::now();
        let big = |x: Expr| Expr::app(Fun::Exp, vec![x]);
        for x in [
            big(Expr::pow(n(10), n(6))),
            big(Expr::neg(Expr::pow(n(10), n(9)))),
            big(n(EXP_ARG_MAX + 1)),
            big(big(n(12))),
        ] {
            assert!(
                matches!(eval(&x, &en, &none), Err(EvalError::TooLarge(_))),
                "{x:?}"
            );
        }
        // The largest arguments allowed still answer, and log of a huge number too.
        let v = eval(&big(n(EXP_ARG_MAX)), &en, &none).unwrap();
        assert!(v.lo().is_positive());
        let l = Expr::app(Fun::Log, vec![Expr::Num(z(10).pow(30000))]);
        let (lo, hi) = interval(&l);
        let want = dec("69077.5527898213705205397436405309262280330447");
        assert!(lo <= want && want <= hi);
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        // A huge working precision is refused, not ground through.
        let e1 = Expr::app(Fun::Exp, vec![n(1)]);
        assert!(matches!(
            with_precision(100_000, || eval(&e1, &en, &none)),
            Err(EvalError::TooLarge(_))
        ));
    }

    #[test]
    fn intervals_through_discontinuities() {
        let en = Env::default();
        let none = BTreeMap::new();
        // 1 / (sqrt(2)*sqrt(2) - 2): the divisor interval contains 0
        let z0 = Expr::sub(Expr::mul(Expr::sqrt(n(2)), Expr::sqrt(n(2))), n(2));
        assert!(matches!(
            eval(&Expr::div(n(1), z0.clone()), &en, &none),
            Err(EvalError::Undefined(_))
        ));
        // sqrt of an interval straddling 0 is [0, small]
        let v = eval(&Expr::sqrt(z0.clone()), &en, &none).unwrap();
        assert!(v.lo().is_zero() && v.hi().is_positive());
        // a negative power of it is undecidable, a positive one is not
        assert!(eval(&Expr::pow(z0.clone(), Expr::rat(-1, 2)), &en, &none).is_err());
        assert!(eval(&Expr::pow(z0.clone(), n(-1)), &en, &none).is_err());
        let v = eval(&Expr::pow(z0.clone(), n(2)), &en, &none).unwrap();
        assert!(!v.lo().is_negative());
        // sqrt of a negative interval is exactly 0
        let neg = Expr::neg(Expr::sqrt(n(2)));
        assert_eq!(
            eval(&Expr::sqrt(neg), &en, &none).unwrap(),
            Value::Exact(z(0))
        );
    }

    #[test]
    fn resource_limits() {
        let en = Env::default();
        let none = BTreeMap::new();
        let huge = Expr::pow(n(3), n(MAX_EXPONENT + 1));
        assert!(matches!(
            eval(&huge, &en, &none),
            Err(EvalError::TooLarge(_))
        ));
        // repeated squaring blows past the bit limit
        let mut e = Expr::num(3);
        for _ in 0..20 {
            e = Expr::pow(e, n(4));
        }
        assert!(matches!(eval(&e, &en, &none), Err(EvalError::TooLarge(_))));
        // deep nesting
        let mut e = Expr::num(1);
        for _ in 0..1000 {
            e = Expr::neg(e);
        }
        assert!(matches!(eval(&e, &en, &none), Err(EvalError::TooLarge(_))));
        // work budget: sum over 1000^3 points
        let big = env(&[("i", 1000), ("j", 1000), ("k", 1000)], &[]);
        let e = Expr::reduce(Sum, &["i", "j", "k"], n(1));
        assert!(matches!(eval(&e, &big, &none), Err(EvalError::TooLarge(_))));
        // Nested sums of something independent of the outer indices are
        // evaluated once per distinct value (memoized): exact and cheap.
        let e = Expr::reduce(
            Sum,
            &["i"],
            Expr::reduce(Sum, &["j"], Expr::reduce(Sum, &["k"], n(1))),
        );
        assert!(matches!(eval(&e, &big, &none), Ok(Value::Exact(v)) if v == z(1_000_000_000)));
        // Nested sums whose body depends on every index still hit the budget.
        let ones = |_| vec![z(1); 1000];
        let vec_env = env(
            &[("i", 1000), ("j", 1000), ("k", 1000)],
            &[
                ("x", &["i"], ones(0)),
                ("y", &["j"], ones(1)),
                ("w", &["k"], ones(2)),
            ],
        );
        let body = Expr::mul(
            Expr::mul(Expr::sym("x", &["i"]), Expr::sym("y", &["j"])),
            Expr::sym("w", &["k"]),
        );
        let e = Expr::reduce(
            Sum,
            &["i"],
            Expr::reduce(Sum, &["j"], Expr::reduce(Sum, &["k"], body)),
        );
        assert!(matches!(
            eval(&e, &vec_env, &none),
            Err(EvalError::TooLarge(_))
        ));
    }

    #[test]
    fn high_roots() {
        let none = BTreeMap::new();
        let en = Env::default();
        // Indices above 64: floating-point estimates, checked exactly.
        let e = Expr::pow(Expr::sqrt(n(2)), Expr::rat(1, 4095));
        let v = eval(&e, &en, &none).unwrap();
        assert!((v.approx() - 2f64.powf(1.0 / 8190.0)).abs() < 1e-12);
        let a = eval(&Expr::pow(n(2), Expr::rat(1, 64)), &en, &none).unwrap();
        let b = eval(&Expr::pow(n(2), Expr::rat(1, 65)), &en, &none).unwrap();
        assert!(a.definitely_ne(&b));
        let big = Rat::from_integer(BigInt::one() << 3000usize);
        for (x, b) in [
            (q(2, 1), 65usize),
            (q(1, 3), 4095),
            (q(10, 7), 1000),
            (big, 97),
        ] {
            let (lo, hi) = root_bounds(&x, b as u64).unwrap();
            assert!(lo < hi);
            assert!(num_traits::pow(lo, b) <= x && x <= num_traits::pow(hi, b));
        }
        let e = Expr::pow(n(2), Expr::rat(1, 4097));
        assert!(eval(&e, &en, &none).is_err());
        let e = Expr::pow(Expr::sqrt(n(2)), Expr::rat(1, 63));
        assert!(eval(&e, &en, &none).is_ok());
        let e = Expr::pow(Expr::pow(n(3), n(4095)), Expr::rat(2, 4095));
        assert_eq!(eval(&e, &en, &none), Ok(Value::Exact(z(9))));
        let e = Expr::pow(Expr::pow(n(3), n(4095)), Expr::rat(-2, 4095));
        assert_eq!(eval(&e, &en, &none), Ok(Value::Exact(q(1, 9))));
    }

    #[test]
    fn errors() {
        let none = BTreeMap::new();
        let en = Env::default();
        assert_eq!(
            eval(&Expr::sym("x", &[]), &en, &none),
            Err(EvalError::UnboundSymbol("x".into()))
        );
        assert_eq!(
            eval(&Expr::reduce(Sum, &["i"], n(1)), &en, &none),
            Err(EvalError::UnknownAxisSize("i".into()))
        );
        let en = env(&[("i", 2)], &[("x", &["i"], vec![z(1), z(2)])]);
        assert!(eval(&Expr::sym("x", &["i"]), &en, &none).is_err());
        assert!(eval(&Expr::sym("x", &[]), &en, &none).is_err());
        assert!(eval(&Expr::sym("x", &["i"]), &en, &at(&[("i", 2)])).is_err());
        assert!(eval(&Expr::pvar("a"), &en, &none).is_err());
    }

    #[test]
    fn reductions() {
        let x = || Expr::sym("x", &["i"]);
        let en = env(
            &[("i", 3), ("j", 2)],
            &[
                ("x", &["i"], vec![z(1), z(2), z(6)]),
                (
                    "m",
                    &["i", "j"],
                    vec![z(1), z(2), z(3), z(4), z(5), q(1, 2)],
                ),
                ("c", &[], vec![q(7, 3)]),
            ],
        );
        let none = BTreeMap::new();
        let cases: Vec<(Expr, Rat)> = vec![
            (Expr::reduce(Mean, &["i"], x()), z(3)),
            (Expr::reduce(Sum, &["i"], x()), z(9)),
            (Expr::reduce(Sum, &["i"], n(1)), z(3)),
            (Expr::reduce(Sum, &["i", "j"], n(1)), z(6)),
            // var = mean((x-3)^2) = (4 + 1 + 9)/3
            (Expr::reduce(Var, &["i"], x()), q(14, 3)),
            (
                Expr::reduce(Var, &["i"], Expr::add(x(), Expr::sym("c", &[]))),
                q(14, 3),
            ),
            (
                Expr::reduce(Mean, &["i", "j"], Expr::sym("m", &["i", "j"])),
                q(31, 12),
            ),
            (
                Expr::reduce(
                    Mean,
                    &["j"],
                    Expr::reduce(Mean, &["i"], Expr::sym("m", &["i", "j"])),
                ),
                q(31, 12),
            ),
            // shadowing: the inner mean rebinds i
            (
                Expr::reduce(Mean, &["i"], Expr::reduce(Mean, &["i"], x())),
                z(3),
            ),
            (
                Expr::reduce(
                    Mean,
                    &["i"],
                    Expr::sub(x(), Expr::reduce(Mean, &["i"], x())),
                ),
                z(0),
            ),
            (Expr::reduce(Mean, &["i"], Expr::div(n(1), x())), q(5, 9)),
        ];
        for (e, want) in cases {
            assert_eq!(exact_of(&e, &en, &none), want, "{e:?}");
        }
        // free axis outside, bound inside: x[i] - mean[i](x[i]) at i = 2
        let e = Expr::sub(x(), Expr::reduce(Mean, &["i"], x()));
        assert_eq!(exact_of(&e, &en, &at(&[("i", 2)])), z(3));
        let all = eval_all(&e, &en).unwrap();
        let got: Vec<Value> = all.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            got,
            vec![Value::Exact(z(-2)), Value::Exact(z(-1)), Value::Exact(z(3))]
        );
        assert_eq!(all[1].0, at(&[("i", 1)]));
        // row-major over sorted axes: m[i=1, j=0] = 3
        assert_eq!(
            exact_of(
                &Expr::sym("m", &["j", "i"]),
                &en,
                &at(&[("i", 1), ("j", 0)])
            ),
            z(3)
        );
        let pts = eval_all(
            &Expr::reduce(Mean, &["i"], Expr::sym("m", &["i", "j"])),
            &en,
        )
        .unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].1, Value::Exact(z(3)));
        assert_eq!(pts[1].1, Value::Exact(q(13, 6)));
    }

    #[test]
    fn value_helpers_and_display() {
        let a = Value::Exact(q(1, 3));
        let b = Value::Interval(q(1, 4), q(1, 2));
        let c = Value::Interval(q(3, 5), z(1));
        assert!(!a.definitely_ne(&b) && !a.definitely_eq(&b));
        assert!(b.definitely_ne(&c) && a.definitely_ne(&c));
        assert!(a.definitely_eq(&Value::Exact(q(2, 6))));
        assert!(!b.definitely_eq(&b));
        assert_eq!(a.to_string(), "1/3");
        assert!(b.to_string().starts_with("[1/4, 1/2]"));
        assert_eq!(b.holds(Rel::Gt), Some(true));
        assert_eq!(Value::Interval(z(-1), z(0)).holds(Rel::Gt), Some(false));
        assert_eq!(Value::Interval(z(-1), z(0)).holds(Rel::Ge), None);
        assert_eq!(Value::Exact(z(0)).holds(Rel::Ne), Some(false));
        assert_eq!(Value::Exact(z(0)).holds(Rel::Ge), Some(true));
    }

    #[test]
    fn cross_multiplied_comparison_agrees_with_the_library() {
        // Signs, zero, equal and different denominators, values a few
        // units in the last place apart (the ends of a narrow enclosure).
        let big = pow2(300);
        let mut vals: Vec<Rat> = vec![Rat::zero()];
        for (p, q) in [(1, 3), (-1, 3), (2, 6), (5, 1), (-5, 1), (7, 4), (-7, 4)] {
            vals.push(Rat::new(BigInt::from(p), BigInt::from(q)));
        }
        for k in [-1i64, 0, 1, 2] {
            vals.push(Rat::new(&big * 3 + BigInt::from(k), &big + BigInt::one()));
            vals.push(-Rat::new(&big * 3 + BigInt::from(k), &big + BigInt::one()));
        }
        // Not reduced: the fallback.
        vals.push(Rat::new_raw(BigInt::from(2), BigInt::from(-6)));
        vals.push(Rat::new_raw(BigInt::from(4), BigInt::from(12)));
        for a in &vals {
            for b in &vals {
                assert_eq!(rat_cmp(a, b), a.cmp(b), "{a} against {b}");
                assert_eq!(rat_eq(a, b), a == b, "{a} = {b}");
            }
        }
    }

    #[test]
    fn products_of_enclosures_are_the_hull_of_the_end_products() {
        // Every sign pattern: exact factors, enclosures on either side of 0,
        // ends at 0, straddling 0; the ends that the signs pick must be the
        // least and greatest of the four end products (then rounded out).
        let ends = [-7, -2, -1, 0, 1, 3, 8];
        let mut ivs = Vec::new();
        for (i, &lo) in ends.iter().enumerate() {
            for &hi in &ends[i..] {
                ivs.push(Iv {
                    lo: q(lo, 3),
                    hi: q(hi, 3),
                });
            }
        }
        // A narrow enclosure with long ends, as a root leaves.
        let big = pow2(200);
        ivs.push(Iv {
            lo: Rat::new(&big * 3 - BigInt::one(), big.clone()),
            hi: Rat::new(&big * 3 + BigInt::one(), big.clone()),
        });
        ivs.push(Iv {
            lo: -Rat::new(&big * 3 + BigInt::one(), big.clone()),
            hi: -Rat::new(&big * 3 - BigInt::one(), big),
        });
        for a in &ivs {
            for b in &ivs {
                let got = a.mul(b).unwrap();
                let ps = [&a.lo * &b.lo, &a.lo * &b.hi, &a.hi * &b.lo, &a.hi * &b.hi];
                let lo = ps.iter().min().unwrap().clone();
                let hi = ps.iter().max().unwrap().clone();
                let want = mk(lo.clone(), hi.clone()).unwrap();
                assert_eq!((&got.lo, &got.hi), (&want.lo, &want.hi), "{a:?} * {b:?}");
                assert!(got.lo <= lo && hi <= got.hi, "{a:?} * {b:?}");
            }
        }
    }
}

//! Sign analysis that establishes side conditions (part of the trusted core).
//!
//! [`sign`] over-approximates the set of signs (`-`, `0`, `+`) an expression
//! can take, for every value of its symbols that satisfies the assumptions
//! and every axis size `>= 1`, under the total semantics (`x/0 = 0`, `sqrt`
//! and non-integer powers of negatives are `0`, `0^-n = 0`). A flag of
//! [`Sign`] is set only when it is proven. Nothing is non-zero merely for
//! being a symbol.
//!
//! Assumptions whose expression has free axes are read as holding at every
//! index (so `u[i] > 0` also makes the body of `mean[i](u[i])` positive).
//!
//! This module must not depend on `egg`.

use crate::ir::{Assumption, Expr, Fun, Rat, RedOp, Rel};
use crate::ring::{self, Atom, Poly};
use num_integer::Integer;
use num_traits::{One, Signed, Zero};
use std::collections::BTreeMap;
use std::collections::HashMap;

/// A set of possible signs, as a bit mask.
type Set = u8;
const NEG: Set = 1;
const ZERO: Set = 2;
const POS: Set = 4;
const ALL: Set = NEG | ZERO | POS;
const SIGNS: [Set; 3] = [NEG, ZERO, POS];

/// Deepest recursion before giving up (answering "unknown", which is sound).
const MAX_DEPTH: usize = 256;

fn of_rat(c: &Rat) -> Set {
    if c.is_zero() {
        ZERO
    } else if c.is_positive() {
        POS
    } else {
        NEG
    }
}

fn flip(s: Set) -> Set {
    (if s & NEG != 0 { POS } else { 0 }) | (s & ZERO) | (if s & POS != 0 { NEG } else { 0 })
}

/// Signs of `x + y` for `x` with sign `a` and `y` with sign `b` (one sign each).
fn add1(a: Set, b: Set) -> Set {
    match (a, b) {
        (ZERO, s) | (s, ZERO) => s,
        (x, y) if x == y => x,
        _ => ALL,
    }
}

/// Signs of `x * y` (one sign each).
fn mul1(a: Set, b: Set) -> Set {
    match (a, b) {
        (ZERO, _) | (_, ZERO) => ZERO,
        (x, y) if x == y => POS,
        _ => NEG,
    }
}

fn lift(a: Set, b: Set, f: fn(Set, Set) -> Set) -> Set {
    let mut out = 0;
    for x in SIGNS.iter().filter(|&&x| a & x != 0) {
        for y in SIGNS.iter().filter(|&&y| b & y != 0) {
            out |= f(*x, *y);
        }
    }
    out
}

fn add(a: Set, b: Set) -> Set {
    lift(a, b, add1)
}

/// Also the signs of `x / y`: `x / y = x * (1/y)`, and `1/y` has the sign of
/// `y` (`1/0 = 0`).
fn mul(a: Set, b: Set) -> Set {
    lift(a, b, mul1)
}

/// Signs of `x^n` for an integer `n`: `x^0 = 1` (also at `0`); otherwise
/// `x^-n = (1/x)^n` and `1/x` has the sign of `x`, so only parity matters.
fn pow_int(a: Set, n_is_zero: bool, n_is_even: bool) -> Set {
    if n_is_zero {
        POS
    } else if n_is_even {
        (if a & (NEG | POS) != 0 { POS } else { 0 }) | (a & ZERO)
    } else {
        a
    }
}

/// The signs `f(args)` may take when each argument's sign is in its set.
/// `log` is left unknown: it reads `|x|` (`log(-1) = log 0 = 0`), so no
/// sign of `x` alone decides it.
fn app(f: Fun, s: &[Set]) -> Set {
    // The signs in order NEG < ZERO < POS, so max and min act on them.
    let pairs = |pick: fn(Set, Set) -> Set| {
        let mut out = 0;
        for a in SIGNS.into_iter().filter(|a| s[0] & a != 0) {
            for b in SIGNS.into_iter().filter(|b| s[1] & b != 0) {
                out |= pick(a, b);
            }
        }
        out
    };
    match f {
        Fun::Exp => POS,
        Fun::Log => ALL,
        Fun::Abs => (if s[0] & (NEG | POS) != 0 { POS } else { 0 }) | (s[0] & ZERO),
        Fun::Max => pairs(std::cmp::max),
        Fun::Min => pairs(std::cmp::min),
        Fun::Detach => s[0],
    }
}

/// Signs of `sqrt(x)` and `x^r` for non-integer `r`: positive for `x > 0`,
/// `0` for `x <= 0` (total semantics).
fn root(a: Set) -> Set {
    (a & POS) | (if a & (NEG | ZERO) != 0 { ZERO } else { 0 })
}

/// Signs of a sum (or mean) of `n >= 1` values each with a sign in `a`:
/// `a ⊕ a` contains `a` and is closed under further `⊕ a`.
fn sum_closure(a: Set) -> Set {
    add(a, a)
}

fn of_rel(r: Rel) -> Set {
    match r {
        Rel::Gt => POS,
        Rel::Ge => POS | ZERO,
        Rel::Ne => POS | NEG,
    }
}

/// What is proven about the sign of an expression; each flag means "proven",
/// all `false` means nothing is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sign {
    pub pos: bool,
    pub neg: bool,
    /// Exactly zero.
    pub zero: bool,
    pub nonneg: bool,
    pub nonpos: bool,
    pub nonzero: bool,
}

impl Sign {
    /// The flags proven by "the sign lies in `s`" (an empty `s`, possible only
    /// under contradictory assumptions, proves everything vacuously).
    fn from_set(s: Set) -> Sign {
        let within = |allowed: Set| s & !allowed == 0;
        Sign {
            pos: within(POS),
            neg: within(NEG),
            zero: within(ZERO),
            nonneg: within(POS | ZERO),
            nonpos: within(NEG | ZERO),
            nonzero: within(POS | NEG),
        }
    }
}

/// The values an assumption allows for a polynomial: an interval (each end
/// open or closed, or absent) minus finitely many points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Range {
    /// `(bound, strict)`: the value is `> bound` (strict) or `>= bound`.
    lo: Option<(Rat, bool)>,
    /// `(bound, strict)`: the value is `< bound` (strict) or `<= bound`.
    hi: Option<(Rat, bool)>,
    /// Values excluded by `!=` assumptions.
    ne: Vec<Rat>,
}

impl Range {
    /// `s·K + k REL 0` as a range of `K` (`s != 0`): with `t = −k/s`,
    /// `K != t`, or `K > t` / `K >= t` for `s > 0` (`<` / `<=` for `s < 0`).
    fn of_rel(rel: Rel, s: &Rat, k: &Rat) -> Range {
        let t = -(k / s);
        let mut r = Range::default();
        match rel {
            Rel::Ne => r.ne.push(t),
            Rel::Gt | Rel::Ge => {
                let b = Some((t, rel == Rel::Gt));
                if s.is_positive() {
                    r.lo = b;
                } else {
                    r.hi = b;
                }
            }
        }
        r
    }

    /// Both constraints at once.
    fn meet(&mut self, o: &Range) {
        // The tighter lower bound: the larger value, strict on ties.
        if let Some((b, st)) = &o.lo {
            let tighter = match &self.lo {
                None => true,
                Some((a, sa)) => b > a || (b == a && *st && !sa),
            };
            if tighter {
                self.lo = o.lo.clone();
            }
        }
        if let Some((b, st)) = &o.hi {
            let tighter = match &self.hi {
                None => true,
                Some((a, sa)) => b < a || (b == a && *st && !sa),
            };
            if tighter {
                self.hi = o.hi.clone();
            }
        }
        self.ne.extend(o.ne.iter().cloned());
    }

    /// No value satisfies the constraints.
    fn is_empty(&self) -> bool {
        match (&self.lo, &self.hi) {
            (Some((a, sa)), Some((b, sb))) => {
                a > b || (a == b && (*sa || *sb || self.ne.contains(a)))
            }
            _ => false,
        }
    }

    /// The signs `s·K + k` can take when `K` lies in this (non-empty) range.
    fn signs(&self, s: &Rat, k: &Rat) -> Set {
        let map = |v: &Rat| s * v + k;
        let (lo, hi) = if s.is_positive() {
            (
                self.lo.as_ref().map(|(v, st)| (map(v), *st)),
                self.hi.as_ref().map(|(v, st)| (map(v), *st)),
            )
        } else {
            (
                self.hi.as_ref().map(|(v, st)| (map(v), *st)),
                self.lo.as_ref().map(|(v, st)| (map(v), *st)),
            )
        };
        let mut out = 0;
        if lo.as_ref().is_none_or(|(v, _)| v.is_negative()) {
            out |= NEG;
        }
        if hi.as_ref().is_none_or(|(v, _)| v.is_positive()) {
            out |= POS;
        }
        let zero_above_lo = lo
            .as_ref()
            .is_none_or(|(v, st)| v.is_negative() || (v.is_zero() && !st));
        let zero_below_hi = hi
            .as_ref()
            .is_none_or(|(v, st)| v.is_positive() || (v.is_zero() && !st));
        if zero_above_lo && zero_below_hi && !self.ne.iter().any(|v| map(v).is_zero()) {
            out |= ZERO;
        }
        out
    }
}

/// `p = s·K + k` with `k` the constant term and `K` the canonical
/// non-constant part: coprime integer coefficients, first displayed
/// coefficient positive. `None` when `p` is constant.
fn split_key(p: &Poly) -> Option<(Rat, Poly, Rat)> {
    let k = p
        .terms()
        .find(|(m, _)| m.is_one())
        .map_or_else(Rat::zero, |(_, c)| c.clone());
    let rest = if k.is_zero() {
        p.clone()
    } else {
        p.plus(&Poly::constant_poly(-k.clone())).ok()?
    };
    if rest.is_zero() {
        return None;
    }
    let (s, _, _) = rest.split_content()?;
    let key = rest.scale(&s.recip()).ok()?;
    Some((s, key, k))
}

/// An assumption `e > 0` (or `e >= 0`) holds at every index of its free
/// axes, and every axis has at least one index, so the mean of `e` over
/// them is `> 0` (`>= 0`). When that mean's normal form is a constant
/// that breaks this (`x[i] − mean[i](x[i]) > 0`, whose mean is 0), the
/// assumptions cannot all hold.
fn centred_mean_contradicts(a: &Assumption) -> bool {
    let axes: Vec<String> = a.expr.free_axes().into_iter().collect();
    if axes.is_empty() || a.rel == Rel::Ne {
        return false;
    }
    let axes: Vec<&str> = axes.iter().map(String::as_str).collect();
    let mean = Expr::reduce(RedOp::Mean, &axes, a.expr.clone());
    let Some(c) = ring::normalize_with(&mean, &ring::Mode::LINEAR)
        .ok()
        .and_then(|p| p.constant())
    else {
        return false;
    };
    match a.rel {
        Rel::Gt => !c.is_positive(),
        Rel::Ge => c.is_negative(),
        Rel::Ne => false,
    }
}

/// How many assumption lists [`Facts::new`] remembers on a thread.
const RECENT_FACTS_KEPT: usize = 8;

thread_local! {
    /// The facts of the last assumption lists seen: the kernel checks many
    /// one-step proofs under the same assumptions (the prover's attempts
    /// to close a chain), and each check built them anew, normalizing
    /// every assumption twice (a sixth of `derive batchnorm`'s work).
    static RECENT_FACTS: std::cell::RefCell<Vec<(Vec<Assumption>, Facts)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Sign facts taken from assumptions. Each assumption `e REL 0` is stored as
/// a range of values of the canonical non-constant part `K` of its normal
/// form (`e = s·K + k`), so that `2*e`, `e/3`, `-e` and bounds `e > 1/1000`
/// are recognized too; products are also split into their factors.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    ranges: BTreeMap<Poly, Range>,
    /// The assumptions cannot all hold (`x > 1` and `x < 0`): every sign
    /// claim is then vacuously true.
    contradictory: bool,
    /// An assumption's normal form was refused (too large, out of work or
    /// time), so these facts may know less than the assumptions say.
    cut_short: bool,
}

impl Facts {
    /// Facts from assumptions; an assumption whose normal form is too large
    /// adds nothing (which is sound), one about a constant that is false
    /// makes the facts contradictory.
    pub fn new(assumptions: &[Assumption]) -> Facts {
        let recent = RECENT_FACTS.with(|r| {
            r.borrow()
                .iter()
                .find(|(a, _)| a.as_slice() == assumptions)
                .map(|(_, f)| f.clone())
        });
        if let Some(f) = recent {
            return f;
        }
        let mut f = Facts::default();
        let mut complete = true;
        for a in assumptions {
            // Stored under the plain ring normal form and under the
            // linearity one, so that `var[i](x[i]) > 0` is also recognized
            // as `mean[i](x[i]^2) - mean[i](x[i])^2 > 0`.
            for mode in [ring::Mode::RING, ring::Mode::LINEAR] {
                let Ok(p) = ring::normalize_with(&a.expr, &mode) else {
                    complete = false;
                    continue;
                };
                f.add(&p, a.rel, &mode, 0);
            }
        }
        f.contradictory |= f.ranges.values().any(Range::is_empty);
        f.contradictory |= assumptions.iter().any(centred_mean_contradicts);
        f.cut_short = !complete;
        // Only facts that no work limit or deadline cut short are kept:
        // those depend on the assumptions alone.
        if complete {
            RECENT_FACTS.with(|r| {
                let mut r = r.borrow_mut();
                if r.len() >= RECENT_FACTS_KEPT {
                    r.remove(0);
                }
                r.push((assumptions.to_vec(), f.clone()));
            });
        }
        f
    }

    /// `p REL 0`, and what it says about the factors of `p`.
    fn add(&mut self, p: &Poly, rel: Rel, mode: &ring::Mode, depth: usize) {
        if let Some(c) = p.constant() {
            if of_rat(&c) & of_rel(rel) == 0 {
                self.contradictory = true;
            }
            return;
        }
        if let Some((s, key, k)) = split_key(p) {
            let r = Range::of_rel(rel, &s, &k);
            self.ranges.entry(key).or_default().meet(&r);
        }
        if depth > 4 {
            return;
        }
        // A product `c · F1^k1 ⋯ Fn^kn` (atoms of the common monomial factor,
        // and the remaining cofactor q when it is not constant):
        // - `!= 0` or `> 0`: every factor is non-zero (a product with a zero
        //   factor is 0);
        // - `> 0` with exactly one factor of odd power: that factor has the
        //   sign of `c` (the even powers are positive); with none, `c > 0`
        //   (else the assumptions are contradictory);
        // - `>= 0` of a single factor of odd power: it has the sign of `c`
        //   or is 0. (`a/b >= 0` says nothing about `b` alone.)
        let Some((c, g, q)) = p.split_content() else {
            return;
        };
        let mut factors: Vec<(Poly, u32, Option<&Atom>)> = g
            .factors()
            .map(|(a, k)| (Poly::atom(a.clone()), k, Some(a)))
            .collect();
        if q.constant().is_none() {
            factors.push((q.clone(), 1, None));
        }
        if factors.len() == 1 && factors[0].1 == 1 && c.abs().is_one() && factors[0].2.is_none() {
            // `p` is itself one factor: already recorded above.
            return;
        }
        let odd: Vec<usize> = (0..factors.len())
            .filter(|&i| factors[i].1 % 2 == 1)
            .collect();
        let unit = if c.is_positive() {
            Rat::one()
        } else {
            -Rat::one()
        };
        let mut derived: Vec<(Poly, Rel, Rat)> = Vec::new();
        match rel {
            Rel::Ne | Rel::Gt => {
                for (f, _, _) in &factors {
                    derived.push((f.clone(), Rel::Ne, Rat::one()));
                }
                if rel == Rel::Gt {
                    match odd.as_slice() {
                        [i] => derived.push((factors[*i].0.clone(), Rel::Gt, unit.clone())),
                        [] if c.is_negative() => self.contradictory = true,
                        _ => {}
                    }
                }
            }
            Rel::Ge => {
                if factors.len() == 1 && factors[0].1 % 2 == 1 {
                    derived.push((factors[0].0.clone(), Rel::Ge, unit.clone()));
                }
            }
        }
        for (f, r, sgn) in derived {
            // `sgn · f REL 0`
            let Ok(fp) = f.scale(&sgn) else { continue };
            self.add(&fp, r, mode, depth + 1);
            let Some(atom) = f.as_atom() else { continue };
            match atom {
                // `1/e` has the sign of `e` (`1/0 = 0`).
                Atom::Inv(e) => {
                    if let Ok(ep) = ring::normalize_with(e, mode) {
                        if let Ok(ep) = ep.scale(&sgn) {
                            self.add(&ep, r, mode, depth + 1);
                        }
                    }
                }
                // A root is non-zero exactly where its radicand is positive.
                Atom::Sqrt(e) | Atom::Root(_, e) if r != Rel::Ge && sgn.is_positive() => {
                    if let Ok(ep) = ring::normalize_with(e, mode) {
                        self.add(&ep, Rel::Gt, mode, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn empty() -> Facts {
        Facts::default()
    }

    /// Whether the assumptions were shown unsatisfiable (then every sign
    /// claim holds vacuously, and the kernel accepts any side condition).
    pub fn is_contradictory(&self) -> bool {
        self.contradictory
    }

    /// Whether an assumption's normal form was refused while building these
    /// facts (a limit or deadline, not the assumptions, decided what they know).
    pub fn is_cut_short(&self) -> bool {
        self.cut_short
    }

    /// The signs the assumptions allow for a value with normal form `p`.
    fn lookup(&self, p: &Poly) -> Set {
        if self.contradictory {
            return 0;
        }
        if self.ranges.is_empty() {
            return p.constant().map_or(ALL, |c| of_rat(&c));
        }
        let Some((s, key, k)) = split_key(p) else {
            return of_rat(&p.constant().unwrap_or_else(Rat::zero));
        };
        match self.ranges.get(&key) {
            Some(r) => r.signs(&s, &k),
            None => ALL,
        }
    }
}

/// The body of a defined name, for an analysis that sees through names.
pub type Defs<'a> = &'a dyn Fn(&str) -> Option<&'a Expr>;

struct Analysis<'a> {
    facts: &'a Facts,
    memo: HashMap<Expr, Set>,
    /// A defined name has the sign of its body (at every index, so at the
    /// one used): sound, and linear in the definitions where inlining
    /// them first is exponential in a stack of layers.
    defs: Option<Defs<'a>>,
}

impl Analysis<'_> {
    fn sign(&mut self, e: &Expr, depth: usize) -> Set {
        if depth > MAX_DEPTH {
            return ALL;
        }
        if let Some(s) = self.memo.get(e) {
            return *s;
        }
        let mut s = self.syntactic(e, depth);
        // Linearity can decide more (a centred mean is 0) and matches
        // assumptions written with var or as moments.
        if let Ok(p) = ring::normalize_with(e, &ring::Mode::LINEAR) {
            s &= self.facts.lookup(&p);
        }
        if let Ok(p) = ring::normalize(e) {
            s &= self.facts.lookup(&p);
            // The normal form as a whole, unless it is a bare atom (whose
            // analysis is the syntactic one above).
            if p.as_atom().is_none() {
                s &= self.poly(&p, depth);
            }
        }
        self.memo.insert(e.clone(), s);
        s
    }

    /// Structural rules, one per operator.
    fn syntactic(&mut self, e: &Expr, depth: usize) -> Set {
        let d = depth + 1;
        match e {
            Expr::Num(c) => of_rat(c),
            Expr::Sym(v) => match self.defs.and_then(|defs| defs(&v.name)) {
                Some(body) => self.sign(body, d),
                None => ALL,
            },
            Expr::PVar(_) => ALL,
            Expr::Neg(a) => flip(self.sign(a, d)),
            Expr::Add(a, b) => add(self.sign(a, d), self.sign(b, d)),
            Expr::Sub(a, b) => add(self.sign(a, d), flip(self.sign(b, d))),
            Expr::Mul(a, b) | Expr::Div(a, b) => mul(self.sign(a, d), self.sign(b, d)),
            Expr::Pow(b, x) => {
                let r = x
                    .const_value()
                    .or_else(|| ring::normalize(x).ok()?.constant());
                match r {
                    None => ALL,
                    Some(r) if r.is_integer() => {
                        let n = r.to_integer();
                        pow_int(self.sign(b, d), n.is_zero(), n.is_even())
                    }
                    Some(_) => root(self.sign(b, d)),
                }
            }
            Expr::Sqrt(a) => root(self.sign(a, d)),
            Expr::App(f, args) => {
                let s: Vec<Set> = args.iter().map(|a| self.sign(a, d)).collect();
                app(*f, &s)
            }
            Expr::Reduce(RedOp::Mean | RedOp::Sum, _, body) => sum_closure(self.sign(body, d)),
            // var[i](e) = mean[i]((e - mean[i](e))^2) >= 0.
            Expr::Reduce(RedOp::Var, _, _) => POS | ZERO,
        }
    }

    /// A normal form: each monomial `c * a1^k1 * ... ` by the sign rules for
    /// products and powers, then the sum of the monomials. `1/x` has the sign
    /// of `x` at every point (`1/0 = 0`), so `x^k * (1/x)^l` has the sign of
    /// `x^(k+l)`: the powers of an atom and of its inverse are added first
    /// (so `x/x` is positive when `x != 0`).
    fn poly(&mut self, p: &Poly, depth: usize) -> Set {
        let mut total = ZERO;
        for (m, c) in p.terms() {
            let mut bases: BTreeMap<Expr, u64> = BTreeMap::new();
            for (a, k) in m.factors() {
                let base = match a {
                    Atom::Inv(content) => (**content).clone(),
                    _ => a.to_expr(),
                };
                *bases.entry(base).or_insert(0) += u64::from(k);
            }
            let mut t = of_rat(c);
            for (base, k) in bases {
                let s = self.sign(&base, depth + 1);
                t = mul(t, pow_int(s, k == 0, k % 2 == 0));
            }
            total = add(total, t);
        }
        total
    }
}

/// What is proven about the sign of `e` under `facts`.
pub fn sign(e: &Expr, facts: &Facts) -> Sign {
    let mut an = Analysis {
        facts,
        memo: HashMap::new(),
        defs: None,
    };
    Sign::from_set(an.sign(e, 0))
}

/// [`sign`], where each name `defs` defines has the sign of its body.
pub fn sign_through<'a>(e: &Expr, facts: &'a Facts, defs: Defs<'a>) -> Sign {
    let mut an = Analysis {
        facts,
        memo: HashMap::new(),
        defs: Some(defs),
    };
    Sign::from_set(an.sign(e, 0))
}

/// `e > 0` is proven.
pub fn is_pos(e: &Expr, facts: &Facts) -> bool {
    sign(e, facts).pos
}

/// `e >= 0` is proven.
pub fn is_nonneg(e: &Expr, facts: &Facts) -> bool {
    sign(e, facts).nonneg
}

/// `e != 0` is proven.
pub fn is_nonzero(e: &Expr, facts: &Facts) -> bool {
    sign(e, facts).nonzero
}

/// `e < 0` is proven.
pub fn is_neg(e: &Expr, facts: &Facts) -> bool {
    sign(e, facts).neg
}

/// `e <= 0` is proven.
pub fn is_nonpos(e: &Expr, facts: &Facts) -> bool {
    sign(e, facts).nonpos
}

/// The non-zero and non-negative checks of a `field` normal form, from
/// these facts.
pub fn field_checks(facts: &Facts) -> crate::ring::FieldChecks<'_> {
    crate::ring::FieldChecks::new(move |e| is_nonzero(e, facts), move |e| is_nonneg(e, facts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{int_pow, total_div};
    use num_traits::ToPrimitive;
    use proptest::prelude::*;

    fn s(n: &str) -> Expr {
        Expr::sym(n, &[])
    }
    fn u() -> Expr {
        Expr::sym("u", &["i"])
    }
    fn n(k: i64) -> Expr {
        Expr::num(k)
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

    const POSITIVE: Sign = Sign {
        pos: true,
        neg: false,
        zero: false,
        nonneg: true,
        nonpos: false,
        nonzero: true,
    };
    const NEGATIVE: Sign = Sign {
        pos: false,
        neg: true,
        zero: false,
        nonneg: false,
        nonpos: true,
        nonzero: true,
    };
    const ZEROS: Sign = Sign {
        pos: false,
        neg: false,
        zero: true,
        nonneg: true,
        nonpos: true,
        nonzero: false,
    };
    const NONNEG: Sign = Sign {
        pos: false,
        neg: false,
        zero: false,
        nonneg: true,
        nonpos: false,
        nonzero: false,
    };
    const NONPOS: Sign = Sign {
        pos: false,
        neg: false,
        zero: false,
        nonneg: false,
        nonpos: true,
        nonzero: false,
    };
    const NONZERO: Sign = Sign {
        pos: false,
        neg: false,
        zero: false,
        nonneg: false,
        nonpos: false,
        nonzero: true,
    };
    const UNKNOWN: Sign = Sign {
        pos: false,
        neg: false,
        zero: false,
        nonneg: false,
        nonpos: false,
        nonzero: false,
    };

    #[test]
    fn table() {
        let (a, b, x, eps) = (s("a"), s("b"), s("x"), s("eps"));
        let var = Expr::reduce(RedOp::Var, &["i"], u());
        let mean = |e| Expr::reduce(RedOp::Mean, &["i"], e);
        let sum = |e| Expr::reduce(RedOp::Sum, &["i"], e);
        let half = Expr::rat(1, 2);
        let cases: Vec<(Expr, Vec<Assumption>, Sign)> = vec![
            (n(2), vec![], POSITIVE),
            (n(0), vec![], ZEROS),
            (Expr::rat(-1, 3), vec![], NEGATIVE),
            (Expr::div(n(1), n(0)), vec![], ZEROS),
            (x.clone(), vec![], UNKNOWN),
            (Expr::pvar("p"), vec![], UNKNOWN),
            (x.clone(), vec![gt(x.clone())], POSITIVE),
            (x.clone(), vec![ge(x.clone())], NONNEG),
            (x.clone(), vec![ne(x.clone())], NONZERO),
            (Expr::neg(x.clone()), vec![gt(x.clone())], NEGATIVE),
            (Expr::neg(x.clone()), vec![ge(x.clone())], NONPOS),
            (Expr::pow(x.clone(), n(2)), vec![], NONNEG),
            (Expr::mul(x.clone(), x.clone()), vec![], NONNEG),
            (Expr::pow(x.clone(), n(2)), vec![ne(x.clone())], POSITIVE),
            (
                Expr::add(Expr::pow(x.clone(), n(2)), n(1)),
                vec![],
                POSITIVE,
            ),
            (
                Expr::add(Expr::mul(x.clone(), x.clone()), n(1)),
                vec![],
                POSITIVE,
            ),
            (Expr::pow(x.clone(), n(3)), vec![], UNKNOWN),
            (Expr::pow(x.clone(), n(3)), vec![ne(x.clone())], NONZERO),
            (Expr::pow(x.clone(), n(-3)), vec![ne(x.clone())], NONZERO),
            (Expr::pow(x.clone(), n(-3)), vec![gt(x.clone())], POSITIVE),
            (Expr::pow(x.clone(), n(0)), vec![], POSITIVE),
            (Expr::pow(x.clone(), half.clone()), vec![], NONNEG),
            (
                Expr::pow(x.clone(), half.clone()),
                vec![gt(x.clone())],
                POSITIVE,
            ),
            (
                Expr::pow(x.clone(), Expr::rat(-1, 2)),
                vec![gt(x.clone())],
                POSITIVE,
            ),
            (
                Expr::pow(x.clone(), Expr::rat(1, 3)),
                vec![ne(x.clone())],
                NONNEG,
            ),
            (
                Expr::pow(x.clone(), a.clone()),
                vec![gt(x.clone())],
                UNKNOWN,
            ),
            (Expr::sqrt(x.clone()), vec![], NONNEG),
            (Expr::sqrt(x.clone()), vec![ne(x.clone())], NONNEG),
            (Expr::sqrt(x.clone()), vec![gt(x.clone())], POSITIVE),
            (Expr::div(x.clone(), x.clone()), vec![], NONNEG),
            (
                Expr::div(x.clone(), x.clone()),
                vec![ne(x.clone())],
                POSITIVE,
            ),
            (
                Expr::div(a.clone(), b.clone()),
                vec![gt(a.clone()), ge(b.clone())],
                NONNEG,
            ),
            (
                Expr::div(a.clone(), b.clone()),
                vec![gt(a.clone()), gt(b.clone())],
                POSITIVE,
            ),
            (
                Expr::div(a.clone(), b.clone()),
                vec![ne(a.clone()), ne(b.clone())],
                NONZERO,
            ),
            (
                Expr::mul(a.clone(), b.clone()),
                vec![gt(a.clone())],
                UNKNOWN,
            ),
            (
                Expr::add(a.clone(), b.clone()),
                vec![gt(a.clone()), ge(b.clone())],
                POSITIVE,
            ),
            (
                Expr::sub(a.clone(), b.clone()),
                vec![gt(a.clone()), ge(b.clone())],
                UNKNOWN,
            ),
            (
                Expr::sub(a.clone(), b.clone()),
                vec![gt(Expr::sub(a.clone(), b.clone()))],
                POSITIVE,
            ),
            (
                Expr::sub(b.clone(), a.clone()),
                vec![gt(Expr::sub(a.clone(), b.clone()))],
                NEGATIVE,
            ),
            (
                Expr::mul(n(2), Expr::sub(a.clone(), b.clone())),
                vec![ge(Expr::sub(
                    Expr::mul(n(3), a.clone()),
                    Expr::mul(n(3), b.clone()),
                ))],
                NONNEG,
            ),
            (var.clone(), vec![], NONNEG),
            (
                Expr::add(var.clone(), eps.clone()),
                vec![gt(eps.clone())],
                POSITIVE,
            ),
            (
                Expr::sqrt(Expr::add(var.clone(), eps.clone())),
                vec![gt(eps.clone())],
                POSITIVE,
            ),
            (
                Expr::div(
                    Expr::sub(u(), mean(u())),
                    Expr::sqrt(Expr::add(var.clone(), eps.clone())),
                ),
                vec![gt(eps.clone())],
                UNKNOWN,
            ),
            (
                Expr::add(eps.clone(), var.clone()),
                vec![gt(Expr::add(var.clone(), eps.clone()))],
                POSITIVE,
            ),
            (mean(u()), vec![gt(u())], POSITIVE),
            (sum(u()), vec![ge(u())], NONNEG),
            (mean(Expr::neg(u())), vec![gt(u())], NEGATIVE),
            (mean(u()), vec![ne(u())], UNKNOWN),
            (sum(Expr::pow(u(), n(2))), vec![], NONNEG),
            // A centred mean is exactly 0 (by linearity), whatever u is.
            (
                mean(Expr::sub(u(), mean(u()))),
                vec![gt(u())],
                Sign {
                    zero: true,
                    nonneg: true,
                    nonpos: true,
                    ..Sign::default()
                },
            ),
            (var.clone(), vec![gt(u())], NONNEG),
            // contradictory assumptions prove everything (vacuously)
            (
                x.clone(),
                vec![gt(x.clone()), gt(Expr::neg(x.clone()))],
                Sign {
                    pos: true,
                    neg: true,
                    zero: true,
                    nonneg: true,
                    nonpos: true,
                    nonzero: true,
                },
            ),
        ];
        for (e, asm, want) in cases {
            let got = sign(&e, &Facts::new(&asm));
            assert_eq!(got, want, "sign of {e:?} under {asm:?}");
        }
        assert!(is_pos(&n(1), &Facts::empty()));
        assert!(is_nonneg(&Expr::sqrt(x.clone()), &Facts::empty()));
        assert!(!is_nonzero(&x, &Facts::empty()));
        assert!(is_neg(&n(-1), &Facts::empty()));
        assert!(is_nonpos(&Expr::neg(Expr::pow(x, n(2))), &Facts::empty()));
    }

    // ---- soundness property test ----

    const AXIS: usize = 3;

    struct Env {
        a: Rat,
        b: Rat,
        c: Rat,
        u: Vec<Rat>,
        size: usize,
    }

    /// `v^(p/q)` exactly under the total semantics, `None` when irrational.
    fn rat_pow(v: &Rat, r: &Rat) -> Option<Rat> {
        if r.is_integer() {
            return int_pow(v, r.to_integer().to_i64()?);
        }
        if !v.is_positive() {
            return Some(Rat::zero());
        }
        let q = r.denom().to_u32()?;
        let (n, d) = (v.numer().nth_root(q), v.denom().nth_root(q));
        if num_traits::pow(n.clone(), q as usize) != *v.numer()
            || num_traits::pow(d.clone(), q as usize) != *v.denom()
        {
            return None;
        }
        int_pow(&Rat::new(n, d), r.numer().to_i64()?)
    }

    /// Exact value at index `i` of the free axis `i`; `None` when a root is
    /// irrational.
    fn eval(e: &Expr, env: &Env, i: usize) -> Option<Rat> {
        Some(match e {
            Expr::Num(r) => r.clone(),
            Expr::Sym(s) => match s.name.as_str() {
                "a" => env.a.clone(),
                "b" => env.b.clone(),
                "c" => env.c.clone(),
                "u" => env.u[i].clone(),
                other => panic!("unknown symbol {other}"),
            },
            Expr::Neg(a) => -eval(a, env, i)?,
            Expr::Add(a, b) => eval(a, env, i)? + eval(b, env, i)?,
            Expr::Sub(a, b) => eval(a, env, i)? - eval(b, env, i)?,
            Expr::Mul(a, b) => eval(a, env, i)? * eval(b, env, i)?,
            Expr::Div(a, b) => total_div(&eval(a, env, i)?, &eval(b, env, i)?),
            Expr::Pow(a, x) => rat_pow(&eval(a, env, i)?, &x.const_value()?)?,
            Expr::Sqrt(a) => rat_pow(&eval(a, env, i)?, &Rat::new(1.into(), 2.into()))?,
            // exp and log are irrational almost everywhere: not generated.
            Expr::App(f, args) => {
                let x = eval(&args[0], env, i)?;
                match f {
                    Fun::Abs => x.abs(),
                    Fun::Max => x.max(eval(&args[1], env, i)?),
                    Fun::Min => x.min(eval(&args[1], env, i)?),
                    Fun::Detach => x,
                    Fun::Exp | Fun::Log => return None,
                }
            }
            Expr::Reduce(op, _, body) => {
                let vals: Option<Vec<Rat>> = (0..env.size).map(|j| eval(body, env, j)).collect();
                let vals = vals?;
                let n = Rat::from_integer(env.size.into());
                let sum: Rat = vals.iter().cloned().sum();
                match op {
                    RedOp::Sum => sum,
                    RedOp::Mean => sum / n,
                    RedOp::Var => {
                        let m = sum / &n;
                        vals.iter().map(|v| (v - &m) * (v - &m)).sum::<Rat>() / n
                    }
                }
            }
            Expr::PVar(_) => panic!("no pattern variables here"),
        })
    }

    fn arb_expr(depth: u32) -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            1 => Just(s("a")),
            1 => Just(s("b")),
            1 => Just(s("c")),
            3 => Just(u()),
            1 => (-2i64..=2, 1i64..=2).prop_map(|(p, q)| Expr::rat(p, q)),
        ];
        leaf.prop_recursive(depth, 32, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(Expr::neg),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::add(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::sub(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::mul(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::div(a, b)),
                (inner.clone(), -3i64..=3).prop_map(|(a, k)| Expr::pow(a, Expr::num(k))),
                (inner.clone(), -2i64..=2, 2i64..=3)
                    .prop_map(|(a, p, q)| Expr::pow(a, Expr::rat(p, q))),
                inner.clone().prop_map(Expr::sqrt),
                inner.clone().prop_map(Expr::abs),
                inner.clone().prop_map(Expr::detach),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::max(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::min(a, b)),
                inner
                    .clone()
                    .prop_map(|a| Expr::sqrt(Expr::mul(a.clone(), a))),
                inner
                    .clone()
                    .prop_map(|a| Expr::reduce(RedOp::Mean, &["i"], a)),
                inner
                    .clone()
                    .prop_map(|a| Expr::reduce(RedOp::Sum, &["i"], a)),
                inner.prop_map(|a| Expr::reduce(RedOp::Var, &["i"], a)),
            ]
        })
    }

    /// Values rich in perfect squares and cubes, so that roots are often exact.
    fn arb_value() -> impl Strategy<Value = Rat> {
        let vals: Vec<(i64, i64)> = vec![
            (0, 1),
            (1, 1),
            (-1, 1),
            (4, 1),
            (-4, 1),
            (1, 4),
            (9, 4),
            (2, 1),
            (-2, 1),
            (8, 1),
            (1, 8),
            (-1, 8),
        ];
        prop::sample::select(vals).prop_map(|(p, q)| Rat::new(p.into(), q.into()))
    }

    fn holds(v: &Rat, rel: Rel) -> bool {
        match rel {
            Rel::Gt => v.is_positive(),
            Rel::Ge => !v.is_negative(),
            Rel::Ne => !v.is_zero(),
        }
    }

    fn check_claims(
        e: Expr,
        which: Vec<bool>,
        (a, b, c): (Rat, Rat, Rat),
        us: Vec<Rat>,
        size: usize,
    ) -> Result<(), TestCaseError> {
        let all = assumption_pool();
        let env = Env {
            a,
            b,
            c,
            u: us,
            size,
        };
        // Keep the chosen assumptions that hold at these values (at every index).
        let asm: Vec<Assumption> = all
            .iter()
            .zip(&which)
            .filter(|(x, w)| {
                **w && (0..size).all(|i| eval(&x.expr, &env, i).is_some_and(|v| holds(&v, x.rel)))
            })
            .map(|(x, _)| x.clone())
            .collect();
        let facts = Facts::new(&asm);
        // The chosen assumptions hold at this point: never contradictory.
        prop_assert!(!facts.is_contradictory(), "{:?} called contradictory", asm);
        let sg = sign(&e, &facts);
        for i in 0..size {
            let Some(v) = eval(&e, &env, i) else {
                return Ok(());
            };
            let ok = (!sg.pos || v.is_positive())
                && (!sg.neg || v.is_negative())
                && (!sg.zero || v.is_zero())
                && (!sg.nonneg || !v.is_negative())
                && (!sg.nonpos || !v.is_positive())
                && (!sg.nonzero || !v.is_zero());
            prop_assert!(ok, "{:?} claimed for {:?} = {} under {:?}", sg, e, v, asm);
        }
        Ok(())
    }

    fn p(src: &str) -> Expr {
        crate::syntax::parse_expr(src).unwrap()
    }

    /// Assumptions the soundness properties draw from: bare signs, bounds,
    /// products and quotients (split into factors), roots and inverses.
    fn assumption_pool() -> Vec<Assumption> {
        let mut v = vec![
            gt(s("a")),
            ge(s("b")),
            ne(s("c")),
            gt(u()),
            ge(Expr::sub(s("a"), s("b"))),
            ne(u()),
        ];
        for (src, rel) in [
            ("a^2*b", Rel::Gt),
            ("-(a^2)*b", Rel::Gt),
            ("a*b", Rel::Gt),
            ("a*b", Rel::Ne),
            ("a^3", Rel::Ne),
            ("a^3", Rel::Ge),
            ("a^2", Rel::Gt),
            ("1/c", Rel::Ne),
            ("1/c", Rel::Gt),
            ("a/b", Rel::Ge),
            ("a/b", Rel::Gt),
            ("sqrt(c)", Rel::Ge),
            ("sqrt(c)", Rel::Gt),
            ("c^(1/3)", Rel::Ne),
            ("a - 1/2", Rel::Gt),
            ("b - 1/4", Rel::Ge),
            ("-c", Rel::Gt),
            ("1 - a", Rel::Ge),
            ("u[i] - 1", Rel::Gt),
            ("c^2*u[i]", Rel::Gt),
            ("2 - a*b", Rel::Gt),
            ("b - 1", Rel::Ne),
            ("3*a - 6", Rel::Ge),
            ("4 - 2*a", Rel::Gt),
            ("a*b*c", Rel::Gt),
            ("a^2*(b - 1)", Rel::Gt),
            ("(a + b)^3", Rel::Gt),
            // Centred values: never all positive; all >= 0 only when equal.
            ("u[i] - mean[i](u[i]) + a", Rel::Gt),
            ("u[i] - mean[i](u[i])", Rel::Ge),
        ] {
            v.push(Assumption { expr: p(src), rel });
        }
        v
    }

    fn asm(v: &[(&str, Rel)]) -> Vec<Assumption> {
        v.iter()
            .map(|(e, rel)| Assumption {
                expr: p(e),
                rel: *rel,
            })
            .collect()
    }

    #[test]
    fn products_bounds_and_contradictions() {
        let x = s("x");
        type Case<'a> = (&'a str, Vec<(&'a str, Rel)>, Sign);
        let cases: Vec<Case> = vec![
            ("y", vec![("x^2*y", Rel::Gt)], POSITIVE),
            ("x", vec![("x^2*y", Rel::Gt)], NONZERO),
            ("y", vec![("-x^2*y", Rel::Gt)], NEGATIVE),
            ("x", vec![("x^2", Rel::Gt)], NONZERO),
            ("x", vec![("x^3", Rel::Ne)], NONZERO),
            ("x", vec![("x^3", Rel::Gt)], POSITIVE),
            ("x", vec![("x^3", Rel::Ge)], NONNEG),
            ("x", vec![("1/x", Rel::Ne)], NONZERO),
            ("x", vec![("1/x", Rel::Gt)], POSITIVE),
            ("x", vec![("x*y", Rel::Ne)], NONZERO),
            ("x", vec![("x*y", Rel::Gt)], NONZERO),
            ("x", vec![("sqrt(x)", Rel::Gt)], POSITIVE),
            // what must NOT be inferred
            ("x", vec![("x^2", Rel::Ge)], UNKNOWN),
            ("y", vec![("x/y", Rel::Ge)], UNKNOWN),
            ("x", vec![("sqrt(x)", Rel::Ge)], UNKNOWN),
            ("y", vec![("x^2*y", Rel::Ge)], UNKNOWN),
            ("x", vec![("x*y", Rel::Ge)], UNKNOWN),
            // bounds
            ("e", vec![("e - 1/100000", Rel::Gt)], POSITIVE),
            ("e", vec![("e - 1/100000", Rel::Ge)], POSITIVE),
            ("e", vec![("e", Rel::Ge)], NONNEG),
            ("e - 1", vec![("e - 2", Rel::Gt)], POSITIVE),
            ("e - 3", vec![("e - 2", Rel::Gt)], UNKNOWN),
            ("e", vec![("e + 1", Rel::Gt)], UNKNOWN),
            ("2*e - 1", vec![("e - 1", Rel::Ge)], POSITIVE),
            ("1 - e", vec![("e - 1", Rel::Ge)], NONPOS),
            ("e", vec![("1 - e", Rel::Gt), ("e", Rel::Gt)], POSITIVE),
            ("e", vec![("e - 1", Rel::Ge), ("1 - e", Rel::Ge)], POSITIVE),
            ("e - 1", vec![("e - 1", Rel::Ge), ("1 - e", Rel::Ge)], ZEROS),
            ("e", vec![("e", Rel::Ge), ("e", Rel::Ne)], POSITIVE),
        ];
        for (e, a, want) in cases {
            let got = sign(&p(e), &Facts::new(&asm(&a)));
            assert_eq!(got, want, "sign of {e} under {a:?}");
        }
        let contradictory = [
            vec![("x - 1", Rel::Gt), ("-x", Rel::Gt)],
            vec![("x", Rel::Gt), ("-x", Rel::Ge)],
            vec![("x", Rel::Ge), ("-x", Rel::Ge), ("x", Rel::Ne)],
            vec![("-x^2", Rel::Gt)],
            vec![("0 - 1", Rel::Gt)],
            vec![("x^2*y", Rel::Gt), ("-y", Rel::Ge)],
            // Centred at every index: its mean is 0.
            vec![("x[i] - mean[i](x[i])", Rel::Gt)],
            vec![("mean[j](x[i,j]) - mean[i,j](x[i,j]) - 1", Rel::Ge)],
        ];
        for a in contradictory {
            let f = Facts::new(&asm(&a));
            assert!(f.is_contradictory(), "{a:?}");
            assert!(is_nonzero(&n(0), &f));
        }
        let satisfiable = [
            vec![("x - 1", Rel::Ge), ("1 - x", Rel::Ge)],
            vec![("x", Rel::Ge), ("-x", Rel::Ge)],
            vec![("x^2*y", Rel::Ge), ("-y", Rel::Gt)],
            vec![("x*y", Rel::Gt), ("-x", Rel::Gt)],
            // All of x equal makes it 0 everywhere; a non-zero centred
            // value, or a positive spread, is possible.
            vec![("x[i] - mean[i](x[i])", Rel::Ge)],
            vec![("x[i] - mean[i](x[i])", Rel::Ne)],
            vec![("(x[i] - mean[i](x[i]))^2", Rel::Gt)],
        ];
        for a in satisfiable {
            assert!(!Facts::new(&asm(&a)).is_contradictory(), "{a:?}");
        }
        assert!(!is_nonzero(&x, &Facts::empty()));
    }

    /// exp, abs, max, min and detach through the sign analysis; and what
    /// must not be concluded of `log x = log |x|` (0 at x = 0 and ±1).
    #[test]
    fn functions() {
        type Case<'a> = (&'a str, Vec<(&'a str, Rel)>, Sign);
        let cases: Vec<Case> = vec![
            ("exp(x)", vec![], POSITIVE),
            ("exp(-x^2) - 0", vec![], POSITIVE),
            ("abs(x)", vec![], NONNEG),
            ("abs(x)", vec![("x", Rel::Ne)], POSITIVE),
            ("abs(x - 1)", vec![("x - 1", Rel::Ne)], POSITIVE),
            ("abs(x)", vec![("x", Rel::Ge)], NONNEG),
            ("max(a, b)", vec![("a", Rel::Gt)], POSITIVE),
            ("max(b, a)", vec![("a", Rel::Gt)], POSITIVE),
            ("max(a, b)", vec![("a", Rel::Ge)], NONNEG),
            ("max(a, b)", vec![], UNKNOWN),
            ("min(a, b)", vec![("a", Rel::Gt)], UNKNOWN),
            ("min(a, b)", vec![("a", Rel::Gt), ("b", Rel::Gt)], POSITIVE),
            ("min(a, b)", vec![("-a", Rel::Gt)], NEGATIVE),
            ("detach(x)", vec![("x", Rel::Gt)], POSITIVE),
            ("detach(x)", vec![], UNKNOWN),
            ("v + exp(z)", vec![("v", Rel::Ge)], POSITIVE),
            ("var[i](u[i]) + exp(z)", vec![], POSITIVE),
            ("1 / (var[i](u[i]) + exp(z))", vec![], POSITIVE),
            ("exp(z) * abs(y) + 1", vec![], POSITIVE),
            // log |x|: 0 at x = -1, 0, 1, whatever else holds
            ("log(x)", vec![("x - 1", Rel::Ne)], UNKNOWN),
            ("log(x)", vec![("x", Rel::Ne)], UNKNOWN),
            ("log(x)", vec![("x", Rel::Gt)], UNKNOWN),
            (
                "log(x)",
                vec![("x + 2", Rel::Gt), ("x - 1", Rel::Ne)],
                UNKNOWN,
            ),
        ];
        for (e, a, want) in cases {
            let got = sign(&p(e), &Facts::new(&asm(&a)));
            assert_eq!(got, want, "sign of {e} under {a:?}");
        }
        // x = 1 makes log x = 0: never positive, never non-zero.
        let got = sign(&p("log(x)"), &Facts::new(&asm(&[("x - 1", Rel::Ge)])));
        assert!(!got.pos && !got.nonzero, "{got:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn claimed_facts_hold_small(
            e in arb_expr(2),
            which in proptest::collection::vec(prop::bool::weighted(0.25), 35),
            abc in (arb_value(), arb_value(), arb_value()),
            us in proptest::collection::vec(arb_value(), AXIS),
            size in 1usize..=AXIS,
        ) {
            check_claims(e, which, abc, us, size)?;
        }

        #[test]
        fn claimed_facts_hold(
            e in arb_expr(4),
            which in proptest::collection::vec(prop::bool::weighted(0.25), 35),
            abc in (arb_value(), arb_value(), arb_value()),
            us in proptest::collection::vec(arb_value(), AXIS),
            size in 1usize..=AXIS,
        ) {
            check_claims(e, which, abc, us, size)?;
        }
    }
}

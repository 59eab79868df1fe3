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

use crate::ir::{Assumption, Expr, Rat, RedOp, Rel};
use crate::ring::{self, Atom, Poly};
use num_integer::Integer;
use num_traits::{Signed, Zero};
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

/// Sign facts taken from assumptions. Each assumption `e REL 0` is stored as
/// the primitive part `p` of its ring normal form (`e = c * p`, `c > 0`), so
/// that `2*e`, `e/3` and `-e` are recognized too.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    facts: Vec<(Poly, Set)>,
}

impl Facts {
    /// Facts from assumptions; an assumption whose normal form is too large,
    /// or which is about a constant, adds nothing (which is sound).
    pub fn new(assumptions: &[Assumption]) -> Facts {
        let mut facts = Vec::new();
        for a in assumptions {
            let Ok(p) = ring::normalize(&a.expr) else {
                continue;
            };
            if p.constant().is_some() {
                continue;
            }
            if let Some((_, prim)) = p.positive_primitive() {
                facts.push((prim, of_rel(a.rel)));
            }
        }
        Facts { facts }
    }

    pub fn empty() -> Facts {
        Facts::default()
    }

    /// The signs the assumptions allow for a value with normal form `p`.
    fn lookup(&self, p: &Poly) -> Set {
        let Some((_, prim)) = p.positive_primitive() else {
            return ZERO;
        };
        let neg = prim.neg();
        let mut out = ALL;
        for (f, s) in &self.facts {
            if *f == prim {
                out &= s;
            } else if *f == neg {
                out &= flip(*s);
            }
        }
        out
    }
}

struct Analysis<'a> {
    facts: &'a Facts,
    memo: HashMap<Expr, Set>,
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
            Expr::Sym(_) | Expr::PVar(_) => ALL,
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

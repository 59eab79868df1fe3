//! Commutative-ring normal form over opaque atoms (part of the trusted core).
//!
//! [`normalize`] maps an [`Expr`] to a [`Poly`]: a polynomial with exact
//! rational coefficients over opaque [`Atom`]s. Two expressions with the same
//! normal form denote the same real function under the *total* semantics of
//! the specification (`x/0 = 0`, `sqrt` and non-integer powers of negatives
//! are `0`, `0^-n = 0`). Every rewriting step used here holds for every real
//! value, including `0` and negatives; see the comments at each step. The
//! normal form is sound but not complete: it never cancels `x * (1/x)`, never
//! simplifies `sqrt(x^2)`, and treats reductions as atoms (no linearity).
//!
//! This module must not depend on `egg`.

use crate::ir::{Expr, Fun, Rat, RedOp, Symbol};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::time::Instant;

/// Most terms a normal form may have: a chain of distinct operands as long
/// as the parser takes.
pub const MAX_TERMS: usize = crate::syntax::MAX_CHAIN;
/// Largest absolute integer exponent (of a `^`) that is expanded for a
/// polynomial with several terms; a single term (`x^300`) may go up to
/// [`MAX_DEGREE`].
pub const MAX_POW: u32 = 256;
/// Largest power of one atom inside a monomial.
pub const MAX_DEGREE: u32 = 100_000;
/// Largest size in bits of a numerator or denominator produced by arithmetic
/// (the same bound as constant folding, [`crate::ir::MAX_POW_BITS`]).
pub const MAX_COEFF_BITS: u64 = crate::ir::MAX_POW_BITS;
/// Most multiplications of terms one polynomial product may take.
const MAX_PRODUCT_WORK: usize = 1_000_000;
/// Most subterm normalizations (re-normalizations included) one outermost
/// normalization may take. Nested means are merged by re-normalizing their
/// bodies, which grows exponentially with the number of nested axes
/// (`mean[a1,…,a40](x[a1,…,a40])`); without this bound such a statement
/// kept the prover and the kernel busy far beyond `--timeout`. The built-in
/// models and the theorem library take at most about 9 500 (`groupnorm`,
/// order 2).
pub const MAX_NORM_WORK: u64 = 50_000;

thread_local! {
    /// `norm`'s nesting depth on this thread and the calls made since the
    /// outermost one began.
    static NORM_WORK: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
    /// Subterm normalizations on this thread since it started (never reset):
    /// a caller measures the work of a series of normalizations by it.
    static TOTAL_WORK: Cell<u64> = const { Cell::new(0) };
    /// Normalizations refused (too large, out of work or time): [`refusals`].
    static REFUSALS: Cell<u64> = const { Cell::new(0) };
    /// Set by [`deadline`]: normalizations on this thread stop after it.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Normal forms of the compound subterms met during the outermost
    /// normalization (cleared when it ends), keyed by the mode and the
    /// subterm. Several steps normalize a subterm more than once (a power's
    /// base is inspected and then raised, an inverse is split structurally,
    /// merged means re-normalize their bodies); without this a chain of
    /// nested powers or inverses took time exponential in its depth.
    static MEMO: RefCell<std::collections::HashMap<(ModeKey, Expr), Poly>> =
        RefCell::new(std::collections::HashMap::new());
    /// The addresses of the nodes of the outermost expression being
    /// normalized. It is borrowed for the whole outermost call, so no other
    /// expression can live at these addresses meanwhile: its subterms are
    /// memoized by address ([`MEMO_AT`]), without cloning and hashing each
    /// subterm (which cost time quadratic in the depth of a chain).
    static ROOT: RefCell<std::collections::HashSet<usize>> =
        RefCell::new(std::collections::HashSet::new());
    static MEMO_AT: RefCell<std::collections::HashMap<(ModeKey, usize), Poly>> =
        RefCell::new(std::collections::HashMap::new());
}

fn address(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// Record the addresses of every node of `e` (the outermost expression).
fn record_root(e: &Expr) {
    ROOT.with(|r| {
        let mut r = r.borrow_mut();
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            r.insert(address(x));
            stack.extend(x.children());
        }
    });
}

/// Identifies a [`Mode`] during one outermost normalization: the linearity
/// flag and the addresses of its checks (borrowed for the whole call, so
/// stable). A nested normalization under another mode (the sign analysis
/// asked by a check) never shares entries with the outer one.
type ModeKey = (bool, usize, usize, usize);

fn mode_key(m: &Mode) -> ModeKey {
    let addr = |f: Option<&dyn Fn(&Expr) -> bool>| {
        f.map_or(0, |f| {
            f as *const dyn Fn(&Expr) -> bool as *const () as usize
        })
    };
    (
        m.linear,
        addr(m.nonzero),
        addr(m.nonneg),
        m.seen
            .map_or(0, |s| s as *const RefCell<BTreeSet<Expr>> as usize),
    )
}

/// Until the returned guard is dropped, every normalization on this thread
/// gives up with [`RingError::TooLarge`] once `until` has passed (or an
/// earlier deadline set further out). A result is never changed, only
/// refused, so a caller with a time limit (the prover's `--timeout`) stays
/// within it; the kernel then rejects the step it could not check.
pub fn deadline(until: Instant) -> DeadlineGuard {
    let previous = DEADLINE.with(|d| d.get());
    let until = previous.map_or(until, |p| p.min(until));
    DEADLINE.with(|d| d.set(Some(until)));
    DeadlineGuard(previous)
}

/// Restores the deadline that was in force before [`deadline`].
pub struct DeadlineGuard(Option<Instant>);

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.0));
    }
}

/// Leaves one level of `norm` (also when it returns early or unwinds).
struct NormLevel;

impl Drop for NormLevel {
    fn drop(&mut self) {
        let depth = NORM_WORK.with(|w| {
            let (depth, calls) = w.get();
            let depth = depth.saturating_sub(1);
            w.set((depth, calls));
            depth
        });
        if depth == 0 {
            // The outermost normalization is over: its checks (whose
            // addresses key the memo) and its expression may be gone after
            // this.
            MEMO.with(|m| m.borrow_mut().clear());
            MEMO_AT.with(|m| m.borrow_mut().clear());
            ROOT.with(|r| r.borrow_mut().clear());
        }
    }
}

/// Normalization refused to continue because a limit was hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    TooLarge(String),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::TooLarge(why) => write!(f, "ring normal form too large: {why}"),
        }
    }
}

impl std::error::Error for RingError {}

fn too_large<T>(why: impl Into<String>) -> Result<T, RingError> {
    REFUSALS.with(|r| r.set(r.get() + 1));
    Err(RingError::TooLarge(why.into()))
}

/// Normalizations refused on this thread since it started (never reset):
/// an answer computed while none was refused depends on its inputs alone,
/// not on a work limit or deadline shared with an enclosing computation.
pub fn refusals() -> u64 {
    REFUSALS.with(|r| r.get())
}

/// An opaque atom of the ring normal form. Every expression stored inside an
/// atom is itself in canonical form (`to_expr(normalize(..))`), so equal
/// values give equal atoms whatever way they were written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    Sym(Symbol),
    PVar(String),
    /// `op[axes](body)`, body canonical.
    Reduce(RedOp, Vec<String>, Rc<Expr>),
    /// `sqrt(e)` (same as `e^(1/2)`), `e` canonical and not a constant whose
    /// root is rational or zero.
    Sqrt(Rc<Expr>),
    /// `e^(1/q)` for `q >= 3` (zero for `e < 0`, odd `q` included).
    Root(u32, Rc<Expr>),
    /// `base ^ exponent` whose exponent is not a constant; both canonical.
    Pow(Rc<Expr>, Rc<Expr>),
    /// `f(args)` (`exp`, `log`, `abs`, `max`, `min`, `detach`), arguments
    /// canonical, not all constants whose value is rational.
    App(Fun, Vec<Rc<Expr>>),
    /// `1 / e` (zero at `e = 0`) where `e` is the expression of a non-`Inv`
    /// atom, or a canonical polynomial with at least two terms, no common
    /// monomial factor, integer coprime coefficients and a positive leading
    /// coefficient.
    Inv(Rc<Expr>),
}

impl Atom {
    /// The expression this atom stands for.
    pub fn to_expr(&self) -> Expr {
        match self {
            Atom::Sym(s) => Expr::Sym(s.clone()),
            Atom::PVar(n) => Expr::PVar(n.clone()),
            Atom::Reduce(op, axes, body) => {
                Expr::Reduce(*op, axes.clone(), Box::new((**body).clone()))
            }
            Atom::Sqrt(e) => Expr::Sqrt(Box::new((**e).clone())),
            Atom::App(f, args) => Expr::App(*f, args.iter().map(|a| (**a).clone()).collect()),
            Atom::Root(q, e) => Expr::pow(
                (**e).clone(),
                Expr::Num(Rat::new(BigInt::one(), BigInt::from(*q))),
            ),
            Atom::Pow(b, x) => Expr::pow((**b).clone(), (**x).clone()),
            Atom::Inv(e) => Expr::div(Expr::num(1), (**e).clone()),
        }
    }

    /// Whether [`Atom::to_expr`] is `e`, without building it.
    fn is_expr(&self, e: &Expr) -> bool {
        match (self, e) {
            (Atom::Sym(s), Expr::Sym(t)) => s == t,
            (Atom::PVar(n), Expr::PVar(m)) => n == m,
            (Atom::Reduce(op, axes, body), Expr::Reduce(op2, axes2, body2)) => {
                op == op2 && axes == axes2 && **body == **body2
            }
            (Atom::Sqrt(a), Expr::Sqrt(b)) => **a == **b,
            (Atom::App(f, a), Expr::App(g, b)) => {
                f == g && a.len() == b.len() && a.iter().zip(b).all(|(x, y)| **x == *y)
            }
            (Atom::Root(q, a), Expr::Pow(b, x)) => {
                **a == **b
                    && matches!(&**x, Expr::Num(r) if r.numer().is_one() && *r.denom() == BigInt::from(*q))
            }
            (Atom::Pow(a, x), Expr::Pow(b, y)) => **a == **b && **x == **y,
            (Atom::Inv(a), Expr::Div(one, b)) => {
                matches!(&**one, Expr::Num(r) if r.is_one()) && **a == **b
            }
            _ => false,
        }
    }

    /// The free axes of [`Atom::to_expr`], without building it.
    pub fn free_axes(&self) -> BTreeSet<String> {
        match self {
            Atom::Sym(s) => s.axes.iter().cloned().collect(),
            Atom::PVar(_) => BTreeSet::new(),
            Atom::Reduce(_, axes, body) => {
                let mut f = body.free_axes();
                for a in axes {
                    f.remove(a);
                }
                f
            }
            Atom::Sqrt(e) | Atom::Root(_, e) | Atom::Inv(e) => e.free_axes(),
            Atom::App(_, args) => args.iter().flat_map(|a| a.free_axes()).collect(),
            Atom::Pow(b, x) => {
                let mut f = b.free_axes();
                f.extend(x.free_axes());
                f
            }
        }
    }
}

/// A product of atoms with positive integer powers (empty = 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Monomial(BTreeMap<Atom, u32>);

impl Monomial {
    pub fn one() -> Monomial {
        Monomial(BTreeMap::new())
    }
    pub fn is_one(&self) -> bool {
        self.0.is_empty()
    }
    /// The atoms with their powers, in atom order.
    pub fn factors(&self) -> impl Iterator<Item = (&Atom, u32)> {
        self.0.iter().map(|(a, k)| (a, *k))
    }
    /// Sum of the powers.
    pub fn degree(&self) -> u64 {
        self.0.values().map(|&k| u64::from(k)).sum()
    }
    fn times(&self, other: &Monomial) -> Result<Monomial, RingError> {
        let mut out = self.0.clone();
        for (a, k) in &other.0 {
            let e = out.entry(a.clone()).or_insert(0);
            match e.checked_add(*k).filter(|&d| d <= MAX_DEGREE) {
                Some(d) => *e = d,
                None => return too_large(format!("a power above {MAX_DEGREE}")),
            }
        }
        let mut m = Monomial(out);
        m.reduce_inverse_pairs();
        Ok(m)
    }
    /// `a^k · (1/a)^j` becomes `a^(k−j)` when `k > j`, `(1/a)^(j−k)` when
    /// `j > k`, and `a · (1/a)` when `k = j`. Each holds for every real `a`
    /// under the total inverse: for `a ≠ 0` it is arithmetic, and at `a = 0`
    /// both sides are `0` (every side keeps a factor `a` or `1/a`, and
    /// `1/0 = 0`). So `x²/x = x` and `x/x² = 1/x` everywhere, while `x/x`
    /// stays (it is `0` at `0`).
    fn reduce_inverse_pairs(&mut self) {
        // `Inv` atoms sort last: nothing to do without one.
        if !matches!(self.0.keys().next_back(), Some(Atom::Inv(_))) || self.0.len() < 2 {
            return;
        }
        let invs: Vec<(Atom, u32)> = self
            .0
            .iter()
            .rev()
            .take_while(|(a, _)| matches!(a, Atom::Inv(_)))
            .map(|(a, k)| (a.clone(), *k))
            .collect();
        for (inv, j) in invs {
            let Atom::Inv(content) = &inv else { continue };
            let Some((base, k)) = self
                .0
                .iter()
                .find(|(a, _)| !matches!(a, Atom::Inv(_)) && a.is_expr(content))
                .map(|(a, k)| (a.clone(), *k))
            else {
                continue;
            };
            let common = j.min(k).saturating_sub(u32::from(j == k));
            for (atom, power) in [(base, k), (inv, j)] {
                if power == common {
                    self.0.remove(&atom);
                } else {
                    self.0.insert(atom, power - common);
                }
            }
        }
    }
    /// Exponents of `self` minus those of `g` (`g` must divide `self`).
    fn div_exact(&self, g: &Monomial) -> Monomial {
        let mut out = self.0.clone();
        for (a, k) in &g.0 {
            let e = out.get_mut(a).expect("divisor monomial");
            *e -= k;
            if *e == 0 {
                out.remove(a);
            }
        }
        Monomial(out)
    }
    /// Largest monomial dividing both.
    fn gcd(&self, other: &Monomial) -> Monomial {
        Monomial(
            self.0
                .iter()
                .filter_map(|(a, k)| other.0.get(a).map(|l| (a.clone(), (*k).min(*l))))
                .collect(),
        )
    }
}

/// Key of the display order: higher degree first, then lexicographic with
/// atoms in atom order and higher powers first (`a^2`, `a*b`, `b^2`, `a`, `1`).
fn print_key(m: &Monomial) -> (Reverse<u64>, Vec<(&Atom, Reverse<u32>)>) {
    (
        Reverse(m.degree()),
        m.0.iter().map(|(a, k)| (a, Reverse(*k))).collect(),
    )
}

/// A polynomial over atoms with exact rational coefficients, no zero
/// coefficients. Equal polynomials denote equal functions.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Poly(BTreeMap<Monomial, Rat>);

/// `a * b`, skipping the gcd work of `Ratio` for integers (the common case).
fn rmul(a: &Rat, b: &Rat) -> Rat {
    if a.is_integer() && b.is_integer() {
        Rat::from_integer(a.numer() * b.numer())
    } else {
        a * b
    }
}

/// `a + b`, skipping the gcd work of `Ratio` for integers.
fn radd(a: &Rat, b: &Rat) -> Rat {
    if a.is_integer() && b.is_integer() {
        Rat::from_integer(a.numer() + b.numer())
    } else {
        a + b
    }
}

/// An upper bound on the number of terms of `p^n` for `p` with `t` terms:
/// the number of monomials of degree `n` in `t` variables, `C(n+t-1, t-1)`,
/// saturating at `usize::MAX`.
fn power_terms_bound(t: usize, n: u32) -> usize {
    if t <= 1 {
        return 1;
    }
    let n = n as usize;
    let k = (t - 1).min(n);
    let mut acc: u128 = 1;
    for i in 1..=k {
        // acc = C(n+t-1, i) computed incrementally stays an integer.
        acc = acc * (n + t - 1 + 1 - i) as u128 / i as u128;
        if acc > usize::MAX as u128 / 4 {
            return usize::MAX;
        }
    }
    acc as usize
}

fn check_coeff(c: &Rat) -> Result<(), RingError> {
    if c.numer().bits() > MAX_COEFF_BITS || c.denom().bits() > MAX_COEFF_BITS {
        return too_large(format!("a coefficient above {MAX_COEFF_BITS} bits"));
    }
    Ok(())
}

impl Poly {
    pub fn zero() -> Poly {
        Poly(BTreeMap::new())
    }
    pub fn constant_poly(c: Rat) -> Poly {
        Poly::monomial(c, Monomial::one())
    }
    pub fn monomial(c: Rat, m: Monomial) -> Poly {
        let mut map = BTreeMap::new();
        if !c.is_zero() {
            map.insert(m, c);
        }
        Poly(map)
    }
    pub fn atom(a: Atom) -> Poly {
        Poly::monomial(Rat::one(), Monomial(BTreeMap::from([(a, 1)])))
    }
    /// The value when the polynomial is constant (`Some(0)` for zero).
    pub fn constant(&self) -> Option<Rat> {
        match self.0.len() {
            0 => Some(Rat::zero()),
            1 => self.0.get(&Monomial::one()).cloned(),
            _ => None,
        }
    }
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
    /// Number of terms.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The terms in monomial order.
    pub fn terms(&self) -> impl Iterator<Item = (&Monomial, &Rat)> {
        self.0.iter()
    }
    /// The terms in display order (the order [`to_expr`] prints them).
    pub fn display_terms(&self) -> Vec<(&Monomial, &Rat)> {
        let mut v: Vec<_> = self.0.iter().collect();
        v.sort_by(|a, b| print_key(a.0).cmp(&print_key(b.0)));
        v
    }
    /// The single atom when the polynomial is exactly one atom to the power 1.
    pub fn as_atom(&self) -> Option<&Atom> {
        let (m, c) = self.0.iter().next()?;
        if self.0.len() == 1 && c.is_one() && m.0.len() == 1 {
            let (a, k) = m.0.iter().next()?;
            if *k == 1 {
                return Some(a);
            }
        }
        None
    }

    fn add_term(&mut self, m: Monomial, c: Rat) {
        if c.is_zero() {
            return;
        }
        let entry = self.0.entry(m);
        match entry {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(c);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let s = radd(o.get(), &c);
                if s.is_zero() {
                    o.remove();
                } else {
                    *o.get_mut() = s;
                }
            }
        }
    }

    pub fn plus(&self, other: &Poly) -> Result<Poly, RingError> {
        let mut out = self.clone();
        for (m, c) in &other.0 {
            out.add_term(m.clone(), c.clone());
        }
        if out.0.len() > MAX_TERMS {
            return too_large(format!("more than {MAX_TERMS} terms"));
        }
        Ok(out)
    }

    /// `self + sign·other` in place: a chain `a + b + …` of n operands
    /// then costs O(n log n), where `plus` would copy the running sum at
    /// every operand.
    fn absorb(mut self, other: Poly, negate: bool) -> Result<Poly, RingError> {
        for (m, c) in other.0 {
            self.add_term(m, if negate { -c } else { c });
        }
        if self.0.len() > MAX_TERMS {
            return too_large(format!("more than {MAX_TERMS} terms"));
        }
        Ok(self)
    }

    pub fn negate(&self) -> Poly {
        Poly(self.0.iter().map(|(m, c)| (m.clone(), -c)).collect())
    }

    pub fn scale(&self, k: &Rat) -> Result<Poly, RingError> {
        if k.is_zero() {
            return Ok(Poly::zero());
        }
        let mut out = BTreeMap::new();
        for (m, c) in &self.0 {
            let p = rmul(c, k);
            check_coeff(&p)?;
            out.insert(m.clone(), p);
        }
        Ok(Poly(out))
    }

    pub fn times(&self, other: &Poly) -> Result<Poly, RingError> {
        if self.0.len().saturating_mul(other.0.len()) > MAX_PRODUCT_WORK {
            return too_large("a product with too many terms");
        }
        let mut out = Poly::zero();
        let roots2: Vec<bool> = other.0.keys().map(has_const_root).collect();
        let mut work = 0usize;
        for (m1, c1) in &self.0 {
            let roots1 = has_const_root(m1);
            for ((m2, c2), &roots2) in other.0.iter().zip(&roots2) {
                work += 1;
                if work % 4096 == 0 && past_deadline() {
                    return too_large("the time limit was reached");
                }
                let c = rmul(c1, c2);
                check_coeff(&c)?;
                let m = m1.times(m2)?;
                if roots1 && roots2 {
                    let (c, m) = tidy_const_roots(c, m)?;
                    out.add_term(m, c);
                } else {
                    out.add_term(m, c);
                }
            }
        }
        if out.0.len() > MAX_TERMS {
            return too_large(format!("more than {MAX_TERMS} terms"));
        }
        Ok(out)
    }

    /// `self ^ n` by repeated multiplication (`p^0 = 1`, also for `p = 0`,
    /// as `0^0 = 1`).
    pub fn pow(&self, n: u32) -> Result<Poly, RingError> {
        if self.0.len() == 1 && n <= MAX_DEGREE {
            // One term: square and multiply (the degree and coefficient
            // bounds of `times` still apply), so `x^300` is cheap.
            let mut out = Poly::constant_poly(Rat::one());
            let mut base = self.clone();
            let mut k = n;
            while k > 0 {
                if k & 1 == 1 {
                    out = out.times(&base)?;
                }
                k >>= 1;
                if k > 0 {
                    base = base.times(&base)?;
                }
            }
            return Ok(out);
        }
        if n > MAX_POW {
            return too_large(format!("an exponent above {MAX_POW}"));
        }
        if power_terms_bound(self.0.len(), n) > MAX_TERMS {
            return too_large(format!("a power with more than {MAX_TERMS} terms"));
        }
        if let Some((_, c)) = self.0.iter().next().filter(|_| self.0.len() == 1) {
            let bits = c.numer().bits().max(c.denom().bits());
            if bits.saturating_mul(u64::from(n)) > MAX_COEFF_BITS + bits {
                return too_large(format!("a coefficient above {MAX_COEFF_BITS} bits"));
            }
        }
        let mut out = Poly::constant_poly(Rat::one());
        for _ in 0..n {
            out = out.times(self)?;
        }
        Ok(out)
    }

    /// `self = c * g * q` with `c` a non-zero rational, `g` the largest
    /// monomial dividing every term, and `q` with coprime integer
    /// coefficients whose leading (first displayed) coefficient is positive.
    /// `None` for the zero polynomial.
    pub fn split_content(&self) -> Option<(Rat, Monomial, Poly)> {
        let mut it = self.0.iter();
        let (m0, c0) = it.next()?;
        let mut g = m0.clone();
        let mut num = c0.numer().abs();
        let mut den = c0.denom().clone();
        for (m, c) in it {
            g = g.gcd(m);
            num = num.gcd(c.numer());
            den = den.lcm(c.denom());
        }
        let mut content = Rat::new(num, den);
        let mut q = Poly(
            self.0
                .iter()
                .map(|(m, c)| (m.div_exact(&g), c / &content))
                .collect(),
        );
        if q.display_terms()[0].1.is_negative() {
            content = -content;
            q = q.negate();
        }
        Some((content, g, q))
    }

    /// `self = c * p` with `c > 0` and `p` with coprime integer coefficients
    /// (sign kept). `None` for the zero polynomial.
    pub fn positive_primitive(&self) -> Option<(Rat, Poly)> {
        let (c, g, q) = self.split_content()?;
        let gq = Poly(
            q.0.iter()
                .map(|(m, k)| (m.times(&g).expect("divides self"), k.clone()))
                .collect(),
        );
        Some(if c.is_negative() {
            (-c, gq.negate())
        } else {
            (c, gq)
        })
    }
}

fn past_deadline() -> bool {
    DEADLINE
        .with(|d| d.get())
        .is_some_and(|d| Instant::now() >= d)
}

/// The index and radicand of a root of a positive constant (`sqrt(2)`,
/// `3^(1/5)`).
fn const_root(a: &Atom) -> Option<(u32, &Rat)> {
    match a {
        Atom::Sqrt(e) => match &**e {
            Expr::Num(r) => Some((2, r)),
            _ => None,
        },
        Atom::Root(q, e) => match &**e {
            Expr::Num(r) => Some((*q, r)),
            _ => None,
        },
        _ => None,
    }
}

fn has_const_root(m: &Monomial) -> bool {
    m.0.keys().any(|a| const_root(a).is_some())
}

/// Largest integer whose q-th power factors are searched by trial division.
const ROOT_FACTOR_BITS: u64 = 4096;

/// `c^(1/q) = k · t^(1/q)` for a positive rational `c`, with `k` rational
/// and `t` a positive integer free of q-th powers of the primes below 1000
/// (`sqrt(8) = 2·sqrt(2)`, `sqrt(1/2) = sqrt(2)/2`): `c = n/d` gives
/// `c^(1/q) = (n·d^(q−1))^(1/q) / d`, and `s^q · t` splits into `s · t^(1/q)`.
/// Valid because every quantity is positive. `None` when the numbers are
/// too large to factor.
fn const_root_parts(c: &Rat, q: u32) -> Option<(Rat, BigInt)> {
    if !c.is_positive() || q < 2 {
        return None;
    }
    let d = c.denom();
    let mut t = c.numer() * num_traits::pow(d.clone(), (q - 1) as usize);
    if t.bits() > ROOT_FACTOR_BITS {
        return None;
    }
    let mut s = BigInt::one();
    let mut p = 2u32;
    while p < 1000 {
        let pq = num_traits::pow(BigInt::from(p), q as usize);
        if pq.bits() > t.bits() {
            break;
        }
        while (&t % &pq).is_zero() {
            t /= &pq;
            s *= p;
        }
        p += if p == 2 { 1 } else { 2 };
    }
    let r = t.nth_root(q);
    if num_traits::pow(r.clone(), q as usize) == t {
        s *= r;
        t = BigInt::one();
    }
    Some((Rat::new(s, d.clone()), t))
}

/// The atom `t^(1/q)` of a positive integer `t`.
fn const_root_atom(q: u32, t: BigInt) -> Atom {
    let e = Rc::new(Expr::Num(Rat::from_integer(t)));
    if q == 2 {
        Atom::Sqrt(e)
    } else {
        Atom::Root(q, e)
    }
}

/// Roots of positive constants with the same index combine into one:
/// `Π rᵢ^(kᵢ/q) = (Π rᵢ^kᵢ)^(1/q)` (all positive), then split by
/// [`const_root_parts`]: `sqrt(2)·sqrt(8) = 4`, `sqrt(2)² = 2`. Groups whose
/// product is too large stay as they are.
fn tidy_const_roots(c: Rat, m: Monomial) -> Result<(Rat, Monomial), RingError> {
    let mut groups: BTreeMap<u32, Vec<(Atom, u32)>> = BTreeMap::new();
    for (a, k) in m.factors() {
        if let Some((q, _)) = const_root(a) {
            groups.entry(q).or_default().push((a.clone(), k));
        }
    }
    let (mut c, mut m) = (c, m);
    for (q, atoms) in groups {
        if atoms.len() < 2 && atoms.iter().all(|(_, k)| *k < 2) {
            continue;
        }
        let mut product = Rat::one();
        let mut ok = true;
        for (a, k) in &atoms {
            let Some((_, r)) = const_root(a) else {
                continue;
            };
            match crate::ir::int_pow(r, i64::from(*k)) {
                Some(v) if v.numer().bits() + v.denom().bits() <= ROOT_FACTOR_BITS => {
                    product *= v;
                }
                _ => ok = false,
            }
            if product.numer().bits() + product.denom().bits() > ROOT_FACTOR_BITS {
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        let Some((k, t)) = const_root_parts(&product, q) else {
            continue;
        };
        for (a, _) in &atoms {
            m.0.remove(a);
        }
        c = rmul(&c, &k);
        check_coeff(&c)?;
        if !t.is_one() {
            *m.0.entry(const_root_atom(q, t)).or_insert(0) += 1;
        }
    }
    Ok((c, m))
}

/// `x^(1/q)` of a constant `c` when it is rational: zero for `c <= 0`
/// (total semantics), the exact root for a positive perfect power.
fn exact_root(c: &Rat, q: u32) -> Option<Rat> {
    if !c.is_positive() {
        return Some(Rat::zero());
    }
    let n = c.numer();
    let d = c.denom();
    let rn = n.nth_root(q);
    let rd = d.nth_root(q);
    if num_traits::pow(rn.clone(), q as usize) == *n
        && num_traits::pow(rd.clone(), q as usize) == *d
    {
        Some(Rat::new(rn, rd))
    } else {
        None
    }
}

/// `p^(1/q)`, `q >= 2`: a constant when exact, else a `Sqrt`/`Root` atom.
fn root_poly(p: Poly, q: u32) -> Result<Poly, RingError> {
    if let Some(c) = p.constant() {
        if let Some(r) = exact_root(&c, q) {
            return Ok(Poly::constant_poly(r));
        }
        if let Some((k, t)) = const_root_parts(&c, q) {
            return Ok(Poly::monomial(
                k,
                Monomial(BTreeMap::from([(const_root_atom(q, t), 1)])),
            ));
        }
    }
    let e = Rc::new(to_expr(&p));
    Ok(Poly::atom(if q == 2 {
        Atom::Sqrt(e)
    } else {
        Atom::Root(q, e)
    }))
}

/// `1 / a` for one atom. `Inv` is an involution under the total semantics:
/// `1/(1/x) = x` for `x != 0`, and both sides are `0` at `x = 0`.
fn inv_atom(a: &Atom, m: &Mode) -> Result<Poly, RingError> {
    // 1/t^(1/q) = t^((q−1)/q) / t for a positive constant t.
    if let Some((q, t)) = const_root(a) {
        let mono = Monomial(BTreeMap::from([(a.clone(), q - 1)]));
        let (c, mono) = tidy_const_roots(t.recip(), mono)?;
        return Ok(Poly::monomial(c, mono));
    }
    match a {
        Atom::Inv(e) => norm(e, m),
        _ => Ok(Poly::atom(Atom::Inv(Rc::new(a.to_expr())))),
    }
}

/// `1 / p` for a polynomial.
///
/// - `1/0 = 0`; `1/c` for a constant `c != 0` is the coefficient.
/// - `1/(c * m * q) = (1/c) * (1/m) * (1/q)`: the total inverse is
///   multiplicative (if any factor is `0` both sides are `0`).
/// - `1/(a1^k1 ... an^kn) = (1/a1)^k1 ... (1/an)^kn` likewise.
fn inv_poly(p: &Poly, m: &Mode) -> Result<Poly, RingError> {
    let Some((c, g, q)) = p.split_content() else {
        return Ok(Poly::zero());
    };
    let mut out = Poly::constant_poly(c.recip());
    for (a, k) in g.factors() {
        out = out.times(&inv_atom(a, m)?.pow(k)?)?;
    }
    if q.constant().is_none() {
        out = out.times(&Poly::atom(Atom::Inv(Rc::new(to_expr(&q)))))?;
    }
    Ok(out)
}

/// `1 / e`, splitting products, quotients and positive integer powers
/// structurally before normalizing (so `1/((a-b)*(a+b))` becomes
/// `(1/(a-b)) * (1/(a+b))`, which is how such a product is printed):
/// `1/(a*b) = (1/a)(1/b)`, `1/(-a) = -(1/a)`, `1/(a/b) = (1/a) * b`,
/// `1/a^n = (1/a)^n`, each true at `0` because `1/0 = 0`.
fn inv_expr(e: &Expr, m: &Mode) -> Result<Poly, RingError> {
    match e {
        Expr::Mul(a, b) => inv_expr(a, m)?.times(&inv_expr(b, m)?),
        Expr::Neg(a) => Ok(inv_expr(a, m)?.negate()),
        Expr::Div(a, b) => inv_expr(a, m)?.times(&norm(b, m)?),
        Expr::Pow(a, x) => {
            let xp = norm(x, m)?;
            match xp.constant() {
                // A constant power is a constant (folded by `pow_rat`).
                Some(n) if n.is_integer() && norm(a, m)?.constant().is_some() => {
                    inv_poly(&norm(e, m)?, m)
                }
                Some(n) if n.is_integer() && n.is_positive() => {
                    let n = n.to_integer().to_u32().filter(|&n| n <= MAX_DEGREE);
                    match n {
                        Some(n) => inv_expr(a, m)?.pow(n),
                        None => too_large(format!("an exponent above {MAX_DEGREE}")),
                    }
                }
                _ => inv_poly(&norm(e, m)?, m),
            }
        }
        _ => inv_poly(&norm(e, m)?, m),
    }
}

/// `b ^ r` for a rational constant `r`.
///
/// - `r = n >= 0` integer: polynomial power (`x^0 = 1` everywhere).
/// - `r = -n`: `x^-n = (1/x)^n` (both `0` at `x = 0`).
/// - `r = p/q`, `q >= 2`: `x^(p/q) = (x^(1/q))^p` for `p > 0` and
///   `(1/x^(1/q))^|p|` for `p < 0`. For `x > 0` this is real arithmetic; for
///   `x <= 0` both sides are `0` (non-integer powers of negatives and of `0`
///   are `0`, and the root atom is `0` there too).
fn pow_rat(b: &Expr, r: &Rat, m: &Mode) -> Result<Poly, RingError> {
    let p = r.numer();
    let q = r.denom();
    // A constant to an integer power is a constant (`10^300`,
    // `(-1)^(10^100)`), whatever the exponent, as long as the result stays
    // of bounded size.
    let base = if q.is_one() {
        let base = norm(b, m)?;
        if let Some(c) = base.constant() {
            return match crate::ir::int_pow_big(&c, p) {
                Some(v) => Ok(Poly::constant_poly(v)),
                None => too_large("a constant power too large to evaluate"),
            };
        }
        Some(base)
    } else {
        None
    };
    let mag = p.abs().to_u32().filter(|&m| m <= MAX_DEGREE);
    let Some(mag) = mag else {
        return too_large(format!("an exponent above {MAX_DEGREE}"));
    };
    if let Some(base) = base {
        return if p.is_negative() {
            inv_expr(b, m)?.pow(mag)
        } else {
            base.pow(mag)
        };
    }
    let Some(q) = q.to_u32() else {
        return too_large("a root of too high an order");
    };
    let radicand = norm(b, m)?;
    // x^(p/2) = sqrt(x)^p everywhere, so it gets sqrt's normal form (square
    // factors of non-negative atoms come out, as for `sqrt`).
    let root = if q == 2 {
        note_nonneg(b, &radicand, m);
        sqrt_poly(radicand, m)?
    } else {
        root_poly(radicand, q)?
    };
    if p.is_negative() {
        inv_poly(&root, m)?.pow(mag)
    } else {
        root.pow(mag)
    }
}

/// Subterm normalizations done on this thread so far: the difference
/// between two readings is the work done between them, the same on every
/// machine and under any load.
pub fn work_done() -> u64 {
    TOTAL_WORK.with(|t| t.get())
}

/// The ring normal form of an expression.
pub fn normalize(e: &Expr) -> Result<Poly, RingError> {
    norm(e, &Mode::RING)
}

/// The normal form of an expression under a [`Mode`].
pub fn normalize_with(e: &Expr, m: &Mode) -> Result<Poly, RingError> {
    norm(e, m)
}

fn norm(e: &Expr, m: &Mode) -> Result<Poly, RingError> {
    TOTAL_WORK.with(|t| t.set(t.get() + 1));
    let calls = NORM_WORK.with(|w| {
        let (depth, calls) = w.get();
        let calls = if depth == 0 { 1 } else { calls + 1 };
        w.set((depth + 1, calls));
        calls
    });
    let _level = NormLevel;
    if calls == 1 {
        record_root(e);
    }
    if calls > MAX_NORM_WORK {
        return too_large(format!("more than {MAX_NORM_WORK} subterm normalizations"));
    }
    if calls % 64 == 0
        && DEADLINE
            .with(|d| d.get())
            .is_some_and(|d| Instant::now() >= d)
    {
        return too_large("the time limit was reached");
    }
    let memo = matches!(
        e,
        Expr::Pow(..) | Expr::Sqrt(..) | Expr::Div(..) | Expr::Reduce(..)
    );
    let at = memo && ROOT.with(|r| r.borrow().contains(&address(e)));
    let key_at = at.then(|| (mode_key(m), address(e)));
    if let Some(k) = &key_at {
        if let Some(p) = MEMO_AT.with(|c| c.borrow().get(k).cloned()) {
            return Ok(p);
        }
    }
    let key = (memo && !at).then(|| (mode_key(m), e.clone()));
    if let Some(k) = &key {
        if let Some(p) = MEMO.with(|c| c.borrow().get(k).cloned()) {
            return Ok(p);
        }
    }
    let p = norm_node(e, m)?;
    let p = match e {
        Expr::Mul(..) | Expr::Div(..) | Expr::Pow(..) => {
            let p = reduce_radicals(p, m)?;
            if m.nonzero.is_some() || m.nonneg.is_some() {
                cancel(p, m)?
            } else {
                p
            }
        }
        _ => p,
    };
    if let Some(k) = key {
        MEMO.with(|c| c.borrow_mut().insert(k, p.clone()));
    }
    if let Some(k) = key_at {
        MEMO_AT.with(|c| c.borrow_mut().insert(k, p.clone()));
    }
    Ok(p)
}

fn norm_node(e: &Expr, m: &Mode) -> Result<Poly, RingError> {
    Ok(match e {
        Expr::Num(r) => Poly::constant_poly(r.clone()),
        Expr::Sym(s) => Poly::atom(Atom::Sym(s.clone())),
        Expr::PVar(n) => Poly::atom(Atom::PVar(n.clone())),
        Expr::Neg(a) => norm(a, m)?.negate(),
        Expr::Add(a, b) => norm(a, m)?.absorb(norm(b, m)?, false)?,
        Expr::Sub(a, b) => norm(a, m)?.absorb(norm(b, m)?, true)?,

        // a / b = a * (1/b) by definition of the total division.
        Expr::Div(a, b) => match div_common_factors(e, m)? {
            Some(p) => p,
            None => norm(a, m)?.times(&inv_expr(b, m)?)?,
        },
        Expr::Mul(a, b) if has_reciprocal(e) => match div_common_factors(e, m)? {
            Some(p) => p,
            None => norm(a, m)?.times(&norm(b, m)?)?,
        },
        Expr::Mul(a, b) => norm(a, m)?.times(&norm(b, m)?)?,
        Expr::Pow(b, x) => {
            let xp = norm(x, m)?;
            match xp.constant() {
                Some(r) => pow_rat(b, &r, m)?,
                // The value depends only on the values of base and exponent.
                None => Poly::atom(Atom::Pow(Rc::new(canon(b, m)?), Rc::new(to_expr(&xp)))),
            }
        }
        // sqrt(x) = x^(1/2) everywhere (both 0 for x <= 0).
        Expr::Sqrt(a) => match sqrt_of_powers(a, m)? {
            Some(p) => p,
            None => {
                let radicand = norm(a, m)?;
                note_nonneg(a, &radicand, m);
                sqrt_poly(radicand, m)?
            }
        },
        // A function's value depends only on its arguments' values; on
        // constants it folds where the value is rational. `detach` stays
        // (its value is its argument's, but it marks a stop-gradient).
        Expr::App(f, args) => {
            let args: Vec<Expr> = args.iter().map(|a| canon(a, m)).collect::<Result<_, _>>()?;
            match fold_app(*f, &args) {
                Some(r) => Poly::constant_poly(r),
                None => Poly::atom(Atom::App(*f, args.into_iter().map(Rc::new).collect())),
            }
        }
        // A reduction depends only on the values of its body.
        Expr::Reduce(op, axes, body) if m.linear => linear_reduce(*op, axes, body, m)?,
        Expr::Reduce(op, axes, body) => {
            Poly::atom(Atom::Reduce(*op, axes.clone(), Rc::new(canon(body, m)?)))
        }
    })
}

/// The rational value of `f(args)` on constant arguments, where it is
/// rational: `exp 0 = 1`, `log 0 = log ±1 = 0` (mathlib's `log x = log |x|`),
/// `abs`, `max`, `min`; `detach` is never folded.
fn fold_app(f: Fun, args: &[Expr]) -> Option<Rat> {
    let c: Vec<&Rat> = args
        .iter()
        .map(|a| match a {
            Expr::Num(r) => Some(r),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match (f, c.as_slice()) {
        (Fun::Exp, [x]) if x.is_zero() => Some(Rat::one()),
        (Fun::Log, [x]) if x.is_zero() || x.abs().is_one() => Some(Rat::zero()),
        (Fun::Abs, [x]) => Some(x.abs()),
        (Fun::Max, [x, y]) => Some((*x).max(*y).clone()),
        (Fun::Min, [x, y]) => Some((*x).min(*y).clone()),
        _ => None,
    }
}

/// The canonical expression of a polynomial; `normalize(&to_expr(p)) == Ok(p)`.
pub fn to_expr(p: &Poly) -> Expr {
    let terms = p.display_terms();
    let mut it = terms.into_iter();
    let Some((m0, c0)) = it.next() else {
        return Expr::num(0);
    };
    let mut out = monomial_expr(c0, m0);
    for (m, c) in it {
        out = if c.is_negative() {
            Expr::sub(out, monomial_expr(&-c, m))
        } else {
            Expr::add(out, monomial_expr(c, m))
        };
    }
    out
}

fn power_expr(base: Expr, k: u32) -> Expr {
    if k == 1 {
        base
    } else {
        Expr::pow(base, Expr::num(i64::from(k)))
    }
}

fn product(factors: Vec<Expr>) -> Option<Expr> {
    factors.into_iter().reduce(Expr::mul)
}

/// `c * atoms`, with `Inv` atoms collected into a denominator.
fn monomial_expr(c: &Rat, m: &Monomial) -> Expr {
    let mut num = Vec::new();
    let mut den = Vec::new();
    for (a, k) in m.factors() {
        match a {
            Atom::Inv(e) => den.push(power_expr((**e).clone(), k)),
            _ => num.push(power_expr(a.to_expr(), k)),
        }
    }
    let numerator = match product(num) {
        None => Expr::Num(c.clone()),
        Some(p) if c.is_one() => p,
        Some(p) if (-c).is_one() => Expr::neg(p),
        Some(p) => Expr::mul(Expr::Num(c.clone()), p),
    };
    match product(den) {
        None => numerator,
        Some(d) => Expr::div(numerator, d),
    }
}

/// Same ring normal form.
pub fn ring_eq(a: &Expr, b: &Expr) -> Result<bool, RingError> {
    Ok(normalize(a)? == normalize(b)?)
}

/// `to_expr(normalize(e))`.
pub fn canonical(e: &Expr) -> Result<Expr, RingError> {
    Ok(to_expr(&normalize(e)?))
}

fn canon(e: &Expr, m: &Mode) -> Result<Expr, RingError> {
    Ok(to_expr(&norm(e, m)?))
}

/// How much more than commutative-ring reasoning a normal form applies.
#[derive(Clone, Copy)]
pub struct Mode<'a> {
    /// Linearity of reductions: `mean[A](Σ cₖ·Cₖ·Vₖ) = Σ cₖ·Cₖ·mean[A](Vₖ)` when
    /// the factors `Cₖ` do not vary along `A`; `sum[A](e) = sum[A](1)·mean[A](e)`;
    /// `var[A](e) = mean[A]((e − mean[A](e))²)`. Valid for every axis size ≥ 1.
    pub linear: bool,
    /// Cancellation `a·(1/a) = 1` for the atoms `a` this predicate proves
    /// non-zero everywhere (the kernel passes its sign analysis).
    pub nonzero: Option<&'a dyn Fn(&Expr) -> bool>,
    /// `sqrt(c)² = c` and `(1/sqrt(c))² = 1/c` for the radicands `c` this
    /// predicate proves non-negative everywhere.
    pub nonneg: Option<&'a dyn Fn(&Expr) -> bool>,
    /// Canonical radicands already known non-negative because the radicand
    /// as written was proven so (the normal form can hide the structure the
    /// sign analysis needs, e.g. a variance expanded into moments).
    pub seen: Option<&'a RefCell<BTreeSet<Expr>>>,
}

/// The checks a `field` normal form needs, owned in one place.
pub struct FieldChecks<'a> {
    pub nonzero: Box<dyn Fn(&Expr) -> bool + 'a>,
    pub nonneg: Box<dyn Fn(&Expr) -> bool + 'a>,
    seen: RefCell<BTreeSet<Expr>>,
}

impl<'a> FieldChecks<'a> {
    /// The checks are pure functions of their argument, so each answer is
    /// remembered: normalizing a large gradient asks about the same few
    /// denominators thousands of times.
    pub fn new(nonzero: impl Fn(&Expr) -> bool + 'a, nonneg: impl Fn(&Expr) -> bool + 'a) -> Self {
        FieldChecks {
            nonzero: memoized(nonzero),
            nonneg: memoized(nonneg),
            seen: RefCell::new(BTreeSet::new()),
        }
    }
    /// Forget the radicands recorded as non-negative (a new step starts
    /// from its assumptions only); the remembered answers stay.
    pub fn reset_seen(&self) {
        self.seen.borrow_mut().clear();
    }

    /// Linearity plus the cancellations these checks allow.
    pub fn mode(&self) -> Mode<'_> {
        Mode {
            linear: true,
            nonzero: Some(&*self.nonzero),
            nonneg: Some(&*self.nonneg),
            seen: Some(&self.seen),
        }
    }
}

fn memoized<'a>(f: impl Fn(&Expr) -> bool + 'a) -> Box<dyn Fn(&Expr) -> bool + 'a> {
    let cache: RefCell<std::collections::HashMap<Expr, bool>> = RefCell::default();
    Box::new(move |e| {
        if let Some(&b) = cache.borrow().get(e) {
            return b;
        }
        let b = f(e);
        cache.borrow_mut().insert(e.clone(), b);
        b
    })
}

/// Record that the canonical form `radicand` of `written` is non-negative,
/// when the mode proves `written >= 0`.
fn note_nonneg(written: &Expr, radicand: &Poly, m: &Mode) {
    if let (Some(nonneg), Some(seen)) = (m.nonneg, m.seen) {
        if nonneg(written) {
            seen.borrow_mut().insert(to_expr(radicand));
        }
    }
}

impl Mode<'static> {
    /// Plain commutative-ring reasoning over opaque atoms.
    pub const RING: Mode<'static> = Mode {
        linear: false,
        nonzero: None,
        nonneg: None,
        seen: None,
    };
    /// Ring reasoning plus linearity of reductions.
    pub const LINEAR: Mode<'static> = Mode {
        linear: true,
        nonzero: None,
        nonneg: None,
        seen: None,
    };
}

/// `op[axes](body)` under linearity.
fn linear_reduce(op: RedOp, axes: &[String], body: &Expr, m: &Mode) -> Result<Poly, RingError> {
    let p = norm(body, m)?;
    match op {
        RedOp::Mean => flat_mean(axes, &p, m),
        RedOp::Sum => {
            // sum[A](e) = sum[A](1) * mean[A](e); the count of a product of
            // index sets is the product of the counts, one atom per axis
            // (`sum[i,j](1) = sum[i](1)·sum[j](1)`).
            let mut count = Poly::constant_poly(Rat::one());
            for a in axes {
                count = count.times(&Poly::atom(Atom::Reduce(
                    RedOp::Sum,
                    vec![a.clone()],
                    Rc::new(Expr::num(1)),
                )))?;
            }
            if p.constant().is_some_and(|c| c.is_one()) {
                return Ok(count);
            }
            count.times(&flat_mean(axes, &p, m)?)
        }
        RedOp::Var => {
            let centred = p.plus(&flat_mean(axes, &p, m)?.negate())?;
            flat_mean(axes, &centred.times(&centred)?, m)
        }
    }
}

/// The factors of `mono` constant along `axes`, and those varying along one
/// of them.
fn split_along(axes: &[String], mono: &Monomial) -> (Monomial, Monomial) {
    let (mut outside, mut inside) = (Monomial::one(), Monomial::one());
    for (a, k) in mono.factors() {
        let free = a.free_axes();
        let target = if axes.iter().any(|x| free.contains(x)) {
            &mut inside
        } else {
            &mut outside
        };
        target.0.insert(a.clone(), k);
    }
    (outside, inside)
}

/// [`linear_mean`], first merging a mean nested inside into this one
/// (Fubini for finite averages): `mean[A](g · mean[B](V)) = mean[A ∪ B](g · V)`
/// when `A` and `B` are disjoint and `g` does not vary along `B`. So
/// `mean[i](mean[j](z))` and `mean[j](mean[i](z))` reach one normal form.
fn flat_mean(axes: &[String], p: &Poly, m: &Mode) -> Result<Poly, RingError> {
    let mut out = Poly::zero();
    for (mono, c) in p.terms() {
        // Factors constant along `axes` come out of the mean first; only
        // the others take part in the merge.
        let (outside, mut inside) = split_along(axes, mono);
        let merge = inside.factors().find_map(|(a, _)| match a {
            Atom::Reduce(RedOp::Mean, inner_axes, inner_body)
                if !inner_axes.iter().any(|x| axes.contains(x))
                    && inside.factors().all(|(b, _)| {
                        // The other factors that go inside must be free of
                        // the inner axes, else merging would capture them.
                        b == a || {
                            let free = b.free_axes();
                            !inner_axes.iter().any(|x| free.contains(x))
                        }
                    }) =>
            {
                Some((a.clone(), inner_axes.clone(), inner_body.clone()))
            }
            _ => None,
        });
        let factor = Poly::monomial(c.clone(), outside);
        let Some((atom, inner_axes, inner_body)) = merge else {
            out =
                out.plus(&factor.times(&linear_mean(axes, &Poly::monomial(Rat::one(), inside))?)?)?;
            continue;
        };
        // One copy of the inner mean is merged; further powers of it stay
        // as factors (they do not vary along its axes either).
        match inside.0.get(&atom).copied() {
            Some(k) if k > 1 => {
                inside.0.insert(atom.clone(), k - 1);
            }
            _ => {
                inside.0.remove(&atom);
            }
        }
        let merged = Poly::monomial(Rat::one(), inside).times(&norm(&inner_body, m)?)?;
        let mut all: Vec<String> = axes.iter().chain(&inner_axes).cloned().collect();
        all.sort();
        all.dedup();
        out = out.plus(&factor.times(&flat_mean(&all, &merged, m)?)?)?;
    }
    Ok(out)
}

/// The mean over `axes` of a polynomial: each term's factors that do not vary
/// along `axes` come out; the rest stays inside one mean atom.
fn linear_mean(axes: &[String], p: &Poly) -> Result<Poly, RingError> {
    let mut out = Poly::zero();
    for (mono, c) in p.terms() {
        let (outside, inside) = split_along(axes, mono);
        let mut term = Poly::monomial(c.clone(), outside);
        if !inside.is_one() {
            term = term.times(&mean_of_varying(axes, inside)?)?;
        }
        out = out.plus(&term)?;
    }
    Ok(out)
}

/// The mean over `axes` of a monomial every factor of which varies along
/// some of them. Axes along which nothing varies are dropped (the mean of a
/// constant is itself); several axes are taken one at a time, innermost the
/// axis along which the fewest factors vary (ties: by name), so that
/// factors come out of as many means as possible:
/// `mean[A ∪ {a}](F) = mean[A](mean[a](F))` for a product of index sets.
fn mean_of_varying(axes: &[String], inside: Monomial) -> Result<Poly, RingError> {
    let frees: Vec<_> = inside.factors().map(|(a, _)| a.free_axes()).collect();
    let count = |x: &String| frees.iter().filter(|f| f.contains(x)).count();
    let used: Vec<String> = axes.iter().filter(|x| count(x) > 0).cloned().collect();
    if used.len() <= 1 {
        let body = to_expr(&Poly::monomial(Rat::one(), inside));
        return Ok(Poly::atom(Atom::Reduce(RedOp::Mean, used, Rc::new(body))));
    }
    let inner = used
        .iter()
        .min_by_key(|x| (count(x), (*x).clone()))
        .cloned()
        .unwrap_or_default();
    let rest: Vec<String> = used.into_iter().filter(|x| *x != inner).collect();
    let first = linear_mean(
        std::slice::from_ref(&inner),
        &Poly::monomial(Rat::one(), inside),
    )?;
    linear_mean(&rest, &first)
}

/// The root atom `e^(1/q)` or its inverse `1/e^(1/q)` of a non-constant
/// radicand: `(q, e, inverse)`.
fn root_of(a: &Atom) -> Option<(u32, &Expr, bool)> {
    let (q, e, inverse) = match a {
        Atom::Sqrt(e) => (2, &**e, false),
        Atom::Root(q, e) => (*q, &**e, false),
        Atom::Inv(inner) => match &**inner {
            Expr::Sqrt(e) => (2, &**e, true),
            Expr::Pow(e, x) => match &**x {
                Expr::Num(r) if r.numer().is_one() && r.denom() > &BigInt::one() => {
                    (r.denom().to_u32()?, &**e, true)
                }
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    };
    (!matches!(e, Expr::Num(_))).then_some((q, e, inverse))
}

/// Every factor of a monomial that is a power of the same radicand `e`
/// collapses into one canonical form. With `r = e^(1/q)`, the factors
/// `e^d · (1/e)^c · r^a · (1/r)^b` (`a + b ≥ 1`) equal `e^R/q` for `e > 0`,
/// `R = q(d − c) + a − b`, and are `0` for `e ≤ 0` (a root of a non-positive
/// number is `0`, and so is its total inverse). The canonical form keeps a
/// root factor, so it is `0` there too:
/// - `R > 0`: `e^n · r^f` with `R = q·n + f`, `1 ≤ f ≤ q`;
/// - `R < 0`: `(1/r)^(−R)` (denominators keep their roots: `1/sqrt(v)^3`);
/// - `R = 0`: `r · (1/r)` (1 where `e > 0`, else 0).
///
/// So `x^(3/2) = x·sqrt(x)`, `x/sqrt(x) = sqrt(x)` and `x^(-3/2) = 1/(x·sqrt(x))`
/// everywhere, while `sqrt(x)^2` stays (it is `0`, not `x`, for `x < 0`).
fn reduce_radicals(p: Poly, m: &Mode) -> Result<Poly, RingError> {
    // A monomial needs work when a root group has a power above its index,
    // both a root and its inverse, or a factor of the radicand itself.
    let needs = |mono: &Monomial| {
        mono.factors().any(|(a, k)| {
            root_of(a).is_some_and(|(q, e, inverse)| {
                (k > q && !inverse)
                    || mono.factors().any(|(b, _)| {
                        b != a
                            && (b.is_expr(e)
                                || matches!(b, Atom::Inv(c) if **c == *e)
                                || root_of(b).is_some_and(|(q2, e2, inv2)| {
                                    q2 == q && e2 == e && inv2 != inverse
                                }))
                    })
            })
        })
    };
    if !p.terms().any(|(mono, _)| needs(mono)) {
        return Ok(p);
    }
    let mut out = Poly::zero();
    for (mono, c) in p.terms() {
        if !needs(mono) {
            out.add_term(mono.clone(), c.clone());
            continue;
        }
        let mut f = mono.0.clone();
        let mut extra = Poly::constant_poly(Rat::one());
        // One group at a time: (index, radicand).
        let groups: BTreeSet<(u32, Expr)> = mono
            .factors()
            .filter_map(|(a, _)| root_of(a).map(|(q, e, _)| (q, e.clone())))
            .collect();
        for (q, e) in groups {
            let (mut root, mut inv_root, mut base, mut inv_base) = (None, None, None, None);
            for (a, k) in f.iter() {
                match root_of(a) {
                    Some((q2, e2, false)) if q2 == q && *e2 == e => root = Some((a.clone(), *k)),
                    Some((q2, e2, true)) if q2 == q && *e2 == e => inv_root = Some((a.clone(), *k)),
                    _ if a.is_expr(&e) => base = Some((a.clone(), *k)),
                    _ if matches!(a, Atom::Inv(c) if **c == e) => inv_base = Some((a.clone(), *k)),
                    _ => {}
                }
            }
            let qi = i64::from(q);
            let pw = |x: &Option<(Atom, u32)>| x.as_ref().map_or(0, |(_, k)| i64::from(*k));
            let r = qi * (pw(&base) - pw(&inv_base)) + pw(&root) - pw(&inv_root);
            for x in [&root, &inv_root, &base, &inv_base].into_iter().flatten() {
                f.remove(&x.0);
            }
            let root_atom = match &root {
                Some((a, _)) => a.clone(),
                None => root_poly(norm(&e, m)?, q)?
                    .as_atom()
                    .cloned()
                    .ok_or_else(|| RingError::TooLarge("a root that is not an atom".into()))?,
            };
            let inv_root_atom = match &inv_root {
                Some((a, _)) => a.clone(),
                None => Atom::Inv(Rc::new(root_atom.to_expr())),
            };
            // |r| = q·n + fr with 1 <= fr <= q (when r != 0).
            let mag = (r.abs() - 1).max(0);
            let n = u32::try_from(mag / qi).map_err(|_| RingError::TooLarge("a power".into()))?;
            let fr = (mag % qi + 1) as u32;
            if r > 0 {
                f.insert(root_atom, fr);
                extra = extra.times(&norm(&e, m)?.pow(n)?)?;
            } else if r < 0 {
                let k = u32::try_from(-r).map_err(|_| RingError::TooLarge("a power".into()))?;
                f.insert(inv_root_atom, k);
            } else {
                f.insert(root_atom, 1);
                f.insert(inv_root_atom, 1);
            }
        }
        out = out.plus(&Poly::monomial(c.clone(), Monomial(f)).times(&extra)?)?;
    }
    Ok(out)
}

/// The factors of a product as written: `(factor, inverted)` pairs and the
/// sign of the negations and negative numbers met (`a * -b / c^4`).
/// At most [`MAX_WRITTEN_FACTORS`] factors are collected (more stops the
/// walk; callers then decline), so that a long product costs linear time.
fn written_factors<'e>(
    e: &'e Expr,
    inverted: bool,
    out: &mut Vec<(&'e Expr, bool)>,
    neg: &mut bool,
) {
    if out.len() > MAX_WRITTEN_FACTORS {
        return;
    }
    match e {
        Expr::Mul(a, b) => {
            written_factors(a, inverted, out, neg);
            written_factors(b, inverted, out, neg);
        }
        Expr::Div(a, b) => {
            written_factors(a, inverted, out, neg);
            written_factors(b, !inverted, out, neg);
        }
        Expr::Neg(a) => {
            *neg = !*neg;
            written_factors(a, inverted, out, neg);
        }
        Expr::Num(c) if c.is_negative() => {
            *neg = !*neg;
            out.push((e, inverted));
        }
        _ => out.push((e, inverted)),
    }
}

/// A quotient whose numerator and denominator share a written factor
/// (`(x+1)^2/(x+1)`): the factors' powers are collected per base as
/// written, and `B^k · (1/B)^j` becomes `B^(k−j)`, `(1/B)^(j−k)` or
/// `B · (1/B)` (`k = j`) — true for every value of `B` under the total
/// inverse, as for atoms ([`Monomial::reduce_inverse_pairs`]), but here for
/// bases whose normal form is a polynomial. `None` when no base is shared.
fn div_common_factors(e: &Expr, m: &Mode) -> Result<Option<Poly>, RingError> {
    let mut factors = Vec::new();
    let mut neg = false;
    written_factors(e, false, &mut factors, &mut neg);
    if factors.len() > MAX_WRITTEN_FACTORS {
        return Ok(None);
    }
    // (base, power above the bar, power below), bases in order of appearance.
    let mut groups: Vec<(&Expr, u32, u32)> = Vec::new();
    let mut numbers = Poly::constant_poly(if neg { -Rat::one() } else { Rat::one() });
    for (f, inverted) in &factors {
        if let Expr::Num(c) = f {
            let c = c.abs();
            numbers = numbers.times(&Poly::constant_poly(if *inverted {
                crate::ir::total_div(&Rat::one(), &c)
            } else {
                c
            }))?;
            continue;
        }
        // `B^k`, `B^-k = (1/B)^k`, `(1/B)^k` and `1/B` are powers of `B`.
        let (mut base, mut k, mut inverted) = (*f, 1u32, *inverted);
        if let Expr::Pow(b, x) = f {
            let k_int = x
                .const_value()
                .filter(|k| k.is_integer() && !k.is_zero())
                .and_then(|k| k.to_integer().to_i64())
                .filter(|k| k.unsigned_abs() <= u64::from(MAX_DEGREE));
            if let (Some(kk), false) = (k_int, matches!(**b, Expr::Num(_))) {
                base = b;
                k = kk.unsigned_abs() as u32;
                inverted ^= kk < 0;
            }
        }
        if let Expr::Div(one, b) = base {
            if matches!(&**one, Expr::Num(r) if r.is_one()) && !matches!(**b, Expr::Num(_)) {
                base = b;
                inverted = !inverted;
            }
        }
        match groups.iter_mut().find(|(b, _, _)| *b == base) {
            Some(g) => {
                if inverted {
                    g.2 += k;
                } else {
                    g.1 += k;
                }
            }
            None => groups.push((
                base,
                if inverted { 0 } else { k },
                if inverted { k } else { 0 },
            )),
        }
    }
    if !groups
        .iter()
        .any(|(_, k, j)| *k > 0 && *j > 0 && *k + *j > 2)
    {
        return Ok(None);
    }
    let mut out = numbers;
    for (base, k, j) in groups {
        let part = match (k, j) {
            (k, j) if k > j => norm(base, m)?.pow(k - j)?,
            (k, j) if j > k => inv_expr(base, m)?.pow(j - k)?,
            (0, 0) => Poly::constant_poly(Rat::one()),
            _ => norm(base, m)?.times(&inv_expr(base, m)?)?,
        };
        out = out.times(&part)?;
    }
    Ok(Some(out))
}

/// Whether a product as written has a reciprocal or negative power among
/// its first factors (a cheap filter before [`div_common_factors`]).
fn has_reciprocal(e: &Expr) -> bool {
    fn walk(e: &Expr, budget: &mut usize) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match e {
            Expr::Mul(a, b) => walk(a, budget) || walk(b, budget),
            Expr::Neg(a) => walk(a, budget),
            Expr::Div(..) => true,
            Expr::Pow(b, x) => {
                matches!(**b, Expr::Div(..)) || x.const_value().is_some_and(|k| k.is_negative())
            }
            _ => false,
        }
    }
    walk(e, &mut { MAX_WRITTEN_FACTORS })
}

/// Most factors [`written_factors`] collects.
const MAX_WRITTEN_FACTORS: usize = 64;

/// `sqrt` of a product written with powers of whole subterms (their normal
/// forms are polynomials, whose squares the polynomial route cannot see):
/// `sqrt(b^4t · R) = b^2t · sqrt(R)` (`b^2t ≥ 0`; `1/b` likewise), and
/// `sqrt(−c · b1^2k1 ⋯) = 0` for `c > 0` (the radicand is `≤ 0`).
/// `None` when no factor is such a power.
fn sqrt_of_powers(a: &Expr, m: &Mode) -> Result<Option<Poly>, RingError> {
    let mut factors = Vec::new();
    let mut neg = false;
    written_factors(a, false, &mut factors, &mut neg);
    if factors.len() > MAX_WRITTEN_FACTORS {
        return Ok(None);
    }
    fn even_power(e: &Expr) -> Option<(&Expr, u32)> {
        match e {
            Expr::Pow(b, x) => {
                let k = x.const_value()?;
                let k = k.is_integer().then(|| k.to_integer().to_u32())??;
                (k >= 2 && !matches!(**b, Expr::Num(_))).then_some((&**b, k))
            }
            _ => None,
        }
    }
    let squares_only = factors
        .iter()
        .all(|(f, _)| matches!(f, Expr::Num(_)) || even_power(f).is_some_and(|(_, k)| k % 2 == 0));
    if neg && squares_only && factors.iter().any(|(f, _)| even_power(f).is_some()) {
        return Ok(Some(Poly::zero()));
    }
    if !factors
        .iter()
        .any(|(f, _)| even_power(f).is_some_and(|(_, k)| k >= 4))
    {
        return Ok(None);
    }
    let mut outside = Poly::constant_poly(Rat::one());
    let mut inside = Poly::constant_poly(if neg { -Rat::one() } else { Rat::one() });
    for (f, inverted) in factors {
        let part = |e: &Expr| if inverted { inv_expr(e, m) } else { norm(e, m) };
        match even_power(f) {
            Some((b, k)) if k >= 4 => {
                let out = 2 * (k / 4);
                let base = part(b)?;
                outside = outside.times(&base.pow(out)?)?;
                inside = inside.times(&base.pow(k - 2 * out)?)?;
            }
            _ => {
                // Negative numbers were counted in `neg`.
                let p = match f {
                    Expr::Num(c) if c.is_negative() => part(&Expr::Num(-c))?,
                    _ => part(f)?,
                };
                inside = inside.times(&p)?;
            }
        }
    }
    Ok(Some(outside.times(&sqrt_poly(inside, m)?)?))
}

/// `sqrt(p)`; with a `nonneg` check, square factors of atoms proven
/// non-negative come out: `sqrt(a^2k · q) = a^k · sqrt(q)` for `a ≥ 0`
/// (for any `q`: both sides are 0 when `q ≤ 0` or `a = 0`).
///
/// In every mode: fourth powers come out as squares, `sqrt(a^4·q) = a^2·sqrt(q)`
/// (`a^2 ≥ 0` for every `a`), and a single term that is minus a square,
/// `c·a^2k·…` with `c < 0` and even powers only, has root `0` (it is `≤ 0`).
fn sqrt_poly(p: Poly, m: &Mode) -> Result<Poly, RingError> {
    let Some((c, g, q)) = p.split_content() else {
        return root_poly(p, 2);
    };
    if q.constant().is_some() && c.is_negative() && g.factors().all(|(_, k)| k % 2 == 0) {
        return Ok(Poly::zero());
    }
    let nonneg = m.nonneg;
    let mut outside = Monomial::one();
    let mut inside = Monomial::one();
    for (a, k) in g.factors() {
        let proven = || !matches!(a, Atom::Inv(_)) && nonneg.is_some_and(|f| f(&a.to_expr()));
        // a^k = (a^out)^2 · a^(k − 2·out) with a^out ≥ 0: out even, or a ≥ 0.
        let out = if k >= 2 && proven() {
            k / 2
        } else {
            2 * (k / 4)
        };
        if out > 0 {
            outside.0.insert(a.clone(), out);
            if k > 2 * out {
                inside.0.insert(a.clone(), k - 2 * out);
            }
        } else {
            inside.0.insert(a.clone(), k);
        }
    }
    if outside.is_one() {
        return root_poly(p, 2);
    }
    let rest = Poly::monomial(c, inside).times(&q)?;
    Poly::monomial(Rat::one(), outside).times(&root_poly(rest, 2)?)
}

/// Whether `r = 0` follows by clearing denominators: every factor `1/c`
/// whose content `c` the mode proves non-zero is multiplied out (each term
/// times `c^(E − e)`, `E` the largest power of `1/c` in `r`), and the
/// resulting polynomial is zero. Sound because the multiplier `Π c^E` is
/// non-zero everywhere, so `r · Π c^E = 0` forces `r = 0`.
pub fn clears_to_zero(r: &Poly, m: &Mode) -> Result<bool, RingError> {
    if r.is_zero() {
        return Ok(true);
    }
    let Some(nonzero) = m.nonzero else {
        return Ok(false);
    };
    let mut highest: BTreeMap<Atom, u32> = BTreeMap::new();
    for (mono, _) in r.terms() {
        for (a, k) in mono.factors() {
            if let Atom::Inv(c) = a {
                if nonzero(c) {
                    let e = highest.entry(a.clone()).or_insert(0);
                    *e = (*e).max(k);
                }
            }
        }
    }
    if highest.is_empty() {
        return Ok(false);
    }
    let mut contents = BTreeMap::new();
    for a in highest.keys() {
        if let Atom::Inv(c) = a {
            contents.insert(a.clone(), norm(c, m)?);
        }
    }
    let mut total = Poly::zero();
    for (mono, c) in r.terms() {
        let mut rest = mono.0.clone();
        let mut term = Poly::constant_poly(c.clone());
        for (a, e_max) in &highest {
            let e = rest.remove(a).unwrap_or(0);
            term = term.times(&contents[a].pow(e_max - e)?)?;
        }
        term = term.times(&Poly::monomial(Rat::one(), Monomial(rest)))?;
        total = total.plus(&term)?;
    }
    Ok(total.is_zero())
}

/// Cancel `a^j · (1/a)^k` in every monomial where `m.nonzero(a)` holds, and
/// square roots `sqrt(c)^2 = c`, `(1/sqrt(c))^2 = 1/c` where `m.nonneg(c)`.
fn cancel(p: Poly, m: &Mode) -> Result<Poly, RingError> {
    let mut out = Poly::zero();
    for (mono, c) in p.terms() {
        let mut f = mono.0.clone();
        if let Some(nonzero) = m.nonzero {
            let invs: Vec<(Atom, u32)> = f
                .iter()
                .filter(|(a, _)| matches!(a, Atom::Inv(_)))
                .map(|(a, k)| (a.clone(), *k))
                .collect();
            for (inv, k) in invs {
                let Atom::Inv(content) = &inv else { continue };
                let found = f
                    .iter()
                    .find(|(a, _)| !matches!(a, Atom::Inv(_)) && a.to_expr() == **content)
                    .map(|(a, j)| (a.clone(), *j));
                let Some((base, j)) = found else { continue };
                if !nonzero(content) {
                    continue;
                }
                let common = j.min(k);
                for (atom, power) in [(base, j), (inv, k)] {
                    if power == common {
                        f.remove(&atom);
                    } else {
                        f.insert(atom, power - common);
                    }
                }
            }
        }
        let mut extra = Poly::constant_poly(Rat::one());
        if let Some(nonneg) = m.nonneg {
            let squares: Vec<(Atom, u32)> = f
                .iter()
                .filter(|(_, k)| **k >= 2)
                .map(|(a, k)| (a.clone(), *k))
                .collect();
            for (atom, k) in squares {
                let (radicand, inverse) = match &atom {
                    Atom::Sqrt(r) => ((**r).clone(), false),
                    Atom::Inv(e) => match &**e {
                        Expr::Sqrt(r) => ((**r).clone(), true),
                        _ => continue,
                    },
                    _ => continue,
                };
                let known = m.seen.is_some_and(|s| s.borrow().contains(&radicand));
                if !known && !nonneg(&radicand) {
                    continue;
                }
                if k % 2 == 0 {
                    f.remove(&atom);
                } else {
                    f.insert(atom, 1);
                }
                let base = if inverse {
                    inv_expr(&radicand, m)?
                } else {
                    norm(&radicand, m)?
                };
                extra = extra.times(&base.pow(k / 2)?)?;
            }
        }
        out = out.plus(&Poly::monomial(c.clone(), Monomial(f)).times(&extra)?)?;
    }
    Ok(out)
}

/// `g * (P/g)` where `g` is the common monomial factor of the terms of `e`'s
/// normal form `P` times their rational content, signed so that the cofactor's
/// leading coefficient is positive (`-(..)` when `g = -1`). `None` when `g = 1`
/// or `P` has fewer than two terms. Always `ring_eq` to `e`.
pub fn factored(e: &Expr) -> Result<Option<Expr>, RingError> {
    let p = normalize(e)?;
    if p.len() < 2 {
        return Ok(None);
    }
    let Some((c, g, q)) = p.split_content() else {
        return Ok(None);
    };
    if g.is_one() && c.is_one() {
        return Ok(None);
    }
    let q = to_expr(&q);
    if g.is_one() && (-&c).is_one() {
        return Ok(Some(Expr::neg(q)));
    }
    Ok(Some(Expr::mul(to_expr(&Poly::monomial(c, g)), q)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::total_div;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn s(n: &str) -> Expr {
        Expr::sym(n, &[])
    }
    fn u() -> Expr {
        Expr::sym("u", &["i"])
    }
    fn n(k: i64) -> Expr {
        Expr::num(k)
    }
    fn add(a: Expr, b: Expr) -> Expr {
        Expr::add(a, b)
    }
    fn sub(a: Expr, b: Expr) -> Expr {
        Expr::sub(a, b)
    }
    fn mul(a: Expr, b: Expr) -> Expr {
        Expr::mul(a, b)
    }
    fn div(a: Expr, b: Expr) -> Expr {
        Expr::div(a, b)
    }
    fn pow(a: Expr, b: Expr) -> Expr {
        Expr::pow(a, b)
    }
    fn mean(e: Expr) -> Expr {
        Expr::reduce(RedOp::Mean, &["i"], e)
    }

    fn eq(a: &Expr, b: &Expr) -> bool {
        ring_eq(a, b).unwrap()
    }

    /// A tiny printer for the tests' messages and display checks.
    fn show(e: &Expr) -> String {
        match e {
            Expr::Num(r) => format!("{r}"),
            Expr::Sym(s) if s.axes.is_empty() => s.name.clone(),
            Expr::Sym(s) => format!("{}[{}]", s.name, s.axes.join(",")),
            Expr::PVar(v) => format!("?{v}"),
            Expr::Neg(a) => format!("-{}", show(a)),
            Expr::Add(a, b) => format!("({} + {})", show(a), show(b)),
            Expr::Sub(a, b) => format!("({} - {})", show(a), show(b)),
            Expr::Mul(a, b) => format!("{}*{}", show(a), show(b)),
            Expr::Div(a, b) => format!("{}/{}", show(a), show(b)),
            Expr::Pow(a, b) => format!("{}^{}", show(a), show(b)),
            Expr::Sqrt(a) => format!("sqrt({})", show(a)),
            Expr::App(f, args) => {
                let args: Vec<String> = args.iter().map(show).collect();
                format!("{}({})", f.keyword(), args.join(", "))
            }
            Expr::Reduce(op, ax, b) => format!("{}[{}]({})", op.keyword(), ax.join(","), show(b)),
        }
    }

    #[test]
    fn equalities_that_hold() {
        let (a, b, d, x) = (s("a"), s("b"), s("d"), s("x"));
        let cases: Vec<(Expr, Expr)> = vec![
            (
                pow(add(a.clone(), b.clone()), n(2)),
                add(
                    add(pow(a.clone(), n(2)), mul(mul(n(2), a.clone()), b.clone())),
                    pow(b.clone(), n(2)),
                ),
            ),
            (
                div(a.clone(), b.clone()),
                mul(a.clone(), div(n(1), b.clone())),
            ),
            (
                div(n(1), mul(mul(n(2), a.clone()), b.clone())),
                mul(
                    mul(Expr::rat(1, 2), div(n(1), a.clone())),
                    div(n(1), b.clone()),
                ),
            ),
            (pow(x.clone(), Expr::rat(1, 2)), Expr::sqrt(x.clone())),
            (mean(add(u(), b.clone())), mean(add(b.clone(), u()))),
            (
                sub(
                    add(u(), add(b.clone(), d.clone())),
                    add(mean(u()), add(b.clone(), d.clone())),
                ),
                sub(add(u(), b.clone()), add(mean(u()), b.clone())),
            ),
            (
                sub(add(u(), b.clone()), add(mean(u()), b.clone())),
                sub(u(), mean(u())),
            ),
            (pow(x.clone(), n(-2)), div(n(1), mul(x.clone(), x.clone()))),
            (div(n(1), div(n(1), x.clone())), x.clone()),
            (
                div(n(1), div(a.clone(), b.clone())),
                div(b.clone(), a.clone()),
            ),
            (div(x.clone(), n(0)), n(0)),
            (div(n(3), n(4)), Expr::rat(3, 4)),
            (Expr::sqrt(n(4)), n(2)),
            (Expr::sqrt(Expr::rat(1, 9)), Expr::rat(1, 3)),
            (Expr::sqrt(n(-4)), n(0)),
            (pow(n(8), Expr::rat(1, 3)), n(2)),
            (pow(n(-8), Expr::rat(1, 3)), n(0)),
            (pow(n(4), Expr::rat(-3, 2)), Expr::rat(1, 8)),
            (pow(n(0), n(-1)), n(0)),
            (pow(n(0), n(0)), n(1)),
            (pow(x.clone(), n(0)), n(1)),
            (
                pow(x.clone(), Expr::rat(3, 2)),
                pow(Expr::sqrt(x.clone()), n(3)),
            ),
            (
                pow(x.clone(), Expr::rat(-1, 2)),
                div(n(1), Expr::sqrt(x.clone())),
            ),
            (
                Expr::sqrt(add(a.clone(), b.clone())),
                Expr::sqrt(add(b.clone(), a.clone())),
            ),
            (
                div(a.clone(), add(mul(n(2), b.clone()), n(4))),
                div(mul(Expr::rat(1, 2), a.clone()), add(b.clone(), n(2))),
            ),
            (
                div(n(1), sub(n(-1), x.clone())),
                Expr::neg(div(n(1), add(x.clone(), n(1)))),
            ),
            (
                div(
                    n(1),
                    add(mul(x.clone(), a.clone()), mul(x.clone(), b.clone())),
                ),
                mul(div(n(1), x.clone()), div(n(1), add(a.clone(), b.clone()))),
            ),
            (
                pow(x.clone(), pow(n(2), n(2))),
                mul(pow(x.clone(), n(2)), pow(x.clone(), n(2))),
            ),
            (pow(x.clone(), Expr::sqrt(n(4))), mul(x.clone(), x.clone())),
            // the total inverse: x^k·(1/x)^j keeps a factor x or 1/x, both 0 at 0
            (mul(pow(x.clone(), n(2)), pow(x.clone(), n(-1))), x.clone()),
            (div(pow(x.clone(), n(2)), x.clone()), x.clone()),
            (div(x.clone(), pow(x.clone(), n(2))), div(n(1), x.clone())),
            (
                mul(mul(x.clone(), x.clone()), div(n(1), x.clone())),
                x.clone(),
            ),
            (
                div(pow(x.clone(), n(3)), pow(x.clone(), n(3))),
                div(x.clone(), x.clone()),
            ),
            // ... also for bases written alike above and below the bar
            (
                div(pow(add(x.clone(), n(1)), n(2)), add(x.clone(), n(1))),
                add(x.clone(), n(1)),
            ),
            (
                div(
                    mul(n(2), mul(pow(sub(a.clone(), b.clone()), n(3)), x.clone())),
                    mul(n(4), sub(a.clone(), b.clone())),
                ),
                mul(
                    Expr::rat(1, 2),
                    mul(pow(sub(a.clone(), b.clone()), n(2)), x.clone()),
                ),
            ),
            (
                div(
                    pow(add(x.clone(), n(1)), n(2)),
                    pow(add(x.clone(), n(1)), n(2)),
                ),
                div(add(x.clone(), n(1)), add(x.clone(), n(1))),
            ),
            (
                mul(
                    pow(add(x.clone(), n(1)), n(3)),
                    pow(div(n(1), add(x.clone(), n(1))), n(2)),
                ),
                add(x.clone(), n(1)),
            ),
            (
                mul(
                    pow(add(x.clone(), n(1)), n(3)),
                    pow(add(x.clone(), n(1)), n(-5)),
                ),
                pow(add(x.clone(), n(1)), n(-2)),
            ),
            // fourth powers leave square roots as squares; minus a square has root 0
            (Expr::sqrt(pow(x.clone(), n(4))), pow(x.clone(), n(2))),
            (
                Expr::sqrt(mul(pow(x.clone(), n(5)), a.clone())),
                mul(pow(x.clone(), n(2)), Expr::sqrt(mul(x.clone(), a.clone()))),
            ),
            (Expr::sqrt(Expr::neg(pow(x.clone(), n(2)))), n(0)),
            // ... also of whole subterms, as written
            (
                Expr::sqrt(mul(pow(sub(x.clone(), b.clone()), n(4)), a.clone())),
                mul(pow(sub(x.clone(), b.clone()), n(2)), Expr::sqrt(a.clone())),
            ),
            (
                Expr::sqrt(div(a.clone(), pow(sub(x.clone(), b.clone()), n(8)))),
                div(Expr::sqrt(a.clone()), pow(sub(x.clone(), b.clone()), n(4))),
            ),
            (
                Expr::sqrt(mul(n(-3), pow(add(x.clone(), b.clone()), n(6)))),
                n(0),
            ),
            // powers of roots above the index
            (
                pow(x.clone(), Expr::rat(3, 2)),
                mul(x.clone(), Expr::sqrt(x.clone())),
            ),
            (
                pow(x.clone(), Expr::rat(7, 3)),
                mul(pow(x.clone(), n(2)), pow(x.clone(), Expr::rat(1, 3))),
            ),
            (
                pow(x.clone(), Expr::rat(-5, 2)),
                mul(pow(x.clone(), n(-2)), div(n(1), Expr::sqrt(x.clone()))),
            ),
            // roots of constants
            (mul(Expr::sqrt(n(2)), Expr::sqrt(n(8))), n(4)),
            (div(Expr::sqrt(n(2)), n(2)), div(n(1), Expr::sqrt(n(2)))),
            (Expr::sqrt(Expr::rat(1, 2)), div(Expr::sqrt(n(2)), n(2))),
            (
                mul(Expr::sqrt(n(6)), Expr::sqrt(n(10))),
                mul(n(2), Expr::sqrt(n(15))),
            ),
            (pow(pow(n(2), Expr::rat(1, 3)), n(3)), n(2)),
            (
                div(n(1), pow(n(2), Expr::rat(1, 3))),
                div(pow(n(4), Expr::rat(1, 3)), n(2)),
            ),
            // large powers of one term, huge exponents of 0, 1, -1
            (
                pow(x.clone(), n(300)),
                mul(pow(x.clone(), n(150)), pow(x.clone(), n(150))),
            ),
            (pow(n(-1), pow(n(10), n(100))), n(1)),
            (pow(n(0), pow(n(10), n(100))), n(0)),
            (
                pow(x.clone(), a.clone()),
                pow(x.clone(), add(a.clone(), n(0))),
            ),
            (
                mul(Expr::pvar("p"), n(2)),
                add(Expr::pvar("p"), Expr::pvar("p")),
            ),
        ];
        for (l, r) in cases {
            assert!(eq(&l, &r), "{} should equal {}", show(&l), show(&r));
        }
        // counts of several axes are products of counts (under linearity)
        let lin = |e: &Expr| normalize_with(e, &Mode::LINEAR).unwrap();
        let count = |axes: &[&str]| Expr::reduce(RedOp::Sum, axes, n(1));
        assert_eq!(
            lin(&mul(count(&["i"]), count(&["j"]))),
            lin(&count(&["i", "j"]))
        );
        let xij = Expr::sym("x", &["i", "j"]);
        assert_eq!(
            lin(&Expr::reduce(
                RedOp::Sum,
                &["i"],
                Expr::reduce(RedOp::Sum, &["j"], xij.clone())
            )),
            lin(&Expr::reduce(RedOp::Sum, &["i", "j"], xij))
        );
    }

    #[test]
    fn equalities_that_must_not_hold() {
        let (a, b, x) = (s("a"), s("b"), s("x"));
        let cases: Vec<(Expr, Expr)> = vec![
            (div(x.clone(), x.clone()), n(1)),
            (
                div(
                    pow(add(x.clone(), n(1)), n(2)),
                    pow(add(x.clone(), n(1)), n(2)),
                ),
                n(1),
            ),
            (div(add(x.clone(), n(1)), add(x.clone(), n(1))), n(1)),
            (
                mul(
                    pow(add(x.clone(), n(1)), n(2)),
                    pow(add(x.clone(), n(1)), n(-2)),
                ),
                n(1),
            ),
            (mul(x.clone(), div(n(1), x.clone())), n(1)),
            (pow(Expr::sqrt(x.clone()), n(2)), x.clone()),
            (Expr::sqrt(pow(x.clone(), n(2))), x.clone()),
            (
                mean(add(a.clone(), b.clone())),
                add(mean(a.clone()), mean(b.clone())),
            ),
            (pow(pow(x.clone(), n(2)), Expr::rat(1, 2)), x.clone()),
            (Expr::sqrt(pow(x.clone(), n(6))), pow(x.clone(), n(3))),
            (
                Expr::sqrt(pow(sub(x.clone(), b.clone()), n(6))),
                pow(sub(x.clone(), b.clone()), n(3)),
            ),
            (
                Expr::sqrt(Expr::neg(pow(sub(x.clone(), b.clone()), n(3)))),
                n(0),
            ),
            (
                Expr::sqrt(mul(n(3), pow(add(x.clone(), b.clone()), n(6)))),
                n(0),
            ),
            (Expr::sqrt(pow(x.clone(), n(2))), x.clone()),
            (mul(x.clone(), mul(x.clone(), div(n(1), x.clone()))), n(1)),
            (pow(Expr::sqrt(x.clone()), n(4)), pow(x.clone(), n(2))),
            (pow(x.clone(), Expr::rat(3, 2)), pow(x.clone(), n(1))),
            (Expr::sqrt(pow(x.clone(), n(4))), pow(x.clone(), n(-2))),
            (Expr::sqrt(Expr::neg(pow(x.clone(), n(3)))), n(0)),
            (Expr::sqrt(n(2)), Expr::rat(141, 100)),
            (mul(Expr::sqrt(n(2)), Expr::sqrt(n(3))), Expr::sqrt(n(5))),
            (
                Expr::reduce(RedOp::Sum, &["i", "j"], n(1)),
                Expr::reduce(RedOp::Sum, &["i"], n(1)),
            ),
            (pow(pow(x.clone(), Expr::rat(1, 3)), n(3)), x.clone()),
            (mul(Expr::sqrt(x.clone()), Expr::sqrt(x.clone())), x.clone()),
            (
                div(n(1), add(a.clone(), div(n(1), b.clone()))),
                div(b.clone(), add(mul(a.clone(), b.clone()), n(1))),
            ),
            (mean(n(1)), n(1)),
            (Expr::sym("x", &["i"]), x.clone()),
        ];
        for (l, r) in cases {
            assert!(!eq(&l, &r), "{} must not equal {}", show(&l), show(&r));
        }
    }

    #[test]
    fn display_reads_naturally() {
        let (a, b, d, x, y) = (s("a"), s("b"), s("d"), s("x"), s("y"));
        let lhs = sub(
            add(u(), add(b.clone(), d.clone())),
            add(mean(u()), add(b, d)),
        );
        assert_eq!(show(&canonical(&lhs).unwrap()), "(u[i] - mean[i](u[i]))");
        let sq = pow(add(a.clone(), Expr::neg(x.clone())), n(2));
        assert_eq!(show(&canonical(&sq).unwrap()), "((a^2 - 2*a*x) + x^2)");
        let e = sub(n(1), mul(n(3), x.clone()));
        assert_eq!(show(&canonical(&e).unwrap()), "(-3*x + 1)");
        let e = div(
            mul(n(2), x.clone()),
            mul(pow(y.clone(), n(2)), add(x.clone(), n(1))),
        );
        assert_eq!(show(&canonical(&e).unwrap()), "2*x/y^2*(x + 1)");
        assert_eq!(show(&canonical(&div(n(1), x.clone())).unwrap()), "1/x");
        assert_eq!(show(&canonical(&Expr::neg(x.clone())).unwrap()), "-x");
        assert_eq!(
            show(&canonical(&pow(x.clone(), Expr::rat(2, 3))).unwrap()),
            "x^1/3^2"
        );
        assert_eq!(show(&canonical(&n(0)).unwrap()), "0");
    }

    #[test]
    fn factored_pulls_out_common_factors() {
        let (a, b, x) = (s("a"), s("b"), s("x"));
        let e = add(
            mul(mul(n(4), x.clone()), a.clone()),
            mul(mul(n(6), x.clone()), b.clone()),
        );
        let f = factored(&e).unwrap().unwrap();
        assert_eq!(show(&f), "2*x*(2*a + 3*b)");
        assert!(eq(&e, &f));
        let e = sub(Expr::neg(a.clone()), b.clone());
        assert_eq!(show(&factored(&e).unwrap().unwrap()), "-(a + b)");
        let e = sub(mul(Expr::rat(-1, 2), a.clone()), b.clone());
        let f = factored(&e).unwrap().unwrap();
        assert_eq!(show(&f), "-1/2*(a + 2*b)");
        assert!(eq(&e, &f));
        assert_eq!(factored(&add(a.clone(), b.clone())).unwrap(), None);
        assert_eq!(factored(&mul(n(3), a.clone())).unwrap(), None);
        assert_eq!(factored(&n(3)).unwrap(), None);
        let e = add(div(x.clone(), b.clone()), div(n(1), b.clone()));
        let f = factored(&e).unwrap().unwrap();
        assert_eq!(show(&f), "1/b*(x + 1)");
        assert!(eq(&e, &f));
    }

    #[test]
    fn limits_are_errors_not_hangs() {
        let (a, b, c, x) = (s("a"), s("b"), s("c"), s("x"));
        assert!(normalize(&pow(x.clone(), n(i64::from(MAX_DEGREE)))).is_ok());
        assert!(normalize(&pow(x.clone(), n(i64::from(MAX_DEGREE) + 1))).is_err());
        assert!(normalize(&pow(add(x.clone(), n(1)), n(257))).is_err());
        let big = pow(add(add(a, b), c), n(200));
        assert!(matches!(normalize(&big), Err(RingError::TooLarge(_))));
        let mut e = x.clone();
        for _ in 0..5 {
            e = pow(e, n(200));
        }
        assert!(normalize(&e).is_err());
        let mut e = n(10);
        for _ in 0..5 {
            e = pow(e, n(250));
        }
        assert!(normalize(&e).is_err());
        assert!(normalize(&pow(
            x.clone(),
            Expr::Num(Rat::new(1.into(), BigInt::from(1u64 << 40)))
        ))
        .is_err());
        assert!(normalize(&pow(add(x, n(1)), n(256))).is_ok());
    }

    #[test]
    fn printed_denominators_read_back() {
        let (a, b, x) = (s("a"), s("b"), s("x"));
        let cases = vec![
            div(
                n(1),
                mul(sub(a.clone(), b.clone()), add(a.clone(), b.clone())),
            ),
            div(
                mul(n(3), x.clone()),
                mul(pow(Expr::sqrt(x.clone()), n(2)), add(x.clone(), n(1))),
            ),
            div(n(1), pow(x.clone(), Expr::rat(1, 3))),
            div(mean(div(n(1), add(u(), b.clone()))), sub(n(2), a.clone())),
            pow(add(x.clone(), n(1)), a.clone()),
        ];
        for e in cases {
            let p = normalize(&e).unwrap();
            let back = to_expr(&p);
            assert_eq!(normalize(&back).unwrap(), p, "{}", show(&back));
        }
    }

    #[test]
    fn poly_accessors() {
        let p = normalize(&add(n(2), n(3))).unwrap();
        assert_eq!(p.constant(), Some(Rat::from_integer(5.into())));
        assert!(normalize(&sub(s("x"), s("x"))).unwrap().is_zero());
        assert_eq!(normalize(&n(0)).unwrap().constant(), Some(Rat::zero()));
        let p = normalize(&add(s("x"), n(1))).unwrap();
        assert_eq!(p.constant(), None);
        assert_eq!(p.terms().count(), 2);
        assert_eq!(
            normalize(&s("x")).unwrap().as_atom(),
            Some(&Atom::Sym(Symbol::new("x", Vec::<String>::new())))
        );
    }

    // ---- property tests ----

    const NAMES: [&str; 3] = ["a", "b", "c"];

    /// Expressions over a, b, c with + - * / and integer powers.
    fn arb_field_expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (0..NAMES.len()).prop_map(|i| s(NAMES[i])),
            (-3i64..=3, 1i64..=3).prop_map(|(p, q)| Expr::rat(p, q)),
        ];
        leaf.prop_recursive(5, 40, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(Expr::neg),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| add(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| sub(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| mul(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| div(a, b)),
                (inner, -3i64..=3).prop_map(|(a, k)| pow(a, n(k))),
            ]
        })
    }

    /// Expressions with every construct the normal form knows.
    fn arb_any_expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (0..NAMES.len()).prop_map(|i| s(NAMES[i])),
            Just(u()),
            Just(Expr::pvar("p")),
            (-4i64..=9, 1i64..=4).prop_map(|(p, q)| Expr::rat(p, q)),
        ];
        leaf.prop_recursive(5, 40, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(Expr::neg),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| add(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| sub(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| mul(a, b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| div(a, b)),
                (inner.clone(), -3i64..=3, 1i64..=4).prop_map(|(a, p, q)| pow(a, Expr::rat(p, q))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| pow(a, b)),
                inner.clone().prop_map(Expr::sqrt),
                inner.clone().prop_map(mean),
                inner.prop_map(|b| Expr::reduce(RedOp::Var, &["i"], b)),
            ]
        })
    }

    /// Exact evaluation of the `+ - * /`, integer-power subset under the
    /// total semantics.
    fn eval(e: &Expr, env: &HashMap<String, Rat>) -> Rat {
        match e {
            Expr::Num(r) => r.clone(),
            Expr::Sym(s) => env[&s.name].clone(),
            Expr::Neg(a) => -eval(a, env),
            Expr::Add(a, b) => eval(a, env) + eval(b, env),
            Expr::Sub(a, b) => eval(a, env) - eval(b, env),
            Expr::Mul(a, b) => eval(a, env) * eval(b, env),
            Expr::Div(a, b) => total_div(&eval(a, env), &eval(b, env)),
            Expr::Pow(a, k) => {
                let k = k.const_value().expect("constant exponent");
                assert!(k.is_integer(), "integer exponent");
                crate::ir::int_pow(&eval(a, env), k.to_integer().to_i64().unwrap()).unwrap()
            }
            other => panic!("outside the test evaluator's subset: {other:?}"),
        }
    }

    fn arb_value() -> impl Strategy<Value = Rat> {
        prop_oneof![
            Just(Rat::zero()),
            (-5i64..=5, 1i64..=4).prop_map(|(p, q)| Rat::new(p.into(), q.into())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn normal_form_round_trips(e in arb_any_expr()) {
            if let Ok(p) = normalize(&e) {
                let back = to_expr(&p);
                prop_assert_eq!(normalize(&back), Ok(p), "printed as {}", show(&back));
                // canonical is idempotent
                prop_assert_eq!(canonical(&back), Ok(back.clone()));
            }
        }

        #[test]
        fn canonical_and_factored_keep_the_value(
            e in arb_field_expr(),
            vals in proptest::collection::vec(arb_value(), 3),
        ) {
            let env: HashMap<String, Rat> =
                NAMES.iter().map(|s| s.to_string()).zip(vals).collect();
            let v = eval(&e, &env);
            if let Ok(c) = canonical(&e) {
                prop_assert_eq!(&eval(&c, &env), &v, "canonical {}", show(&c));
                if let Some(f) = factored(&e).unwrap() {
                    prop_assert_eq!(&eval(&f, &env), &v, "factored {}", show(&f));
                    prop_assert!(ring_eq(&f, &e).unwrap());
                }
            }
        }
    }
}

//! The named-axis expression IR shared by every part of bnproof.
//!
//! An [`Expr`] is a plain tree. Symbols carry the (sorted) axes along which
//! they vary; reductions bind a non-empty sorted set of axes. Exponents are
//! expressions too, but well-formed trees only put *constant* expressions
//! there (see [`Expr::const_value`]). Pattern variables (`?a`) and axis
//! variables (`?i`) appear only in rule patterns.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::BTreeSet;

/// Exact rational numbers.
pub type Rat = BigRational;

/// A symbol: a name and the axes along which it varies (sorted, no repeats).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    pub name: String,
    pub axes: Vec<String>,
}

impl Symbol {
    /// A symbol whose axes are sorted and deduplicated.
    pub fn new(name: impl Into<String>, axes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut axes: Vec<String> = axes.into_iter().map(Into::into).collect();
        axes.sort();
        axes.dedup();
        Symbol {
            name: name.into(),
            axes,
        }
    }
}

/// The three reductions of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RedOp {
    Mean,
    Sum,
    /// Biased variance: `var[i](e) = mean[i]((e - mean[i](e))^2)`.
    Var,
}

impl RedOp {
    pub fn keyword(self) -> &'static str {
        match self {
            RedOp::Mean => "mean",
            RedOp::Sum => "sum",
            RedOp::Var => "var",
        }
    }
}

/// The functions of the language besides `sqrt`: `exp`, `log` (`log x =
/// log |x|`, `log 0 = 0`, as mathlib's `Real.log`), `abs`, `max`, `min` and
/// the stop-gradient `detach` (the value of its argument, derivative 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fun {
    Exp,
    Log,
    Abs,
    Max,
    Min,
    Detach,
}

impl Fun {
    pub const ALL: [Fun; 6] = [
        Fun::Exp,
        Fun::Log,
        Fun::Abs,
        Fun::Max,
        Fun::Min,
        Fun::Detach,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Fun::Exp => "exp",
            Fun::Log => "log",
            Fun::Abs => "abs",
            Fun::Max => "max",
            Fun::Min => "min",
            Fun::Detach => "detach",
        }
    }

    /// The function named `name`, if any.
    pub fn from_keyword(name: &str) -> Option<Fun> {
        Fun::ALL.into_iter().find(|f| f.keyword() == name)
    }

    /// Number of arguments: 2 for `max` and `min`, 1 otherwise.
    pub fn arity(self) -> usize {
        match self {
            Fun::Max | Fun::Min => 2,
            _ => 1,
        }
    }
}

/// An expression over named axes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    Num(Rat),
    Sym(Symbol),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    /// `base ^ exponent`; the exponent is a constant expression.
    Pow(Box<Expr>, Box<Expr>),
    Sqrt(Box<Expr>),
    /// `op[axes](body)`; `axes` sorted, non-empty, no repeats. In patterns an
    /// axis list may be the single axis variable `?i`, which binds a whole set.
    Reduce(RedOp, Vec<String>, Box<Expr>),
    /// `f(args)`; `args.len() == f.arity()`.
    App(Fun, Vec<Expr>),
    /// Pattern variable `?a` (rule patterns only).
    PVar(String),
}

/// Relation of an assumption `e > 0`, `e >= 0`, `e != 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rel {
    Gt,
    Ge,
    Ne,
}

impl Rel {
    pub fn as_str(self) -> &'static str {
        match self {
            Rel::Gt => ">",
            Rel::Ge => ">=",
            Rel::Ne => "!=",
        }
    }
}

/// An assumption `expr REL 0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assumption {
    pub expr: Expr,
    pub rel: Rel,
}

/// A statement `lhs = rhs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Statement {
    pub lhs: Expr,
    pub rhs: Expr,
}

/// A path of child indices from the root to a subterm.
pub type Path = Vec<usize>;

#[allow(clippy::should_implement_trait)] // named constructors, not operator impls
impl Expr {
    pub fn num(n: i64) -> Expr {
        Expr::Num(Rat::from_integer(BigInt::from(n)))
    }
    pub fn rat(p: i64, q: i64) -> Expr {
        Expr::Num(Rat::new(BigInt::from(p), BigInt::from(q)))
    }
    pub fn sym(name: &str, axes: &[&str]) -> Expr {
        Expr::Sym(Symbol::new(name, axes.iter().copied()))
    }
    pub fn pvar(name: &str) -> Expr {
        Expr::PVar(name.to_string())
    }
    pub fn neg(a: Expr) -> Expr {
        Expr::Neg(Box::new(a))
    }
    pub fn add(a: Expr, b: Expr) -> Expr {
        Expr::Add(Box::new(a), Box::new(b))
    }
    pub fn sub(a: Expr, b: Expr) -> Expr {
        Expr::Sub(Box::new(a), Box::new(b))
    }
    pub fn mul(a: Expr, b: Expr) -> Expr {
        Expr::Mul(Box::new(a), Box::new(b))
    }
    pub fn div(a: Expr, b: Expr) -> Expr {
        Expr::Div(Box::new(a), Box::new(b))
    }
    pub fn pow(a: Expr, b: Expr) -> Expr {
        Expr::Pow(Box::new(a), Box::new(b))
    }
    pub fn sqrt(a: Expr) -> Expr {
        Expr::Sqrt(Box::new(a))
    }
    /// `f(args)`; the caller passes `f.arity()` arguments.
    pub fn app(f: Fun, args: Vec<Expr>) -> Expr {
        debug_assert_eq!(args.len(), f.arity());
        Expr::App(f, args)
    }
    pub fn exp(a: Expr) -> Expr {
        Expr::App(Fun::Exp, vec![a])
    }
    pub fn log(a: Expr) -> Expr {
        Expr::App(Fun::Log, vec![a])
    }
    pub fn abs(a: Expr) -> Expr {
        Expr::App(Fun::Abs, vec![a])
    }
    pub fn max(a: Expr, b: Expr) -> Expr {
        Expr::App(Fun::Max, vec![a, b])
    }
    pub fn min(a: Expr, b: Expr) -> Expr {
        Expr::App(Fun::Min, vec![a, b])
    }
    pub fn detach(a: Expr) -> Expr {
        Expr::App(Fun::Detach, vec![a])
    }
    /// A reduction; the axes are sorted and deduplicated here.
    pub fn reduce(op: RedOp, axes: &[&str], body: Expr) -> Expr {
        let mut axes: Vec<String> = axes.iter().map(|s| s.to_string()).collect();
        axes.sort();
        axes.dedup();
        Expr::Reduce(op, axes, Box::new(body))
    }

    /// The children, in path order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Num(_) | Expr::Sym(_) | Expr::PVar(_) => vec![],
            Expr::Neg(a) | Expr::Sqrt(a) | Expr::Reduce(_, _, a) => vec![a],
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b) => vec![a, b],
            Expr::App(_, args) => args.iter().collect(),
        }
    }

    fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Num(_) | Expr::Sym(_) | Expr::PVar(_) => vec![],
            Expr::Neg(a) | Expr::Sqrt(a) | Expr::Reduce(_, _, a) => vec![a],
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b) => vec![a, b],
            Expr::App(_, args) => args.iter_mut().collect(),
        }
    }

    /// A copy with every child replaced by `f(child)`, in path order.
    pub fn map_children(&self, mut f: impl FnMut(&Expr) -> Expr) -> Expr {
        let mut out = self.clone();
        for c in out.children_mut() {
            *c = f(c);
        }
        out
    }

    /// The subterm at `path`, if the path exists.
    pub fn at(&self, path: &[usize]) -> Option<&Expr> {
        let mut e = self;
        for &i in path {
            e = *e.children().get(i)?;
        }
        Some(e)
    }

    /// A copy with the subterm at `path` replaced, if the path exists.
    pub fn replace_at(&self, path: &[usize], new: Expr) -> Option<Expr> {
        let mut out = self.clone();
        {
            let mut e = &mut out;
            for &i in path {
                e = e.children_mut().into_iter().nth(i)?;
            }
            *e = new;
        }
        Some(out)
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        1 + self.children().iter().map(|c| c.size()).sum::<usize>()
    }

    /// Height of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        1 + self.children().iter().map(|c| c.depth()).max().unwrap_or(0)
    }

    /// Nesting as the parser counts it: a chain `a + b - c + …` or
    /// `a * b / c * …` (a left-leaning tree) is one level above its deepest
    /// operand, however long it is. Walks the chain's spine in a loop, so
    /// only real nesting recurses.
    pub fn nesting(&self) -> usize {
        let additive = |e: &Expr| matches!(e, Expr::Add(..) | Expr::Sub(..));
        let multiplicative = |e: &Expr| matches!(e, Expr::Mul(..) | Expr::Div(..));
        let same: &dyn Fn(&Expr) -> bool = if additive(self) {
            &additive
        } else if multiplicative(self) {
            &multiplicative
        } else {
            return 1 + self
                .children()
                .iter()
                .map(|c| c.nesting())
                .max()
                .unwrap_or(0);
        };
        let mut deepest = 0;
        let mut e = self;
        while same(e) {
            let (Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b)) = e else {
                unreachable!("same() matched a binary operator")
            };
            deepest = deepest.max(b.nesting());
            e = a;
        }
        1 + deepest.max(e.nesting())
    }

    /// Axes along which the expression varies syntactically (free axes).
    pub fn free_axes(&self) -> BTreeSet<String> {
        match self {
            Expr::Num(_) | Expr::PVar(_) => BTreeSet::new(),
            Expr::Sym(s) => s.axes.iter().cloned().collect(),
            Expr::Reduce(_, axes, body) => {
                let mut f = body.free_axes();
                for a in axes {
                    f.remove(a);
                }
                f
            }
            _ => {
                let mut f = BTreeSet::new();
                for c in self.children() {
                    f.extend(c.free_axes());
                }
                f
            }
        }
    }

    /// Every symbol occurring in the expression.
    pub fn symbols(&self, out: &mut BTreeSet<Symbol>) {
        if let Expr::Sym(s) = self {
            out.insert(s.clone());
        }
        for c in self.children() {
            c.symbols(out);
        }
    }

    /// Every axis name occurring (free, bound, or on a symbol).
    pub fn all_axes(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Sym(s) => out.extend(s.axes.iter().cloned()),
            Expr::Reduce(_, axes, _) => out.extend(axes.iter().cloned()),
            _ => {}
        }
        for c in self.children() {
            c.all_axes(out);
        }
    }

    /// True when the expression contains no pattern variables.
    pub fn is_ground(&self) -> bool {
        match self {
            Expr::PVar(_) => false,
            Expr::Reduce(_, axes, b) => !axes.iter().any(|a| a.starts_with('?')) && b.is_ground(),
            _ => self.children().iter().all(|c| c.is_ground()),
        }
    }

    /// The exact value of a closed constant expression built from numbers
    /// with `+ - * /` and integer powers, under the total semantics
    /// (`x/0 = 0`, `0^-n = 0`). `None` when the expression mentions a symbol,
    /// a reduction, a square root, or a non-integer power.
    pub fn const_value(&self) -> Option<Rat> {
        Some(match self {
            Expr::Num(r) => r.clone(),
            Expr::Neg(a) => -a.const_value()?,
            Expr::Add(a, b) => a.const_value()? + b.const_value()?,
            Expr::Sub(a, b) => a.const_value()? - b.const_value()?,
            Expr::Mul(a, b) => a.const_value()? * b.const_value()?,
            Expr::Div(a, b) => total_div(&a.const_value()?, &b.const_value()?),
            Expr::Pow(a, b) => {
                let base = a.const_value()?;
                let e = b.const_value()?;
                if !e.is_integer() {
                    return None;
                }
                int_pow_big(&base, &e.to_integer())?
            }
            _ => return None,
        })
    }
}

/// `a / b` with `a / 0 = 0`.
pub fn total_div(a: &Rat, b: &Rat) -> Rat {
    if b.is_zero() {
        Rat::zero()
    } else {
        a / b
    }
}

/// Largest absolute integer exponent the numeric oracles and the evaluator's
/// interval arithmetic take; larger ones are refused so that evaluation never
/// runs out of memory. (Exact constant folding, [`int_pow`], is bounded by the
/// size of its result instead.)
pub const MAX_EXPONENT: i64 = 4096;

/// Largest result, in bits of the numerator and of the denominator, that
/// constant folding computes (`2^99999` folds, `2^100000` does not): bigger
/// powers stay unevaluated (and the search never spends its time on them).
pub const MAX_POW_BITS: u64 = 100_000;

/// `base ^ e` for an integer `e` under the total semantics (`0^-n = 0`).
/// `None` when the numerator or denominator of the result would exceed
/// [`MAX_POW_BITS`] bits (never for the bases 0, 1 and -1).
pub fn int_pow(base: &Rat, e: i64) -> Option<Rat> {
    int_pow_big(base, &BigInt::from(e))
}

/// [`int_pow`] for an exponent of any size: the bases 0, 1 and -1 take any
/// exponent (`(-1)^(10^100) = 1`, `0^(10^100) = 0`); other bases fold while
/// the result stays within [`MAX_POW_BITS`] bits.
pub fn int_pow_big(base: &Rat, e: &BigInt) -> Option<Rat> {
    use num_integer::Integer;
    if base.is_zero() {
        return Some(if e.is_zero() { Rat::one() } else { Rat::zero() });
    }
    if base.abs().is_one() {
        let neg = base.is_negative() && e.is_odd();
        return Some(if neg { -Rat::one() } else { Rat::one() });
    }
    let n = e.abs().to_u64()?;
    // |base| != 1, so the numerator or the denominator has at least 2 bits
    // and grows by at least (bits - 1) per factor: refuse before computing
    // anything far too large, compute at most about twice the limit, and
    // check the exact size afterwards.
    let (nb, db) = (base.numer().bits(), base.denom().bits());
    let lower = |bits: u64| bits.saturating_sub(1).saturating_mul(n);
    if lower(nb) > MAX_POW_BITS || lower(db) > MAX_POW_BITS {
        return None;
    }
    let p = num_traits::pow(base.clone(), usize::try_from(n).ok()?);
    if p.numer().bits() > MAX_POW_BITS || p.denom().bits() > MAX_POW_BITS {
        return None;
    }
    Some(if e.is_negative() { p.recip() } else { p })
}

/// Names rendered as Greek letters by the renderers.
pub fn greek(name: &str) -> Option<&'static str> {
    Some(match name {
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "epsilon" | "eps" => "ε",
        "mu" => "μ",
        "sigma" => "σ",
        "lambda" => "λ",
        "theta" => "θ",
        "tau" => "τ",
        "rho" => "ρ",
        "phi" => "φ",
        "psi" => "ψ",
        "omega" => "ω",
        "Delta" => "Δ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_address_subterms() {
        let e = Expr::add(
            Expr::sym("x", &["i"]),
            Expr::mul(Expr::num(2), Expr::sym("y", &[])),
        );
        assert_eq!(e.at(&[1, 0]), Some(&Expr::num(2)));
        assert_eq!(e.at(&[2]), None);
        let r = e.replace_at(&[1, 0], Expr::num(3)).unwrap();
        assert_eq!(r.at(&[1, 0]), Some(&Expr::num(3)));
        assert_eq!(e.replace_at(&[0, 0], Expr::num(1)), None);
    }

    #[test]
    fn free_axes_drop_bound_ones() {
        let e = Expr::sub(
            Expr::sym("x", &["i", "j"]),
            Expr::reduce(RedOp::Mean, &["i"], Expr::sym("x", &["j", "i"])),
        );
        assert_eq!(
            e.free_axes().into_iter().collect::<Vec<_>>(),
            vec!["i", "j"]
        );
        assert_eq!(
            e.children()[1].free_axes().into_iter().collect::<Vec<_>>(),
            vec!["j"]
        );
    }

    #[test]
    fn constants_follow_total_semantics() {
        assert_eq!(
            Expr::div(Expr::num(1), Expr::num(0)).const_value(),
            Some(Rat::zero())
        );
        assert_eq!(
            Expr::pow(Expr::num(0), Expr::num(-1)).const_value(),
            Some(Rat::zero())
        );
        assert_eq!(Expr::pow(Expr::num(2), Expr::rat(1, 2)).const_value(), None);
        assert_eq!(
            Expr::pow(Expr::num(2), Expr::num(-2)).const_value(),
            Some(Rat::new(1.into(), 4.into()))
        );
        assert_eq!(
            Expr::pow(Expr::num(2), Expr::num(1 << 40)).const_value(),
            None
        );
        // bases 0, 1, -1 take any exponent; others fold below 10^5 bits
        let googol = Expr::pow(Expr::num(10), Expr::num(100));
        assert_eq!(
            Expr::pow(Expr::num(-1), googol.clone()).const_value(),
            Some(Rat::one())
        );
        assert_eq!(
            Expr::pow(Expr::num(0), googol.clone()).const_value(),
            Some(Rat::zero())
        );
        assert_eq!(
            Expr::pow(Expr::num(-1), Expr::add(googol, Expr::num(1))).const_value(),
            Some(-Rat::one())
        );
        let big = int_pow(&Rat::from_integer(2.into()), 99_999).unwrap();
        assert_eq!(big.numer().bits(), 100_000);
        assert_eq!(int_pow(&Rat::from_integer(2.into()), 100_000), None);
        assert_eq!(int_pow(&Rat::new(1.into(), 2.into()), -99_999), Some(big));
    }
}

//! Rewrite rules as data, grouped by theory.
//!
//! Every rule is an equation `lhs = rhs` between patterns, valid under the
//! total semantics of SPEC.md whenever its side conditions hold. The same
//! table feeds the e-graph prover (which may apply a rule in the directions
//! [`Rule::search`] allows) and the kernel (which accepts a step in either
//! direction once it has re-established the conditions itself). Each rule is
//! validated by a property test that evaluates both sides on random exact
//! inputs (`tests/it/rules.rs`).

use crate::ir::{Expr, Path};
use crate::syntax;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The theory a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Theory {
    Ring,
    Field,
    Power,
    Reduction,
    Variance,
    ExpLog,
    AbsMax,
}

impl Theory {
    pub fn name(self) -> &'static str {
        match self {
            Theory::Ring => "ring",
            Theory::Field => "field",
            Theory::Power => "power/sqrt",
            Theory::Reduction => "mean/sum",
            Theory::Variance => "variance",
            Theory::ExpLog => "exp/log",
            Theory::AbsMax => "abs/max/min",
        }
    }
}

/// A side condition on the instantiation of a rule's variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// The expression bound to the variable is provably `> 0`.
    Pos(&'static str),
    /// ... provably `>= 0`.
    NonNeg(&'static str),
    /// ... provably `!= 0`.
    NonZero(&'static str),
    /// The expression bound to the first variable does not vary along the
    /// axes bound to the axis variable (second).
    Indep(&'static str, &'static str),
    /// The expression bound to the variable is a constant (a number).
    Const(&'static str),
    /// ... an integer constant.
    Int(&'static str),
    /// The first bound expression minus the second is provably `>= 0`.
    Ge(&'static str, &'static str),
}

impl Cond {
    pub fn describe(&self) -> String {
        match self {
            Cond::Pos(v) => format!("?{v} > 0"),
            Cond::NonNeg(v) => format!("?{v} >= 0"),
            Cond::NonZero(v) => format!("?{v} != 0"),
            Cond::Indep(v, i) => format!("?{v} does not vary along ?{i}"),
            Cond::Const(v) => format!("?{v} is a constant"),
            Cond::Int(v) => format!("?{v} is an integer constant"),
            Cond::Ge(a, b) => format!("?{a} >= ?{b}"),
        }
    }
}

/// In which directions the prover may apply a rule. The kernel accepts every
/// rule in both directions (an equation is symmetric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    Forward,
    Both,
    /// Not used by the prover (the ring normal form covers it); kept so the
    /// table documents the theory and the kernel accepts it as a named step.
    Off,
}

/// A named rewrite rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub theory: Theory,
    pub lhs: Expr,
    pub rhs: Expr,
    pub conds: Vec<Cond>,
    pub why: &'static str,
    pub search: Search,
}

/// What a pattern variable is bound to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Binding {
    Expr(Expr),
    Axes(Vec<String>),
}

/// A substitution from variable names (without `?`) to bindings.
pub type Subst = BTreeMap<String, Binding>;

struct Spec {
    name: &'static str,
    theory: Theory,
    lhs: &'static str,
    rhs: &'static str,
    conds: &'static [Cond],
    why: &'static str,
    search: Search,
}

use Cond::*;
use Search::*;
use Theory::*;

macro_rules! rules {
    ($( $name:literal [$th:ident, $dir:ident] : $lhs:literal => $rhs:literal $(if [$($c:expr),*])? ; $why:literal )*) => {
        &[ $( Spec { name: $name, theory: $th, lhs: $lhs, rhs: $rhs,
                     conds: &[$($($c),*)?], why: $why, search: $dir } ),* ]
    };
}

/// The rule table. One line per rule: name, theory, direction the prover
/// uses, the equation, its side conditions, and why it holds.
const SPECS: &[Spec] = rules! {
    // ring: all of these are also ring steps; the prover uses them to move
    // between orderings, the kernel checks ring steps by normal forms.
    "add-comm"      [Ring, Forward]: "?a + ?b" => "?b + ?a"; "addition is commutative"
    "mul-comm"      [Ring, Forward]: "?a * ?b" => "?b * ?a"; "multiplication is commutative"
    "add-assoc"     [Ring, Off]: "?a + (?b + ?c)" => "(?a + ?b) + ?c"; "addition is associative"
    "mul-assoc"     [Ring, Off]: "?a * (?b * ?c)" => "(?a * ?b) * ?c"; "multiplication is associative"
    "distrib"       [Ring, Off]: "?a * (?b + ?c)" => "?a * ?b + ?a * ?c"; "multiplication distributes over addition"
    "sub-def"       [Ring, Off]: "?a - ?b" => "?a + -?b"; "subtracting is adding the negation"
    // field: cancellation needs a non-zero factor, since x/0 = 0
    "div-self"      [Field, Forward]: "?a / ?a" => "1" if [NonZero("a")]; "a non-zero number divided by itself is 1"
    "mul-div-cancel" [Field, Forward]: "(?a * ?b) / (?a * ?c)" => "?b / ?c" if [NonZero("a")]; "a common non-zero factor cancels"
    "mul-div-cancel-left" [Field, Forward]: "(?a * ?b) / ?a" => "?b" if [NonZero("a")]; "a non-zero factor cancels against the denominator"
    "div-mul-cancel" [Field, Forward]: "?a / (?a * ?c)" => "1 / ?c" if [NonZero("a")]; "a non-zero numerator cancels against a factor of the denominator"
    "mul-inv-cancel" [Field, Forward]: "?a * (1 / ?a)" => "1" if [NonZero("a")]; "a non-zero number times its inverse is 1"
    // powers and square roots: sign conditions, since sqrt of a negative is 0
    "sqrt-sq"       [Power, Forward]: "sqrt(?a^2)" => "?a" if [NonNeg("a")]; "the square root of a square of a non-negative number is the number"
    "sq-sqrt"       [Power, Forward]: "sqrt(?a)^2" => "?a" if [NonNeg("a")]; "squaring the square root of a non-negative number gives it back"
    "sqrt-mul"      [Power, Forward]: "sqrt(?a * ?b)" => "sqrt(?a) * sqrt(?b)" if [NonNeg("a")]; "the square root of a product with a non-negative factor splits"
    "sqrt-mul-r"    [Power, Forward]: "sqrt(?a * ?b)" => "sqrt(?a) * sqrt(?b)" if [NonNeg("b")]; "the square root of a product with a non-negative factor splits"
    "sqrt-div"      [Power, Forward]: "sqrt(?a / ?b)" => "sqrt(?a) / sqrt(?b)" if [NonNeg("b")]; "the square root of a quotient with a non-negative denominator splits"
    "pow-pow"       [Power, Forward]: "(?a^?p)^?q" => "?a^(?p * ?q)" if [NonNeg("a"), Const("p"), Const("q")]; "powers of a non-negative base multiply their exponents"
    "pow-mul"       [Power, Forward]: "(?a * ?b)^?p" => "?a^?p * ?b^?p" if [NonNeg("a"), NonNeg("b"), Const("p")]; "a power of a product of non-negative numbers splits"
    // mean and sum: linearity, constants, and the axis size
    "mean-add"      [Reduction, Forward]: "mean[?i](?a + ?b)" => "mean[?i](?a) + mean[?i](?b)"; "the mean of a sum is the sum of the means"
    "mean-sub"      [Reduction, Forward]: "mean[?i](?a - ?b)" => "mean[?i](?a) - mean[?i](?b)"; "the mean of a difference is the difference of the means"
    "mean-neg"      [Reduction, Forward]: "mean[?i](-?a)" => "-mean[?i](?a)"; "the mean of a negation is the negated mean"
    "mean-const"    [Reduction, Forward]: "mean[?i](?c)" => "?c" if [Indep("c", "i")]; "the mean of something that is the same for every example is that thing"
    "mean-mul-left" [Reduction, Forward]: "mean[?i](?c * ?a)" => "?c * mean[?i](?a)" if [Indep("c", "i")]; "a factor that is the same for every example comes out of the mean"
    "mean-mul-right" [Reduction, Forward]: "mean[?i](?a * ?c)" => "mean[?i](?a) * ?c" if [Indep("c", "i")]; "a factor that is the same for every example comes out of the mean"
    "mean-div"      [Reduction, Forward]: "mean[?i](?a / ?c)" => "mean[?i](?a) / ?c" if [Indep("c", "i")]; "a divisor that is the same for every example comes out of the mean"
    "sum-add"       [Reduction, Forward]: "sum[?i](?a + ?b)" => "sum[?i](?a) + sum[?i](?b)"; "the sum of a sum is the sum of the sums"
    "sum-sub"       [Reduction, Forward]: "sum[?i](?a - ?b)" => "sum[?i](?a) - sum[?i](?b)"; "the sum of a difference is the difference of the sums"
    "sum-neg"       [Reduction, Forward]: "sum[?i](-?a)" => "-sum[?i](?a)"; "the sum of a negation is the negated sum"
    "sum-const"     [Reduction, Forward]: "sum[?i](?c)" => "sum[?i](1) * ?c" if [Indep("c", "i")]; "summing something the same for every example multiplies it by the count"
    "sum-mul-left"  [Reduction, Forward]: "sum[?i](?c * ?a)" => "?c * sum[?i](?a)" if [Indep("c", "i")]; "a factor that is the same for every example comes out of the sum"
    "sum-mul-right" [Reduction, Forward]: "sum[?i](?a * ?c)" => "sum[?i](?a) * ?c" if [Indep("c", "i")]; "a factor that is the same for every example comes out of the sum"
    "sum-div"       [Reduction, Forward]: "sum[?i](?a / ?c)" => "sum[?i](?a) / ?c" if [Indep("c", "i")]; "a divisor that is the same for every example comes out of the sum"
    "sum-mean"      [Reduction, Forward]: "sum[?i](?a)" => "sum[?i](1) * mean[?i](?a)"; "a sum is the count times the mean"
    // variance
    "var-def"       [Variance, Forward]: "var[?i](?a)" => "mean[?i]((?a - mean[?i](?a))^2)"; "the (biased) variance is the mean squared deviation from the mean"
    // exp and log, with log x = log |x| and log 0 = 0 (mathlib): log
    // splits a product only of non-zero factors (log (0 * b) = 0).
    "exp-zero"      [ExpLog, Forward]: "exp(0)" => "1"; "e to the power 0 is 1"
    "exp-add"       [ExpLog, Forward]: "exp(?a + ?b)" => "exp(?a) * exp(?b)"; "the exponential of a sum is the product of the exponentials"
    "exp-sub"       [ExpLog, Forward]: "exp(?a - ?b)" => "exp(?a) / exp(?b)"; "the exponential of a difference is the quotient of the exponentials"
    "exp-neg"       [ExpLog, Forward]: "exp(-?a)" => "1 / exp(?a)"; "the exponential of a negation is the reciprocal of the exponential"
    "log-zero"      [ExpLog, Forward]: "log(0)" => "0"; "log 0 = 0 by convention (as mathlib's Real.log)"
    "log-one"       [ExpLog, Forward]: "log(1)" => "0"; "the logarithm of 1 is 0"
    "log-exp"       [ExpLog, Forward]: "log(exp(?a))" => "?a"; "the logarithm undoes the exponential"
    "exp-log"       [ExpLog, Forward]: "exp(log(?a))" => "?a" if [Pos("a")]; "the exponential undoes the logarithm of a positive number"
    "exp-log-abs"   [ExpLog, Forward]: "exp(log(?a))" => "abs(?a)" if [NonZero("a")]; "log reads |a|, so the exponential of the logarithm of a non-zero number is its absolute value"
    "log-mul"       [ExpLog, Forward]: "log(?a * ?b)" => "log(?a) + log(?b)" if [NonZero("a"), NonZero("b")]; "the logarithm of a product of non-zero numbers is the sum of the logarithms"
    "log-div"       [ExpLog, Forward]: "log(?a / ?b)" => "log(?a) - log(?b)" if [NonZero("a"), NonZero("b")]; "the logarithm of a quotient of non-zero numbers is the difference of the logarithms"
    "log-inv"       [ExpLog, Forward]: "log(1 / ?a)" => "-log(?a)"; "log |1/a| = -log |a| (both 0 at a = 0, since 1/0 = 0)"
    "log-neg"       [ExpLog, Forward]: "log(-?a)" => "log(?a)"; "the logarithm reads the absolute value"
    "log-abs"       [ExpLog, Forward]: "log(abs(?a))" => "log(?a)"; "the logarithm reads the absolute value"
    "log-pow"       [ExpLog, Forward]: "log(?a^?n)" => "?n * log(?a)" if [Int("n")]; "log |a^n| = n log |a| for an integer n (both 0 at a = 0, as 0^n is 0 or 1)"
    "log-rpow"      [ExpLog, Forward]: "log(?a^?p)" => "?p * log(?a)" if [NonNeg("a"), Const("p")]; "log a^p = p log a for a non-negative base (both 0 at a = 0)"
    "log-sqrt"      [ExpLog, Forward]: "log(sqrt(?a))" => "log(?a) / 2" if [NonNeg("a")]; "the logarithm of a square root of a non-negative number is half its logarithm"
    // abs, max and min
    "abs-neg"       [AbsMax, Forward]: "abs(-?a)" => "abs(?a)"; "a number and its negation have the same absolute value"
    "abs-sub"       [AbsMax, Forward]: "abs(?a - ?b)" => "abs(?b - ?a)"; "a - b and b - a have the same absolute value"
    "abs-mul"       [AbsMax, Forward]: "abs(?a * ?b)" => "abs(?a) * abs(?b)"; "the absolute value of a product is the product of the absolute values"
    "abs-div"       [AbsMax, Forward]: "abs(?a / ?b)" => "abs(?a) / abs(?b)"; "the absolute value of a quotient is the quotient of the absolute values (both 0 when b = 0)"
    "abs-abs"       [AbsMax, Forward]: "abs(abs(?a))" => "abs(?a)"; "an absolute value is its own absolute value"
    "abs-nonneg"    [AbsMax, Forward]: "abs(?a)" => "?a" if [NonNeg("a")]; "a non-negative number is its own absolute value"
    "abs-sq"        [AbsMax, Forward]: "abs(?a)^2" => "?a^2"; "squaring forgets the sign"
    "sqrt-sq-abs"   [AbsMax, Forward]: "sqrt(?a^2)" => "abs(?a)"; "the square root of a square is the absolute value"
    "max-comm"      [AbsMax, Forward]: "max(?a, ?b)" => "max(?b, ?a)"; "max is symmetric"
    "min-comm"      [AbsMax, Forward]: "min(?a, ?b)" => "min(?b, ?a)"; "min is symmetric"
    "max-self"      [AbsMax, Forward]: "max(?a, ?a)" => "?a"; "the larger of a number and itself is the number"
    "min-self"      [AbsMax, Forward]: "min(?a, ?a)" => "?a"; "the smaller of a number and itself is the number"
    "max-min-sum"   [AbsMax, Forward]: "max(?a, ?b) + min(?a, ?b)" => "?a + ?b"; "the larger and the smaller of two numbers are the two numbers"
    "max-ge"        [AbsMax, Forward]: "max(?a, ?b)" => "?a" if [Ge("a", "b")]; "the larger of two numbers is the one that is at least the other"
    "min-le"        [AbsMax, Forward]: "min(?a, ?b)" => "?a" if [Ge("b", "a")]; "the smaller of two numbers is the one that is at most the other"
    "max-neg"       [AbsMax, Forward]: "max(-?a, -?b)" => "-min(?a, ?b)"; "negation swaps max and min"
    "min-neg"       [AbsMax, Forward]: "min(-?a, -?b)" => "-max(?a, ?b)"; "negation swaps min and max"
    "max-add"       [AbsMax, Forward]: "max(?a + ?c, ?b + ?c)" => "max(?a, ?b) + ?c"; "adding the same number to both does not change which is larger"
    "min-add"       [AbsMax, Forward]: "min(?a + ?c, ?b + ?c)" => "min(?a, ?b) + ?c"; "adding the same number to both does not change which is smaller"
};

static RULES: OnceLock<Vec<Rule>> = OnceLock::new();

/// Every rule, in table order.
pub fn all() -> &'static [Rule] {
    RULES.get_or_init(|| {
        SPECS
            .iter()
            .map(|s| {
                let parse = |src: &str| {
                    syntax::parse_pattern(src)
                        .unwrap_or_else(|e| panic!("rule {}: bad pattern {src:?}: {e}", s.name))
                };
                Rule {
                    name: s.name,
                    theory: s.theory,
                    lhs: parse(s.lhs),
                    rhs: parse(s.rhs),
                    conds: s.conds.to_vec(),
                    why: s.why,
                    search: s.search,
                }
            })
            .collect()
    })
}

/// The rule with this name.
pub fn get(name: &str) -> Option<&'static Rule> {
    all().iter().find(|r| r.name == name)
}

/// Steps checked by comparing normal forms rather than by matching one rule
/// ([`crate::ring`]): name and what the kernel compares.
pub const NORMAL_FORM_STEPS: &[(&str, &str)] = &[
    ("ring", "both sides have the same normal form as polynomials over opaque atoms (mean, sum, var, sqrt, 1/…)"),
    ("linear", "both sides agree as polynomials once every mean/sum/var is expanded by linearity, constants taken out (sum = count × mean, var = mean of squared deviations)"),
    ("field", "as `linear`, also cancelling a·(1/a) for factors a the kernel proves non-zero"),
];

/// The justification of a normal-form step, if `name` is one.
pub fn normal_form_step(name: &str) -> Option<&'static str> {
    NORMAL_FORM_STEPS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Rules the prover applies as ring reasoning: in proofs they collapse into
/// one `ring` step that the kernel checks by normal forms.
pub fn is_ring_like(name: &str) -> bool {
    name == "ring" || get(name).is_some_and(|r| r.theory == Theory::Ring)
}

/// Match `pat` against `e`, extending `subst`. Purely syntactic.
pub fn match_pattern(pat: &Expr, e: &Expr, subst: &mut Subst) -> bool {
    match (pat, e) {
        (Expr::PVar(v), _) => bind(subst, v, Binding::Expr(e.clone())),
        (Expr::Reduce(op1, ax1, b1), Expr::Reduce(op2, ax2, b2)) => {
            if op1 != op2 {
                return false;
            }
            let axes_ok = match ax1.as_slice() {
                [v] if v.starts_with('?') => bind(subst, &v[1..], Binding::Axes(ax2.clone())),
                _ => ax1 == ax2,
            };
            axes_ok && match_pattern(b1, b2, subst)
        }
        (Expr::Num(a), Expr::Num(b)) => a == b,
        (Expr::Sym(a), Expr::Sym(b)) => a == b,
        (Expr::Neg(a), Expr::Neg(b)) | (Expr::Sqrt(a), Expr::Sqrt(b)) => match_pattern(a, b, subst),
        (Expr::App(f, xs), Expr::App(g, ys)) => {
            f == g
                && xs.len() == ys.len()
                && xs.iter().zip(ys).all(|(x, y)| match_pattern(x, y, subst))
        }
        (Expr::Add(a1, a2), Expr::Add(b1, b2))
        | (Expr::Sub(a1, a2), Expr::Sub(b1, b2))
        | (Expr::Mul(a1, a2), Expr::Mul(b1, b2))
        | (Expr::Div(a1, a2), Expr::Div(b1, b2))
        | (Expr::Pow(a1, a2), Expr::Pow(b1, b2)) => {
            match_pattern(a1, b1, subst) && match_pattern(a2, b2, subst)
        }
        _ => false,
    }
}

fn bind(subst: &mut Subst, var: &str, b: Binding) -> bool {
    match subst.get(var) {
        Some(old) => *old == b,
        None => {
            subst.insert(var.to_string(), b);
            true
        }
    }
}

/// Instantiate a pattern; `None` when a variable is unbound or bound to the
/// wrong kind of thing.
pub fn instantiate(pat: &Expr, subst: &Subst) -> Option<Expr> {
    Some(match pat {
        Expr::PVar(v) => match subst.get(v.as_str())? {
            Binding::Expr(e) => e.clone(),
            Binding::Axes(_) => return None,
        },
        Expr::Reduce(op, axes, body) => {
            let axes = match axes.as_slice() {
                [v] if v.starts_with('?') => match subst.get(&v[1..])? {
                    Binding::Axes(a) => a.clone(),
                    Binding::Expr(_) => return None,
                },
                _ => axes.clone(),
            };
            Expr::Reduce(*op, axes, Box::new(instantiate(body, subst)?))
        }
        Expr::Num(_) | Expr::Sym(_) => pat.clone(),
        Expr::Neg(a) => Expr::neg(instantiate(a, subst)?),
        Expr::Sqrt(a) => Expr::sqrt(instantiate(a, subst)?),
        Expr::App(f, args) => Expr::App(
            *f,
            args.iter()
                .map(|a| instantiate(a, subst))
                .collect::<Option<_>>()?,
        ),
        Expr::Add(a, b) => Expr::add(instantiate(a, subst)?, instantiate(b, subst)?),
        Expr::Sub(a, b) => Expr::sub(instantiate(a, subst)?, instantiate(b, subst)?),
        Expr::Mul(a, b) => Expr::mul(instantiate(a, subst)?, instantiate(b, subst)?),
        Expr::Div(a, b) => Expr::div(instantiate(a, subst)?, instantiate(b, subst)?),
        Expr::Pow(a, b) => Expr::pow(instantiate(a, subst)?, instantiate(b, subst)?),
    })
}

/// Pattern variables of a pattern (expression and axis variables, without `?`).
pub fn pattern_vars(pat: &Expr, out: &mut Vec<String>) {
    match pat {
        Expr::PVar(v) if !out.contains(v) => out.push(v.clone()),
        Expr::Reduce(_, axes, _) => {
            if let [v] = axes.as_slice() {
                if let Some(name) = v.strip_prefix('?') {
                    if !out.iter().any(|o| o == name) {
                        out.push(name.to_string());
                    }
                }
            }
        }
        _ => {}
    }
    for c in pat.children() {
        pattern_vars(c, out);
    }
}

/// The path from the root to the first position where two trees differ
/// (the longest common prefix of all differences).
pub fn diff_position(a: &Expr, b: &Expr) -> Option<Path> {
    if a == b {
        return None;
    }
    let (ca, cb) = (a.children(), b.children());
    let same_head = std::mem::discriminant(a) == std::mem::discriminant(b)
        && ca.len() == cb.len()
        && match (a, b) {
            (Expr::Reduce(o1, x1, _), Expr::Reduce(o2, x2, _)) => o1 == o2 && x1 == x2,
            // `exp(a)` and `log(b)` differ at the root, not inside.
            (Expr::App(f, _), Expr::App(g, _)) => f == g,
            _ => !ca.is_empty(),
        };
    if !same_head {
        return Some(vec![]);
    }
    let diffs: Vec<usize> = (0..ca.len()).filter(|&k| ca[k] != cb[k]).collect();
    match diffs.as_slice() {
        [k] => {
            let mut p = vec![*k];
            p.extend(diff_position(ca[*k], cb[*k]).unwrap_or_default());
            Some(p)
        }
        _ => Some(vec![]),
    }
}

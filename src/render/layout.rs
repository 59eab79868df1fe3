//! The layout of an expression as mathematics, shared by the LaTeX and the
//! MathML writers: precedence and parentheses, fractions, roots, powers,
//! reductions with their axes, and glyphs for names are decided here once.
//!
//! Precedence (higher binds tighter): 1 `+ −`; 2 products; 3 unary minus
//! and negative literals; 4 powers; 5 atoms (names, fractions, roots,
//! reductions with their parenthesized bodies).

use super::notation::{Glyph, Notation};
use crate::ir::{Expr, Fun, Rat, RedOp, Symbol};
use num_traits::Signed;

/// Operators and relation signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Plus,
    Minus,
    /// A visible product `·` (before a number).
    Dot,
    /// Juxtaposition (a thin space in LaTeX, invisible times in MathML).
    Juxt,
    Slash,
    Comma,
    Eq,
    Gt,
    Ge,
    Ne,
    Approx,
}

/// Named reductions drawn as operators with their axes below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    Mean,
    Var,
    Sum,
}

/// A laid-out formula.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A name: its glyph and the axes it varies along (as subscripts).
    Ident(Glyph, Vec<String>),
    /// Decimal digits.
    Num(String),
    Op(Op),
    Row(Vec<Node>),
    Paren(Box<Node>),
    Frac(Box<Node>, Box<Node>),
    Sup(Box<Node>, Box<Node>),
    Sqrt(Box<Node>),
    /// The name of a function (`exp`, `log`, `max`…); its arguments follow
    /// in a [`Node::Paren`].
    Func(Fun),
    /// `|a|`.
    Abs(Box<Node>),
    /// The head of a reduction (`mean_{n}`, `∑_{n}`); its body follows.
    Reduce(Reducer, Vec<String>),
    /// `∂ℓ/∂v`-style partial derivative of `of` with respect to `wrt`.
    Partial(Box<Node>, Box<Node>),
    /// The loss ℓ.
    Loss,
    /// Words inside a formula.
    Text(String),
    /// A parenthesis of a formula broken into lines
    /// ([`super::linebreak`]): opened on one line, closed on a later one.
    Open,
    Close,
}

impl Node {
    /// A formula `lhs rel rhs`.
    pub fn rel(lhs: Node, op: Op, rhs: Node) -> Node {
        Node::Row(vec![lhs, Node::Op(op), rhs])
    }

    /// `∂ℓ/∂name` for a name (with its axes).
    pub fn grad(n: &Notation, s: &Symbol) -> Node {
        Node::Partial(Box::new(Node::Loss), Box::new(ident(n, s)))
    }

    /// Whether the formula starts with a minus sign.
    fn starts_with_minus(&self) -> bool {
        match self {
            Node::Op(Op::Minus) => true,
            Node::Row(v) => v.first().is_some_and(Node::starts_with_minus),
            _ => false,
        }
    }

    /// Whether the formula starts with a number (a product before it needs a
    /// visible dot).
    fn starts_with_number(&self) -> bool {
        match self {
            Node::Num(_) => true,
            Node::Frac(a, _) => a.starts_with_number(),
            Node::Row(v) => v.first().is_some_and(Node::starts_with_number),
            Node::Sup(b, _) => b.starts_with_number(),
            _ => false,
        }
    }
}

fn ident(n: &Notation, s: &Symbol) -> Node {
    // Axes in the order in force (a model's declared order).
    Node::Ident(
        n.symbol(s),
        crate::syntax::order::shown_symbol_axes(&s.name, &s.axes),
    )
}

/// Lay an expression out.
pub fn layout(e: &Expr, n: &Notation) -> Node {
    Layout { n }.node(e)
}

struct Layout<'a> {
    n: &'a Notation,
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Add(..) | Expr::Sub(..) => 1,
        Expr::Mul(..) => 2,
        Expr::Neg(_) => 3,
        Expr::Num(r) if r.is_negative() => 3,
        Expr::Pow(..) => 4,
        _ => 5,
    }
}

impl Layout<'_> {
    fn node(&self, e: &Expr) -> Node {
        match e {
            Expr::Num(r) => num(r),
            Expr::Sym(s) => ident(self.n, s),
            Expr::PVar(v) => Node::Text(format!("?{v}")),
            Expr::Neg(a) => Node::Row(vec![
                Node::Op(Op::Minus),
                self.operand(a, |p| p == 1 || p == 3),
            ]),
            // A right-nested sum keeps its parentheses: proofs rewrite
            // that grouping, so it must stay visible.
            Expr::Add(a, b) => Node::Row(vec![
                self.node(a),
                Node::Op(Op::Plus),
                self.operand(b, |p| p <= 1 || p == 3),
            ]),
            Expr::Sub(a, b) => Node::Row(vec![
                self.node(a),
                Node::Op(Op::Minus),
                self.operand(b, |p| p <= 1 || p == 3),
            ]),
            Expr::Mul(a, b) => {
                let left = self.wrap(a, |p| p <= 1);
                let right = if matches!(&**b, Expr::Mul(..)) {
                    Node::Paren(Box::new(self.node(b)))
                } else {
                    self.operand(b, |p| p <= 1 || p == 3)
                };
                let op = if right.starts_with_number() {
                    Op::Dot
                } else {
                    Op::Juxt
                };
                Node::Row(vec![left, Node::Op(op), right])
            }
            Expr::Div(a, b) => Node::Frac(Box::new(self.node(a)), Box::new(self.node(b))),
            Expr::Pow(a, p) => {
                let atomic = match &**a {
                    Expr::Sym(_) => true,
                    Expr::Num(r) => r.is_integer() && !r.is_negative(),
                    _ => false,
                };
                let base = if atomic {
                    self.node(a)
                } else {
                    Node::Paren(Box::new(self.node(a)))
                };
                let exp = match &**p {
                    Expr::Num(r) => inline_num(r),
                    other => self.node(other),
                };
                Node::Sup(Box::new(base), Box::new(exp))
            }
            Expr::Sqrt(a) => Node::Sqrt(Box::new(self.node(a))),
            Expr::App(Fun::Abs, args) => Node::Abs(Box::new(self.node(&args[0]))),
            Expr::App(f, args) => {
                let mut inner = Vec::new();
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        inner.push(Node::Op(Op::Comma));
                    }
                    inner.push(self.node(a));
                }
                Node::Row(vec![
                    Node::Func(*f),
                    Node::Paren(Box::new(Node::Row(inner))),
                ])
            }
            Expr::Reduce(op, axes, body) => {
                // The body is always in parentheses: `∑_n x_n y` would be
                // ambiguous (a big operator reaches to the right).
                let r = match op {
                    RedOp::Mean => Reducer::Mean,
                    RedOp::Var => Reducer::Var,
                    RedOp::Sum => Reducer::Sum,
                };
                Node::Row(vec![
                    Node::Reduce(r, crate::syntax::order::shown_axes(axes)),
                    Node::Paren(Box::new(self.node(body))),
                ])
            }
        }
    }

    /// The child's layout, in parentheses when `needs(prec)` says so.
    fn wrap(&self, e: &Expr, needs: impl Fn(u8) -> bool) -> Node {
        let inner = self.node(e);
        if needs(prec(e)) {
            Node::Paren(Box::new(inner))
        } else {
            inner
        }
    }

    /// An operand right after an operator: also in parentheses when it
    /// starts with a minus sign (no `a − −b·c`, no `−−x`).
    fn operand(&self, e: &Expr, needs: impl Fn(u8) -> bool) -> Node {
        let inner = self.node(e);
        if needs(prec(e)) || inner.starts_with_minus() {
            Node::Paren(Box::new(inner))
        } else {
            inner
        }
    }
}

/// A rational literal: digits, or a fraction; negative ones with a minus.
fn num(r: &Rat) -> Node {
    let abs = r.abs();
    let n = if abs.is_integer() {
        Node::Num(abs.numer().to_string())
    } else {
        Node::Frac(
            Box::new(Node::Num(abs.numer().to_string())),
            Box::new(Node::Num(abs.denom().to_string())),
        )
    };
    if r.is_negative() {
        Node::Row(vec![Node::Op(Op::Minus), n])
    } else {
        n
    }
}

/// A rational literal on one line (`−3/2`), for exponents.
fn inline_num(r: &Rat) -> Node {
    let mut v = Vec::new();
    if r.is_negative() {
        v.push(Node::Op(Op::Minus));
    }
    let abs = r.abs();
    v.push(Node::Num(abs.numer().to_string()));
    if !abs.is_integer() {
        v.push(Node::Op(Op::Slash));
        v.push(Node::Num(abs.denom().to_string()));
    }
    if v.len() == 1 {
        v.remove(0)
    } else {
        Node::Row(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_expr;

    fn lay(s: &str) -> Node {
        layout(&parse_expr(s).unwrap(), &Notation::plain())
    }

    fn has_paren(n: &Node) -> bool {
        match n {
            Node::Paren(_) => true,
            Node::Row(v) => v.iter().any(has_paren),
            Node::Frac(a, b) | Node::Sup(a, b) | Node::Partial(a, b) => {
                has_paren(a) || has_paren(b)
            }
            Node::Sqrt(a) => has_paren(a),
            _ => false,
        }
    }

    #[test]
    fn parentheses_only_where_precedence_needs_them() {
        assert!(!has_paren(&lay("a + b * c")));
        assert!(has_paren(&lay("u + (b + c)")));
        assert!(!has_paren(&lay("(u + b) + c")));
        assert!(has_paren(&lay("a * (b * c)")));
        assert!(has_paren(&lay("(a + b) * c")));
        assert!(has_paren(&lay("a - (b - c)")));
        assert!(!has_paren(&lay("(a - b) - c")));
        assert!(!has_paren(&lay("(a + b) / (c + d)")));
        assert!(has_paren(&lay("(a + b)^2")));
        assert!(has_paren(&lay("-(a + b)")));
        assert!(has_paren(&lay("a * -b")));
        assert!(!has_paren(&lay("sqrt(a + b)")));
        assert!(
            has_paren(&lay("sum[i](x[i]) * y")),
            "a sum's body is bracketed"
        );
    }

    /// The layout read back as text in the input syntax: every fraction,
    /// power and reduction body explicitly bracketed, every other
    /// parenthesis only where the layout put one.
    fn linear(n: &Node) -> String {
        match n {
            Node::Ident(g, axes) => {
                let Glyph::Name { base, hat, .. } = g else {
                    panic!("plain names only")
                };
                let mut s = base.text.clone();
                if *hat {
                    s.push('\u{302}');
                }
                if !axes.is_empty() {
                    s.push_str(&format!("[{}]", axes.join(",")));
                }
                s
            }
            Node::Num(d) => d.clone(),
            Node::Op(Op::Plus) => " + ".into(),
            Node::Op(Op::Minus) => " - ".into(),
            Node::Op(Op::Dot | Op::Juxt) => " * ".into(),
            Node::Op(Op::Slash) => "/".into(),
            Node::Op(Op::Comma) => ", ".into(),
            Node::Op(op) => panic!("no {op:?} in an expression"),
            // A minus before digits stays a sign (`-2` would read as a literal).
            Node::Row(v) => v
                .iter()
                .enumerate()
                .map(|(k, n)| match (n, v.get(k + 1)) {
                    (Node::Op(Op::Minus), Some(Node::Num(_))) if k == 0 => " -(".to_string(),
                    (Node::Num(d), _) if k == 1 && v[0] == Node::Op(Op::Minus) => format!("{d})"),
                    _ => linear(n),
                })
                .collect(),
            Node::Paren(a) => format!("({})", linear(a)),
            Node::Frac(a, b) => format!("(({})/({}))", linear(a), linear(b)),
            Node::Sup(b, e) => format!("({})^({})", linear(b), linear(e)),
            Node::Sqrt(a) => format!("sqrt({})", linear(a)),
            Node::Func(f) => f.keyword().to_string(),
            Node::Abs(a) => format!("abs({})", linear(a)),
            Node::Reduce(r, axes) => {
                let k = match r {
                    Reducer::Mean => "mean",
                    Reducer::Var => "var",
                    Reducer::Sum => "sum",
                };
                format!("{k}[{}]", axes.join(","))
            }
            other => panic!("{other:?} in an expression"),
        }
    }

    /// Identify trees that are the same formula on paper: a minus sign on
    /// the left factor of a product or quotient taken out (`−a·b` reads
    /// `(−a)·b` and is typeset like `−(a·b)`), then constants folded.
    fn norm(e: &Expr) -> Expr {
        fold(&pull(e))
    }

    fn map(e: &Expr, f: fn(&Expr) -> Expr) -> Expr {
        match e {
            Expr::Neg(a) => Expr::neg(f(a)),
            Expr::Add(a, b) => Expr::add(f(a), f(b)),
            Expr::Sub(a, b) => Expr::sub(f(a), f(b)),
            Expr::Mul(a, b) => Expr::mul(f(a), f(b)),
            Expr::Div(a, b) => Expr::div(f(a), f(b)),
            Expr::Pow(a, b) => Expr::pow(f(a), f(b)),
            Expr::Sqrt(a) => Expr::sqrt(f(a)),
            Expr::Reduce(op, axes, body) => Expr::Reduce(*op, axes.clone(), Box::new(f(body))),
            other => other.map_children(f),
        }
    }

    fn pull(e: &Expr) -> Expr {
        fn signed(a: Expr, b: Expr, f: fn(Expr, Expr) -> Expr) -> Expr {
            match a {
                Expr::Neg(x) => Expr::neg(signed(*x, b, f)),
                Expr::Num(r) if r.is_negative() => Expr::neg(f(Expr::Num(-r), b)),
                a => f(a, b),
            }
        }
        // `−0·b` reads back as `(−0)·b`, and the literal `−0` is `0`: a
        // minus on a product whose left factor is 0 leaves no trace.
        fn zero_led(e: &Expr) -> bool {
            match e {
                Expr::Num(r) => num_traits::Zero::is_zero(r),
                Expr::Mul(a, _) | Expr::Div(a, _) => zero_led(a),
                _ => false,
            }
        }
        match e {
            Expr::Mul(a, b) => signed(pull(a), pull(b), Expr::mul),
            Expr::Div(a, b) => signed(pull(a), pull(b), Expr::div),
            Expr::Neg(a) => match pull(a) {
                p if zero_led(&p) => p,
                p => Expr::neg(p),
            },
            _ => map(e, pull),
        }
    }

    fn fold(e: &Expr) -> Expr {
        match e.const_value() {
            Some(v) => Expr::Num(v),
            None => map(e, fold),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Whatever the layout leaves out, precedence puts back: reading the
        /// layout gives the expression it was made from.
        #[test]
        fn layout_reads_back_to_the_same_formula(e in crate::syntax::tests::expr_of(true)) {
            let text = linear(&lay_expr(&e));
            let back = parse_expr(&text).map_err(|err| {
                proptest::test_runner::TestCaseError::fail(format!("{text}: {err:?}"))
            })?;
            proptest::prop_assert_eq!(norm(&back), norm(&e), "{}", text);
        }
    }

    fn lay_expr(e: &Expr) -> Node {
        layout(e, &Notation::plain())
    }

    #[test]
    fn a_product_before_a_number_shows_its_dot() {
        let Node::Row(v) = lay("a * 2") else {
            panic!("a product is a row")
        };
        assert_eq!(v[1], Node::Op(Op::Dot));
        let Node::Row(v) = lay("2 * a") else {
            panic!("a product is a row")
        };
        assert_eq!(v[1], Node::Op(Op::Juxt));
    }
}

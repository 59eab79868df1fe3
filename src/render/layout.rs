//! The layout of an expression as mathematics, shared by the LaTeX and the
//! MathML writers: precedence and parentheses, fractions, roots, powers,
//! reductions with their axes, and glyphs for names are decided here once.
//!
//! Precedence (higher binds tighter): 1 `+ −`; 2 products and `∑` (a big
//! operator reaches to the right); 3 unary minus and negative literals;
//! 4 powers; 5 atoms (names, fractions, roots, `mean`/`var` with their
//! parentheses).

use super::notation::{Glyph, Notation};
use crate::ir::{Expr, Rat, RedOp, Symbol};
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
    /// The head of a reduction (`mean_{n}`, `∑_{n}`); its body follows.
    Reduce(Reducer, Vec<String>),
    /// `∂ℓ/∂v`-style partial derivative of `of` with respect to `wrt`.
    Partial(Box<Node>, Box<Node>),
    /// The loss ℓ.
    Loss,
    /// Words inside a formula.
    Text(String),
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
    Node::Ident(n.symbol(s), s.axes.clone())
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
        Expr::Mul(..) | Expr::Reduce(RedOp::Sum, ..) => 2,
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
                self.wrap(a, |p| p == 1 || p == 3),
            ]),
            // A right-nested sum keeps its parentheses: proofs rewrite
            // that grouping, so it must stay visible.
            Expr::Add(a, b) => Node::Row(vec![
                self.node(a),
                Node::Op(Op::Plus),
                self.wrap(b, |p| p <= 1 || p == 3),
            ]),
            Expr::Sub(a, b) => Node::Row(vec![
                self.node(a),
                Node::Op(Op::Minus),
                self.wrap(b, |p| p <= 1 || p == 3),
            ]),
            Expr::Mul(a, b) => {
                let left = self.wrap(a, |p| p <= 1);
                let left = if matches!(&**a, Expr::Reduce(RedOp::Sum, ..)) {
                    Node::Paren(Box::new(left))
                } else {
                    left
                };
                let right = if matches!(&**b, Expr::Mul(..)) {
                    Node::Paren(Box::new(self.node(b)))
                } else {
                    self.wrap(b, |p| p <= 1 || p == 3)
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
            Expr::Reduce(op, axes, body) => {
                let (r, paren) = match op {
                    RedOp::Mean => (Reducer::Mean, true),
                    RedOp::Var => (Reducer::Var, true),
                    RedOp::Sum => (
                        Reducer::Sum,
                        !matches!(&**body, Expr::Sym(_) | Expr::Num(_)),
                    ),
                };
                let inner = self.node(body);
                let body = if paren {
                    Node::Paren(Box::new(inner))
                } else {
                    inner
                };
                Node::Row(vec![Node::Reduce(r, axes.clone()), body])
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
        assert!(has_paren(&lay("sum[i](x[i]) * y")));
        assert!(!has_paren(&lay("y * sum[i](x[i])")));
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

//! Canonical printing in the input syntax with minimal parentheses.
//!
//! Every well-formed tree reads back to itself: `parse(print(e)) == e`.
//! Precedence levels of printed forms (higher binds tighter):
//! 1 `+ -`, 2 `* /` and non-integer literals `p/q` (which read back as one
//! rational only at the left end of a product), 3 unary minus and negative
//! integer literals, 4 `^`, 5 atoms.

use super::order::AxisOrder;
use crate::ir::{Expr, Rat};
use num_traits::{Signed, Zero};
use std::fmt::Write;

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Add(..) | Expr::Sub(..) => 1,
        Expr::Mul(..) | Expr::Div(..) => 2,
        Expr::Num(r) if !r.is_integer() => 2,
        Expr::Num(r) if r.is_negative() => 3,
        Expr::Neg(_) => 3,
        Expr::Pow(..) => 4,
        _ => 5,
    }
}

fn write_num(r: &Rat, out: &mut String) {
    if r.is_integer() {
        let _ = write!(out, "{}", r.numer());
    } else {
        let _ = write!(out, "{}/{}", r.numer(), r.denom());
    }
}

fn is_int(e: &Expr) -> bool {
    matches!(e, Expr::Num(r) if r.is_integer())
}

fn is_nonneg_int(e: &Expr) -> bool {
    matches!(e, Expr::Num(r) if r.is_integer() && !r.is_negative())
}

/// Print `e` in the input syntax (ASCII operators, minimal parentheses),
/// index lists in the axis order in force ([`super::order`]; sorted when
/// none is).
pub fn print(e: &Expr) -> String {
    let order = super::order::current();
    let mut out = String::new();
    go(e, 0, false, &mut out, order.as_deref());
    out
}

fn wrap(e: &Expr, min: u8, force: bool, out: &mut String, o: Option<&AxisOrder>) {
    go(e, min, force, out, o)
}

fn go(e: &Expr, min: u8, force: bool, out: &mut String, o: Option<&AxisOrder>) {
    let paren = force || prec(e) < min;
    if paren {
        out.push('(');
    }
    match e {
        Expr::Num(r) => write_num(r, out),
        Expr::Sym(s) => {
            out.push_str(&s.name);
            if !s.axes.is_empty() {
                out.push('[');
                match o {
                    Some(o) => out.push_str(&o.symbol_axes(&s.name, &s.axes).join(",")),
                    None => out.push_str(&s.axes.join(",")),
                }
                out.push(']');
            }
        }
        Expr::PVar(n) => {
            out.push('?');
            out.push_str(n);
        }
        Expr::Neg(a) => {
            out.push('-');
            // `-(2)` stays a negation (`-2` would read as a literal);
            // `-(-x)` for readability.
            let force = matches!(&**a, Expr::Num(_) | Expr::Neg(_));
            wrap(a, 3, force, out, o);
        }
        Expr::Add(a, b) | Expr::Sub(a, b) => {
            wrap(a, 1, false, out, o);
            out.push_str(if matches!(e, Expr::Add(..)) {
                " + "
            } else {
                " - "
            });
            wrap(b, 2, false, out, o);
        }
        Expr::Mul(a, b) => {
            wrap(a, 2, false, out, o);
            out.push_str(" * ");
            wrap(b, 3, false, out, o);
        }
        Expr::Div(a, b) => {
            wrap(a, 2, false, out, o);
            out.push_str(" / ");
            // `2 / 3` would read back as the rational 2/3 (`2 / 0` would not).
            let force =
                is_int(a) && is_nonneg_int(b) && !matches!(&**b, Expr::Num(r) if r.is_zero());
            wrap(b, 3, force, out, o);
        }
        Expr::Pow(a, b) => {
            wrap(a, 5, false, out, o);
            out.push('^');
            wrap(b, 4, false, out, o);
        }
        Expr::Sqrt(a) => {
            out.push_str("sqrt(");
            go(a, 0, false, out, o);
            out.push(')');
        }
        Expr::App(f, args) => {
            out.push_str(f.keyword());
            out.push('(');
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                go(a, 0, false, out, o);
            }
            out.push(')');
        }
        Expr::Reduce(op, axes, body) => {
            out.push_str(op.keyword());
            out.push('[');
            match o {
                Some(o) => out.push_str(&o.order_axes(axes).join(",")),
                None => out.push_str(&axes.join(",")),
            }
            out.push_str("](");
            go(body, 0, false, out, o);
            out.push(')');
        }
    }
    if paren {
        out.push(')');
    }
}

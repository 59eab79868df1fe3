//! Laid-out formulas as MathML Core (what browsers render natively, with no
//! script): `mi`, `mn`, `mo`, `mrow`, `mfrac`, `msqrt`, `msub`, `msup`,
//! `msubsup`, `munder`, `mover`, `mtext`, `mtable` (a formula broken into
//! lines), `mspace`.

use super::layout::{Node, Op, Reducer};
use super::linebreak::Line;
use super::notation::Glyph;
use std::fmt::Write;

/// A formula as a `<math>` element; `block` for a displayed one.
pub fn math(n: &Node, block: bool) -> String {
    let mut s = String::new();
    if block {
        s.push_str(r#"<math display="block">"#);
    } else {
        s.push_str("<math>");
    }
    write_node(n, &mut s);
    s.push_str("</math>");
    s
}

/// A formula broken into lines ([`super::linebreak`]) as a `<math>` element:
/// one line as it is, several as a table with a left-aligned row per line,
/// each indented by an `em` per level (browsers do not honour
/// `<mspace linebreak>`).
pub fn math_lines(lines: &[Line], block: bool) -> String {
    if let [one] = lines {
        return math(&one.node, block);
    }
    let mut s = String::new();
    s.push_str(if block {
        r#"<math display="block">"#
    } else {
        "<math>"
    });
    s.push_str(r#"<mtable columnalign="left">"#);
    for l in lines {
        s.push_str(r#"<mtr><mtd style="text-align:left">"#);
        if l.indent > 0 {
            let _ = write!(s, r#"<mspace width="{}em"/>"#, l.indent);
        }
        write_node(&l.node, &mut s);
        s.push_str("</mtd></mtr>");
    }
    s.push_str("</mtable></math>");
    s
}

/// `&`, `<`, `>`, `"` escaped for HTML and XML.
pub fn escape(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            c => s.push(c),
        }
    }
    s
}

fn write_node(n: &Node, out: &mut String) {
    match n {
        Node::Ident(g, axes) => glyph(g, axes, out),
        Node::Num(d) => {
            let _ = write!(out, "<mn>{d}</mn>");
        }
        Node::Op(op) => {
            let _ = write!(out, "<mo>{}</mo>", op_text(*op));
        }
        Node::Row(v) => {
            out.push_str("<mrow>");
            for c in v {
                write_node(c, out);
            }
            out.push_str("</mrow>");
        }
        Node::Paren(a) => {
            out.push_str("<mrow><mo>(</mo>");
            write_node(a, out);
            out.push_str("<mo>)</mo></mrow>");
        }
        Node::Frac(a, b) => {
            out.push_str("<mfrac>");
            write_node(a, out);
            write_node(b, out);
            out.push_str("</mfrac>");
        }
        Node::Sup(b, e) => {
            out.push_str("<msup>");
            write_node(b, out);
            write_node(e, out);
            out.push_str("</msup>");
        }
        Node::Func(f) => {
            let _ = write!(out, "<mi>{}</mi>", f.keyword());
        }
        Node::Abs(a) => {
            out.push_str("<mrow><mo>|</mo>");
            write_node(a, out);
            out.push_str("<mo>|</mo></mrow>");
        }
        Node::Sqrt(a) => {
            out.push_str("<msqrt>");
            write_node(a, out);
            out.push_str("</msqrt>");
        }
        Node::Reduce(r, axes) => {
            let under = axes_row(axes);
            match r {
                Reducer::Sum => {
                    let _ = write!(out, "<munder><mo>∑</mo>{under}</munder>");
                }
                Reducer::Mean | Reducer::Var => {
                    let name = if *r == Reducer::Mean { "mean" } else { "var" };
                    let _ = write!(out, "<msub><mi>{name}</mi>{under}</msub>");
                }
            }
        }
        Node::Partial(of, wrt) => {
            out.push_str("<mfrac><mrow><mo>∂</mo>");
            write_node(of, out);
            out.push_str("</mrow><mrow><mo>∂</mo>");
            write_node(wrt, out);
            out.push_str("</mrow></mfrac>");
        }
        Node::Loss => out.push_str("<mi>ℓ</mi>"),
        Node::Open => out.push_str("<mo>(</mo>"),
        Node::Close => out.push_str("<mo>)</mo>"),
        Node::Text(t) => {
            let _ = write!(out, "<mtext>{}</mtext>", escape(t));
        }
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Plus => "+",
        Op::Minus => "−",
        Op::Dot => "·",
        Op::Juxt => "\u{2062}",
        Op::Slash => "/",
        Op::Comma => ",",
        Op::Eq => "=",
        Op::Gt => "&gt;",
        Op::Ge => "≥",
        Op::Ne => "≠",
        Op::Approx => "≈",
    }
}

fn axes_row(axes: &[String]) -> String {
    let items: Vec<String> = axes
        .iter()
        .map(|a| format!("<mi>{}</mi>", escape(a)))
        .collect();
    format!("<mrow>{}</mrow>", items.join("<mo>,</mo>"))
}

fn glyph(g: &Glyph, axes: &[String], out: &mut String) {
    match g {
        Glyph::Name {
            base,
            hat,
            sub,
            sup,
        } => {
            // `Δb` is two letters (Δ applied to b), each in italics.
            let chars: Vec<char> = base.text.chars().collect();
            let mut b = match chars.as_slice() {
                [d, c] if super::notation::greek_latex(*d).is_some() && c.is_alphabetic() => {
                    format!(
                        "<mrow><mi>{d}</mi><mi>{}</mi></mrow>",
                        escape(&c.to_string())
                    )
                }
                _ => format!("<mi>{}</mi>", escape(&base.text)),
            };
            if *hat {
                b = format!(r#"<mover accent="true">{b}<mo>^</mo></mover>"#);
            }
            let subs: Vec<String> = sub.iter().chain(axes).cloned().collect();
            let sub = (!subs.is_empty()).then(|| axes_row(&subs));
            let sup = sup.as_ref().map(|p| format!("<mn>{}</mn>", escape(p)));
            match (sub, sup) {
                (None, None) => out.push_str(&b),
                (Some(s), None) => {
                    let _ = write!(out, "<msub>{b}{s}</msub>");
                }
                (None, Some(p)) => {
                    let _ = write!(out, "<msup>{b}{p}</msup>");
                }
                (Some(s), Some(p)) => {
                    let _ = write!(out, "<msubsup>{b}{s}{p}</msubsup>");
                }
            }
        }
        Glyph::Adjoint(inner) => {
            out.push_str("<mfrac><mrow><mo>∂</mo><mi>ℓ</mi></mrow><mrow><mo>∂</mo>");
            glyph(inner, axes, out);
            out.push_str("</mrow></mfrac>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::layout;
    use super::super::notation::Notation;
    use super::*;
    use crate::syntax::parse_expr;

    fn ml(s: &str) -> String {
        math(&layout(&parse_expr(s).unwrap(), &Notation::plain()), false)
    }

    #[test]
    fn elements_of_mathml_core() {
        assert_eq!(
            ml("a / sqrt(b)"),
            "<math><mfrac><mi>a</mi><msqrt><mi>b</mi></msqrt></mfrac></math>"
        );
        assert_eq!(
            ml("x[i]^2"),
            "<math><msup><msub><mi>x</mi><mrow><mi>i</mi></mrow></msub><mn>2</mn></msup></math>"
        );
        assert!(ml("sum[i](x[i])").contains("<munder><mo>∑</mo><mrow><mi>i</mi></mrow></munder>"));
        assert!(ml("xhat").contains(r#"<mover accent="true"><mi>x</mi><mo>^</mo></mover>"#));
        assert!(ml("a - b").contains("<mo>−</mo>"));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}

//! Laid-out formulas as LaTeX (amsmath), and running text made safe for
//! pdfLaTeX: the output is pure ASCII, every Greek letter or symbol a
//! command.

use super::layout::{Node, Op, Reducer};
use super::linebreak::{self, Line};
use super::notation::{greek_latex, Glyph};
use crate::ir::Fun;
use std::fmt::Write;

/// A formula as LaTeX math (without delimiters).
pub fn math(n: &Node) -> String {
    let mut s = String::new();
    write_node(n, &mut s);
    s
}

/// One line of a broken formula ([`super::linebreak`]): indented by a
/// `\quad` per level, its parentheses balanced with the invisible `\left.`
/// and `\right.` where they open or close on another line.
pub fn line(l: &Line) -> String {
    let (open, closed_early) = linebreak::unbalanced(&l.node);
    let mut s = r"\quad ".repeat(l.indent);
    s.push_str(&r"\left.".repeat(closed_early));
    write_node(&l.node, &mut s);
    s.push_str(&r"\right.".repeat(open));
    s
}

fn write_node(n: &Node, out: &mut String) {
    match n {
        Node::Ident(g, axes) => glyph(g, axes, out),
        Node::Num(d) => out.push_str(d),
        Node::Op(op) => out.push_str(op_latex(*op)),
        Node::Row(v) => {
            for c in v {
                write_node(c, out);
            }
        }
        Node::Paren(a) => {
            out.push_str(r"\left(");
            write_node(a, out);
            out.push_str(r"\right)");
        }
        Node::Frac(a, b) => {
            out.push_str(r"\frac{");
            write_node(a, out);
            out.push_str("}{");
            write_node(b, out);
            out.push('}');
        }
        Node::Sup(b, e) => {
            out.push('{');
            write_node(b, out);
            out.push_str("}^{");
            write_node(e, out);
            out.push('}');
        }
        Node::Func(f) => out.push_str(match f {
            Fun::Exp => r"\exp",
            Fun::Log => r"\log",
            Fun::Max => r"\max",
            Fun::Min => r"\min",
            Fun::Abs => r"\operatorname{abs}",
            Fun::Detach => r"\operatorname{detach}",
        }),
        Node::Abs(a) => {
            out.push_str(r"\left\lvert ");
            write_node(a, out);
            out.push_str(r"\right\rvert ");
        }
        Node::Sqrt(a) => {
            out.push_str(r"\sqrt{");
            write_node(a, out);
            out.push('}');
        }
        Node::Reduce(r, axes) => {
            let head = match r {
                Reducer::Mean => r"\operatorname{mean}",
                Reducer::Var => r"\operatorname{var}",
                Reducer::Sum => r"\sum",
            };
            let _ = write!(out, "{head}_{{{}}}", axes_latex(axes));
            if *r == Reducer::Sum {
                out.push(' ');
            }
        }
        Node::Partial(of, wrt) => {
            out.push_str(r"\frac{\partial ");
            write_node(of, out);
            out.push_str(r"}{\partial ");
            write_node(wrt, out);
            out.push('}');
        }
        Node::Loss => out.push_str(r"\ell "),
        Node::Open => out.push_str(r"\left("),
        Node::Close => out.push_str(r"\right)"),
        Node::Text(t) => {
            let _ = write!(out, r"\text{{{}}}", text(t));
        }
    }
}

fn op_latex(op: Op) -> &'static str {
    match op {
        Op::Plus => " + ",
        Op::Minus => " - ",
        Op::Dot => r" \cdot ",
        Op::Juxt => r"\,",
        Op::Slash => "/",
        Op::Comma => r",\ ",
        Op::Eq => " = ",
        Op::Gt => " > ",
        Op::Ge => r" \geq ",
        Op::Ne => r" \neq ",
        Op::Approx => r" \approx ",
    }
}

fn axes_latex(axes: &[String]) -> String {
    axes.iter()
        .map(|a| escape_word(a))
        .collect::<Vec<_>>()
        .join(",")
}

fn glyph(g: &Glyph, axes: &[String], out: &mut String) {
    match g {
        Glyph::Name {
            base,
            hat,
            sub,
            sup,
        } => {
            if *hat {
                let _ = write!(out, r"\hat{{{}}}", base.latex);
            } else {
                out.push_str(&base.latex);
            }
            let subs: Vec<String> = sub.iter().chain(axes).map(|a| escape_word(a)).collect();
            if !subs.is_empty() {
                let _ = write!(out, "_{{{}}}", subs.join(","));
            }
            if let Some(p) = sup {
                let _ = write!(out, "^{{{p}}}");
            }
        }
        Glyph::Adjoint(inner) => {
            out.push_str(r"\frac{\partial \ell}{\partial ");
            glyph(inner, axes, out);
            out.push('}');
        }
    }
}

/// A word (a name, an axis) for use inside math: TeX specials escaped,
/// Greek letters as commands.
pub fn escape_word(w: &str) -> String {
    let mut s = String::new();
    for c in w.chars() {
        match c {
            '_' | '#' | '$' | '%' | '&' | '{' | '}' => {
                s.push('\\');
                s.push(c);
            }
            _ => match greek_latex(c) {
                Some(l) => {
                    s.push_str(l);
                    s.push(' ');
                }
                None => s.push(c),
            },
        }
    }
    s
}

/// Running text for LaTeX's text mode: specials escaped, and each word
/// with a Unicode math symbol in it (`∂ℓ/∂γ`, `σ²`, `x̂,`) set as one
/// formula (its trailing punctuation left in the text), so that pdfLaTeX
/// accepts it and a symbol is never a letter in text mode.
pub fn text(t: &str) -> String {
    let mut s = String::new();
    for (k, word) in t.split(' ').enumerate() {
        if k > 0 {
            s.push(' ');
        }
        if word.chars().any(is_math_symbol) {
            let body = word.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            s.push('$');
            math_word(body, &mut s);
            s.push('$');
            text_word(&word[body.len()..], &mut s);
        } else {
            text_word(word, &mut s);
        }
    }
    s
}

/// Whether a character is a math symbol that running text sets as math.
fn is_math_symbol(c: char) -> bool {
    c == '\u{302}' || (!c.is_ascii() && !TEXT_SYMBOLS.contains(&c) && math_char(c) != "?")
}

/// Non-ASCII characters text mode writes itself.
const TEXT_SYMBOLS: &[char] = &['—', '–', '…', '“', '”', '’', '✓', '✗'];

/// A word without math symbols, in text mode.
fn text_word(t: &str, s: &mut String) {
    for c in t.chars() {
        match c {
            '\\' => s.push_str(r"\textbackslash{}"),
            '#' | '$' | '%' | '&' | '_' | '{' | '}' => {
                s.push('\\');
                s.push(c);
            }
            '~' => s.push_str(r"\textasciitilde{}"),
            '^' => s.push_str(r"\textasciicircum{}"),
            '<' => s.push_str(r"$<$"),
            '>' => s.push_str(r"$>$"),
            '|' => s.push_str(r"$|$"),
            '—' => s.push_str("---"),
            '–' => s.push_str("--"),
            '…' => s.push_str(r"\dots{}"),
            '“' => s.push_str("``"),
            '”' => s.push_str("''"),
            '’' => s.push('\''),
            '✓' => s.push_str(r"$\checkmark$"),
            '✗' => s.push_str(r"$\times$"),
            c if c.is_ascii() => s.push(c),
            c => {
                let _ = write!(s, "${}$", math_char(c));
            }
        }
    }
}

/// A word with math symbols, in math mode (without the `$`): letters after
/// one another as an upright word (`mean`), one letter in italics, a letter
/// with a combining circumflex as a hat.
fn math_word(t: &str, s: &mut String) {
    let mut run = String::new();
    let flush = |run: &mut String, s: &mut String| {
        match run.chars().count() {
            0 => {}
            1 => s.push_str(run),
            _ => {
                let _ = write!(s, r"\mathrm{{{run}}}");
            }
        }
        run.clear();
    };
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{302}') {
            chars.next();
            flush(&mut run, s);
            let _ = write!(s, r"\hat{{{}}}", math_char(c).trim_end());
            continue;
        }
        if c.is_ascii_alphabetic() {
            run.push(c);
            continue;
        }
        flush(&mut run, s);
        match c {
            '#' | '$' | '%' | '&' | '_' | '{' | '}' => {
                s.push('\\');
                s.push(c);
            }
            '\\' => s.push_str(r"\backslash "),
            '~' => s.push_str(r"\sim "),
            '^' => s.push_str(r"\wedge "),
            c if c.is_ascii() => s.push(c),
            c => {
                let m = math_char(c);
                s.push_str(&m);
                if m.starts_with('\\') {
                    s.push(' ');
                }
            }
        }
    }
    flush(&mut run, s);
}

/// A character as math-mode LaTeX.
fn math_char(c: char) -> String {
    if let Some(l) = greek_latex(c) {
        return l.to_string();
    }
    let sup = "⁰¹²³⁴⁵⁶⁷⁸⁹";
    if let Some(k) = sup.chars().position(|d| d == c) {
        return format!("^{{{k}}}");
    }
    match c {
        '∂' => r"\partial",
        '≠' => r"\neq",
        '≤' => r"\leq",
        '≥' => r"\geq",
        '≈' => r"\approx",
        '→' => r"\to",
        '←' => r"\leftarrow",
        '⟨' => r"\langle",
        '⟩' => r"\rangle",
        '·' | '⋅' => r"\cdot",
        '×' => r"\times",
        '−' => "-",
        '∝' => r"\propto",
        '√' => r"\surd",
        '∑' => r"\sum",
        '∞' => r"\infty",
        '∈' => r"\in",
        '∪' => r"\cup",
        '∘' => r"\circ",
        '±' => r"\pm",
        '‖' => r"\|",
        c if c.is_ascii() => return c.to_string(),
        _ => "?",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::layout::layout;
    use super::super::notation::Notation;
    use super::*;
    use crate::syntax::parse_expr;

    fn tex(s: &str) -> String {
        math(&layout(&parse_expr(s).unwrap(), &Notation::plain()))
    }

    #[test]
    fn fractions_roots_reductions_and_greek() {
        assert_eq!(tex("a / (b + 1)"), r"\frac{a}{b + 1}");
        assert_eq!(
            tex("(x[n] - mu) / sqrt(var + eps)"),
            r"\frac{x_{n} - \mu}{\sqrt{\mathit{var} + \varepsilon}}"
        );
        assert_eq!(
            tex("mean[i](x[i])"),
            r"\operatorname{mean}_{i}\left(x_{i}\right)"
        );
        assert_eq!(
            tex("sum[n](dy[n] * xhat[n])"),
            r"\sum_{n} \left(\mathit{dy}_{n}\,\hat{x}_{n}\right)"
        );
        assert_eq!(tex("x^(-3/2)"), r"{x}^{ - 3/2}");
        assert_eq!(tex("1/3 * x"), r"\frac{1}{3}\,x");
        assert_eq!(tex("gamma * 2"), r"\gamma \cdot 2");
    }

    #[test]
    fn text_is_ascii() {
        let t =
            text("⟨x̂, ∂ℓ/∂x⟩ over n is 0 — false with ε > 0, mean(x̂²) = σ²/(σ²+ε) < 1; 50% & a_b");
        assert!(t.is_ascii(), "{t}");
        assert!(t.contains(r"$\langle \hat{x}$,"), "{t}");
        assert!(t.contains(r"$\partial \ell /\partial x\rangle $"), "{t}");
        assert!(t.contains(r"$\mathrm{mean}(\hat{x}^{2})$"), "{t}");
        assert!(t.contains(r"50\% \& a\_b"));
    }
}

//! Where a laid-out formula breaks into lines, decided once for the LaTeX
//! and the MathML writers, which only draw the lines.
//!
//! A formula's width is estimated from its layout (a per-glyph model in
//! ems of the formula's font: scripts smaller, a fraction as wide as its
//! wider part). One wider than its budget is broken the way
//! [`super::text::wrap_lines`] breaks a terminal line: at the loosest
//! operator (relation, then `+ −`, then products) outside the fewest
//! parentheses, continuation lines indented by one more level per open
//! parenthesis. Parentheses and reduction bodies may open on one line and
//! close on a later one; a fraction too wide for a line is written `a / b`
//! so that it can break.

use super::layout::{Node, Op, Reducer};
use super::notation::Glyph;

/// LaTeX's budget: an article's text width is 345 pt, 34.5 em at 10 pt;
/// the rest is margin for the estimate.
pub const LATEX_EMS: f32 = 28.0;
/// HTML's budget: the page's text column is about 930 px, 53 em of a
/// formula's font (1.1 × 16 px), and a table's note column needs room too;
/// Chromium draws fences, operators and scripts wider than TeX (a budget of
/// 42 em gave lines up to 950 px in the browser check).
pub const HTML_EMS: f32 = 34.0;
/// How far each level of continuation is indented, in ems.
pub const INDENT_EMS: f32 = 1.0;

/// One line of a broken formula: its indentation level (0 for the first
/// line) and its content, a [`Node::Row`] that may open parentheses it
/// does not close ([`Node::Open`]) or close ones opened on an earlier line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub indent: usize,
    pub node: Node,
}

/// Scripts (subscripts, superscripts) are drawn at this fraction of the
/// font size.
const SCRIPT: f32 = 0.7;

/// The estimated width of a formula, in ems of its font.
pub fn width(n: &Node) -> f32 {
    match n {
        Node::Ident(g, axes) => glyph_width(g, axes),
        Node::Num(d) => 0.5 * d.chars().count() as f32,
        Node::Op(op) => op_width(*op),
        Node::Row(v) => v.iter().map(width).sum(),
        Node::Paren(a) => width(a) + 0.8,
        Node::Open | Node::Close => 0.4,
        Node::Frac(a, b) => width(a).max(width(b)) + 0.3,
        Node::Sup(b, e) => width(b) + SCRIPT * width(e) + 0.1,
        Node::Sqrt(a) => width(a) + 1.0,
        Node::Func(f) => 0.5 * f.keyword().len() as f32,
        Node::Abs(a) => width(a) + 0.6,
        Node::Reduce(r, axes) => {
            let below = SCRIPT * axes_width(axes);
            match r {
                Reducer::Sum => below.max(1.1) + 0.2,
                Reducer::Mean => 2.35 + below,
                Reducer::Var => 1.45 + below,
            }
        }
        Node::Partial(of, wrt) => 0.6 + width(of).max(width(wrt)) + 0.3,
        Node::Loss => 0.45,
        Node::Text(t) => 0.5 * t.chars().count() as f32,
    }
}

fn op_width(op: Op) -> f32 {
    match op {
        Op::Plus | Op::Minus => 1.25,
        Op::Dot => 0.75,
        Op::Juxt => 0.2,
        Op::Slash => 0.5,
        Op::Comma => 0.6,
        Op::Eq | Op::Gt | Op::Ge | Op::Ne | Op::Approx => 1.35,
    }
}

fn axes_width(axes: &[String]) -> f32 {
    let chars: usize = axes.iter().map(|a| a.chars().count()).sum();
    0.55 * chars as f32 + 0.3 * axes.len().saturating_sub(1) as f32
}

fn glyph_width(g: &Glyph, axes: &[String]) -> f32 {
    match g {
        Glyph::Name {
            base,
            hat: _,
            sub,
            sup,
        } => {
            let subs: Vec<String> = sub.iter().chain(axes).cloned().collect();
            let scripts =
                axes_width(&subs).max(sup.as_ref().map_or(0.0, |p| 0.5 * p.chars().count() as f32));
            0.6 * base.text.chars().count() as f32 + SCRIPT * scripts
        }
        Glyph::Adjoint(inner) => 0.6 + glyph_width(inner, axes) + 0.3,
    }
}

/// How loosely an operator binds, for choosing where to break (lower is
/// looser); `None` where no line may break.
fn class(op: Op) -> Option<u8> {
    match op {
        Op::Eq | Op::Gt | Op::Ge | Op::Ne | Op::Approx => Some(0),
        Op::Plus | Op::Minus => Some(1),
        Op::Dot | Op::Juxt | Op::Slash => Some(2),
        Op::Comma => Some(3),
    }
}

/// The formula as lines no wider than `budget` ems (each continuation line
/// counting its indentation) where it can break; a formula that fits is
/// one line, unchanged.
pub fn lines(n: &Node, budget: f32) -> Vec<Line> {
    if width(n) <= budget {
        return vec![Line {
            indent: 0,
            node: n.clone(),
        }];
    }
    let mut tokens = Vec::new();
    flatten(n, budget - 2.0 * INDENT_EMS, &mut tokens);
    // Break points: an operator that is not a sign (it follows an operand),
    // ranked by parenthesis depth, then by how loosely it binds.
    let mut breaks: Vec<(usize, (usize, u8))> = Vec::new();
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Node::Open => depth += 1,
            Node::Close => depth = depth.saturating_sub(1),
            Node::Op(op) if i > 0 && !matches!(tokens[i - 1], Node::Op(_) | Node::Open) => {
                if let Some(c) = class(*op) {
                    breaks.push((i, (depth, c)));
                }
            }
            _ => {}
        }
    }
    let mut at_width = Vec::with_capacity(tokens.len() + 1);
    let mut w = 0.0;
    for t in &tokens {
        at_width.push(w);
        w += width(t);
    }
    at_width.push(w);
    let span = |from: usize, to: usize| at_width[to] - at_width[from];

    let mut out = Vec::new();
    let (mut start, mut indent) = (0usize, 0usize);
    loop {
        let room = budget - indent as f32 * INDENT_EMS;
        if span(start, tokens.len()) <= room {
            break;
        }
        let after: Vec<&(usize, (usize, u8))> = breaks.iter().filter(|(i, _)| *i > start).collect();
        let fits: Vec<&&(usize, (usize, u8))> = after
            .iter()
            .filter(|(i, _)| span(start, *i) <= room)
            .collect();
        let chosen = match fits.iter().map(|(_, r)| *r).min() {
            Some(best) => fits.iter().rev().find(|(_, r)| *r == best).map(|b| **b),
            // Nothing fits: overflow as little as possible.
            None => after.first().copied(),
        };
        let Some(&(at, (d, _))) = chosen else {
            break;
        };
        out.push(Line {
            indent,
            node: Node::Row(tokens[start..at].to_vec()),
        });
        // A product broken at a juxtaposition shows its dot.
        if tokens[at] == Node::Op(Op::Juxt) {
            tokens[at] = Node::Op(Op::Dot);
        }
        start = at;
        indent = d + 1;
    }
    out.push(Line {
        indent,
        node: Node::Row(tokens[start..].to_vec()),
    });
    out
}

/// The formula as a sequence of tokens: rows spliced in, parentheses as
/// [`Node::Open`] and [`Node::Close`], a fraction wider than `room` as
/// `(a) / (b)`; everything else whole.
fn flatten(n: &Node, room: f32, out: &mut Vec<Node>) {
    match n {
        Node::Row(v) => v.iter().for_each(|c| flatten(c, room, out)),
        Node::Paren(a) => {
            out.push(Node::Open);
            flatten(a, room, out);
            out.push(Node::Close);
        }
        Node::Frac(a, b) if width(n) > room => {
            for (k, part) in [a, b].into_iter().enumerate() {
                if k == 1 {
                    out.push(Node::Op(Op::Slash));
                }
                if matches!(**part, Node::Row(_)) {
                    flatten(&Node::Paren(part.clone()), room, out);
                } else {
                    flatten(part, room, out);
                }
            }
        }
        other => out.push(other.clone()),
    }
}

/// How many parentheses a line leaves open, and how many it closes that an
/// earlier line opened: the writers balance each line's delimiters.
pub fn unbalanced(line: &Node) -> (usize, usize) {
    let Node::Row(v) = line else {
        return (0, 0);
    };
    let (mut open, mut closed_early) = (0usize, 0usize);
    for t in v {
        match t {
            Node::Open => open += 1,
            Node::Close if open > 0 => open -= 1,
            Node::Close => closed_early += 1,
            _ => {}
        }
    }
    (open, closed_early)
}

#[cfg(test)]
mod tests {
    use super::super::layout::layout;
    use super::super::notation::Notation;
    use super::*;
    use crate::syntax::parse_expr;

    fn lay(s: &str) -> Node {
        layout(&parse_expr(s).unwrap(), &Notation::plain())
    }

    /// The leaves of a formula in order, parentheses as `(` `)` and every
    /// product as one sign: what a reader sees, whatever the lines.
    fn leaves(n: &Node, out: &mut Vec<String>) {
        match n {
            Node::Row(v) => v.iter().for_each(|c| leaves(c, out)),
            Node::Paren(a) => {
                out.push("(".into());
                leaves(a, out);
                out.push(")".into());
            }
            Node::Open => out.push("(".into()),
            Node::Close => out.push(")".into()),
            Node::Op(Op::Dot | Op::Juxt) => out.push("*".into()),
            Node::Op(Op::Slash) => out.push("/".into()),
            // As a fraction too wide for a line is drawn: `(a) / (b)`.
            Node::Frac(a, b) => {
                for (k, part) in [a, b].into_iter().enumerate() {
                    if k == 1 {
                        out.push("/".into());
                    }
                    match &**part {
                        Node::Row(_) => leaves(&Node::Paren(part.clone()), out),
                        other => leaves(other, out),
                    }
                }
            }
            other => out.push(format!("{other:?}")),
        }
    }

    fn long_sum(k: usize) -> String {
        (0..k)
            .map(|i| format!("a{i}[n] * (x[n] - mu) / sqrt(var + eps)"))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    #[test]
    fn short_formulas_are_one_unchanged_line() {
        let n = lay("a + b / c");
        assert_eq!(
            lines(&n, LATEX_EMS),
            vec![Line {
                indent: 0,
                node: n.clone()
            }]
        );
    }

    #[test]
    fn a_long_sum_breaks_into_lines_within_budget_at_top_level_plus() {
        let n = lay(&long_sum(12));
        assert!(width(&n) > 2.0 * LATEX_EMS);
        let ls = lines(&n, LATEX_EMS);
        assert!(ls.len() >= 3, "{} lines", ls.len());
        for (k, l) in ls.iter().enumerate() {
            let w = width(&l.node) + l.indent as f32 * INDENT_EMS;
            assert!(w <= LATEX_EMS, "line {k} is {w} em");
            assert_eq!(
                unbalanced(&l.node),
                (0, 0),
                "line {k} breaks inside parentheses"
            );
            if k > 0 {
                assert_eq!(l.indent, 1);
                let Node::Row(v) = &l.node else { panic!() };
                assert_eq!(v[0], Node::Op(Op::Plus), "line {k} starts at a top-level +");
            }
        }
    }

    /// Joining the lines gives back the formula: no term lost or repeated.
    fn assert_reads_back(n: &Node, ls: &[Line]) {
        let mut want = Vec::new();
        leaves(n, &mut want);
        let mut got = Vec::new();
        for l in ls {
            leaves(&l.node, &mut got);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn lines_join_back_to_the_formula() {
        for s in [
            long_sum(12),
            format!("sum[n](dy[n] * ({}))", long_sum(8)),
            format!("({}) / ({})", long_sum(5), long_sum(4)),
            format!("x[n] * ({}) * y[n] * ({})", long_sum(3), long_sum(3)),
        ] {
            let n = lay(&s);
            let ls = lines(&n, LATEX_EMS);
            assert!(ls.len() > 1, "{s}");
            assert_reads_back(&n, &ls);
        }
    }

    #[test]
    fn a_single_wide_term_breaks_inside_its_parentheses() {
        let n = lay(&format!("sum[n](dy[n] * ({}))", long_sum(8)));
        let ls = lines(&n, LATEX_EMS);
        assert!(ls.len() > 2);
        assert!(unbalanced(&ls[0].node).0 > 0, "the sum's body stays open");
        assert_eq!(unbalanced(&ls.last().unwrap().node), (0, 2), "{ls:?}");
        for l in &ls {
            assert!(width(&l.node) + l.indent as f32 * INDENT_EMS <= LATEX_EMS);
        }
        assert!(ls[1..].iter().all(|l| l.indent >= 2), "{ls:?}");
    }

    #[test]
    fn a_wide_fraction_is_written_with_a_slash_to_break() {
        let n = lay(&format!("({}) / ({})", long_sum(5), long_sum(4)));
        let ls = lines(&n, LATEX_EMS);
        let has_frac = |n: &Node| matches!(n, Node::Row(v) if v.iter().any(|t| matches!(t, Node::Frac(a, _) if width(a) > LATEX_EMS)));
        assert!(ls.iter().all(|l| !has_frac(&l.node)));
        let slashes = ls
            .iter()
            .filter(|l| matches!(&l.node, Node::Row(v) if v.contains(&Node::Op(Op::Slash))))
            .count();
        assert!(slashes >= 1);
        for l in &ls {
            assert!(width(&l.node) + l.indent as f32 * INDENT_EMS <= LATEX_EMS);
        }
    }

    #[test]
    fn a_product_broken_between_factors_shows_its_dot() {
        let n = lay(&format!(
            "x[n] * ({}) * y[n] * ({})",
            long_sum(2),
            long_sum(2)
        ));
        let ls = lines(&n, LATEX_EMS);
        let Node::Row(v) = &ls[1].node else { panic!() };
        assert_eq!(v[0], Node::Op(Op::Dot), "{ls:?}");
    }
}

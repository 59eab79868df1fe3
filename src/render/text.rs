//! Rendering of proofs and verdicts as terminal text. The library writes into any
//! [`fmt::Write`]; only the command line prints.

use crate::cert;
use crate::eval::Value;
use crate::ir::Expr;
use crate::kernel::{Direction, Proof};
use crate::refute::Counterexample;
use crate::rules::{self, Binding, Cond};
use crate::syntax;
use num_traits::ToPrimitive;
use std::fmt::{self, Write};

/// Widest expression column before the rule name moves to its own line.
const MAX_COLUMN: usize = 72;

/// A calc-style proof: one line per step, each naming its rule, then the
/// rules' justifications.
pub fn proof_text(out: &mut impl Write, proof: &Proof) -> fmt::Result {
    let st = &proof.statement;
    writeln!(
        out,
        "theorem   {} = {}",
        syntax::print(&st.lhs),
        syntax::print(&st.rhs)
    )?;
    if !proof.assumptions.is_empty() {
        let a: Vec<String> = proof
            .assumptions
            .iter()
            .map(cert::assumption_text)
            .collect();
        writeln!(out, "assuming  {}", a.join(", "))?;
    }
    for (k, (s, body)) in proof.definitions.iter().enumerate() {
        let lead = if k == 0 { "where" } else { "" };
        writeln!(
            out,
            "{lead:<9} {} = {}",
            syntax::print(&crate::ir::Expr::Sym(s.clone())),
            syntax::print(body)
        )?;
    }
    for lemma in &proof.lemmas {
        writeln!(
            out,
            "lemma     {} = {}   ({})",
            syntax::print(&lemma.statement.lhs),
            syntax::print(&lemma.statement.rhs),
            lemma.name
        )?;
        if !lemma.assumptions.is_empty() {
            let a: Vec<String> = lemma
                .assumptions
                .iter()
                .map(cert::assumption_text)
                .collect();
            writeln!(out, "  assuming  {}", a.join(", "))?;
        }
        chain_text(out, &lemma.statement.lhs, &lemma.steps, "    ")?;
    }
    for (k, have) in proof.haves.iter().enumerate() {
        writeln!(
            out,
            "have {:<4} {} = {}",
            k + 1,
            syntax::print(&have.statement.lhs),
            syntax::print(&have.statement.rhs)
        )?;
        chain_text(out, &have.statement.lhs, &have.steps, "    ")?;
    }
    writeln!(out, "proof")?;
    chain_text(out, &st.lhs, &proof.steps, "")?;
    let used = super::used_rules(proof);
    if !used.is_empty() {
        writeln!(out, "rules")?;
        for name in used {
            let why = super::rule_why(name);
            writeln!(out, "  {name:<20} {why}")?;
        }
    }
    let n = proof.steps.len();
    let plural = if n == 1 { "" } else { "s" };
    writeln!(
        out,
        "checked by the kernel: {n} step{plural}, every side condition re-established"
    )
}

/// One calc chain from `start`, each line naming its rule (consecutive
/// unfoldings of one name shown once), indented by `indent`.
fn chain_text(
    out: &mut impl Write,
    start: &Expr,
    steps: &[crate::kernel::Step],
    indent: &str,
) -> fmt::Result {
    let mut lines: Vec<(String, String)> = vec![(syntax::print(start), String::new())];
    for (s, times) in super::shown(steps) {
        let mut label = step_label(&s.rule, s.direction, s.subst.as_ref());
        if times > 1 {
            label.push_str(&format!(" ×{times}"));
        }
        lines.push((syntax::print(&s.expr), label));
    }
    let width = lines
        .iter()
        .map(|(e, _)| e.chars().count())
        .filter(|&w| w <= MAX_COLUMN)
        .max()
        .unwrap_or(0);
    for (k, (e, label)) in lines.iter().enumerate() {
        let lead = if k == 0 { "    " } else { "  = " };
        let w = e.chars().count();
        if label.is_empty() {
            writeln!(out, "{indent}{lead}{e}")?;
        } else if w <= width {
            writeln!(
                out,
                "{indent}{lead}{e}{}   [{label}]",
                " ".repeat(width - w)
            )?;
        } else {
            writeln!(out, "{indent}{lead}{e}")?;
            writeln!(out, "{indent}    {}   [{label}]", " ".repeat(width))?;
        }
    }
    Ok(())
}

fn step_label(rule: &str, dir: Direction, subst: Option<&rules::Subst>) -> String {
    let mut s = rule.to_string();
    if dir == Direction::Backward {
        s.push_str(" ←");
    }
    if let (Some(r), Some(subst)) = (rules::get(rule), subst) {
        let conds: Vec<String> = r.conds.iter().filter_map(|c| cond_text(c, subst)).collect();
        if !conds.is_empty() {
            s.push_str(", ");
            s.push_str(&conds.join(", "));
        }
    }
    if let (Some(_), Some(subst)) = (crate::kernel::lemma_name(rule), subst) {
        let (axes, exprs) = super::lemma_instance(subst);
        for (k, a) in axes {
            s.push_str(&format!(", {k} := {a}"));
        }
        for (k, e) in exprs {
            s.push_str(&format!(", {k} := {}", syntax::print(e)));
        }
    }
    s
}

fn cond_text(c: &Cond, subst: &rules::Subst) -> Option<String> {
    let e = |v: &str| match subst.get(v) {
        Some(Binding::Expr(e)) => Some(syntax::print(e)),
        _ => None,
    };
    Some(match c {
        Cond::Pos(v) => format!("{} > 0", e(v)?),
        Cond::NonNeg(v) => format!("{} >= 0", e(v)?),
        Cond::NonZero(v) => format!("{} != 0", e(v)?),
        Cond::Const(_) => return None,
        Cond::Indep(v, i) => {
            let axes = match subst.get(*i) {
                Some(Binding::Axes(a)) => a.join(","),
                _ => return None,
            };
            format!("{} is constant along {axes}", e(v)?)
        }
    })
}

/// A counterexample: axis sizes, every symbol's values, both sides.
pub fn counterexample_text(out: &mut impl Write, c: &Counterexample) -> fmt::Result {
    let irrational = matches!(c.lhs, Value::Interval(..)) || matches!(c.rhs, Value::Interval(..));
    if irrational {
        writeln!(
            out,
            "counterexample (double-checked; decided by rigorous interval bounds)"
        )?;
    } else {
        writeln!(out, "counterexample (double-checked exactly)")?;
    }
    if !c.sizes.is_empty() {
        let sizes: Vec<String> = c.sizes.iter().map(|(a, n)| format!("{a} = {n}")).collect();
        writeln!(out, "  axis sizes: {}", sizes.join(", "))?;
    }
    for (name, t) in &c.values {
        let vals: Vec<String> = t.data.iter().map(rational_text).collect();
        // The axes as stored (a model's declared order once reordered).
        if t.axes.is_empty() {
            writeln!(out, "  {name} = {}", vals.join(", "))?;
        } else {
            writeln!(
                out,
                "  {name}[{}] = [{}]",
                t.axes.join(","),
                vals.join(", ")
            )?;
        }
    }
    if !c.index.is_empty() {
        let at: Vec<String> = c.index.iter().map(|(a, i)| format!("{a} = {i}")).collect();
        writeln!(out, "  at {}:", at.join(", "))?;
    }
    writeln!(out, "  left side  = {}", value_text(&c.lhs))?;
    writeln!(out, "  right side = {}", value_text(&c.rhs))
}

/// An exact value as a rational; an irrational one by its approximation and
/// the width of the rigorous enclosure that decided the comparison.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Exact(r) => rational_text(r),
        Value::Interval(lo, hi) => {
            // An enclosure does not say the value is irrational (a square
            // root of a square may be reached through one), only where it is.
            let width = (hi - lo).to_f64().unwrap_or(f64::NAN);
            format!(
                "≈ {} (within a rigorous enclosure of width {width:.0e})",
                v.approx()
            )
        }
    }
}

/// A rational as written, with its decimal value next to it when numerator
/// or denominator has more than 12 digits.
pub fn rational_text(r: &crate::ir::Rat) -> String {
    let s = r.to_string();
    if r.numer().to_string().trim_start_matches('-').len() > 12 || r.denom().to_string().len() > 12
    {
        format!("{s} (≈ {:e})", r.to_f64().unwrap_or(f64::NAN))
    } else {
        s
    }
}

/// Widest line of terminal text a reader gets (`derive` and `prove`).
pub const LINE_WIDTH: usize = 100;

/// Every line of `text` longer than `width` (bytes, so at most as many
/// characters) broken at operators
/// (` + `, ` - `, ` * `, ` / `, `, `, `; `), the loosest-bound ones first:
/// a break at parenthesis depth d is taken only where no break at a smaller
/// depth fits. Continuation lines are indented four more than the line they
/// continue. Joining the pieces with spaces gives back the line, so a
/// formula copied from the terminal still parses.
pub fn wrap_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        for (k, piece) in wrap_line(body, width).iter().enumerate() {
            if k > 0 {
                out.push('\n');
            }
            out.push_str(piece);
        }
        out.push_str(nl);
    }
    out
}

fn wrap_line(line: &str, width: usize) -> Vec<String> {
    // Widths are counted in bytes: that bounds the characters too, and keeps
    // byte-counting tools (mawk's `length`) within the width as well.
    if line.len() <= width {
        return vec![line.to_string()];
    }
    let chars: Vec<char> = line.chars().collect();
    let mut at_byte = Vec::with_capacity(chars.len() + 1);
    let mut b = 0usize;
    for c in &chars {
        at_byte.push(b);
        b += c.len_utf8();
    }
    at_byte.push(b);
    let span = |from: usize, to: usize| at_byte[to] - at_byte[from];
    let indent = chars.iter().take_while(|c| **c == ' ').count();
    let cont = " ".repeat(indent + 4);
    // Break points: the index of the space before an operator (or after a
    // separator), ranked by parenthesis depth, then by how loosely the
    // operator binds (`;`, then `= + -`, then `* /`, then `,`, then any space
    // outside parentheses: prose).
    let mut breaks: Vec<(usize, (usize, u8))> = Vec::new();
    let mut depth = 0usize;
    for (i, c) in chars.iter().enumerate() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ' ' if i > indent => {
                let next = chars.get(i + 1).copied();
                let after = chars.get(i + 2).copied();
                let before = chars.get(i.wrapping_sub(1)).copied();
                let class = match next {
                    _ if after != Some(' ') => None,
                    Some('=' | '+' | '-') => Some(1),
                    Some('*' | '/' | '·') => Some(2),
                    _ => None,
                };
                // `;` only ever separates prose clauses: the loosest break.
                let class = class
                    .or((before == Some(';')).then_some(0))
                    .or((before == Some(',')).then_some(3))
                    .or(
                        (depth == 0 && !matches!(before, Some('+' | '-' | '*' | '/' | '=' | '·')))
                            .then_some(4),
                    );
                if let Some(class) = class {
                    breaks.push((i, (depth, class)));
                }
            }
            _ => {}
        }
    }
    let mut pieces = Vec::new();
    let mut start = 0usize;
    let mut lead = String::new();
    loop {
        let room = width.saturating_sub(lead.len());
        if span(start, chars.len()) <= room {
            break;
        }
        let fits: Vec<&(usize, (usize, u8))> = breaks
            .iter()
            .filter(|(i, _)| *i > start && span(start, *i) <= room)
            .collect();
        let Some(min_rank) = fits.iter().map(|(_, d)| *d).min() else {
            break;
        };
        let Some(&&(at, _)) = fits.iter().rev().find(|(_, d)| *d == min_rank) else {
            break;
        };
        let piece: String = chars[start..at].iter().collect();
        pieces.push(format!("{lead}{piece}"));
        start = at + 1;
        lead = cont.clone();
    }
    let rest: String = chars[start..].iter().collect();
    pieces.push(format!("{lead}{rest}"));
    pieces
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn long_formulas_break_at_loose_operators_and_read_back() {
        let e = "  dx = dxhat[n] / sqrt(var + eps) + -1/2 * (var + eps)^(-3/2) * sum[n](dxhat[n] * (x[n] - mu)) / m * (2 * (x[n] - mu)) + (-(sum[n](dxhat[n]) / sqrt(var + eps)) - dvar / m * 2 * sum[n](x[n] - mu)) / m";
        let w = wrap_lines(e, 60);
        let lines: Vec<&str> = w.lines().collect();
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(l.chars().count() <= 60, "{l}");
        }
        // The first break is at depth 0 (a top-level `+`).
        assert!(lines[1].trim_start().starts_with("+ "), "{w}");
        let joined: String = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        assert_eq!(joined, e.trim());
        let rhs = joined.split_once(" = ").unwrap().1;
        assert!(crate::syntax::parse_expr(rhs).is_ok());
    }

    #[test]
    fn short_lines_and_unbreakable_ones_stay() {
        assert_eq!(wrap_lines("a + b\n", 100), "a + b\n");
        let long = "x".repeat(150);
        assert_eq!(wrap_lines(&long, 100), long);
    }
}

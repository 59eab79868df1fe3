//! Rendering of proofs and verdicts as terminal text. The library writes into any
//! [`fmt::Write`]; only the command line prints.

use crate::cert;
use crate::eval::{Tensor, Value};
use crate::ir::{Expr, Rat};
use crate::kernel::{Direction, Proof};
use crate::refute::Counterexample;
use crate::rules::{self, Binding, Cond};
use crate::syntax::{self, order};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};
use std::collections::BTreeMap;
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
        Cond::Const(_) | Cond::Int(_) => return None,
        Cond::Ge(a, b) => format!("{} >= {}", e(a)?, e(b)?),
        Cond::Indep(v, i) => {
            let axes = match subst.get(*i) {
                Some(Binding::Axes(a)) => a.join(","),
                _ => return None,
            };
            format!("{} is constant along {axes}", e(v)?)
        }
    })
}

/// A counterexample: axis sizes, every symbol's values, both sides. Axes
/// follow the order in force ([`crate::syntax::order`]: a model's or
/// statement's declared order), arrays of several axes as nested rows.
pub fn counterexample_text(out: &mut impl Write, c: &Counterexample) -> fmt::Result {
    let enclosed = matches!(c.lhs, Value::Interval(..)) || matches!(c.rhs, Value::Interval(..));
    if enclosed {
        writeln!(
            out,
            "counterexample (double-checked; decided by rigorous interval bounds)"
        )?;
    } else {
        writeln!(out, "counterexample (double-checked exactly)")?;
    }
    if !c.sizes.is_empty() {
        writeln!(
            out,
            "  axis sizes: {}",
            order::axis_items(&c.sizes).join(", ")
        )?;
    }
    for (name, t) in &c.values {
        writeln!(out, "  {}", array_text(name, t, &c.sizes))?;
    }
    if !c.index.is_empty() {
        writeln!(out, "  at {}:", order::axis_items(&c.index).join(", "))?;
    }
    let (l, r) = value_pair_text(&c.lhs, &c.rhs);
    writeln!(out, "  left side  = {l}")?;
    writeln!(out, "  right side = {r}")
}

/// `name[axes] = values` for one array of a sample (`name = v` for a
/// scalar): axes in the order in force, entries row-major over them, one
/// bracket level per axis (`x[n,d] = [[0, 1], [1, -1]]`).
pub fn array_text(name: &str, t: &Tensor, sizes: &BTreeMap<String, usize>) -> String {
    let (head, vals) = array_parts(name, t, sizes);
    format!("{head} = {vals}")
}

/// The two halves of [`array_text`]: `name[axes]` and the values.
pub fn array_parts(name: &str, t: &Tensor, sizes: &BTreeMap<String, usize>) -> (String, String) {
    let shown = order::shown_tensor(name, t, sizes);
    let vals: Vec<String> = shown.data.iter().map(rational_text).collect();
    if shown.axes.is_empty() {
        (name.to_string(), vals.join(", "))
    } else {
        let dims: Vec<usize> = shown
            .axes
            .iter()
            .map(|a| sizes.get(a).copied().unwrap_or(1))
            .collect();
        (
            format!("{name}[{}]", shown.axes.join(",")),
            order::nested(&vals, &dims),
        )
    }
}

/// An exact value as a rational (with a decimal when long); one known only
/// by a rigorous enclosure as `≈ decimal ∈ [lo, hi]`, the bounds rounded
/// outwards (so the printed interval still encloses the value) to 16
/// significant digits. An enclosure does not say the value is irrational
/// (a square root of a square may be reached through one), so nothing here
/// says so.
pub fn value_text(v: &Value) -> String {
    value_pair_text(v, v).0
}

/// Both sides of a comparison as [`value_text`] writes them, an enclosure's
/// bounds with as many more decimals as it takes for the printed intervals
/// of the two sides to be disjoint, when the values are.
pub fn value_pair_text(l: &Value, r: &Value) -> (String, String) {
    let mag = |v: &Value| -> i64 {
        let a = v.lo().abs().max(v.hi().abs());
        if a.is_zero() {
            0
        } else {
            floor_log10(&a)
        }
    };
    let mut places = (15 - mag(l).max(mag(r))).max(0) as u32;
    let disjoint = l.definitely_ne(r);
    let bounds = |v: &Value, q: u32| -> (Rat, Rat) {
        let t = Rat::from_integer(BigInt::from(10u32).pow(q));
        ((v.lo() * &t).floor() / &t, (v.hi() * &t).ceil() / &t)
    };
    while disjoint && places < 200 {
        let (a, b) = (bounds(l, places), bounds(r, places));
        if a.1 < b.0 || b.1 < a.0 {
            break;
        }
        places += 1;
    }
    let show = |v: &Value| match v {
        Value::Exact(x) => rational_text(x),
        Value::Interval(lo, hi) => {
            let t = BigInt::from(10u32).pow(places);
            let lo_m = (lo * Rat::from_integer(t.clone())).floor().to_integer();
            let hi_m = (hi * Rat::from_integer(t)).ceil().to_integer();
            let mid = (lo + hi) / Rat::from_integer(BigInt::from(2));
            format!(
                "≈ {} ∈ [{}, {}]",
                decimal(&mid, 16),
                fixed(&lo_m, places),
                fixed(&hi_m, places)
            )
        }
    };
    (show(l), show(r))
}

/// `10^e`, exactly.
fn pow10(e: i64) -> Rat {
    let p = BigInt::from(10u32).pow(e.unsigned_abs() as u32);
    if e >= 0 {
        Rat::from_integer(p)
    } else {
        Rat::new(BigInt::from(1), p)
    }
}

/// `floor(log10 a)` for `a > 0`, exactly.
fn floor_log10(a: &Rat) -> i64 {
    let mut e = a.numer().to_string().len() as i64 - a.denom().to_string().len() as i64;
    while *a >= pow10(e + 1) {
        e += 1;
    }
    while *a < pow10(e) {
        e -= 1;
    }
    e
}

/// The integer `m` scaled by `10^-places`, written with `places` decimals.
fn fixed(m: &BigInt, places: u32) -> String {
    let digits = m.abs().to_string();
    let places = places as usize;
    let padded = if digits.len() <= places {
        format!("{}{digits}", "0".repeat(places + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - places);
    let sign = if m.is_negative() { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// `r` as a decimal rounded to `sig` significant digits (trailing zeros
/// dropped), exactly (no floating point): positional from 1e-4 up to 1e10,
/// else in scientific notation (`1.763668414e11`).
pub fn decimal(r: &Rat, sig: usize) -> String {
    if r.is_zero() {
        return "0".into();
    }
    let sig = sig.max(1);
    let a = r.abs();
    let mut e = floor_log10(&a);
    let scaled = &a * pow10(sig as i64 - 1 - e);
    let mut m = (scaled + Rat::new(BigInt::from(1), BigInt::from(2)))
        .floor()
        .to_integer();
    if m.to_string().len() > sig {
        m /= 10;
        e += 1;
    }
    let digits = m.to_string();
    let sign = if r.is_negative() { "-" } else { "" };
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..10).contains(&e) {
        let text = if e >= 0 {
            let int_len = e as usize + 1;
            if digits.len() <= int_len {
                format!("{digits}{}", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-e - 1) as usize))
        };
        format!("{sign}{}", trim(text))
    } else {
        let mantissa = trim(format!("{}.{}", &digits[..1], &digits[1..]));
        format!("{sign}{mantissa}e{e}")
    }
}

/// A rational as written, with its decimal value next to it when its
/// numerator and denominator together have more than 12 digits
/// (`1234567890123/7 (≈ 1.763668414e11)`).
pub fn rational_text(r: &Rat) -> String {
    let s = r.to_string();
    let digits = r.numer().abs().to_string().len()
        + if r.is_integer() {
            0
        } else {
            r.denom().to_string().len()
        };
    if digits > 12 {
        format!("{s} (≈ {})", decimal(r, 10))
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
    // A step's label alone on its line, aligned past the width: moved left
    // to end at the width (no break point could shorten it).
    let label = line.trim_start();
    if label.starts_with('[') && label.ends_with(']') && label.len() < width {
        return vec![format!("{}{label}", " ".repeat(width - label.len()))];
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
    fn decimals_and_enclosures() {
        let r = |p: i64, q: i64| Rat::new(BigInt::from(p), BigInt::from(q));
        assert_eq!(decimal(&r(1, 3), 10), "0.3333333333");
        assert_eq!(decimal(&r(-2, 1), 10), "-2");
        assert_eq!(decimal(&r(1, 100000), 4), "1e-5");
        assert_eq!(decimal(&r(99999, 1), 2), "100000");
        assert_eq!(decimal(&r(1234567890123, 7), 10), "1.763668414e11");
        // Outward rounding: the printed interval encloses the true one.
        let (lo, hi) = (r(-9, 7), r(-8, 7));
        let v = Value::Interval(lo, hi);
        assert_eq!(
            value_text(&v),
            "≈ -1.214285714285714 ∈ [-1.285714285714286, -1.142857142857142]"
        );
        // Two close sides get more digits, until they are told apart.
        let a = Value::Interval(
            r(1000000000000000001, 1000000000000000000),
            r(1000000000000000002, 1000000000000000000),
        );
        let b = Value::Exact(r(1, 1));
        let (ta, tb) = value_pair_text(&a, &b);
        assert_eq!(tb, "1");
        assert!(
            ta.ends_with("∈ [1.000000000000000001, 1.000000000000000002]"),
            "{ta}"
        );
        // Long rationals: more than 12 digits together.
        assert_eq!(
            rational_text(&r(123456, 1234567)),
            "123456/1234567 (≈ 0.099999433)"
        );
        assert_eq!(rational_text(&r(123456, 123457)), "123456/123457");
        assert_eq!(
            rational_text(&r(-1234567890123, 1)),
            "-1234567890123 (≈ -1.23456789e12)"
        );
    }

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

//! The theorem library as documents: a table of every entry with its
//! verdict, and one entry with its proof or counterexample.

use super::notation::Notation;
use super::page::{Page, Span};
use super::proof::{self, assumption, equation, math_list};
use crate::library::{self, Run};
use crate::prove::Outcome;
use std::fmt::{self, Write};

/// The statement and assumptions of an entry as formulas, or its text when
/// it does not parse.
fn statement_spans(run: &Run, n: &Notation) -> (Vec<Span>, Vec<Span>) {
    match library::parse(&run.theorem) {
        Ok((st, assumptions)) => (
            vec![Span::Math(equation(&st.lhs, &st.rhs, n))],
            math_list(assumptions.iter().map(|a| assumption(a, n)).collect()),
        ),
        Err(_) => (
            vec![Span::code(run.theorem.statement)],
            vec![Span::code(run.theorem.assume.join(", "))],
        ),
    }
}

/// The axis order an entry is shown in: as its statement writes it.
fn statement_order(t: &library::Theorem) -> crate::syntax::order::AxisOrder {
    crate::syntax::order::AxisOrder::for_text(
        std::iter::once(t.statement).chain(t.assume.iter().copied()),
    )
}

fn mark(run: &Run) -> &'static str {
    if run.as_expected() {
        "✓"
    } else {
        "✗"
    }
}

/// Every entry, one row each; `href` links an entry's name to its page.
pub fn table<W: Write>(
    page: &mut Page<'_, W>,
    runs: &[Run],
    href: impl Fn(&str) -> Option<String>,
) -> fmt::Result {
    let n = Notation::plain();
    let rows: Vec<Vec<Vec<Span>>> = runs
        .iter()
        .map(|r| {
            let _order = statement_order(&r.theorem).enter();
            let name = r.theorem.name;
            let name = match href(name) {
                Some(h) => Span::link(name, h),
                None => Span::code(name),
            };
            let (st, assume) = statement_spans(r, &n);
            vec![
                vec![name],
                st,
                assume,
                vec![Span::text(r.theorem.expect.as_str())],
                vec![Span::text(format!("{} {}", mark(r), r.verdict()))],
            ]
        })
        .collect();
    page.table(
        &["theorem", "statement", "assuming", "expected", "verdict"],
        &rows,
    )?;
    let ok = runs.iter().filter(|r| r.as_expected()).count();
    page.para(&[Span::Strong(format!("{ok}/{} as expected.", runs.len()))])
}

/// One entry: source, statement, verdict, and its proof or counterexample.
pub fn theorem<W: Write>(page: &mut Page<'_, W>, run: &Run) -> fmt::Result {
    let _order = statement_order(&run.theorem).enter();
    let n = Notation::plain();
    let t = &run.theorem;
    page.heading(1, t.name, None)?;
    page.para(&[Span::text("Source: "), Span::text(t.source)])?;
    let (st, assume) = statement_spans(run, &n);
    let mut claim = vec![Span::text("Statement: ")];
    claim.extend(st);
    if !assume.is_empty() {
        claim.push(Span::text(", assuming "));
        claim.extend(assume);
    }
    page.para(&claim)?;
    page.para(&[Span::text(format!(
        "Expected: {}. Verdict: {} {}.",
        t.expect.as_str(),
        mark(run),
        run.verdict()
    ))])?;
    match &run.outcome {
        Outcome::Proved(p) => proof::proof(page, p, &n),
        Outcome::Refuted(c) => proof::counterexample(page, c, &n),
        Outcome::Unknown { reason } => page.text(&format!("Unknown: {reason}.")),
    }
}

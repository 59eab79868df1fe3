//! `bnproof explain`: narratives that answer the seed question (and its
//! scaling variant) with live proofs, kernel checks, counterexamples and
//! exact simulations.
//!
//! Nothing here is hard-coded: every proof shown is found by
//! [`crate::prove::prove`] and re-checked by [`crate::kernel::check`] while
//! the text is written, and every number is computed (exactly, over
//! [`Rat`], unless the text says otherwise). The library never prints: the
//! narrative goes into any [`fmt::Write`], and an [`ExplainReport`] says
//! whether every check held.

mod backward;
mod plot;
mod scale;
mod seed;
mod sim;

pub use plot::{plot_svg, SCALE_SERIES, SEED_SERIES};
pub use sim::{
    scale_flip_case, scale_grow_case, scale_simulation, seed_simulation, weight_example,
    weight_norm_simulation, NormRow, ScaleRow, ScaleSimulation, SeedRow, SeedSimulation,
    WeightExample, NORM_TOLERANCE,
};

use crate::ir::Rat;
use crate::kernel;
use crate::prove::{self, Options, Outcome};
use crate::render::{self, Markup, Notation, Page, Span};
use crate::syntax;
use num_traits::ToPrimitive;
use std::fmt;
use std::path::{Path, PathBuf};

/// Output format of a narrative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Plain Unicode text with aligned tables (the default).
    #[default]
    Text,
    /// Markdown: `$$` math blocks, pipe tables, proofs in fenced blocks.
    Markdown,
    /// A LaTeX fragment: sections, displays, proofs as `align*` chains.
    Latex,
    /// The body of an HTML page: proofs and counterexamples in MathML, the
    /// hand-written displays as Unicode text.
    Html,
}

/// The topics: name and a one-line description.
pub const TOPICS: &[(&str, &str)] = &[
    (
        "seed",
        "why Eq. (1) of the BN paper holds, what its \"Then\" means, and why b drifts while the loss stays fixed",
    ),
    (
        "bn-backward",
        "a guided tour of the batch-norm backward pass: the paper's equations, the vanishing term, the three-term form",
    ),
    (
        "scale",
        "the scaling variant: a scale-normalized layer, the drifting or sign-flipping scale, and Section 3.3 (BN((aW)u) = BN(Wu))",
    ),
];

/// Why `explain` or `plot` failed.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("unknown topic `{0}`; the topics are: {topics}", topics = topic_names())]
    UnknownTopic(String),
    #[error("could not write the explanation: {0}")]
    Fmt(#[from] fmt::Error),
    #[error("could not draw or write the plot {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error("could not derive the model: {0}")]
    Derivation(String),
}

fn topic_names() -> String {
    TOPICS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One check made while writing a narrative: a proof (proved and accepted
/// by the kernel), a refutation (a double-checked counterexample), or a
/// numeric claim (exact unless stated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub kind: CheckKind,
    pub held: bool,
    /// Why it failed (empty when it held).
    pub detail: String,
}

/// What kind of check a [`Check`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    Proof,
    Refutation,
    Claim,
}

/// What happened while writing a narrative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExplainReport {
    pub topic: String,
    pub checks: Vec<Check>,
}

impl ExplainReport {
    /// Every embedded proof was kernel-checked, every expected refutation
    /// was found, and every claim of the narrative held.
    pub fn all_held(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.held)
    }
    /// Proofs accepted by the kernel.
    pub fn proofs_checked(&self) -> usize {
        self.count(CheckKind::Proof)
    }
    /// Counterexamples found (each double-checked by the refuter).
    pub fn refutations(&self) -> usize {
        self.count(CheckKind::Refutation)
    }
    /// Numeric claims that held.
    pub fn claims_held(&self) -> usize {
        self.count(CheckKind::Claim)
    }
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.held).collect()
    }
    fn count(&self, kind: CheckKind) -> usize {
        self.checks
            .iter()
            .filter(|c| c.kind == kind && c.held)
            .count()
    }
}

/// Write the narrative of `topic` into `out`.
pub fn explain(
    topic: &str,
    format: Format,
    out: &mut impl fmt::Write,
) -> Result<ExplainReport, ExplainError> {
    Ok(explain_in(topic, format, out, None)?.0)
}

/// A kernel-checked proof a narrative showed, titled: its certificate's
/// details go into a handout's appendix.
pub type Certificate = (String, kernel::Proof, Notation);

/// The narrative of `topic` as LaTeX whose proofs show their chains only
/// (each step with its rule), and the proofs, numbered as the text cites
/// them, for an appendix of certificates ([`render::proof::certificate`]).
pub fn explain_for_handout(
    topic: &str,
    out: &mut impl fmt::Write,
) -> Result<(ExplainReport, Vec<Certificate>), ExplainError> {
    let (report, certs) = explain_in(topic, Format::Latex, out, Some(Vec::new()))?;
    Ok((report, certs.unwrap_or_default()))
}

fn explain_in(
    topic: &str,
    format: Format,
    out: &mut impl fmt::Write,
    certificates: Option<Vec<Certificate>>,
) -> Result<(ExplainReport, Option<Vec<Certificate>>), ExplainError> {
    let mut doc = Doc {
        out,
        format,
        report: ExplainReport {
            topic: topic.to_string(),
            checks: Vec::new(),
        },
        section: 0,
        certificates,
    };
    match topic {
        "seed" => seed::write(&mut doc)?,
        "bn-backward" => backward::write(&mut doc)?,
        "scale" => scale::write(&mut doc)?,
        _ => return Err(ExplainError::UnknownTopic(topic.to_string())),
    }
    doc.closing()?;
    Ok((doc.report, doc.certificates))
}

/// Write the topic's plot as an SVG file.
pub fn plot(topic: &str, path: &Path) -> Result<(), ExplainError> {
    let svg = plot_svg(topic)?;
    std::fs::write(path, svg).map_err(|e| ExplainError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes one narrative: headings, paragraphs, displays, tables, proofs.
pub(crate) struct Doc<'a, W: fmt::Write> {
    out: &'a mut W,
    format: Format,
    report: ExplainReport,
    section: usize,
    /// For a handout: the proofs shown, their certificates deferred to an
    /// appendix.
    certificates: Option<Vec<Certificate>>,
}

type Res = Result<(), ExplainError>;

impl<W: fmt::Write> Doc<'_, W> {
    /// Write through a [`Page`] (the LaTeX and HTML formats).
    fn page(&mut self, f: impl FnOnce(&mut Page<'_, W>) -> fmt::Result) -> Res {
        let markup = match self.format {
            Format::Latex => Markup::Latex,
            Format::Markdown => Markup::Markdown,
            Format::Text | Format::Html => Markup::Html,
        };
        Ok(f(&mut Page::new(&mut *self.out, markup))?)
    }

    fn title(&mut self, text: &str) -> Res {
        match self.format {
            Format::Text => {
                let n = text.chars().count();
                writeln!(self.out, "{text}\n{}\n", "═".repeat(n))?
            }
            Format::Markdown => writeln!(self.out, "# {text}\n")?,
            Format::Latex | Format::Html => self.page(|p| p.heading(1, text, None))?,
        }
        Ok(())
    }

    fn section(&mut self, text: &str) -> Res {
        self.section += 1;
        let head = format!("{}. {text}", self.section);
        match self.format {
            Format::Text => {
                let n = head.chars().count();
                writeln!(self.out, "{head}\n{}\n", "─".repeat(n))?
            }
            Format::Markdown => writeln!(self.out, "## {head}\n")?,
            Format::Latex | Format::Html => {
                let anchor = format!("s{}", self.section);
                self.page(|p| p.heading(2, &head, Some(&anchor)))?
            }
        }
        Ok(())
    }

    /// A paragraph; in text, wrapped at 78 columns.
    fn para(&mut self, text: &str) -> Res {
        match self.format {
            Format::Text => {
                for line in wrap(text, 78) {
                    writeln!(self.out, "{line}")?;
                }
                writeln!(self.out)?;
            }
            Format::Markdown => writeln!(self.out, "{text}\n")?,
            Format::Latex | Format::Html => self.page(|p| p.text(text))?,
        }
        Ok(())
    }

    /// A displayed formula: `text` is shown indented in text, `latex` in a
    /// `$$` block in Markdown.
    fn display(&mut self, text: &str, latex: &str) -> Res {
        match self.format {
            Format::Text => {
                for line in text.lines() {
                    writeln!(self.out, "    {line}")?;
                }
                writeln!(self.out)?;
            }
            Format::Markdown => writeln!(self.out, "$$\n{latex}\n$$\n")?,
            Format::Latex | Format::Html => self.page(|p| p.display_source(latex, text))?,
        }
        Ok(())
    }

    /// Preformatted text (a proof, a counterexample).
    fn block(&mut self, text: &str) -> Res {
        match self.format {
            Format::Text => {
                for line in text.lines() {
                    writeln!(self.out, "    {line}")?;
                }
                writeln!(self.out)?;
            }
            Format::Markdown => writeln!(self.out, "```text\n{}\n```\n", text.trim_end())?,
            Format::Latex | Format::Html => self.page(|p| p.pre(text))?,
        }
        Ok(())
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> Res {
        match self.format {
            Format::Text => {
                let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
                for r in rows {
                    for (k, c) in r.iter().enumerate() {
                        w[k] = w[k].max(c.chars().count());
                    }
                }
                let line = |cells: Vec<&str>| -> String {
                    let parts: Vec<String> = cells
                        .iter()
                        .enumerate()
                        .map(|(k, c)| format!("{}{c}", " ".repeat(w[k] - c.chars().count())))
                        .collect();
                    format!("    {}", parts.join("  ")).trim_end().to_string()
                };
                writeln!(self.out, "{}", line(header.to_vec()))?;
                let rule: Vec<String> = w.iter().map(|&n| "─".repeat(n)).collect();
                writeln!(self.out, "    {}", rule.join("  "))?;
                for r in rows {
                    writeln!(self.out, "{}", line(r.iter().map(String::as_str).collect()))?;
                }
                writeln!(self.out)?;
            }
            Format::Markdown => {
                writeln!(self.out, "| {} |", header.join(" | "))?;
                let rule: Vec<&str> = header.iter().map(|_| "---:").collect();
                writeln!(self.out, "|{}|", rule.join("|"))?;
                for r in rows {
                    writeln!(self.out, "| {} |", r.join(" | "))?;
                }
                writeln!(self.out)?;
            }
            Format::Latex | Format::Html => {
                let cells: Vec<Vec<Vec<Span>>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| vec![Span::text(c.clone())]).collect())
                    .collect();
                self.page(|p| p.table(header, &cells))?
            }
        }
        Ok(())
    }

    /// A list of checked claims, each marked ✓ (or ✗).
    fn claims(&mut self, items: &[(String, bool)]) -> Res {
        let mut text = String::new();
        let mut list = Vec::new();
        for (what, held) in items {
            let mark = if *held { "✓" } else { "✗" };
            match self.format {
                Format::Text => text.push_str(&format!("  {mark} {what}\n")),
                Format::Markdown => text.push_str(&format!("- {mark} {what}\n")),
                Format::Latex | Format::Html => {
                    list.push(vec![Span::text(format!("{mark} {what}"))])
                }
            }
        }
        match self.format {
            Format::Latex | Format::Html => self.page(|p| p.list(&list))?,
            Format::Text | Format::Markdown => writeln!(self.out, "{text}")?,
        }
        for (what, held) in items {
            self.report.checks.push(Check {
                what: what.clone(),
                kind: CheckKind::Claim,
                held: *held,
                detail: if *held {
                    String::new()
                } else {
                    "does not hold".into()
                },
            });
        }
        Ok(())
    }

    /// Prove `statement` under `assume`, check the proof with the kernel and
    /// show it. Returns whether both succeeded.
    fn proof(&mut self, statement: &str, assume: &[&str]) -> Result<bool, ExplainError> {
        let what = statement_label(statement, assume);
        let (held, text, detail) = match run(statement, assume) {
            Err(e) => (false, format!("does not parse: {e}"), e),
            Ok(Outcome::Proved(p)) => match kernel::check(&p) {
                Ok(()) => {
                    let mut t = String::new();
                    match self.format {
                        Format::Text | Format::Markdown => render::proof_text(&mut t, &p)?,
                        Format::Latex | Format::Html => {
                            let n = Notation::plain();
                            self.proof_shown(&what, &p, &n)?
                        }
                    }
                    (true, t, String::new())
                }
                Err(e) => (
                    false,
                    format!("the kernel rejected the proof: {e}"),
                    e.to_string(),
                ),
            },
            Ok(Outcome::Refuted(c)) => {
                let mut t = String::from("✗ REFUTED (expected a proof)\n");
                render::counterexample_text(&mut t, &c)?;
                (false, t, "refuted".into())
            }
            Ok(Outcome::Unknown { reason }) => (false, format!("✗ NOT PROVED: {reason}"), reason),
        };
        if !text.is_empty() {
            self.block(&text)?;
        }
        self.report.checks.push(Check {
            what,
            kind: CheckKind::Proof,
            held,
            detail,
        });
        Ok(held)
    }

    /// A kernel-checked proof in a document: in full, or for a handout its
    /// chains and where its certificate is.
    fn proof_shown(&mut self, title: &str, p: &kernel::Proof, n: &Notation) -> Res {
        match self.certificates.as_mut() {
            None => self.page(|pg| render::proof::proof(pg, p, n)),
            Some(certs) => {
                certs.push((title.to_string(), p.clone(), n.clone()));
                let k = certs.len();
                self.page(|pg| {
                    render::proof::chains(pg, p, n, false)?;
                    pg.text(&format!(
                        "Side conditions, rules and the kernel's verdict: certificate {k} in the appendix."
                    ))
                })
            }
        }
    }

    /// Refute `statement` under `assume` and show the counterexample.
    fn refutation(&mut self, statement: &str, assume: &[&str]) -> Result<bool, ExplainError> {
        let what = statement_label(statement, assume);
        let (held, text, detail) = match run(statement, assume) {
            Err(e) => (false, format!("does not parse: {e}"), e),
            Ok(Outcome::Refuted(c)) if matches!(self.format, Format::Latex | Format::Html) => {
                match parse(statement, assume) {
                    Ok((st, a)) => {
                        let n = Notation::plain();
                        self.page(|pg| render::proof::refutation(pg, &st, &a, &c, &n))?;
                        (true, String::new(), String::new())
                    }
                    Err(e) => (false, format!("does not parse: {e}"), e),
                }
            }
            Ok(Outcome::Refuted(c)) => {
                let mut t = String::new();
                if let Ok(st) = syntax::parse_statement(statement) {
                    t.push_str(&format!(
                        "refuted: {} ≠ {}\n",
                        syntax::print(&st.lhs),
                        syntax::print(&st.rhs)
                    ));
                }
                if !assume.is_empty() {
                    t.push_str(&format!("assuming {}\n", assume.join(", ")));
                }
                render::counterexample_text(&mut t, &c)?;
                (true, t, String::new())
            }
            Ok(Outcome::Proved(_)) => (
                false,
                "✗ PROVED (expected a counterexample)".into(),
                "proved".into(),
            ),
            Ok(Outcome::Unknown { reason }) => (false, format!("✗ NOT REFUTED: {reason}"), reason),
        };
        if !text.is_empty() {
            self.block(&text)?;
        }
        self.report.checks.push(Check {
            what,
            kind: CheckKind::Refutation,
            held,
            detail,
        });
        Ok(held)
    }

    /// Record a check made elsewhere (e.g. by a derivation).
    fn record(&mut self, what: String, kind: CheckKind, held: bool, detail: String) {
        self.report.checks.push(Check {
            what,
            kind,
            held,
            detail,
        });
    }

    fn closing(&mut self) -> Res {
        let r = &self.report;
        let failed = r.checks.iter().filter(|c| !c.held).count();
        let text = if failed == 0 {
            format!(
                "All checks held: {} checked by the kernel, {} double-checked exactly, {} verified.",
                plural(r.proofs_checked(), "proof"),
                plural(r.refutations(), "counterexample"),
                plural(r.claims_held(), "numeric claim")
            )
        } else {
            format!("✗ {failed} checks FAILED; see the ✗ marks above.")
        };
        match self.format {
            Format::Text => writeln!(self.out, "{}\n{text}", "─".repeat(78))?,
            Format::Markdown => writeln!(self.out, "---\n\n**{text}**")?,
            Format::Latex | Format::Html => self.page(|p| {
                p.rule()?;
                p.para(&[Span::Strong(text)])
            })?,
        }
        Ok(())
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn statement_label(statement: &str, assume: &[&str]) -> String {
    if assume.is_empty() {
        statement.to_string()
    } else {
        format!("{statement}  (assuming {})", assume.join(", "))
    }
}

fn parse(
    statement: &str,
    assume: &[&str],
) -> Result<(crate::ir::Statement, Vec<crate::ir::Assumption>), String> {
    let st = syntax::parse_statement(statement).map_err(|e| e.message.clone())?;
    let a = assume
        .iter()
        .map(|s| syntax::parse_assumption(s).map_err(|e| e.message.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((st, a))
}

fn run(statement: &str, assume: &[&str]) -> Result<Outcome, String> {
    let (st, a) = parse(statement, assume)?;
    Ok(prove::prove(&st, &a, &Options::default()).0)
}

/// Greedy word wrap; lines that start with spaces are kept as they are.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for par in text.lines() {
        if par.starts_with(' ') || par.is_empty() {
            lines.push(par.to_string());
            continue;
        }
        // Glue operators to their neighbours so that no line starts or
        // ends with one (`b ←` / `− η`).
        let mut groups: Vec<String> = Vec::new();
        let mut glue_next = false;
        for word in par.split(' ') {
            let op = is_operator(word);
            match groups.last_mut() {
                Some(last) if op || glue_next => {
                    last.push(' ');
                    last.push_str(word);
                }
                _ => groups.push(word.to_string()),
            }
            glue_next = op;
        }
        let mut cur = String::new();
        for word in &groups {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        lines.push(cur);
    }
    lines
}

fn is_operator(w: &str) -> bool {
    matches!(
        w,
        "=" | "−" | "+" | "←" | "≠" | "≤" | "≥" | "·" | "⇒" | "∝" | "/" | "<" | ">"
    )
}

/// A rational for a table: exact when short, else a decimal marked `≈`.
pub(crate) fn show(r: &Rat) -> String {
    let s = r.to_string();
    if s.chars().count() <= 14 {
        s
    } else {
        format!("≈ {:.6}", r.to_f64().unwrap_or(f64::NAN))
    }
}

/// A list of rationals, `[a, b, …]`.
pub(crate) fn show_list(v: &[Rat]) -> String {
    let parts: Vec<String> = v.iter().map(show).collect();
    format!("[{}]", parts.join(", "))
}

//! A document writer with one vocabulary (headings, paragraphs with inline
//! math, displayed formulas, calc-style chains, tables, lists) and three
//! markups: LaTeX (amsmath), Markdown (`$`/`$$` math, as mdBook with a
//! KaTeX or MathJax preprocessor, GitHub and pandoc read it) and HTML with
//! MathML Core. Proofs, derivations and narratives are written once against
//! it.

use super::latex;
use super::layout::{Node, Op};
use super::linebreak::{self, Line};
use super::mathml::{self, escape};
use std::fmt::{self, Write};

/// The markup a [`Page`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    Latex,
    Markdown,
    Html,
}

/// A piece of running text.
#[derive(Clone, Debug)]
pub enum Span {
    Text(String),
    Math(Node),
    Code(String),
    Link { text: String, href: String },
    Strong(String),
}

impl Span {
    pub fn text(t: impl Into<String>) -> Span {
        Span::Text(t.into())
    }
    pub fn code(t: impl Into<String>) -> Span {
        Span::Code(t.into())
    }
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Span {
        Span::Link {
            text: text.into(),
            href: href.into(),
        }
    }
}

/// One row of an aligned block: `lhs op rhs`, with an optional note.
pub struct Row {
    pub lhs: Node,
    pub op: Op,
    pub rhs: Node,
    pub note: Vec<Span>,
}

/// Writes a document in one markup into any [`fmt::Write`].
pub struct Page<'a, W: Write> {
    out: &'a mut W,
    markup: Markup,
}

impl<'a, W: Write> Page<'a, W> {
    pub fn new(out: &'a mut W, markup: Markup) -> Self {
        Page { out, markup }
    }

    pub fn markup(&self) -> Markup {
        self.markup
    }

    /// A heading; level 1 is the page title. `anchor` gives HTML an id.
    pub fn heading(&mut self, level: u8, text: &str, anchor: Option<&str>) -> fmt::Result {
        self.heading_spans(level, &[Span::text(text)], anchor)
    }

    /// A heading of running text with formulas (`∂ℓ/∂γ` as math, not as
    /// letters in text mode).
    pub fn heading_spans(
        &mut self,
        level: u8,
        spans: &[Span],
        anchor: Option<&str>,
    ) -> fmt::Result {
        let body = self.spans(spans);
        match self.markup {
            Markup::Latex => {
                let cmd = match level {
                    0 | 1 => "section",
                    2 => "subsection",
                    _ => "subsubsection",
                };
                writeln!(self.out, "\\{cmd}*{{{body}}}\n")
            }
            Markup::Markdown => {
                writeln!(self.out, "{} {body}\n", "#".repeat(level.max(1) as usize))
            }
            Markup::Html => {
                let l = level.clamp(1, 4);
                let id = anchor
                    .map(|a| format!(r#" id="{}""#, escape(a)))
                    .unwrap_or_default();
                writeln!(self.out, "<h{l}{id}>{body}</h{l}>")
            }
        }
    }

    /// A paragraph.
    pub fn para(&mut self, spans: &[Span]) -> fmt::Result {
        let body = self.spans(spans);
        match self.markup {
            Markup::Latex if self.ragged(&[spans]) => {
                writeln!(self.out, "{{\\raggedright {body}\\par}}\n")
            }
            Markup::Latex | Markup::Markdown => writeln!(self.out, "{body}\n"),
            Markup::Html => writeln!(self.out, "<p>{body}</p>"),
        }
    }

    /// A paragraph of plain text.
    pub fn text(&mut self, t: &str) -> fmt::Result {
        self.para(&[Span::text(t)])
    }

    /// One displayed formula, broken into lines where it is too wide.
    pub fn display(&mut self, n: &Node) -> fmt::Result {
        let lines = self.lines(n, 0.0);
        match (self.markup, lines.as_slice()) {
            (Markup::Latex, [one]) => writeln!(self.out, "\\[\n{}\n\\]\n", latex::math(&one.node)),
            (Markup::Markdown, [one]) => writeln!(self.out, "$$\n{}\n$$\n", latex::math(&one.node)),
            (Markup::Latex | Markup::Markdown, _) => {
                let (open, close) = self.align_env();
                let rows: Vec<String> = lines
                    .iter()
                    .map(|l| format!("  &{}", latex::line(l)))
                    .collect();
                writeln!(self.out, "{open}\n{}\n{close}\n", rows.join(" \\\\\n"))
            }
            (Markup::Html, _) => writeln!(self.out, "{}", mathml::math_lines(&lines, true)),
        }
    }

    /// A formula as lines fitting this markup's width, less `used` ems
    /// taken by what stands before it on its first line.
    fn lines(&self, n: &Node, used: f32) -> Vec<Line> {
        linebreak::lines(n, self.budget() - used)
    }

    /// The width a line of this markup holds, in ems.
    fn budget(&self) -> f32 {
        match self.markup {
            Markup::Latex | Markup::Markdown => linebreak::LATEX_EMS,
            Markup::Html => linebreak::HTML_EMS,
        }
    }

    /// The LaTeX rows of a broken formula after an alignment point: the
    /// first after `first`, the others indented past it, `note` on the last
    /// (a `\tag*` in LaTeX, which amsmath moves below when it does not fit;
    /// a column in Markdown's `aligned`).
    fn latex_rows(&self, first: &str, lines: &[Line], note: &[Span]) -> String {
        let mut rows: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(k, l)| {
                if k == 0 {
                    format!("  {first}{}", latex::line(l))
                } else {
                    format!("  &\\quad {}", latex::line(l))
                }
            })
            .collect();
        if !note.is_empty() {
            let note = self.math_note(note);
            if let Some(last) = rows.last_mut() {
                match self.markup {
                    Markup::Latex => last.push_str(&format!(" \\tag*{{${note}$}}")),
                    _ => last.push_str(&format!(" && {note}")),
                }
            }
        }
        rows.join(" \\\\\n")
    }

    /// A hand-written display: its LaTeX where the markup has LaTeX math,
    /// its Unicode text in HTML.
    pub fn display_source(&mut self, latex_src: &str, text: &str) -> fmt::Result {
        match self.markup {
            Markup::Latex => writeln!(self.out, "\\[\n{latex_src}\n\\]\n"),
            Markup::Markdown => writeln!(self.out, "$$\n{latex_src}\n$$\n"),
            Markup::Html => writeln!(
                self.out,
                "<pre class=\"display\">{}</pre>",
                escape(text.trim_end())
            ),
        }
    }

    /// Rows aligned at their relation signs, each with an optional note.
    pub fn aligned(&mut self, rows: &[Row]) -> fmt::Result {
        if rows.is_empty() {
            return Ok(());
        }
        match self.markup {
            Markup::Latex | Markup::Markdown => {
                let (open, close) = self.align_env();
                writeln!(self.out, "{open}")?;
                let lines: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        let rel = latex::math(&Node::Op(r.op));
                        let first = format!("{} &{} ", latex::math(&r.lhs), rel.trim_end());
                        self.latex_rows(&first, &self.rhs_lines(r), &r.note)
                    })
                    .collect();
                writeln!(self.out, "{}", lines.join(" \\\\\n"))?;
                writeln!(self.out, "{close}\n")
            }
            Markup::Html => {
                writeln!(self.out, "<table class=\"aligned\">")?;
                for r in rows {
                    writeln!(
                        self.out,
                        "<tr><td class=\"lhs\">{}</td><td class=\"rel\">{}</td><td>{}</td><td class=\"note\">{}</td></tr>",
                        mathml::math(&r.lhs, false),
                        mathml::math(&Node::Op(r.op), false),
                        mathml::math_lines(&self.rhs_lines(r), false),
                        self.spans(&r.note)
                    )?;
                }
                writeln!(self.out, "</table>")
            }
        }
    }

    /// The right side of an aligned row as lines, after its left side and
    /// relation.
    fn rhs_lines(&self, r: &Row) -> Vec<Line> {
        let used = linebreak::width(&r.lhs) + linebreak::width(&Node::Op(r.op));
        self.lines(&r.rhs, used)
    }

    /// A calc-style chain: `first = e₁ = e₂ …`, each step with its reason.
    pub fn calc(&mut self, first: &Node, steps: &[(Node, Vec<Span>)]) -> fmt::Result {
        match self.markup {
            Markup::Latex | Markup::Markdown => {
                let (open, close) = self.align_env();
                writeln!(self.out, "{open}")?;
                let eq = linebreak::width(&Node::Op(Op::Eq));
                let mut lines = vec![self.latex_rows("&", &self.lines(first, eq), &[])];
                for (e, why) in steps {
                    lines.push(self.latex_rows("={}&", &self.lines(e, eq), why));
                }
                writeln!(self.out, "{}", lines.join(" \\\\\n"))?;
                writeln!(self.out, "{close}\n")
            }
            Markup::Html => {
                let eq = linebreak::width(&Node::Op(Op::Eq));
                writeln!(self.out, "<table class=\"calc\">")?;
                writeln!(
                    self.out,
                    "<tr><td class=\"rel\"></td><td>{}</td><td class=\"note\"></td></tr>",
                    mathml::math_lines(&self.lines(first, eq), false)
                )?;
                for (e, why) in steps {
                    writeln!(
                        self.out,
                        "<tr><td class=\"rel\"><math><mo>=</mo></math></td><td>{}</td><td class=\"note\">{}</td></tr>",
                        mathml::math_lines(&self.lines(e, eq), false),
                        self.spans(why)
                    )?;
                }
                writeln!(self.out, "</table>")
            }
        }
    }

    /// A bulleted list.
    pub fn list(&mut self, items: &[Vec<Span>]) -> fmt::Result {
        if items.is_empty() {
            return Ok(());
        }
        match self.markup {
            Markup::Latex => {
                let items_ref: Vec<&[Span]> = items.iter().map(Vec::as_slice).collect();
                let ragged = self.ragged(&items_ref);
                if ragged {
                    writeln!(self.out, "{{\\raggedright")?;
                }
                writeln!(self.out, "\\begin{{itemize}}")?;
                for i in items {
                    writeln!(self.out, "  \\item {}", self.spans(i))?;
                }
                writeln!(self.out, "\\end{{itemize}}")?;
                writeln!(self.out, "{}", if ragged { "}\n" } else { "" })
            }
            Markup::Markdown => {
                for i in items {
                    writeln!(self.out, "- {}", self.spans(i))?;
                }
                writeln!(self.out)
            }
            Markup::Html => {
                writeln!(self.out, "<ul>")?;
                for i in items {
                    writeln!(self.out, "<li>{}</li>", self.spans(i))?;
                }
                writeln!(self.out, "</ul>")
            }
        }
    }

    /// A table with a header row.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<Vec<Span>>]) -> fmt::Result {
        match self.markup {
            Markup::Latex => {
                let mut natural: Vec<f32> = header.iter().map(|h| text_width(h)).collect();
                let mut least: Vec<f32> = header
                    .iter()
                    .map(|h| least_width(&[Span::text(*h)]))
                    .collect();
                for r in rows {
                    for (k, c) in r.iter().enumerate().take(header.len()) {
                        natural[k] = natural[k].max(spans_width(c));
                        least[k] = least[k].max(least_width(c));
                    }
                }
                // A column's padding (`\tabcolsep` each side) is 1.2 em. A
                // table that cannot fit is set smaller: 9 pt, 0.9 em padding.
                let cols = header.len() as f32;
                let small = least.iter().sum::<f32>() > self.budget() - 1.2 * cols;
                let room = if small {
                    self.budget() * 10.0 / 9.0 - 0.9 * cols
                } else {
                    self.budget() - 1.2 * cols
                };
                let widths = column_widths(&natural, &least, room);
                if small {
                    writeln!(self.out, "{{\\small\\setlength{{\\tabcolsep}}{{4pt}}")?;
                }
                writeln!(
                    self.out,
                    "\\begin{{tabular}}{{{}}}\n\\hline",
                    "l".repeat(header.len())
                )?;
                let cell = |body: String, k: usize| match widths.get(k).copied().flatten() {
                    Some(w) => format!("\\parbox[t]{{{w:.1}em}}{{\\raggedright {body}}}"),
                    None => body,
                };
                let head: Vec<String> = header
                    .iter()
                    .enumerate()
                    .map(|(k, h)| cell(latex::text(h), k))
                    .collect();
                writeln!(self.out, "{} \\\\ \\hline", head.join(" & "))?;
                for r in rows {
                    let cells: Vec<String> = r
                        .iter()
                        .enumerate()
                        .map(|(k, c)| cell(self.spans_in(c, widths.get(k).copied().flatten()), k))
                        .collect();
                    writeln!(self.out, "{} \\\\", cells.join(" & "))?;
                }
                writeln!(self.out, "\\hline\n\\end{{tabular}}")?;
                writeln!(self.out, "{}", if small { "}\n" } else { "" })
            }
            Markup::Markdown => {
                writeln!(self.out, "| {} |", header.join(" | "))?;
                let rule: Vec<&str> = header.iter().map(|_| "---").collect();
                writeln!(self.out, "|{}|", rule.join("|"))?;
                for r in rows {
                    let cells: Vec<String> = r
                        .iter()
                        .map(|c| self.spans(c).replace('|', "\\|"))
                        .collect();
                    writeln!(self.out, "| {} |", cells.join(" | "))?;
                }
                writeln!(self.out)
            }
            Markup::Html => {
                writeln!(self.out, "<table class=\"grid\">")?;
                let head: Vec<String> = header
                    .iter()
                    .map(|h| format!("<th>{}</th>", escape(h)))
                    .collect();
                writeln!(self.out, "<tr>{}</tr>", head.join(""))?;
                for r in rows {
                    let cells: Vec<String> = r
                        .iter()
                        .map(|c| format!("<td>{}</td>", self.spans(c)))
                        .collect();
                    writeln!(self.out, "<tr>{}</tr>", cells.join(""))?;
                }
                writeln!(self.out, "</table>")
            }
        }
    }

    /// Preformatted text, line by line.
    pub fn pre(&mut self, text: &str) -> fmt::Result {
        match self.markup {
            Markup::Latex => {
                writeln!(self.out, "\\begin{{flushleft}}\\ttfamily")?;
                // The text width holds 65 typewriter characters.
                let lines: Vec<String> = super::text::wrap_lines(text.trim_end(), 64)
                    .lines()
                    .map(|l| latex::text(l).replace(' ', "~"))
                    .collect();
                writeln!(self.out, "{}", lines.join("\\\\\n"))?;
                writeln!(self.out, "\\end{{flushleft}}\n")
            }
            Markup::Markdown => writeln!(self.out, "```text\n{}\n```\n", text.trim_end()),
            Markup::Html => writeln!(self.out, "<pre>{}</pre>", escape(text.trim_end())),
        }
    }

    /// A horizontal rule.
    pub fn rule(&mut self) -> fmt::Result {
        match self.markup {
            Markup::Latex => writeln!(self.out, "\\medskip\\hrule\\medskip\n"),
            Markup::Markdown => writeln!(self.out, "---\n"),
            Markup::Html => writeln!(self.out, "<hr>"),
        }
    }

    /// Raw markup, written as it is.
    pub fn raw(&mut self, s: &str) -> fmt::Result {
        self.out.write_str(s)
    }

    fn align_env(&self) -> (&'static str, &'static str) {
        match self.markup {
            Markup::Markdown => ("$$\n\\begin{aligned}", "\\end{aligned}\n$$"),
            // A long chain may run over a page break.
            _ => ("{\\allowdisplaybreaks\n\\begin{align*}", "\\end{align*}}"),
        }
    }

    /// Spans inside a LaTeX formula (a note column).
    fn math_note(&self, spans: &[Span]) -> String {
        spans
            .iter()
            .map(|s| match s {
                Span::Math(n) => latex::math(n),
                Span::Text(t) | Span::Link { text: t, .. } => {
                    format!("\\text{{{}}}", latex::text(t))
                }
                Span::Code(t) => format!("\\texttt{{{}}}", latex::text(t)),
                Span::Strong(t) => format!("\\textbf{{{}}}", latex::text(t)),
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// Whether some of these paragraphs hold formulas (or long names) and
    /// will not fit on a line: LaTeX sets them ragged right, since a
    /// formula cannot be stretched, and a justified line around one would
    /// rather stick out of the text width than leave a gap.
    fn ragged(&self, paras: &[&[Span]]) -> bool {
        let stiff = |s: &Span| match s {
            Span::Math(_) | Span::Code(_) => true,
            // A long word TeX cannot hyphenate (`torch.nn.InstanceNorm2d`).
            Span::Text(t) => t
                .split_whitespace()
                .any(|w| w.chars().count() > 20 && !w.contains('-')),
            _ => false,
        };
        paras
            .iter()
            .any(|p| p.iter().any(stiff) && spans_width(p) > self.budget())
    }

    /// A formula in running text, broken to `budget` ems: a `$…$` per line,
    /// so that the paragraph can break between them.
    fn inline_latex(&self, n: &Node, budget: f32) -> String {
        let pieces: Vec<String> = linebreak::lines(n, budget)
            .into_iter()
            .map(|l| {
                let unindented = Line { indent: 0, ..l };
                format!("${}$", latex::line(&unindented))
            })
            .collect();
        pieces.join(" ")
    }

    /// Spans as running text.
    fn spans(&self, spans: &[Span]) -> String {
        self.spans_in(spans, None)
    }

    /// Spans as running text; in a `narrow` column (its width in ems),
    /// formulas are broken to its width and names in code may break after
    /// their hyphens.
    fn spans_in(&self, spans: &[Span], narrow: Option<f32>) -> String {
        let budget = narrow.unwrap_or(self.budget());
        let hyphen = if narrow.is_some() {
            "-\\allowbreak{}"
        } else {
            "-"
        };
        spans
            .iter()
            .map(|s| match (self.markup, s) {
                (Markup::Latex, Span::Text(t)) => latex::text(t),
                (Markup::Latex | Markup::Markdown, Span::Math(n)) => self.inline_latex(n, budget),
                (Markup::Latex, Span::Code(t)) => {
                    format!("\\texttt{{{}}}", latex::text(t).replace('-', hyphen))
                }
                (Markup::Latex, Span::Link { text, .. }) => latex::text(text),
                (Markup::Latex, Span::Strong(t)) => format!("\\textbf{{{}}}", latex::text(t)),
                (Markup::Markdown, Span::Text(t)) => t.clone(),
                (Markup::Markdown, Span::Code(t)) => format!("`{t}`"),
                (Markup::Markdown, Span::Link { text, href }) => format!("[{text}]({href})"),
                (Markup::Markdown, Span::Strong(t)) => format!("**{t}**"),
                (Markup::Html, Span::Text(t)) => escape(t),
                (Markup::Html, Span::Math(n)) => {
                    mathml::math_lines(&linebreak::lines(n, budget), false)
                }
                (Markup::Html, Span::Code(t)) => format!("<code>{}</code>", escape(t)),
                (Markup::Html, Span::Link { text, href }) => {
                    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
                }
                (Markup::Html, Span::Strong(t)) => format!("<strong>{}</strong>", escape(t)),
            })
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Running text's estimated width in ems (a proportional font's letters
/// are about half an em wide).
fn text_width(t: &str) -> f32 {
    0.5 * t.chars().count() as f32
}

/// The estimated width of spans set on one line, in ems.
fn spans_width(spans: &[Span]) -> f32 {
    spans
        .iter()
        .map(|s| match s {
            Span::Math(n) => linebreak::width(n),
            Span::Text(t) | Span::Strong(t) | Span::Link { text: t, .. } => text_width(t),
            // Typewriter letters are 0.525 em.
            Span::Code(t) => 0.525 * t.chars().count() as f32,
        })
        .sum()
}

/// The widest piece of spans that cannot break, in ems: a word, a name in
/// code (breaking after its hyphens), a formula's operand.
fn least_width(spans: &[Span]) -> f32 {
    let words = |t: &str, em: f32| {
        t.split(|c: char| c.is_whitespace() || c == '-')
            .map(|w| em * (w.chars().count() + 1) as f32)
            .fold(0.0, f32::max)
    };
    spans
        .iter()
        .map(|s| match s {
            Span::Math(n) => linebreak::width(n).min(MATH_LEAST),
            Span::Text(t) | Span::Strong(t) | Span::Link { text: t, .. } => words(t, 0.5),
            Span::Code(t) => words(t, 0.525),
        })
        .fold(0.0, f32::max)
}

/// How narrow a column of formulas may get, in ems: a line of a broken
/// formula can be no narrower than its widest operand.
const MATH_LEAST: f32 = 14.0;

/// The widths of a table's columns within `room` ems, given each column's
/// natural and least width: `None` for a column that keeps its natural
/// width, else the width its cells wrap to. As a browser does: columns
/// narrower than an equal share of what is left keep theirs, columns that
/// cannot be as narrow as the share get their least width, the others share
/// the rest.
fn column_widths(natural: &[f32], least: &[f32], room: f32) -> Vec<Option<f32>> {
    let mut set: Vec<Option<Option<f32>>> = vec![None; natural.len()];
    loop {
        let taken: f32 = set
            .iter()
            .zip(natural)
            .filter_map(|(w, n)| w.map(|w| w.unwrap_or(*n)))
            .sum();
        let open: Vec<usize> = (0..natural.len()).filter(|&k| set[k].is_none()).collect();
        if open.is_empty() {
            return set.into_iter().map(Option::flatten).collect();
        }
        let share = (room - taken) / open.len() as f32;
        let mut changed = false;
        for &k in &open {
            if natural[k] <= share.max(least[k]) {
                set[k] = Some(None);
                changed = true;
            } else if least[k] >= share {
                set[k] = Some(Some(least[k]));
                changed = true;
            }
        }
        if !changed {
            for k in open {
                set[k] = Some(Some(share));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::layout;
    use super::super::notation::Notation;
    use super::*;

    fn displayed(s: &str, markup: Markup) -> (String, Node) {
        let n = layout(&crate::syntax::parse_expr(s).unwrap(), &Notation::plain());
        let mut out = String::new();
        Page::new(&mut out, markup).display(&n).unwrap();
        (out, n)
    }

    #[test]
    fn a_long_display_is_a_row_per_line_in_latex_and_html() {
        let long = (0..10)
            .map(|i| format!("a{i}[n] * (x[n] - mu) / sqrt(var + eps)"))
            .collect::<Vec<_>>()
            .join(" + ");
        let (tex, n) = displayed(&format!("sum[n](dy[n] * ({long}))"), Markup::Latex);
        let rows = linebreak::lines(&n, linebreak::LATEX_EMS).len();
        assert!(rows > 2);
        let tex_rows: Vec<&str> = tex.lines().filter(|l| l.starts_with("  &")).collect();
        assert_eq!(tex_rows.len(), rows, "{tex}");
        for r in tex_rows {
            assert_eq!(
                r.matches("\\left").count(),
                r.matches("\\right").count(),
                "{r}"
            );
        }
        let (html, n) = displayed(&long, Markup::Html);
        let rows = linebreak::lines(&n, linebreak::HTML_EMS).len();
        assert!(rows > 1);
        assert_eq!(html.matches("<mtr>").count(), rows, "{html}");
    }

    #[test]
    fn a_short_display_is_unchanged() {
        assert_eq!(displayed("a + b", Markup::Latex).0, "\\[\na + b\n\\]\n\n");
        assert!(!displayed("a + b", Markup::Html).0.contains("mtable"));
    }

    #[test]
    fn narrow_columns_keep_their_width_and_wide_ones_share_the_rest() {
        let w = |natural: &[f32], least: &[f32]| column_widths(natural, least, 30.0);
        assert_eq!(w(&[5.0, 10.0], &[1.0, 1.0]), vec![None, None]);
        assert_eq!(
            w(&[5.0, 40.0, 30.0], &[1.0, 2.0, 2.0]),
            vec![None, Some(12.5), Some(12.5)]
        );
        assert_eq!(
            w(&[5.0, 40.0, 9.0], &[1.0, 2.0, 2.0]),
            vec![None, Some(16.0), None]
        );
        // A column of long names keeps what it cannot do without.
        assert_eq!(
            w(&[5.0, 40.0, 30.0], &[1.0, 2.0, 20.0]),
            vec![None, Some(5.0), Some(20.0)]
        );
    }
}

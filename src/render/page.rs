//! A document writer with one vocabulary (headings, paragraphs with inline
//! math, displayed formulas, calc-style chains, tables, lists) and three
//! markups: LaTeX (amsmath), Markdown (`$`/`$$` math, as mdBook with a
//! KaTeX or MathJax preprocessor, GitHub and pandoc read it) and HTML with
//! MathML Core. Proofs, derivations and narratives are written once against
//! it.

use super::latex;
use super::layout::{Node, Op};
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
        match self.markup {
            Markup::Latex => {
                let cmd = match level {
                    0 | 1 => "section",
                    2 => "subsection",
                    _ => "subsubsection",
                };
                writeln!(self.out, "\\{cmd}*{{{}}}\n", latex::text(text))
            }
            Markup::Markdown => {
                writeln!(self.out, "{} {text}\n", "#".repeat(level.max(1) as usize))
            }
            Markup::Html => {
                let l = level.clamp(1, 4);
                let id = anchor
                    .map(|a| format!(r#" id="{}""#, escape(a)))
                    .unwrap_or_default();
                writeln!(self.out, "<h{l}{id}>{}</h{l}>", escape(text))
            }
        }
    }

    /// A paragraph.
    pub fn para(&mut self, spans: &[Span]) -> fmt::Result {
        let body = self.spans(spans);
        match self.markup {
            Markup::Latex | Markup::Markdown => writeln!(self.out, "{body}\n"),
            Markup::Html => writeln!(self.out, "<p>{body}</p>"),
        }
    }

    /// A paragraph of plain text.
    pub fn text(&mut self, t: &str) -> fmt::Result {
        self.para(&[Span::text(t)])
    }

    /// One displayed formula.
    pub fn display(&mut self, n: &Node) -> fmt::Result {
        match self.markup {
            Markup::Latex => writeln!(self.out, "\\[\n{}\n\\]\n", latex::math(n)),
            Markup::Markdown => writeln!(self.out, "$$\n{}\n$$\n", latex::math(n)),
            Markup::Html => writeln!(self.out, "{}", mathml::math(n, true)),
        }
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
                        let mut l = format!(
                            "  {} &{} {}",
                            latex::math(&r.lhs),
                            rel.trim_end(),
                            latex::math(&r.rhs)
                        );
                        if !r.note.is_empty() {
                            l.push_str(&format!(" && {}", self.math_note(&r.note)));
                        }
                        l
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
                        mathml::math(&r.rhs, false),
                        self.spans(&r.note)
                    )?;
                }
                writeln!(self.out, "</table>")
            }
        }
    }

    /// A calc-style chain: `first = e₁ = e₂ …`, each step with its reason.
    pub fn calc(&mut self, first: &Node, steps: &[(Node, Vec<Span>)]) -> fmt::Result {
        match self.markup {
            Markup::Latex | Markup::Markdown => {
                let (open, close) = self.align_env();
                writeln!(self.out, "{open}")?;
                let mut lines = vec![format!("  &{}", latex::math(first))];
                for (e, why) in steps {
                    let mut l = format!("  ={{}}&{}", latex::math(e));
                    if !why.is_empty() {
                        l.push_str(&format!(" && {}", self.math_note(why)));
                    }
                    lines.push(l);
                }
                writeln!(self.out, "{}", lines.join(" \\\\\n"))?;
                writeln!(self.out, "{close}\n")
            }
            Markup::Html => {
                writeln!(self.out, "<table class=\"calc\">")?;
                writeln!(
                    self.out,
                    "<tr><td class=\"rel\"></td><td>{}</td><td class=\"note\"></td></tr>",
                    mathml::math(first, false)
                )?;
                for (e, why) in steps {
                    writeln!(
                        self.out,
                        "<tr><td class=\"rel\"><math><mo>=</mo></math></td><td>{}</td><td class=\"note\">{}</td></tr>",
                        mathml::math(e, false),
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
                writeln!(self.out, "\\begin{{itemize}}")?;
                for i in items {
                    writeln!(self.out, "  \\item {}", self.spans(i))?;
                }
                writeln!(self.out, "\\end{{itemize}}\n")
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
                writeln!(
                    self.out,
                    "\\begin{{tabular}}{{{}}}\n\\hline",
                    "l".repeat(header.len())
                )?;
                let head: Vec<String> = header.iter().map(|h| latex::text(h)).collect();
                writeln!(self.out, "{} \\\\ \\hline", head.join(" & "))?;
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| self.spans(c)).collect();
                    writeln!(self.out, "{} \\\\", cells.join(" & "))?;
                }
                writeln!(self.out, "\\hline\n\\end{{tabular}}\n")
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
                let lines: Vec<String> = text
                    .trim_end()
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
            _ => ("\\begin{align*}", "\\end{align*}"),
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

    /// Spans as running text.
    fn spans(&self, spans: &[Span]) -> String {
        spans
            .iter()
            .map(|s| match (self.markup, s) {
                (Markup::Latex, Span::Text(t)) => latex::text(t),
                (Markup::Latex, Span::Math(n)) => format!("${}$", latex::math(n)),
                (Markup::Latex, Span::Code(t)) => format!("\\texttt{{{}}}", latex::text(t)),
                (Markup::Latex, Span::Link { text, .. }) => latex::text(text),
                (Markup::Latex, Span::Strong(t)) => format!("\\textbf{{{}}}", latex::text(t)),
                (Markup::Markdown, Span::Text(t)) => t.clone(),
                (Markup::Markdown, Span::Math(n)) => format!("${}$", latex::math(n)),
                (Markup::Markdown, Span::Code(t)) => format!("`{t}`"),
                (Markup::Markdown, Span::Link { text, href }) => format!("[{text}]({href})"),
                (Markup::Markdown, Span::Strong(t)) => format!("**{t}**"),
                (Markup::Html, Span::Text(t)) => escape(t),
                (Markup::Html, Span::Math(n)) => mathml::math(n, false),
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

//! Rendering of proofs, counterexamples, derivations and theorem tables.
//! One renderer, several presets ([`Format`]): terminal text, LaTeX
//! (amsmath), Markdown (`$`/`$$` math), self-contained HTML (MathML Core, no
//! script) and JSON. The library writes into any [`fmt::Write`]; only the
//! command line prints.
//!
//! - [`notation`]: how names are drawn (Greek letters, hats, μ_B, σ²_B, ∂ℓ/∂y);
//! - [`layout`]: an expression laid out once (precedence, fractions, roots);
//! - [`linebreak`]: where a formula too wide for the page breaks into lines;
//! - [`latex`] and [`mathml`]: the layout written as LaTeX or MathML;
//! - [`page`]: a document vocabulary written in LaTeX, Markdown or HTML;
//! - [`proof`], [`derivation`], [`theorems`]: what bnproof reports, as pages;
//! - [`graph`]: a derivation's computational graph as a figure (SVG, LaTeX);
//! - [`html`]: the standalone HTML document around a page;
//! - [`text`]: the terminal rendering.

pub mod derivation;
pub mod graph;
pub mod html;
pub mod latex;
pub mod layout;
pub mod linebreak;
pub mod mathml;
pub mod notation;
pub mod page;
pub mod proof;
pub mod text;
pub mod theorems;

pub use notation::Notation;
pub use page::{Markup, Page, Span};
pub use text::{counterexample_text, proof_text, value_text};

use std::fmt::{self, Write};

/// An output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Unicode text for a terminal, calc-style steps aligned.
    #[default]
    Text,
    /// A LaTeX fragment (`\section*`, amsmath `align*`) for `\input`.
    Latex,
    /// Markdown with `$…$` and `$$…$$` math.
    Markdown,
    /// A self-contained HTML page with MathML.
    Html,
    /// Machine-readable JSON.
    Json,
}

impl Format {
    /// The markup of a document format (`None` for text and JSON).
    pub fn markup(self) -> Option<Markup> {
        match self {
            Format::Latex => Some(Markup::Latex),
            Format::Markdown => Some(Markup::Markdown),
            Format::Html => Some(Markup::Html),
            Format::Text | Format::Json => None,
        }
    }
}

/// The preset a renderer follows.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub format: Format,
    /// How names are drawn in formulas.
    pub notation: Notation,
    /// HTML: a whole document (true) or only the body's content.
    pub standalone: bool,
}

impl Options {
    /// A format with the plain notation, standalone.
    pub fn new(format: Format) -> Options {
        Options {
            format,
            notation: Notation::plain(),
            standalone: true,
        }
    }

    /// Write a document in this preset: `body` fills a [`Page`] in the
    /// format's markup, using the preset's notation; in HTML with
    /// `standalone`, the page becomes a whole document titled `title`. The
    /// text and JSON presets are not documents: they write nothing and fail.
    pub fn document<W: Write>(
        &self,
        out: &mut W,
        title: &str,
        body: impl FnOnce(&mut Page<'_, String>, &Notation) -> fmt::Result,
    ) -> fmt::Result {
        let markup = self.format.markup().ok_or(fmt::Error)?;
        let mut s = String::new();
        body(&mut Page::new(&mut s, markup), &self.notation)?;
        if markup == Markup::Html && self.standalone {
            html::document(out, title, &[], None, &s)
        } else {
            out.write_str(&s)
        }
    }
}

/// The steps of one chain a reader sees: consecutive unfoldings (or
/// foldings) of the same definition shown as one step, with how many
/// occurrences it took.
pub(crate) fn shown(steps: &[crate::kernel::Step]) -> Vec<(&crate::kernel::Step, usize)> {
    let mut out: Vec<(&crate::kernel::Step, usize)> = Vec::new();
    for s in steps {
        match out.last_mut() {
            Some((last, k))
                if crate::kernel::def_name(&s.rule).is_some()
                    && last.rule == s.rule
                    && last.direction == s.direction =>
            {
                *last = s;
                *k += 1;
            }
            _ => out.push((s, 1)),
        }
    }
    out
}

/// The one-line justification of a step's rule.
pub(crate) fn rule_why(name: &str) -> &'static str {
    if crate::kernel::def_name(name).is_some() {
        return "replaces the name by its definition (← : the definition by the name)";
    }
    if crate::kernel::have_index(name).is_some() {
        return "the fact of that number, proved above";
    }
    if crate::kernel::lemma_name(name).is_some() {
        return "an instance of the lemma of that name, proved above";
    }
    match crate::rules::get(name) {
        Some(r) => r.why,
        None => crate::rules::normal_form_step(name).unwrap_or("unknown rule"),
    }
}

/// A lemma instance's axis renamings (`("i", "n")`, `("i", "[h,n,w]")`) and symbol
/// replacements (`("x", x[n])`).
type Instance<'a> = (Vec<(&'a str, String)>, Vec<(&'a str, &'a crate::ir::Expr)>);

/// A lemma step's substitution, axes first.
pub(crate) fn lemma_instance(subst: &crate::rules::Subst) -> Instance<'_> {
    let mut axes = Vec::new();
    let mut exprs = Vec::new();
    for (k, b) in subst {
        match b {
            crate::rules::Binding::Axes(a) => axes.push((
                k.as_str(),
                match a.as_slice() {
                    [one] => one.clone(),
                    _ => format!("[{}]", a.join(",")),
                },
            )),
            crate::rules::Binding::Expr(e) => exprs.push((k.as_str(), e)),
        }
    }
    (axes, exprs)
}

/// The rules a proof uses (its lemmas' and haves' too), each once, in
/// order of first use.
pub(crate) fn used_rules(p: &crate::kernel::Proof) -> Vec<&str> {
    let mut used: Vec<&str> = Vec::new();
    for s in p
        .lemmas
        .iter()
        .flat_map(|l| &l.steps)
        .chain(p.haves.iter().flat_map(|h| &h.steps))
        .chain(&p.steps)
    {
        if !used.contains(&s.rule.as_str()) {
            used.push(&s.rule);
        }
    }
    used
}

//! `bnproof docs`: a static coursework site, generated from live results.
//!
//! One flat directory that works from the file system (relative links, no
//! server, no script, no network): `index.html`, a page per built-in model
//! (forward pass, its computational graph, derivation, gradients, every proof in full, and the exact
//! and f64 verification computed while the page is written), a page per
//! library theorem (its proof or counterexample), a page per `explain`
//! topic (the seed's with its plot inlined, and as `explain-seed.svg`), and
//! a Markdown twin (`.md`) of every page. Every page carries the same
//! navigation bar.

use crate::derive::{self, DeriveOptions};
use crate::explain;
use crate::library::{self, Run};
use crate::models;
use crate::prove::Options;
use crate::render::html::{self, NavLink};
use crate::render::{derivation, theorems, Markup, Page, Span};
use crate::verify::{self, Backend, Status, VerifyOptions};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Time limit per statement. Generous: a site is a batch job, and its
/// verdicts must not depend on the machine's load (or a debug build); a
/// statement that is proved stops long before it.
const PROVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The explanation topics with a page (and whether they have a plot).
const TOPICS: &[(&str, bool)] = &[("seed", true), ("bn-backward", false), ("scale", true)];

/// What the generated site holds and whether every check in it held.
#[derive(Clone, Debug, Default)]
pub struct DocsReport {
    /// Every file written, relative to the output directory.
    pub files: Vec<String>,
    /// The HTML pages among them.
    pub pages: usize,
    /// One line per check that did not hold (empty when all held).
    pub failures: Vec<String>,
}

impl DocsReport {
    pub fn all_held(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why the site could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot write to {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Generate(String),
}

impl From<fmt::Error> for DocsError {
    fn from(_: fmt::Error) -> Self {
        DocsError::Generate("could not format a page".into())
    }
}

fn model_file(name: &str) -> String {
    format!("model-{name}")
}

fn theorem_file(name: &str) -> String {
    format!("theorem-{name}")
}

fn topic_file(name: &str) -> String {
    format!("explain-{name}")
}

/// A student's derivation with one wrong step, graded on its own page.
const GRADED_EXAMPLE: &str = include_str!("../examples/derivations/batchnorm-wrong-step.bn");
const GRADED_PAGE: &str = "graded-derivation";

/// The graded example's page; returns whether it graded as its comment
/// says (exactly one wrong step, none unknown).
fn graded_page(site: &mut Site) -> Result<bool, DocsError> {
    let model = crate::syntax::parse_model(GRADED_EXAMPLE)
        .map_err(|e| DocsError::Generate(e.render("batchnorm-wrong-step.bn", GRADED_EXAMPLE)))?;
    let g = crate::grade::grade(&model).map_err(|e| DocsError::Generate(e.to_string()))?;
    let wrong = g
        .steps
        .iter()
        .filter(|s| matches!(s.verdict, crate::grade::StepVerdict::Wrong { .. }))
        .count();
    let held = wrong == 1 && !g.unknown();
    if !held {
        site.report.failures.push(format!(
            "graded derivation: {wrong} wrong steps (expected 1)"
        ));
    }
    site.page(GRADED_PAGE, "bnproof: a graded derivation", |p, _| {
        p.para(&[
            Span::text("A student's derivation of the batch-norm backward pass, written one step per line and graded by "),
            Span::code("bnproof check-derivation examples/derivations/batchnorm-wrong-step.bn"),
            Span::text(". Each step is checked against the line before it: ok with a kernel-checked proof, wrong with a double-checked counterexample and the residual (this line minus the previous one), or unknown."),
        ])?;
        p.pre(GRADED_EXAMPLE)?;
        crate::grade::page(p, "batchnorm-wrong-step.bn", &g)
    })?;
    Ok(held)
}

/// The navigation bar: home, every model, the theorems, the topics.
fn nav() -> Vec<NavLink> {
    let mut v = vec![NavLink {
        label: "bnproof".into(),
        href: "index.html".into(),
    }];
    for m in models::builtin_names() {
        v.push(NavLink {
            label: m.into(),
            href: format!("{}.html", model_file(m)),
        });
    }
    v.push(NavLink {
        label: "graded derivation".into(),
        href: format!("{GRADED_PAGE}.html"),
    });
    v.push(NavLink {
        label: "theorems".into(),
        href: "theorems.html".into(),
    });
    for (t, _) in TOPICS {
        v.push(NavLink {
            label: format!("explain {t}"),
            href: format!("{}.html", topic_file(t)),
        });
    }
    v
}

/// Writes pages into the output directory.
struct Site {
    dir: PathBuf,
    nav: Vec<NavLink>,
    report: DocsReport,
}

impl Site {
    fn write(&mut self, file: &str, content: &str) -> Result<(), DocsError> {
        let path = self.dir.join(file);
        std::fs::write(&path, content).map_err(|source| DocsError::Io { path, source })?;
        self.report.files.push(file.to_string());
        Ok(())
    }

    /// A page as HTML (in the site's frame) and as Markdown; `body` gets the
    /// page and the extension its links to other pages use.
    fn page(
        &mut self,
        stem: &str,
        title: &str,
        body: impl Fn(&mut Page<'_, String>, &str) -> fmt::Result,
    ) -> Result<(), DocsError> {
        let mut inner = String::new();
        body(&mut Page::new(&mut inner, Markup::Html), "html")?;
        let mut doc = String::new();
        let file = format!("{stem}.html");
        html::document(&mut doc, title, &self.nav, Some(&file), &inner)?;
        self.write(&file, &doc)?;
        self.report.pages += 1;
        let mut md = String::new();
        body(&mut Page::new(&mut md, Markup::Markdown), "md")?;
        self.write(&format!("{stem}.md"), &md)
    }
}

/// Generate the site into `dir` (created if missing).
pub fn generate(dir: &Path) -> Result<DocsReport, DocsError> {
    std::fs::create_dir_all(dir).map_err(|source| DocsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut site = Site {
        dir: dir.to_path_buf(),
        nav: nav(),
        report: DocsReport::default(),
    };
    let mut summary: Vec<(String, String, bool)> = Vec::new();
    for name in models::builtin_names() {
        let held = model_page(&mut site, name)?;
        summary.push((name.to_string(), model_file(name), held));
    }
    let graded = graded_page(&mut site)?;
    let runs: Vec<Run> = library::THEOREMS
        .iter()
        .map(|t| {
            let opts = Options {
                timeout: PROVER_TIMEOUT,
                ..Options::default()
            };
            library::run(t, &opts)
        })
        .collect();
    for r in &runs {
        if !r.as_expected() {
            site.report.failures.push(format!(
                "theorem {}: {} (expected {})",
                r.theorem.name,
                r.verdict(),
                r.theorem.expect.as_str()
            ));
        }
        site.page(&theorem_file(r.theorem.name), r.theorem.name, |p, _| {
            theorems::theorem(p, r)
        })?;
    }
    site.page("theorems", "bnproof: the theorem library", |p, ext| {
        p.heading(1, "The theorem library", None)?;
        p.text("Every entry was run while this page was generated: theorems are proved and re-checked by the kernel, false neighbours refuted with a double-checked counterexample.")?;
        theorems::table(p, &runs, |n| Some(format!("{}.{ext}", theorem_file(n))))
    })?;
    let mut topics: Vec<(String, String, bool)> = Vec::new();
    for (topic, plotted) in TOPICS {
        let held = topic_page(&mut site, topic, *plotted)?;
        topics.push((topic.to_string(), topic_file(topic), held));
    }
    let theorems_ok = runs.iter().filter(|r| r.as_expected()).count();
    let all_held = site.report.failures.is_empty();
    site.page("index", "bnproof: normalization layers, proved", |p, ext| {
        p.heading(1, "bnproof: normalization layers, proved", None)?;
        p.text("Derivations of batch normalization and its relatives, every gradient proved equal to the paper's formulas by a small proof kernel and cross-checked numerically, exactly and in f64. Everything on these pages was computed while they were generated.")?;
        let held_text = |held: bool| if held { " ✓ every check held" } else { " ✗ a check failed" };
        let items = |rows: &[(String, String, bool)]| -> Vec<Vec<Span>> {
            rows.iter()
                .map(|(label, stem, held)| {
                    vec![Span::link(label.clone(), format!("{stem}.{ext}")), Span::text(held_text(*held))]
                })
                .collect()
        };
        p.heading(2, "Reading order", Some("reading-order"))?;
        p.list(&[
            vec![Span::text("1. The question bnproof was born from: "), Span::link("why Eq. (1) of the Batch Normalization paper holds, and what its \"Then\" means", format!("{}.{ext}", topic_file("seed")))],
            vec![Span::text("2. "), Span::link("The other explanations", "#explanations"), Span::text(": the backward pass, step by step, and what scaling a layer's weights does.")],
            vec![Span::text("3. "), Span::link("The models", "#models"), Span::text(": each layer's forward pass, derivation, gradients and proofs.")],
            vec![Span::text("4. "), Span::link("A graded derivation", "#graded"), Span::text(": a student's derivation checked line by line.")],
            vec![Span::text("5. "), Span::link("The theorem library", "#theorems"), Span::text(": every identity used, with its proof or counterexample.")],
        ])?;
        p.heading(2, "Explanations", Some("explanations"))?;
        let explain: Vec<(String, String, bool)> = topics
            .iter()
            .map(|(t, stem, held)| (format!("explain {t}"), stem.clone(), *held))
            .collect();
        p.list(&items(&explain))?;
        p.heading(2, "Models", Some("models"))?;
        p.list(&items(&summary))?;
        p.heading(2, "A graded derivation", Some("graded"))?;
        p.para(&[
            Span::link("A student's derivation graded step by step", format!("{GRADED_PAGE}.{ext}")),
            Span::text(if graded { " ✓ graded as expected (one wrong step found)" } else { " ✗ not graded as expected" }),
        ])?;
        p.heading(2, "Theorems", Some("theorems"))?;
        p.para(&[
            Span::link("The theorem library", format!("theorems.{ext}")),
            Span::text(format!(": {theorems_ok}/{} entries got their expected verdict.", runs.len())),
        ])?;
        p.para(&[Span::Strong(if all_held {
            "Every check held.".to_string()
        } else {
            "Some checks FAILED; see the pages marked ✗.".to_string()
        })])
    })?;
    Ok(site.report)
}

/// A model's page; returns whether every check on it held.
fn model_page(site: &mut Site, name: &str) -> Result<bool, DocsError> {
    let loaded = models::load(name).map_err(|e| DocsError::Generate(e.render()))?;
    let opts = DeriveOptions {
        prover: Options {
            timeout: PROVER_TIMEOUT,
            ..Options::default()
        },
        ..DeriveOptions::default()
    };
    let report =
        derive::derive(&loaded, &opts).map_err(|e| DocsError::Generate(format!("{name}: {e}")))?;
    let vopts = VerifyOptions {
        backends: vec![Backend::Exact, Backend::F64],
        ..VerifyOptions::default()
    };
    let rows =
        verify::verify(&loaded, &vopts).map_err(|e| DocsError::Generate(format!("{name}: {e}")))?;
    let verified = verify::all_pass(&rows);
    if !report.ok() {
        site.report
            .failures
            .push(format!("derive {name}: a check failed"));
    }
    if !verified {
        site.report
            .failures
            .push(format!("verify {name}: a mismatch"));
    }
    site.page(&model_file(name), &format!("bnproof: {name}"), |p, _| {
        derivation::derivation(p, &report, true)?;
        p.heading(2, "Numeric verification", Some("verify"))?;
        p.text("Every derived gradient and every claim, checked while this page was generated: exact directional derivatives over the rationals (no tolerance) and f64 central differences, on several shapes.")?;
        let cells: Vec<Vec<Vec<Span>>> = rows
            .iter()
            .map(|r| {
                let (status, detail) = match &r.status {
                    Status::Pass => ("✓ ok", r.detail.clone()),
                    Status::Fail => ("✗ FAIL", r.detail.clone()),
                    Status::Skip(why) => ("skip", why.clone()),
                    Status::Known(why) => ("known upstream bug", format!("{} — {why}", r.detail)),
                };
                vec![
                    vec![Span::code(r.wrt.clone())],
                    vec![Span::text(r.form.clone())],
                    vec![Span::text(r.backend.name())],
                    vec![Span::code(r.shape.clone())],
                    vec![Span::text(status)],
                    vec![Span::text(detail)],
                ]
            })
            .collect();
        p.table(&["tensor", "form", "oracle", "shape", "result", "detail"], &cells)?;
        let fails = rows.iter().filter(|r| r.status == Status::Fail).count();
        p.para(&[Span::Strong(format!(
            "{} numeric checks, {fails} failed.",
            rows.len()
        ))])
    })?;
    Ok(report.ok() && verified)
}

/// An explanation's page (with its plot); returns whether every check held.
fn topic_page(site: &mut Site, topic: &str, plotted: bool) -> Result<bool, DocsError> {
    let stem = topic_file(topic);
    let svg = if plotted {
        let svg = explain::plot_svg(topic).map_err(|e| DocsError::Generate(e.to_string()))?;
        site.write(&format!("{stem}.svg"), &svg)?;
        Some(svg)
    } else {
        None
    };
    let mut held = true;
    let mut failure = None;
    for markup in [Markup::Html, Markup::Markdown] {
        let format = match markup {
            Markup::Html => explain::Format::Html,
            _ => explain::Format::Markdown,
        };
        let mut body = String::new();
        let report = explain::explain(topic, format, &mut body)
            .map_err(|e| DocsError::Generate(e.to_string()))?;
        held = report.all_held();
        if !held {
            failure = Some(format!(
                "explain {topic}: {} checks failed",
                report.failures().len()
            ));
        }
        if let Some(svg) = &svg {
            let mut p = Page::new(&mut body, markup);
            p.heading(2, "Plot", Some("plot"))?;
            if markup == Markup::Html {
                // Inline, so the page stands alone; the file is linked too.
                let start = svg.find("<svg").unwrap_or(0);
                p.raw(&format!(
                    "<figure class=\"plot\">{}</figure>\n",
                    &svg[start..]
                ))?;
            } else {
                p.raw(&format!("![{topic} plot]({stem}.svg)\n\n"))?;
            }
            p.para(&[Span::link("The plot as an SVG file", format!("{stem}.svg"))])?;
        }
        if markup == Markup::Html {
            let mut doc = String::new();
            let file = format!("{stem}.html");
            html::document(
                &mut doc,
                &format!("bnproof explain {topic}"),
                &site.nav,
                Some(&file),
                &body,
            )?;
            site.write(&file, &doc)?;
            site.report.pages += 1;
        } else {
            site.write(&format!("{stem}.md"), &body)?;
        }
    }
    site.report.failures.extend(failure);
    Ok(held)
}

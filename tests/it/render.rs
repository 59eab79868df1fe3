//! Every render format of the seed proof and of the batch-norm derivation
//! (snapshots), the properties each format promises (LaTeX in ASCII, HTML
//! without script or network, balanced math delimiters), and the `--format`
//! flags and `docs` command through the binary. The text renderings are
//! pinned by `prove::seed_proof_text` and `derive::derive_batchnorm`.

use bnproof::derive::{self, DeriveOptions};
use bnproof::prove::{self, Options, Outcome};
use bnproof::render::{self, derivation, Format, Markup};
use bnproof::{cert, models, syntax};
use std::path::Path;
use std::process::{Command, Output};

const SEED: &str = "u[i] + (b + Δb) - mean[i](u[i] + (b + Δb)) = u[i] + b - mean[i](u[i] + b)";

const MARKUPS: [(Format, Markup, &str); 3] = [
    (Format::Latex, Markup::Latex, "latex"),
    (Format::Markdown, Markup::Markdown, "markdown"),
    (Format::Html, Markup::Html, "html"),
];

fn seed_proof() -> bnproof::kernel::Proof {
    let st = syntax::parse_statement(SEED).unwrap();
    match prove::prove(&st, &[], &Options::default()).0 {
        Outcome::Proved(p) => p,
        o => panic!("the seed identity is not proved: {o:?}"),
    }
}

/// The properties every document in `markup` must have.
fn check_markup(markup: Markup, s: &str) {
    match markup {
        Markup::Latex => {
            assert!(s.is_ascii(), "LaTeX output must be ASCII for pdfLaTeX");
            assert_eq!(s.matches(r"\left(").count(), s.matches(r"\right)").count());
            assert_eq!(
                s.matches(r"\begin{align*}").count(),
                s.matches(r"\end{align*}").count()
            );
            let depth = s.chars().try_fold(0i64, |d, c| {
                let d = d + i64::from(c == '{') - i64::from(c == '}');
                (d >= 0).then_some(d)
            });
            // `\{` and `\}` never occur in these documents, so raw braces balance.
            assert_eq!(depth, Some(0), "unbalanced braces");
        }
        Markup::Markdown => {
            assert_eq!(s.matches("$$").count() % 2, 0, "an unclosed $$ block");
            assert!(!s.contains("<math"));
        }
        Markup::Html => {
            assert!(s.starts_with("<!DOCTYPE html>"));
            assert_eq!(s.matches("<math").count(), s.matches("</math>").count());
            for banned in [
                "<script",
                "src=\"http",
                "href=\"http",
                "url(",
                "<link",
                "@import",
            ] {
                assert!(!s.contains(banned), "self-contained HTML has {banned}");
            }
        }
    }
}

#[test]
fn seed_proof_in_every_format() {
    let p = seed_proof();
    for (format, markup, name) in MARKUPS {
        let mut out = String::new();
        render::Options::new(format)
            .document(&mut out, "seed", |page, n| {
                render::proof::proof(page, &p, n)
            })
            .unwrap();
        check_markup(markup, &out);
        assert!(markup != Markup::Html || out.contains("<math"));
        insta::assert_snapshot!(format!("seed_proof_{name}"), out);
    }
    let mut out = String::new();
    let text = render::Options::new(Format::Text).document(&mut out, "seed", |_, _| Ok(()));
    assert!(
        text.is_err() && out.is_empty(),
        "text is not a document preset"
    );
    let json = serde_json::to_string_pretty(&cert::to_certificate(&p, true)).unwrap();
    assert!(cert::check_json(&json).is_ok());
    insta::assert_snapshot!("seed_proof_json", json);
}

#[test]
fn batchnorm_derivation_in_every_format() {
    let loaded = models::load("batchnorm").unwrap();
    let opts = DeriveOptions {
        prover: Options {
            timeout: std::time::Duration::from_secs(60),
            ..Options::default()
        },
        ..DeriveOptions::default()
    };
    let report = derive::derive(&loaded, &opts).unwrap();
    assert!(report.ok());
    for (format, markup, name) in MARKUPS {
        let mut out = String::new();
        render::Options::new(format)
            .document(&mut out, "batchnorm", |page, _| {
                derivation::derivation(page, &report, false)
            })
            .unwrap();
        check_markup(markup, &out);
        assert!(markup != Markup::Html || out.contains("<math"));
        if markup != Markup::Html {
            // The paper's notation, read from the definitions' roles.
            for tex in [
                r"\mu_{B}",
                r"\sigma_{B}^{2}",
                r"\hat{x}_{n}",
                r"\varepsilon",
            ] {
                assert!(out.contains(tex), "{name} lacks {tex}");
            }
        }
        insta::assert_snapshot!(format!("derive_batchnorm_{name}"), out);
    }
    let json = serde_json::to_string_pretty(&derive::to_json(&report)).unwrap();
    insta::assert_snapshot!("derive_batchnorm_json", json);
}

fn bnproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bnproof"))
        .args(args)
        .output()
        .expect("run bnproof")
}

#[test]
fn format_flags_on_prove_derive_explain_theorems() {
    for (format, marker) in [
        ("latex", r"\begin{align*}"),
        ("markdown", "$$"),
        ("html", "<math"),
    ] {
        let o = bnproof(&["prove", SEED, "--format", format]);
        assert_eq!(o.status.code(), Some(0), "prove --format {format}");
        assert!(String::from_utf8_lossy(&o.stdout).contains(marker));
        let o = bnproof(&["prove", "x / x = 1", "--format", format]);
        assert_eq!(o.status.code(), Some(1), "a refutation exits 1 in {format}");
        assert!(String::from_utf8_lossy(&o.stdout).contains("Counterexample"));
        let o = bnproof(&["derive", "centering", "--format", format]);
        assert_eq!(o.status.code(), Some(0), "derive --format {format}");
        let o = bnproof(&["explain", "seed", "--format", format]);
        assert_eq!(o.status.code(), Some(0), "explain --format {format}");
        let o = bnproof(&["theorems", "--format", format]);
        assert_eq!(o.status.code(), Some(0), "theorems --format {format}");
        // LaTeX marks where a name in a narrow column may break.
        let listed = String::from_utf8_lossy(&o.stdout).replace(r"\allowbreak{}", "");
        assert!(listed.contains("seed-eq1"), "theorems --format {format}");
    }
    let o = bnproof(&["explain", "seed", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "explain has no JSON format");
}

/// Every `href="…"` in an HTML page.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn docs_writes_a_linked_site_and_rejects_a_bad_directory() {
    let dir = std::env::temp_dir().join(format!("bnproof-docs-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = bnproof(&["docs", "--out", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    let pages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".html"))
        .collect();
    // index, models, theorems and their table, explain topics, the graded
    // derivation.
    let expected = 1 + models::builtin_names().len() + bnproof::library::THEOREMS.len() + 1 + 3 + 1;
    assert_eq!(pages.len(), expected, "{pages:?}");
    let graded = std::fs::read_to_string(dir.join("graded-derivation.html")).unwrap();
    assert!(graded.contains("<strong>wrong</strong>"), "{graded}");
    for page in &pages {
        let html = std::fs::read_to_string(dir.join(page)).unwrap();
        check_markup(Markup::Html, &html);
        assert!(html.contains("<nav>"), "{page} has no navigation bar");
        for href in hrefs(&html) {
            let (file, anchor) = href.split_once('#').unwrap_or((&href, ""));
            let target = if file.is_empty() { page.as_str() } else { file };
            assert!(!target.contains('/'), "{page}: {href} leaves the flat site");
            let text = std::fs::read_to_string(dir.join(target))
                .unwrap_or_else(|_| panic!("{page}: dead link {href}"));
            if !anchor.is_empty() {
                assert!(
                    text.contains(&format!("id=\"{anchor}\"")),
                    "{page}: dead anchor {href}"
                );
            }
        }
    }
    let seed = std::fs::read_to_string(dir.join("explain-seed.html")).unwrap();
    assert!(seed.contains("<svg"), "the seed plot is inlined");
    assert!(Path::new(&dir.join("explain-seed.svg")).exists());
    for m in models::builtin_names() {
        let html = std::fs::read_to_string(dir.join(format!("model-{m}.html"))).unwrap();
        assert!(
            html.contains("<figure class=\"plot graph\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\""),
            "model-{m}.html has the computational graph inline"
        );
    }
    let batchnorm = std::fs::read_to_string(dir.join("model-batchnorm.html")).unwrap();
    assert!(batchnorm.contains("Numeric verification") && !batchnorm.contains("✗ FAIL"));
    let _ = std::fs::remove_dir_all(&dir);

    let file = std::env::temp_dir().join(format!("bnproof-docs-file-{}", std::process::id()));
    std::fs::write(&file, "not a directory").unwrap();
    let o = bnproof(&["docs", "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));
    let _ = std::fs::remove_file(&file);
    let o = bnproof(&["docs", "--out", "/proc/bnproof-cannot-write-here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot write"));
    assert_eq!(
        bnproof(&["docs"]).status.code(),
        Some(2),
        "--out is required"
    );
}

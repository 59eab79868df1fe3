//! `bnproof handout MODEL|TOPIC --out DIR`: a standalone LaTeX document, its
//! exit codes, and the model's own names throughout. Runs without pdflatex
//! (CI installs it after the tests): compiling is tested only where it is
//! installed, or with a stand-in that fails.

use super::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bnproof-handout-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bnproof handout SUBJECT --out DIR` with `path` as the whole `PATH`
/// (`None`: the test's own).
fn handout(subject: &str, dir: &Path, path: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bnproof"));
    cmd.args(["handout", subject, "--out"]).arg(dir);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

/// The handout of `subject` written without pdflatex (an empty `PATH`):
/// exit 0, the `.tex` only, and the stderr line saying so.
fn tex_only(subject: &str, stem: &str) -> String {
    let dir = scratch(stem);
    let empty = dir.join("no-programs");
    std::fs::create_dir_all(&empty).unwrap();
    let o = handout(subject, &dir, Some(&empty));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("pdflatex is not installed"),
        "{}",
        text(&o)
    );
    assert!(!dir.join(format!("{stem}.pdf")).exists());
    std::fs::read_to_string(dir.join(format!("{stem}.tex"))).unwrap()
}

fn assert_standalone(tex: &str) {
    assert!(tex.starts_with("\\documentclass{article}\n"), "{tex}");
    assert!(tex.contains("\\usepackage{amsmath,amssymb,graphicx,color}"));
    assert!(tex.contains("{geometry}"));
    assert_eq!(tex.matches("\\begin{document}").count(), 1);
    assert!(tex.trim_end().ends_with("\\end{document}"));
    assert!(tex.is_ascii(), "the handout is pure ASCII");
    assert!(tex.contains("Appendix: the certificates"));
    // No name after a derivative in text mode (`$\partial$gamma`): a
    // gradient in a title is a formula in the model's notation.
    for name in ["gamma", "beta", "xhat", "var", "mu", "x ", "y "] {
        assert!(!tex.contains(&format!("$\\partial${name}")), "{name}");
    }
}

#[test]
fn a_model_handout_has_the_forward_pass_the_figure_every_proof_and_an_appendix() {
    let tex = tex_only("batchnorm", "batchnorm");
    assert_standalone(&tex);
    assert!(tex.contains("Forward pass"));
    assert!(tex.contains("\\begin{picture}"), "the computational graph");
    assert!(tex.contains("The chain rule, step by step"));
    // Every proof of the model: its chain in the body, its certificate in
    // the appendix, numbered alike.
    let loaded = bnproof::models::load("batchnorm").unwrap();
    let report = bnproof::derive::derive(&loaded, &Default::default()).unwrap();
    let (body, appendix) = tex.split_once("Appendix: the certificates").unwrap();
    let mut proved = 0;
    for (k, eq) in report.equalities.iter().enumerate() {
        if matches!(eq.verdict, bnproof::derive::Verdict::Proved(_)) {
            proved += 1;
            let k = k + 1;
            assert!(
                body.contains(&format!("certificate {k} in the appendix")),
                "{k}"
            );
            assert!(appendix.contains(&format!("Certificate {k}:")), "{k}");
        }
    }
    assert!(proved >= 10, "{proved}");
    assert_eq!(body.matches("\\textbf{Theorem.}").count(), proved);
    assert_eq!(appendix.matches("Checked by the kernel").count(), proved);
    // The upstream gradient is given, not a step `∂ℓ/∂y = ∂ℓ/∂y`.
    assert!(
        body.contains("the upstream gradient $\\frac{\\partial \\ell}{\\partial y_{n}}$ is given")
    );
    assert!(!body.contains("(the upstream gradient)"));
    // Titles draw their gradients as formulas.
    assert!(body.contains("$\\frac{\\partial \\ell}{\\partial \\gamma}$ equals the claim on line"));
}

#[test]
fn a_topic_handout_is_standalone_in_one_notation() {
    let tex = tex_only("bn-backward", "bn-backward");
    assert_standalone(&tex);
    assert!(tex.contains("Certificate 1"));
    // The hand-written displays in the model's notation, as the generated
    // ones: sigma_B^2, varepsilon, index n.
    for stray in ["\\epsilon", "\\sigma^2", "x_i", "\\overline"] {
        assert!(!tex.contains(stray), "{stray} in the bn-backward handout");
    }
    assert!(tex.contains("\\sigma_{B}^{2} + \\varepsilon"));
    let seed = tex_only("seed", "seed");
    assert_standalone(&seed);
    assert!(seed.contains("Certificate 1"));
}

#[test]
fn a_renamed_model_gives_a_handout_in_its_own_names() {
    let dir = scratch("renamed");
    // Every name changed: the axis, input, params, constant, definitions
    // and output, and the upstream gradient and adjoints the claims use.
    let renamed = super::derive::rename(
        bnproof::models::builtin("batchnorm").unwrap(),
        super::derive::BATCHNORM_RENAMED,
    );
    let file = dir.join("renamed.bn");
    std::fs::write(&file, &renamed).unwrap();
    let empty = dir.join("no-programs");
    std::fs::create_dir_all(&empty).unwrap();
    let o = handout(file.to_str().unwrap(), &dir, Some(&empty));
    assert_eq!(o.status.code(), Some(0), "{}\n{renamed}", text(&o));
    let tex = std::fs::read_to_string(dir.join("renamed.tex")).unwrap();
    assert_standalone(&tex);
    for new in [
        "\\texttt{centre}",
        "\\texttt{spread}",
        "\\texttt{z}",
        "\\mathit{act}_{b}",
    ] {
        assert!(tex.contains(new), "{new} missing");
    }
    for old in [
        "\\texttt{xhat}",
        "\\texttt{gamma}",
        "\\gamma",
        "x_{n}",
        "\\texttt{mu}",
    ] {
        assert!(!tex.contains(old), "{old} in a handout of a renamed model");
    }
}

#[test]
fn bad_input_and_unwritable_directories_exit_2() {
    let dir = scratch("bad");
    let o = handout("no-such-model", &dir.join("new"), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!dir.join("new").exists(), "bad input leaves no directory");
    assert!(text(&o).contains("unknown model"), "{}", text(&o));
    assert!(text(&o).contains("bn-backward"), "the topics are named too");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let o = handout("batchnorm", &file.join("out"), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot create the directory"),
        "{}",
        text(&o)
    );
}

#[cfg(unix)]
#[test]
fn a_failing_compile_exits_1_and_names_the_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("fails");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("pdflatex");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho '! Emergency stop.' > centering.log\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = handout("centering", &dir, Some(&bin));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("centering.log"), "{}", text(&o));
    assert!(text(&o).contains("Emergency stop"), "{}", text(&o));
}

#[test]
fn the_handout_compiles_where_pdflatex_is_installed() {
    let installed = Command::new("pdflatex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        // Compiling is then left to scripts/latex-check.sh.
        return;
    }
    let dir = scratch("compiles");
    let o = handout("centering", &dir, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(dir.join("centering.pdf").exists());
    let log = std::fs::read_to_string(dir.join("centering.log")).unwrap();
    assert!(!log.lines().any(|l| l.starts_with('!')), "{log}");
}

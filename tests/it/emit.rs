//! `emit MODEL --lang numpy|torch`: a module for every built-in model and
//! the fixtures in `tests/emit/` (one renamed batch norm, one written by
//! reverse mode's own program), run by `scripts/emit_check.py` against
//! `bnproof vectors` when the LibTorch set-up's Python is there; a module
//! whose gradient is off by one part in 10⁹ is rejected; bad input exits 2.
// A skipped run says so, and the check's table is printed (cargo test
// shows it with --nocapture).
#![allow(clippy::disallowed_macros)]

use crate::{bnproof, text};
use std::path::{Path, PathBuf};
use std::process::Command;

const MODELS: [&str; 8] = [
    "centering",
    "batchnorm",
    "batchnorm2d",
    "batchnorm-eval",
    "layernorm",
    "instancenorm",
    "groupnorm",
    "rmsnorm",
];

fn fixture(name: &str) -> String {
    format!("{}/tests/emit/{name}.bn", env!("CARGO_MANIFEST_DIR"))
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-emit-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The LibTorch set-up's Python, and whether it has torch; `None` (with a
/// note) when it is missing or has no numpy.
fn python() -> Option<(PathBuf, bool)> {
    let venv = std::env::var_os("BNPROOF_TORCH_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bnproof/torch-2.11.0"))
        })?;
    let py = venv.join("bin/python3");
    let has = |module: &str| {
        Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("numpy") {
        eprintln!(
            "note: {} has no numpy; the emitted modules are not run here \
             (scripts/test.sh runs scripts/emit-check.sh after setting it up)",
            py.display()
        );
        return None;
    }
    let torch = has("torch");
    Some((py, torch))
}

/// Vectors and both modules of `model` into `dir` as `NAME.npz`,
/// `NAME_numpy.py`, `NAME_torch.py`.
fn write(model: &str, name: &str, dir: &Path) {
    let npz = dir.join(format!("{name}.npz"));
    let o = bnproof(&["vectors", model, "--out", npz.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for lang in ["numpy", "torch"] {
        let py = dir.join(format!("{name}_{lang}.py"));
        let o = bnproof(&["emit", model, "--lang", lang, "--out", py.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{model} {lang}: {}", text(&o));
    }
}

fn check(py: &Path, torch: bool, dir: &Path, names: &[&str]) -> std::process::Output {
    let script = format!("{}/scripts/emit_check.py", env!("CARGO_MANIFEST_DIR"));
    let lang = if torch { "numpy,torch" } else { "numpy" };
    Command::new(py)
        .arg(script)
        .arg(dir)
        .args(names)
        .args(["--lang", lang])
        .output()
        .unwrap()
}

#[test]
fn every_builtin_model_emits_both_languages() {
    for model in MODELS {
        for lang in ["numpy", "torch"] {
            let o = bnproof(&["emit", model, "--lang", lang]);
            assert_eq!(o.status.code(), Some(0), "{model} {lang}: {}", text(&o));
            let m = String::from_utf8(o.stdout).unwrap();
            for needle in [
                "def forward(",
                "def backward(",
                "GRADIENTS = [\"grad_",
                &format!("`bnproof derive {model}`"),
                "kernel",
                "    # forward pass",
                "    # backward pass",
            ] {
                assert!(m.contains(needle), "{model} {lang}: no {needle:?}\n{m}");
            }
            let import = if lang == "numpy" {
                "import numpy as np"
            } else {
                "import torch"
            };
            assert!(m.contains(import), "{model} {lang}");
            assert_eq!(
                m.contains("(torch.autograd.Function):"),
                lang == "torch",
                "{model} {lang}"
            );
            // Self-contained: the other framework is never imported.
            let other = if lang == "numpy" { "torch" } else { "np." };
            let code = m.lines().filter(|l| !l.trim_start().starts_with('#'));
            assert!(
                !code.clone().any(|l| l.contains(other)),
                "{model} {lang} uses {other}"
            );
        }
    }
}

#[test]
fn a_simplified_gradient_points_at_its_proof() {
    let o = bnproof(&["emit", "batchnorm", "--lang", "numpy"]);
    let m = String::from_utf8(o.stdout).unwrap();
    // The three-term form of ∂ℓ/∂x (the cheapest proved claim), with the
    // claim's line; reverse mode's adjoints are then not needed.
    assert!(
        m.contains("the claim on line 18, proved equal to reverse mode"),
        "{m}"
    );
    assert!(!m.contains("dvar ="), "{m}");
    // With no claims, reverse mode's own program is written.
    let o = bnproof(&["emit", &fixture("program"), "--lang", "numpy"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = String::from_utf8(o.stdout).unwrap();
    assert!(m.contains("    ds = "), "{m}");
    assert!(m.contains("_var(x, (\"d\",), _R)"), "{m}");
    assert!(m.contains("np.power("), "{m}");
}

#[test]
fn renamed_names_become_python_identifiers() {
    let o = bnproof(&["emit", &fixture("renamed"), "--lang", "torch"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = String::from_utf8(o.stdout).unwrap();
    assert!(m.contains("def forward(act, np_, lambda_, tiny):"), "{m}");
    assert!(m.contains("ARGUMENTS = [\"act\", \"np\", \"lambda\", \"tiny\"]"));
    assert!(m.contains("\"grad_lambda\": _out(dlambda, (), _R)"), "{m}");
    assert!(m.contains("class RenamedFunction(torch.autograd.Function):"));
}

#[test]
fn emitted_modules_match_vectors() {
    let Some((py, torch)) = python() else {
        return;
    };
    let d = dir("all");
    let mut names: Vec<&str> = Vec::new();
    for model in MODELS {
        write(model, model, &d);
        names.push(model);
    }
    for f in ["renamed", "program"] {
        write(&fixture(f), f, &d);
        names.push(f);
    }
    let o = check(&py, torch, &d, &names);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains(" checks ok; worst gradient error"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    for name in &names {
        assert!(
            out.contains(&format!("\n{name} ")),
            "{name} missing:\n{out}"
        );
    }
    if torch {
        assert!(out.contains("torch  apply     grad_x"), "{out}");
    } else {
        eprintln!(
            "note: {} has no torch; only the NumPy modules ran",
            py.display()
        );
    }
    eprintln!("{out}");
}

#[test]
fn a_gradient_off_by_one_part_in_a_billion_is_rejected() {
    let Some((py, torch)) = python() else {
        return;
    };
    let d = dir("perturbed");
    write("batchnorm", "batchnorm", &d);
    for lang in ["numpy", "torch"] {
        let file = d.join(format!("batchnorm_{lang}.py"));
        let mut m = std::fs::read_to_string(&file).unwrap();
        m.push_str(
            "\n\n_exact = backward\n\n\ndef backward(*args):\n    g = _exact(*args)\n    \
             g[GRADIENTS[0]] = g[GRADIENTS[0]] * (1 + 1e-9)\n    return g\n",
        );
        std::fs::write(&file, m).unwrap();
    }
    let o = check(&py, torch, &d, &["batchnorm"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("numpy  backward  grad_x"), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    if torch {
        let apply = out.lines().find(|l| l.contains("torch  apply     grad_x"));
        assert!(apply.is_some_and(|l| l.contains("FAIL")), "{out}");
    }
}

#[test]
fn bad_input_exits_2() {
    let o = bnproof(&["emit", "no-such-model", "--lang", "numpy"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-model"), "{}", text(&o));
    let o = bnproof(&["emit", "batchnorm", "--lang", "julia"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--lang julia"), "{}", text(&o));
    assert!(o.stdout.is_empty());
    let o = bnproof(&["emit", "batchnorm"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let d = dir("bad");
    let bad = d.join("bad.bn");
    std::fs::write(&bad, "axis n\ninput x[n]\ny = x +\noutput y\n").unwrap();
    let o = bnproof(&["emit", bad.to_str().unwrap(), "--lang", "torch"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = d.join("missing-dir").join("m.py");
    let o = bnproof(&[
        "emit",
        "batchnorm",
        "--lang",
        "numpy",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--out"), "{}", text(&o));
    assert!(!out.exists());
}

//! `bnproof exercises MODEL`: every built-in model gets its applicable
//! variants with proved answers and refuted wrong answers, the skipped ones
//! with a reason; a renamed copy gets the same exercises; bad input exits 2.

use super::{bnproof, text};
use bnproof::derive::{DeriveOptions, Verdict};
use bnproof::exercises::{self, Exercises, Kind};
use std::path::PathBuf;

fn build(name: &str) -> Exercises {
    let loaded = bnproof::models::load(name).unwrap();
    exercises::build(&loaded, &DeriveOptions::default()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bnproof-exercises-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every answer proved, every wrong answer refuted with a residual, at
/// least one wrong answer per exercise.
fn assert_checked(ex: &Exercises) {
    assert!(ex.ok(), "{}: {:?}", ex.name, ex.failures);
    for e in &ex.exercises {
        assert!(!e.questions.is_empty());
        for q in &e.questions {
            let eq = q.equality.as_ref().expect("the answer is a claim");
            assert!(
                matches!(eq.verdict, Verdict::Proved(_)),
                "{}: ∂ℓ/∂{}",
                ex.name,
                q.wrt
            );
            assert!(q.wrong.len() <= 2);
            for w in &q.wrong {
                assert!(matches!(w.equality.verdict, Verdict::Refuted(_)));
                let d = w.equality.diagnosis.as_ref().expect("a diagnosis");
                assert!(d.residual.is_some(), "{}: a proved residual", ex.name);
            }
        }
        let wrong: usize = e.questions.iter().map(|q| q.wrong.len()).sum();
        assert!(wrong >= 1, "{}: {:?}", ex.name, e.variant.kind);
    }
}

#[test]
fn every_builtin_model_gets_its_applicable_variants_checked() {
    use Kind::*;
    let expected: &[(&str, &[Kind])] = &[
        ("centering", &[]),
        (
            "batchnorm",
            &[UnbiasedVariance, ConstantZero, Detach, Detach],
        ),
        (
            "batchnorm2d",
            &[UnbiasedVariance, ConstantZero, Detach, Detach, OtherAxes],
        ),
        ("batchnorm-eval", &[ConstantZero, PerFeature, PerFeature]),
        (
            "layernorm",
            &[
                UnbiasedVariance,
                ConstantZero,
                PerFeature,
                PerFeature,
                Detach,
                Detach,
                OtherAxes,
            ],
        ),
        (
            "instancenorm",
            &[
                UnbiasedVariance,
                ConstantZero,
                PerFeature,
                PerFeature,
                Detach,
                Detach,
                OtherAxes,
            ],
        ),
        (
            "groupnorm",
            &[
                UnbiasedVariance,
                ConstantZero,
                PerFeature,
                PerFeature,
                Detach,
                Detach,
                OtherAxes,
            ],
        ),
        ("rmsnorm", &[ConstantZero, PerFeature, OtherAxes]),
        (
            "batchnorm-softmax",
            &[UnbiasedVariance, ConstantZero, Detach, Detach],
        ),
        ("l2norm", &[ConstantZero, OtherAxes]),
        (
            "batchrenorm",
            &[
                UnbiasedVariance,
                ConstantZero,
                ConstantZero,
                ConstantZero,
                Detach,
                Detach,
            ],
        ),
    ];
    assert_eq!(expected.len(), bnproof::models::BUILTIN.len());
    for (name, kinds) in expected {
        let ex = build(name);
        let got: Vec<Kind> = ex.exercises.iter().map(|e| e.variant.kind).collect();
        assert_eq!(&got, kinds, "{name}");
        assert_checked(&ex);
        // Every kind is applied or skipped with a reason.
        for k in Kind::ALL {
            assert!(
                got.contains(&k)
                    || ex
                        .skipped
                        .iter()
                        .any(|s| s.kind == k && !s.reason.is_empty()),
                "{name}: {k:?}"
            );
        }
    }
}

/// batchnorm.bn with every name changed (the map `derive`'s test uses),
/// comments left out: they speak of the old names.
fn renamed_batchnorm() -> String {
    let src = bnproof::models::builtin("batchnorm").unwrap();
    let code: String = src
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    super::derive::rename(&code, super::derive::BATCHNORM_RENAMED)
}

#[test]
fn a_renamed_copy_gets_the_same_exercises_up_to_names() {
    let src = renamed_batchnorm();
    assert!(!src.contains("gamma") && !src.contains("xhat") && src.contains("axis  b"));
    let dir = scratch("renamed");
    let file = dir.join("renamed.bn");
    std::fs::write(&file, &src).unwrap();
    let ex = build(file.to_str().unwrap());
    let orig = build("batchnorm");
    assert_checked(&ex);
    let shape = |x: &Exercises| -> Vec<(Kind, usize, Vec<usize>)> {
        x.exercises
            .iter()
            .map(|e| {
                (
                    e.variant.kind,
                    e.variant.changes.len(),
                    e.questions.iter().map(|q| q.wrong.len()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&ex), shape(&orig));
    // The model's own names in questions and answers.
    let o = bnproof(&["exercises", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("spread = sum[b]((act - centre)^2) / (sum[b](1) - 1)"),
        "{md}"
    );
    assert!(md.contains("assume spread > 0"), "{md}");
    assert!(!md.contains("gamma") && !md.contains("xhat"));
}

#[test]
fn markdown_lists_the_detach_variant_the_skipped_ones_and_the_answers() {
    let o = bnproof(&["exercises", "batchnorm"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("## Exercise 3: detach a statistic"), "{md}");
    assert!(md.contains("mu = detach(mean[n](x))"), "{md}");
    assert!(md.contains("**Reduce over other axes**: skipped"), "{md}");
    assert!(md.contains("## Answers"));
    assert!(md.contains("Proved by the kernel as a claim of the changed model"));
    // Residuals and proofs only with --solutions.
    assert!(!md.contains("(kernel-checked)") && !md.contains("**Theorem.**"));
    let o = bnproof(&["exercises", "batchnorm", "--solutions"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sol = String::from_utf8_lossy(&o.stdout);
    assert!(sol.contains("it is the right answer plus"), "{sol}");
    assert!(sol.contains("**Counterexample**") && sol.contains("**Theorem.**"));
}

#[test]
fn out_writes_markdown_or_a_standalone_latex_document() {
    let dir = scratch("out");
    let o = bnproof(&["exercises", "batchnorm", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(dir.join("batchnorm-exercises.md").exists());
    let o = bnproof(&[
        "exercises",
        "layernorm",
        "--format",
        "latex",
        "--solutions",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let tex = std::fs::read_to_string(dir.join("layernorm-exercises.tex")).unwrap();
    assert!(tex.starts_with("\\documentclass{article}\n"));
    assert!(tex.trim_end().ends_with("\\end{document}"));
    assert!(tex.is_ascii(), "LaTeX output is ASCII");
}

#[test]
fn bad_input_exits_2() {
    let o = bnproof(&["exercises", "no-such-model"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown model"));
    let dir = scratch("bad");
    let file = dir.join("broken.bn");
    std::fs::write(&file, "axis n\ninput x[n]\ny = x +\noutput y\n").unwrap();
    let o = bnproof(&["exercises", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("panicked"));
    // DIR is a file.
    let o = bnproof(&["exercises", "batchnorm", "--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--out"));
}

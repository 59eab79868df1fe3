//! `derive` and `verify` on every built-in model: the derivation proves every
//! claim, the numeric oracles agree, and a false claim is caught.

use bnproof::derive::{self, DeriveOptions, Verdict};
use bnproof::models;
use bnproof::syntax;
use bnproof::verify::{self, Backend, Status, VerifyOptions};
use std::collections::BTreeMap;

/// Drop the timings (`12.3 ms`) so the text can be a snapshot.
fn without_timings(s: &str) -> String {
    s.lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let mut out = Vec::new();
            let mut k = 0;
            while k < words.len() {
                let w = words[k].trim_end_matches(',');
                if k + 1 < words.len() && words[k + 1].starts_with("ms") && w.parse::<f64>().is_ok()
                {
                    out.push("<t>");
                    if words[k + 1].ends_with(',') {
                        out.push(",");
                    }
                    k += 2;
                    continue;
                }
                out.push(words[k]);
                k += 1;
            }
            out.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Default options with the prover's time limit set.
fn with_time_limit(timeout: std::time::Duration) -> DeriveOptions {
    DeriveOptions {
        prover: bnproof::prove::Options {
            timeout,
            ..Default::default()
        },
        ..DeriveOptions::default()
    }
}

#[test]
fn every_builtin_model_derives_and_proves_its_claims() {
    // Debug builds on a loaded CI machine are slow: a generous time limit,
    // so that verdicts do not depend on the machine's load.
    let opts = with_time_limit(std::time::Duration::from_secs(60));
    for name in models::builtin_names() {
        let loaded = models::load(name).unwrap();
        let report = derive::derive(&loaded, &opts).unwrap();
        for eq in &report.equalities {
            assert!(
                eq.as_expected(),
                "{name}: {} got {:?}",
                eq.title,
                eq.verdict
            );
            if let Verdict::Proved(p) = &eq.verdict {
                bnproof::kernel::check(p).unwrap();
            }
        }
        assert!(!report.equalities.is_empty(), "{name}: nothing was checked");
        for g in &report.gradients {
            let axes = if let Some(s) = loaded
                .model
                .inputs
                .iter()
                .chain(&loaded.model.params)
                .find(|s| s.name == g.name)
            {
                s.axes.clone()
            } else {
                panic!("{name}: gradient for unknown {}", g.name)
            };
            assert_eq!(
                g.simplified.free_axes().into_iter().collect::<Vec<_>>(),
                axes,
                "{name}: ∂ℓ/∂{}",
                g.name
            );
            assert!(g.simplified_cost <= g.raw_cost);
        }
        let mut text = String::new();
        derive::write_text(&mut text, &report, false).unwrap();
        insta::assert_snapshot!(format!("derive_{name}"), without_timings(&text));
    }
}

/// `derive`'s verdicts come from node, step and sample limits, never from
/// the clock: with a prover time limit of 1 ms (a machine under heavy load
/// looks like this) every built-in model's checks still come out as
/// expected. Refuted facts once needed the time-limited search.
#[test]
fn derive_verdicts_do_not_depend_on_the_clock() {
    let opts = with_time_limit(std::time::Duration::from_millis(1));
    for name in models::builtin_names() {
        let report = derive::derive(&models::load(name).unwrap(), &opts).unwrap();
        for eq in &report.equalities {
            assert!(
                eq.as_expected(),
                "{name}: {} got {:?}",
                eq.title,
                eq.verdict
            );
        }
    }
}

#[test]
fn batchnorm_gradient_is_the_three_term_form_and_parses_back() {
    let loaded = models::load("batchnorm").unwrap();
    let report = derive::derive(&loaded, &DeriveOptions::default()).unwrap();
    let json = derive::to_json(&report);
    assert_eq!(json["checked"], true);
    let dx = json["gradients"]["x"].as_str().unwrap();
    let parsed = syntax::parse_expr(dx).unwrap();
    let three_term = syntax::parse_expr(
        "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))",
    )
    .unwrap();
    assert_eq!(parsed, three_term);
    for name in ["mu", "var", "xhat", "y"] {
        assert!(json["definitions"][name].is_string(), "{name}");
    }
    // Every proof in the JSON carries a certificate the kernel re-checks.
    for p in json["proofs"].as_array().unwrap() {
        if p["verdict"] == "proved" {
            let text = p["certificate"].to_string();
            bnproof::cert::check_json(&text).unwrap();
        }
    }
}

#[test]
fn centering_bias_gradient_is_zero() {
    let loaded = models::load("centering").unwrap();
    let report = derive::derive(&loaded, &DeriveOptions::default()).unwrap();
    let eq = report
        .equalities
        .iter()
        .find(|e| e.title.starts_with("∂ℓ/∂b "))
        .unwrap();
    assert!(matches!(eq.verdict, Verdict::Proved(_)), "{:?}", eq.verdict);
    assert_eq!(syntax::print(&eq.rhs), "0");
}

#[test]
fn a_false_claim_is_refuted_by_derive_and_verify() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/models/wrong-claim.bn"
    );
    let loaded = models::load(path).unwrap();
    let report = derive::derive(&loaded, &DeriveOptions::default()).unwrap();
    assert!(!report.ok());
    let bad = report.equalities.iter().find(|e| !e.as_expected()).unwrap();
    assert!(
        matches!(bad.verdict, Verdict::Refuted(_)),
        "{:?}",
        bad.verdict
    );
    let opts = VerifyOptions {
        shape: Some(BTreeMap::from([("n".to_string(), 3)])),
        ..VerifyOptions::default()
    };
    let rows = verify::verify(&loaded, &opts).unwrap();
    let claim_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.form.starts_with("claim"))
        .collect();
    assert_eq!(claim_rows.len(), 2);
    assert!(
        claim_rows.iter().all(|r| r.status == Status::Fail),
        "{claim_rows:?}"
    );
    assert!(rows
        .iter()
        .filter(|r| r.form == "derived")
        .all(|r| r.status == Status::Pass));
}

#[test]
fn verify_agrees_on_batchnorm_and_layernorm() {
    for name in ["batchnorm", "layernorm", "centering"] {
        let loaded = models::load(name).unwrap();
        let opts = VerifyOptions {
            backends: vec![Backend::Exact, Backend::F64],
            order: 2,
            ..VerifyOptions::default()
        };
        let rows = verify::verify(&loaded, &opts).unwrap();
        assert!(rows.len() >= 6, "{name}");
        for r in &rows {
            assert_eq!(r.status, Status::Pass, "{name}: {r:?}");
        }
        let mut junit = String::new();
        verify::write_junit(&mut junit, &rows).unwrap();
        assert_eq!(junit.matches("<testcase").count(), rows.len());
        assert!(junit.trim_end().ends_with("</testsuites>"));
    }
}

#[test]
fn double_backward_is_proved_and_checked_for_batchnorm_and_layernorm() {
    for name in ["batchnorm", "layernorm"] {
        let loaded = models::load(name).unwrap();
        let opts = DeriveOptions {
            order: 2,
            ..DeriveOptions::default()
        };
        let report = derive::derive(&loaded, &opts).unwrap();
        assert!(report.higher.is_some(), "{name}");
        let titles: Vec<&str> = report.equalities.iter().map(|e| e.title.as_str()).collect();
        assert!(
            titles
                .iter()
                .any(|t| t.contains("Hessian in x is symmetric")),
            "{name}"
        );
        for eq in &report.equalities {
            assert!(
                eq.as_expected(),
                "{name}: {} got {:?}",
                eq.title,
                eq.verdict
            );
        }
        // Layer norm's γ varies along the normalized axis: its Jacobian is
        // not symmetric, and bnproof says so with a counterexample.
        let jac = report
            .equalities
            .iter()
            .find(|e| e.title.contains("symmetric grad x"))
            .unwrap();
        assert_eq!(
            matches!(jac.verdict, Verdict::Refuted(_)),
            name == "layernorm",
            "{name}"
        );
    }
    // Third order for batch norm, checked exactly against the Taylor series.
    let loaded = models::load("batchnorm").unwrap();
    let opts = VerifyOptions {
        backends: vec![Backend::Exact],
        order: 3,
        ..VerifyOptions::default()
    };
    let rows = verify::verify(&loaded, &opts).unwrap();
    let third: Vec<_> = rows.iter().filter(|r| r.order == 3).collect();
    assert!(third.len() >= 3);
    assert!(rows.iter().all(|r| r.status == Status::Pass), "{rows:?}");
    assert!(rows.iter().filter(|r| r.form.contains("gamma ⟨")).count() >= 3);
}

/// Every word of `src` in `map` replaced (names, the axis, keywords left).
pub(crate) fn rename(src: &str, map: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let w = map
            .iter()
            .find(|(a, _)| *a == word.as_str())
            .map_or(word.as_str(), |(_, b)| b);
        out.push_str(w);
        word.clear();
    };
    for c in src.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every name of batch norm and another for it: axis, input, parameters,
/// constant, definitions, output and the adjoint names its claims use.
pub(crate) const BATCHNORM_RENAMED: &[(&str, &str)] = &[
    ("n", "b"),
    ("x", "act"),
    ("gamma", "scale"),
    ("beta", "shift"),
    ("eps", "tiny"),
    ("mu", "centre"),
    ("var", "spread"),
    ("xhat", "z"),
    ("y", "out"),
    ("dy", "dout"),
    ("dxhat", "dz"),
    ("dvar", "dspread"),
    ("dmu", "dcentre"),
];

/// Nothing depends on what a name is called: batch norm with every name
/// changed (axis, input, parameters, constant, definitions, output and the
/// adjoint names its claims use) gets the same verdicts with proofs of the
/// same length.
#[test]
fn a_renamed_batchnorm_gets_proofs_of_the_same_length() {
    let src = models::builtin("batchnorm").unwrap();
    let renamed = rename(src, BATCHNORM_RENAMED);
    assert!(renamed.contains("= mean[b](act)"), "{renamed}");
    let load = |name: &str, src: &str| models::Loaded {
        name: name.into(),
        source: src.into(),
        model: syntax::parse_model(src).unwrap(),
    };
    let a = derive::derive(&load("batchnorm", src), &DeriveOptions::default()).unwrap();
    let b = derive::derive(&load("renamed", &renamed), &DeriveOptions::default()).unwrap();
    let claims = |r: &derive::Report| -> Vec<(bool, usize)> {
        r.equalities
            .iter()
            .filter(|e| e.title.contains("claim"))
            .map(|e| match &e.verdict {
                Verdict::Proved(p) => (true, p.steps.len()),
                _ => (false, 0),
            })
            .collect()
    };
    let (ca, cb) = (claims(&a), claims(&b));
    assert_eq!(ca.len(), 8);
    assert!(ca.iter().all(|(ok, _)| *ok), "{ca:?}");
    assert_eq!(ca, cb);
}

/// The paper's ∂ℓ/∂μ has a σ²-path term that vanishes because the
/// deviations from the mean add up to zero; the chain rule says so, with a
/// kernel-checked proof, for batch norm and for layer norm (other axes).
#[test]
fn the_vanishing_sigma_path_term_is_marked_with_its_proof() {
    for (name, zero) in [
        ("batchnorm", "sum[n](x[n] - mu)"),
        ("layernorm", "sum[d](x[n,d] - mu[n])"),
    ] {
        let loaded = models::load(name).unwrap();
        let r = derive::derive(&loaded, &DeriveOptions::default()).unwrap();
        let z = syntax::parse_expr(zero).unwrap();
        let (_, proof) = r
            .vanishing
            .iter()
            .find(|(e, _)| *e == z)
            .unwrap_or_else(|| panic!("{name}: {zero} not found among {:?}", r.vanishing));
        assert!(bnproof::kernel::check(proof).is_ok());
        assert_eq!(proof.statement.rhs, bnproof::ir::Expr::num(0));
        // Only that term: nothing else in the chain rule is zero.
        assert_eq!(r.vanishing.len(), 1, "{name}: {:?}", r.vanishing);
        let mut text = String::new();
        derive::write_text(&mut text, &r, false).unwrap();
        assert!(
            text.contains(&format!("this term is 0: {zero} = 0")),
            "{text}"
        );
    }
}

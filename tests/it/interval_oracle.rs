//! The interval oracle and exp/log enclosures end to end: models whose
//! values are irrational (exp, log, roots that cannot be made rational)
//! are verified by rigorous enclosures (`interval` rows), wrong claims
//! fail on disjoint enclosures, `--strict` turns skips into failures, and
//! the refuter decides statements about exp and log by enclosures without
//! ever refuting a true one.

use crate::{bnproof, text};
use bnproof::refute::{refute, RefuteOptions, RefuteOutcome};
use bnproof::syntax;
use std::path::PathBuf;

/// A fresh directory for this test's files.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-interval-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `bnproof verify FILE --backend exact ARGS…` on `src`: the exit code and
/// stdout + stderr.
fn verify(d: &std::path::Path, file: &str, src: &str, args: &[&str]) -> (i32, String) {
    let path = d.join(file);
    std::fs::write(&path, src).unwrap();
    let mut all = vec!["verify", path.to_str().unwrap(), "--backend", "exact"];
    all.extend_from_slice(args);
    let o = bnproof(&all);
    (o.status.code().unwrap_or(-1), text(&o))
}

/// The table rows (not the header or the summary) of a text report.
fn rows(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(".bn ")).collect()
}

const SOFTMAX: &str = "axis n, k\ninput z[n,k]\ninput t[n,k]\n\
                       p = exp(z) / sum[k](exp(z))\nl = -sum[k](t * log(p))\noutput l\n";

#[test]
fn softmax_cross_entropy_passes_on_interval_rows() {
    let d = dir("softmax");
    let right = format!("{SOFTMAX}claim grad z = dl * (p * sum[k](t) - t)\n");
    let (code, out) = verify(&d, "softmax.bn", &right, &["--shape", "n=2,k=3"]);
    assert_eq!(code, 0, "{out}");
    let rows = rows(&out);
    // derived z, derived t and the claim: every one by enclosures, passed.
    assert_eq!(rows.len(), 3, "{out}");
    for r in &rows {
        assert!(r.contains(" interval ") && r.contains(" ok "), "{r}");
        assert!(
            r.contains("enclosures overlap") && r.contains("width"),
            "{r}"
        );
    }
    // JSON and JUnit name the oracle too.
    let path = d.join("softmax.bn");
    let o = bnproof(&[
        "verify",
        path.to_str().unwrap(),
        "--backend",
        "exact",
        "--shape",
        "n=2,k=3",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks
        .iter()
        .all(|c| c["backend"] == "interval" && c["status"] == "ok"));
    let o = bnproof(&[
        "verify",
        path.to_str().unwrap(),
        "--backend",
        "exact",
        "--shape",
        "n=2,k=3",
        "--format",
        "junit",
    ]);
    assert!(
        text(&o).contains("[interval order 1, n=2,k=3]"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn wrong_softmax_claim_fails_on_disjoint_enclosures() {
    let d = dir("softmax-wrong");
    let wrong = format!("{SOFTMAX}claim grad z = dl * (p + t)\n");
    let (code, out) = verify(&d, "wrong.bn", &wrong, &[]);
    assert_eq!(code, 1, "{out}");
    let claim: Vec<&str> = rows(&out)
        .into_iter()
        .filter(|r| r.contains("claim (line 7)"))
        .collect();
    // The default shapes: n=k=1, 2, 3 and a mixed one.
    assert_eq!(claim.len(), 4, "{out}");
    for r in &claim {
        assert!(r.contains(" interval ") && r.contains("FAIL"), "{r}");
        assert!(r.contains("disjoint enclosures"), "{r}");
    }
    // The derived gradients still pass wherever the enclosures are tight.
    assert!(rows(&out)
        .iter()
        .filter(|r| r.contains("derived"))
        .all(|r| !r.contains("FAIL")));
    let _ = std::fs::remove_dir_all(&d);
}

const L2: &str = "axis n\ninput x[n]\ns = sqrt(sum[n](x^2) + EPS)\ny = x / s\noutput y\n";

#[test]
fn l2_normalisation_wrong_claim_is_caught() {
    let d = dir("l2");
    let right = "claim grad x = dy / s - x * sum[n](dy * x) / s^3\n";
    let wrong = "claim grad x = dy / s\n";
    // 1/10000 = (1/100)²: the radicand can be made a square (exact rows);
    // 1/1000 cannot (interval rows).
    for (eps, oracle) in [("1/10000", " exact "), ("1/1000", " interval ")] {
        let model = L2.replace("EPS", eps);
        let (code, out) = verify(&d, "right.bn", &format!("{model}{right}"), &[]);
        assert_eq!(code, 0, "{eps}: {out}");
        assert!(
            rows(&out).iter().all(|r| r.contains(oracle)),
            "{eps}: {out}"
        );
        let (code, out) = verify(&d, "wrong.bn", &format!("{model}{wrong}"), &[]);
        assert_eq!(code, 1, "{eps}: {out}");
        let fails: Vec<&str> = rows(&out)
            .into_iter()
            .filter(|r| r.contains("FAIL"))
            .collect();
        // At n = 1 the projection term vanishes only with ε = 0: every shape fails.
        assert_eq!(fails.len(), 4, "{eps}: {out}");
        assert!(fails
            .iter()
            .all(|r| r.contains("claim (line 6)") && r.contains(oracle)));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn strict_turns_a_skip_into_a_failure() {
    let d = dir("strict");
    // n = k = 1: p = 1 and log p = 0, so the directional derivative is a
    // true 0 enclosed around 0: tight against max(|value|, 1), it passes.
    let (code, out) = verify(&d, "softmax.bn", SOFTMAX, &["--shape", "n=1,k=1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 skipped"), "{out}");
    // Second order is checked exactly only: with exp, those rows skip.
    let order2 = ["--shape", "n=2,k=2", "--order", "2", "--backend", "exact"];
    let (code, out) = verify(&d, "softmax.bn", SOFTMAX, &order2);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" skip "), "{out}");
    let mut strict = order2.to_vec();
    strict.push("--strict");
    let (code, out) = verify(&d, "softmax.bn", SOFTMAX, &strict);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL") && out.contains("a failure under --strict"),
        "{out}"
    );
    assert!(out.contains("0 skipped"), "{out}");
    // Nothing skipped: --strict changes nothing.
    let (code, out) = verify(
        &d,
        "softmax.bn",
        SOFTMAX,
        &["--shape", "n=2,k=2", "--strict"],
    );
    assert_eq!(code, 0, "{out}");
    // --strict is a flag of the numeric checks, not of --against.
    let o = bnproof(&["verify", "batchnorm", "--against", "x.npz", "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn detach_and_kinks_on_interval_rows() {
    let d = dir("detach");
    // A stop-gradient: y = x · detach(exp(x)) has gradient dy · exp(x).
    let src = "axis n\ninput x[n]\ny = x * detach(exp(x))\noutput y\n\
               claim grad x = dy * exp(x)\n";
    let (code, out) = verify(&d, "detach.bn", src, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        rows(&out)
            .iter()
            .all(|r| r.contains(" interval ") && r.contains(" ok ")),
        "{out}"
    );
    let wrong = src.replace(
        "claim grad x = dy * exp(x)",
        "claim grad x = dy * exp(x) * (1 + x)",
    );
    let (code, out) = verify(&d, "detach_wrong.bn", &wrong, &[]);
    assert_eq!(code, 1, "{out}");
    // abs and max through enclosures, away from their kinks.
    let src = "axis n\ninput x[n]\ny = abs(x) * exp(x) + max(x, 1/2) * exp(-x)\noutput y\n";
    let (code, out) = verify(&d, "kinks.bn", src, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        rows(&out)
            .iter()
            .all(|r| r.contains(" interval ") && r.contains(" ok ")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn refuted(stmt: &str) -> Option<bnproof::refute::Counterexample> {
    let s = syntax::parse_statement(stmt).unwrap();
    match refute(&s, &[], &RefuteOptions::default()) {
        RefuteOutcome::Refuted(cx) => Some(cx),
        RefuteOutcome::NotFound { .. } => None,
    }
}

#[test]
fn refuter_decides_exp_and_log_by_enclosures() {
    for stmt in [
        "exp(a + b) = exp(a) + exp(b)",
        "log(a * b) = log(a) * log(b)",
        "exp(a) * exp(b) = exp(a * b)",
        "log(x^2) = log(x)",
        "exp(log(x)) = x",
    ] {
        assert!(refuted(stmt).is_some(), "{stmt}");
    }
    // At least one of them is decided by enclosures alone (no exact side).
    let cx = refuted("log(a * b) = log(a) * log(b)").unwrap();
    assert!(!cx.lhs.is_exact() || !cx.rhs.is_exact(), "{cx:?}");
    assert!(cx.lhs.definitely_ne(&cx.rhs));
    // The CLI reports it with exit 1 and says the enclosures decided it.
    let o = bnproof(&["prove", "log(a * b) = log(a) * log(b)"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refuted"), "{}", text(&o));
}

#[test]
fn true_exp_and_log_identities_are_never_refuted() {
    // True everywhere under the total semantics (log 0 = 0, log |x|).
    for stmt in [
        "log(x^2) = 2 * log(x)",
        "exp(a + b) = exp(a) * exp(b)",
        "log(abs(x)) = log(x)",
        "log(exp(x)) = x",
        "exp(-x) * exp(x) = 1",
        "log(1 / x) = -log(x)",
        "max(a, b) + min(a, b) = a + b",
        "abs(x * y) = abs(x) * abs(y)",
        "exp(detach(x)) = exp(x)",
    ] {
        let s = syntax::parse_statement(stmt).unwrap();
        for seed in 0..4 {
            let opts = RefuteOptions {
                seed,
                samples: 100,
                ..RefuteOptions::default()
            };
            assert!(
                matches!(refute(&s, &[], &opts), RefuteOutcome::NotFound { .. }),
                "{stmt} refuted at seed {seed}"
            );
        }
    }
    let o = bnproof(&["prove", "log(x^2) = 2 * log(x)"]);
    assert_ne!(o.status.code(), Some(1), "{}", text(&o));
}

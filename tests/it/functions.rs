//! exp, log, abs, max and min end to end: identities proved with a
//! kernel-checked certificate, conditional ones only under their
//! assumptions, and certificates that cite a rule without its side
//! condition rejected by the kernel.

use crate::prove::verdict;
use crate::rules::one_step;
use crate::{bnproof, text};
use bnproof::cert;
use bnproof::kernel;
use bnproof::prove::Outcome;

/// Proved, and the proof passes the kernel on its own; returns the rules used.
fn proved(stmt: &str, assume: &[&str]) -> Vec<String> {
    match verdict(stmt, assume) {
        Outcome::Proved(p) => {
            kernel::check(&p).unwrap_or_else(|e| panic!("{stmt}: {e}"));
            p.steps.iter().map(|s| s.rule.clone()).collect()
        }
        o => panic!("{stmt} under {assume:?}: expected a proof, got {o:?}"),
    }
}

#[test]
fn identities_with_functions_are_proved() {
    for (stmt, assume, rule) in [
        ("exp(a + b) = exp(a) * exp(b)", &[][..], "exp-add"),
        ("exp(-a) = 1 / exp(a)", &[], "exp-neg"),
        ("log(exp(a) * exp(b)) = a + b", &[], "log-mul"),
        ("max(a, b) + min(a, b) = a + b", &[], "max-min-sum"),
        ("abs(x * y) = abs(x) * abs(y)", &[], "abs-mul"),
        ("log(x^2) = 2 * log(x)", &[], "log-pow"),
        ("log(1 / x) = -log(x)", &[], "log-inv"),
        ("log(abs(x)) = log(x)", &[], "log-abs"),
        ("exp(log(x)) = x", &["x > 0"], "exp-log"),
        ("exp(log(x)) = abs(x)", &["x != 0"], "exp-log-abs"),
        (
            "log(x / y) = log(x) - log(y)",
            &["x != 0", "y != 0"],
            "log-div",
        ),
        ("max(a, b) = a", &["a >= b"], "max-ge"),
        ("min(a, b) = a", &["a <= b"], "min-le"),
        ("abs(x) = x", &["x >= 0"], "abs-nonneg"),
        ("sqrt(x^2) = abs(x)", &[], "sqrt-sq-abs"),
        ("abs(x)^2 = x^2", &[], "abs-sq"),
        ("abs(a - b) = abs(b - a)", &[], "abs-sub"),
        ("max(a + c, b + c) = max(a, b) + c", &[], "max-add"),
        ("max(-a, -b) = -min(a, b)", &[], "max-neg"),
        ("max(x^2, -1) = x^2", &[], "max-ge"),
    ] {
        let rules = proved(stmt, assume);
        assert!(
            rules.iter().any(|r| r == rule),
            "{stmt}: expected rule {rule} among {rules:?}"
        );
    }
}

/// Softmax does not change when every logit is shifted by the same c.
#[test]
fn softmax_is_shift_invariant() {
    let rules = proved(
        "exp(z[k] - c) / sum[k](exp(z[k] - c)) = exp(z[k]) / sum[k](exp(z[k]))",
        &[],
    );
    assert!(rules.iter().any(|r| r.starts_with("exp-")), "{rules:?}");
}

/// Conditional rules are not used without their conditions: each claim is
/// false somewhere (at 0 or a negative number), so never proved.
#[test]
fn claims_false_without_their_conditions_are_not_proved() {
    // Each false at the point named.
    for (stmt, assume) in [
        ("exp(log(x)) = x", &[][..]),          // x = 0: 1 vs 0
        ("exp(log(x)) = x", &["x != 0"]),      // x = -1: 1 vs -1
        ("exp(log(x)) = abs(x)", &[]),         // x = 0
        ("log(x * y) = log(x) + log(y)", &[]), // y = 0, x = 2
        ("log(x * y) = log(x) + log(y)", &["x != 0"]),
        ("log(x / y) = log(x) - log(y)", &["x != 0"]), // y = 0: 0 vs log x
        ("abs(x) = x", &["x != 0"]),                   // x = -1
        ("max(a, b) = a", &["a != b"]),                // a < b
        ("min(a, b) = a", &["a != b"]),                // a > b
        ("log(sqrt(x)) = log(x) / 2", &["x != 0"]),    // x = -4: 0 vs log 2
        ("log(x^(1/2)) = 1/2 * log(x)", &["x != 0"]),
        ("log(x^2) = 2 * log(x) + log(x) - log(x^(1/2))", &[]),
    ] {
        if let Outcome::Proved(p) = verdict(stmt, assume) {
            panic!("{stmt} under {assume:?} is false but was proved: {p:?}");
        }
    }
    // At x = 0: exp(log 0) = exp 0 = 1, exactly.
    assert!(matches!(
        verdict("exp(log(x)) = x", &[]),
        Outcome::Refuted(_)
    ));
}

/// The command line: proved (0) only under the assumption; otherwise
/// refuted (1) or unknown (3).
#[test]
fn exp_log_on_the_command_line() {
    let o = bnproof(&["prove", "exp(log(x)) = x", "--assume", "x > 0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("exp-log"), "{}", text(&o));
    let o = bnproof(&["prove", "exp(log(x)) = x"]);
    assert!(matches!(o.status.code(), Some(1 | 3)), "{}", text(&o));
    let o = bnproof(&["prove", "log(x^2) = 2 * log(x)", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["checked"], true);
}

/// A certificate citing exp-log on an x not known to be positive is
/// rejected, however it was made: the kernel proves x > 0 itself.
#[test]
fn kernel_rejects_exp_log_without_a_positive_argument() {
    let good = one_step("exp(log(x))", "x", "exp-log", &["x > 0"]);
    kernel::check(&good).unwrap();
    for assume in [&[][..], &["x != 0"], &["x >= 0"], &["x + 1 > 0"]] {
        let bad = one_step("exp(log(x))", "x", "exp-log", assume);
        let err = kernel::check(&bad).unwrap_err();
        assert!(
            err.message.contains("x > 0") || err.message.contains("?a > 0"),
            "{assume:?}: {err}"
        );
    }
    // The same through a saved certificate: the proved one, its assumption
    // dropped, fails `check-proof`.
    let o = bnproof(&[
        "prove",
        "exp(log(x)) = x",
        "--assume",
        "x > 0",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut c: cert::Certificate = serde_json::from_slice(&o.stdout).unwrap();
    assert!(c.steps.iter().any(|s| s.rule == "exp-log"), "{c:?}");
    assert!(cert::check_certificate(&c).is_ok());
    c.assumptions.clear();
    assert!(cert::check_certificate(&c).is_err());
    let dir = std::env::temp_dir().join(format!("bnproof-functions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("exp-log-unguarded.json");
    std::fs::write(&path, serde_json::to_string(&c).unwrap()).unwrap();
    let o = bnproof(&["check-proof", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
    // Other conditional rules, each without its condition.
    for (lhs, rhs, rule) in [
        ("log(x * y)", "log(x) + log(y)", "log-mul"),
        ("log(x / y)", "log(x) - log(y)", "log-div"),
        ("abs(x)", "x", "abs-nonneg"),
        ("max(a, b)", "a", "max-ge"),
        ("min(a, b)", "a", "min-le"),
        ("exp(log(x))", "abs(x)", "exp-log-abs"),
        ("log(x^(1/3))", "1/3 * log(x)", "log-pow"),
        ("log(sqrt(x))", "log(x) / 2", "log-sqrt"),
    ] {
        assert!(
            kernel::check(&one_step(lhs, rhs, rule, &[])).is_err(),
            "{rule} accepted without its condition"
        );
    }
}

/// No rule removes or moves a stop-gradient: detach(x) = x is not proved
/// (it is true as values, but no step may drop the detach).
#[test]
fn detach_survives() {
    match verdict("detach(x) = x", &[]) {
        Outcome::Proved(p) => panic!("detach(x) = x proved: {p:?}"),
        Outcome::Refuted(c) => panic!("detach(x) = x is true as values, refuted: {c:?}"),
        Outcome::Unknown { .. } => {}
    }
    // Rewriting around it is fine: the detach stays in place.
    proved("exp(detach(a) + b) = exp(detach(a)) * exp(b)", &[]);
}

//! The kernel accepts the prover's proofs and rejects every tampered one,
//! naming the failing step.

use bnproof::ir::{Expr, Rel};
use bnproof::kernel::{self, Direction, Proof};
use bnproof::prove::{self, Options};
use bnproof::syntax;

fn proof_of(stmt: &str, assume: &[&str]) -> Proof {
    let s = syntax::parse_statement(stmt).unwrap();
    let a: Vec<_> = assume
        .iter()
        .map(|x| syntax::parse_assumption(x).unwrap())
        .collect();
    match prove::search(&s, &a, &Options::default()).0 {
        Ok(p) => p,
        Err(e) => panic!("no proof of {stmt}: {e}"),
    }
}

fn seed() -> Proof {
    proof_of(
        "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]",
        &[],
    )
}

fn scale() -> Proof {
    proof_of("sqrt(a^2) = a", &["a >= 0"])
}

#[test]
fn prover_proofs_are_accepted() {
    kernel::check(&seed()).unwrap();
    kernel::check(&scale()).unwrap();
}

fn rejected(p: &Proof) -> kernel::KernelError {
    match kernel::check(p) {
        Ok(()) => panic!("tampered proof accepted: {p:#?}"),
        Err(e) => e,
    }
}

#[test]
fn every_single_tampering_is_rejected() {
    let base = seed();
    let n = base.steps.len();
    assert!(n >= 2);
    let mut tried = 0;
    for k in 0..n {
        // Change the step's expression.
        let mut p = base.clone();
        p.steps[k].expr = Expr::add(p.steps[k].expr.clone(), Expr::num(1));
        assert!(rejected(&p).step >= 1);
        // Change the rule name to another real rule or to nonsense.
        for rule in ["mean-add", "mean-const", "ring", "var-def", "no-such-rule"] {
            if rule == base.steps[k].rule {
                continue;
            }
            let mut p = base.clone();
            p.steps[k].rule = rule.into();
            p.steps[k].subst = None;
            if rule == "ring" && kernel::check(&p).is_ok() {
                // A named step is also a ring step when the rule is ring-valid; fine.
                continue;
            }
            assert_eq!(rejected(&p).step, k + 1, "rule {rule} at step {}", k + 1);
            tried += 1;
        }
        // Flip the direction of a named step.
        if base.steps[k].rule != "ring" {
            let mut p = base.clone();
            p.steps[k].direction = match p.steps[k].direction {
                Direction::Forward => Direction::Backward,
                Direction::Backward => Direction::Forward,
            };
            assert_eq!(rejected(&p).step, k + 1);
            tried += 1;
        }
        // Move the position.
        let mut p = base.clone();
        p.steps[k].position.push(0);
        assert_eq!(rejected(&p).step, k + 1);
        let mut p = base.clone();
        p.steps[k].position = vec![9];
        assert_eq!(rejected(&p).step, k + 1);
        tried += 2;
    }
    // Swap two steps, drop one, change the statement.
    let mut p = base.clone();
    p.steps.swap(0, 1);
    rejected(&p);
    let mut p = base.clone();
    p.steps.remove(0);
    rejected(&p);
    let mut p = base.clone();
    p.statement.rhs = Expr::add(p.statement.rhs.clone(), Expr::num(0));
    assert_eq!(rejected(&p).step, 0);
    assert!(tried > 3 * n);
}

#[test]
fn side_conditions_come_from_the_certificate_assumptions() {
    let base = scale();
    kernel::check(&base).unwrap();
    // Without `a >= 0` the sqrt-sq step's side condition fails.
    let mut p = base.clone();
    p.assumptions.clear();
    let e = rejected(&p);
    assert!(e.message.contains("side condition"), "{e}");
    // A weaker assumption (a != 0) does not establish a >= 0 either.
    let mut p = base;
    p.assumptions[0].rel = Rel::Ne;
    assert!(rejected(&p).message.contains("side condition"));
}

#[test]
fn unsound_steps_are_rejected() {
    // x/x = 1 by div-self without x != 0.
    let stmt = syntax::parse_statement("x / x = 1").unwrap();
    let p = Proof {
        statement: stmt,
        assumptions: vec![],
        steps: vec![kernel::Step {
            expr: Expr::num(1),
            rule: "div-self".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    assert!(rejected(&p).message.contains("side condition"));
    // mean-const on something that varies along the axis.
    let stmt = syntax::parse_statement("mean[i](x[i]) = x[i]").unwrap();
    let p = Proof {
        statement: stmt.clone(),
        assumptions: vec![],
        steps: vec![kernel::Step {
            expr: stmt.rhs.clone(),
            rule: "mean-const".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    assert!(rejected(&p).message.contains("side condition"));
    // A "ring" step that is not a ring identity.
    let stmt = syntax::parse_statement("sqrt(x)^2 = x").unwrap();
    let p = Proof {
        statement: stmt.clone(),
        assumptions: vec![],
        steps: vec![kernel::Step {
            expr: stmt.rhs.clone(),
            rule: "ring".into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    };
    rejected(&p);
}

#[test]
fn field_steps_cancel_only_proven_nonzero_factors() {
    let proof = |rule: &str, assume: &[&str]| {
        one_step(
            "x * (1/x) + mean[i](c * y[i]) = 1 + c * mean[i](y[i])",
            assume,
            rule,
        )
    };
    // Without x != 0 the cancellation is refused (false at x = 0).
    assert!(rejected(&proof("field", &[]))
        .message
        .contains("normal form"));
    // linear alone never cancels; ring knows no linearity.
    rejected(&proof("linear", &["x != 0"]));
    rejected(&proof("ring", &["x != 0"]));
    kernel::check(&proof("field", &["x != 0"])).unwrap();
    kernel::check(&proof("field", &["x > 0"])).unwrap();
}

#[test]
fn field_steps_clear_only_proven_nonzero_denominators() {
    // (x² − y²)/(x − y) = x + y is false at x = y (0 vs 2x) ...
    rejected(&one_step("(x^2 - y^2) / (x - y) = x + y", &[], "field"));
    rejected(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["x + y != 0"],
        "field",
    ));
    // ... and true once x − y ≠ 0 (in any form the sign analysis recognizes).
    kernel::check(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["x - y != 0"],
        "field",
    ))
    .unwrap();
    kernel::check(&one_step(
        "(x^2 - y^2) / (x - y) = x + y",
        &["y - x > 0"],
        "field",
    ))
    .unwrap();
    // A variance assumed positive clears a denominator written as moments.
    kernel::check(&one_step(
        "mean[i](x[i]^2) / (mean[i](x[i]^2) - mean[i](x[i])^2) - mean[i](x[i])^2 / var[i](x[i]) = 1",
        &["var[i](x[i]) > 0"],
        "field",
    ))
    .unwrap();
    rejected(&one_step(
        "mean[i](x[i]^2) / (mean[i](x[i]^2) - mean[i](x[i])^2) - mean[i](x[i])^2 / var[i](x[i]) = 1",
        &["var[i](x[i]) >= 0"],
        "field",
    ));
}

#[test]
fn factors_of_assumed_products_get_their_signs() {
    // a²·(x − y) > 0 forces x − y ≠ 0 (and > 0); a·(x − y) ≠ 0 forces it too.
    kernel::check(&one_step(
        "(x - y) / (x - y) = 1",
        &["a^2 * (x - y) > 0"],
        "field",
    ))
    .unwrap();
    kernel::check(&one_step(
        "(x - y) / (x - y) = 1",
        &["a * (x - y) != 0"],
        "field",
    ))
    .unwrap();
    // ≥ 0 says nothing about a factor (a = 0 allows any x − y).
    rejected(&one_step(
        "(x - y) / (x - y) = 1",
        &["a^2 * (x - y) >= 0"],
        "field",
    ));
    // With an odd power the sign of the factor is unknown: sqrt((x−y)²) = x − y needs x − y ≥ 0.
    rejected(&one_step(
        "sqrt(x - y)^2 = x - y",
        &["a * (x - y) > 0"],
        "field",
    ));
    kernel::check(&one_step(
        "sqrt(x - y)^2 = x - y",
        &["a^2 * (x - y) > 0"],
        "field",
    ))
    .unwrap();
}

#[test]
fn merging_nested_means_never_captures_a_free_axis() {
    for rule in ["linear", "field"] {
        kernel::check(&one_step(
            "mean[i](mean[j](z[i,j])) = mean[j](mean[i](z[i,j]))",
            &[],
            rule,
        ))
        .unwrap();
        kernel::check(&one_step(
            "mean[i](f[j] * mean[j](z[i,j])) = f[j] * mean[i,j](z[i,j])",
            &[],
            rule,
        ))
        .unwrap();
        // False: the outer f[j] is not the j the inner mean ranges over.
        rejected(&one_step(
            "mean[i](f[j] * mean[j](z[i,j])) = mean[i,j](f[j] * z[i,j])",
            &[],
            rule,
        ));
    }
}

/// A one-step proof of `stmt` by `rule` (a normal-form step over the whole
/// statement) under `assume`.
fn one_step(stmt: &str, assume: &[&str], rule: &str) -> Proof {
    let s = syntax::parse_statement(stmt).unwrap();
    Proof {
        statement: s.clone(),
        assumptions: assume
            .iter()
            .map(|a| syntax::parse_assumption(a).unwrap())
            .collect(),
        steps: vec![kernel::Step {
            expr: s.rhs.clone(),
            rule: rule.into(),
            direction: Direction::Forward,
            position: vec![],
            subst: None,
        }],
    }
}

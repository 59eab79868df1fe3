//! Tests are data: identities that must be proved (and kernel-checked),
//! false claims that must be refuted, and statements that must stay unknown
//! rather than be decided wrongly.

use bnproof::kernel;
use bnproof::prove::{self, Options, Outcome};
use bnproof::render;
use bnproof::syntax;

pub(crate) fn verdict(stmt: &str, assume: &[&str]) -> Outcome {
    let s = syntax::parse_statement(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    let a: Vec<_> = assume
        .iter()
        .map(|x| syntax::parse_assumption(x).unwrap())
        .collect();
    prove::prove(&s, &a, &Options::default()).0
}

macro_rules! proved {
    ($($stmt:literal $(where $($a:literal),*)?;)*) => {
        #[test]
        fn identities_are_proved() {
            $( match verdict($stmt, &[$($($a),*)?]) {
                Outcome::Proved(p) => kernel::check(&p).unwrap(),
                o => panic!("{}: expected a proof, got {o:?}", $stmt),
            } )*
        }
    };
}

macro_rules! refuted {
    ($($stmt:literal $(where $($a:literal),*)?;)*) => {
        #[test]
        fn false_claims_are_refuted() {
            $( match verdict($stmt, &[$($($a),*)?]) {
                Outcome::Refuted(_) => {}
                o => panic!("{}: expected a counterexample, got {o:?}", $stmt),
            } )*
        }
    };
}

proved! {
    "x + y = y + x";
    "mean[i](Δb) = Δb";
    "mean[i](c * x[i]) = c * mean[i](x[i])";
    "sum[i](x[i] + y[i]) = sum[i](x[i]) + sum[i](y[i])";
    "sum[i](c) = sum[i](1) * c";
    "mean[i](x[i] - mean[i](x[i])) = 0";
    "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]";
    "var[i](x[i] + c) = var[i](x[i])";
    "x / x = 1" where "x != 0";
    "sqrt(a^2) = a" where "a > 0";
    "sqrt(x^2 + 1)^2 = x^2 + 1";
    "(x + 1)^2 = x^2 + 2*x + 1";
    "mean[i,j](x[i,j] - mean[i,j](x[i,j])) = 0";
    "mean[i](mean[j](z[i,j])) = mean[j](mean[i](z[i,j]))";
    "mean[i](f[j] * mean[j](z[i,j])) = f[j] * mean[i,j](z[i,j])";
    // A ring step the kernel rejects where the two ends first differ (`-x`
    // vs `x`) is placed where egg's rewrites meet (the root).
    "(-x)^2 = x^2";
    "(-x)^4 = x^4";
    // Nested trivial powers: one ring step for the whole run is beyond the
    // normal form's work bound, so each rewrite stays a step of its own.
    "((((((((((((((((x)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1)^1) = x";
}

refuted! {
    "x / x = 1";
    "sqrt(a^2) = a";
    "sqrt(x)^2 = x";
    "mean[i](x[i] * y[i]) = mean[i](x[i]) * mean[i](y[i])";
    "mean[i](x[i]) = x[i]";
    "var[i](a * x[i]) = a * var[i](x[i])";
    "(x + 1)^2 = x^2 + 1";
    "sum[i](x[i]) = mean[i](x[i])";
    // Merging the inner mean would capture the free j of f[j].
    "mean[i](f[j] * mean[j](z[i,j])) = mean[i,j](f[j] * z[i,j])";
}

#[test]
fn seed_proof_text() {
    let p = match verdict(
        "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]",
        &[],
    ) {
        Outcome::Proved(p) => p,
        o => panic!("{o:?}"),
    };
    let mut out = String::new();
    render::proof_text(&mut out, &p).unwrap();
    assert!(p.steps.len() <= 12, "{out}");
    insta::assert_snapshot!(out);
}

/// Issue 12, item 6: no rule followed by its own inverse at the same place,
/// no loop back to an earlier expression, no two adjacent `ring` steps, in
/// any proof of the library (each proof re-checked by the kernel).
#[test]
fn library_proofs_have_no_detours() {
    use bnproof::ir::Expr;
    use bnproof::library;
    for t in library::THEOREMS {
        let run = library::run(t, &Options::default());
        let Outcome::Proved(p) = &run.outcome else {
            continue;
        };
        kernel::check(p).unwrap();
        let mut seen: Vec<&Expr> = vec![&p.statement.lhs];
        for (k, s) in p.steps.iter().enumerate() {
            assert!(
                !seen.contains(&&s.expr),
                "{}: step {} returns to an earlier expression",
                t.name,
                k + 1
            );
            seen.push(&s.expr);
            if k > 0 {
                let prev = &p.steps[k - 1];
                assert!(
                    !(prev.rule == "ring" && s.rule == "ring"),
                    "{}: steps {k} and {} are both ring",
                    t.name,
                    k + 1
                );
                assert!(
                    !(prev.rule == s.rule
                        && prev.position == s.position
                        && prev.direction != s.direction),
                    "{}: step {} undoes step {k}",
                    t.name,
                    k + 1
                );
            }
        }
    }
}

//! Soundness campaign: random identities that are TRUE by construction and
//! statements that are FALSE by construction (falseness confirmed by exact
//! evaluation at a witness before use). Hard properties: nothing false is
//! proved, nothing true is refuted; every proof re-checked by the kernel and
//! every counterexample re-checked by `check_counterexample`. The ratios of
//! true statements proved and false statements refuted are printed only.

// The counts are reported on stderr (shown with --nocapture); the print ban
// of clippy.toml is for the library.
#![allow(clippy::disallowed_macros)]

use bnproof::cert;
use bnproof::eval::{Env, Evaluator, Tensor};
use bnproof::ir::{Assumption, Expr, Rat, RedOp, Rel, Statement};
use bnproof::kernel;
use bnproof::prove::{self, Options, Outcome};
use bnproof::refute::check_counterexample;
use bnproof::ring;
use bnproof::syntax;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

/// Scalars and vectors along `i` (each name always with the same axes).
const SCALARS: &[&str] = &["a", "b", "c"];
const VECTORS: &[&str] = &["x", "y"];

fn leaf(rng: &mut ChaCha8Rng) -> Expr {
    match rng.gen_range(0..5) {
        0 => Expr::num(rng.gen_range(1..4)),
        1 | 2 => Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]),
        _ => Expr::sym(VECTORS[rng.gen_range(0..VECTORS.len())], &["i"]),
    }
}

/// A small random expression (no division, no roots: those are exercised by
/// dedicated generators so that the campaign stays fast).
fn gen(rng: &mut ChaCha8Rng, depth: u32) -> Expr {
    if depth == 0 || rng.gen_bool(0.3) {
        return leaf(rng);
    }
    let d = depth - 1;
    match rng.gen_range(0..8) {
        0 | 1 => Expr::add(gen(rng, d), gen(rng, d)),
        2 => Expr::sub(gen(rng, d), gen(rng, d)),
        3 | 4 => Expr::mul(gen(rng, d), gen(rng, d)),
        5 => Expr::neg(gen(rng, d)),
        6 => Expr::reduce(RedOp::Mean, &["i"], gen(rng, d)),
        _ => Expr::pow(gen(rng, d), Expr::num(2)),
    }
}

/// Random exact environments: `i` of size 1..=3, small rationals (zero
/// included, so that total-semantics corner cases are hit).
fn env(rng: &mut ChaCha8Rng) -> Env {
    let n = rng.gen_range(1..=3usize);
    let mut e = Env::default();
    e.sizes.insert("i".into(), n);
    let val = |rng: &mut ChaCha8Rng| {
        Rat::new(
            rng.gen_range(-4i64..=4).into(),
            rng.gen_range(1i64..=3).into(),
        )
    };
    for s in SCALARS {
        let v = val(rng);
        e.values.insert((*s).into(), Tensor::scalar(v));
    }
    for s in VECTORS {
        let data = (0..n).map(|_| val(rng)).collect();
        e.values.insert(
            (*s).into(),
            Tensor {
                axes: vec!["i".into()],
                data,
            },
        );
    }
    e
}

fn assumptions_hold(env: &Env, assumptions: &[Assumption]) -> bool {
    let n = env.sizes["i"];
    assumptions.iter().all(|a| {
        (0..n).all(|k| {
            let idx: BTreeMap<String, usize> = [("i".to_string(), k)].into();
            Evaluator::new(env)
                .eval(&a.expr, &idx)
                .ok()
                .and_then(|v| v.holds(a.rel))
                == Some(true)
        })
    })
}

/// Some environment (satisfying the assumptions) where both sides certainly
/// differ at some position.
fn witness(rng: &mut ChaCha8Rng, st: &Statement, assumptions: &[Assumption]) -> bool {
    for _ in 0..40 {
        let env = env(rng);
        if !assumptions_hold(&env, assumptions) {
            continue;
        }
        for k in 0..env.sizes["i"] {
            let idx: BTreeMap<String, usize> = [("i".to_string(), k)].into();
            let mut ev = Evaluator::new(&env);
            if let (Ok(l), Ok(r)) = (ev.eval(&st.lhs, &idx), ev.eval(&st.rhs, &idx)) {
                if l.definitely_ne(&r) {
                    return true;
                }
            }
        }
    }
    false
}

/// Sanity check of the generators themselves: a true statement agrees at
/// many random points (never definitely different).
fn agrees_everywhere(rng: &mut ChaCha8Rng, st: &Statement, assumptions: &[Assumption]) -> bool {
    !witness(rng, st, assumptions)
}

fn nonzero_assumption(e: Expr) -> Assumption {
    Assumption {
        expr: e,
        rel: Rel::Ne,
    }
}

/// Held by the heavy tests of `soundness` and `tamper`, so that at most one
/// of them loads the (two) cores at a time: existing tests have time limits.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Take [`HEAVY`], even if a test that held it failed.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

type Case = (String, Statement, Vec<Assumption>);

fn st(lhs: Expr, rhs: Expr) -> Statement {
    Statement { lhs, rhs }
}

/// A statement true by construction, with the generator's name.
fn gen_true(rng: &mut ChaCha8Rng) -> Case {
    let e = gen(rng, 4);
    let f = gen(rng, 2);
    let g = gen(rng, 2);
    let mean = |b: Expr| Expr::reduce(RedOp::Mean, &["i"], b);
    let sum = |b: Expr| Expr::reduce(RedOp::Sum, &["i"], b);
    let kind = rng.gen_range(0..16);
    let (name, s, a) = match kind {
        0 => (
            "plus-zero",
            st(e.clone(), Expr::add(e, Expr::num(0))),
            vec![],
        ),
        1 => (
            "times-two-over-two",
            st(
                e.clone(),
                Expr::div(Expr::mul(e, Expr::num(2)), Expr::num(2)),
            ),
            vec![],
        ),
        2 => (
            "commute-sum",
            st(Expr::add(e.clone(), f.clone()), Expr::add(f, e)),
            vec![],
        ),
        3 => (
            "reassociate",
            st(
                Expr::add(Expr::add(e.clone(), f.clone()), g.clone()),
                Expr::add(e, Expr::add(f, g)),
            ),
            vec![],
        ),
        4 => (
            "mean-linear",
            st(
                mean(Expr::add(e.clone(), f.clone())),
                Expr::add(mean(e), mean(f)),
            ),
            vec![],
        ),
        5 => {
            let y = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "times-y-over-y",
                st(e.clone(), Expr::mul(e, Expr::div(y.clone(), y.clone()))),
                vec![nonzero_assumption(y)],
            )
        }
        6 => (
            "distribute",
            st(
                Expr::mul(e.clone(), Expr::add(f.clone(), g.clone())),
                Expr::add(Expr::mul(e.clone(), f), Expr::mul(e, g)),
            ),
            vec![],
        ),
        7 => (
            "sum-is-count-times-mean",
            st(sum(e.clone()), Expr::mul(sum(Expr::num(1)), mean(e))),
            vec![],
        ),
        8 => (
            "minus-self",
            st(Expr::sub(e.clone(), e), Expr::num(0)),
            vec![],
        ),
        9 => (
            "centred-mean-zero",
            st(mean(Expr::sub(e.clone(), mean(e))), Expr::num(0)),
            vec![],
        ),
        11 => {
            let y = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "times-y-div-y",
                st(Expr::div(Expr::mul(e.clone(), y.clone()), y.clone()), e),
                vec![nonzero_assumption(y)],
            )
        }
        12 => {
            let y = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "sqrt-of-square-nonneg",
                st(Expr::sqrt(Expr::pow(y.clone(), Expr::num(2))), y.clone()),
                vec![Assumption {
                    expr: y,
                    rel: Rel::Ge,
                }],
            )
        }
        13 => {
            let c = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "variance-shift",
                st(
                    Expr::reduce(RedOp::Var, &["i"], Expr::add(e.clone(), c)),
                    Expr::reduce(RedOp::Var, &["i"], e),
                ),
                vec![],
            )
        }
        14 => {
            let c = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "mean-scale",
                st(mean(Expr::mul(c.clone(), e.clone())), Expr::mul(c, mean(e))),
                vec![],
            )
        }
        15 => {
            let c = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "variance-scale",
                st(
                    Expr::reduce(RedOp::Var, &["i"], Expr::mul(c.clone(), e.clone())),
                    Expr::mul(
                        Expr::pow(c, Expr::num(2)),
                        Expr::reduce(RedOp::Var, &["i"], e),
                    ),
                ),
                vec![],
            )
        }
        _ => (
            "square-expand",
            st(
                Expr::pow(Expr::add(e.clone(), f.clone()), Expr::num(2)),
                Expr::add(
                    Expr::add(
                        Expr::mul(e.clone(), e.clone()),
                        Expr::mul(Expr::num(2), Expr::mul(e, f.clone())),
                    ),
                    Expr::mul(f.clone(), f),
                ),
            ),
            vec![],
        ),
    };
    (name.to_string(), s, a)
}

/// A candidate false statement; kept only when a witness confirms it.
fn gen_false(rng: &mut ChaCha8Rng) -> Case {
    let e = gen(rng, 4);
    let f = gen(rng, 2);
    let mean = |b: Expr| Expr::reduce(RedOp::Mean, &["i"], b);
    let sum = |b: Expr| Expr::reduce(RedOp::Sum, &["i"], b);
    let (name, s, a) = match rng.gen_range(0..9) {
        0 => (
            "plus-one",
            st(e.clone(), Expr::add(e, Expr::num(1))),
            vec![],
        ),
        1 => (
            "times-two",
            st(e.clone(), Expr::mul(e, Expr::num(2))),
            vec![],
        ),
        2 => ("mean-for-sum", st(mean(e.clone()), sum(e)), vec![]),
        3 => ("drop-term", st(Expr::add(e.clone(), f), e), vec![]),
        4 => {
            // x/x = 1 style: only true under an assumption that is missing.
            let y = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "times-y-over-y-unguarded",
                st(e.clone(), Expr::mul(e, Expr::div(y.clone(), y))),
                vec![],
            )
        }
        6 => (
            "sqrt-of-square-unguarded",
            st(Expr::sqrt(Expr::pow(e.clone(), Expr::num(2))), e),
            vec![],
        ),
        7 => {
            let c = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "variance-scale-linear",
                st(
                    Expr::reduce(RedOp::Var, &["i"], Expr::mul(c.clone(), e.clone())),
                    Expr::mul(c, Expr::reduce(RedOp::Var, &["i"], e)),
                ),
                vec![],
            )
        }
        8 => {
            // x̂ without its guard is not 1 at zero variance.
            let y = Expr::sym(SCALARS[rng.gen_range(0..SCALARS.len())], &[]);
            (
                "div-self-weak-guard",
                st(Expr::div(y.clone(), y.clone()), Expr::num(1)),
                vec![Assumption {
                    expr: y,
                    rel: Rel::Ge,
                }],
            )
        }
        _ => (
            "mean-multiplicative",
            st(
                mean(Expr::mul(e.clone(), f.clone())),
                Expr::mul(mean(e), mean(f)),
            ),
            vec![],
        ),
    };
    (name.to_string(), s, a)
}

fn opts(seed: u64) -> Options {
    Options {
        node_limit: 20_000,
        iter_limit: 12,
        timeout: Duration::from_millis(300),
        seed,
        samples: 60,
        ring_work: None,
    }
}

#[derive(Default)]
struct Tally {
    true_proved: usize,
    false_refuted: usize,
    unknown: usize,
    violations: Vec<String>,
}

fn run_cases(cases: &[(Case, bool)], seed: u64) -> Tally {
    let mut t = Tally::default();
    for (k, ((name, s, a), truth)) in cases.iter().enumerate() {
        let text = format!(
            "[{name}] {} = {}{}",
            syntax::print(&s.lhs),
            syntax::print(&s.rhs),
            if a.is_empty() {
                String::new()
            } else {
                format!(" assuming {}", syntax::print(&a[0].expr))
            }
        );
        match prove::prove(s, a, &opts(seed + k as u64)).0 {
            Outcome::Proved(p) => {
                t.true_proved += usize::from(*truth);
                if !truth {
                    t.violations.push(format!("FALSE statement proved: {text}"));
                }
                if p.statement != *s || p.assumptions != *a {
                    t.violations
                        .push(format!("proof of another statement returned: {text}"));
                }
                if let Err(e) = kernel::check(&p) {
                    t.violations
                        .push(format!("proof rejected by the kernel ({e}): {text}"));
                }
                // Its certificate (every expression printed as text) is
                // accepted too, and reads back as the same proof.
                let json = serde_json::to_string(&cert::to_certificate(&p, true)).unwrap();
                match cert::check_json(&json) {
                    Ok(back) if back == p => {}
                    Ok(_) => t
                        .violations
                        .push(format!("certificate reads back differently: {text}")),
                    Err(e) => t
                        .violations
                        .push(format!("certificate rejected ({e}): {text}")),
                }
            }
            Outcome::Refuted(cx) => {
                t.false_refuted += usize::from(!*truth);
                if *truth {
                    t.violations.push(format!("TRUE statement refuted: {text}"));
                }
                if !check_counterexample(s, a, &cx) {
                    t.violations
                        .push(format!("counterexample fails the re-check: {text}"));
                }
            }
            Outcome::Unknown { .. } => t.unknown += 1,
        }
    }
    t
}

#[test]
fn nothing_false_proved_nothing_true_refuted() {
    let _heavy = heavy();
    let mut rng = ChaCha8Rng::seed_from_u64(0x005e_edb4);
    let mut cases: Vec<(Case, bool)> = Vec::new();
    let (mut n_true, mut n_false) = (0, 0);
    let mut guard = 0;
    while n_true < 150 {
        guard += 1;
        assert!(guard < 10_000);
        let c = gen_true(&mut rng);
        // The generators are meant to be valid under the total semantics;
        // a disagreement would be a bug in this test, not in bnproof.
        assert!(
            agrees_everywhere(&mut rng, &c.1, &c.2),
            "generator {} produced a false statement: {} = {}",
            c.0,
            syntax::print(&c.1.lhs),
            syntax::print(&c.1.rhs)
        );
        cases.push((c, true));
        n_true += 1;
    }
    let mut discarded = 0;
    while n_false < 150 {
        guard += 1;
        assert!(guard < 10_000);
        let c = gen_false(&mut rng);
        if witness(&mut rng, &c.1, &c.2) {
            cases.push((c, false));
            n_false += 1;
        } else {
            discarded += 1;
        }
    }
    // Two workers (CI has two cores), true and false cases interleaved.
    let (a, b): (Vec<_>, Vec<_>) = cases.into_iter().enumerate().partition(|(k, _)| k % 2 == 0);
    let a: Vec<_> = a.into_iter().map(|(_, c)| c).collect();
    let b: Vec<_> = b.into_iter().map(|(_, c)| c).collect();
    let (ta, tb) = std::thread::scope(|sc| {
        let ha = sc.spawn(|| run_cases(&a, 1));
        let hb = sc.spawn(|| run_cases(&b, 100_000));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let true_proved = ta.true_proved + tb.true_proved;
    let false_refuted = ta.false_refuted + tb.false_refuted;
    let unknown = ta.unknown + tb.unknown;
    let mut violations = ta.violations;
    violations.extend(tb.violations);
    eprintln!(
        "soundness campaign: {n_true} true, {n_false} false ({discarded} false candidates without a witness discarded), {unknown} unknown"
    );
    eprintln!(
        "completeness: {true_proved}/{n_true} true proved ({:.0}%); refutation: {false_refuted}/{n_false} false refuted ({:.0}%)",
        100.0 * true_proved as f64 / n_true as f64,
        100.0 * false_refuted as f64 / n_false as f64,
    );
    assert!(
        violations.is_empty(),
        "violations:\n{}",
        violations.join("\n")
    );
}

/// The linear normal form takes a mean over several axes one axis at a time
/// (ARCHITECTURE.md); for a body that varies along both axes it fixes one
/// order, so the other nesting is not recognised.
#[test]
fn bug_fubini_for_means_not_proved() {
    for (l, r) in [
        ("mean[i](mean[j](z[i,j]))", "mean[j](mean[i](z[i,j]))"),
        ("mean[i,j](z[i,j])", "mean[i](mean[j](z[i,j]))"),
        ("sum[i](sum[j](z[i,j]))", "sum[j](sum[i](z[i,j]))"),
    ] {
        let proof = kernel::Proof {
            statement: st(
                syntax::parse_expr(l).unwrap(),
                syntax::parse_expr(r).unwrap(),
            ),
            assumptions: vec![],
            definitions: Vec::new(),
            haves: Vec::new(),
            lemmas: Vec::new(),
            steps: vec![kernel::Step {
                expr: syntax::parse_expr(r).unwrap(),
                rule: "linear".into(),
                direction: kernel::Direction::Forward,
                position: vec![],
                subst: None,
            }],
        };
        kernel::check(&proof).unwrap_or_else(|e| panic!("{l} = {r}: {e}"));
        let s = syntax::parse_statement(&format!("{l} = {r}")).unwrap();
        let (outcome, _) = prove::prove(&s, &[], &Options::default());
        assert!(
            matches!(outcome, Outcome::Proved(_)),
            "{l} = {r}: {outcome:?}"
        );
    }
}

/// Statements that are subtle under the total semantics (`x/0 = 0`, `sqrt`
/// and non-integer powers of a negative are 0): each gets exactly the
/// verdict below, or unknown where marked — never the opposite one.
#[test]
fn total_semantics_corner_cases() {
    // (statement, assumption, Some(true) = must be proved, Some(false) =
    // must be refuted, None = true but may be unknown)
    let cases: &[(&str, &str, Option<bool>)] = &[
        ("1/(1/x) = x", "", Some(true)),
        ("(x/y)/z = x/(y*z)", "", Some(true)),
        ("x^(-1) = 1/x", "", Some(true)),
        ("x/y*y = x", "", Some(false)),
        ("sqrt(x)^2 = x", "", Some(false)),
        ("sqrt(x*y) = sqrt(x)*sqrt(y)", "", Some(false)),
        ("(-8)^(1/3) = -2", "", Some(false)),
        ("8^(1/3) = 2", "", Some(true)),
        ("(x^3)^(1/3) = x", "", Some(false)),
        ("x^(1/2)*x^(1/2) = x", "", Some(false)),
        ("x^(1/2)*x^(1/2) = x", "x >= 0", Some(true)),
        ("x^(3/2) = x*sqrt(x)", "", None),
        ("x^2/x = x", "", None),
        ("x/(x*x) = 1/x", "", None),
        ("1/sqrt(x) = sqrt(1/x)", "", None),
        ("sqrt(x^4) = x^2", "", None),
        ("(x*y)/(x*z) = y/z", "", Some(false)),
        ("(x*y)/(x*z) = y/z", "x != 0", Some(true)),
        ("sqrt(x/y) = sqrt(x)/sqrt(y)", "", Some(false)),
        ("sqrt(x/y) = sqrt(x)/sqrt(y)", "y > 0", Some(true)),
        (
            "var[i,j](z[i,j]) = mean[i](var[j](z[i,j]))",
            "",
            Some(false),
        ),
        ("mean[i](x[i]/x[i]) = 1", "", Some(false)),
        ("mean[i](x[i]/x[i]) = 1", "x[i] > 0", Some(true)),
    ];
    let opts = Options {
        timeout: Duration::from_secs(2),
        ..Options::default()
    };
    for (s, a, want) in cases {
        let stmt = syntax::parse_statement(s).unwrap();
        let assumptions: Vec<_> = if a.is_empty() {
            vec![]
        } else {
            vec![syntax::parse_assumption(a).unwrap()]
        };
        let outcome = prove::prove(&stmt, &assumptions, &opts).0;
        match (&outcome, want) {
            (Outcome::Proved(p), Some(true) | None) => kernel::check(p).unwrap(),
            (Outcome::Refuted(cx), Some(false)) => {
                assert!(check_counterexample(&stmt, &assumptions, cx), "{s}")
            }
            (Outcome::Unknown { .. }, None) => {}
            _ => panic!("{s} assuming {a:?}: expected {want:?}, got {outcome:?}"),
        }
    }
}

/// Small expressions with division, roots and reductions, over few atoms so
/// that two random ones are often equal.
fn gen_field(rng: &mut ChaCha8Rng, depth: u32) -> Expr {
    if depth == 0 || rng.gen_bool(0.25) {
        return match rng.gen_range(0..8) {
            0 => Expr::num(rng.gen_range(0..3)),
            1 | 2 => Expr::sym("a", &[]),
            3 => Expr::sym("b", &[]),
            // roots of constants (folded exactly by the normal forms)
            4 => Expr::sqrt(Expr::num([2, 8, 18, 3][rng.gen_range(0..4)])),
            _ => Expr::sym("x", &["i"]),
        };
    }
    let d = depth - 1;
    match rng.gen_range(0..16) {
        0 => Expr::add(gen_field(rng, d), gen_field(rng, d)),
        1 => Expr::sub(gen_field(rng, d), gen_field(rng, d)),
        2 | 3 => Expr::mul(gen_field(rng, d), gen_field(rng, d)),
        4 | 5 => Expr::div(gen_field(rng, d), gen_field(rng, d)),
        6 => Expr::sqrt(gen_field(rng, d)),
        7 => Expr::reduce(RedOp::Mean, &["i"], gen_field(rng, d)),
        8 => Expr::reduce(RedOp::Sum, &["i"], gen_field(rng, d)),
        9 => Expr::neg(gen_field(rng, d)),
        // powers of roots above the index, fourth powers under roots
        10 => Expr::pow(
            gen_field(rng, d),
            Expr::rat(rng.gen_range(-5..=5), rng.gen_range(2..=3)),
        ),
        11 => Expr::sqrt(Expr::pow(
            gen_field(rng, d),
            Expr::num(rng.gen_range(2..=6)),
        )),
        13 => {
            // a base written alike above and below the bar
            let g = gen_field(rng, d);
            Expr::div(
                Expr::mul(
                    Expr::pow(g.clone(), Expr::num(rng.gen_range(1..=3))),
                    gen_field(rng, 0),
                ),
                Expr::mul(
                    Expr::pow(g, Expr::num(rng.gen_range(1..=3))),
                    gen_field(rng, 0),
                ),
            )
        }
        12 => Expr::sqrt(Expr::mul(
            Expr::num(rng.gen_range(-2..=2)),
            Expr::mul(
                Expr::pow(gen_field(rng, d), Expr::num(2 * rng.gen_range(1..=2))),
                gen_field(rng, 0),
            ),
        )),
        _ => Expr::pow(gen_field(rng, d), Expr::num(rng.gen_range(-3..5))),
    }
}

/// The trusted normal forms directly: one-step `ring` / `linear` / `field`
/// proofs between random expressions (under random assumptions). Whenever
/// the kernel accepts one, the two sides must agree at every sampled point
/// satisfying the assumptions.
#[test]
fn kernel_normal_form_steps_agree_with_evaluation() {
    let _heavy = heavy();
    let mut rng = ChaCha8Rng::seed_from_u64(0x00b0_0b5e);
    let assumption_pool = [
        ("a", Rel::Ne),
        ("a", Rel::Gt),
        ("b", Rel::Ge),
        ("x[i]", Rel::Gt),
        ("a - b", Rel::Ne),
        // products, quotients, bounds: split into factors by the sign analysis
        ("a^2*b", Rel::Gt),
        ("a^3", Rel::Ne),
        ("1/b", Rel::Ne),
        ("a/b", Rel::Ge),
        ("a - 1/2", Rel::Gt),
        ("b - 1/4", Rel::Ge),
        ("-b", Rel::Gt),
        ("x[i] - 1", Rel::Ge),
    ];
    let (mut tried, mut accepted) = (0, 0);
    let mut violations = Vec::new();
    for _ in 0..2500 {
        let e1 = gen_field(&mut rng, 3);
        let assumptions: Vec<Assumption> = assumption_pool
            .iter()
            .filter(|_| rng.gen_bool(0.2))
            .map(|(e, rel)| Assumption {
                expr: syntax::parse_expr(e).unwrap(),
                rel: *rel,
            })
            .collect();
        // A relative of e1 (a subterm rewritten), its own normal form under
        // one of the modes, or an unrelated expression.
        let pick = rng.gen_range(0..6);
        let e2 = if pick >= 4 {
            let facts = bnproof::sign::Facts::new(&assumptions);
            let checks = bnproof::sign::field_checks(&facts);
            let mode = match pick {
                4 if rng.gen_bool(0.5) => ring::Mode::RING,
                4 => ring::Mode::LINEAR,
                _ => checks.mode(),
            };
            match ring::normalize_with(&e1, &mode) {
                Ok(p) => ring::to_expr(&p),
                Err(_) => continue,
            }
        } else if pick >= 2 {
            let paths = {
                fn paths(e: &Expr, here: Vec<usize>, out: &mut Vec<Vec<usize>>) {
                    for (k, c) in e.children().into_iter().enumerate() {
                        let mut p = here.clone();
                        p.push(k);
                        paths(c, p, out);
                    }
                    out.push(here);
                }
                let mut out = Vec::new();
                paths(&e1, vec![], &mut out);
                out
            };
            let p = &paths[rng.gen_range(0..paths.len())];
            e1.replace_at(p, gen_field(&mut rng, 1)).unwrap()
        } else {
            gen_field(&mut rng, 3)
        };
        for rule in ["ring", "linear", "field"] {
            tried += 1;
            let proof = kernel::Proof {
                statement: st(e1.clone(), e2.clone()),
                assumptions: assumptions.clone(),
                definitions: Vec::new(),
                haves: Vec::new(),
                lemmas: Vec::new(),
                steps: vec![kernel::Step {
                    expr: e2.clone(),
                    rule: rule.into(),
                    direction: kernel::Direction::Forward,
                    position: vec![],
                    subst: None,
                }],
            };
            if kernel::check(&proof).is_ok() {
                accepted += 1;
                if witness(&mut rng, &proof.statement, &assumptions) {
                    violations.push(format!(
                        "{rule} step accepted for a false equation: {} = {} assuming {:?}",
                        syntax::print(&e1),
                        syntax::print(&e2),
                        assumptions
                            .iter()
                            .map(|a| format!("{} {} 0", syntax::print(&a.expr), a.rel.as_str()))
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    eprintln!("normal-form steps: {tried} tried, {accepted} accepted, each checked against exact evaluation");
    assert!(
        accepted > 50,
        "too few accepted steps ({accepted}) to mean anything"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Templates of identities with exp, log, abs, max and min: true under the
/// total semantics (`log x = log |x|`, `log 0 = 0`) for every value of the
/// pattern variables, or false (each with a rule's side condition dropped,
/// or a wrong law).
const FUNCTIONS_TRUE: &[&str] = &[
    "exp(?a + ?b) = exp(?a) * exp(?b)",
    "exp(?a - ?b) = exp(?a) / exp(?b)",
    "exp(?a) * exp(-?a) = 1",
    "log(exp(?a)) = ?a",
    "log(exp(?a) * exp(?b)) = ?a + ?b",
    "log(abs(?a)) = log(?a)",
    "log(?a^2) = 2 * log(?a)",
    "log(1 / ?a) = -log(?a)",
    "abs(?a * ?b) = abs(?a) * abs(?b)",
    "abs(?a - ?b) = abs(?b - ?a)",
    "sqrt(?a^2) = abs(?a)",
    "max(?a, ?b) + min(?a, ?b) = ?a + ?b",
    "max(?a, ?b) = max(?b, ?a)",
    "max(?a^2 + 1, -1) = ?a^2 + 1",
];
const FUNCTIONS_FALSE: &[&str] = &[
    "exp(log(?a)) = ?a",
    "exp(log(?a)) = abs(?a)",
    "log(?a * ?b) = log(?a) + log(?b)",
    "log(?a / ?b) = log(?a) - log(?b)",
    "log(?a + ?b) = log(?a) + log(?b)",
    "log(sqrt(?a)) = log(?a) / 2",
    "log(?a^(1/2)) = 1/2 * log(?a)",
    "exp(?a * ?b) = exp(?a) * exp(?b)",
    "abs(?a) = ?a",
    "abs(?a + ?b) = abs(?a) + abs(?b)",
    "max(?a, ?b) = ?a",
    "min(?a, ?b) = ?b",
    "max(?a, ?b) - min(?a, ?b) = ?a - ?b",
];

/// A template with `?a`, `?b` replaced by random expressions.
fn function_case(rng: &mut ChaCha8Rng, template: &str) -> Case {
    let (l, r) = template.split_once(" = ").unwrap();
    let p = (
        syntax::parse_pattern(l).unwrap(),
        syntax::parse_pattern(r).unwrap(),
    );
    let mut s = bnproof::rules::Subst::new();
    for v in ["a", "b"] {
        s.insert(v.into(), bnproof::rules::Binding::Expr(gen(rng, 2)));
    }
    let inst = |e: &Expr| bnproof::rules::instantiate(e, &s).unwrap();
    (template.to_string(), st(inst(&p.0), inst(&p.1)), vec![])
}

/// Both sides differ at some random point, by more than `f64` rounding
/// could explain (exp and log rarely have exact values), or exactly.
fn witness_f64(rng: &mut ChaCha8Rng, st: &Statement) -> bool {
    use bnproof::oracle::fd::eval_f64;
    for _ in 0..40 {
        let env = env(rng);
        let envf = crate::rules::to_f64(&env);
        for k in 0..env.sizes["i"] {
            let idx: BTreeMap<String, usize> = [("i".to_string(), k)].into();
            if let (Ok(l), Ok(r)) = (
                eval_f64(&st.lhs, &envf, &idx),
                eval_f64(&st.rhs, &envf, &idx),
            ) {
                if l.is_finite()
                    && r.is_finite()
                    && (l - r).abs() > 1e-6 * l.abs().max(r.abs()).max(1.0)
                {
                    return true;
                }
            }
        }
    }
    witness(rng, st, &[])
}

/// The function rules never prove a false statement and the refuter never
/// refutes a true one, on random instances of the templates above.
#[test]
fn functions_nothing_false_proved_nothing_true_refuted() {
    let _heavy = heavy();
    let mut rng = ChaCha8Rng::seed_from_u64(0xf0_0d);
    let mut cases: Vec<(Case, bool)> = Vec::new();
    for _ in 0..3 {
        for t in FUNCTIONS_TRUE {
            cases.push((function_case(&mut rng, t), true));
        }
        for t in FUNCTIONS_FALSE {
            let c = function_case(&mut rng, t);
            if witness_f64(&mut rng, &c.1) {
                cases.push((c, false));
            }
        }
    }
    let n_false = cases.iter().filter(|(_, t)| !t).count();
    assert!(n_false >= 25, "only {n_false} false cases with a witness");
    let t = run_cases(&cases, 7);
    eprintln!(
        "functions: {}/{} true proved, {}/{n_false} false refuted, {} unknown",
        t.true_proved,
        cases.len() - n_false,
        t.false_refuted,
        t.unknown
    );
    assert!(
        t.violations.is_empty(),
        "violations:\n{}",
        t.violations.join("\n")
    );
    // The rules do work: most true instances are proved.
    assert!(
        t.true_proved * 2 >= cases.len() - n_false,
        "{} proved",
        t.true_proved
    );
}

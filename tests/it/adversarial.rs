//! The worst inputs of `bench/adversarial/run.py` (see docs/PERFORMANCE.md,
//! "Adversarial inputs: peak memory"): each finishes within its `--timeout`
//! with a verdict, also under a 2 GiB address-space limit.

use bnproof::ring::{self, RingError};
use bnproof::syntax;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn axes(k: usize) -> String {
    (0..k)
        .map(|j| format!("a{j}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn nest(template: &str, inner: &str, depth: usize) -> String {
    (0..depth).fold(inner.to_string(), |e, _| template.replace("{}", &e))
}

/// Statements whose normal forms grow exponentially with nested axes or
/// nested reductions. Before the normal forms obeyed the prover's deadline
/// and a work bound, each ran past 30 s with `--timeout 5`.
fn slow_normal_forms() -> Vec<String> {
    let a40 = axes(40);
    let a30 = axes(30);
    vec![
        format!("mean[{a40}](x[{a40}]) = mean[{a40}](x[{a40}] + 0)"),
        format!(
            "{}x[{a30}]{} = 0",
            (0..30).map(|j| format!("var[a{j}](")).collect::<String>(),
            ")".repeat(30)
        ),
        format!(
            "{} = {}",
            nest("sqrt(mean[i]({}))", "x[i]^2", 100),
            nest("sqrt(mean[i]({}))", "x[i]^2", 99)
        ),
    ]
}

/// Runs the binary through `sh -c` with `limits` (shell commands such as
/// `ulimit -v …`) and returns its exit code (None: killed by a signal) and
/// wall time.
fn run_limited(limits: &str, args: &[&str]) -> (Option<i32>, Duration) {
    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{limits}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_bnproof"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sh runs");
    (status.code(), start.elapsed())
}

#[test]
fn exponential_normal_forms_stop_at_the_timeout() {
    for s in slow_normal_forms() {
        let (code, wall) = run_limited("true", &["prove", &s, "--timeout", "1"]);
        assert!(matches!(code, Some(0 | 3)), "{}…: exit {code:?}", &s[..60]);
        // 1 s asked; generous slack for a loaded (debug-build) CI machine.
        assert!(
            wall < Duration::from_secs(10),
            "{}…: {wall:?} with --timeout 1",
            &s[..60]
        );
    }
}

#[test]
fn normal_forms_stop_at_a_deadline() {
    // Means nested one axis at a time, as the normal form writes them: merging
    // them re-normalizes each body again, 2^40 times without a limit.
    let nested = format!(
        "{}x[{}]{}",
        (0..40).map(|j| format!("mean[a{j}](")).collect::<String>(),
        axes(40),
        ")".repeat(40)
    );
    let e = syntax::parse_expr(&nested).unwrap();
    let start = Instant::now();
    let r = {
        let _until = ring::deadline(Instant::now());
        ring::normalize_with(&e, &ring::Mode::LINEAR)
    };
    assert!(
        matches!(r, Err(RingError::TooLarge(ref why)) if why.contains("time limit")),
        "{r:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // The deadline ends with its guard: small normal forms work again.
    let small = syntax::parse_expr("mean[i](x[i] + 1)").unwrap();
    assert!(ring::normalize_with(&small, &ring::Mode::LINEAR).is_ok());
}

/// The address-space limit: 2 GiB for bnproof itself. A binary built with
/// LibTorch maps its shared libraries at start, which alone takes between 2
/// and 4 GiB of address space (measured: `prove 'x = x'` exits 127 under
/// 2 GiB, 0 under 4 GiB), so that build gets those 4 GiB on top.
const LIMIT_KB: u64 = if cfg!(feature = "torch") {
    6 << 20
} else {
    2 << 20
};

#[test]
fn worst_inputs_under_a_2_gib_address_space_limit() {
    let deep = format!("{}x{} = x", "(".repeat(10_000), ")".repeat(10_000));
    let mut cases: Vec<(String, Vec<i32>)> = slow_normal_forms()
        .into_iter()
        .map(|s| (s, vec![0, 3]))
        .collect();
    cases.push((deep, vec![2]));
    cases.push(("(x+y)^64 = x^64 + y^64".into(), vec![1]));
    for (s, expect) in cases {
        let limit = format!("ulimit -v {LIMIT_KB}");
        let (code, _) = run_limited(&limit, &["prove", &s, "--timeout", "1"]);
        assert!(
            code.is_some_and(|c| expect.contains(&c)),
            "{}…: exit {code:?} under ulimit -v {LIMIT_KB} KiB, expected {expect:?}",
            &s[..s.len().min(60)]
        );
    }
}

/// Each definition uses the previous one twice. As trees the adjoints
/// doubled at every link (60 links: 2^60 nodes; a random 500-definition
/// model took 1.7 GB in 20 s); as a program of named adjoints the
/// derivation is linear in the model.
#[test]
fn chained_reuse_gives_a_linear_program() {
    let mut src = String::from("axis n\ninput x[n]\nt0 = x * x\n");
    for k in 1..60 {
        src.push_str(&format!("t{k} = t{} * t{} + x\n", k - 1, k - 1));
    }
    src.push_str("y = t59\noutput y\n");
    let model = syntax::parse_model(&src).unwrap();
    let start = Instant::now();
    let d = bnproof::diff::derive(&model).expect("derives");
    let size: usize = d.program().iter().map(|(_, e)| e.size()).sum();
    let model_size: usize = model.defs.iter().map(|(_, e)| e.size()).sum();
    assert!(
        size <= 20 * model_size,
        "program of {size} nodes for a model of {model_size}"
    );
    assert!(start.elapsed() < Duration::from_secs(60));
}

/// Nested trivial powers: the e-graph connects the two sides at once, but
/// egg's own flattening of the explanation copied every term at every level
/// of nesting and could not be interrupted (71.7 s at 250 deep under
/// `--timeout 5`, 7.8 s at 140 deep and 4.75 s for 150 nested `^(-1)` under
/// `--timeout 1`). The limit itself (timeout + max(10 %, 200 ms), release
/// build) is measured by `bench/adversarial/run.py`; here a generous bound
/// for a loaded debug build.
#[test]
fn explanations_stop_at_the_timeout() {
    let cases = [
        (nest("({})^1", "x", 250), 5),
        (nest("({})^1", "x", 140), 1),
        (nest("({})^(-1)", "x", 150), 1),
    ];
    for (lhs, timeout) in cases {
        let s = format!("{lhs} = x");
        let (code, wall) = run_limited("true", &["prove", &s, "--timeout", &timeout.to_string()]);
        assert!(matches!(code, Some(0 | 3)), "{}…: exit {code:?}", &s[..40]);
        assert!(
            wall < Duration::from_secs(2 * timeout + 10),
            "{}…: {wall:?} with --timeout {timeout}",
            &s[..40]
        );
    }
}

/// A flat sum or product of 10 000 terms is a chain, not nesting: it is
/// parsed (one more term is bad input), proved (the kernel counts a chain
/// as one level, and normal forms add a chain's operands in place), and
/// never overflows the stack under the default `ulimit -s`. A false long
/// chain is refuted (the evaluator walks a chain's spine in a loop).
#[test]
fn long_chains_are_decided_and_never_overflow_the_stack() {
    let chain = |op: &str, n: usize| vec!["x"; n].join(op);
    let terms: Vec<String> = (0..450).map(|k| format!("s{k}")).collect();
    let cases = [
        (format!("{} = 10000 * x", chain(" + ", 10_000)), 0),
        (format!("{} = x^10000", chain(" * ", 10_000)), 0),
        (format!("{} = 10001 * x", chain(" + ", 10_001)), 2),
        (
            format!("{} = {}", terms.join(" + "), terms[1..].join(" + ")),
            1,
        ),
    ];
    for (s, expect) in cases {
        // A generous limit: the verdict, not the clock, is under test.
        let (code, wall) = run_limited("ulimit -s 8192", &["prove", &s, "--timeout", "30"]);
        assert_eq!(code, Some(expect), "{}…", &s[..40]);
        assert!(wall < Duration::from_secs(30), "{}…: {wall:?}", &s[..40]);
    }
}

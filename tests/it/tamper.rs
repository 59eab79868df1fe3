//! Certificate tampering: every single mutation of the certificates of the
//! library's proofs is rejected by `cert::check_json`, and a rejection that
//! concerns a step names it.
//!
//! A mutation of a step may happen to give another valid proof of the SAME
//! statement under the SAME assumptions — e.g. `ring` renamed `linear` or
//! `field` (strictly stronger normal forms), the direction of a normal-form
//! step flipped (the kernel ignores the direction of `ring`/`linear`/`field`
//! steps: an equality of normal forms is symmetric), a `ring` step moved to
//! an enclosing position (the enclosing subterms are ring-equal too), or a
//! symmetric rule (commutativity) used backward. Those are counted as
//! "accepted, equivalent": the kernel accepted them for a reason, and the
//! certificate still proves exactly the original statement. A mutation of the
//! statement or of the assumptions that is accepted is a soundness failure
//! unless the mutated statement is itself true; each such acceptance is
//! cross-examined by the counterexample search and must not be refuted.

// The counts are reported on stderr (shown with --nocapture); the print ban
// of clippy.toml is for the library.
#![allow(clippy::disallowed_macros)]

use bnproof::cert::{self, Certificate};
use bnproof::ir::Expr;
use bnproof::library::{self, Expect, THEOREMS};
use bnproof::prove::{self, Options, Outcome};
use bnproof::rules;
use bnproof::syntax;
use std::time::Duration;

/// What a rejection must name.
#[derive(Clone, Copy, Debug)]
enum Names {
    /// Exactly this 1-based step.
    Step(usize),
    /// This step or a later one, or the proof as a whole.
    StepOrLater(usize),
    /// The statement or assumptions: any message.
    Any,
}

#[derive(Default)]
struct Count {
    tried: usize,
    rejected: usize,
    accepted_equivalent: Vec<String>,
    accepted_true_statement: Vec<String>,
    failures: Vec<String>,
}

fn step_named(msg: &str) -> Option<usize> {
    let k = msg.find("step ")?;
    let digits: String = msg[k + 5..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn paths(e: &Expr) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for (k, c) in e.children().into_iter().enumerate() {
        for mut p in paths(c) {
            p.insert(0, k);
            out.push(p);
        }
    }
    out
}

/// At most `n` paths, spread evenly (big expressions would make the test slow).
fn some_paths(e: &Expr, n: usize) -> Vec<Vec<usize>> {
    let all = paths(e);
    if all.len() <= n {
        return all;
    }
    let stride = all.len().div_ceil(n);
    all.into_iter().step_by(stride).collect()
}

fn is_false(c: &Certificate) -> bool {
    let Ok(stmt) = syntax::parse_statement(&format!("{} = {}", c.statement.lhs, c.statement.rhs))
    else {
        return false;
    };
    let assumptions: Vec<_> = c
        .assumptions
        .iter()
        .filter_map(|a| syntax::parse_assumption(a).ok())
        .collect();
    let opts = Options {
        timeout: Duration::from_secs(2),
        ..Options::default()
    };
    matches!(
        prove::prove(&stmt, &assumptions, &opts).0,
        Outcome::Refuted(_)
    )
}

fn attempt(base: &Certificate, m: &Certificate, what: &str, names: Names, count: &mut Count) {
    count.tried += 1;
    let text = serde_json::to_string(m).unwrap();
    match cert::check_json(&text) {
        Err(e) => {
            count.rejected += 1;
            let msg = e.to_string();
            let ok = match names {
                Names::Any => true,
                Names::Step(k) => step_named(&msg) == Some(k),
                Names::StepOrLater(k) => match step_named(&msg) {
                    Some(j) => j >= k,
                    None => msg.starts_with("proof rejected"),
                },
            };
            if !ok {
                count
                    .failures
                    .push(format!("{what}: rejected without naming {names:?}: {msg}"));
            }
        }
        Ok(_) => {
            let same = m.statement == base.statement && m.assumptions == base.assumptions;
            if same && kind_may_be_equivalent(what) {
                count.accepted_equivalent.push(what.to_string());
            } else if same {
                count.failures.push(format!(
                    "{what}: accepted, and not a kind of mutation expected to give another proof"
                ));
            } else if is_false(m) {
                count.failures.push(format!(
                    "{what}: ACCEPTED a certificate of a FALSE statement: {} = {} assuming {:?}",
                    m.statement.lhs, m.statement.rhs, m.assumptions
                ));
            } else {
                count.accepted_true_statement.push(what.to_string());
            }
        }
    }
}

/// The mutations that may legitimately give another proof of the same
/// statement: a step renamed to a normal-form step (`ring` ⊂ `linear` ⊂
/// `field`), the direction of a normal-form step or of a symmetric rule, and
/// a normal-form step moved to an enclosing position, and a rule renamed to
/// another with the same equation. (Labels carry the original rule after
/// `@`.)
fn kind_may_be_equivalent(what: &str) -> bool {
    let normal_form = ["@ring:", "@linear:", "@field:"]
        .iter()
        .any(|r| what.contains(r));
    what.contains("rule -> \"ring\"")
        || what.contains("rule -> \"linear\"")
        || what.contains("rule -> \"field\"")
        || (normal_form && (what.contains("direction -> ") || what.contains("position -> ")))
        // Two normal-form steps in a row (the prover's path depends on its
        // time budget): the next one may span both.
        || (normal_form && what.ends_with(": removed"))
        || what.contains("@symmetric")
        || what.contains("@same-equation")
}

fn other_than(e: &Expr) -> Expr {
    if *e == Expr::num(7) {
        Expr::num(8)
    } else {
        Expr::num(7)
    }
}

fn mutate_all(name: &str, base: &Certificate, count: &mut Count) {
    let n = base.steps.len();
    let parse = |s: &str| syntax::parse_expr(s).unwrap();
    let mut rule_names: Vec<&str> = rules::all().iter().map(|r| r.name).collect();
    rule_names.extend(["ring", "linear", "field", "no-such-rule", ""]);
    for k in 0..n {
        let step = &base.steps[k];
        let here = |m: &str| format!("{name} step {}@{}: {m}", k + 1, step.rule);
        // The step's expression: one subterm replaced by another.
        let e = parse(&step.expr);
        for p in some_paths(&e, 16) {
            let new = e.replace_at(&p, other_than(e.at(&p).unwrap())).unwrap();
            let mut m = base.clone();
            m.steps[k].expr = syntax::print(&new);
            attempt(
                base,
                &m,
                &here(&format!("subterm {p:?} replaced")),
                Names::StepOrLater(k + 1),
                count,
            );
        }
        // The rule: every other name.
        for r in &rule_names {
            if *r == step.rule {
                continue;
            }
            // Rules with the same equation (e.g. `sqrt-mul` / `sqrt-mul-r`,
            // which differ only in which factor must be non-negative) are
            // interchangeable wherever the kernel re-establishes the other
            // side condition.
            let same_equation = match (rules::get(&step.rule), rules::get(r)) {
                (Some(a), Some(b)) => a.lhs == b.lhs && a.rhs == b.rhs,
                _ => false,
            };
            let tag = if same_equation { "@same-equation" } else { "" };
            let mut m = base.clone();
            m.steps[k].rule = r.to_string();
            // A named rule's substitution would be refused by a normal-form
            // step for the wrong reason; test the rename alone as well.
            attempt(
                base,
                &m,
                &here(&format!("rule -> {r:?}{tag}")),
                Names::Step(k + 1),
                count,
            );
            if m.steps[k].substitution.is_some() {
                m.steps[k].substitution = None;
                attempt(
                    base,
                    &m,
                    &here(&format!("rule -> {r:?}{tag}, no substitution")),
                    Names::Step(k + 1),
                    count,
                );
            }
        }
        // The position: every other valid path of the previous expression,
        // and a path that does not exist.
        let prev = if k == 0 {
            parse(&base.statement.lhs)
        } else {
            parse(&base.steps[k - 1].expr)
        };
        let mut positions = paths(&prev);
        let mut bogus = step.position.clone();
        bogus.push(9);
        positions.push(bogus);
        for p in positions {
            if p == step.position {
                continue;
            }
            let mut m = base.clone();
            m.steps[k].position = p.clone();
            attempt(
                base,
                &m,
                &here(&format!("position -> {p:?}")),
                Names::Step(k + 1),
                count,
            );
        }
        // The direction. A rule whose two sides are instances of each other
        // (commutativity) is symmetric: used backward it is still valid.
        let symmetric = rules::get(&step.rule).is_some_and(|r| {
            rules::match_pattern(&r.lhs, &r.rhs, &mut Default::default())
                && rules::match_pattern(&r.rhs, &r.lhs, &mut Default::default())
        });
        for d in ["forward", "backward", "sideways"] {
            if d == step.direction {
                continue;
            }
            let mut m = base.clone();
            m.steps[k].direction = d.to_string();
            attempt(
                base,
                &m,
                &here(&format!(
                    "direction -> {d}{}",
                    if symmetric { "@symmetric" } else { "" }
                )),
                Names::Step(k + 1),
                count,
            );
        }
        // The substitution: each binding changed or removed, one added.
        match &step.substitution {
            Some(sub) => {
                for (var, val) in sub {
                    let others: Vec<String> = if val.starts_with('[') {
                        vec!["[zz]".into(), "[]".into()]
                    } else {
                        vec![
                            if val == "0" { "1".into() } else { "0".into() },
                            format!("({val}) + 1"),
                        ]
                    };
                    for o in others {
                        let mut m = base.clone();
                        m.steps[k]
                            .substitution
                            .as_mut()
                            .unwrap()
                            .insert(var.clone(), o.clone());
                        attempt(
                            base,
                            &m,
                            &here(&format!("?{var} -> {o}")),
                            Names::Step(k + 1),
                            count,
                        );
                    }
                    let mut m = base.clone();
                    m.steps[k].substitution.as_mut().unwrap().remove(var);
                    attempt(
                        base,
                        &m,
                        &here(&format!("?{var} removed")),
                        Names::Step(k + 1),
                        count,
                    );
                }
                let mut m = base.clone();
                m.steps[k]
                    .substitution
                    .as_mut()
                    .unwrap()
                    .insert("zzz".into(), "1".into());
                attempt(base, &m, &here("extra binding"), Names::Step(k + 1), count);
            }
            None => {
                let mut m = base.clone();
                m.steps[k].substitution = Some([("a".to_string(), "1".to_string())].into());
                attempt(
                    base,
                    &m,
                    &here("bogus substitution"),
                    Names::Step(k + 1),
                    count,
                );
            }
        }
        // The order: swap with the next step.
        if k + 1 < n {
            let mut m = base.clone();
            m.steps.swap(k, k + 1);
            attempt(
                base,
                &m,
                &here("swapped with the next"),
                Names::StepOrLater(k + 1),
                count,
            );
        }
        // A removed step.
        let mut m = base.clone();
        m.steps.remove(k);
        attempt(base, &m, &here("removed"), Names::StepOrLater(k + 1), count);
    }
    // Assumptions: removed, weakened, replaced.
    for (j, a) in base.assumptions.iter().enumerate() {
        let mut m = base.clone();
        m.assumptions.remove(j);
        attempt(
            base,
            &m,
            &format!("{name}: assumption {a:?} removed"),
            Names::Any,
            count,
        );
        let weaker: Vec<String> = if let Some(e) = a.strip_suffix(" > 0") {
            vec![format!("{e} >= 0"), format!("{e} != 0")]
        } else if let Some(e) = a.strip_suffix(" >= 0") {
            vec![format!("{e} != 0"), format!("{e} + 1 > 0")]
        } else if let Some(e) = a.strip_suffix(" != 0") {
            vec![format!("{e} + 1 != 0"), format!("{e} * {e} >= 0")]
        } else {
            vec![]
        };
        for w in weaker {
            let mut m = base.clone();
            m.assumptions[j] = w.clone();
            attempt(
                base,
                &m,
                &format!("{name}: assumption {a:?} -> {w:?}"),
                Names::Any,
                count,
            );
        }
    }
    // The statement.
    let (l, r) = (&base.statement.lhs, &base.statement.rhs);
    let variants = [
        (format!("({l}) + 1"), r.clone()),
        (l.clone(), format!("({r}) + 1")),
        (format!("2 * ({l})"), r.clone()),
        (l.clone(), format!("2 * ({r})")),
        (r.clone(), l.clone()),
        (r.clone(), r.clone()),
        (l.clone(), l.clone()),
        ("0".into(), r.clone()),
        (l.clone(), "0".into()),
    ];
    for (nl, nr) in variants {
        if nl == *l && nr == *r {
            continue;
        }
        let mut m = base.clone();
        m.statement.lhs = nl.clone();
        m.statement.rhs = nr.clone();
        attempt(
            base,
            &m,
            &format!("{name}: statement -> {nl} = {nr}"),
            Names::Any,
            count,
        );
    }
    // The version.
    let mut m = base.clone();
    // A version no reader knows (1 and 2 are both read: 2 adds definitions).
    m.version = cert::VERSION + 1;
    attempt(base, &m, &format!("{name}: version"), Names::Any, count);
    m.version = 0;
    attempt(base, &m, &format!("{name}: version 0"), Names::Any, count);
}

fn tamper(name: &str) {
    let _heavy = crate::soundness::heavy();
    let t = library::get(name).expect("a library theorem");
    let t0 = std::time::Instant::now();
    let run = library::run(t, &Options::default());
    let prove_time = t0.elapsed();
    let Outcome::Proved(proof) = run.outcome else {
        panic!("library theorem {} not proved: {:?}", t.name, run.outcome);
    };
    let base = cert::to_certificate(&proof, true);
    // The untouched certificate is accepted.
    cert::check_json(&serde_json::to_string(&base).unwrap())
        .unwrap_or_else(|e| panic!("{}: original certificate rejected: {e}", t.name));
    let mut count = Count::default();
    let t1 = std::time::Instant::now();
    mutate_all(t.name, &base, &mut count);
    eprintln!(
        "tampering {}: {} steps (proved in {prove_time:?}); {} mutations tried in {:?}, {} rejected, {} accepted as equivalent proofs of the same statement, {} accepted with a changed but still true statement",
        t.name,
        base.steps.len(),
        count.tried,
        t1.elapsed(),
        count.rejected,
        count.accepted_equivalent.len(),
        count.accepted_true_statement.len()
    );
    for a in &count.accepted_equivalent {
        eprintln!("  accepted (same statement, same assumptions): {a}");
    }
    for a in &count.accepted_true_statement {
        eprintln!("  accepted (changed statement not refuted): {a}");
    }
    assert!(
        count.failures.is_empty(),
        "{} failures:\n{}",
        count.failures.len(),
        count.failures.join("\n")
    );
}

/// One test per proved library theorem (so the harness runs them in
/// parallel and each stays short in a debug build).
macro_rules! tamper_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                tamper($name);
            }
        )*

        #[test]
        fn every_proved_library_theorem_is_tampered_with() {
            let covered = [$($name),*];
            for t in THEOREMS.iter().filter(|t| t.expect == Expect::Proved) {
                assert!(covered.contains(&t.name), "{} is not tampered with", t.name);
            }
        }
    };
}

tamper_tests! {
    seed_eq1 => "seed-eq1",
    mean_of_constant => "mean-of-constant",
    centred_mean_zero => "centred-mean-zero",
    centred_sum_zero => "centred-sum-zero",
    variance_moments => "variance-moments",
    variance_shift => "variance-shift",
    variance_scale => "variance-scale",
    bn_scale_invariance => "bn-scale-invariance",
    bn_scale_invariance_eps0 => "bn-scale-invariance-eps0",
    div_self => "div-self",
    sqrt_of_square => "sqrt-of-square",
}

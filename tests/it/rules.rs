//! Every rule is sound: for random instantiations that the kernel accepts as
//! a one-step proof (side conditions included), both sides agree when
//! evaluated exactly on random inputs of random axis sizes.

use bnproof::eval::{self, Env, Tensor};
use bnproof::ir::{Expr, Rat, RedOp, Statement};
use bnproof::kernel::{self, Direction, Proof, Step};
use bnproof::rules::{self, Binding, Subst};
use bnproof::syntax;
use num_bigint::BigInt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn leaf(rng: &mut ChaCha8Rng) -> Expr {
    match rng.gen_range(0..8) {
        0 => Expr::sym("x", &["i"]),
        1 => Expr::sym("y", &["j"]),
        2 => Expr::sym("z", &["i", "j"]),
        3 => Expr::sym("a", &[]),
        4 => Expr::sym("c", &[]),
        5 => Expr::num(rng.gen_range(-2..=3)),
        6 => Expr::rat(1, 2),
        _ => Expr::sym("a", &[]),
    }
}

fn random_expr(rng: &mut ChaCha8Rng, depth: u32) -> Expr {
    if depth == 0 || rng.gen_bool(0.3) {
        return leaf(rng);
    }
    let op = rng.gen_range(0..10);
    let mut sub = || random_expr(rng, depth - 1);
    match op {
        0 => Expr::add(sub(), sub()),
        1 => Expr::sub(sub(), sub()),
        2 => Expr::mul(sub(), sub()),
        3 => Expr::div(sub(), sub()),
        4 => Expr::neg(sub()),
        5 => Expr::sqrt(sub()),
        6 => Expr::pow(sub(), Expr::num(2)),
        7 => Expr::reduce(RedOp::Mean, &["i"], sub()),
        8 => Expr::reduce(RedOp::Sum, &["j"], sub()),
        _ => Expr::add(Expr::pow(sub(), Expr::num(2)), Expr::num(1)),
    }
}

fn random_axes(rng: &mut ChaCha8Rng) -> Vec<String> {
    match rng.gen_range(0..3) {
        0 => vec!["i".into()],
        1 => vec!["j".into()],
        _ => vec!["i".into(), "j".into()],
    }
}

fn random_rat(rng: &mut ChaCha8Rng, positive: bool) -> Rat {
    let choices = [
        (0, 1),
        (1, 1),
        (-1, 1),
        (2, 1),
        (-2, 1),
        (1, 2),
        (-1, 3),
        (3, 2),
        (4, 1),
        (9, 4),
    ];
    loop {
        let (p, q) = choices[rng.gen_range(0..choices.len())];
        if !positive || p > 0 {
            return Rat::new(BigInt::from(p), BigInt::from(q));
        }
    }
}

fn random_env(rng: &mut ChaCha8Rng) -> Env {
    let sizes: BTreeMap<String, usize> = [
        ("i".to_string(), rng.gen_range(1..=3)),
        ("j".to_string(), rng.gen_range(1..=3)),
    ]
    .into();
    let mut values = BTreeMap::new();
    for (name, axes) in [
        ("x", vec!["i"]),
        ("y", vec!["j"]),
        ("z", vec!["i", "j"]),
        ("a", vec![]),
        ("c", vec![]),
    ] {
        let n: usize = axes.iter().map(|a| sizes[*a]).product();
        let data = (0..n).map(|_| random_rat(rng, name == "a")).collect();
        values.insert(
            name.to_string(),
            Tensor {
                axes: axes.iter().map(|s| s.to_string()).collect(),
                data,
            },
        );
    }
    Env { sizes, values }
}

/// Instantiate `pat`'s variables at random, preferring bindings that satisfy
/// the usual side conditions so that the kernel accepts often.
fn random_subst(rng: &mut ChaCha8Rng, pat_vars: &[String], axis_vars: &[String]) -> Subst {
    let mut s = Subst::new();
    for v in axis_vars {
        s.insert(v.clone(), Binding::Axes(random_axes(rng)));
    }
    for v in pat_vars {
        if !axis_vars.contains(v) {
            let e = match rng.gen_range(0..4) {
                0 => leaf(rng),
                1 => Expr::num(rng.gen_range(1..=3)),
                _ => random_expr(rng, 2),
            };
            s.insert(v.clone(), Binding::Expr(e));
        }
    }
    s
}

fn axis_vars(pat: &Expr, out: &mut Vec<String>) {
    if let Expr::Reduce(_, axes, _) = pat {
        if let [v] = axes.as_slice() {
            if let Some(n) = v.strip_prefix('?') {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
        }
    }
    for c in pat.children() {
        axis_vars(c, out);
    }
}

#[test]
fn every_rule_is_sound_on_random_exact_inputs() {
    let assumptions = vec![syntax::parse_assumption("a > 0").unwrap()];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for rule in rules::all() {
        let mut vars = Vec::new();
        rules::pattern_vars(&rule.lhs, &mut vars);
        rules::pattern_vars(&rule.rhs, &mut vars);
        let mut avars = Vec::new();
        axis_vars(&rule.lhs, &mut avars);
        axis_vars(&rule.rhs, &mut avars);
        let mut accepted = 0;
        let mut compared = 0;
        for _ in 0..400 {
            let s = random_subst(&mut rng, &vars, &avars);
            let (Some(lhs), Some(rhs)) = (
                rules::instantiate(&rule.lhs, &s),
                rules::instantiate(&rule.rhs, &s),
            ) else {
                continue;
            };
            if syntax::check_consistent(&[&lhs, &rhs]).is_err() {
                continue;
            }
            let proof = Proof {
                statement: Statement {
                    lhs: lhs.clone(),
                    rhs: rhs.clone(),
                },
                assumptions: assumptions.clone(),
                definitions: Vec::new(),
                haves: Vec::new(),
                lemmas: Vec::new(),
                steps: vec![Step {
                    expr: rhs.clone(),
                    rule: rule.name.into(),
                    direction: Direction::Forward,
                    position: vec![],
                    subst: None,
                }],
            };
            if kernel::check(&proof).is_err() {
                continue;
            }
            accepted += 1;
            let mut axes: Vec<String> = lhs.free_axes().union(&rhs.free_axes()).cloned().collect();
            axes.sort();
            for _ in 0..4 {
                let env = random_env(&mut rng);
                for index in eval::assignments(&axes, &env.sizes, 1000).unwrap() {
                    let (Ok(vl), Ok(vr)) = (
                        eval::eval(&lhs, &env, &index),
                        eval::eval(&rhs, &env, &index),
                    ) else {
                        continue;
                    };
                    assert!(
                        !vl.definitely_ne(&vr),
                        "rule {} is unsound: {} = {} differ ({vl} vs {vr}) at {index:?}, sizes {:?}",
                        rule.name,
                        syntax::print(&lhs),
                        syntax::print(&rhs),
                        env.sizes
                    );
                    compared += 1;
                }
            }
        }
        assert!(
            accepted >= 20,
            "rule {}: only {accepted} random instances accepted by the kernel",
            rule.name
        );
        assert!(
            compared >= 40,
            "rule {}: only {compared} exact comparisons",
            rule.name
        );
    }
}

/// The normal-form steps (`ring`, `linear`, `field`) are sound: an
/// expression and the canonical expression of its normal form agree on
/// random exact inputs; `field` cancels only factors proven non-zero.
#[test]
fn normal_form_steps_are_sound_on_random_exact_inputs() {
    use bnproof::ring::{self, Mode};
    use bnproof::sign::{self, Facts};
    let assumptions = vec![syntax::parse_assumption("a > 0").unwrap()];
    let facts = Facts::new(&assumptions);
    let checks = sign::field_checks(&facts);
    let field = checks.mode();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut compared = 0;
    let mut changed = 0;
    for _ in 0..600 {
        let e = random_expr(&mut rng, 3);
        for mode in [Mode::RING, Mode::LINEAR, field] {
            let Ok(p) = ring::normalize_with(&e, &mode) else {
                continue;
            };
            let nf = ring::to_expr(&p);
            // Idempotent: the kernel re-normalizes printed normal forms.
            assert_eq!(
                ring::normalize_with(&nf, &mode).ok().as_ref(),
                Some(&p),
                "{}",
                syntax::print(&e)
            );
            if nf != e {
                changed += 1;
            }
            let mut axes: Vec<String> = e.free_axes().union(&nf.free_axes()).cloned().collect();
            axes.sort();
            let env = random_env(&mut rng);
            for index in eval::assignments(&axes, &env.sizes, 1000).unwrap() {
                let (Ok(a), Ok(b)) = (eval::eval(&e, &env, &index), eval::eval(&nf, &env, &index))
                else {
                    continue;
                };
                assert!(
                    !a.definitely_ne(&b),
                    "normal form unsound: {} vs {} ({a} vs {b}) at {index:?}, sizes {:?}",
                    syntax::print(&e),
                    syntax::print(&nf),
                    env.sizes
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared > 2000 && changed > 300,
        "{compared} comparisons, {changed} changed"
    );
}

//! Tests of the oracles on batch normalization, written inline.

use super::fd::{fd_check, with_defs_f64};
use super::*;
use crate::syntax::{parse_expr, parse_model};
use num_bigint::BigInt;

const BN: &str = "\
# Batch normalization, one channel
axis  n
input x[n]
param gamma, beta
assume eps > 0
mu   = mean[n](x)
var  = mean[n]((x - mu)^2)
xhat = (x - mu) / sqrt(var + eps)
y    = gamma * xhat + beta
output y
";

const BN2D: &str = "\
axis  n, c
input x[n,c]
param gamma[c], beta[c]
assume eps > 0
mu   = mean[n](x)
var  = mean[n]((x - mu)^2)
xhat = (x - mu) / sqrt(var + eps)
y    = gamma * xhat + beta
output y
claim grad x = gamma / sqrt(var + eps) * (dy - mean[n](dy) - xhat * mean[n](dy * xhat))
claim grad x = gamma / sqrt(var + eps) * (dy - mean[n](dy))
claim grad gamma = sum[n](dy * xhat)
";

const GRAD_X: &str =
    "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))";
const WRONG_X: &str = "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]))";

fn sizes(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn q(p: i64, d: i64) -> Rat {
    Rat::new(BigInt::from(p), BigInt::from(d))
}

#[test]
fn exact_sample_has_rational_roots_and_positive_eps() {
    let m = parse_model(BN).unwrap();
    for n in 1..=5 {
        for seed in 0..4 {
            let env = exact_sample(&m, &sizes(&[("n", n)]), seed).unwrap();
            let eps = &env.values["eps"].data[0];
            assert!(*eps > Rat::zero());
            // every definition evaluates exactly (sqrt(var + eps) is rational)
            let defs = def_values(&m, &env).unwrap();
            assert_eq!(defs["y"].data.len(), n);
        }
    }
}

#[test]
fn batchnorm_input_gradient_is_exact() {
    let m = parse_model(BN).unwrap();
    let good = parse_expr(GRAD_X).unwrap();
    let wrong = parse_expr(WRONG_X).unwrap();
    for n in 1..=5 {
        for seed in 0..3 {
            let env = exact_sample(&m, &sizes(&[("n", n)]), seed).unwrap();
            let c = check_gradient(&m, &[], "x", &good, &env, seed + 100).unwrap();
            assert!(c.equal, "n={n} seed={seed}: {} != {}", c.lhs, c.rhs);
            if n >= 2 {
                let c = check_gradient(&m, &[], "x", &wrong, &env, seed + 100).unwrap();
                assert!(!c.equal, "wrong gradient passed at n={n} seed={seed}");
            }
        }
    }
}

#[test]
fn batchnorm_parameter_gradients_are_exact() {
    let m = parse_model(BN).unwrap();
    let dgamma = parse_expr("sum[n](dy[n] * xhat[n])").unwrap();
    let dbeta = parse_expr("sum[n](dy[n])").unwrap();
    let wrong_gamma = parse_expr("sum[n](dy[n] * x[n])").unwrap();
    for n in 1..=5 {
        let env = exact_sample(&m, &sizes(&[("n", n)]), 7 + n as u64).unwrap();
        assert!(
            check_gradient(&m, &[], "gamma", &dgamma, &env, 1)
                .unwrap()
                .equal
        );
        assert!(
            check_gradient(&m, &[], "beta", &dbeta, &env, 2)
                .unwrap()
                .equal
        );
        assert!(
            !check_gradient(&m, &[], "gamma", &wrong_gamma, &env, 3)
                .unwrap()
                .equal
        );
    }
}

#[test]
fn batchnorm2d_needs_shared_eps_and_passes() {
    let m = parse_model(BN2D).unwrap();
    let good = &m.claims[0].expr;
    let wrong = &m.claims[1].expr;
    let dgamma = &m.claims[2].expr;
    for (n, c) in [(1, 2), (2, 3), (3, 2), (4, 4), (5, 3)] {
        for seed in 0..2 {
            let env = exact_sample(&m, &sizes(&[("n", n), ("c", c)]), seed).unwrap();
            assert_eq!(env.values["eps"].data[0], q(1, 100));
            let r = check_gradient(&m, &[], "x", good, &env, seed).unwrap();
            assert!(r.equal, "n={n} c={c}: {} != {}", r.lhs, r.rhs);
            assert!(
                check_gradient(&m, &[], "gamma", dgamma, &env, seed)
                    .unwrap()
                    .equal
            );
            if n >= 2 {
                assert!(
                    !check_gradient(&m, &[], "x", wrong, &env, seed)
                        .unwrap()
                        .equal
                );
            }
        }
    }
}

#[test]
fn conic_identity_holds() {
    // a²·V + 1/100 = s² with a = t / (5 (V − t²)), s = 1/10 + t·a.
    for (v, t) in [(q(7, 3), q(1, 2)), (q(2, 1), q(-3, 4)), (q(5, 9), q(2, 1))] {
        let a = &t / (q(5, 1) * (&v - &t * &t));
        let s = q(1, 10) + &t * &a;
        assert_eq!(&a * &a * &v + q(1, 100), &s * &s);
    }
}

#[test]
fn directional_derivatives_of_a_cubic() {
    // y = x^3 with x scalar: ℓ = dy · x^3, derivatives along v at x.
    let m = parse_model("input x\ny = x^3\noutput y\n").unwrap();
    let env = Env {
        sizes: BTreeMap::new(),
        values: BTreeMap::from([("x".to_string(), Tensor::scalar(q(2, 1)))]),
    };
    let v = BTreeMap::from([("x".to_string(), Tensor::scalar(q(1, 1)))]);
    let dy = BTreeMap::from([("y".to_string(), Tensor::scalar(q(1, 1)))]);
    let d = directional(&m, &env, &v, &dy, 3).unwrap();
    assert_eq!(d, vec![q(12, 1), q(12, 1), q(6, 1)]);
}

#[test]
fn hessian_vector_products() {
    // ℓ = dy · sqrt(x + eps) · x^2 at a sample; H v written by hand.
    let m = parse_model(BN).unwrap();
    let env = exact_sample(&m, &sizes(&[("n", 3)]), 5).unwrap();
    // The gradient checked to second order through its own derivative.
    let good = parse_expr(GRAD_X).unwrap();
    let wrong = parse_expr(WRONG_X).unwrap();
    assert!(
        check_second_order(&m, &[], "x", &good, &env, 9)
            .unwrap()
            .equal
    );
    assert!(
        !check_second_order(&m, &[], "x", &wrong, &env, 9)
            .unwrap()
            .equal
    );
    // ∂ℓ/∂β = sum(dy) is constant: H_ββ = 0, and H_γγ = 0 (ℓ is affine in γ).
    let zero = parse_expr("0").unwrap();
    assert!(
        check_hvp(&m, "beta", &zero, "v", &[], &env, 1)
            .unwrap()
            .equal
    );
    assert!(
        check_hvp(&m, "gamma", &zero, "v", &[], &env, 1)
            .unwrap()
            .equal
    );
    assert!(
        !check_hvp(&m, "x", &parse_expr("0 * v[n]").unwrap(), "v", &[], &env, 1)
            .unwrap()
            .equal
    );
    // scalar model: ℓ = dy · x^3, H v = 6 dy x v
    let cube = parse_model("input x\ny = x^3\noutput y\n").unwrap();
    let env = Env {
        sizes: BTreeMap::new(),
        values: BTreeMap::from([("x".to_string(), Tensor::scalar(q(-3, 2)))]),
    };
    let hv = parse_expr("6 * dy * x * v").unwrap();
    assert!(check_hvp(&cube, "x", &hv, "v", &[], &env, 4).unwrap().equal);
    let bad = parse_expr("3 * dy * x * v").unwrap();
    assert!(
        !check_hvp(&cube, "x", &bad, "v", &[], &env, 4)
            .unwrap()
            .equal
    );
}

#[test]
fn non_smooth_samples_are_reported() {
    // eps = 0 and a constant batch: var + eps = 0 under the square root.
    let m = parse_model(BN).unwrap();
    let env = Env {
        sizes: sizes(&[("n", 2)]),
        values: BTreeMap::from([
            (
                "x".to_string(),
                Tensor {
                    axes: vec!["n".to_string()],
                    data: vec![q(1, 1), q(1, 1)],
                },
            ),
            ("gamma".to_string(), Tensor::scalar(q(1, 1))),
            ("beta".to_string(), Tensor::scalar(q(0, 1))),
            ("eps".to_string(), Tensor::scalar(q(0, 1))),
        ]),
    };
    let good = parse_expr(GRAD_X).unwrap();
    assert!(matches!(
        check_gradient(&m, &[], "x", &good, &env, 0),
        Err(OracleError::NotSmooth(_))
    ));
}

#[test]
fn finite_differences_accept_the_right_gradient_only() {
    let m = parse_model(BN).unwrap();
    let good = parse_expr(GRAD_X).unwrap();
    let wrong = parse_expr(WRONG_X).unwrap();
    for n in 2..=5 {
        let env = f64_sample(&m, &sizes(&[("n", n)]), n as u64).unwrap();
        assert!(with_defs_f64(&m, &env).is_ok());
        let r = fd_check(&m, &[], "x", &good, &env, 3).unwrap();
        assert!(r.passed, "n={n}: {r:?}");
        assert!(r.rel_err < 1e-6, "n={n}: {r:?}");
        let r = fd_check(&m, &[], "x", &wrong, &env, 3).unwrap();
        assert!(!r.passed, "n={n}: {r:?}");
    }
    let m2 = parse_model(BN2D).unwrap();
    let env = f64_sample(&m2, &sizes(&[("n", 4), ("c", 3)]), 1).unwrap();
    assert!(
        fd_check(&m2, &[], "x", &m2.claims[0].expr, &env, 2)
            .unwrap()
            .passed
    );
    assert!(
        !fd_check(&m2, &[], "x", &m2.claims[1].expr, &env, 2)
            .unwrap()
            .passed
    );
    assert!(
        fd_check(&m2, &[], "gamma", &m2.claims[2].expr, &env, 2)
            .unwrap()
            .passed
    );
}

const LAYERNORM: &str = "\
axis n, d
input x[n,d]
param gamma[d], beta[d]
assume eps > 0
mu   = mean[d](x)
var  = mean[d]((x - mu)^2)
xhat = (x - mu) / sqrt(var + eps)
y    = gamma * xhat + beta
output y
claim grad x = 1 / sqrt(var + eps) * (dy * gamma - mean[d](dy * gamma) - xhat * mean[d](dy * gamma * xhat))
claim grad x = 1 / sqrt(var + eps) * (dy * gamma - mean[d](dy * gamma))
claim grad gamma = sum[n](dy * xhat)
";

const RMSNORM: &str = "\
axis n, d
input x[n,d]
param gamma[d]
assume eps > 0
r = (mean[d](x^2) + eps)^(-1/2)
y = gamma * x * r
output y
claim grad x = r * dy * gamma - x * r^3 * mean[d](x * dy * gamma)
claim grad x = r * dy * gamma
";

const BN_EVAL: &str = "\
axis n, c
input x[n,c]
param gamma[c], beta[c], running_mean[c], running_var[c]
assume running_var > 0
assume eps > 0
y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
output y
claim grad x = gamma / sqrt(running_var + eps) * dy
claim grad x = gamma / (running_var + eps) * dy
claim grad running_var = sum[n](-1/2 * gamma * (x - running_mean) * (running_var + eps)^(-3/2) * dy)
";

const BN4D: &str = "\
axis n, c, h, w
input x[n,c,h,w]
param gamma[c], beta[c]
assume eps > 0
mu   = mean[n,h,w](x)
var  = mean[n,h,w]((x - mu)^2)
xhat = (x - mu) / sqrt(var + eps)
y    = gamma * xhat + beta
output y
claim grad x = gamma / sqrt(var + eps) * (dy - mean[n,h,w](dy) - xhat * mean[n,h,w](dy * xhat))
claim grad x = gamma / sqrt(var + eps) * (dy - mean[n,h,w](dy))
claim grad gamma = sum[n,h,w](dy * xhat)
";

/// Claims 0 and 2 (if any) must pass, claim 1 must fail, exactly and with
/// finite differences.
fn check_model(src: &str, shapes: &[&[(&str, usize)]]) {
    let m = parse_model(src).unwrap();
    for (k, shape) in shapes.iter().enumerate() {
        let sz = sizes(shape);
        let env = exact_sample(&m, &sz, k as u64).unwrap();
        let fenv = f64_sample(&m, &sz, k as u64).unwrap();
        for (i, c) in m.claims.iter().enumerate() {
            let r = check_gradient(&m, &[], &c.wrt, &c.expr, &env, 11 + k as u64).unwrap();
            let f = fd_check(&m, &[], &c.wrt, &c.expr, &fenv, 11 + k as u64).unwrap();
            assert_eq!(r.equal, i != 1, "claim {i} at {shape:?}: {r:?}");
            assert_eq!(f.passed, i != 1, "claim {i} at {shape:?} (f64): {f:?}");
        }
    }
}

#[test]
fn layernorm_rows_share_eps() {
    check_model(LAYERNORM, &[&[("n", 3), ("d", 4)], &[("n", 2), ("d", 2)]]);
}

#[test]
fn rmsnorm_rational_power() {
    check_model(RMSNORM, &[&[("n", 3), ("d", 3)], &[("n", 1), ("d", 4)]]);
}

#[test]
fn batchnorm_eval_running_variance() {
    // the radicand running_var + eps is linear in the scaled entries
    check_model(BN_EVAL, &[&[("n", 3), ("c", 2)], &[("n", 2), ("c", 1)]]);
}

#[test]
fn batchnorm_four_axes() {
    check_model(BN4D, &[&[("n", 2), ("c", 2), ("h", 2), ("w", 2)]]);
}

#[test]
fn third_order_directional_derivative() {
    // ℓ = dy · sqrt(x + 3) at x = 1: d³/dt³ sqrt(4 + t v)·dy = dy · v³ · 3/8 · 4^(-5/2)
    let m = parse_model("input x\ny = sqrt(x + 3)\noutput y\n").unwrap();
    let env = Env {
        sizes: BTreeMap::new(),
        values: BTreeMap::from([("x".to_string(), Tensor::scalar(q(1, 1)))]),
    };
    let v = BTreeMap::from([("x".to_string(), Tensor::scalar(q(2, 1)))]);
    let dy = BTreeMap::from([("y".to_string(), Tensor::scalar(q(3, 1)))]);
    let d = directional(&m, &env, &v, &dy, 3).unwrap();
    // f' = 1/(2·2) = 1/4, f'' = -1/4 · 4^(-3/2) = -1/32, f''' = 3/8 · 4^(-5/2) = 3/256
    assert_eq!(d, vec![q(3 * 2, 4), q(-3 * 4, 32), q(3 * 8 * 3, 256)]);
}

#[test]
fn a_comparison_names_its_worst_entry() {
    let c = fd::compare(&[1.0, 2.5, 3.0], &[1.0, 2.0, 3.1]);
    assert!(!c.passed);
    let w = c.worst.unwrap();
    assert_eq!((w.at, w.got, w.reference), (1, 2.5, 2.0));
    // A NaN is the worst of all.
    let c = fd::compare(&[9.0, f64::NAN], &[0.0, 1.0]);
    assert_eq!(c.worst.map(|w| w.at), Some(1));
    // Different lengths: no entry to point at.
    assert!(fd::compare(&[1.0], &[1.0, 2.0]).worst.is_none());
}

/// `v + d t` with exact parts.
fn dual(v: Rat, d: Rat) -> Dual {
    Dual::linear(v, d, 1)
}

/// An enclosure of `[lo, hi]`.
fn iv(lo: Rat, hi: Rat) -> crate::eval::Iv {
    crate::eval::Iv::from_value(&Value::Interval(lo, hi))
}

#[test]
fn dual_numbers_of_enclosures_follow_the_chain_rule() {
    let x = dual(q(1, 2), q(3, 1));
    // d/dt exp(x) = exp(x) · 3, enclosed.
    let e = Coef::exp(&x).unwrap();
    // exp(1/2) = 1.6487212707001281468…
    let want = Rat::new(
        BigInt::from(1648721270700128_i64),
        BigInt::from(10_i64.pow(15)),
    );
    assert!(e.v.lo() < &(&want + q(1, 1_000_000_000_000_000)) && &want < e.v.hi());
    let three = e.v.mul(&iv(q(3, 1), q(3, 1))).unwrap();
    assert_eq!(e.d, three);
    // d/dt log|x| = 3 / x = 6, exactly for an exact x.
    let l = Coef::log(&dual(q(-1, 2), q(3, 1))).unwrap();
    assert!(l.d.is_exact() && l.d.lo() == &q(-6, 1));
    // x^(3/2): slope (3/2) x^(1/2) at x = 4 is 3, times 3.
    let p = Coef::pow(&dual(q(4, 1), q(3, 1)), &q(3, 2)).unwrap();
    assert!(p.v.lo() == &q(8, 1) && p.d.lo() == &q(9, 1));
    // a non-integer power of a negative number is 0 nearby
    let z = Coef::pow(&dual(q(-4, 1), q(3, 1)), &q(1, 2)).unwrap();
    assert!(z.v.is_zero() && z.d.is_zero());
    // division: (x / y)' = (x' − q y') / y
    let d = Coef::div(&dual(q(1, 1), q(1, 1)), &dual(q(2, 1), q(1, 1))).unwrap();
    assert!(d.v.lo() == &q(1, 2) && d.d.lo() == &q(1, 4));
    // detach flows nothing
    let x = dual(q(2, 1), q(5, 1));
    assert!(Coef::detach(&x).d.is_zero() && Coef::detach(&x).v.lo() == &q(2, 1));
    // max / min pick the certainly larger (smaller) side
    let a = dual(q(1, 1), q(1, 1));
    let b = dual(q(2, 1), q(7, 1));
    assert_eq!(Coef::max_min(&a, &b, true).unwrap(), b);
    assert_eq!(Coef::max_min(&a, &b, false).unwrap(), a);
    assert_eq!(
        Coef::abs(&dual(q(-2, 1), q(7, 1))).unwrap().d.lo(),
        &q(-7, 1)
    );
}

#[test]
fn enclosures_at_kinks_are_not_smooth() {
    let around0 = Dual {
        v: iv(q(-1, 1_000_000), q(1, 1_000_000)),
        d: iv(q(1, 1), q(1, 1)),
    };
    let kink = |r: Result<Dual, OracleError>| matches!(r, Err(OracleError::NotSmooth(_)));
    assert!(kink(Coef::abs(&around0)));
    assert!(kink(Coef::log(&around0)));
    assert!(kink(Coef::div(&dual(q(1, 1), q(0, 1)), &around0)));
    assert!(kink(Coef::pow(&around0, &q(1, 2))));
    assert!(kink(Coef::pow(&around0, &q(-2, 1))));
    // overlapping arguments may tie
    let near1 = Dual {
        v: iv(q(99, 100), q(101, 100)),
        d: iv(q(0, 1), q(0, 1)),
    };
    assert!(kink(Coef::max_min(&near1, &dual(q(1, 1), q(1, 1)), true)));
    // a positive integer power of an enclosure of 0 is smooth
    assert!(Coef::pow(&around0, &q(2, 1)).is_ok());
}

/// `y = max(x, 1) OP …` and the same draws without the kink.
const KINKED: &str = "axis n\ninput x[n]\ny = max(x, 1) * TAIL\noutput y\n";
const SMOOTH: &str = "axis n\ninput x[n]\ny = (x + 1) * TAIL\noutput y\n";

/// Samples from `sample` of the kinked model never tie at the kink, and
/// for some seed the same draw of the smooth model does: the kinked
/// sample was redrawn.
fn redraws_kinks(tail: &str, sample: impl Fn(&crate::syntax::Model, u64) -> Env) {
    let kinked = parse_model(&KINKED.replace("TAIL", tail)).unwrap();
    let smooth = parse_model(&SMOOTH.replace("TAIL", tail)).unwrap();
    let ties = |env: &Env| env.values["x"].data.iter().any(|v| *v == q(1, 1));
    let mut redrawn = 0;
    for seed in 0..40 {
        let env = sample(&kinked, seed);
        assert!(!ties(&env), "seed {seed}: {:?}", env.values["x"]);
        if ties(&sample(&smooth, seed)) {
            redrawn += 1;
        }
    }
    assert!(redrawn > 0, "no seed drew a tie: the test shows nothing");
}

#[test]
fn samples_on_a_kink_are_redrawn() {
    let four = sizes(&[("n", 4)]);
    // Exact sample: the kink found with every input moving.
    redraws_kinks("x", |m, seed| exact_sample(m, &four, seed).unwrap());
    // Interval sample (exp has no rational value): the kink by enclosures.
    redraws_kinks("exp(x)", |m, seed| {
        assert!(matches!(
            exact_sample(m, &four, seed),
            Err(OracleError::Irrational(_))
        ));
        interval_sample(m, &four, seed).unwrap()
    });
    // Every draw on a kink: the exact sampler keeps one (its checks then
    // skip), the interval sampler says why it has none.
    let always = parse_model("axis n\ninput x[n]\ny = abs(x - mean[n](x))\noutput y\n").unwrap();
    assert!(exact_sample(&always, &sizes(&[("n", 1)]), 0).is_ok());
    let always =
        parse_model("axis n\ninput x[n]\ny = abs(exp(x) - exp(mean[n](x)))\noutput y\n").unwrap();
    assert!(matches!(
        interval_sample(&always, &sizes(&[("n", 1)]), 0),
        Err(OracleError::NotSmooth(_))
    ));
}

#[test]
fn interval_checks_pass_the_right_gradient_and_fail_a_wrong_one() {
    let m = parse_model("axis n\ninput x[n]\ny = exp(x) / sum[n](exp(x))\noutput y\n").unwrap();
    let sizes = sizes(&[("n", 3)]);
    let env = interval_sample(&m, &sizes, 0).unwrap();
    let right = parse_expr("y[n] * (dy[n] - sum[n](dy[n] * y[n]))").unwrap();
    let wrong = parse_expr("y[n] * dy[n]").unwrap();
    let check = |g: &Expr| check_gradient_interval(&m, &[], Wrt::Input("x"), g, (&env, 0)).unwrap();
    let ok = check(&right);
    assert_eq!(ok.verdict, Some(true), "{ok:?}");
    let (wl, wr) = ok.widths();
    assert!(wl <= interval::tight() && wr <= interval::tight());
    assert!(!ok.lhs.definitely_ne(&ok.rhs));
    let bad = check(&wrong);
    assert_eq!(bad.verdict, Some(false), "{bad:?}");
    assert!(bad.lhs.definitely_ne(&bad.rhs));
    // The exact check says why it cannot run here.
    assert!(matches!(
        check_gradient(&m, &[], "x", &right, &env, 0),
        Err(OracleError::Irrational(_))
    ));
    // Cut at a definition: ∂ℓ/∂y = dy.
    let dy = parse_expr("dy[n]").unwrap();
    let c = check_gradient_interval(&m, &[], Wrt::Definition("y"), &dy, (&env, 0)).unwrap();
    assert_eq!(c.verdict, Some(true), "{c:?}");
}

#[test]
fn a_true_zero_decided_by_enclosures_passes() {
    // One entry: the softmax is 1 whatever x is, so the gradient is 0, and
    // the enclosure of d/dt ℓ straddles 0 (no relative width is small).
    let m = parse_model("axis n\ninput x[n]\ny = exp(x) / sum[n](exp(x))\noutput y\n").unwrap();
    let env = interval_sample(&m, &sizes(&[("n", 1)]), 0).unwrap();
    let check = |g: &str| {
        let g = parse_expr(g).unwrap();
        check_gradient_interval(&m, &[], Wrt::Input("x"), &g, (&env, 0)).unwrap()
    };
    let zero = check("y[n] * (dy[n] - sum[n](dy[n] * y[n]))");
    assert_eq!(zero.verdict, Some(true), "{zero:?}");
    // A gradient off by 1/1000 is still told apart.
    assert_eq!(
        check("y[n] * (dy[n] - sum[n](dy[n] * y[n])) + 1/1000").verdict,
        Some(false)
    );
}

/// A running rounding bound keeps the magnitudes a cancelled value was
/// computed from, and grows with them; an exact value of a single leaf is
/// bounded by its own size.
#[test]
fn rounding_bounds_remember_cancelled_magnitudes() {
    use super::fd::{eval_over_rounding, rounding_of, TensorF64};
    let mut env = fd::EnvOf::default();
    env.sizes.insert("i".to_string(), 2);
    let x = TensorF64 {
        axes: vec!["i".to_string()],
        data: vec![3.0, 3.0],
    };
    let scalar = |v: f64| TensorF64 {
        axes: vec![],
        data: vec![v],
    };
    env.values.insert("x".to_string(), rounding_of(&x));
    env.values
        .insert("a".to_string(), rounding_of(&scalar(3.0)));
    env.values
        .insert("b".to_string(), rounding_of(&scalar(3.0)));
    let over = |src: &str| eval_over_rounding(&parse_expr(src).unwrap(), &env, &[]).unwrap()[0];
    // a − b = 0 exactly, computed from magnitudes 3 and 3.
    let r = over("a - b");
    assert_eq!(r.v, 0.0);
    assert!(r.e >= 6.0, "{r:?}");
    // Scaling the inputs by 1000 scales the bound of the cancellation.
    let r1000 = over("1000 * a - 1000 * b");
    assert_eq!(r1000.v, 0.0);
    assert!(r1000.e >= 1000.0 * r.e, "{r1000:?} vs {r:?}");
    // A value that does not cancel stays within a small multiple of itself.
    let s = over("sum[i](x[i])");
    assert_eq!(s.v, 6.0);
    assert!(s.e >= 6.0 && s.e <= 4.0 * 6.0, "{s:?}");
    // exp and log propagate relative errors: log(exp(x)) carries x's.
    let l = over("log(exp(a))");
    assert!((l.v - 3.0).abs() < 1e-12 && l.e >= 3.0, "{l:?}");
}

/// A per-entry floor admits exactly the entries it covers; a non-finite
/// floor admits nothing extra.
#[test]
fn comparison_floors_are_per_entry_and_finite() {
    use super::fd::compare_with_floor;
    let got = [1e-9, 0.0];
    let want = [0.0, 1e-9];
    assert!(!compare_with_floor(&got, &want, 0.0, 1e-4, &[]).passed);
    assert!(compare_with_floor(&got, &want, 0.0, 1e-4, &[2e-9, 2e-9]).passed);
    assert!(!compare_with_floor(&got, &want, 0.0, 1e-4, &[2e-9, 0.5e-9]).passed);
    assert!(!compare_with_floor(&got, &want, 0.0, 1e-4, &[f64::INFINITY, f64::NAN]).passed);
}

/// Sides differ only where both are defined in real arithmetic and apart by
/// far more than their rounding: a division by 0, a root of a negative
/// number or a log of 0 never makes them differ, and neither does the
/// rounding noise of a cancellation.
#[test]
fn clearly_differ_only_where_both_sides_are_defined() {
    use super::fd::{clearly_differ, EnvF64, TensorF64};
    let mut env = EnvF64::default();
    env.sizes.insert("i".to_string(), 2);
    let scalar = |v: f64| TensorF64 {
        axes: vec![],
        data: vec![v],
    };
    env.values.insert("z".to_string(), scalar(0.0));
    env.values.insert("a".to_string(), scalar(0.75));
    env.values.insert("m".to_string(), scalar(-2.0));
    env.values.insert("big".to_string(), scalar(1e17));
    env.values.insert(
        "x".to_string(),
        TensorF64 {
            axes: vec!["i".to_string()],
            data: vec![1.0, 2.0],
        },
    );
    let differ = |l: &str, r: &str, at: &[(&str, usize)]| {
        let at = at.iter().map(|(a, k)| (a.to_string(), *k)).collect();
        clearly_differ(
            &parse_expr(l).unwrap(),
            &parse_expr(r).unwrap(),
            &env,
            &at,
            1000,
        )
    };
    // Defined and apart.
    assert!(differ("a + a", "a * a", &[]));
    assert!(differ("x[i]", "1", &[("i", 1)]));
    assert!(!differ("x[i]", "1", &[("i", 0)]));
    assert!(differ("a / (a - a + 1)", "0", &[]));
    // Undefined on one side: the total semantics' values (z/z = 0,
    // sqrt(m) = 0, log z = 0) must not count.
    assert!(!differ("z / z", "1", &[]));
    assert!(!differ("sqrt(m)^2", "m", &[]));
    assert!(!differ("m^(1/2)", "1", &[]));
    assert!(!differ("(z)^(-2)", "1", &[]));
    assert!(!differ("log(z)", "1", &[]));
    assert!(!differ("log(m)", "1", &[]));
    // NaN is not dropped by max or min.
    assert!(!differ("max(z / z, 5)", "1", &[]));
    assert!(!differ("min(1, sqrt(m))", "0", &[]));
    // Rounding noise of a cancellation is not a difference; a real
    // difference of the same size next to small values is.
    assert!(!differ("(big + a) - big", "a", &[]));
    assert!(differ("a + 1/1000000000", "a", &[]));
    // Equal sides never differ.
    assert!(!differ("sum[i](x[i]) / 2", "mean[i](x[i])", &[]));
    // Past the budget: no answer, so not "differ".
    let deep = (0..100).fold("a".to_string(), |e, _| format!("({e} + a)"));
    assert!(differ(&deep, "0", &[]));
    let deep = parse_expr(&deep).unwrap();
    let zero = parse_expr("0").unwrap();
    assert!(!clearly_differ(&deep, &zero, &env, &BTreeMap::new(), 100));
}

use super::*;
use crate::ir::{Expr, Fun, Rat, RedOp, Rel};
use num_bigint::BigInt;
use proptest::prelude::*;

fn p(s: &str) -> String {
    match parse_expr(s) {
        Ok(e) => print(&e),
        Err(err) => panic!("{s:?}: {err}"),
    }
}

#[test]
fn parses_and_prints_canonically() {
    let cases: &[(&str, &str)] = &[
        // names and Unicode
        ("x", "x"),
        ("Δb + γ", "Δb + γ"),
        ("gamma + γ", "gamma + γ"),
        ("x_hat", "x_hat"),
        ("x\u{302}[i]", "x\u{302}[i]"),
        ("x' + x′", "x' + x′"),
        ("a − b", "a - b"),
        ("a · b × c", "a * b * c"),
        ("x²", "x^2"),
        ("x²³", "x^23"),
        ("x⁻¹", "x^(-1)"),
        ("√x + 1", "sqrt(x) + 1"),
        ("√(x + 1)", "sqrt(x + 1)"),
        ("√√x", "sqrt(sqrt(x))"),
        ("E[u[i] + b]", "mean[i](u[i] + b)"),
        ("x[j,i]", "x[i,j]"),
        ("x[ j , i ]", "x[i,j]"),
        // precedence and associativity
        ("-x^2", "-x^2"),
        ("-2^2", "-2^2"),
        ("-2²", "-2^2"),
        ("(-2)^2", "(-2)^2"),
        ("-2", "-2"),
        ("-(2)", "-(2)"),
        ("--x", "-(-x)"),
        ("2^3^2", "2^3^2"),
        ("(2^3)^2", "(2^3)^2"),
        ("a - b - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("a - (b + c)", "a - (b + c)"),
        ("a / b / c", "a / b / c"),
        ("a / (b / c)", "a / (b / c)"),
        ("a / (b * c)", "a / (b * c)"),
        ("a + b * c", "a + b * c"),
        ("(a + b) * c", "(a + b) * c"),
        ("-a * b", "-a * b"),
        ("-(a * b)", "-(a * b)"),
        ("a + -2", "a + -2"),
        ("a - -b", "a - -b"),
        ("((x))", "x"),
        // rationals
        ("0.5", "1/2"),
        ("1/3", "1/3"),
        ("1 / 3", "1/3"),
        ("2/4", "1/2"),
        ("-2/3", "-2/3"),
        ("1e-5", "1/100000"),
        ("2.5e3", "2500"),
        ("1.25", "5/4"),
        ("1E+2", "100"),
        ("1/0", "1 / 0"),
        ("2/3/5", "2/3 / 5"),
        ("x * 2/3", "x * 2 / 3"),
        ("1/3 * x", "1/3 * x"),
        ("x * (1/3)", "x * (1/3)"),
        ("1/3^2", "1 / 3^2"),
        ("1/3²", "1 / 3^2"),
        ("1.0/3", "1 / (3)"),
        ("(1)/3", "1 / (3)"),
        ("x^(1/2)", "x^(1/2)"),
        ("x^-1", "x^(-1)"),
        ("x^(2 - 3)", "x^(2 - 3)"),
        ("x^(1^100000000)", "x^1^100000000"),
        ("x^(10^400)", "x^10^400"),
        ("x^2/3", "x^2 / 3"),
        // reductions
        ("mean[n,h,w](x[n,c,h,w])", "mean[h,n,w](x[c,h,n,w])"),
        ("mean[w,n,n](x[n,w])", "mean[n,w](x[n,w])"),
        ("sum[i](1)", "sum[i](1)"),
        ("var(x[i])", "var[i](x[i])"),
        ("sum(x[i] * y)", "sum[i](x[i] * y)"),
        ("mean(x[i] - mean(x[i]))", "mean[i](x[i] - mean[i](x[i]))"),
        ("mean(mean[j](x[i,j]))", "mean[i](mean[j](x[i,j]))"),
        ("sqrt(var + eps)", "sqrt(var + eps)"),
        ("mean + E + sum", "mean + E + sum"),
        ("mean[i](x[i])^2", "mean[i](x[i])^2"),
    ];
    for (src, want) in cases {
        assert_eq!(&p(src), want, "input {src:?}");
        // the printed form is a fixed point
        assert_eq!(&p(want), want, "reprint of {want:?}");
    }
}

#[test]
fn trees_are_as_specified() {
    let two = Expr::num(2);
    assert_eq!(parse_expr("-2").unwrap(), Expr::num(-2));
    assert_eq!(
        parse_expr("-2^2").unwrap(),
        Expr::neg(Expr::pow(two.clone(), two.clone()))
    );
    assert_eq!(parse_expr("-(2)").unwrap(), Expr::neg(two.clone()));
    assert_eq!(
        parse_expr("2^3^2").unwrap(),
        Expr::pow(two.clone(), Expr::pow(Expr::num(3), two.clone()))
    );
    assert_eq!(parse_expr("1/3").unwrap(), Expr::rat(1, 3));
    assert_eq!(
        parse_expr("1/0").unwrap(),
        Expr::div(Expr::num(1), Expr::num(0))
    );
    assert_eq!(
        parse_expr("x^(1/2)").unwrap(),
        Expr::pow(Expr::sym("x", &[]), Expr::rat(1, 2))
    );
    assert_eq!(
        parse_expr("x^-1").unwrap(),
        Expr::pow(Expr::sym("x", &[]), Expr::num(-1))
    );
    assert_eq!(
        parse_expr("E[u[i] + b]").unwrap(),
        Expr::reduce(
            RedOp::Mean,
            &["i"],
            Expr::add(Expr::sym("u", &["i"]), Expr::sym("b", &[]))
        )
    );
    let big = "7".repeat(1000);
    let want = Expr::Num(Rat::from_integer(big.parse::<BigInt>().unwrap()));
    assert_eq!(parse_expr(&big).unwrap(), want);
    assert_eq!(print(&want), big);
    let neg_big = format!("-{big}/3");
    assert_eq!(p(&neg_big), neg_big);
}

#[test]
fn prints_trees_the_parser_never_builds() {
    let x = Expr::sym("x", &["i"]);
    let cases = vec![
        (Expr::neg(Expr::num(2)), "-(2)"),
        (Expr::neg(Expr::rat(1, 3)), "-(1/3)"),
        (Expr::pow(Expr::num(-2), Expr::num(2)), "(-2)^2"),
        (Expr::pow(Expr::rat(1, 3), Expr::num(2)), "(1/3)^2"),
        (Expr::div(Expr::num(1), Expr::num(3)), "1 / (3)"),
        (Expr::div(Expr::num(-1), Expr::num(3)), "-1 / (3)"),
        (Expr::div(Expr::num(1), Expr::num(-3)), "1 / -3"),
        (Expr::div(Expr::rat(1, 3), Expr::num(3)), "1/3 / 3"),
        (Expr::mul(Expr::rat(1, 3), x.clone()), "1/3 * x[i]"),
        (Expr::mul(x.clone(), Expr::rat(-1, 3)), "x[i] * (-1/3)"),
        (Expr::mul(x.clone(), Expr::num(-3)), "x[i] * -3"),
        (Expr::add(x.clone(), Expr::num(-2)), "x[i] + -2"),
        (
            Expr::sub(x.clone(), Expr::add(x.clone(), x.clone())),
            "x[i] - (x[i] + x[i])",
        ),
        (Expr::pow(x.clone(), Expr::num(-1)), "x[i]^(-1)"),
        (Expr::pow(x.clone(), Expr::neg(Expr::num(1))), "x[i]^(-(1))"),
        (Expr::neg(Expr::neg(Expr::num(-2))), "-(-(-2))"),
        (Expr::neg(Expr::pow(Expr::num(2), Expr::num(2))), "-2^2"),
        (Expr::neg(Expr::pow(Expr::num(-2), Expr::num(2))), "-(-2)^2"),
        (
            Expr::reduce(RedOp::Var, &["j", "i"], Expr::sym("y", &["i", "j"])),
            "var[i,j](y[i,j])",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(print(&e), want);
        assert_eq!(parse_expr(want).unwrap(), e, "round trip of {want}");
    }
}

#[test]
fn patterns() {
    assert_eq!(
        parse_pattern("mean[?i](?a)").unwrap(),
        Expr::Reduce(RedOp::Mean, vec!["?i".into()], Box::new(Expr::pvar("a")))
    );
    assert_eq!(
        parse_pattern("sum[?i](1)").unwrap(),
        Expr::Reduce(RedOp::Sum, vec!["?i".into()], Box::new(Expr::num(1)))
    );
    for s in [
        "?a^?p",
        "mean[?i](?a) * ?b",
        "?a - mean[?i](?a)",
        "x[i] + x",
    ] {
        let e = parse_pattern(s).unwrap();
        assert_eq!(print(&e), s);
        assert_eq!(parse_pattern(&print(&e)).unwrap(), e);
    }
    let err = parse_expr("?a + 1").unwrap_err();
    assert!(err.message.contains("pattern variable"), "{err}");
    assert!(parse_pattern("x^y").is_err());
}

#[test]
fn statements_and_assumptions() {
    let s = parse_statement("mean[i](x[i] - mean[i](x[i])) = 0").unwrap();
    assert_eq!(s.rhs, Expr::num(0));
    assert_eq!(s.to_string(), "mean[i](x[i] - mean[i](x[i])) = 0");
    let s = parse_statement("x/x = 1").unwrap();
    assert_eq!(s.to_string(), "x / x = 1");

    let a = parse_assumption("x > 0").unwrap();
    assert_eq!((a.expr.clone(), a.rel), (Expr::sym("x", &[]), Rel::Gt));
    assert_eq!(a.to_string(), "x > 0");
    let a = parse_assumption("a > b").unwrap();
    assert_eq!(a.expr, Expr::sub(Expr::sym("a", &[]), Expr::sym("b", &[])));
    assert_eq!(parse_assumption("x ≥ 0").unwrap().rel, Rel::Ge);
    assert_eq!(parse_assumption("x >= 0").unwrap().rel, Rel::Ge);
    assert_eq!(parse_assumption("x ≠ 0").unwrap().rel, Rel::Ne);
    assert_eq!(parse_assumption("x != 0").unwrap().to_string(), "x != 0");
    assert_eq!(
        parse_assumption("var[i](x[i]) > 0").unwrap().to_string(),
        "var[i](x[i]) > 0"
    );
    let a = parse_assumption("0 < x").unwrap();
    assert_eq!((a.expr, a.rel), (Expr::sym("x", &[]), Rel::Gt));
    let a = parse_assumption("a <= b").unwrap();
    assert_eq!(
        (a.expr, a.rel),
        (Expr::sub(Expr::sym("b", &[]), Expr::sym("a", &[])), Rel::Ge)
    );
    assert!(parse_assumption("x = 0")
        .unwrap_err()
        .message
        .contains("equation"));
    assert!(parse_assumption("x[i] > x[j]")
        .unwrap_err()
        .message
        .contains("inconsistent"));
}

#[test]
fn consistency_across_expressions() {
    let a = parse_expr("x[i] + y").unwrap();
    let b = parse_expr("x[i] * 2").unwrap();
    let c = parse_expr("x[j]").unwrap();
    let d = parse_expr("mean[i](y[i])").unwrap();
    assert!(check_consistent(&[&a, &b]).is_ok());
    let msg = check_consistent(&[&a, &b, &c]).unwrap_err();
    assert!(
        msg.contains("x") && msg.contains("x[i]") && msg.contains("x[j]"),
        "{msg}"
    );
    let msg = check_consistent(&[&a, &d]).unwrap_err();
    assert!(msg.contains("y (no axes)") && msg.contains("y[i]"), "{msg}");
}

/// (input, message fragment, 1-based column of the error start)
#[test]
fn errors_have_messages_positions_and_hints() {
    let cases: &[(&str, &str, usize)] = &[
        ("", "empty input; expected an expression", 1),
        ("   ", "empty input; expected an expression", 4),
        ("f(x)", "unknown function f; bnproof knows sqrt, exp, log, abs, max, min, detach, mean, sum, var, E", 1),
        ("max(x)", "max takes 2 arguments; expected `,`", 6),
        ("exp(x, y)", "expected `)` to close exp(...)", 6),
        ("min(x, )", "expected an expression", 8),
        ("1 + foo(2)", "unknown function foo", 5),
        ("x[i] + x[j]", "symbol x is used with inconsistent axes: x[i] at column 1, but x[j] here", 8),
        ("x + x[i]", "x (no axes) at column 1, but x[i]", 5),
        ("mean(x[i,j])", "mean(...) needs an explicit axis here: the argument varies along i, j; write mean[i](...)", 1),
        ("sum(2)", "does not vary along any axis", 1),
        ("E[x[i,j]]", "E[...] needs an explicit axis", 1),
        ("(x + 1", "unclosed `(`", 1),
        ("x + 1)", "unexpected `)`", 6),
        ("(x + 1]", "expected `)`", 7),
        ("x^y", "exponent must be a constant rational number", 3),
        ("x^(y + 1)", "exponent must be a constant rational number", 3),
        ("x^(2^(1/2))", "exponent must be a constant", 3),
        ("x^(((10^4000)^4000)^4000)", "exponent must be a constant", 3),
        ("2x", "unexpected name `x`", 2),
        ("x $ y", "unexpected character `$`", 3),
        ("x +", "expected an expression, found the end", 4),
        ("x[]", "empty axis list", 2),
        ("x[i", "unclosed `[`", 2),
        ("mean[i]x", "expected `(`", 8),
        ("x ⁻", "superscript minus", 3),
        ("1e99999999999", "too large", 1),
        ("x == y", "`==`", 3),
        (".5", "unexpected character `.`", 1),
    ];
    for (src, frag, col) in cases {
        let err = parse_expr(src).unwrap_err();
        assert!(err.message.contains(frag), "{src:?}: got {:?}", err.message);
        assert_eq!(err.col, *col, "{src:?}: {err}");
        assert_eq!(err.line, 1);
        assert!(err.hint.is_some(), "{src:?} has no hint");
        assert!(err.start <= err.end && err.end <= src.len());
    }
    let err = parse_statement("x + 1").unwrap_err();
    assert!(err.message.contains("expected `=`"), "{err}");
    let err = parse_statement("x[i] = x[j]").unwrap_err();
    assert!(
        err.message.contains("x[i]") && err.message.contains("x[j]"),
        "{err}"
    );
    assert_eq!(err.col, 8);
    assert_eq!(
        parse_expr("").unwrap_err().to_string(),
        "line 1, column 1: empty input; expected an expression"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let limit = format!("limit {MAX_DEPTH}");
    let inputs = [
        format!("{}x{}", "(".repeat(10000), ")".repeat(10000)),
        format!("{}x", "-".repeat(10000)),
        format!("{}x", "√".repeat(10000)),
        format!("x{}", "^2".repeat(10000)),
        format!("{}x{}", "sqrt(".repeat(10000), ")".repeat(10000)),
        format!("{}x[i]{}", "mean(".repeat(10000), ")".repeat(10000)),
        format!("{}x", "(".repeat(10000)),
    ];
    for s in &inputs {
        let err = parse_expr(s).unwrap_err();
        assert!(
            err.message.contains("nested too deeply") && err.message.contains(&limit),
            "{err}"
        );
    }
    // Just below the limit still parses.
    let ok = format!("{}x{}", "(".repeat(490), ")".repeat(490));
    assert_eq!(p(&ok), "x");
    let ok = format!("{}x", "-".repeat(490));
    assert!(parse_expr(&ok).is_ok());
}

/// A chain `a + b + …` is a left-leaning tree one level per term, but not
/// nesting: up to `MAX_CHAIN` terms parse, with the same tree (and so the
/// same certificate positions) as before.
#[test]
fn long_chains_are_not_nesting() {
    use super::parser::{MAX_CHAIN, MAX_HEIGHT};
    // The trees are deep: walk them on a big stack, as the command line does.
    let run = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            for op in [" + ", " * ", " - ", " / "] {
                let src = vec!["x"; MAX_CHAIN].join(op);
                let e = parse_expr(&src).unwrap_or_else(|e| panic!("{op}: {e}"));
                assert_eq!(e.depth(), MAX_CHAIN);
                assert_eq!(e.size(), 2 * MAX_CHAIN - 1);
                let left = e.at(&[0; MAX_CHAIN - 1]).unwrap();
                assert_eq!(*left, parse_expr("x").unwrap());
                let long = vec!["x"; MAX_CHAIN + 1].join(op);
                let err = parse_expr(&long).unwrap_err();
                assert!(err.message.contains("chain of more than"), "{err}");
            }
            // Left-assoc as before: `a - b + c` is `(a - b) + c`.
            assert_eq!(p("a - b + c - d"), "a - b + c - d");
            let e = parse_expr("a - b + c").unwrap();
            assert!(matches!(e, Expr::Add(..)));
            // A chain nested in parentheses inside another chain: within
            // the nesting limit, but the tree would be too high.
            let chain = vec!["x"; MAX_CHAIN].join(" + ");
            let src = format!("({chain}) + {chain}");
            let err = parse_expr(&src).unwrap_err();
            assert!(
                err.message.contains(&format!("higher than {MAX_HEIGHT}")),
                "{err}"
            );
            // Many short chains, nested: nesting counts one level per chain.
            let nested = (0..499).fold("x".to_string(), |e, _| format!("(x + {e} + x)"));
            assert!(parse_expr(&nested).is_ok());
            let nested = format!("(x + {nested} + x)");
            let err = parse_expr(&nested).unwrap_err();
            assert!(err.message.contains("nested too deeply"), "{err}");
            // Model files keep the old limit (derive's products grow as n²).
            let model = |n: usize| {
                let y = vec!["x"; n].join(" * ");
                parse_model(&format!("axis n\ninput x[n]\ny = {y}\noutput y\n"))
            };
            assert!(model(super::parser::MAX_MODEL_CHAIN).is_ok());
            let err = model(super::parser::MAX_MODEL_CHAIN + 1).unwrap_err();
            assert!(err.message.contains("chain of more than 500"), "{err}");
        })
        .unwrap()
        .join();
    if let Err(panic) = run {
        std::panic::resume_unwind(panic);
    }
}

const BATCHNORM: &str =
    "# Batch normalization, training mode, one channel (Ioffe & Szegedy 2015, Alg. 1)
axis  n
input x[n]
param gamma, beta
assume eps > 0
mu   = mean[n](x)
var  = mean[n]((x - mu)^2)
xhat = (x - mu) / sqrt(var + eps)
y    = gamma * xhat + beta
output y
claim grad x = gamma / sqrt(var + eps) * (dy - mean[n](dy) - xhat * mean[n](dy * xhat))
";

#[test]
fn model_files() {
    let m = parse_model(BATCHNORM).unwrap();
    assert_eq!(
        m.title.as_deref(),
        Some("Batch normalization, training mode, one channel (Ioffe & Szegedy 2015, Alg. 1)")
    );
    assert_eq!(m.axes, vec!["n"]);
    assert_eq!(m.inputs, vec![Symbol::new("x", ["n"])]);
    assert_eq!(m.params.len(), 2);
    assert_eq!(m.assumptions[0].to_string(), "eps > 0");
    let defs: Vec<String> = m
        .defs
        .iter()
        .map(|(n, e)| format!("{n} = {}", print(e)))
        .collect();
    assert_eq!(
        defs,
        vec![
            "mu = mean[n](x[n])",
            "var = mean[n]((x[n] - mu)^2)",
            "xhat = (x[n] - mu) / sqrt(var + eps)",
            "y = gamma * xhat[n] + beta",
        ]
    );
    assert_eq!(m.outputs, vec!["y"]);
    assert_eq!(m.claims.len(), 1);
    assert_eq!(m.claims[0].wrt, "x");
    assert_eq!(m.claims[0].line, 11);
    assert_eq!(
        print(&m.claims[0].expr),
        "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))"
    );

    let m = parse_model(
        "axis n, c\naxis h, w # spatial\n\ninput x[n,c,h,w]\nparam gamma[c], beta[c]\n\
         const eps\nmu = mean(mean[n,h,w](x))\nv = var[n,h,w](x)\ny = gamma * (x - mean[n,h,w](x)) / sqrt(v + eps) + beta\noutput y\n",
    )
    .unwrap();
    assert_eq!(m.axes, vec!["n", "c", "h", "w"]);
    assert_eq!(m.title, None);
    assert_eq!(print(&m.defs[0].1), "mean[c](mean[h,n,w](x[c,h,n,w]))");
    assert_eq!(print(&m.defs[1].1), "var[h,n,w](x[c,h,n,w])");
    assert_eq!(m.params[0], Symbol::new("gamma", ["c"]));
    // brackets agreeing with the declaration are fine
    assert!(parse_model("axis n\ninput x[n]\ny = x[n] + 1\n").is_ok());
}

/// (model, message fragment, line, column)
#[test]
fn model_errors() {
    let cases: &[(&str, &str, usize, usize)] = &[
        ("axis n\ninput x[q]\n", "undeclared axis q", 2, 9),
        (
            "axis n\ninput x[n]\ny = mean[k](x)\n",
            "undeclared axis k",
            3,
            10,
        ),
        (
            "axis n\ninput x[n]\ny = x[n] + z[n]\n",
            "z is used with axes but was never declared",
            3,
            12,
        ),
        (
            "axis n, c\ninput x[n]\ny = x[c]\n",
            "x has axes [n] but is used with axes [c]",
            3,
            5,
        ),
        ("axis n\ninput x[n]\nx = 2\n", "x is already an input", 3, 1),
        ("y = 1\ny = 2\n", "y is already defined", 2, 1),
        ("output y\n", "output y is not defined", 1, 8),
        (
            "axis n\ninput x[n]\nclaim grad z = 1\n",
            "z is not an input, parameter or definition",
            3,
            12,
        ),
        (
            "axis n\ninput x[n]\ny = x\noutput y\nclaim grad x = dy[n] +\n",
            "expected an expression",
            5,
            23,
        ),
        ("axis n\ninput x[n, m]\n", "undeclared axis m", 2, 12),
        ("axis n\n  input x[n]\n  y = (x\n", "unclosed `(`", 3, 7),
        (
            "axis n\nfoo bar\n",
            "expected a declaration or a definition",
            2,
            1,
        ),
        (
            "y = eps\neps = 1\n",
            "eps is used here but declared or defined only below, on line 2",
            1,
            5,
        ),
        (
            "axis n\ninput x[n]\nconst eps\ny = x / (x + esp)\noutput y\n",
            "unknown name esp",
            4,
            14,
        ),
        (
            "axis n\ninput x[n]\nconst eps[n]\n",
            "a constant is a scalar",
            3,
            10,
        ),
        (
            "axis n\ninput x[n]\nparam g\ny = g * x\noutput y\nclaim grad g = dy * x\n",
            "the claim varies along [n] but ∂ℓ/∂g has axes none",
            6,
            15,
        ),
        (
            "axis n\ninput x[n]\nconst eps\ny = x\noutput y\nclaim grad eps = 0\n",
            "eps is a constant, which is not differentiated",
            6,
            12,
        ),
        (
            "axis n\ninput x[n]\ny = x\noutput y\ncheck sum[n](grad z) = 0\n",
            "grad z: z is not an input, parameter or definition",
            5,
            19,
        ),
        (
            "axis n\ninput x[n]\ny = x * x\noutput y\ncheck y = 0 where x = 0\n",
            "x is not a constant",
            5,
            19,
        ),
        (
            "axis n\ninput x[n]\ny = x * x\noutput y\ncheck sum[n](grad x) > 0\n",
            "expected `=`",
            5,
            22,
        ),
        (
            "axis n\ninput x[n]\ny = mean(x * x) + f(x)\n",
            "unknown function f",
            3,
            19,
        ),
        (
            "axis n\ninput x[n]\ny = mean(2)\n",
            "needs an explicit axis",
            3,
            5,
        ),
    ];
    for (src, frag, line, col) in cases {
        let err = parse_model(src).unwrap_err();
        assert!(err.message.contains(frag), "{src:?}: got {err}");
        assert_eq!((err.line, err.col), (*line, *col), "{src:?}: {err}");
        assert!(err.hint.is_some());
    }
    let err = parse_model("axis n\ninput x[q]\n").unwrap_err();
    assert_eq!(err.hint.as_deref(), Some("declare it with `axis q`"));
}

#[test]
fn rendered_error_snapshot() {
    let src = "mean[i](x[i] - mean(x[i,j])) = 0";
    let err = parse_statement(src).unwrap_err();
    insta::assert_snapshot!("implicit_axis", err.render("<statement>", src));
    let src = "γ * (x[i] + 1 = x[i]";
    let err = parse_statement(src).unwrap_err();
    insta::assert_snapshot!("unclosed_paren", err.render("<statement>", src));
}

#[test]
fn render_handles_odd_spans() {
    for src in ["", "x +", "γ + f(x)", "x\n+ (y"] {
        let err = parse_expr(src).unwrap_err();
        let out = err.render("<input>", src);
        assert!(out.contains(&err.message), "{out}");
    }
}

// ---------------------------------------------------------------- proptest

fn rat() -> impl Strategy<Value = Rat> {
    prop_oneof![
        (-20i64..20).prop_map(|n| Rat::from_integer(n.into())),
        (-1000i64..1000, 1i64..30).prop_map(|(p, q)| Rat::new(p.into(), q.into())),
        "[1-9][0-9]{20,40}".prop_map(|s| Rat::new(s.parse::<BigInt>().unwrap(), 7.into())),
    ]
}

fn const_expr() -> impl Strategy<Value = Expr> {
    let leaf = rat().prop_map(Expr::Num);
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Expr::neg),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::add(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::div(a, b)),
            (inner, -3i64..4).prop_map(|(a, n)| Expr::pow(a, Expr::num(n))),
        ]
    })
    .prop_filter("constant", |e| e.const_value().is_some())
}

fn symbol() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Expr::sym("x", &["i"])),
        Just(Expr::sym("y", &["i", "j"])),
        Just(Expr::sym("w", &["j", "k"])),
        Just(Expr::sym("b", &[])),
        Just(Expr::sym("γ", &["k"])),
        Just(Expr::sym("x\u{302}", &["i", "j", "k"])),
    ]
}

fn axes() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(vec!["i", "j", "k"], 1..=3)
}

/// Random well-formed expressions, with `exp`, `log`, `abs`, `max`, `min`
/// and `detach` applications when `functions`.
pub(crate) fn expr_of(functions: bool) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![rat().prop_map(Expr::Num), symbol()];
    leaf.prop_recursive(6, 64, 2, move |inner| {
        let mut arms = vec![
            inner.clone().prop_map(Expr::neg).boxed(),
            inner.clone().prop_map(Expr::sqrt).boxed(),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Expr::add(a, b))
                .boxed(),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Expr::sub(a, b))
                .boxed(),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Expr::mul(a, b))
                .boxed(),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Expr::div(a, b))
                .boxed(),
            (inner.clone(), const_expr())
                .prop_map(|(a, b)| Expr::pow(a, b))
                .boxed(),
            (
                prop_oneof![Just(RedOp::Mean), Just(RedOp::Sum), Just(RedOp::Var)],
                axes(),
                inner.clone(),
            )
                .prop_map(|(op, ax, body)| Expr::reduce(op, &ax, body))
                .boxed(),
        ];
        if functions {
            arms.push(
                (
                    proptest::sample::select(&Fun::ALL[..]),
                    inner.clone(),
                    inner,
                )
                    .prop_map(|(f, a, b)| {
                        let args = if f.arity() == 2 { vec![a, b] } else { vec![a] };
                        Expr::app(f, args)
                    })
                    .boxed(),
            );
        }
        proptest::strategy::Union::new(arms)
    })
}

const SOUP: &[&str] = &[
    "x",
    "x[i]",
    "y[i,j]",
    "γ",
    "Δb",
    "x\u{302}",
    "\u{302}",
    "(",
    ")",
    "[",
    "]",
    "+",
    "-",
    "−",
    "*",
    "/",
    "^",
    "·",
    "×",
    "²",
    "³",
    "⁻",
    "√",
    "mean",
    "sum",
    "var",
    "E",
    "sqrt",
    "f",
    "1",
    "0",
    "2",
    "0.5",
    "1e-5",
    "e",
    ",",
    " ",
    "=",
    ">",
    ">=",
    "!=",
    "≠",
    "<",
    "?a",
    "?",
    "#",
    "\n",
    "axis",
    "input",
    "param",
    "claim grad",
    "output",
    "assume",
    "'",
    ".",
    "$",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn print_then_parse_round_trips(e in expr_of(true)) {
        let s = print(&e);
        prop_assert_eq!(parse_expr(&s), Ok(e), "printed: {}", s);
    }

    #[test]
    fn parsing_token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(SOUP), 0..40)) {
        let s: String = parts.concat();
        for r in [parse_expr(&s).err(), parse_statement(&s).err(), parse_assumption(&s).err(),
                  parse_pattern(&s).err(), parse_model(&s).err()].into_iter().flatten() {
            prop_assert!(r.start <= r.end && r.end <= s.len());
            prop_assert!(r.line >= 1 && r.col >= 1);
            let _ = r.render("<soup>", &s);
        }
        if let Ok(e) = parse_expr(&s) {
            prop_assert_eq!(parse_expr(&print(&e)), Ok(e));
        }
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,60}") {
        let _ = parse_expr(&s);
        let _ = parse_statement(&s);
        let _ = parse_model(&s);
    }
}

#[test]
fn small_error_details() {
    let err = parse_expr("sum[?i](1)").unwrap_err();
    assert!(err.message.contains("pattern variable"), "{err}");
    let err = parse_assumption("x > 0 0").unwrap_err();
    assert_eq!(
        err.message,
        "unexpected number after the end of the assumption"
    );
    assert_eq!(parse_assumption("-x < 0").unwrap().to_string(), "x > 0");
    assert_eq!(
        parse_expr("√x²").unwrap(),
        Expr::pow(Expr::sqrt(Expr::sym("x", &[])), Expr::num(2))
    );
}

#[test]
fn model_checks_constants_and_warnings() {
    use super::{CheckKind, Warning};
    let m = parse_model(
        "axis n\ninput x[n], z[n]\nparam g\nconst eps > 0\nassume c > 1\n\
         mu = mean[n](x)\nvar = mean[n]((x - mu)^2)\nxhat = (x - mu) / sqrt(var + eps)\n\
         y = g * xhat * c\noutput y\n\
         check sum[n](grad x) = 0\n\
         check false sum[n](xhat * grad x) = 0\n\
         check sum[n](xhat * grad x[n]) = 0 where eps = 0, c = 2 assuming var[n](x) > 0, g != 0\n\
         check symmetric grad x\n\
         check false symmetric grad x\n\
         check grad var = dvar\n",
    )
    .unwrap();
    assert_eq!(m.consts, vec!["c", "eps"]);
    assert_eq!(m.assumptions.len(), 2);
    assert_eq!(m.checks.len(), 6);
    let kinds: Vec<(bool, usize)> = m.checks.iter().map(|c| (c.expect_true, c.line)).collect();
    assert_eq!(
        kinds,
        vec![
            (true, 11),
            (false, 12),
            (true, 13),
            (true, 14),
            (false, 15),
            (true, 16)
        ]
    );
    assert_eq!(m.checks[1].text, "sum[n](xhat * grad x) = 0");
    match &m.checks[0].kind {
        CheckKind::Equal {
            lhs,
            rhs,
            subst,
            assuming,
        } => {
            assert_eq!(print(lhs), "sum[n](grad x[n])");
            assert_eq!(print(rhs), "0");
            assert!(subst.is_empty() && assuming.is_empty());
        }
        k => panic!("{k:?}"),
    }
    match &m.checks[2].kind {
        CheckKind::Equal {
            subst, assuming, ..
        } => {
            let s: Vec<String> = subst
                .iter()
                .map(|(c, e)| format!("{c}={}", print(e)))
                .collect();
            assert_eq!(s, vec!["eps=0", "c=2"]);
            assert_eq!(assuming.len(), 2);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        m.checks[4].kind,
        CheckKind::Symmetric {
            wrt: "x".to_string()
        }
    );
    match &m.checks[5].kind {
        CheckKind::Equal { lhs, rhs, .. } => {
            assert_eq!(print(lhs), "grad var");
            assert_eq!(print(rhs), "dvar");
        }
        k => panic!("{k:?}"),
    }
    // z is never used; c is declared only by its assumption.
    assert!(m.warnings.contains(&Warning {
        line: 2,
        message: "z is declared but no definition uses it".into()
    }));
    assert!(m
        .warnings
        .iter()
        .any(|w| w.line == 5 && w.message.contains("c is declared only by this assumption")));
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
}

#[test]
fn functions_parse_print_and_read_back() {
    use crate::ir::Fun;
    for src in [
        "exp(x[i])",
        "log(x[i] * y)",
        "abs(x[i] - mean[i](x[i]))",
        "max(sqrt(sum[i](x[i]^2)), eps)",
        "min(max(r, 1 / 3), 3)",
        "detach(mean[i](x[i])) * x[i]",
        "-exp(-x) + log(2)^2",
    ] {
        let e = parse_expr(src).unwrap();
        assert_eq!(parse_expr(&crate::syntax::print(&e)).unwrap(), e, "{src}");
    }
    let e = parse_expr("max(a, b + 1)").unwrap();
    assert_eq!(
        e,
        Expr::max(
            Expr::sym("a", &[]),
            Expr::add(Expr::sym("b", &[]), Expr::num(1))
        )
    );
    assert!(matches!(
        parse_expr("detach(x)").unwrap(),
        Expr::App(Fun::Detach, _)
    ));
    // A name followed by no `(` stays a name (`max = …` in a model).
    assert_eq!(
        parse_expr("max * 2").unwrap(),
        Expr::mul(Expr::sym("max", &[]), Expr::num(2))
    );
}

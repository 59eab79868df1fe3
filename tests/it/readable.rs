//! Counterexamples and numeric output a person can read: arrays and index
//! lists in the order the model (or statement) declares, nested rows, a
//! decimal next to a long rational, enclosures shown as `≈ v ∈ [lo, hi]`,
//! and the smallest samples. Nothing may depend on what a name is called.

use crate::derive::rename;
use crate::{bnproof, text};
use bnproof::eval::{Tensor, Value};
use bnproof::ir::Rat;
use bnproof::models;
use bnproof::refute::Counterexample;
use bnproof::render::text::{counterexample_text, rational_text, value_text};
use bnproof::syntax::order::AxisOrder;
use std::collections::BTreeMap;

fn q(n: i64) -> Rat {
    Rat::from_integer(n.into())
}

/// A scratch directory for this test.
fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bnproof-readable-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `model` with its claims and checks removed and `claim` added.
fn with_claim(src: &str, claim: &str) -> String {
    let mut out: String = src
        .lines()
        .filter(|l| !l.starts_with("claim") && !l.starts_with("check") && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(claim);
    out.push('\n');
    out
}

/// The layer-norm slip of the issue: the `mean(γ·dy)` term dropped.
const LN_SLIP: &str =
    "claim grad x = 1 / sqrt(var + eps) * (dy * gamma - xhat * mean[d](dy * gamma * xhat))";

/// A counterexample stored as evaluation keeps it: axes sorted, data
/// row-major over them.
fn stored(axes: &[&str], sizes: &[(&str, usize)], data: Vec<Rat>, name: &str) -> Counterexample {
    let mut a: Vec<String> = axes.iter().map(|s| s.to_string()).collect();
    a.sort();
    Counterexample {
        sizes: sizes.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        values: BTreeMap::from([(name.to_string(), Tensor { axes: a, data })]),
        index: sizes.iter().map(|(k, _)| (k.to_string(), 0)).collect(),
        lhs: Value::Exact(q(0)),
        rhs: Value::Exact(q(1)),
    }
}

#[test]
fn layernorm_counterexamples_follow_the_declared_order_in_rows() {
    let m = models::load("layernorm").unwrap().model;
    // x[d,n] stored sorted: d-major. d = 3, n = 2: x[d,n] = k.
    let cx = stored(
        &["n", "d"],
        &[("n", 2), ("d", 3)],
        (0..6).map(q).collect(),
        "x",
    );
    let _order = AxisOrder::for_model(&m).enter();
    let mut s = String::new();
    counterexample_text(&mut s, &cx).unwrap();
    assert!(s.contains("axis sizes: n = 2, d = 3"), "{s}");
    // x[n,d]: row n holds x_sorted[d=0..3, n].
    assert!(s.contains("x[n,d] = [[0, 2, 4], [1, 3, 5]]"), "{s}");
    assert!(s.contains("at n = 0, d = 0:"), "{s}");
}

#[test]
fn batchnorm2d_counterexamples_follow_the_declared_order() {
    let m = models::load("batchnorm2d").unwrap().model;
    let sizes = [("n", 2), ("c", 1), ("h", 1), ("w", 2)];
    // Stored over (c, h, n, w): entry = 10 n + w.
    let data = vec![q(0), q(1), q(10), q(11)];
    let cx = stored(&["n", "c", "h", "w"], &sizes, data, "x");
    let _order = AxisOrder::for_model(&m).enter();
    let mut s = String::new();
    counterexample_text(&mut s, &cx).unwrap();
    assert!(s.contains("axis sizes: n = 2, c = 1, h = 1, w = 2"), "{s}");
    assert!(s.contains("x[n,c,h,w] = [[[[0, 1]]], [[[10, 11]]]]"), "{s}");
    assert!(s.contains("at n = 0, c = 0, h = 0, w = 0:"), "{s}");
}

#[test]
fn derive_prints_formulas_and_counterexamples_in_the_declared_order() {
    for (name, sym, reduce) in [
        ("layernorm", "x[n,d]", "mean[d]("),
        ("batchnorm2d", "x[n,c,h,w]", "mean[n,h,w]("),
        ("groupnorm", "x[n,g,k,h,w]", "mean[k,h,w]("),
    ] {
        let o = bnproof(&["derive", name]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(out.contains(sym), "{name}: {out}");
        assert!(out.contains(reduce), "{name}: {out}");
        let sorted = {
            let inner = &sym[2..sym.len() - 1];
            let mut a: Vec<&str> = inner.split(',').collect();
            a.sort();
            format!("x[{}]", a.join(","))
        };
        assert!(!out.contains(&sorted), "{name} prints {sorted}: {out}");
    }
    // Markdown, HTML (MathML) and LaTeX in the same order.
    let md = text(&bnproof(&["derive", "batchnorm2d", "--format", "markdown"]));
    assert!(!md.contains("c,h,n,w"), "{md}");
    let html = text(&bnproof(&["derive", "layernorm", "--format", "html"]));
    assert!(
        html.contains("<mi>n</mi><mo>,</mo><mi>d</mi>"),
        "{}",
        &html[..2000.min(html.len())]
    );
    assert!(!html.contains("<mi>d</mi><mo>,</mo><mi>n</mi>"));
}

#[test]
fn the_layernorm_slip_and_a_renamed_copy_read_in_declared_order() {
    let dir = scratch("slip");
    let src = models::builtin("layernorm").unwrap();
    // Renamed so that sorted order (f, t) differs from the declared (t, f).
    let renamed_src = rename(
        src,
        &[
            ("n", "t"),
            ("d", "f"),
            ("x", "z"),
            ("gamma", "g"),
            ("beta", "b"),
            ("eps", "tiny"),
            ("mu", "centre"),
            ("var", "spread"),
            ("xhat", "zh"),
            ("y", "out"),
            ("dy", "dout"),
        ],
    );
    let renamed_claim = rename(
        LN_SLIP,
        &[
            ("d", "f"),
            ("x", "z"),
            ("gamma", "g"),
            ("eps", "tiny"),
            ("var", "spread"),
            ("xhat", "zh"),
            ("dy", "dout"),
        ],
    );
    for (file, src, claim, x, axes) in [
        (
            "ln-slip.bn",
            src.to_string(),
            LN_SLIP.to_string(),
            "x",
            ("n", "d"),
        ),
        ("renamed.bn", renamed_src, renamed_claim, "z", ("t", "f")),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, with_claim(&src, &claim)).unwrap();
        let o = bnproof(&["derive", path.to_str().unwrap()]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        let (a, b) = axes;
        assert!(out.contains("BAD refuted"), "{out}");
        assert!(out.contains(&format!("{x}[{a},{b}]")), "{out}");
        assert!(!out.contains(&format!("{x}[{b},{a}]")), "{out}");
        assert!(out.contains(&format!("axis sizes: {a} = ")), "{out}");
        assert!(out.contains(&format!("at {a} = ")), "{out}");
        // The smallest sample: one example, one feature, small integers,
        // both sides exact.
        assert!(
            out.contains(&format!("axis sizes: {a} = 1, {b} = 1")),
            "{out}"
        );
        assert!(
            out.contains("counterexample (double-checked exactly)"),
            "{out}"
        );
        assert!(!out.contains("irrational"), "{out}");
        // JSON: values nested per axis in that order, the order given.
        let o = bnproof(&["derive", path.to_str().unwrap(), "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let refuted = v["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["verdict"] == "refuted")
            .unwrap();
        let cx = &refuted["counterexample"];
        assert_eq!(cx["axes"][x], serde_json::json!([a, b]), "{cx}");
        assert_eq!(cx["axis_order"], serde_json::json!([a, b]), "{cx}");
        assert!(cx["values"][x][0].is_array(), "{cx}");
        // Every certificate is still accepted.
        let f = dir.join(format!("{file}.json"));
        std::fs::write(&f, &o.stdout).unwrap();
        let c = bnproof(&["check-proof", f.to_str().unwrap()]);
        assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prove_shows_the_statement_order() {
    let o = bnproof(&["prove", "sum[j](x[j,i]) = sum[i](x[j,i])"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("sum[j](x[j,i])"), "{out}");
    assert!(out.contains("x[j,i] = [["), "{out}");
    assert!(out.contains("axis sizes: j = "), "{out}");
    let o = bnproof(&["prove", "sum[j](x[i,j]) = sum[i](x[i,j])"]);
    let out = text(&o);
    assert!(out.contains("x[i,j] = [["), "{out}");
    // JSON: nested rows in the written order.
    let o = bnproof(&[
        "prove",
        "sum[j](x[j,i]) = sum[i](x[j,i])",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cx = &v["counterexample"];
    assert_eq!(cx["axes"]["x"], serde_json::json!(["j", "i"]), "{cx}");
    let rows = cx["values"]["x"].as_array().unwrap();
    assert_eq!(
        rows.len() as u64,
        cx["sizes"]["j"].as_u64().unwrap(),
        "{cx}"
    );
}

#[test]
fn long_rationals_carry_a_decimal() {
    let r = Rat::new(1234567890123i64.into(), 7.into());
    assert_eq!(rational_text(&r), "1234567890123/7 (≈ 1.763668414e11)");
    // 13 digits together: numerator and denominator.
    let r = Rat::new(1234567.into(), 7654321.into());
    assert_eq!(rational_text(&r), "1234567/7654321 (≈ 0.1612902046)");
    assert_eq!(rational_text(&Rat::new(25.into(), 9.into())), "25/9");
    // verify: no rational over 12 digits without its decimal.
    let o = bnproof(&["verify", "layernorm", "batchnorm2d"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let mut long = 0;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (k, w) in words.iter().enumerate() {
            let w = w.trim_matches(|c| c == '(' || c == ')' || c == ',');
            let digits = w.chars().filter(char::is_ascii_digit).count();
            let rational = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_digit() || c == '/' || c == '-')
                && w.chars().any(|c| c.is_ascii_digit());
            if rational && digits > 12 {
                long += 1;
                assert_eq!(words.get(k + 1).copied(), Some("(≈"), "{line}");
            }
        }
    }
    assert!(long > 0, "no long rational to check: {out}");
}

#[test]
fn enclosures_print_as_approximations_with_their_bounds() {
    // sqrt(2) within [1.41421356237309504, 1.41421356237309505].
    let lo = Rat::new(141421356237309504i64.into(), 100000000000000000i64.into());
    let hi = Rat::new(141421356237309505i64.into(), 100000000000000000i64.into());
    let s = value_text(&Value::Interval(lo, hi));
    assert_eq!(
        s,
        "≈ 1.414213562373095 ∈ [1.414213562373095, 1.414213562373096]"
    );
    assert!(!s.contains("irrational"));
    // A refutation decided by enclosures: the printed intervals are
    // disjoint (more digits where the sides are close).
    let o = bnproof(&["prove", "sqrt(2) = 1414213562373095/1000000000000000"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("decided by rigorous interval bounds"), "{out}");
    let line = out.lines().find(|l| l.contains("left side")).unwrap();
    let (lo, hi) = line
        .split_once("∈ [")
        .and_then(|(_, r)| r.trim_end_matches(']').split_once(", "))
        .unwrap();
    // Decimals read back as exact rationals: the printed lower bound is
    // above the right side, so the printed enclosure excludes it.
    let exact = |t: &str| match bnproof::syntax::parse_expr(t).unwrap() {
        bnproof::ir::Expr::Num(r) => r,
        other => panic!("{other:?}"),
    };
    let right = Rat::new(1414213562373095i64.into(), 1000000000000000i64.into());
    assert!(lo.len() > 17 && hi.len() > 17, "{line}");
    assert!(exact(lo) > right && exact(hi) > exact(lo), "{line}");
    assert!(!out.contains("irrational"), "{out}");
}

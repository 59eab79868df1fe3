//! The simplifier finds the compact gradient a framework hard-codes, in the
//! model's names, without being told it; and a wrong claim's residual reads
//! in those names.

use crate::{bnproof, text};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-simplify-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `(gradient, cost, raw cost)` rows of `derive FILE`'s simplified
/// gradients, and the whole output.
fn costs(file: &Path) -> (Vec<(String, usize, usize)>, String) {
    let o = bnproof(&["derive", file.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let section = out
        .split("simplified gradients")
        .nth(1)
        .and_then(|s| s.split("proofs and checks").next())
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut name = String::new();
    for line in section.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("∂ℓ/∂") {
            name = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        if let Some(c) = line
            .contains("raw reverse mode")
            .then(|| line.split("cost ").nth(1))
            .flatten()
        {
            let num = |s: &str| {
                s.trim_matches(|ch: char| !ch.is_ascii_digit())
                    .parse::<usize>()
            };
            let cost = num(c.split_whitespace().next().unwrap()).unwrap();
            let raw = num(c.split("raw reverse mode: ").nth(1).unwrap()).unwrap();
            rows.push((name.clone(), cost, raw));
        }
    }
    (rows, out)
}

/// `src` without its `claim` and `check` lines.
fn without_claims(src: &str) -> String {
    src.lines()
        .filter(|l| !l.starts_with("claim") && !l.starts_with("check"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// With every claim removed, each built-in model's gradients come out at
/// the cost of the cheapest claim the file makes or within 2 of it, and a
/// simplified form is proved (its certificate re-checks alone).
#[test]
fn claimless_models_reach_the_claimed_cost() {
    let d = dir("builtin");
    for m in [
        "batchnorm",
        "batchnorm2d",
        "batchnorm-eval",
        "layernorm",
        "instancenorm",
        "groupnorm",
        "rmsnorm",
        "centering",
    ] {
        let path = PathBuf::from(format!("models/{m}.bn"));
        let (claimed, _) = costs(&path);
        let src = std::fs::read_to_string(&path).unwrap();
        let bare = d.join(format!("{m}.bn"));
        std::fs::write(&bare, without_claims(&src)).unwrap();
        let (found, out) = costs(&bare);
        assert_eq!(claimed.len(), found.len(), "{m}: {out}");
        for ((g, best, _), (g2, cost, raw)) in claimed.iter().zip(&found) {
            assert_eq!(g, g2);
            assert!(
                cost <= &(best + 2),
                "{m} ∂ℓ/∂{g}: {cost} against the claim's {best}: {out}"
            );
            if cost < raw {
                assert!(
                    out.contains(&format!("∂ℓ/∂{g} equals its simplified form")),
                    "{m}: {out}"
                );
            }
        }
        if !out.contains("equals its simplified form") {
            continue;
        }
        let json = bnproof(&["derive", bare.to_str().unwrap(), "--format", "json"]);
        let saved = d.join(format!("{m}.json"));
        std::fs::write(&saved, &json.stdout).unwrap();
        let check = bnproof(&["check-proof", saved.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(0), "{m}: {}", text(&check));
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Nothing depends on names: batch norm with every name and the axis
/// renamed, and with a per-feature scale, simplify to the three-term form
/// in their own names.
#[test]
fn renamed_and_per_feature_copies_simplify_alike() {
    let d = dir("renamed");
    let renamed = "axis b\ninput z[b]\nparam scale, shift\nconst tiny > 0\n\
                   center = mean[b](z)\nspread = mean[b]((z - center)^2)\n\
                   zn = (z - center) / sqrt(spread + tiny)\nout = scale * zn + shift\noutput out\n";
    let path = d.join("renamed.bn");
    std::fs::write(&path, renamed).unwrap();
    let (rows, out) = costs(&path);
    assert_eq!(rows[0], ("z".to_string(), 10, 42), "{out}");
    let json = bnproof(&["derive", path.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        v["gradients"]["z"],
        "scale / sqrt(spread + tiny) * (dout[b] - zn[b] * mean[b](dout[b] * zn[b]) - mean[b](dout[b]))"
    );
    let per_feature = "axis n, c\ninput x[n,c]\nparam gamma[c], beta[c]\nconst eps > 0\n\
                       mu = mean[n](x)\nvar = mean[n]((x - mu)^2)\n\
                       xhat = (x - mu) / sqrt(var + eps)\ny = gamma * xhat + beta\noutput y\n";
    let path = d.join("per-feature.bn");
    std::fs::write(&path, per_feature).unwrap();
    let (rows, out) = costs(&path);
    assert_eq!(rows[0], ("x".to_string(), 10, 42), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A wrong claim's residual is found in the model's names and proved:
/// dropping the ∂μ path leaves exactly γ·mean(dy)/√(σ²+ε); a wrong
/// reduction leaves γ·x̂·(mean(dy·x̂) − mean(dy))/√(σ²+ε).
#[test]
fn residuals_read_in_the_models_names() {
    let d = dir("residual");
    let head = "axis n\ninput x[n]\nparam gamma, beta\nconst eps > 0\nmu = mean[n](x)\n\
                var = mean[n]((x - mu)^2)\nxhat = (x - mu) / sqrt(var + eps)\n\
                y = gamma * xhat + beta\noutput y\n";
    for (claim, residual) in [
        (
            "gamma / sqrt(var + eps) * (dy - xhat * mean[n](dy * xhat))",
            "gamma * mean[n](dy[n]) / sqrt(var + eps)",
        ),
        (
            "gamma / sqrt(var + eps) * (dy - mean[n](dy) - xhat * mean[n](dy))",
            "gamma * xhat[n] / sqrt(var + eps) * (mean[n](dy[n] * xhat[n]) - mean[n](dy[n]))",
        ),
    ] {
        let path = d.join("slip.bn");
        std::fs::write(&path, format!("{head}claim grad x = {claim}\n")).unwrap();
        let o = bnproof(&["derive", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let refuted = v["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["verdict"] == "refuted")
            .unwrap();
        assert_eq!(refuted["residual"], residual, "{refuted}");
        assert_eq!(refuted["diagnosis"]["kind"], "term");
        assert_eq!(refuted["diagnosis"]["certificate"]["checked"], true);
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// `k` stacked batch-norm layers sharing γ and β, no `x̂` name, no claims.
fn stack(k: usize) -> String {
    let mut s = String::from("axis n\ninput x[n]\nparam gamma, beta\nconst eps > 0\n");
    let mut prev = "x".to_string();
    for j in 1..=k {
        s += &format!(
            "mu_{j} = mean[n]({prev})\nv_{j} = mean[n](({prev} - mu_{j})^2)\n\
             h_{j} = gamma * ({prev} - mu_{j}) / sqrt(v_{j} + eps) + beta\n"
        );
        prev = format!("h_{j}");
    }
    s + &format!("output {prev}\n")
}

/// Two stacked layers: each layer's adjoint is simplified on its own, in
/// terms of the next one's (kept as a name), to the centred three-term
/// form; ∂ℓ/∂x is written in ∂ℓ/∂h₁; every form is kernel-checked, and the
/// JSON carries the adjoints' forms.
#[test]
fn stacked_layers_simplify_layer_by_layer() {
    let d = dir("stack");
    let f = d.join("stack2.bn");
    std::fs::write(&f, stack(2)).unwrap();
    let (rows, out) = costs(&f);
    let row = |n: &str| rows.iter().find(|r| r.0 == n).cloned().unwrap();
    let (_, h1, h1_raw) = row("h_1");
    assert_eq!((h1, h1_raw), (14, 42), "{out}");
    let (_, x, x_raw) = row("x");
    // ∂ℓ/∂x mentions ∂ℓ/∂h₁ three times, and a name costs what it stands for.
    assert!(x <= 3 * h1 + 14 && x_raw >= 3 * x, "{out}");
    assert!(
        out.contains("* (dh_1[n] - (x[n] - mu_1) * mean[n](dh_1[n] * (x[n] - mu_1)) / (v_1 + eps)"),
        "{out}"
    );
    assert!(out.contains("∂ℓ/∂h_1 equals its simplified form"), "{out}");
    assert!(out.contains("∂ℓ/∂x equals its simplified form"), "{out}");
    let json = d.join("stack2.json");
    let o = bnproof(&["derive", f.to_str().unwrap(), "--format", "json"]);
    std::fs::write(&json, &o.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["simplified_adjoints"]["h_1"]
            .as_str()
            .is_some_and(|s| s.contains("mean[n](dh_2[n])")),
        "{v}"
    );
    let o = bnproof(&["check-proof", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A deep stack still gets ∂ℓ/∂x in ∂ℓ/∂h₁, with costs that saturate
/// printed as such, and no cost printed as a 20-digit number.
#[test]
fn deep_stacks_keep_the_nearest_layers_simplified() {
    let d = dir("deep");
    let f = d.join("stack64.bn");
    std::fs::write(&f, stack(64)).unwrap();
    let o = bnproof(&["derive", f.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("∂ℓ/∂x equals its simplified form"), "{out}");
    assert!(out.contains("∂ℓ/∂h_1 equals its simplified form"), "{out}");
    assert!(out.contains("more than 1.8e19"), "{out}");
    assert!(!out.contains("18446744073709551615"), "{out}");
}

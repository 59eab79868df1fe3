//! User layers written fresh, as a new user would: nothing is checked that
//! the file does not say, every name is declared, and typos are bad input.

use crate::{bnproof, text};
use std::path::PathBuf;

/// A fresh directory for this test's files.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnproof-user-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `bnproof COMMAND FILE` on `src` written to `file` in `d`: the exit code
/// and stdout + stderr.
fn run(command: &str, d: &std::path::Path, file: &str, src: &str) -> (i32, String) {
    let path = d.join(file);
    std::fs::write(&path, src).unwrap();
    let o = bnproof(&[command, path.to_str().unwrap()]);
    (o.status.code().unwrap_or(-1), text(&o))
}

fn derive(d: &std::path::Path, file: &str, src: &str) -> (i32, String) {
    run("derive", d, file, src)
}

fn verify(d: &std::path::Path, file: &str, src: &str) -> (i32, String) {
    run("verify", d, file, src)
}

const BN_HEAD: &str = "axis n\ninput x[n]\nparam gamma, beta\nconst eps > 0\n\
                       mu = mean[n](x)\nvar = mean[n]((x - mu)^2)\n\
                       xhat = (x - mu) / sqrt(var + eps)\n";

/// Layers for which a property of plain batch norm does not hold (a
/// residual term, two outputs, the unbiased variance, a renamed or literal
/// ε) derive with exit 0: only the file's claims and checks decide.
#[test]
fn correct_layers_without_checks_pass() {
    let d = dir("correct");
    let cases = [
        ("residual.bn", format!("{BN_HEAD}y = x + gamma * xhat + beta\noutput y\n")),
        (
            "two_outputs.bn",
            format!("{BN_HEAD}y = gamma * xhat + beta\nz = xhat * xhat\noutput y, z\n"),
        ),
        (
            "unbiased.bn",
            "axis n\ninput x[n]\nparam gamma, beta\nconst eps > 0\nmu = mean[n](x)\n\
             var = sum[n]((x - mu)^2) / (sum[n](1) - 1)\nxhat = (x - mu) / sqrt(var + eps)\n\
             y = gamma * xhat + beta\noutput y\n"
                .to_string(),
        ),
        (
            "literal.bn",
            "axis n\ninput x[n]\nparam gamma, beta\nmu = mean[n](x)\nvar = mean[n]((x - mu)^2)\n\
             xhat = (x - mu) / sqrt(var + 1e-5)\ny = gamma * xhat + beta\noutput y\n\
             claim grad x = gamma / sqrt(var + 1e-5) * (dy - mean[n](dy) - xhat * mean[n](dy * xhat))\n"
                .to_string(),
        ),
    ];
    for (file, src) in &cases {
        let (code, out) = derive(&d, file, src);
        assert_eq!(code, 0, "{file}: {out}");
        assert!(!out.contains("BAD"), "{file}: {out}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 17's batch-norm variants keep their proofs: ε bounded below
/// instead of positive, the variance as E[x²] − μ² (PyTorch's kernel form
/// still proved), the unbiased variance (the ε = 0 orthogonality proved).
#[test]
fn batchnorm_variants_keep_their_proofs() {
    let d = dir("variants");
    let tail = "y = gamma * xhat + beta\noutput y\n\
                claim grad x = (dy - mean[n](dy) - (x - mu) * (sum[n]((x - mu) * dy) / (var + eps) \
                / sum[n](1))) / sqrt(var + eps) * gamma\n\
                check sum[n](xhat * grad x) = 0 where eps = 0 assuming var > 0\n";
    let bounded =
        format!("{BN_HEAD}{tail}").replace("const eps > 0", "const eps\nassume eps >= 1/100000");
    let moments = format!("{BN_HEAD}{tail}")
        .replace("var = mean[n]((x - mu)^2)", "var = mean[n](x^2) - mu^2");
    let unbiased = format!(
        "{BN_HEAD}y = gamma * xhat + beta\noutput y\n\
                            check sum[n](xhat * grad x) = 0 where eps = 0 assuming var > 0\n"
    )
    .replace(
        "var = mean[n]((x - mu)^2)",
        "var = sum[n]((x - mu)^2) / (sum[n](1) - 1)",
    );
    // Each also gets ∂ℓ/∂x in the three-term form, found and proved by
    // the simplifier (cheaper than PyTorch's form, and the only form of
    // the unbiased variant).
    for (file, src, proved) in [
        ("bounded.bn", bounded, 3),
        ("moments.bn", moments, 3),
        ("unbiased.bn", unbiased, 2),
    ] {
        let (code, out) = derive(&d, file, &src);
        assert_eq!(code, 0, "{file}: {out}");
        assert_eq!(out.matches("  ok  proved").count(), proved, "{file}: {out}");
        assert!(
            out.contains("ok  proved   ∂ℓ/∂x equals its simplified form"),
            "{file}: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Batch norm with every name changed and its properties written as
/// checks: the same verdicts as the built-in model; a `check` that does
/// not hold makes `derive` exit 1.
#[test]
fn written_checks_decide_the_exit_code_whatever_the_names() {
    let d = dir("checks");
    let src = "axis b\ninput act[b]\nparam scale, shift\nconst tiny > 0\n\
               centre = mean[b](act)\nspread = mean[b]((act - centre)^2)\n\
               z = (act - centre) / sqrt(spread + tiny)\nout = scale * z + shift\noutput out\n\
               check sum[b](grad act) = 0\n\
               check false sum[b](z * grad act) = 0\n\
               check sum[b](z * grad act) = 0 where tiny = 0 assuming spread > 0\n\
               check symmetric grad act\n\
               check grad centre = sum[b](dz * (-1 / sqrt(spread + tiny)))\n";
    let (code, out) = derive(&d, "renamed.bn", src);
    assert_eq!(code, 0, "{out}");
    // The five checks, and the simplified ∂ℓ/∂act's proof.
    assert_eq!(out.matches("  ok  ").count(), 6, "{out}");
    // The same checks, one of them false as written.
    let wrong = src.replace("check sum[b](grad act) = 0", "check sum[b](grad act) = 1");
    let (code, out) = derive(&d, "wrong.bn", &wrong);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD refuted  the check on line 10"), "{out}");
    let wrong = src.replace("check false sum[b](z", "check sum[b](z");
    let (code, out) = derive(&d, "wrong2.bn", &wrong);
    assert_eq!(code, 1, "{out}");
    // A symmetric check on a layer whose scale varies along the statistics
    // axis is refuted; written as `check false` it passes.
    let ln = "axis n, d\ninput x[n,d]\nparam g[d]\nconst eps > 0\nmu = mean[d](x)\n\
              v = mean[d]((x - mu)^2)\ny = g * (x - mu) / sqrt(v + eps)\noutput y\n";
    let (code, out) = derive(&d, "ln.bn", &format!("{ln}check symmetric grad x\n"));
    assert_eq!(code, 1, "{out}");
    let (code, out) = derive(&d, "ln2.bn", &format!("{ln}check false symmetric grad x\n"));
    assert_eq!(code, 0, "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Typos and mistakes are bad input (exit 2) pointing at the place.
#[test]
fn undeclared_names_and_wrong_axes_are_bad_input() {
    let d = dir("bad");
    let cases = [
        (
            "typo.bn",
            BN_HEAD.replace("var + eps", "var + esp") + "y = gamma * xhat + beta\noutput y\n",
            vec!["unknown name esp", "did you mean `eps`?", "typo.bn:7"],
        ),
        (
            "claim_typo.bn",
            format!(
                "{BN_HEAD}y = gamma * xhat + beta\noutput y\nclaim grad gamma = sum[n](dy * xht)\n"
            ),
            vec!["unknown name xht", "did you mean `xhat`?"],
        ),
        (
            "claim_axes.bn",
            format!("{BN_HEAD}y = gamma * xhat + beta\noutput y\nclaim grad gamma = dy * xhat\n"),
            vec!["the claim varies along [n] but ∂ℓ/∂gamma has axes none"],
        ),
        (
            "check_grad.bn",
            format!("{BN_HEAD}y = gamma * xhat + beta\noutput y\ncheck sum[n](grad xht) = 0\n"),
            vec!["grad xht: xht is not an input", "did you mean `grad xhat`?"],
        ),
        (
            "symmetric_shapes.bn",
            format!("{BN_HEAD}y = gamma * xhat + beta\noutput y\ncheck symmetric grad gamma\n"),
            vec!["line 10", "symmetric map needs the same space"],
        ),
    ];
    for (file, src, wants) in &cases {
        let (code, out) = derive(&d, file, src);
        assert_eq!(code, 2, "{file}: {out}");
        for w in wants {
            assert!(out.contains(w), "{file}: wanted {w:?} in {out}");
        }
        assert!(!out.contains("panicked"), "{file}: {out}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A name only an assumption mentions still works, with a warning that
/// suggests `const`; unused declarations are warned about.
#[test]
fn old_files_keep_their_meaning_with_warnings() {
    let d = dir("warn");
    let src = "axis n\ninput x[n], z[n]\nparam gamma, beta\nassume eps > 0\n\
               mu = mean[n](x)\nvar = mean[n]((x - mu)^2)\n\
               y = gamma * (x - mu) / sqrt(var + eps) + beta\noutput y\n";
    let (code, out) = derive(&d, "old.bn", src);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "old.bn:4: eps is declared only by this assumption; declare it with `const eps`"
        ),
        "{out}"
    );
    assert!(
        out.contains("old.bn:2: z is declared but no definition uses it"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Every certificate `derive --format json` writes for a built-in model is
/// valid for `check-proof`, whatever axes its names carry (a definition
/// named `var` with axes prints as `var[g,n]`, which reads back as that
/// symbol, not as a reduction).
#[test]
fn every_builtin_derivation_re_checks() {
    let d = dir("recheck");
    for (name, _) in bnproof::models::BUILTIN {
        let o = bnproof(&["derive", name, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{name}");
        let file = d.join(format!("{name}.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        let c = bnproof(&["check-proof", file.to_str().unwrap()]);
        let out = String::from_utf8_lossy(&c.stdout).to_string();
        assert_eq!(c.status.code(), Some(0), "{name}: {out}");
        assert!(
            out.contains("valid:") && !out.contains("invalid"),
            "{name}: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// `verify` feeds every output (ℓ = Σ ⟨output, d<output>⟩) and checks
/// claims about intermediate definitions by cutting the forward pass there:
/// a correct two-output layer passes, a claim that forgets one output's
/// contribution and the paper's ∂ℓ/∂σ² without its −1/2 both fail.
#[test]
fn verify_checks_every_output_and_intermediate_claims() {
    let d = dir("verify");
    let two = format!("{BN_HEAD}y = gamma * xhat + beta\nz = xhat * xhat\noutput y, z\n");
    let (code, out) = verify(&d, "two.bn", &two);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("skipped") || out.contains(" 0 skipped"),
        "{out}"
    );
    // γ does not reach z: its claim holds. ∂ℓ/∂x from y alone (batch
    // norm's three-term form) misses z's contribution.
    let (code, out) = verify(
        &d,
        "two_wrong.bn",
        &format!(
            "{two}claim grad gamma = sum[n](dy * xhat)\n\
             claim grad x = gamma / sqrt(var + eps) * (dy - mean[n](dy) - xhat * mean[n](dy * xhat))\n"
        ),
    );
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(!fails.is_empty(), "{out}");
    assert!(
        fails.iter().all(|l| l.contains("x      claim (line 12)")),
        "{fails:?}"
    );

    let bn = bnproof::models::builtin("batchnorm").unwrap();
    let bad = bn.replace(
        "claim grad var = sum[n](dxhat * (x - mu)) * (-1/2) * (var + eps)^(-3/2)",
        "claim grad var = sum[n](dxhat * (x - mu)) * (var + eps)^(-3/2)",
    );
    assert_ne!(bad, bn);
    let (code, out) = verify(&d, "badvar.bn", &bad);
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(!fails.is_empty(), "{out}");
    assert!(
        fails.iter().all(|l| l.contains("var    claim (line 14)")),
        "{fails:?}"
    );
    let (code, out) = verify(&d, "bn.bn", bn);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("mu     claim (line 15) exact"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A refuted claim says what is wrong with it, and only what the kernel
/// proved: a flipped sign, a constant factor, or the missing or extra term.
#[test]
fn refuted_claims_are_diagnosed() {
    let d = dir("diagnose");
    let compact = "gamma / sqrt(var + eps) * (dy - mean[n](dy) - xhat * mean[n](dy * xhat))";
    let src = format!(
        "{BN_HEAD}y = gamma * xhat + beta\noutput y\n\
         claim grad x = -{compact}\n\
         claim grad x = 2 * {compact}\n\
         claim grad gamma = sum[n](dy * xhat) + sum[n](dy)\n\
         claim grad x = {compact}\n"
    );
    let path = d.join("slips.bn");
    std::fs::write(&path, &src).unwrap();
    let o = bnproof(&["derive", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let by_line = |line: u64| {
        v["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["line"] == line)
            .cloned()
            .unwrap()
    };
    let sign = by_line(10);
    assert_eq!(sign["diagnosis"]["kind"], "sign", "{sign}");
    assert_eq!(sign["diagnosis"]["certificate"]["checked"], true);
    let factor = by_line(11);
    assert_eq!(factor["diagnosis"]["kind"], "factor", "{factor}");
    assert_eq!(factor["diagnosis"]["factor"], "2");
    assert_eq!(factor["residual"], "dx[n]", "{factor}");
    let term = by_line(12);
    assert_eq!(term["diagnosis"]["kind"], "term", "{term}");
    assert_eq!(term["residual"], "sum[n](dy[n])", "{term}");
    assert!(term["counterexample"]["sizes"].is_object(), "{term}");
    // The proved claim gets no diagnosis.
    let ok = by_line(13);
    assert_eq!(ok["verdict"], "proved");
    assert!(ok.get("diagnosis").is_none(), "{ok}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Higher orders do not depend on names: a batch norm whose input is `act`,
/// whose scale is `g`, which has a parameter named `v` (the usual name of
/// the direction) and a definition named like the tangent of another
/// (`v1_centre`) gets every second- and third-order check the built-in
/// model gets, in its own names, with tangent names that clash with none.
#[test]
fn higher_orders_follow_the_declarations_not_the_names() {
    let d = dir("higher");
    let src = "axis b\ninput act[b]\nparam g, v\nconst tiny > 0\n\
               centre = mean[b](act)\nv1_centre = mean[b]((act - centre)^2)\n\
               out = g * (act - centre) / sqrt(v1_centre + tiny) + v\noutput out\n";
    let path = d.join("renamed.bn");
    std::fs::write(&path, src).unwrap();
    let count = |model: &str, order: &str| {
        let o = bnproof(&["verify", model, "--order", order, "--backend", "exact"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = text(&o);
        // The rows of the symbolic higher derivatives.
        let higher = out
            .lines()
            .filter(|l| l.contains(" ⟨∂ℓ/∂") || l.contains("⟨H "))
            .count();
        (higher, out)
    };
    let path = path.to_str().unwrap();
    for order in ["2", "3"] {
        let (builtin, _) = count("batchnorm", order);
        assert!(builtin >= 3, "no higher-order rows for batchnorm");
        let (renamed, out) = count(path, order);
        assert_eq!(renamed, builtin, "{out}");
        assert!(
            out.contains("∂/∂act ⟨∂ℓ/∂act, v1⟩ (Hessian-vector product)"),
            "{out}"
        );
        assert!(out.contains("∂/∂g ⟨∂ℓ/∂act, v1⟩"), "{out}");
    }
    let o = bnproof(&["derive", path, "--order", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    // The tangent of `centre` cannot be `v1_centre`: the model defines it.
    assert!(out.contains("  v1_centre1 = mean[b](v1[b])"), "{out}");
    assert!(out.contains("  v1_v1_centre = "), "{out}");
    assert!(out.contains("= v1_dact[b], cost"), "{out}");
    let model = bnproof::syntax::parse_model(src).unwrap();
    crate::higher::assert_names_resolve(&model, &crate::higher::derive_json(path));
    let _ = std::fs::remove_dir_all(&d);
}

//! The command line: verdicts, exit codes, certificates, bad input.

use std::io::Write;
use std::process::{Command, Output};

fn bnproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bnproof"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SEED: &str = "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]";

#[test]
fn seed_identity_is_proved_with_named_steps() {
    let o = bnproof(&["prove", SEED]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("[mean-add]"), "{t}");
    assert!(t.contains("[mean-const"), "{t}");
    assert!(t.contains("checked by the kernel"), "{t}");
}

#[test]
fn certificate_round_trip_and_tampering() {
    let o = bnproof(&["prove", SEED, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["checked"], true);
    assert!(json["statement"]["lhs"].is_string());
    let steps = json["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        for field in ["expr", "rule", "direction", "position"] {
            assert!(!s[field].is_null(), "step lacks {field}: {s}");
        }
    }
    let dir = std::env::temp_dir().join(format!("bnproof-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, &o.stdout).unwrap();
    let ok = bnproof(&["check-proof", good.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    // Alter one step's expression: rejected, naming the step.
    let mut bad = json.clone();
    bad["steps"][0]["expr"] = serde_json::Value::String("u[i] + b".into());
    let path = dir.join("bad.json");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bad.to_string().as_bytes())
        .unwrap();
    let o = bnproof(&["check-proof", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("step 1"), "{}", text(&o));

    let missing = bnproof(&["check-proof", dir.join("nope.json").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    assert_eq!(
        bnproof(&["check-proof", garbage.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn false_statements_exit_1_with_a_counterexample() {
    let o = bnproof(&[
        "prove",
        "mean[i](x[i] * y[i]) = mean[i](x[i]) * mean[i](y[i])",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("counterexample"));
    let o = bnproof(&["prove", "sqrt(a^2) = a"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = bnproof(&["prove", "sqrt(a^2) = a", "--assume", "a >= 0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn bad_input_exits_2_with_a_located_message() {
    for (input, fragment) in [
        ("", "empty"),
        ("x + = y", ""),
        ("foo(x) = x", "unknown function"),
        ("x[i] + x[j] = 0", "x"),
        ("x + 1", "="),
    ] {
        let o = bnproof(&["prove", input]);
        assert_eq!(o.status.code(), Some(2), "{input:?}: {}", text(&o));
        assert!(text(&o).contains(fragment), "{input:?}: {}", text(&o));
    }
    let deep = format!("{}x{} = x", "(".repeat(10_000), ")".repeat(10_000));
    let o = bnproof(&["prove", &deep]);
    assert!(matches!(o.status.code(), Some(0) | Some(2)), "{}", text(&o));
    let o = bnproof(&["prove", "x[i] = 1", "--assume", "x[j] > 0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn huge_literals_are_ordinary_exact_numbers() {
    let big = "7".repeat(1000);
    let o = bnproof(&["prove", &format!("{big} * x - x * {big} = 0")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = bnproof(&["prove", &format!("{big} * x = x * {big} + 1")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn theorems_get_their_expected_verdicts() {
    let o = bnproof(&["theorems"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("BAD"));
}

#[test]
fn derive_verify_and_explain_exit_codes() {
    let o = bnproof(&["derive", "batchnorm"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n])"));
    let wrong = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/models/wrong-claim.bn"
    );
    let o = bnproof(&["derive", wrong]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("counterexample"));
    assert_eq!(bnproof(&["derive", "no-such-model"]).status.code(), Some(2));
    let o = bnproof(&["verify", "batchnorm", "--shape", "n=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        bnproof(&["verify", wrong, "--shape", "n=3"]).status.code(),
        Some(1)
    );
    // Without LibTorch the torch backend is unavailable (exit 4); CUDA is
    // unavailable on a machine without a GPU either way.
    let torch = bnproof(&[
        "verify",
        "batchnorm",
        "--backend",
        "torch",
        "--shape",
        "n=3",
    ]);
    let want = if cfg!(feature = "torch") { 0 } else { 4 };
    assert_eq!(torch.status.code(), Some(want), "{}", text(&torch));
    if !cfg!(feature = "torch") {
        assert!(
            text(&torch).contains("--features torch"),
            "{}",
            text(&torch)
        );
    }
    let cuda = bnproof(&[
        "verify",
        "batchnorm",
        "--backend",
        "torch",
        "--device",
        "cuda",
    ]);
    if !cfg!(feature = "torch") || std::env::var_os("BNPROOF_EXPECT_CUDA").is_none() {
        assert_eq!(cuda.status.code(), Some(4), "{}", text(&cuda));
        assert!(text(&cuda).contains("unavailable"), "{}", text(&cuda));
    }
    assert_eq!(
        bnproof(&[
            "verify",
            "batchnorm",
            "--dtype",
            "f16",
            "--backend",
            "torch"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        bnproof(&["verify", "batchnorm", "--device", "cuda"])
            .status
            .code(),
        Some(2),
        "--device without --backend torch is a usage error"
    );
    assert_eq!(
        bnproof(&["verify", "batchnorm", "--shape", "n=0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(bnproof(&["verify"]).status.code(), Some(2));
    for topic in ["seed", "scale", "bn-backward"] {
        let o = bnproof(&["explain", topic]);
        assert_eq!(o.status.code(), Some(0), "{topic}: {}", text(&o));
    }
    let o = bnproof(&["explain"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("bn-backward"));
    assert_eq!(bnproof(&["explain", "nope"]).status.code(), Some(2));
}

#[test]
fn check_proof_reads_every_certificate_of_a_derivation() {
    let o = bnproof(&["derive", "batchnorm", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let dir = std::env::temp_dir().join(format!("bnproof-derive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("batchnorm.json");
    std::fs::write(&file, &o.stdout).unwrap();
    let c = bnproof(&["check-proof", file.to_str().unwrap()]);
    let out = text(&c);
    assert_eq!(c.status.code(), Some(0), "{out}");
    assert!(out.matches("valid:").count() >= 8, "{out}");
    assert!(!out.contains("invalid"), "{out}");
    // Assumptions and definitions are shown with the verdict.
    assert!(out.contains("assuming eps > 0"), "{out}");
    assert!(
        out.contains("where") && out.contains("mu := mean[n](x[n])"),
        "{out}"
    );
    // A byte-order mark is not a malformed certificate.
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(&o.stdout);
    std::fs::write(&file, bom).unwrap();
    assert_eq!(
        bnproof(&["check-proof", file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // One tampered definition makes the file invalid.
    let tampered = String::from_utf8(o.stdout.clone())
        .unwrap()
        .replace("\"m := sum[n](1)\"", "\"m := sum[n](1) + 1\"");
    assert_ne!(tampered.as_bytes(), &o.stdout[..]);
    std::fs::write(&file, tampered).unwrap();
    assert_eq!(
        bnproof(&["check-proof", file.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prove_with_where_definitions() {
    // Proved over the names, the certificate carrying the definitions.
    let o = bnproof(&[
        "prove",
        "sum[i](xhat[i]) = 0 where mu = mean[i](x[i]), xhat = x[i] - mu",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["version"], 2);
    assert_eq!(c["definitions"][0], "mu := mean[i](x[i])");
    assert_eq!(c["definitions"][1], "xhat[i] := x[i] - mu");
    assert!(bnproof::cert::check_json(&String::from_utf8_lossy(&o.stdout)).is_ok());
    // False over the names: refuted, like its inlining.
    assert_eq!(
        bnproof(&[
            "prove",
            "sum[i](xhat[i]) = 1 where mu = mean[i](x[i]), xhat = x[i] - mu"
        ])
        .status
        .code(),
        Some(1)
    );
    // Bad definitions are bad input: wrong axes at a use, a cycle, a name
    // defined twice, a clause without `=`.
    for bad in [
        "sum[i](xhat) = 0 where xhat = x[i]",
        "a = b where a = b, b = a",
        "a = 0 where a = 1, a = 2",
        "a = 0 where a",
    ] {
        let o = bnproof(&["prove", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
    }
}

#[test]
fn check_proof_timeout_says_not_checked() {
    let o = bnproof(&[
        "prove",
        "sum[i](x[i] - mean[i](x[i])) = 0",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let dir = std::env::temp_dir().join(format!("bnproof-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.json");
    std::fs::write(&file, &o.stdout).unwrap();
    let f = file.to_str().unwrap();
    // Enough time: checked as usual.
    assert_eq!(
        bnproof(&["check-proof", f, "--timeout", "60"])
            .status
            .code(),
        Some(0)
    );
    // A limit too small to read the file: exit 3, never "invalid".
    let c = bnproof(&["check-proof", f, "--timeout", "0.000000001"]);
    assert!(matches!(c.status.code(), Some(0) | Some(3)), "{}", text(&c));
    if c.status.code() == Some(3) {
        assert!(text(&c).contains("not checked"), "{}", text(&c));
        assert!(!text(&c).contains("invalid"));
    }
    assert_eq!(
        bnproof(&["check-proof", f, "--timeout", "-1"])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn assumptions_starting_with_minus_and_unsatisfiable_ones_are_reported() {
    // `--assume '-x > 0'` is a value, not a flag.
    let o = bnproof(&["prove", "x / x = 1", "--assume", "-x > 0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A valid certificate of 0 = 1 under contradictory assumptions says so.
    let o = bnproof(&[
        "prove", "0 = 1", "--assume", "x > 1", "--assume", "x < 0", "--format", "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = std::env::temp_dir().join(format!("bnproof-unsat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.json");
    std::fs::write(&file, &o.stdout).unwrap();
    let c = bnproof(&["check-proof", file.to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0));
    let out = text(&c);
    assert!(out.contains("valid: 0 = 1 assuming"), "{out}");
    assert!(out.contains("cannot all hold"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a student copies: every line of `derive MODEL --proofs` is at
/// most 100 characters, for every built-in model.
#[test]
fn derive_proofs_text_lines_fit_100_characters() {
    for (name, _) in bnproof::models::BUILTIN {
        let o = bnproof(&["derive", name, "--proofs"]);
        assert_eq!(o.status.code(), Some(0), "{name}");
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            assert!(line.chars().count() <= 100, "{name}: {line}");
        }
    }
}

//! The command line: verdicts, exit codes, certificates, bad input.

use crate::{bnproof, text};
use std::io::Write;
use std::process::Output;

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
    // Positive at every index, but centred: its mean is 0. `prove` says so
    // under the (vacuous) proof too.
    let o = bnproof(&["prove", "0 = 1", "--assume", "x[i] - mean[i](x[i]) > 0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("cannot all hold"), "{}", text(&o));
    let o = bnproof(&["prove", "0 = 1", "--assume", "x[i] - mean[i](x[i]) >= 0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
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

/// Issue 12's limits on a proof a student copies, for the built-in models
/// whose claims already meet them: every chain (the main one, each `have`,
/// each lemma) at most 15 steps, every statement side and every step's
/// whole expression at most 200 characters. (The multi-axis models'
/// ∂ℓ/∂x chains do not yet: issue 12, item 4.)
#[test]
fn claim_proofs_of_single_axis_models_meet_the_length_limits() {
    for name in [
        "batchnorm",
        "batchnorm-eval",
        "centering",
        "rmsnorm",
        "l2norm",
    ] {
        let proofs = proofs_meeting_the_length_limits(name, |t| t.contains("equals the claim"));
        assert!(proofs > 0, "{name}: no claim proofs found");
    }
}

/// The written checks that ∂ℓ/∂x has no component along the mean
/// (`sum[A](grad x) = 0`) are proved through the vanishing sum, not by
/// unfolding every statistic: within issue 12's limits for every model
/// that has one.
#[test]
fn centred_gradient_checks_meet_the_length_limits() {
    let centred = |t: &str| {
        t.starts_with("the check on line")
            && t.ends_with("(grad x) = 0")
            && t.contains(": sum[")
            && !t.contains('*')
    };
    let mut found = 0;
    for name in [
        "batchnorm",
        "layernorm",
        "instancenorm",
        "batchnorm2d",
        "groupnorm",
        "batchrenorm",
        "batchnorm-softmax",
    ] {
        found += proofs_meeting_the_length_limits(name, centred);
    }
    assert!(found >= 7, "{found} centred checks found");
}

/// Asserts issue 12's limits (at most 15 steps per chain, 200 characters
/// per statement side and step) on every proof of `derive MODEL` whose
/// title `pick` accepts, with its haves and lemmas; returns how many.
fn proofs_meeting_the_length_limits(name: &str, pick: impl Fn(&str) -> bool) -> usize {
    let chars = |v: &serde_json::Value| v.as_str().map_or(0, |s| s.chars().count());
    let o = bnproof(&["derive", name, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{name}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut picked = 0;
    for p in json["proofs"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or_default();
        if !pick(title) {
            continue;
        }
        picked += 1;
        let c = &p["certificate"];
        assert!(c.is_object(), "{name}: {title}: no certificate");
        let mut chains = vec![(&c["statement"], &c["steps"])];
        for part in ["haves", "lemmas"] {
            for h in c[part].as_array().into_iter().flatten() {
                chains.push((&h["statement"], &h["steps"]));
            }
        }
        for (statement, steps) in chains {
            let steps = steps.as_array().unwrap();
            assert!(steps.len() <= 15, "{name}: {title}: {} steps", steps.len());
            for side in ["lhs", "rhs"] {
                let n = chars(&statement[side]);
                assert!(n <= 200, "{name}: {title}: a side of {n} characters");
            }
            for s in steps {
                let n = chars(&s["expr"]);
                assert!(n <= 200, "{name}: {title}: a step of {n} characters");
            }
        }
    }
    picked
}

/// A fresh directory for one test's model files.
fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bnproof-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Centering with a wrong claim on line 7 (the mean of dxhat is missing).
const WRONG_CENTERING: &str = "axis i\ninput u[i]\nparam b\nx = u + b\nxhat = x - mean[i](x)\n\
                               output xhat\nclaim grad u = dxhat\nclaim grad b = 0\n";
/// An incomplete expression on line 3, column 11.
const PARSE_ERROR: &str = "axis n\ninput x[n]\ny = x[n] +\noutput y\n";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn verify_several_files_exits_with_the_worst_code_and_reports_each() {
    let dir = temp_dir("several");
    let wrong = write(&dir, "wrong.bn", WRONG_CENTERING);
    let bad = write(&dir, "bad.bn", PARSE_ERROR);
    let shape = ["--shape", "i=3"];
    let run = |files: &[&str], extra: &[&str]| {
        let mut args = vec!["verify"];
        args.extend_from_slice(files);
        args.extend_from_slice(&shape);
        args.extend_from_slice(extra);
        bnproof(&args)
    };
    let o = run(&["centering"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A failure beats a pass.
    let o = run(&["centering", &wrong], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("== centering ==") && out.contains(&format!("== {wrong} ==")),
        "{out}"
    );
    // Bad input beats a failure, and the other files are still verified.
    for order in [[&wrong, &bad, "centering"], ["centering", &bad, &wrong]] {
        let o = run(&order, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let out = stdout(&o);
        assert!(
            out.contains("FAIL"),
            "the wrong file was not verified: {out}"
        );
        assert!(out.contains("== centering =="), "{out}");
        assert!(out.contains(&format!("bad input: {bad}:3:11")), "{out}");
        assert!(
            text(&o).contains("the expression is incomplete"),
            "{}",
            text(&o)
        );
    }
    // A missing file is bad input too, after the others ran.
    let o = run(&[&wrong, "no-such-model.bn"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stdout(&o).contains("FAIL"), "{}", text(&o));
    if !cfg!(feature = "torch") {
        // An unavailable backend (4) beats a failure (1); bad input (2)
        // beats an unavailable backend.
        let o = run(&[&wrong], &["--backend", "torch"]);
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        let o = run(&[&wrong, &bad], &["--backend", "torch"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    }
    // Models and --all are exclusive.
    assert_eq!(
        bnproof(&["verify", "centering", "--all"]).status.code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn verify_json_and_junit_carry_file_line_and_evidence() {
    let dir = temp_dir("verify-json");
    let wrong = write(&dir, "wrong.bn", WRONG_CENTERING);
    let bad = write(&dir, "bad.bn", PARSE_ERROR);
    let three_files = |format: &str| {
        let files = [wrong.as_str(), "centering", bad.as_str()];
        let mut args = vec!["verify"];
        args.extend(files);
        args.extend(["--shape", "i=3", "--format", format]);
        bnproof(&args)
    };
    let o = three_files("json");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let checks = v["checks"].as_array().unwrap();
    for c in checks {
        assert!(c["file"] == wrong || c["file"] == "centering", "{c}");
        assert_eq!(c["file"], c["model"], "{c}");
    }
    let failed: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["status"] == "failed").collect();
    assert!(!failed.is_empty(), "{v}");
    for c in &failed {
        assert_eq!(c["file"], wrong, "{c}");
        assert_eq!(c["line"], 7, "{c}");
    }
    let exact = failed.iter().find(|c| c["backend"] == "exact").unwrap();
    let cx = &exact["counterexample"];
    assert_eq!(cx["sizes"]["i"], 3, "{cx}");
    assert_eq!(cx["values"]["u"].as_array().map(Vec::len), Some(3), "{cx}");
    assert_ne!(cx["lhs"], cx["rhs"], "{cx}");
    let f64_row = failed.iter().find(|c| c["backend"] == "f64").unwrap();
    let worst = &f64_row["worst"];
    assert!(
        worst["index"]["i"].as_u64().is_some_and(|i| i < 3),
        "{worst}"
    );
    let (got, reference) = (
        worst["got"].as_f64().unwrap(),
        worst["reference"].as_f64().unwrap(),
    );
    assert!((got - reference).abs() > 1e-5, "{worst}");
    // Passing rows carry no evidence.
    assert!(checks
        .iter()
        .filter(|c| c["status"] == "ok")
        .all(|c| c.get("counterexample").is_none() && c.get("worst").is_none()));
    // Each file's exit code, and the bad one's error with its location.
    let files = v["files"].as_array().unwrap();
    let codes: Vec<i64> = files
        .iter()
        .map(|f| f["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [1, 0, 2], "{v}");
    assert_eq!(v["error"]["file"], bad);
    assert_eq!(
        (v["error"]["line"].as_u64(), v["error"]["column"].as_u64()),
        (Some(3), Some(11))
    );

    let o = three_files("junit");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let xml = stdout(&o);
    assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
    assert_eq!(xml.matches("</testsuite>").count(), 3, "{xml}");
    // One test case per row of the JSON, plus the bad file's one.
    assert_eq!(xml.matches("<testcase ").count(), checks.len() + 1, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), failed.len() + 1, "{xml}");
    assert!(
        xml.contains(&format!("file=\"{wrong}\" line=\"7\"")),
        "{xml}"
    );
    assert!(xml.contains("worst entry at i="), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `xml` nests its elements properly (every opening tag closed, in
/// order), ignoring the declaration: enough to catch a broken writer.
fn well_formed(xml: &str) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(k) = rest.find('<') {
        let Some(end) = rest[k..].find('>') else {
            return false;
        };
        let tag = &rest[k + 1..k + end];
        rest = &rest[k + end + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name) {
                return false;
            }
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    stack.is_empty() && !xml.contains("<<")
}

#[test]
fn derive_junit_has_a_case_per_equality_and_fails_the_wrong_claim() {
    let dir = temp_dir("derive-junit");
    let wrong = write(&dir, "wrong.bn", WRONG_CENTERING);
    let json = bnproof(&["derive", &wrong, "--format", "json"]);
    assert_eq!(json.status.code(), Some(1), "{}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let proofs = v["proofs"].as_array().unwrap();
    let o = bnproof(&["derive", &wrong, "--format", "junit"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let xml = stdout(&o);
    assert!(well_formed(&xml), "{xml}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), proofs.len(), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    // The failing case names the file and the claim's line, and shows the
    // counterexample.
    let failing = &xml[xml.find("<failure ").unwrap()..];
    assert!(failing.contains(&format!("{wrong}:7: refuted")), "{xml}");
    assert!(failing.contains("counterexample"), "{xml}");
    assert!(
        xml.contains(&format!("file=\"{wrong}\" line=\"7\">")),
        "{xml}"
    );
    // A model whose claims all hold has no failing case.
    let o = bnproof(&["derive", "centering", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = stdout(&o);
    assert!(well_formed(&xml) && xml.contains("<testcase "), "{xml}");
    assert!(
        !xml.contains("<failure") && !xml.contains("<error"),
        "{xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn derive_json_carries_file_line_and_counterexample() {
    let dir = temp_dir("derive-json");
    let wrong = write(&dir, "wrong.bn", WRONG_CENTERING);
    let o = bnproof(&["derive", &wrong, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["file"], wrong);
    // The keys readers rely on are still there.
    for key in [
        "model",
        "definitions",
        "gradients",
        "adjoints",
        "proofs",
        "checked",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }
    let proofs = v["proofs"].as_array().unwrap();
    let claim = proofs.iter().find(|p| p["line"] == 7).unwrap();
    assert_eq!(claim["verdict"], "refuted");
    assert_eq!(claim["file"], wrong);
    let cx = &claim["counterexample"];
    let n = cx["sizes"]["i"].as_u64().unwrap();
    // The claim's sides use only the upstream gradient: its value, one
    // entry per example.
    let dxhat = cx["values"]["dxhat"].as_array().unwrap();
    assert_eq!(dxhat.len() as u64, n, "{cx}");
    assert!(cx["index"]["i"].as_u64().is_some_and(|i| i < n), "{cx}");
    assert_ne!(cx["lhs"], cx["rhs"], "{cx}");
    let held = proofs.iter().find(|p| p["line"] == 8).unwrap();
    assert_eq!(held["verdict"], "proved");
    assert!(held.get("counterexample").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parse_errors_under_junit_and_json_are_documents_with_exit_2() {
    let dir = temp_dir("parse-junit");
    let bad = write(&dir, "bad.bn", PARSE_ERROR);
    for cmd in ["derive", "verify"] {
        let o = bnproof(&[cmd, &bad, "--format", "junit"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
        let xml = stdout(&o);
        assert!(well_formed(&xml), "{cmd}: {xml}");
        assert_eq!(xml.matches("<testcase ").count(), 1, "{cmd}: {xml}");
        assert_eq!(xml.matches("<failure ").count(), 1, "{cmd}: {xml}");
        assert!(
            xml.contains(&format!("{bad}:3:11: expected an expression")),
            "{cmd}: {xml}"
        );
        assert!(
            xml.contains("hint: the expression is incomplete"),
            "{cmd}: {xml}"
        );
        let o = bnproof(&[cmd, &bad, "--format", "json"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let e = &v["error"];
        assert_eq!(e["file"], bad, "{cmd}: {v}");
        assert_eq!(
            (e["line"].as_u64(), e["column"].as_u64()),
            (Some(3), Some(11)),
            "{v}"
        );
        assert!(
            e["hint"].as_str().is_some_and(|h| h.contains("incomplete")),
            "{v}"
        );
        // Text: the message on stderr, nothing on stdout.
        let o = bnproof(&[cmd, &bad]);
        assert_eq!(o.status.code(), Some(2));
        assert!(o.stdout.is_empty(), "{cmd}: {}", stdout(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("bad.bn:3:11"),
            "{}",
            text(&o)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_carry_no_rust_debug_names() {
    let dir = temp_dir("debug-names");
    let no_output = write(&dir, "noout.bn", "axis n\ninput x[n]\ny = 2 * x\n");
    let clash = write(
        &dir,
        "clash.bn",
        "axis n\ninput x[n]\ny = dy * x\noutput y\n",
    );
    let runs: Vec<Vec<&str>> = vec![
        vec!["derive", &no_output],
        vec!["verify", &no_output],
        vec!["derive", &no_output, "--format", "json"],
        vec!["derive", &clash],
        vec!["verify", &clash],
        vec!["derive", "centering", "--wrt", "nope"],
        vec!["verify", "batchnorm2d", "--shape", "n=2"],
        vec!["derive", "batchnorm", "--order", "2", "--wrt", "q"],
    ];
    let debug_names = [
        "(\"",
        "NoOutput",
        "NameClash",
        "TooLarge",
        "NonConstantExponent",
        "PatternVariable",
        "UnknownWrt",
        "BadShape",
        "NoInput",
        "Diff(",
    ];
    for args in &runs {
        let o = bnproof(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let all = text(&o);
        for d in debug_names {
            assert!(!all.contains(d), "{args:?} shows {d}: {all}");
        }
    }
    // No output: the file, its last line and the fix.
    let o = bnproof(&["derive", &no_output]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("noout.bn:3:1") && err.contains("no output"),
        "{err}"
    );
    assert!(err.contains("output y"), "{err}");
    let o = bnproof(&["verify", "batchnorm2d", "--shape", "n=2"]);
    assert!(text(&o).contains("--shape n=2,c=2"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hand-written version-2 certificate that cites a lemma: the lemma's
/// proof is the one `prove --format json` writes; check-proof accepts a
/// sound instance and rejects one that captures the lemma's axis.
#[test]
fn hand_written_certificates_may_cite_lemmas() {
    let o = bnproof(&[
        "prove",
        "var[i](x[i] + c) = var[i](x[i])",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lemma_cert: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cert = |lhs: &str, c: &str| {
        serde_json::json!({
            "version": 2,
            "statement": {"lhs": lhs, "rhs": "var[n](h[n])"},
            "assumptions": [],
            "lemmas": [{
                "name": "variance-shift",
                "statement": lemma_cert["statement"],
                "assumptions": [],
                "steps": lemma_cert["steps"],
            }],
            "steps": [{
                "expr": "var[n](h[n])",
                "rule": "lemma variance-shift",
                "direction": "forward",
                "position": [],
                "substitution": {"i": "[n]", "x": "h[n]", "c": c},
            }],
            "checked": true,
        })
    };
    let dir = std::env::temp_dir().join(format!("bnproof-lemma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, v: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        bnproof(&["check-proof", path.to_str().unwrap()])
    };
    let ok = run("ok.json", cert("var[n](h[n] + b)", "b"));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("lemma variance-shift"), "{}", text(&ok));
    // c := h[n] with i := n: var(2h) = var(h) is false, and the instance
    // captures n.
    let bad = run("capture.json", cert("var[n](h[n] + h[n])", "h[n]"));
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("varies along `n`"), "{}", text(&bad));
    let _ = std::fs::remove_dir_all(&dir);
}

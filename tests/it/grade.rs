//! `check-derivation`: a student's derivation graded step by step.

use crate::{bnproof, text};

fn example(name: &str) -> String {
    format!("{}/examples/derivations/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Grade `src` written to a fresh file: exit code and stdout + stderr.
fn grade(tag: &str, src: &str, format: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("bnproof-grade-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("derivation.txt");
    std::fs::write(&file, src).unwrap();
    let o = bnproof(&[
        "check-derivation",
        file.to_str().unwrap(),
        "--format",
        format,
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    (o.status.code().unwrap_or(-1), text(&o))
}

#[test]
fn the_worked_examples_grade_as_described() {
    let o = bnproof(&["check-derivation", &example("batchnorm-correct.bn")]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("10 steps in 3 derivations: 10 ok, 0 wrong, 0 unknown"),
        "{out}"
    );

    let src = std::fs::read_to_string(example("batchnorm-wrong-step.bn")).unwrap();
    let wrong_line = src
        .lines()
        .position(|l| l.trim() == "= gamma / sqrt(var + eps) * (dy - mean[n](dy))")
        .unwrap()
        + 1;
    let o = bnproof(&["check-derivation", &example("batchnorm-wrong-step.bn")]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("line  {wrong_line}  wrong")), "{out}");
    assert!(out.contains("counterexample (double-checked"), "{out}");
    // The residual names the dropped term in the student's own names.
    assert!(
        out.contains("this line minus the previous one = 2 * (dvar * mu) / sum[n](1)"),
        "{out}"
    );
    assert_eq!(out.matches(" wrong ").count(), 1, "{out}");

    let big = std::fs::read_to_string(example("batchnorm-big-step.bn")).unwrap();
    let o = bnproof(&["check-derivation", &example("batchnorm-big-step.bn")]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("unknown") && out.contains("split the step"),
        "{out}"
    );
    // The split written in its comment passes.
    let split: Vec<&str> = big
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with("show ") || l.trim_start().starts_with("= "))
        .collect();
    assert_eq!(split.len(), 5, "{split:?}");
    let model: String = big
        .lines()
        .take_while(|l| !l.starts_with("show "))
        .map(|l| format!("{l}\n"))
        .collect();
    let (code, out) = grade("split", &format!("{model}{}\n", split.join("\n")), "text");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 steps in 1 derivation: 4 ok"), "{out}");
}

/// The verdicts do not depend on names: the correct example with every
/// name changed grades the same; JSON carries the file's line numbers.
#[test]
fn grading_ignores_names_and_reports_json() {
    let src = std::fs::read_to_string(example("batchnorm-correct.bn")).unwrap();
    let mut renamed = String::new();
    let map = [
        ("xhat", "z"),
        ("gamma", "scale"),
        ("beta", "shift"),
        ("eps", "tiny"),
        ("mu", "centre"),
        ("var", "spread"),
        ("x", "act"),
        ("y", "out"),
        ("dy", "dout"),
        ("dxhat", "dz"),
        ("dvar", "dspread"),
        ("dmu", "dcentre"),
        ("n", "b"),
    ];
    for line in src.lines().filter(|l| !l.starts_with('#')) {
        let mut word = String::new();
        let mut out = String::new();
        let flush = |w: &mut String, out: &mut String| {
            let r = map
                .iter()
                .find(|(a, _)| a == w)
                .map_or(w.as_str(), |(_, b)| b);
            out.push_str(r);
            w.clear();
        };
        // `var[` and `mean[` stay reductions; only names are renamed.
        for c in line.chars() {
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                if !(c == '[' && (word == "var" || word == "mean" || word == "sum")) {
                    flush(&mut word, &mut out);
                } else {
                    out.push_str(&word);
                    word.clear();
                }
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        renamed.push_str(&out);
        renamed.push('\n');
    }
    assert!(renamed.contains("show sum[b](act - centre)"), "{renamed}");
    let (code, out) = grade("renamed", &renamed, "text");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10 ok, 0 wrong, 0 unknown"), "{out}");

    let (code, out) = grade("json", &src, "json");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10);
    let first_step = src
        .lines()
        .position(|l| l.trim().starts_with("= sum[n](x) -"))
        .unwrap()
        + 1;
    assert_eq!(steps[0]["line"], first_step);
    assert!(steps
        .iter()
        .all(|s| s["verdict"] == "ok" && s["certificate"]["checked"] == true));
}

/// Several steps may share a line: `show a = b` and `= c = d`.
#[test]
fn steps_may_share_a_line() {
    let src = "axis i\ninput x[i]\nmu = mean[i](x)\n\
               show sum[i](x - mu) = sum[i](x) - sum[i](1) * mu\n  = 0 = 1\n";
    let (code, out) = grade("inline", src, "json");
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps: Vec<(u64, String)> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["line"].as_u64().unwrap(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (4, "ok".to_string()),
            (5, "ok".to_string()),
            (5, "wrong".to_string())
        ]
    );
}

#[test]
fn malformed_derivations_are_bad_input() {
    let cases = [
        ("axis n\ninput x[n]\n  = x\n", "none is open here"),
        ("axis n\ninput x[n]\nshow sum[n](x)\n", "at least one step"),
        (
            "axis n\ninput x[n]\nshow grad x\n  = 1\n",
            "needs the model's output",
        ),
        (
            "axis n\ninput x[n]\ny = x\noutput y\n",
            "no derivation to check",
        ),
        (
            "axis n\ninput x[n]\nshow sum[n](x)\n  = sum[n](xx)\n",
            "did you mean `x`?",
        ),
    ];
    for (src, want) in cases {
        let (code, out) = grade("bad", src, "text");
        assert_eq!(code, 2, "{src}: {out}");
        assert!(out.contains(want), "{src}: wanted {want:?} in {out}");
    }
}

//! `bnproof explain`: the narratives, the exact simulations and the plots.

use bnproof::explain::{
    self, explain, plot, plot_svg, scale_flip_case, scale_grow_case, seed_simulation,
    weight_example, weight_norm_simulation, ExplainError, Format, NORM_TOLERANCE, SCALE_SERIES,
    SEED_SERIES, TOPICS,
};
use bnproof::ir::Rat;
use num_traits::{Signed, Zero};

fn text(topic: &str, format: Format) -> (String, explain::ExplainReport) {
    let mut out = String::new();
    let report = explain(topic, format, &mut out).expect("explain");
    (out, report)
}

#[test]
fn seed_simulation_is_exact() {
    let k = 6;
    let sim = seed_simulation(k);
    assert_eq!(sim.rows.len(), k + 1);
    let delta = sim.rows[0].delta_naive.clone();
    assert!(!delta.is_zero());
    let loss = sim.rows[0].loss_naive.clone();
    for r in &sim.rows {
        assert_eq!(r.loss_naive, loss, "loss changed at step {}", r.step);
        assert_eq!(r.delta_naive, delta);
        assert_eq!(
            r.b_naive,
            &sim.b0 + Rat::from_integer(r.step.into()) * &delta
        );
        assert_eq!(r.b_correct, sim.b0);
        assert!(r.grad_correct.is_zero());
        assert_eq!(r.loss_correct, loss);
    }
}

#[test]
fn scale_grow_case_a_squared_increases() {
    let sim = scale_grow_case(8);
    assert!(sim.c.is_negative());
    for w in sim.rows.windows(2) {
        assert!(&w[1].a * &w[1].a > &w[0].a * &w[0].a);
        assert_eq!(w[1].loss, w[0].loss);
    }
    assert!(sim.rows.iter().all(|r| r.grad_true.is_zero()));
}

#[test]
fn scale_flip_case_flips_within_prediction() {
    let sim = scale_flip_case(8);
    assert!(sim.c.is_positive());
    let bound = sim.predicted_flip_bound().expect("C > 0 has a bound");
    let k = sim.flip_step().expect("a changes sign");
    assert!(k <= bound, "flip at {k}, bound {bound}");
    // Exactly at the first step after a_k² ≤ ηC.
    let eta_c = &sim.eta * &sim.c;
    let first = sim.rows.iter().position(|r| &r.a * &r.a <= eta_c).unwrap();
    assert_eq!(k, first + 1);
    assert!(sim.rows[..k].iter().all(|r| r.loss == sim.rows[0].loss));
    assert_ne!(sim.rows[k].loss, sim.rows[0].loss);
}

#[test]
fn weights_ratio_and_orthogonality() {
    let ex = weight_example();
    assert_eq!(ex.loss, ex.loss_scaled);
    assert!(ex.grad_w.iter().any(|g| !g.is_zero()));
    for (ga, gw) in ex.grad_aw.iter().zip(&ex.grad_w) {
        assert_eq!(ga * &ex.a, *gw);
    }
    assert!(ex.inner.is_zero());
    let rows = weight_norm_simulation(6);
    assert!(rows[0].exact);
    for w in rows.windows(2) {
        let lhs = w[1].norm2;
        let rhs = w[0].norm2 + w[0].delta_norm2;
        assert!((lhs - rhs).abs() <= NORM_TOLERANCE * lhs);
        assert!(w[1].norm2 > w[0].norm2);
    }
}

#[test]
fn seed_text() {
    let (out, report) = text("seed", Format::Text);
    for h in [
        "The set-up",
        "E[Δb] = Δb",
        "Eq. (1)",
        "What \"Then\" means",
        "The true gradient: ∂ℓ/∂b = 0",
        "An exact simulation",
        "In short",
    ] {
        assert!(out.contains(h), "missing section {h}");
    }
    assert!(out.contains("checked by the kernel"));
    assert!(report.all_held(), "{:?}", report.failures());
    assert_eq!(report.proofs_checked(), 4);
    assert_eq!(report.refutations(), 1);
    insta::assert_snapshot!(out);
}

#[test]
fn scale_text() {
    let (out, report) = text("scale", Format::Text);
    assert!(out.contains("checked by the kernel"));
    assert!(report.all_held(), "{:?}", report.failures());
    assert_eq!(report.proofs_checked(), 5);
    assert_eq!(report.refutations(), 1);
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_formats() {
    for (topic, _) in TOPICS {
        let (out, report) = text(topic, Format::Markdown);
        assert!(report.all_held());
        assert!(out.starts_with("# "));
        assert!(out.contains("```text"));
        assert!(out.contains("$$"));
        assert!(out.contains("|---:|"));
    }
    let (md, _) = text("seed", Format::Markdown);
    insta::assert_snapshot!(md);
}

#[test]
fn unknown_topic_lists_topics() {
    let mut out = String::new();
    let err = explain("nope", Format::Text, &mut out).unwrap_err();
    assert!(matches!(err, ExplainError::UnknownTopic(ref t) if t == "nope"));
    let msg = err.to_string();
    for (name, _) in TOPICS {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(TOPICS.iter().any(|(n, _)| *n == "seed"));
    assert!(TOPICS.iter().any(|(n, _)| *n == "scale"));
}

/// Well-formedness without an XML crate: tags balance, attributes quoted.
fn check_xml(s: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = s;
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("unclosed tag");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("close without open");
            assert_eq!(open, name.trim(), "mismatched tags");
            continue;
        }
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        assert!(!name.is_empty());
        if stack.is_empty() {
            roots += 1;
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1, "one root element");
    // Only the five predefined entities (or numeric ones) appear.
    for (i, _) in s.match_indices('&') {
        let ent = &s[i..s[i..].find(';').map_or(s.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&ent) || ent.starts_with("&#"),
            "bad entity {ent}"
        );
    }
}

#[test]
fn plots_are_well_formed_svg() {
    let dir = std::env::temp_dir().join(format!("bnproof-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (topic, names) in [("seed", SEED_SERIES), ("scale", SCALE_SERIES)] {
        let path = dir.join(format!("{topic}.svg"));
        plot(topic, &path).expect("plot");
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg"));
        check_xml(&svg);
        for name in names {
            assert!(svg.contains(name), "{topic}: series {name} missing");
        }
    }
    assert!(matches!(
        plot_svg("nope"),
        Err(ExplainError::UnknownTopic(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
}

//! `explain bn-backward`: a guided tour of the batch-norm derivation, in the
//! order a textbook would take it — forward pass, the easy parameter
//! gradients, the input gradient through its three paths (direct, via μ, via
//! σ²), the vanishing term, and the collapse to the three-term form. Every
//! equality comes from `derive` and is kernel-checked while the text is
//! written.

use super::{CheckKind, Doc, ExplainError, Format};
use crate::derive::{self, DeriveOptions, Equality, Report, Verdict};
use crate::models;
use crate::render::derivation;
use crate::render::layout::{layout, Node, Op};
use crate::render::page::Row;
use crate::render::Notation;
use crate::syntax;
use std::fmt;

pub(crate) fn write<W: fmt::Write>(d: &mut Doc<'_, W>) -> Result<(), ExplainError> {
    let loaded = models::load("batchnorm").map_err(|e| ExplainError::Derivation(e.render()))?;
    let report = derive::derive(&loaded, &DeriveOptions::default())
        .map_err(|e| ExplainError::Derivation(e.to_string()))?;

    d.title("The batch-norm backward pass, step by step (Ioffe & Szegedy 2015, Section 3)")?;
    d.para(
        "This tour derives the gradients of batch normalization by the chain rule, the way \
         the paper's Section 3 does, and proves each of the paper's equations equal to what \
         reverse-mode differentiation produces. Every equality below was proved while this \
         text was written and re-checked by bnproof's kernel.",
    )?;

    d.section("The forward pass")?;
    let m = &report.model;
    let n = Notation::for_model(m);
    if d.format == Format::Text {
        let defs: Vec<String> = m
            .defs
            .iter()
            .map(|(n, e)| format!("{n} = {}", syntax::print(e)))
            .collect();
        d.display(&defs.join("\n"), "")?;
    } else {
        // The model's own definitions in its notation, as every generated
        // display shows them.
        d.page(|p| p.aligned(&derivation::forward_rows(m, &n)))?;
    }
    d.para(
        "The loss ℓ depends on the outputs y; its gradient with respect to them is the \
         upstream gradient dy (one number per example). The mini-batch has m examples, \
         indexed by n; sum[n](1) is m.",
    )?;

    d.section("The easy ones: ∂ℓ/∂β and ∂ℓ/∂γ")?;
    d.para(
        "β and γ are shared by every example, so their gradients add up the per-example \
         contributions: y = γ·x̂ + β gives ∂y/∂β = 1 and ∂y/∂γ = x̂.",
    )?;
    equalities(d, &report, |t| {
        t.contains("∂ℓ/∂beta") || t.contains("∂ℓ/∂gamma")
    })?;

    d.section("The input gradient: three paths")?;
    d.para(
        "x reaches the loss three ways: directly through x̂, through the mean μ, and through \
         the variance σ². The chain rule visits each definition from the output back and \
         adds one contribution per path:",
    )?;
    if d.format == Format::Text {
        let mut steps = String::new();
        for s in &report.derivation.steps {
            steps.push_str(&format!("{s}\n"));
        }
        d.block(&steps)?;
    } else {
        // The derivation's own list, in the model's notation.
        d.page(|p| p.list(&derivation::chain_rule_steps(&report, &n)))?;
    }
    d.para(
        "The intermediate gradients are exactly the paper's equations for ∂ℓ/∂x̂, ∂ℓ/∂σ² and ∂ℓ/∂μ:",
    )?;
    equalities(d, &report, |t| {
        t.contains("∂ℓ/∂xhat") || t.contains("∂ℓ/∂var") || t.contains("∂ℓ/∂mu")
    })?;

    d.section("A term that vanishes")?;
    d.para(
        "The paper's ∂ℓ/∂μ has a second term, ∂ℓ/∂σ² · Σ(−2(x − μ))/m. It is zero for every \
         batch, because the deviations from the mean add up to nothing: Σ(x − μ) = Σx − mμ = 0.",
    )?;
    equalities(d, &report, |t| t.contains("second term"))?;

    d.section("The three-term form")?;
    d.para(
        "Substituting the intermediate gradients and cancelling the batch size (m · 1/m = 1, \
         with m ≥ 1) collapses ∂ℓ/∂x into the form every framework hard-codes, and into \
         PyTorch's kernel:",
    )?;
    let three_term =
        "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))";
    if d.format == Format::Text {
        d.display(
            "∂ℓ/∂x = γ/sqrt(σ² + ε) · (dy − mean(dy) − x̂ · mean(dy · x̂))",
            "",
        )?;
    } else {
        // Written by hand, drawn in the model's notation like the rest.
        let rhs = syntax::parse_expr(three_term)
            .map_err(|e| ExplainError::Derivation(e.message.clone()))?;
        let row = Row {
            lhs: Node::grad(&n, &derivation::model_symbol(m, "x")),
            op: Op::Eq,
            rhs: layout(&rhs, &n),
            note: Vec::new(),
        };
        d.page(|p| p.aligned(&[row]))?;
    }
    equalities(d, &report, |t| t.contains("∂ℓ/∂x equals"))?;
    d.para("What the simplification buys, in operations per element (reductions counted once):")?;
    let rows: Vec<Vec<String>> = report
        .gradients
        .iter()
        .map(|g| {
            vec![
                format!("∂ℓ/∂{}", glyph_text(&n, &g.name)),
                g.raw_cost.to_string(),
                g.simplified_cost.to_string(),
            ]
        })
        .collect();
    d.table(
        &["gradient", "reverse mode as derived", "simplified"],
        &rows,
    )?;

    d.section("What the formula says")?;
    d.para(
        "The gradient has no component along the batch mean: its entries always sum to zero. \
         It is also nearly orthogonal to x̂, but only nearly: with ε > 0, ⟨x̂, ∂ℓ/∂x⟩ is not \
         zero, and bnproof shows a batch where it is not.",
    )?;
    equalities(d, &report, |t| {
        t.starts_with("Σ over") || t.starts_with("⟨x̂")
    })?;
    Ok(())
}

/// Show and record the derivation's equalities whose title matches.
fn equalities<W: fmt::Write>(
    d: &mut Doc<'_, W>,
    r: &Report,
    pick: impl Fn(&str) -> bool,
) -> Result<(), ExplainError> {
    let n = Notation::for_model(&r.model);
    for eq in r.equalities.iter().filter(|e| pick(&e.title)) {
        show(d, eq, &r.model, &n)?;
    }
    Ok(())
}

fn show<W: fmt::Write>(
    d: &mut Doc<'_, W>,
    eq: &Equality,
    model: &crate::syntax::Model,
    n: &Notation,
) -> Result<(), ExplainError> {
    let (kind, verdict) = match &eq.verdict {
        Verdict::Proved(p) => {
            let rules: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
            let how = if rules.is_empty() {
                "identical as written".to_string()
            } else {
                format!("kernel-checked: {}", rules.join(", "))
            };
            (CheckKind::Proof, format!("proved ({how})"))
        }
        Verdict::Refuted(c) => {
            let mut s = String::from("refuted:\n");
            crate::render::counterexample_text(&mut s, c)?;
            (CheckKind::Refutation, s)
        }
        Verdict::Unknown(why) => (CheckKind::Proof, format!("unknown: {why}")),
    };
    if matches!(d.format, Format::Latex | Format::Html) {
        // The equality as a formula in the paper's notation, then the
        // verdict (for a handout, the proof's chains).
        let title = derivation::title_spans(eq, model, n);
        d.page(|p| {
            p.heading_spans(3, &title, None)?;
            p.display(&crate::render::proof::equation(&eq.lhs, &eq.rhs, n))
        })?;
        match &eq.verdict {
            Verdict::Proved(p) if d.certificates.is_some() => d.proof_shown(&eq.title, p, n)?,
            _ => d.block(&verdict)?,
        }
    } else {
        let statement = format!("{} = {}", syntax::print(&eq.lhs), syntax::print(&eq.rhs));
        // A refutation's statement is the counterexample's business.
        let mut text = if kind == CheckKind::Refutation {
            format!("{}\n", eq.title)
        } else {
            format!("{}\n  {statement}\n", eq.title)
        };
        for line in verdict.lines() {
            text.push_str(&format!("  {line}\n"));
        }
        d.block(text.trim_end())?;
    }
    let held = eq.as_expected();
    d.record(
        eq.title.clone(),
        kind,
        held,
        if held {
            String::new()
        } else {
            "not the expected verdict".into()
        },
    );
    Ok(())
}

/// A name as the model's notation draws it, in Unicode (`gamma` as γ,
/// `xhat` as x̂), for running text.
fn glyph_text(n: &Notation, name: &str) -> String {
    match n.glyph(name) {
        crate::render::notation::Glyph::Name { base, hat, .. } if hat => {
            format!("{}\u{302}", base.text)
        }
        crate::render::notation::Glyph::Name { base, .. } => base.text,
        crate::render::notation::Glyph::Adjoint(_) => name.to_string(),
    }
}

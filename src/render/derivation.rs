//! A `derive` report as a document: forward pass, its computational graph
//! ([`super::graph`]), the chain rule step by
//! step, adjoints, gradients raw and simplified, and every proof or
//! counterexample, in the paper's notation ([`Notation::for_model`]).
//! Timings are left out, so a document depends on the model alone.

use super::layout::{layout, Node, Op};
use super::notation::Notation;
use super::page::{Page, Row, Span};
use super::proof::{self, assumption, math_list};
use crate::derive::{Equality, Report, Verdict};
use crate::diff::LOSS;
use crate::ir::{Expr, Symbol};
use crate::syntax::Model;
use std::fmt::{self, Write};

/// The symbol a name stands for in the model, with its axes: declared ones
/// for inputs and parameters, the free axes of the definition otherwise.
pub fn model_symbol(model: &Model, name: &str) -> Symbol {
    if let Some(s) = model
        .inputs
        .iter()
        .chain(&model.params)
        .find(|s| s.name == name)
    {
        return s.clone();
    }
    let axes = model
        .defs
        .iter()
        .find(|(d, _)| d == name)
        .map(|(_, e)| e.free_axes().into_iter().collect::<Vec<_>>())
        .unwrap_or_default();
    Symbol::new(name, axes)
}

/// How much of each proof a derivation shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proofs {
    /// One line each: steps and rules.
    OneLine,
    /// In full: chains, side conditions, rules, the kernel's verdict.
    Full,
    /// The chains a reader follows, each step with its rule; the rest is
    /// [`certificates`]' (a handout's appendix).
    Chains,
}

/// The forward pass as aligned rows in the model's notation, each noted
/// with the name it defines.
pub fn forward_rows(m: &Model, n: &Notation) -> Vec<Row> {
    let _order = crate::syntax::order::AxisOrder::for_model(m).enter();
    m.defs
        .iter()
        .map(|(name, e)| Row {
            lhs: layout(&Expr::Sym(model_symbol(m, name)), n),
            op: Op::Eq,
            rhs: layout(e, n),
            note: vec![Span::code(name.clone())],
        })
        .collect()
}

/// An equality's title with its gradient as a formula: "∂ℓ/∂gamma equals
/// the claim on line 23" as `∂ℓ/∂γ` in the model's notation and the words;
/// a check by its line (its formula is displayed under the title).
pub fn title_spans(eq: &Equality, m: &Model, n: &Notation) -> Vec<Span> {
    if let Some((name, rest)) = eq
        .title
        .strip_prefix("∂ℓ/∂")
        .and_then(|t| t.split_once(' '))
    {
        let of = match &eq.lhs {
            Expr::Sym(_) => layout(&eq.lhs, n),
            _ => Node::grad(n, &model_symbol(m, name)),
        };
        return vec![Span::Math(of), Span::text(format!(" {rest}"))];
    }
    // "the check on line 27: sum[n](grad x) = 0": the line, without the
    // file's ASCII text; the formula is displayed in the notation below it.
    let head = eq
        .title
        .split_once(": ")
        .map_or(eq.title.as_str(), |(h, _)| h);
    vec![Span::text(head)]
}

/// The chain rule's steps, one item each: the local derivative and the
/// term it adds to an adjoint (and why a term vanishes); the upstream
/// gradient as given, never as the step `∂ℓ/∂y = ∂ℓ/∂y`.
pub fn chain_rule_steps(r: &Report, n: &Notation) -> Vec<Vec<Span>> {
    let _order = crate::syntax::order::AxisOrder::for_model(&r.model).enter();
    let name_node = |name: &str| -> Node {
        if name == LOSS {
            Node::Loss
        } else {
            Node::Ident(n.glyph(name), Vec::new())
        }
    };
    let partial =
        |of: &str, wrt: &str| Node::Partial(Box::new(name_node(of)), Box::new(name_node(wrt)));
    r.derivation
        .steps
        .iter()
        .map(|s| {
            if s.from == LOSS {
                // Given, not derived: `∂ℓ/∂y = ∂ℓ/∂y` would say nothing.
                return vec![
                    Span::text("the upstream gradient "),
                    Span::Math(layout(&s.contribution, n)),
                    Span::text(" is given"),
                ];
            }
            let mut v = vec![
                Span::Math(Node::rel(
                    partial(&s.from, &s.to),
                    Op::Eq,
                    layout(&s.local, n),
                )),
                Span::text("; adds "),
            ];
            if !s.summed_over.is_empty() {
                v.push(Span::text(format!(
                    "(summed over {}) ",
                    crate::syntax::order::shown_axes(&s.summed_over).join(", ")
                )));
            }
            v.push(Span::Math(layout(&s.contribution, n)));
            v.push(Span::text(" to "));
            v.push(Span::Math(partial(LOSS, &s.to)));
            for (z, _) in r.vanishing_in(&s.contribution) {
                v.push(Span::text("; this term is 0, since "));
                v.push(Span::Math(Node::rel(
                    layout(z, n),
                    Op::Eq,
                    layout(&Expr::num(0), n),
                )));
                v.push(Span::text(" (kernel-checked)"));
            }
            v
        })
        .collect()
}

/// The whole derivation; `expand` shows every proof in full.
pub fn derivation<W: Write>(page: &mut Page<'_, W>, r: &Report, expand: bool) -> fmt::Result {
    let proofs = if expand {
        Proofs::Full
    } else {
        Proofs::OneLine
    };
    derivation_with(page, r, proofs)
}

/// The whole derivation, its proofs shown as `proofs` says.
pub fn derivation_with<W: Write>(
    page: &mut Page<'_, W>,
    r: &Report,
    proofs: Proofs,
) -> fmt::Result {
    // Index lists and counterexamples in the model's declared axis order.
    let _order = crate::syntax::order::AxisOrder::for_model(&r.model).enter();
    let n = Notation::for_model(&r.model);
    let m = &r.model;
    page.heading(1, &format!("Model {}", r.name), None)?;
    if let Some(t) = &m.title {
        page.text(t)?;
    }
    page.heading(2, "Forward pass", Some("forward"))?;
    page.aligned(&forward_rows(m, &n))?;
    if !m.assumptions.is_empty() {
        let mut spans = vec![Span::text("Assuming ")];
        spans.extend(math_list(
            m.assumptions.iter().map(|a| assumption(a, &n)).collect(),
        ));
        spans.push(Span::text("."));
        page.para(&spans)?;
    }

    graph_section(page, r)?;

    page.heading(2, "The chain rule, step by step", Some("chain-rule"))?;
    page.list(&chain_rule_steps(r, &n))?;

    // The backward pass as a program: each adjoint defined once, in terms
    // of earlier names (as the paper's Section 3 writes it).
    let def_row = |lhs: Node, e: &Expr| Row {
        lhs,
        op: Op::Eq,
        rhs: layout(e, &n),
        note: Vec::new(),
    };
    let d = &r.derivation;
    let mut rows: Vec<Row> = d
        .helpers
        .iter()
        .map(|(s, e)| def_row(layout(&Expr::Sym(s.clone()), &n), e))
        .collect();
    for a in d.adjoints.iter().filter(|a| a.is_definition()) {
        rows.push(def_row(layout(&Expr::Sym(a.name.clone()), &n), &a.expr));
    }
    page.heading(2, "Adjoints of the definitions", Some("adjoints"))?;
    page.aligned(&rows)?;
    page.heading(
        2,
        "Gradients straight from reverse mode",
        Some("raw-gradients"),
    )?;
    let rows: Vec<Row> = d
        .gradients
        .iter()
        .map(|g| def_row(Node::grad(&n, &model_symbol(m, &g.of)), &g.expr))
        .collect();
    page.aligned(&rows)?;

    page.heading(2, "Simplified gradients", Some("gradients"))?;
    page.text(if r.adjoint_forms.is_empty() {
        "Cost: operations per element, every reduction counted once."
    } else {
        "Cost: operations per element, every reduction counted once. The last rows are the \
         adjoints between layers that the gradients keep as names, each simplified alike \
         (a name costs what it stands for)."
    })?;
    let rows: Vec<Row> = r
        .gradients
        .iter()
        .chain(&r.adjoint_forms)
        .map(|g| Row {
            lhs: Node::grad(&n, &model_symbol(m, &g.name)),
            op: Op::Eq,
            rhs: layout(&g.simplified, &n),
            note: vec![Span::text(format!(
                "cost {} (raw: {})",
                crate::derive::cost_text(g.simplified_cost),
                crate::derive::cost_text(g.raw_cost)
            ))],
        })
        .collect();
    page.aligned(&rows)?;
    if let Some(h) = &r.higher {
        page.heading(2, "Higher order", Some("higher"))?;
        page.para(&[
            Span::text("Tangents along the direction "),
            Span::code(h.direction.clone()),
            Span::text(format!(
                " (forward mode through the program above; {}_NAME is the tangent of NAME):",
                h.direction
            )),
        ])?;
        let n = n.with_words(h.definitions.iter().map(|(s, _)| s.name.as_str()));
        let rows: Vec<Row> = h
            .definitions
            .iter()
            .map(|(s, e)| Row {
                lhs: layout(&Expr::Sym(s.clone()), &n),
                op: Op::Eq,
                rhs: layout(e, &n),
                note: Vec::new(),
            })
            .collect();
        page.aligned(&rows)?;
        let items: Vec<Vec<Span>> = h
            .rows()
            .into_iter()
            .map(|(what, e)| {
                vec![
                    Span::text(format!("{what} = ")),
                    Span::Math(layout(e, &n)),
                    Span::text(format!(", cost {}", h.cost(e))),
                ]
            })
            .collect();
        page.list(&items)?;
    }

    page.heading(2, "Proofs and checks", Some("proofs"))?;
    page.text(
        "Every proof below was re-checked by the kernel; every counterexample was double-checked.",
    )?;
    for (k, eq) in r.equalities.iter().enumerate() {
        let mark = if eq.as_expected() { "✓ " } else { "✗ " };
        let mut title = vec![Span::text(mark)];
        title.extend(title_spans(eq, m, &n));
        page.heading_spans(3, &title, Some(&format!("check-{}", k + 1)))?;
        page.display(&proof::equation(&eq.lhs, &eq.rhs, &n))?;
        match &eq.verdict {
            Verdict::Proved(p) => {
                let mut rules: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
                rules.dedup();
                page.para(&[Span::text(format!(
                    "Proved ({} steps: {}){}.",
                    p.steps.len(),
                    if rules.is_empty() {
                        "identical sides".to_string()
                    } else {
                        rules.join(", ")
                    },
                    if eq.expect_true {
                        ""
                    } else {
                        ", but a counterexample was expected"
                    }
                ))])?;
                match proofs {
                    Proofs::OneLine => {}
                    Proofs::Full => proof::proof(page, p, &n)?,
                    Proofs::Chains => {
                        proof::chains(page, p, &n, false)?;
                        page.text(&format!(
                            "Side conditions, rules and the kernel's verdict: certificate {} in the appendix.",
                            k + 1
                        ))?;
                    }
                }
            }
            Verdict::Refuted(c) => {
                page.text(if eq.expect_true {
                    "Refuted, but a proof was expected."
                } else {
                    "Refuted, as expected."
                })?;
                proof::counterexample(page, c, &n)?;
                if let Some(d) = &eq.diagnosis {
                    page.para(&[Span::text(d.text(&crate::syntax::print(&eq.lhs)))])?;
                }
            }
            Verdict::Unknown(why) => page.text(&format!("Unknown: {why}."))?,
        }
    }
    let ok = r.equalities.iter().filter(|e| e.as_expected()).count();
    page.para(&[Span::Strong(format!(
        "{ok}/{} checks as expected.",
        r.equalities.len()
    ))])
}

/// The computational graph of the forward pass ([`super::graph`]): SVG in
/// HTML and Markdown, a `picture` in LaTeX; long local derivatives as tags
/// written out below it.
fn graph_section<W: Write>(page: &mut Page<'_, W>, r: &Report) -> fmt::Result {
    use super::page::Markup;
    let fig = super::graph::figure(&r.name, &r.model, &r.derivation);
    page.heading(2, "Computational graph", Some("graph"))?;
    page.text("The forward pass top to bottom: each node shows a name and its adjoint, each edge the local derivative of its lower end with respect to its upper end (indices omitted). Every path from an input or parameter to the loss is coloured by the first reduction it passes through, or as direct; an edge on several kinds of path carries one stroke per kind. Dashed edges come from constants, which are not differentiated.")?;
    match page.markup() {
        Markup::Latex => page.raw(&fig.latex())?,
        Markup::Html | Markup::Markdown => page.raw(&format!(
            "<figure class=\"plot graph\">\n{}\n</figure>\n\n",
            fig.svg()
        ))?,
    }
    let tagged = fig.tagged();
    if !tagged.is_empty() {
        let items: Vec<Vec<Span>> = tagged
            .into_iter()
            .map(|(t, node)| vec![Span::text(format!("Label [{t}]: ")), Span::Math(node)])
            .collect();
        page.list(&items)?;
    }
    Ok(())
}

/// The certificate of every proof in a derivation (a handout's appendix,
/// after [`Proofs::Chains`]): what it holds, every step's side conditions
/// and lemma instances, the rules, the kernel's verdict. Numbered as the
/// proofs are.
pub fn certificates<W: Write>(page: &mut Page<'_, W>, r: &Report) -> fmt::Result {
    let n = Notation::for_model(&r.model);
    for (k, eq) in r.equalities.iter().enumerate() {
        if let Verdict::Proved(p) = &eq.verdict {
            let mut title = vec![Span::text(format!("Certificate {}: ", k + 1))];
            title.extend(title_spans(eq, &r.model, &n));
            page.heading_spans(2, &title, Some(&format!("certificate-{}", k + 1)))?;
            proof::certificate(page, p, &n)?;
        }
    }
    Ok(())
}

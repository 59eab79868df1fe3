//! Proofs and counterexamples as documents ([`Page`]): the statement, the
//! calc-style chain with every step's rule and side conditions as formulas,
//! the rules' justifications, the kernel's verdict.

use super::layout::{layout, Node, Op};
use super::notation::Notation;
use super::page::{Page, Span};
use crate::eval::Value;
use crate::ir::{Assumption, Expr, Rel, Statement, Symbol};
use crate::kernel::{Direction, Proof};
use crate::prove::Outcome;
use crate::refute::Counterexample;
use crate::rules::{self, Binding, Cond};
use std::fmt::{self, Write};

/// `lhs = rhs` as a formula.
pub fn equation(lhs: &Expr, rhs: &Expr, n: &Notation) -> Node {
    Node::rel(layout(lhs, n), Op::Eq, layout(rhs, n))
}

/// An assumption `e > 0` as a formula.
pub fn assumption(a: &Assumption, n: &Notation) -> Node {
    let op = match a.rel {
        Rel::Gt => Op::Gt,
        Rel::Ge => Op::Ge,
        Rel::Ne => Op::Ne,
    };
    Node::rel(layout(&a.expr, n), op, Node::Num("0".into()))
}

/// Formulas separated by commas, as spans.
pub fn math_list(nodes: Vec<Node>) -> Vec<Span> {
    let mut spans = Vec::new();
    for (k, node) in nodes.into_iter().enumerate() {
        if k > 0 {
            spans.push(Span::text(", "));
        }
        spans.push(Span::Math(node));
    }
    spans
}

/// A kernel-checked proof: statement, assumptions, the chain, the rules.
pub fn proof<W: Write>(page: &mut Page<'_, W>, p: &Proof, n: &Notation) -> fmt::Result {
    chains(page, p, n, true)?;
    rule_legend(page, p)?;
    verdict(page, p)
}

/// What a reader follows: the theorem, its assumptions and definitions,
/// the lemmas and facts it cites and the calc-style chain. With `details`,
/// each step also shows its side conditions and lemma instances; without,
/// only its rule (the details are then [`certificate`]'s, as in a
/// handout's appendix).
pub fn chains<W: Write>(
    page: &mut Page<'_, W>,
    p: &Proof,
    n: &Notation,
    details: bool,
) -> fmt::Result {
    let st = &p.statement;
    page.para(&[
        Span::Strong("Theorem.".into()),
        Span::text(" "),
        Span::Math(equation(&st.lhs, &st.rhs, n)),
    ])?;
    if !p.assumptions.is_empty() {
        let mut spans = vec![Span::text("Assuming ")];
        spans.extend(math_list(
            p.assumptions.iter().map(|a| assumption(a, n)).collect(),
        ));
        spans.push(Span::text("."));
        page.para(&spans)?;
    }
    if !p.definitions.is_empty() {
        let mut spans = vec![Span::text("Where ")];
        spans.extend(math_list(
            p.definitions
                .iter()
                .map(|(s, b)| equation(&crate::ir::Expr::Sym(s.clone()), b, n))
                .collect(),
        ));
        spans.push(Span::text("."));
        page.para(&spans)?;
    }
    let chain = |steps: &[crate::kernel::Step]| -> Vec<(Node, Vec<Span>)> {
        super::shown(steps)
            .into_iter()
            .map(|(s, times)| {
                let subst = if details { s.subst.as_ref() } else { None };
                let mut label = step_label(&s.rule, s.direction, subst, n);
                if times > 1 {
                    label.push(Span::text(format!(" ({times} occurrences)")));
                }
                (layout(&s.expr, n), label)
            })
            .collect()
    };
    for lemma in &p.lemmas {
        let mut spans = vec![
            Span::Strong(format!("Lemma {}.", lemma.name)),
            Span::text(" "),
            Span::Math(equation(&lemma.statement.lhs, &lemma.statement.rhs, n)),
        ];
        if !lemma.assumptions.is_empty() {
            spans.push(Span::text(" assuming "));
            spans.extend(math_list(
                lemma.assumptions.iter().map(|a| assumption(a, n)).collect(),
            ));
        }
        page.para(&spans)?;
        page.calc(&layout(&lemma.statement.lhs, n), &chain(&lemma.steps))?;
    }
    for (k, have) in p.haves.iter().enumerate() {
        page.para(&[
            Span::Strong(format!("have {}.", k + 1)),
            Span::text(" "),
            Span::Math(equation(&have.statement.lhs, &have.statement.rhs, n)),
        ])?;
        page.calc(&layout(&have.statement.lhs, n), &chain(&have.steps))?;
    }
    if !p.haves.is_empty() {
        page.para(&[Span::Strong("Proof.".into())])?;
    }
    page.calc(&layout(&st.lhs, n), &chain(&p.steps))
}

/// The rules a proof uses, each with its one-line justification.
fn rule_legend<W: Write>(page: &mut Page<'_, W>, p: &Proof) -> fmt::Result {
    let items: Vec<Vec<Span>> = super::used_rules(p)
        .into_iter()
        .map(|name| {
            let why = super::rule_why(name);
            vec![Span::code(name), Span::text(format!(": {why}"))]
        })
        .collect();
    page.list(&items)
}

/// The kernel's verdict, one line.
fn verdict<W: Write>(page: &mut Page<'_, W>, p: &Proof) -> fmt::Result {
    let k = p.steps.len();
    page.text(&format!(
        "Checked by the kernel: {k} step{}, every side condition re-established.",
        if k == 1 { "" } else { "s" }
    ))
}

/// What the certificate of a proof holds beyond its chains: how many
/// assumptions, definitions, lemmas, facts and steps; every step's side
/// conditions and lemma instances, as the kernel re-established them; the
/// rules with their justifications; the kernel's verdict.
pub fn certificate<W: Write>(page: &mut Page<'_, W>, p: &Proof, n: &Notation) -> fmt::Result {
    page.display(&equation(&p.statement.lhs, &p.statement.rhs, n))?;
    let count = |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
    let steps = |v: &[crate::kernel::Step]| v.len();
    let all: usize = steps(&p.steps)
        + p.lemmas.iter().map(|l| steps(&l.steps)).sum::<usize>()
        + p.haves.iter().map(|h| steps(&h.steps)).sum::<usize>();
    page.text(&format!(
        "The certificate: {}, {}, {}, {}; {} in the main chain, {} in all.",
        count(p.assumptions.len(), "assumption"),
        count(p.definitions.len(), "definition"),
        count(p.lemmas.len(), "lemma"),
        count(p.haves.len(), "proved fact"),
        count(p.steps.len(), "step"),
        count(all, "step"),
    ))?;
    let chains = p
        .lemmas
        .iter()
        .map(|l| (format!("lemma {}", l.name), &l.steps))
        .chain(
            p.haves
                .iter()
                .enumerate()
                .map(|(k, h)| (format!("have {}", k + 1), &h.steps)),
        )
        .chain(std::iter::once(("the proof".to_string(), &p.steps)));
    let mut items: Vec<Vec<Span>> = Vec::new();
    for (chain, steps) in chains {
        for (k, s) in steps.iter().enumerate() {
            let label = step_label(&s.rule, s.direction, s.subst.as_ref(), n);
            // Only the steps with something beyond their rule's name.
            if label.len() > step_label(&s.rule, s.direction, None, n).len() {
                let mut item = vec![Span::text(format!("{chain}, step {}: ", k + 1))];
                item.extend(label);
                items.push(item);
            }
        }
    }
    if !items.is_empty() {
        page.text("Side conditions and lemma instances, step by step:")?;
        page.list(&items)?;
    }
    page.text("Rules:")?;
    rule_legend(page, p)?;
    verdict(page, p)
}

fn step_label(rule: &str, dir: Direction, subst: Option<&rules::Subst>, n: &Notation) -> Vec<Span> {
    let mut spans = vec![Span::code(rule)];
    if dir == Direction::Backward {
        spans.push(Span::text(" (right to left)"));
    }
    if let (Some(r), Some(subst)) = (rules::get(rule), subst) {
        for c in &r.conds {
            if let Some(mut c) = cond(c, subst, n) {
                spans.push(Span::text(", "));
                spans.append(&mut c);
            }
        }
    }
    if let (Some(_), Some(subst)) = (crate::kernel::lemma_name(rule), subst) {
        let (axes, exprs) = super::lemma_instance(subst);
        for (k, a) in axes {
            spans.push(Span::text(format!(", {k} := {a}")));
        }
        for (k, e) in exprs {
            spans.push(Span::text(format!(", {k} := ")));
            spans.push(Span::Math(layout(e, n)));
        }
    }
    spans
}

fn cond(c: &Cond, subst: &rules::Subst, n: &Notation) -> Option<Vec<Span>> {
    let e = |v: &str| match subst.get(v) {
        Some(Binding::Expr(e)) => Some(layout(e, n)),
        _ => None,
    };
    let zero = || Node::Num("0".into());
    Some(match c {
        Cond::Pos(v) => vec![Span::Math(Node::rel(e(v)?, Op::Gt, zero()))],
        Cond::NonNeg(v) => vec![Span::Math(Node::rel(e(v)?, Op::Ge, zero()))],
        Cond::NonZero(v) => vec![Span::Math(Node::rel(e(v)?, Op::Ne, zero()))],
        Cond::Const(_) | Cond::Int(_) => return None,
        Cond::Ge(a, b) => vec![Span::Math(Node::rel(e(a)?, Op::Ge, e(b)?))],
        Cond::Indep(v, i) => {
            let axes = match subst.get(*i) {
                Some(Binding::Axes(a)) => a.join(", "),
                _ => return None,
            };
            vec![
                Span::Math(e(v)?),
                Span::text(format!(" constant along {axes}")),
            ]
        }
    })
}

/// A double-checked counterexample: sizes, values, both sides.
pub fn counterexample<W: Write>(
    page: &mut Page<'_, W>,
    c: &Counterexample,
    n: &Notation,
) -> fmt::Result {
    let enclosed = matches!(c.lhs, Value::Interval(..)) || matches!(c.rhs, Value::Interval(..));
    page.para(&[
        Span::Strong("Counterexample".into()),
        Span::text(if enclosed {
            " (double-checked; decided by rigorous interval bounds)"
        } else {
            " (double-checked exactly)"
        }),
    ])?;
    let mut items: Vec<Vec<Span>> = Vec::new();
    if !c.sizes.is_empty() {
        let sizes = crate::syntax::order::axis_items(&c.sizes);
        items.push(vec![
            Span::text("axis sizes: "),
            Span::code(sizes.join(", ")),
        ]);
    }
    for (name, t) in &c.values {
        // Axes and values in the order in force (the layout of the symbol
        // orders its axes the same way).
        let (_, shown) = super::text::array_parts(name, t, &c.sizes);
        let sym = Symbol {
            name: name.clone(),
            axes: t.axes.clone(),
        };
        items.push(vec![
            Span::Math(layout(&Expr::Sym(sym), n)),
            Span::text(" = "),
            Span::code(shown),
        ]);
    }
    if !c.index.is_empty() {
        let at = crate::syntax::order::axis_items(&c.index);
        items.push(vec![
            Span::text("the sides differ at "),
            Span::code(at.join(", ")),
        ]);
    }
    let (l, r) = super::text::value_pair_text(&c.lhs, &c.rhs);
    items.push(vec![Span::text("left side = "), Span::code(l)]);
    items.push(vec![Span::text("right side = "), Span::code(r)]);
    page.list(&items)
}

/// What `prove` found, as a document: the proof, the counterexample, or
/// which limit stopped the search.
pub fn outcome<W: Write>(
    page: &mut Page<'_, W>,
    st: &Statement,
    assumptions: &[Assumption],
    outcome: &Outcome,
    n: &Notation,
) -> fmt::Result {
    match outcome {
        Outcome::Proved(p) => {
            page.heading(1, "Proved", None)?;
            proof(page, p, n)
        }
        Outcome::Refuted(c) => {
            page.heading(1, "Refuted", None)?;
            refutation(page, st, assumptions, c, n)
        }
        Outcome::Unknown { reason } => {
            page.heading(1, "Unknown", None)?;
            page.para(&[
                Span::Math(equation(&st.lhs, &st.rhs, n)),
                Span::text(format!(": neither proved nor refuted ({reason}).")),
            ])
        }
    }
}

/// `lhs ≠ rhs` (although the assumptions hold) and the counterexample.
pub fn refutation<W: Write>(
    page: &mut Page<'_, W>,
    st: &Statement,
    assumptions: &[Assumption],
    c: &Counterexample,
    n: &Notation,
) -> fmt::Result {
    let mut spans = vec![
        Span::text("Refuted: "),
        Span::Math(Node::rel(layout(&st.lhs, n), Op::Ne, layout(&st.rhs, n))),
    ];
    if !assumptions.is_empty() {
        spans.push(Span::text(" although "));
        spans.extend(math_list(
            assumptions.iter().map(|a| assumption(a, n)).collect(),
        ));
    }
    spans.push(Span::text("."));
    page.para(&spans)?;
    counterexample(page, c, n)
}

//! `bnproof check-derivation`: a derivation written one step per line
//! (`show EXPR` then `= EXPR` lines, after the model lines it needs) graded
//! step by step. Each step is checked against the line before it: `ok` with
//! a kernel-checked proof, `wrong` with a double-checked counterexample and
//! the residual "this line minus the previous one", or `unknown`.
//!
//! Verdicts come from step, node, iteration and sample limits, never from
//! the clock: the time limit is only a safety net, and a step it stopped is
//! marked as such.

use crate::derive;
use crate::diff::{self, Derivation};
use crate::ir::{Assumption, Expr, Symbol};
use crate::kernel::Proof;
use crate::prove::{self, Options};
use crate::refute::{self, Counterexample, RefuteOptions, RefuteOutcome};
use crate::syntax::{self, Model};
use std::collections::BTreeSet;
use std::fmt::{self, Write};
use std::time::{Duration, Instant};

/// The verdict on one step.
#[derive(Clone, Debug)]
pub enum StepVerdict {
    /// Proved equal to the previous line; the kernel checked the proof.
    Ok(Proof),
    /// Not equal: a double-checked counterexample, and `this − previous`
    /// in a simpler form with a kernel-checked proof when one was found.
    Wrong {
        counterexample: Box<Counterexample>,
        residual: Option<(Expr, Box<Proof>)>,
    },
    /// Neither within the limits. `clock`: the safety-net time limit
    /// stopped the search (the verdict may then depend on the machine).
    Unknown { reason: String, clock: bool },
}

impl StepVerdict {
    pub fn word(&self) -> &'static str {
        match self {
            StepVerdict::Ok(_) => "ok",
            StepVerdict::Wrong { .. } => "wrong",
            StepVerdict::Unknown { .. } => "unknown",
        }
    }
}

/// One graded step: line `line` claimed equal to line `previous`.
#[derive(Clone, Debug)]
pub struct Step {
    pub line: usize,
    pub text: String,
    pub previous: usize,
    pub previous_text: String,
    pub verdict: StepVerdict,
    pub elapsed: Duration,
}

/// Every step of every chain of a file.
#[derive(Clone, Debug)]
pub struct Grade {
    pub steps: Vec<Step>,
    pub chains: usize,
    /// The model's declared axis order of each array, for showing values.
    pub order: std::collections::BTreeMap<String, Vec<String>>,
    /// The model's axes in `axis`-line order (for the other arrays).
    pub axes: Vec<String>,
}

impl Grade {
    pub fn wrong(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.verdict, StepVerdict::Wrong { .. }))
    }

    pub fn unknown(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.verdict, StepVerdict::Unknown { .. }))
    }
}

/// Why a file could not be graded (bad input).
#[derive(Debug)]
pub struct GradeError(pub String);

impl fmt::Display for GradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GradeError {}

/// Samples of the counterexample search per step (no deadline).
const SAMPLES: usize = 64;
/// The e-graph's limits per step, and the safety net.
const NODE_LIMIT: usize = 20_000;
const ITER_LIMIT: usize = 12;
const RING_WORK: u64 = 50_000;
const SAFETY_NET: Duration = Duration::from_secs(20);

impl Grade {
    /// The model's declared axis order, in which everything is shown.
    pub fn axis_order(&self) -> crate::syntax::order::AxisOrder {
        crate::syntax::order::AxisOrder {
            axes: self.axes.clone(),
            symbols: self.order.clone(),
        }
    }
}

/// Grade every chain of `model`.
pub fn grade(model: &Model) -> Result<Grade, GradeError> {
    if model.chains.is_empty() {
        return Err(GradeError(
            "the file has no derivation to check: write `show EXPRESSION` followed by \
             `= EXPRESSION` lines, one step per line"
                .into(),
        ));
    }
    let mut uses_grad = BTreeSet::new();
    for c in &model.chains {
        for (e, line, _) in &c.lines {
            let mut syms = BTreeSet::new();
            e.symbols(&mut syms);
            if syms.iter().any(|s| syntax::grad_target(s).is_some()) {
                uses_grad.insert(*line);
            }
        }
    }
    // The derivation, when a step speaks of gradients (or adjoint names).
    let derivation: Option<Derivation> = if model.outputs.is_empty() {
        if let Some(line) = uses_grad.first() {
            return Err(GradeError(format!(
                "line {line}: `grad` needs the model's output: add a line such as `output y`"
            )));
        }
        None
    } else {
        Some(diff::derive(model).map_err(|e| GradeError(format!("cannot differentiate: {e}")))?)
    };
    let definitions: Vec<(Symbol, Expr)> = match &derivation {
        Some(d) => d.all_definitions(model),
        None => model
            .defs
            .iter()
            .map(|(n, e)| (Symbol::new(n.clone(), e.free_axes()), e.clone()))
            .collect(),
    };
    let mut steps = Vec::new();
    for chain in &model.chains {
        let resolve = |e: &Expr| match &derivation {
            Some(d) => diff::subst(e, &derive::grad_map(d, [e])),
            None => e.clone(),
        };
        for pair in chain.lines.windows(2) {
            let (prev, prev_line, prev_text) = &pair[0];
            let (cur, line, text) = &pair[1];
            let start = Instant::now();
            let verdict = step(
                &resolve(prev),
                &resolve(cur),
                &definitions,
                model.defs.len(),
                &model.assumptions,
            );
            steps.push(Step {
                line: *line,
                text: text.clone(),
                previous: *prev_line,
                previous_text: prev_text.clone(),
                verdict,
                elapsed: start.elapsed(),
            });
        }
    }
    Ok(Grade {
        steps,
        chains: model.chains.len(),
        order: model.declared_axes.clone(),
        axes: model.axes.clone(),
    })
}

/// `prev = cur`: over the names, then inlined by normal forms, then a
/// counterexample search bounded by samples, then the e-graph bounded by
/// nodes, iterations and ring work.
fn step(
    prev: &Expr,
    cur: &Expr,
    definitions: &[(Symbol, Expr)],
    model_defs: usize,
    assumptions: &[Assumption],
) -> StepVerdict {
    if let Some(p) = crate::named::by_names(prev, cur, definitions, assumptions) {
        return StepVerdict::Ok(p);
    }
    let (stmt, inlined) = diff::inline_statement(prev, cur, assumptions, definitions);
    if let Some(p) = prove::by_normal_form(&stmt, &inlined) {
        return StepVerdict::Ok(p);
    }
    let search = RefuteOptions {
        seed: 0,
        samples: SAMPLES,
        max_axis_size: 3,
        deadline: None,
    };
    if let RefuteOutcome::Refuted(c) = refute::refute(&stmt, &inlined, &search) {
        return StepVerdict::Wrong {
            counterexample: Box::new(c),
            residual: residual(prev, cur, definitions, model_defs, assumptions),
        };
    }
    let opts = Options {
        node_limit: NODE_LIMIT,
        iter_limit: ITER_LIMIT,
        timeout: SAFETY_NET,
        ring_work: Some(RING_WORK),
        ..Options::default()
    };
    let (res, stats) = prove::search(&stmt, &inlined, &opts);
    match res {
        Ok(p) => StepVerdict::Ok(p),
        Err(reason) => StepVerdict::Unknown {
            clock: stats.stop.starts_with("time limit") || reason.starts_with("time limit"),
            reason: format!("no proof ({reason}) and no counterexample in {SAMPLES} exact samples"),
        },
    }
}

/// `cur − prev` in a normal form, with a proof that it is that difference;
/// `None` when none is in reach. Candidates: the ring, linear and field
/// normal forms over every name of the file, and with the derivation's own
/// names (`dvar`, `m`, …; the definitions from `model_defs` on)
/// substituted; the shortest is shown.
fn residual(
    prev: &Expr,
    cur: &Expr,
    definitions: &[(Symbol, Expr)],
    model_defs: usize,
    assumptions: &[Assumption],
) -> Option<(Expr, Box<Proof>)> {
    residual_in(prev, cur, definitions, model_defs, assumptions, false)
}

/// The residual of a step; with `model_names_only`, only forms that use none of the
/// derivation's own names (the derivation's names inlined), so that the
/// difference reads in the model's names.
pub fn residual_in(
    prev: &Expr,
    cur: &Expr,
    definitions: &[(Symbol, Expr)],
    model_defs: usize,
    assumptions: &[Assumption],
    model_names_only: bool,
) -> Option<(Expr, Box<Proof>)> {
    let diff = Expr::sub(cur.clone(), prev.clone());
    let program = &definitions[model_defs.min(definitions.len())..];
    let inlined = diff::inline_defs(&diff, program);
    let candidates = if model_names_only {
        vec![inlined]
    } else {
        vec![diff.clone(), inlined]
    };
    let facts = crate::sign::Facts::new(assumptions);
    let checks = crate::sign::field_checks(&facts);
    let mut forms: Vec<(usize, Expr)> = candidates
        .iter()
        .flat_map(|c| {
            // Ring form, linear form (means as sums over counts), and field
            // form (factors the assumptions prove non-zero cancel).
            let linear = crate::ring::normalize_with(c, &crate::ring::Mode::LINEAR)
                .ok()
                .map(|p| crate::ring::to_expr(&p));
            let field = crate::ring::normalize_with(c, &checks.mode())
                .ok()
                .map(|p| crate::ring::to_expr(&p));
            [crate::ring::canonical(c).ok(), linear, field]
        })
        .flatten()
        .map(|r| (syntax::print(&r).len(), r))
        .collect();
    // Forms in the model's names (x̂, σ², …) where the change of variables
    // and the normal form find one.
    let split = model_defs.min(definitions.len());
    forms.extend(
        crate::simplify::in_names(&diff, &definitions[..split], program, assumptions, &[])
            .into_iter()
            .map(|r| (syntax::print(&r).len(), r)),
    );
    forms.sort_by_key(|(n, _)| *n);
    forms.into_iter().find_map(|(_, r)| {
        let p = crate::named::by_names(&diff, &r, definitions, assumptions)?;
        Some((r, Box::new(p)))
    })
}

/// The grade as text: one line per step, and the evidence under each step
/// that is not ok.
pub fn write_text(out: &mut impl Write, g: &Grade) -> fmt::Result {
    let _order = g.axis_order().enter();
    for s in &g.steps {
        let rules = match &s.verdict {
            StepVerdict::Ok(p) => {
                let mut names: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
                names.dedup();
                if names.is_empty() {
                    " (the same expression)".to_string()
                } else {
                    format!(" ({})", names.join(", "))
                }
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "line {:>3}  {:<7} = {}{rules}",
            s.line,
            s.verdict.word(),
            s.text
        )?;
        match &s.verdict {
            StepVerdict::Ok(_) => {}
            StepVerdict::Wrong {
                counterexample,
                residual,
            } => {
                writeln!(
                    out,
                    "           not equal to the previous expression (line {}):",
                    s.previous
                )?;
                let mut cx = String::new();
                crate::render::text::counterexample_text(&mut cx, counterexample)?;
                for l in cx.lines() {
                    writeln!(out, "           {l}")?;
                }
                if let Some((r, _)) = residual {
                    writeln!(
                        out,
                        "           this line minus the previous one = {} (kernel-checked)",
                        syntax::print(r)
                    )?;
                }
            }
            StepVerdict::Unknown { reason, clock } => {
                writeln!(out, "           {reason}")?;
                if *clock {
                    writeln!(
                        out,
                        "           (stopped by the {} s safety net, not by a limit: split the step)",
                        SAFETY_NET.as_secs()
                    )?;
                } else {
                    writeln!(
                        out,
                        "           split the step into smaller ones, each checkable on its own"
                    )?;
                }
            }
        }
    }
    let count = |w: &str| g.steps.iter().filter(|s| s.verdict.word() == w).count();
    writeln!(
        out,
        "\n{} steps in {} derivation{}: {} ok, {} wrong, {} unknown",
        g.steps.len(),
        g.chains,
        if g.chains == 1 { "" } else { "s" },
        count("ok"),
        count("wrong"),
        count("unknown")
    )
}

/// The grade as JSON: `{"steps": [{"line", "previous", "verdict", …}]}`.
pub fn to_json(g: &Grade) -> serde_json::Value {
    let _order = g.axis_order().enter();
    let steps: Vec<serde_json::Value> = g
        .steps
        .iter()
        .map(|s| {
            let mut o = serde_json::json!({
                "line": s.line,
                "previous": s.previous,
                "expr": s.text,
                "verdict": s.verdict.word(),
                "seconds": s.elapsed.as_secs_f64(),
            });
            match &s.verdict {
                StepVerdict::Ok(p) => {
                    o["rules"] = p.steps.iter().map(|s| s.rule.clone()).collect();
                    o["certificate"] = serde_json::to_value(crate::cert::to_certificate(p, true)).unwrap_or_default();
                }
                StepVerdict::Wrong {
                    counterexample,
                    residual,
                } => {
                    o["counterexample"] = crate::cert::counterexample_json(counterexample);
                    if let Some((r, p)) = residual {
                        o["residual"] = serde_json::json!({
                            "expr": syntax::print(r),
                            "certificate": serde_json::to_value(crate::cert::to_certificate(p, true)).unwrap_or_default(),
                        });
                    }
                }
                StepVerdict::Unknown { reason, clock } => {
                    o["reason"] = reason.clone().into();
                    o["safety_net"] = (*clock).into();
                }
            }
            o
        })
        .collect();
    serde_json::json!({ "steps": steps, "chains": g.chains })
}

/// The grade as a page (Markdown or HTML): a table of steps, then the
/// evidence for every step that is not ok.
pub fn page<W: Write>(
    page: &mut crate::render::page::Page<'_, W>,
    name: &str,
    g: &Grade,
) -> fmt::Result {
    use crate::render::page::Span;
    let _order = g.axis_order().enter();
    page.heading(1, &format!("Graded derivation: {name}"), None)?;
    let rows: Vec<Vec<Vec<Span>>> = g
        .steps
        .iter()
        .map(|s| {
            let why = match &s.verdict {
                StepVerdict::Ok(p) => {
                    let mut names: Vec<&str> = p.steps.iter().map(|s| s.rule.as_str()).collect();
                    names.dedup();
                    names.join(", ")
                }
                StepVerdict::Wrong { .. } => format!("does not equal line {}", s.previous),
                StepVerdict::Unknown { .. } => "neither proved nor refuted".to_string(),
            };
            vec![
                vec![Span::text(s.line.to_string())],
                vec![Span::Strong(s.verdict.word().to_string())],
                vec![Span::code(format!("= {}", s.text))],
                vec![Span::text(why)],
            ]
        })
        .collect();
    page.table(&["line", "verdict", "step", "why"], &rows)?;
    for s in &g.steps {
        let mut detail = String::new();
        match &s.verdict {
            StepVerdict::Ok(_) => continue,
            StepVerdict::Wrong {
                counterexample,
                residual,
            } => {
                crate::render::text::counterexample_text(&mut detail, counterexample)?;
                if let Some((r, _)) = residual {
                    writeln!(
                        detail,
                        "this line minus the previous one = {} (kernel-checked)",
                        syntax::print(r)
                    )?;
                }
            }
            StepVerdict::Unknown { reason, .. } => writeln!(detail, "{reason}")?,
        }
        page.heading(2, &format!("Line {}: {}", s.line, s.verdict.word()), None)?;
        page.pre(&detail)?;
    }
    Ok(())
}

//! The proof kernel: the trusted core.
//!
//! It knows nothing about egg or the prover (a test enforces this). A proof is
//! a chain of expressions from the statement's left side to its right side;
//! each step rewrites one subterm, at a stated position, either by a named
//! rule of [`crate::rules`] (matched here, side conditions re-established
//! here from the proof's own assumptions) or by `ring` (both subterms have
//! the same commutative-ring normal form, [`crate::ring`]). The kernel fails
//! closed and names the failing step.

use crate::ir::{Assumption, Expr, Path, Statement};
use crate::ring;
use crate::rules::{self, Binding, Cond, Subst};
use crate::sign::{self, Facts};
use std::fmt;

/// Which way a named rule was used: `Forward` rewrites an instance of the
/// rule's left side into its right side, `Backward` the other way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// One step: the whole expression after the step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub expr: Expr,
    /// A rule name from [`crate::rules`], or `ring`.
    pub rule: String,
    pub direction: Direction,
    /// Path of child indices to the rewritten subterm.
    pub position: Path,
    /// The rule's substitution, when the certificate records it; the kernel
    /// recomputes it by matching and requires agreement.
    pub subst: Option<Subst>,
}

/// A proof of `statement` under `assumptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    pub statement: Statement,
    pub assumptions: Vec<Assumption>,
    pub steps: Vec<Step>,
}

/// Why the kernel rejected a proof. `step` is 1-based; 0 means the proof as a
/// whole (e.g. it does not end at the right side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    pub step: usize,
    pub message: String,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step == 0 {
            write!(f, "proof rejected: {}", self.message)
        } else {
            write!(f, "step {} rejected: {}", self.step, self.message)
        }
    }
}

impl std::error::Error for KernelError {}

/// Deepest expression the kernel walks; deeper input is rejected rather than
/// risking the stack.
pub const MAX_DEPTH: usize = crate::syntax::MAX_DEPTH;

/// Check a proof. `Ok(())` only if every step is valid and the chain runs
/// from `statement.lhs` to `statement.rhs`.
pub fn check(proof: &Proof) -> Result<(), KernelError> {
    let whole = |message: String| KernelError { step: 0, message };
    for e in [&proof.statement.lhs, &proof.statement.rhs]
        .into_iter()
        .chain(proof.assumptions.iter().map(|a| &a.expr))
        .chain(proof.steps.iter().map(|s| &s.expr))
    {
        if e.depth() > MAX_DEPTH {
            return Err(whole(format!(
                "an expression is nested deeper than {MAX_DEPTH}"
            )));
        }
        if !e.is_ground() {
            return Err(whole("an expression contains a pattern variable".into()));
        }
    }
    let facts = Facts::new(&proof.assumptions);
    // One set of field checks for the whole proof: their answers depend on
    // the assumptions only, and large proofs ask the same questions again.
    let checks = sign::field_checks(&facts);
    let mut current = &proof.statement.lhs;
    for (k, step) in proof.steps.iter().enumerate() {
        check_step(current, step, &facts, &checks).map_err(|message| KernelError {
            step: k + 1,
            message,
        })?;
        current = &step.expr;
    }
    if *current != proof.statement.rhs {
        return Err(whole(
            "the last expression is not the statement's right-hand side".into(),
        ));
    }
    Ok(())
}

fn check_step(
    before: &Expr,
    step: &Step,
    facts: &Facts,
    checks: &ring::FieldChecks,
) -> Result<(), String> {
    let pos = &step.position;
    let old = before
        .at(pos)
        .ok_or_else(|| format!("position {pos:?} does not exist in the previous expression"))?;
    let new = step
        .expr
        .at(pos)
        .ok_or_else(|| format!("position {pos:?} does not exist in the step's expression"))?;
    // Everything outside the rewritten subterm must be unchanged.
    if before.replace_at(pos, new.clone()).as_ref() != Some(&step.expr) {
        return Err(format!(
            "the step changes the expression outside position {pos:?}"
        ));
    }
    if rules::normal_form_step(&step.rule).is_some() {
        if step.subst.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(format!("a {} step takes no substitution", step.rule));
        }
        checks.reset_seen();
        let mode = match step.rule.as_str() {
            "ring" => ring::Mode::RING,
            "linear" => ring::Mode::LINEAR,
            _ => checks.mode(),
        };
        let same = ring::normalize_with(old, &mode).and_then(|a| {
            let b = ring::normalize_with(new, &mode)?;
            // `field` may also clear denominators proven non-zero.
            Ok(a == b
                || (step.rule == "field" && ring::clears_to_zero(&a.plus(&b.negate())?, &mode)?))
        });
        return match same {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "the two sides do not have the same {} normal form",
                step.rule
            )),
            Err(e) => Err(format!("normalization refused: {e}")),
        };
    }
    let rule = rules::get(&step.rule).ok_or_else(|| format!("unknown rule {:?}", step.rule))?;
    let (from, to) = match step.direction {
        Direction::Forward => (&rule.lhs, &rule.rhs),
        Direction::Backward => (&rule.rhs, &rule.lhs),
    };
    let mut subst = Subst::new();
    if !rules::match_pattern(from, old, &mut subst) {
        return Err(format!(
            "the rewritten subterm is not an instance of the {} side of rule {}",
            if step.direction == Direction::Forward {
                "left"
            } else {
                "right"
            },
            rule.name
        ));
    }
    if !rules::match_pattern(to, new, &mut subst) {
        return Err(format!(
            "the result is not the corresponding instance of rule {}",
            rule.name
        ));
    }
    if let Some(given) = &step.subst {
        if *given != subst {
            return Err(format!(
                "the recorded substitution does not agree with the match of rule {}",
                rule.name
            ));
        }
    }
    for cond in &rule.conds {
        check_cond(cond, &subst, facts).map_err(|m| {
            format!(
                "side condition {} of rule {}: {m}",
                cond.describe(),
                rule.name
            )
        })?;
    }
    Ok(())
}

fn bound_expr<'a>(subst: &'a Subst, v: &str) -> Result<&'a Expr, String> {
    match subst.get(v) {
        Some(Binding::Expr(e)) => Ok(e),
        _ => Err(format!("?{v} is not bound to an expression")),
    }
}

fn check_cond(cond: &Cond, subst: &Subst, facts: &Facts) -> Result<(), String> {
    let ok = match cond {
        Cond::Pos(v) => sign::is_pos(bound_expr(subst, v)?, facts),
        Cond::NonNeg(v) => sign::is_nonneg(bound_expr(subst, v)?, facts),
        Cond::NonZero(v) => sign::is_nonzero(bound_expr(subst, v)?, facts),
        Cond::Const(v) => bound_expr(subst, v)?.const_value().is_some(),
        Cond::Indep(v, i) => {
            let e = bound_expr(subst, v)?;
            let axes = match subst.get(*i) {
                Some(Binding::Axes(a)) => a,
                _ => return Err(format!("?{i} is not bound to axes")),
            };
            let free = e.free_axes();
            !axes.iter().any(|a| free.contains(a))
        }
    };
    if ok {
        Ok(())
    } else {
        Err("not established".into())
    }
}

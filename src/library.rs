//! The built-in theorem library: statements about batch statistics, each
//! with its source and the verdict bnproof must reach — true ones proved,
//! false neighbours refuted.

use crate::ir::{Assumption, Statement};
use crate::prove::{self, Options, Outcome, Stats};
use crate::syntax::{self, ParseError};
use std::time::{Duration, Instant};

/// The verdict a library entry expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Proved,
    Refuted,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Proved => "proved",
            Expect::Refuted => "refuted",
        }
    }
}

/// One library entry.
#[derive(Clone, Copy, Debug)]
pub struct Theorem {
    pub name: &'static str,
    pub source: &'static str,
    pub statement: &'static str,
    pub assume: &'static [&'static str],
    pub expect: Expect,
}

use Expect::*;

/// The library, in reading order.
pub const THEOREMS: &[Theorem] = &[
    Theorem { name: "seed-eq1", source: "Ioffe & Szegedy 2015, Sec. 2, Eq. (1)", statement: "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]", assume: &[], expect: Proved },
    Theorem { name: "mean-of-constant", source: "the seed question's comments: is E[Δb] = Δb?", statement: "mean[i](Δb) = Δb", assume: &[], expect: Proved },
    Theorem { name: "centred-mean-zero", source: "centering removes the mean", statement: "mean[i](x[i] − mean[i](x[i])) = 0", assume: &[], expect: Proved },
    Theorem { name: "centred-sum-zero", source: "why the second term of the paper's ∂ℓ/∂μ vanishes (Sec. 3)", statement: "sum[i](x[i] − mean[i](x[i])) = 0", assume: &[], expect: Proved },
    Theorem { name: "variance-moments", source: "σ² = E[x²] − E[x]²", statement: "mean[i]((x[i] − mean[i](x[i]))^2) = mean[i](x[i]^2) − mean[i](x[i])^2", assume: &[], expect: Proved },
    Theorem { name: "variance-shift", source: "a bias does not change the variance", statement: "var[i](x[i] + c) = var[i](x[i])", assume: &[], expect: Proved },
    Theorem { name: "variance-scale", source: "scaling scales the variance by the square", statement: "var[i](a * x[i]) = a^2 * var[i](x[i])", assume: &[], expect: Proved },
    Theorem { name: "bn-scale-invariance", source: "Ioffe & Szegedy 2015, Sec. 3.3, with ε scaled by a²", statement: "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i]) + a^2*eps) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]) + eps)", assume: &["a > 0"], expect: Proved },
    Theorem { name: "bn-scale-invariance-eps0", source: "Ioffe & Szegedy 2015, Sec. 3.3 (ε = 0)", statement: "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i])) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]))", assume: &["a > 0"], expect: Proved },
    Theorem { name: "seed-eq1-per-example", source: "Eq. (1) fails when Δb differs between examples", statement: "u[i] + (b + Δb[i]) − E[u[i] + (b + Δb[i])] = u[i] + b − E[u[i] + b]", assume: &[], expect: Refuted },
    Theorem { name: "bn-scale-invariance-eps-unscaled", source: "Sec. 3.3 is not exact with a fixed ε > 0", statement: "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i]) + eps) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]) + eps)", assume: &["a > 0", "eps > 0"], expect: Refuted },
    Theorem { name: "mean-of-product", source: "the mean is not multiplicative", statement: "mean[i](x[i] * y[i]) = mean[i](x[i]) * mean[i](y[i])", assume: &[], expect: Refuted },
    Theorem { name: "div-self-unguarded", source: "x/x = 1 needs x ≠ 0 (x/0 = 0)", statement: "x / x = 1", assume: &[], expect: Refuted },
    Theorem { name: "div-self", source: "field axiom", statement: "x / x = 1", assume: &["x != 0"], expect: Proved },
    Theorem { name: "sqrt-of-square-unguarded", source: "sqrt(a²) = |a|, not a", statement: "sqrt(a^2) = a", assume: &[], expect: Refuted },
    Theorem { name: "sqrt-of-square", source: "sqrt(a²) = a for a ≥ 0", statement: "sqrt(a^2) = a", assume: &["a >= 0"], expect: Proved },
];

/// A parsed entry.
pub fn parse(t: &Theorem) -> Result<(Statement, Vec<Assumption>), ParseError> {
    let stmt = syntax::parse_statement(t.statement)?;
    let assumptions = t
        .assume
        .iter()
        .map(|a| syntax::parse_assumption(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((stmt, assumptions))
}

/// The result of running one entry.
#[derive(Clone, Debug)]
pub struct Run {
    pub theorem: Theorem,
    pub outcome: Outcome,
    pub stats: Stats,
    pub elapsed: Duration,
}

impl Run {
    /// The verdict reached, as a word.
    pub fn verdict(&self) -> &'static str {
        match self.outcome {
            Outcome::Proved(_) => "proved",
            Outcome::Refuted(_) => "refuted",
            Outcome::Unknown { .. } => "unknown",
        }
    }
    /// Whether the verdict is the expected one.
    pub fn as_expected(&self) -> bool {
        self.verdict() == self.theorem.expect.as_str()
    }
}

/// Run one entry.
pub fn run(t: &Theorem, opts: &Options) -> Run {
    let start = Instant::now();
    let (outcome, stats) = match parse(t) {
        Ok((stmt, assumptions)) => prove::prove(&stmt, &assumptions, opts),
        Err(e) => (
            Outcome::Unknown {
                reason: format!("library entry does not parse: {e}"),
            },
            Stats::default(),
        ),
    };
    Run {
        theorem: *t,
        outcome,
        stats,
        elapsed: start.elapsed(),
    }
}

/// Look an entry up by name.
pub fn get(name: &str) -> Option<&'static Theorem> {
    THEOREMS.iter().find(|t| t.name == name)
}

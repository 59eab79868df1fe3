//! Proof certificates: JSON that anyone can re-check with the kernel alone
//! (`bnproof check-proof`). Every expression is stored as text in the input
//! syntax, so a certificate is readable and independent of bnproof's
//! internal data structures.

use crate::ir::{Assumption, Statement};
use crate::kernel::{self, Direction, Proof, Step};
use crate::rules::{self, Binding, Subst};
use crate::syntax;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Certificate format version: 1 has no definitions, 2 adds
/// `definitions`, `haves` and `lemmas`. Both are read.
pub const VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    pub version: u32,
    pub statement: CertStatement,
    pub assumptions: Vec<String>,
    /// Ordered definitions `name[axes] := body` (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub definitions: Vec<String>,
    /// Intermediate facts with their proofs, cited by `have K` (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub haves: Vec<CertHave>,
    /// Lemmas with their proofs, cited under a substitution by `lemma NAME`
    /// (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lemmas: Vec<CertLemma>,
    pub steps: Vec<CertStep>,
    /// The kernel's verdict when the certificate was written.
    pub checked: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertHave {
    pub statement: CertStatement,
    pub steps: Vec<CertStep>,
}

/// A lemma: a label, its statement and assumptions, and its proof (which
/// may cite only lemmas listed before it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertLemma {
    pub name: String,
    pub statement: CertStatement,
    #[serde(default)]
    pub assumptions: Vec<String>,
    pub steps: Vec<CertStep>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertStatement {
    pub lhs: String,
    pub rhs: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertStep {
    /// The whole expression after the step.
    pub expr: String,
    /// A rule name, or `ring`.
    pub rule: String,
    /// `forward` or `backward`.
    pub direction: String,
    /// Child indices from the root to the rewritten subterm.
    pub position: Vec<usize>,
    /// Variable bindings of the rule (axis variables as `[i, j]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitution: Option<BTreeMap<String, String>>,
    /// The rule's one-line justification (informational; not trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Why a certificate could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct CertError(pub String);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertError {}

/// Text of an assumption, as `--assume` takes it.
pub fn assumption_text(a: &Assumption) -> String {
    format!("{} {} 0", syntax::print(&a.expr), a.rel.as_str())
}

/// Text of a definition, `name[axes] := body`.
pub fn definition_text(s: &crate::ir::Symbol, body: &crate::ir::Expr) -> String {
    format!(
        "{} := {}",
        syntax::print(&crate::ir::Expr::Sym(s.clone())),
        syntax::print(body)
    )
}

/// The values of a sample as JSON: each tensor's entries as exact text,
/// row-major over its axes in the order in force
/// ([`crate::syntax::order`]: the declared order), nested one array level per
/// axis (`[["0", "1"], ["1", "-1"]]` for `x[n,d]`); a scalar as a
/// one-entry array.
pub fn values_json(
    values: &BTreeMap<String, crate::eval::Tensor>,
    sizes: &BTreeMap<String, usize>,
) -> serde_json::Value {
    values
        .iter()
        .map(|(k, t)| {
            let t = crate::syntax::order::shown_tensor(k, t, sizes);
            let data: Vec<serde_json::Value> =
                t.data.iter().map(|v| v.to_string().into()).collect();
            let dims: Vec<usize> = t
                .axes
                .iter()
                .map(|a| sizes.get(a).copied().unwrap_or(1))
                .collect();
            (k.clone(), nest_json(data, &dims))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn nest_json(data: Vec<serde_json::Value>, dims: &[usize]) -> serde_json::Value {
    match dims {
        [_, rest @ ..] if !rest.is_empty() => {
            let step: usize = rest.iter().product::<usize>().max(1);
            data.chunks(step)
                .map(|c| nest_json(c.to_vec(), rest))
                .collect::<Vec<_>>()
                .into()
        }
        _ => data.into(),
    }
}

/// The axes of each array of a sample in the order its values are nested
/// ([`values_json`]), and every axis in that order: the keys `axes` and
/// `axis_order` of a counterexample.
pub fn axes_json(
    values: &BTreeMap<String, crate::eval::Tensor>,
    sizes: &BTreeMap<String, usize>,
) -> (serde_json::Value, serde_json::Value) {
    let axes: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, t)| {
            let shown = crate::syntax::order::shown_symbol_axes(k, &t.axes);
            (k.clone(), serde_json::json!(shown))
        })
        .collect();
    let all: Vec<String> = sizes.keys().cloned().collect();
    (
        axes.into(),
        serde_json::json!(crate::syntax::order::shown_axes(&all)),
    )
}

/// A counterexample as JSON (`prove --format json`, `derive --format
/// json`): axis sizes, the values (nested per axis in the declared order,
/// which `axes` and `axis_order` give), the index where the sides differ and
/// both sides.
pub fn counterexample_json(c: &crate::refute::Counterexample) -> serde_json::Value {
    let (axes, axis_order) = axes_json(&c.values, &c.sizes);
    serde_json::json!({
        "sizes": c.sizes,
        "axis_order": axis_order,
        "axes": axes,
        "values": values_json(&c.values, &c.sizes),
        "index": c.index,
        "lhs": c.lhs.to_string(),
        "rhs": c.rhs.to_string(),
    })
}

/// The certificate of a proof (version 1 when it has no definitions, so
/// that older readers take it).
pub fn to_certificate(proof: &Proof, checked: bool) -> Certificate {
    // Certificates print canonically (sorted axes), whatever order the
    // surrounding rendering shows: they do not depend on who wrote them.
    let _canonical = crate::syntax::order::canonical();
    Certificate {
        version: if proof.definitions.is_empty()
            && proof.haves.is_empty()
            && proof.lemmas.is_empty()
        {
            1
        } else {
            VERSION
        },
        statement: statement_text(&proof.statement),
        assumptions: proof.assumptions.iter().map(assumption_text).collect(),
        definitions: proof
            .definitions
            .iter()
            .map(|(s, b)| definition_text(s, b))
            .collect(),
        haves: proof
            .haves
            .iter()
            .map(|h| CertHave {
                statement: statement_text(&h.statement),
                steps: h.steps.iter().map(step_text).collect(),
            })
            .collect(),
        lemmas: proof
            .lemmas
            .iter()
            .map(|l| CertLemma {
                name: l.name.clone(),
                statement: statement_text(&l.statement),
                assumptions: l.assumptions.iter().map(assumption_text).collect(),
                steps: l.steps.iter().map(step_text).collect(),
            })
            .collect(),
        steps: proof.steps.iter().map(step_text).collect(),
        checked,
    }
}

fn statement_text(s: &Statement) -> CertStatement {
    CertStatement {
        lhs: syntax::print(&s.lhs),
        rhs: syntax::print(&s.rhs),
    }
}

fn step_text(s: &Step) -> CertStep {
    CertStep {
        expr: syntax::print(&s.expr),
        rule: s.rule.clone(),
        direction: s.direction.as_str().into(),
        position: s.position.clone(),
        substitution: s.subst.as_ref().map(|m| {
            m.iter()
                .map(|(k, b)| {
                    let v = match b {
                        Binding::Expr(e) => syntax::print(e),
                        Binding::Axes(a) => format!("[{}]", a.join(", ")),
                    };
                    (k.clone(), v)
                })
                .collect()
        }),
        why: if kernel::def_name(&s.rule).is_some() {
            Some("a name replaced by its definition, or back".to_string())
        } else if kernel::have_index(&s.rule).is_some() {
            Some("a fact proved earlier in this certificate".to_string())
        } else if kernel::lemma_name(&s.rule).is_some() {
            Some("an instance of a lemma proved in this certificate".to_string())
        } else {
            rules::get(&s.rule).map(|r| r.why.to_string())
        },
    }
}

/// Read a certificate back into a proof (parsing every expression).
pub fn from_certificate(c: &Certificate) -> Result<Proof, CertError> {
    if c.version == 0 || c.version > VERSION {
        return Err(CertError(format!(
            "certificate version {} is not supported (expected 1 to {VERSION})",
            c.version
        )));
    }
    if c.version == 1 && !(c.definitions.is_empty() && c.haves.is_empty() && c.lemmas.is_empty()) {
        return Err(CertError(
            "a version 1 certificate has no definitions, haves or lemmas".into(),
        ));
    }
    let parse = |what: &str, src: &str| {
        syntax::parse_expr(src).map_err(|e| CertError(format!("{what}: cannot parse {src:?}: {e}")))
    };
    let statement = Statement {
        lhs: parse("statement lhs", &c.statement.lhs)?,
        rhs: parse("statement rhs", &c.statement.rhs)?,
    };
    let assumptions = c
        .assumptions
        .iter()
        .map(|a| {
            syntax::parse_assumption(a).map_err(|e| CertError(format!("assumption {a:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut definitions = Vec::new();
    for d in &c.definitions {
        let Some((name, body)) = d.split_once(":=") else {
            return Err(CertError(format!(
                "definition {d:?}: expected `name[axes] := body`"
            )));
        };
        let sym = match parse("definition name", name)? {
            crate::ir::Expr::Sym(s) => s,
            _ => {
                return Err(CertError(format!(
                    "definition {d:?}: the left side is not a name"
                )))
            }
        };
        definitions.push((
            sym,
            parse(&format!("definition of {}", sym_name(name)), body)?,
        ));
    }
    let mut haves = Vec::new();
    for (h, have) in c.haves.iter().enumerate() {
        let what = format!("have {}", h + 1);
        haves.push(kernel::Have {
            statement: Statement {
                lhs: parse(&format!("{what} lhs"), &have.statement.lhs)?,
                rhs: parse(&format!("{what} rhs"), &have.statement.rhs)?,
            },
            steps: read_steps(&what, &have.steps)?,
        });
    }
    let mut lemmas = Vec::new();
    for l in &c.lemmas {
        let what = format!("lemma {}", l.name);
        lemmas.push(kernel::Lemma {
            name: l.name.clone(),
            statement: Statement {
                lhs: parse(&format!("{what} lhs"), &l.statement.lhs)?,
                rhs: parse(&format!("{what} rhs"), &l.statement.rhs)?,
            },
            assumptions: l
                .assumptions
                .iter()
                .map(|a| {
                    syntax::parse_assumption(a)
                        .map_err(|e| CertError(format!("{what}, assumption {a:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            steps: read_steps(&what, &l.steps)?,
        });
    }
    let steps = read_steps("", &c.steps)?;
    Ok(Proof {
        statement,
        assumptions,
        steps,
        definitions,
        haves,
        lemmas,
    })
}

/// The steps of a chain; `chain` names it in messages ("" for the proof's
/// own steps).
fn read_steps(chain: &str, list: &[CertStep]) -> Result<Vec<Step>, CertError> {
    let parse = |what: &str, src: &str| {
        syntax::parse_expr(src).map_err(|e| CertError(format!("{what}: cannot parse {src:?}: {e}")))
    };
    let mut steps = Vec::new();
    for (k, s) in list.iter().enumerate() {
        let what = if chain.is_empty() {
            format!("step {}", k + 1)
        } else {
            format!("{chain}, step {}", k + 1)
        };
        let direction = match s.direction.as_str() {
            "forward" => Direction::Forward,
            "backward" => Direction::Backward,
            d => {
                return Err(CertError(format!(
                    "{what}: direction {d:?} is neither forward nor backward"
                )))
            }
        };
        let subst = match &s.substitution {
            None => None,
            Some(m) => {
                let mut out = Subst::new();
                for (var, text) in m {
                    let b = match text
                        .trim()
                        .strip_prefix('[')
                        .and_then(|t| t.strip_suffix(']'))
                    {
                        Some(list) => {
                            let mut axes: Vec<String> =
                                list.split(',').map(|a| a.trim().to_string()).collect();
                            axes.sort();
                            Binding::Axes(axes)
                        }
                        None => Binding::Expr(parse(&format!("{what}, ?{var}"), text)?),
                    };
                    out.insert(var.clone(), b);
                }
                Some(out)
            }
        };
        steps.push(Step {
            expr: parse(&what, &s.expr)?,
            rule: s.rule.clone(),
            direction,
            position: s.position.clone(),
            subst,
        });
    }
    Ok(steps)
}

fn sym_name(text: &str) -> &str {
    text.trim().split('[').next().unwrap_or("").trim()
}

/// Parse and re-check a certificate with the kernel alone.
pub fn check_json(text: &str) -> Result<Proof, CertError> {
    let c: Certificate =
        serde_json::from_str(text).map_err(|e| CertError(format!("malformed certificate: {e}")))?;
    check_certificate(&c)
}

/// Re-check one parsed certificate with the kernel alone.
pub fn check_certificate(c: &Certificate) -> Result<Proof, CertError> {
    let proof = from_certificate(c)?;
    kernel::check(&proof).map_err(|e| CertError(e.to_string()))?;
    Ok(proof)
}

/// What a `check-proof` file holds: one certificate (`prove --format
/// json`), or a derivation (`derive --format json`) whose `proofs` carry
/// certificates.
#[derive(Debug)]
pub enum CertFile {
    One(Box<Certificate>),
    /// `(title, certificate)` of every proof that has one.
    Derivation(Vec<(String, Certificate)>),
}

/// Read a certificate file (a leading byte-order mark is allowed).
pub fn read_file(text: &str) -> Result<CertFile, CertError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CertError(format!("malformed certificate: {e}")))?;
    if let Some(proofs) = v.get("proofs").and_then(|p| p.as_array()) {
        let mut out = Vec::new();
        for (k, p) in proofs.iter().enumerate() {
            let title = p
                .get("title")
                .and_then(|t| t.as_str())
                .map_or_else(|| format!("proof {}", k + 1), str::to_string);
            match p.get("certificate") {
                None | Some(serde_json::Value::Null) => continue,
                Some(c) => {
                    let c: Certificate = serde_json::from_value(c.clone()).map_err(|e| {
                        CertError(format!("malformed certificate of {title:?}: {e}"))
                    })?;
                    out.push((title, c));
                }
            }
        }
        return Ok(CertFile::Derivation(out));
    }
    let c: Certificate =
        serde_json::from_value(v).map_err(|e| CertError(format!("malformed certificate: {e}")))?;
    Ok(CertFile::One(Box::new(c)))
}

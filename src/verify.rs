//! `bnproof verify`: numeric cross-check of every derived gradient (and
//! every gradient claim) with the oracles of [`crate::oracle`], which
//! evaluate the forward pass themselves and never use the differentiation
//! code: exact directional derivatives over rationals (no tolerance) and f64
//! central finite differences.

use crate::diff;
use crate::ir::Expr;
use crate::models::Loaded;
use crate::oracle::{self, fd, sample, OracleError};
use crate::syntax::Model;
use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// A numeric backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Exact rationals: `⟨grad, v⟩ = d/dt ℓ(x + t v)` with no tolerance.
    Exact,
    /// f64 central finite differences (step 1e-6, atol 1e-5, rtol 1e-3).
    F64,
    /// LibTorch autograd through `tch` (feature `torch`): native op and
    /// composed ops against the symbolic results in f64 ([`crate::torch`]).
    Torch,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Exact => "exact",
            Backend::F64 => "f64",
            Backend::Torch => "torch",
        }
    }
}

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub backends: Vec<Backend>,
    /// Axis sizes; `None` tries the default shapes.
    /// (`None`: every axis 1, 2 and 3, and a mixed shape.)
    pub shape: Option<BTreeMap<String, usize>>,
    pub seed: u64,
    /// 1: gradients; 2: also the exact second-order check of each gradient
    /// (d/ds ⟨∂ℓ/∂x(x + s w), v⟩ = wᵀ H v) and the symbolic double backward
    /// ([`crate::higher`]); 3: also the symbolic third directional
    /// derivative.
    pub order: u8,
    /// Devices and dtype of the torch backend.
    pub torch: crate::torch::TorchOptions,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            backends: vec![Backend::Exact, Backend::F64],
            shape: None,
            seed: 0,
            order: 1,
            torch: crate::torch::TorchOptions::default(),
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Pass,
    Fail,
    /// The oracle could not decide at this sample (e.g. batch of one with
    /// ε = 0 is not differentiable); not a failure, reported with its reason.
    Skip(String),
    /// A disagreement explained by a known upstream bug
    /// ([`crate::torch::KNOWN_UPSTREAM`]): reported, not a failure.
    Known(String),
}

/// One row of the report: one gradient form, one backend, one shape.
#[derive(Clone, Debug)]
pub struct Row {
    pub model: String,
    /// The variable, e.g. `x`.
    pub wrt: String,
    /// `derived`, or `claim (line N)`.
    pub form: String,
    pub backend: Backend,
    pub order: u8,
    pub shape: String,
    pub status: Status,
    /// Exact: the two sides; f64: the errors.
    pub detail: String,
    /// f64 only: `max|got − ref| / max|ref|` and `max|got − ref|`.
    pub rel_err: Option<f64>,
    pub abs_err: Option<f64>,
}

impl Row {
    /// A row that passes until its check says otherwise.
    fn pending(
        model: &str,
        wrt: impl Into<String>,
        form: impl Into<String>,
        backend: Backend,
        order: u8,
        sizes: &BTreeMap<String, usize>,
    ) -> Row {
        Row {
            model: model.to_string(),
            wrt: wrt.into(),
            form: form.into(),
            backend,
            order,
            shape: shape_text(sizes),
            status: Status::Pass,
            detail: String::new(),
            rel_err: None,
            abs_err: None,
        }
    }
}

/// Why verification could not run.
#[derive(Debug)]
pub enum VerifyError {
    Diff(diff::DiffError),
    BadShape(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Diff(e) => write!(f, "cannot differentiate: {e:?}"),
            VerifyError::BadShape(m) => write!(f, "--shape: {m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

fn default_shapes(model: &Model) -> Vec<BTreeMap<String, usize>> {
    let all = |n: usize| {
        model
            .axes
            .iter()
            .map(|a| (a.clone(), n))
            .collect::<BTreeMap<_, _>>()
    };
    let mixed = model
        .axes
        .iter()
        .enumerate()
        .map(|(k, a)| (a.clone(), [4, 2, 3, 2, 2][k % 5]))
        .collect::<BTreeMap<_, _>>();
    vec![all(1), all(2), all(3), mixed]
}

fn shape_text(s: &BTreeMap<String, usize>) -> String {
    s.iter()
        .map(|(a, n)| format!("{a}={n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Verify one model.
pub fn verify(loaded: &Loaded, opts: &VerifyOptions) -> Result<Vec<Row>, VerifyError> {
    let model = &loaded.model;
    let derivation = diff::derive(model).map_err(VerifyError::Diff)?;
    let shapes = match &opts.shape {
        Some(s) => {
            let mut full = BTreeMap::new();
            for a in &model.axes {
                match s.get(a) {
                    Some(&n) if n >= 1 => {
                        full.insert(a.clone(), n);
                    }
                    Some(_) => {
                        return Err(VerifyError::BadShape(format!(
                            "axis {a} must have size >= 1"
                        )))
                    }
                    None => {
                        return Err(VerifyError::BadShape(format!(
                            "no size for axis {a} of model {}",
                            loaded.name
                        )))
                    }
                }
            }
            vec![full]
        }
        None => default_shapes(model),
    };
    // Gradients are read through the derivation's program (`dx`, `dxhat`,
    // …, each evaluated once); claims may use its names too.
    let program = derivation.program();
    let mut forms: Vec<(String, String, Expr)> = Vec::new();
    for g in &derivation.gradients {
        forms.push((g.of.clone(), "derived".into(), Expr::Sym(g.name.clone())));
    }
    let declared: Vec<&str> = model
        .inputs
        .iter()
        .chain(&model.params)
        .map(|s| s.name.as_str())
        .collect();
    for c in &model.claims {
        if declared.contains(&c.wrt.as_str()) {
            forms.push((
                c.wrt.clone(),
                format!("claim (line {})", c.line),
                c.expr.clone(),
            ));
        }
    }
    // The symbolic double backward (and third derivative), for layers with
    // an input x.
    let higher = if opts.order >= 2 && model.inputs.iter().any(|s| s.name == "x") {
        crate::higher::derive(model, opts.order).ok()
    } else {
        None
    };
    let mut rows = Vec::new();
    for (k, sizes) in shapes.iter().enumerate() {
        let seed = opts.seed.wrapping_mul(1_000_003).wrapping_add(k as u64);
        for &backend in &opts.backends {
            match backend {
                Backend::Exact => {
                    let env = sample::exact_sample(model, sizes, seed);
                    if let (Some(h), Ok(env)) = (&higher, &env) {
                        for c in crate::higher::check(model, h, env, seed) {
                            let mut row = Row::pending(
                                &loaded.name,
                                "x",
                                c.what.as_str(),
                                backend,
                                c.order,
                                sizes,
                            );
                            record_exact(&mut row, c.result, "symbolic", "the Taylor series gives");
                            rows.push(row);
                        }
                    }
                    for (wrt, form, g) in &forms {
                        for order in 1..=opts.order.min(2) {
                            let mut row = Row::pending(
                                &loaded.name,
                                wrt.as_str(),
                                form.as_str(),
                                backend,
                                order,
                                sizes,
                            );
                            let res = env.as_ref().map_err(Clone::clone).and_then(|env| {
                                if order == 1 {
                                    oracle::check_gradient(model, &program, wrt, g, env, seed)
                                } else {
                                    oracle::check_second_order(model, &program, wrt, g, env, seed)
                                }
                            });
                            record_exact(
                                &mut row,
                                res,
                                "⟨grad, v⟩ =",
                                "the directional derivative is",
                            );
                            rows.push(row);
                        }
                    }
                }
                Backend::Torch => {
                    let grads: Vec<(String, Expr)> = derivation
                        .gradients
                        .iter()
                        .map(|g| (g.of.clone(), Expr::Sym(g.name.clone())))
                        .collect();
                    let res = crate::torch::check(
                        loaded,
                        crate::torch::Symbolic {
                            program: &program,
                            gradients: &grads,
                        },
                        higher.as_ref(),
                        sizes,
                        seed,
                        opts.order,
                        &opts.torch,
                    );
                    match res {
                        Ok(r) => rows.extend(r),
                        Err(e) => {
                            let mut row =
                                Row::pending(&loaded.name, "x", "torch set-up", backend, 1, sizes);
                            skip_or_fail(&mut row, e);
                            rows.push(row);
                        }
                    }
                }
                Backend::F64 => {
                    let env = sample::f64_sample(model, sizes, seed);
                    for (wrt, form, g) in &forms {
                        let mut row = Row::pending(
                            &loaded.name,
                            wrt.as_str(),
                            form.as_str(),
                            backend,
                            1,
                            sizes,
                        );
                        match env
                            .as_ref()
                            .map_err(Clone::clone)
                            .and_then(|env| fd::fd_check(model, &program, wrt, g, env, seed))
                        {
                            Ok(c) => {
                                row.rel_err = Some(c.rel_err);
                                row.abs_err = Some(c.max_abs_err);
                                row.detail =
                                    format!("rel {:.2e}, abs {:.2e}", c.rel_err, c.max_abs_err);
                                if !c.passed {
                                    row.status = Status::Fail;
                                }
                            }
                            Err(e) => skip_or_fail(&mut row, e),
                        }
                        rows.push(row);
                    }
                }
            }
        }
    }
    Ok(rows)
}

/// An exact check's outcome in `row`: equal passes; unequal fails, showing
/// `{lhs_is} lhs but {rhs_is} rhs`; an oracle error skips or fails.
fn record_exact(
    row: &mut Row,
    res: Result<oracle::ExactCheck, OracleError>,
    lhs_is: &str,
    rhs_is: &str,
) {
    match res {
        Ok(c) if c.equal => row.detail = format!("equal ({})", c.lhs),
        Ok(c) => {
            row.status = Status::Fail;
            row.detail = format!("{lhs_is} {} but {rhs_is} {}", c.lhs, c.rhs);
        }
        Err(e) => skip_or_fail(row, e),
    }
}

/// An oracle that cannot decide at a sample gives a skip with its reason;
/// one that says the gradient and the model do not fit gives a failure.
fn skip_or_fail(row: &mut Row, e: OracleError) {
    match e {
        OracleError::Model(m) => {
            row.status = Status::Fail;
            row.detail = format!("the oracle cannot evaluate this gradient: {m}");
        }
        other => row.status = Status::Skip(other.to_string()),
    }
}

/// No row failed.
pub fn all_pass(rows: &[Row]) -> bool {
    !rows.iter().any(|r| r.status == Status::Fail)
}

/// A table, one line per check.
pub fn write_text(out: &mut impl Write, rows: &[Row]) -> fmt::Result {
    let wf = rows
        .iter()
        .map(|r| r.form.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let ws = rows.iter().map(|r| r.shape.len()).max().unwrap_or(5).max(5);
    writeln!(
        out,
        "{:<14} {:<6} {:<wf$} {:<6} {:<5} {:<ws$} {:<6} detail",
        "model", "tensor", "form", "oracle", "order", "shape", "result"
    )?;
    for r in rows {
        let status = match &r.status {
            Status::Pass => "ok".to_string(),
            Status::Fail => "FAIL".to_string(),
            Status::Skip(_) => "skip".to_string(),
            Status::Known(_) => "KNOWN".to_string(),
        };
        let detail = match &r.status {
            Status::Skip(why) => why.clone(),
            Status::Known(why) => format!("{} — {why}", r.detail),
            _ => r.detail.clone(),
        };
        writeln!(
            out,
            "{:<14} {:<6} {:<wf$} {:<6} {:<5} {:<ws$} {:<6} {}",
            r.model,
            r.wrt,
            r.form,
            r.backend.name(),
            r.order,
            r.shape,
            status,
            detail
        )?;
    }
    let fails = rows.iter().filter(|r| r.status == Status::Fail).count();
    let skips = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Skip(_)))
        .count();
    let known = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Known(_)))
        .count();
    write!(
        out,
        "{} checks: {} ok, {fails} failed, {skips} skipped",
        rows.len(),
        rows.len() - fails - skips - known
    )?;
    if known > 0 {
        write!(out, ", {known} known upstream LibTorch bugs (see above)")?;
    }
    writeln!(out)
}

/// The rows as JSON.
pub fn to_json(rows: &[Row]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "model": r.model, "tensor": r.wrt, "form": r.form, "backend": r.backend.name(),
                "order": r.order, "shape": r.shape,
                "status": match &r.status { Status::Pass => "ok", Status::Fail => "failed", Status::Skip(_) => "skipped", Status::Known(_) => "known-upstream" },
                "reason": match &r.status { Status::Skip(w) | Status::Known(w) => Some(w.clone()), _ => None },
                "detail": r.detail, "rel_err": r.rel_err, "abs_err": r.abs_err,
            })
        })
        .collect();
    serde_json::json!({ "checks": items, "ok": all_pass(rows) })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per checked gradient.
pub fn write_junit(out: &mut impl Write, rows: &[Row]) -> fmt::Result {
    let fails = rows.iter().filter(|r| r.status == Status::Fail).count();
    let skips = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Skip(_)))
        .count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuite name="bnproof verify" tests="{}" failures="{fails}" skipped="{skips}">"#,
        rows.len()
    )?;
    for r in rows {
        let name = xml_escape(&format!(
            "{} d/d{} {} [{} order {}, {}]",
            r.model,
            r.wrt,
            r.form,
            r.backend.name(),
            r.order,
            r.shape
        ));
        write!(
            out,
            r#"  <testcase classname="{}" name="{name}""#,
            xml_escape(&r.model)
        )?;
        match &r.status {
            Status::Pass => writeln!(out, "/>")?,
            Status::Fail => writeln!(
                out,
                ">\n    <failure message=\"{}\"/>\n  </testcase>",
                xml_escape(&r.detail)
            )?,
            Status::Skip(why) => writeln!(
                out,
                ">\n    <skipped message=\"{}\"/>\n  </testcase>",
                xml_escape(why)
            )?,
            // Not a failure of the checked code: passed, with the finding.
            Status::Known(why) => writeln!(
                out,
                ">\n    <system-out>{}</system-out>\n  </testcase>",
                xml_escape(&format!("{}: {why}", r.detail))
            )?,
        }
    }
    writeln!(out, "</testsuite>")
}

/// Parse `n=8,c=3`.
pub fn parse_shape(s: &str) -> Result<BTreeMap<String, usize>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, n) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected axis=size"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: size must be a positive integer"))?;
        if n == 0 || n > 64 {
            return Err(format!("{part:?}: size must be between 1 and 64"));
        }
        out.insert(a.trim().to_string(), n);
    }
    Ok(out)
}

//! `bnproof verify`: numeric cross-check of every derived gradient (and
//! every gradient claim) with the oracles of [`crate::oracle`], which
//! evaluate the forward pass themselves and never use the differentiation
//! code: exact directional derivatives over rationals (no tolerance) and f64
//! central finite differences. Where a sample cannot keep every value
//! rational (`exp`, `log`, irrational roots), the exact backend falls back
//! to rigorous enclosures ([`oracle::interval`]): such rows say `interval`.

use crate::diff;
use crate::eval::Env;
use crate::ir::Expr;
use crate::junit;
use crate::models::Loaded;
use crate::oracle::{self, fd, sample, ExactCheck, IntervalCheck, OracleError};
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
    /// Rows of the exact backend decided by rigorous enclosures (no
    /// rational sample): overlapping enclosures of relative width at most
    /// 1e-20 pass, disjoint ones fail. Not chosen on its own.
    Interval,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Exact => "exact",
            Backend::F64 => "f64",
            Backend::Torch => "torch",
            Backend::Interval => "interval",
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
    /// Every skipped row becomes a failure.
    pub strict: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            backends: vec![Backend::Exact, Backend::F64],
            shape: None,
            seed: 0,
            order: 1,
            torch: crate::torch::TorchOptions::default(),
            strict: false,
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
    /// The line of the claim this row checks.
    pub line: Option<usize>,
    /// What a failed check saw: the exact sample and both sides, or the
    /// worst entry of a tolerance check.
    pub evidence: Option<Evidence>,
}

/// What a failing row saw, for JSON and JUnit.
#[derive(Clone, Debug, PartialEq)]
pub enum Evidence {
    /// An exact check: the sample's axis sizes and values, and the two
    /// sides that differ (`⟨grad, v⟩` and the directional derivative, for a
    /// direction `v` and an upstream gradient drawn from the seed).
    Exact {
        sizes: BTreeMap<String, usize>,
        /// Each array with its axes in the model's declared order
        /// ([`crate::syntax::order`]), data row-major over them.
        values: BTreeMap<String, crate::eval::Tensor>,
        lhs: String,
        rhs: String,
        /// The axes of `sizes` in the model's order, for showing.
        axes: Vec<String>,
    },
    /// A tolerance check: the entry with the largest error, by axis.
    Worst {
        index: BTreeMap<String, usize>,
        got: f64,
        reference: f64,
        /// The axes of `index` in the model's order, for showing.
        axes: Vec<String>,
    },
}

impl Evidence {
    /// The worst entry of a comparison over a tensor with `axes` (row-major)
    /// and these axis sizes.
    pub fn worst(w: &fd::Worst, axes: &[String], sizes: &BTreeMap<String, usize>) -> Evidence {
        let mut index = BTreeMap::new();
        let mut rest = w.at;
        for a in axes.iter().rev() {
            let n = sizes.get(a).copied().unwrap_or(1).max(1);
            index.insert(a.clone(), rest % n);
            rest /= n;
        }
        let keys: Vec<String> = index.keys().cloned().collect();
        Evidence::Worst {
            index,
            got: w.got,
            reference: w.reference,
            axes: crate::syntax::order::shown_axes(&keys),
        }
    }

    /// As JSON: `sizes`, `values`, `lhs`, `rhs` for an exact check (the
    /// keys of a counterexample); `index`, `got`, `reference` for the worst
    /// entry.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Evidence::Exact {
                sizes,
                values,
                lhs,
                rhs,
                axes: order,
            } => {
                let (axes, _) = crate::cert::axes_json(values, sizes);
                serde_json::json!({
                    "sizes": sizes,
                    "axis_order": order,
                    "axes": axes,
                    "values": crate::cert::values_json(values, sizes),
                    "lhs": lhs,
                    "rhs": rhs,
                })
            }
            Evidence::Worst {
                index,
                got,
                reference,
                axes,
            } => serde_json::json!({
                "index": index, "axis_order": axes, "got": got, "reference": reference
            }),
        }
    }

    /// As text, one line.
    pub fn text(&self) -> String {
        match self {
            Evidence::Exact {
                sizes,
                values,
                lhs,
                rhs,
                axes,
            } => {
                let sample: Vec<String> = values
                    .iter()
                    .map(|(k, t)| crate::render::text::array_text(k, t, sizes))
                    .collect();
                format!(
                    "at sizes {}, {}: {lhs} ≠ {rhs}",
                    shape_in(sizes, axes),
                    sample.join(", ")
                )
            }
            Evidence::Worst {
                index,
                got,
                reference,
                axes,
            } => format!(
                "worst entry at {}: got {got:e}, reference {reference:e}",
                if index.is_empty() {
                    "the scalar".to_string()
                } else {
                    shape_in(index, axes)
                }
            ),
        }
    }
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
            line: None,
            evidence: None,
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
            VerifyError::Diff(e) => write!(f, "cannot differentiate the model: {e}"),
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

/// `a=n,…` in the axis order in force (the model's, in [`verify`]).
fn shape_text(s: &BTreeMap<String, usize>) -> String {
    let keys: Vec<String> = s.keys().cloned().collect();
    shape_in(s, &crate::syntax::order::shown_axes(&keys))
}

/// `a=n,…` in the order `axes` (then any axis it does not list).
fn shape_in(s: &BTreeMap<String, usize>, axes: &[String]) -> String {
    let mut keys: Vec<&String> = axes.iter().filter(|a| s.contains_key(*a)).collect();
    keys.extend(s.keys().filter(|a| !axes.contains(a)));
    keys.iter()
        .map(|a| format!("{a}={}", s[*a]))
        .collect::<Vec<_>>()
        .join(",")
}

/// Verify one model.
pub fn verify(loaded: &Loaded, opts: &VerifyOptions) -> Result<Vec<Row>, VerifyError> {
    let model = &loaded.model;
    // Shapes, samples and worst entries in the model's declared axis order.
    let _order = crate::syntax::order::AxisOrder::for_model(model).enter();
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
                        let every: Vec<String> =
                            model.axes.iter().map(|a| format!("{a}=2")).collect();
                        return Err(VerifyError::BadShape(format!(
                            "no size for axis {a} of model {}; give every axis a size, e.g. --shape {}",
                            loaded.name,
                            every.join(",")
                        )));
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
    let mut forms: Vec<(String, String, Expr, Option<usize>)> = Vec::new();
    for g in &derivation.gradients {
        forms.push((
            g.of.clone(),
            "derived".into(),
            Expr::Sym(g.name.clone()),
            None,
        ));
    }
    let declared: Vec<&str> = model
        .inputs
        .iter()
        .chain(&model.params)
        .map(|s| s.name.as_str())
        .collect();
    // Claims about definitions (the paper's ∂ℓ/∂x̂, ∂ℓ/∂σ², ∂ℓ/∂μ) are
    // checked exactly by cutting the forward pass at the definition.
    let mut def_forms: Vec<(String, String, Expr, Option<usize>)> = Vec::new();
    for c in &model.claims {
        let form = (
            c.wrt.clone(),
            format!("claim (line {})", c.line),
            c.expr.clone(),
            Some(c.line),
        );
        if declared.contains(&c.wrt.as_str()) {
            forms.push(form);
        } else if model.defs.iter().any(|(d, _)| *d == c.wrt) {
            def_forms.push(form);
        }
    }
    // The symbolic double backward (and third derivative), for layers with
    // an input (the first declared one).
    let higher = if opts.order >= 2 && !model.inputs.is_empty() {
        crate::higher::derive(model, opts.order).ok()
    } else {
        None
    };
    let mut rows = Vec::new();
    for (k, sizes) in shapes.iter().enumerate() {
        let seed = opts.seed.wrapping_mul(1_000_003).wrapping_add(k as u64);
        for &backend in &opts.backends {
            match backend {
                Backend::Interval => {}
                Backend::Exact => {
                    let env = sample::exact_sample(model, sizes, seed);
                    // No rational sample: the interval oracle's own.
                    let ienv = match &env {
                        Err(OracleError::Irrational(_)) => {
                            Some(sample::interval_sample(model, sizes, seed))
                        }
                        _ => None,
                    };
                    if let (Some(h), Ok(env)) = (&higher, &env) {
                        for c in crate::higher::check(model, h, env, seed) {
                            let mut row = Row::pending(
                                &loaded.name,
                                &h.input,
                                c.what.as_str(),
                                backend,
                                c.order,
                                sizes,
                            );
                            record_exact(
                                &mut row,
                                c.result,
                                ("symbolic", "the Taylor series gives"),
                                Some(env),
                            );

                            rows.push(row);
                        }
                    }
                    for (def, form, g, line) in &def_forms {
                        let mut row = Row::pending(
                            &loaded.name,
                            def.as_str(),
                            form.as_str(),
                            backend,
                            1,
                            sizes,
                        );
                        row.line = *line;
                        exact_or_interval(
                            &mut row,
                            (&env, ienv.as_ref()),
                            |env| {
                                oracle::check_gradient_of_definition(
                                    model, &program, def, g, env, seed,
                                )
                            },
                            |env| {
                                let wrt = oracle::Wrt::Definition(def);
                                oracle::check_gradient_interval(
                                    model,
                                    &program,
                                    wrt,
                                    g,
                                    (env, seed),
                                )
                            },
                            ("⟨claim, v⟩ =", "moving the definition along v gives"),
                        );
                        rows.push(row);
                    }
                    for (wrt, form, g, line) in &forms {
                        for order in 1..=opts.order.min(2) {
                            let mut row = Row::pending(
                                &loaded.name,
                                wrt.as_str(),
                                form.as_str(),
                                backend,
                                order,
                                sizes,
                            );
                            row.line = *line;
                            let labels = ("⟨grad, v⟩ =", "the directional derivative is");
                            if order == 1 {
                                exact_or_interval(
                                    &mut row,
                                    (&env, ienv.as_ref()),
                                    |env| {
                                        oracle::check_gradient(model, &program, wrt, g, env, seed)
                                    },
                                    |env| {
                                        let wrt = oracle::Wrt::Input(wrt);
                                        oracle::check_gradient_interval(
                                            model,
                                            &program,
                                            wrt,
                                            g,
                                            (env, seed),
                                        )
                                    },
                                    labels,
                                );
                            } else {
                                let res = env.as_ref().map_err(Clone::clone).and_then(|env| {
                                    oracle::check_second_order(model, &program, wrt, g, env, seed)
                                });
                                let res = res.map_err(|e| match e {
                                    OracleError::Irrational(why) => OracleError::Irrational(
                                        format!("{why} (second order is checked exactly only)"),
                                    ),
                                    e => e,
                                });
                                record_exact(&mut row, res, labels, env.as_ref().ok());
                            }

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
                            let first = model.inputs.first().map_or("", |s| s.name.as_str());
                            let mut row = Row::pending(
                                &loaded.name,
                                first,
                                "torch set-up",
                                backend,
                                1,
                                sizes,
                            );
                            skip_or_fail(&mut row, e);
                            rows.push(row);
                        }
                    }
                }
                Backend::F64 => {
                    let env = sample::f64_sample(model, sizes, seed);
                    for (wrt, form, g, line) in &forms {
                        let mut row = Row::pending(
                            &loaded.name,
                            wrt.as_str(),
                            form.as_str(),
                            backend,
                            1,
                            sizes,
                        );
                        row.line = *line;
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
                                    let axes = env
                                        .as_ref()
                                        .ok()
                                        .and_then(|e| e.values.get(wrt.as_str()))
                                        .map(|t| t.axes.clone())
                                        .unwrap_or_default();
                                    row.evidence =
                                        c.worst.as_ref().map(|w| Evidence::worst(w, &axes, sizes));
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
    if opts.strict {
        make_strict(&mut rows);
    }
    Ok(rows)
}

/// `--strict`: a skipped row is a failure, its reason kept.
pub fn make_strict(rows: &mut [Row]) {
    for r in rows {
        if let Status::Skip(why) = &r.status {
            r.detail = format!("skipped, a failure under --strict: {why}");
            r.status = Status::Fail;
        }
    }
}

/// A first-order check on the exact sample `env`; where it meets an
/// irrational value, the interval check on the same sample, and where no
/// rational sample exists, the interval check on the interval sample
/// `ienv`. Interval rows say [`Backend::Interval`].
fn exact_or_interval(
    row: &mut Row,
    (env, ienv): (&Result<Env, OracleError>, Option<&Result<Env, OracleError>>),
    exact: impl Fn(&Env) -> Result<ExactCheck, OracleError>,
    interval: impl Fn(&Env) -> Result<IntervalCheck, OracleError>,
    labels: (&str, &str),
) {
    let at = match (env, ienv) {
        (Ok(env), _) => match exact(env) {
            Err(OracleError::Irrational(_)) => env,
            res => return record_exact(row, res, labels, Some(env)),
        },
        (Err(_), Some(Ok(ienv))) => ienv,
        (Err(_), Some(Err(e))) | (Err(e), None) => return skip_or_fail(row, e.clone()),
    };
    row.backend = Backend::Interval;
    record_interval(row, interval(at), labels, at);
}

/// An enclosure for a detail: its midpoint and width (relative to the
/// larger of its magnitude and 1, as the check measures it).
fn enclosure_text(v: &crate::eval::Value) -> String {
    let w = crate::oracle::interval::width(&crate::eval::Iv::from_value(v));
    if v.is_exact() {
        format!("{:e} (exact)", v.approx())
    } else {
        format!("{:e} (width {:.1e})", v.approx(), rat_f64(&w))
    }
}

fn rat_f64(r: &crate::ir::Rat) -> f64 {
    num_traits::ToPrimitive::to_f64(r).unwrap_or(f64::NAN)
}

/// An interval check's outcome in `row`: tight overlapping enclosures pass,
/// disjoint ones fail (with the sample as evidence), others skip.
fn record_interval(
    row: &mut Row,
    res: Result<IntervalCheck, OracleError>,
    (lhs_is, rhs_is): (&str, &str),
    env: &Env,
) {
    let c = match res {
        Ok(c) => c,
        Err(e) => return skip_or_fail(row, e),
    };
    let (wl, wr) = c.widths();
    let (l, r) = (enclosure_text(&c.lhs), enclosure_text(&c.rhs));
    match c.verdict {
        Some(true) => {
            row.detail = format!(
                "enclosures overlap: {l} and {r}, at {} bits",
                c.bits
            )
        }
        Some(false) => {
            row.status = Status::Fail;
            row.detail = format!("{lhs_is} {l} but {rhs_is} {r}: disjoint enclosures");
            row.evidence = Some(sample_evidence(env, c.lhs.to_string(), c.rhs.to_string()));
        }
        None => {
            row.status = Status::Skip(format!(
                "enclosures overlap but are not tight at {} bits (widths {:.1e} and {:.1e} relative to max(|value|, 1), need ≤ 1e-20)",
                c.bits,
                rat_f64(&wl),
                rat_f64(&wr)
            ))
        }
    }
}

/// The sample of a failed check, with both sides, in the model's order.
fn sample_evidence(env: &Env, lhs: String, rhs: String) -> Evidence {
    let keys: Vec<String> = env.sizes.keys().cloned().collect();
    Evidence::Exact {
        sizes: env.sizes.clone(),
        values: env
            .values
            .iter()
            .map(|(k, t)| {
                let shown = crate::syntax::order::shown_tensor(k, t, &env.sizes);
                (k.clone(), shown)
            })
            .collect(),
        lhs,
        rhs,
        axes: crate::syntax::order::shown_axes(&keys),
    }
}

/// An exact check's outcome in `row`: equal passes; unequal fails, showing
/// `{lhs_is} lhs but {rhs_is} rhs` (and the sample `env` as evidence); an
/// oracle error skips or fails.
fn record_exact(
    row: &mut Row,
    res: Result<oracle::ExactCheck, OracleError>,
    (lhs_is, rhs_is): (&str, &str),
    env: Option<&Env>,
) {
    match res {
        Ok(c) if c.equal => {
            row.detail = format!("equal ({})", crate::render::text::rational_text(&c.lhs))
        }
        Ok(c) => {
            row.status = Status::Fail;
            row.detail = format!(
                "{lhs_is} {} but {rhs_is} {}",
                crate::render::text::rational_text(&c.lhs),
                crate::render::text::rational_text(&c.rhs)
            );
            row.evidence =
                env.map(|env| sample_evidence(env, c.lhs.to_string(), c.rhs.to_string()));
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
    let wm = rows
        .iter()
        .map(|r| r.model.chars().count())
        .max()
        .unwrap_or(14)
        .max(14);
    writeln!(
        out,
        "{:<wm$} {:<6} {:<wf$} {:<6} {:<5} {:<ws$} {:<6} detail",
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
            "{:<wm$} {:<6} {:<wf$} {:<6} {:<5} {:<ws$} {:<6} {}",
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
    write_summary(out, rows)
}

/// The last line of [`write_text`]: how many checks, how many ok, failed,
/// skipped, and known upstream bugs.
pub fn write_summary(out: &mut impl Write, rows: &[Row]) -> fmt::Result {
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

/// One row as JSON: the file (`model`, the name or path as given, also as
/// `file`), the claim's `line`, and for a failure its `counterexample` (an
/// exact check) or `worst` entry (a tolerance check).
fn row_json(r: &Row) -> serde_json::Value {
    let mut v = serde_json::json!({
        "model": r.model, "file": r.model, "tensor": r.wrt, "form": r.form, "line": r.line,
        "backend": r.backend.name(), "order": r.order, "shape": r.shape,
        "status": match &r.status { Status::Pass => "ok", Status::Fail => "failed", Status::Skip(_) => "skipped", Status::Known(_) => "known-upstream" },
        "reason": match &r.status { Status::Skip(w) | Status::Known(w) => Some(w.clone()), _ => None },
        "detail": r.detail, "rel_err": r.rel_err, "abs_err": r.abs_err,
    });
    match &r.evidence {
        Some(e @ Evidence::Exact { .. }) => v["counterexample"] = e.to_json(),
        Some(e @ Evidence::Worst { .. }) => v["worst"] = e.to_json(),
        None => {}
    }
    v
}

/// The rows as JSON.
pub fn to_json(rows: &[Row]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
    serde_json::json!({ "checks": items, "ok": all_pass(rows) })
}

/// The JUnit suite of one file's rows: one test case per checked gradient.
pub fn junit_suite(file: &str, rows: &[Row]) -> junit::Suite {
    let cases = rows
        .iter()
        .map(|r| {
            let name = format!(
                "{}{} d/d{} {} [{} order {}, {}]",
                r.model,
                r.line.map(|l| format!(":{l}")).unwrap_or_default(),
                r.wrt,
                r.form,
                r.backend.name(),
                r.order,
                r.shape
            );
            let mut case = junit::Case::new(r.model.clone(), name);
            case.file = Some(r.model.clone());
            case.line = r.line;
            case.outcome = match &r.status {
                Status::Pass => junit::Outcome::Pass,
                Status::Fail => junit::Outcome::Failure {
                    message: r.detail.clone(),
                    text: r.evidence.as_ref().map(Evidence::text).unwrap_or_default(),
                },
                Status::Skip(why) => junit::Outcome::Skipped(why.clone()),
                // Not a failure of the checked code: passed, with the finding.
                Status::Known(why) => {
                    case.output = Some(format!("{}: {why}", r.detail));
                    junit::Outcome::Pass
                }
            };
            case
        })
        .collect();
    junit::Suite {
        name: format!("bnproof verify {file}"),
        cases,
    }
}

/// The rows grouped by file, in the order the files first appear.
pub fn by_file(rows: &[Row]) -> Vec<(String, Vec<Row>)> {
    let mut groups: Vec<(String, Vec<Row>)> = Vec::new();
    for r in rows {
        match groups.iter_mut().find(|(f, _)| *f == r.model) {
            Some((_, g)) => g.push(r.clone()),
            None => groups.push((r.model.clone(), vec![r.clone()])),
        }
    }
    groups
}

/// JUnit XML: one test suite per file, one test case per checked gradient.
pub fn write_junit(out: &mut impl Write, rows: &[Row]) -> fmt::Result {
    let suites: Vec<junit::Suite> = by_file(rows)
        .iter()
        .map(|(f, rows)| junit_suite(f, rows))
        .collect();
    junit::write(out, "bnproof verify", &suites)
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

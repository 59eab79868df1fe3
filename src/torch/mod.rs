//! `verify --backend torch`: the symbolic gradients against LibTorch's
//! autograd (through `tch`), on CPU or CUDA, in f64 or f32.
//!
//! For every model LibTorch differentiates the layer twice: through the
//! native op people run (`batch_norm`, `layer_norm`, `group_norm`,
//! `instance_norm`, `rms_norm`; built-in models only) and through the
//! model's own definitions composed from elementary tensor ops (any model).
//! Both are compared with the symbolic results of [`crate::diff`] and
//! [`crate::higher`] evaluated in f64 by the oracle's evaluator, tensor by
//! tensor (`max|got − ref| / max|ref|` and the max absolute error).
//!
//! Everything but the LibTorch calls lives here, so it builds and is
//! tested without LibTorch; `enabled` (feature `torch`) and `disabled` are
//! twin modules with the same two functions.

#[cfg(not(feature = "torch"))]
mod disabled;
#[cfg(feature = "torch")]
mod enabled;
#[cfg(not(feature = "torch"))]
use disabled as imp;
#[cfg(feature = "torch")]
use enabled as imp;

use crate::higher::Higher;
use crate::ir::{Expr, Symbol};
use crate::models::Loaded;
use crate::oracle::fd::{self, EnvF64, TensorF64};
use crate::oracle::{sample, OracleError};
use crate::verify::{Backend, Evidence, Row, Status};
use rand::Rng;
use std::collections::BTreeMap;

/// Whether this build has the LibTorch backend.
pub const BUILT: bool = cfg!(feature = "torch");

/// Why a build without the feature cannot run LibTorch, and how to rebuild.
pub fn unavailable_reason() -> Option<String> {
    (!BUILT).then(|| imp::available(Device::Cpu).err().unwrap_or_default())
}

/// One positional argument of a TorchScript module's `forward`.
#[derive(Clone, Debug)]
pub struct ModuleArg {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: Dtype,
}

/// One tensor a TorchScript module returned, on the CPU.
#[derive(Clone, Debug)]
pub struct ModuleResult {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: Dtype,
}

/// Run a user's TorchScript module (`verify --against module.pt`): its
/// `forward` gets `args` positionally; the tensors it returns come back in
/// order. Without the `torch` feature: an error saying how to rebuild.
pub fn run_module(
    path: &std::path::Path,
    args: &[ModuleArg],
    device: Device,
) -> Result<Vec<ModuleResult>, String> {
    imp::run_module(path, args, device)
}

/// Where LibTorch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

/// LibTorch's floating-point type for the first-order comparison (orders 2
/// and 3 always run in f64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "f64",
            Dtype::F32 => "f32",
        }
    }
}

/// What the torch backend runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchOptions {
    pub devices: Vec<Device>,
    pub dtype: Dtype,
}

impl Default for TorchOptions {
    fn default() -> Self {
        TorchOptions {
            devices: vec![Device::Cpu],
            dtype: Dtype::F64,
        }
    }
}

/// Entry-wise `|got − ref| ≤ atol_of_max · scale + rtol · |ref|`, where
/// `scale` is the largest `max|ref|` among the tensors of the same
/// derivative order at that point: rounding grows with the magnitudes that
/// flow through the computation, and a tensor that is analytically zero
/// (`∂ℓ/∂b` of centering, a batch of one) holds nothing but rounding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol_of_max: f64,
}

/// How many first-order rounding bounds two computations of the same
/// gradient may differ by (the bound is an estimate to first order, and
/// LibTorch may order and fuse the operations differently).
const ROUNDING_SLACK: f64 = 8.0;

/// LibTorch f64 against the symbolic result in f64, orders one to three
/// (`shared/reference/bn-gradients.md`: observed ≤ 1.4e-14 absolute at
/// order one). Orders two and three keep the same tolerance: measured
/// errors there stay below 1e-13 relative (docs in README), so a wider one
/// would only hide disagreements.
pub const TOL_F64: Tolerance = Tolerance {
    rtol: 1e-10,
    atol_of_max: 1e-12,
};

/// LibTorch f32 (CPU or CUDA) against the f64 symbolic result, on data
/// with a small `|mean| / std` (inputs uniform in [−2, 2]).
pub const TOL_F32: Tolerance = Tolerance {
    rtol: 1e-4,
    atol_of_max: 1e-5,
};

/// A LibTorch op that implements a built-in model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Native {
    /// `batch_norm` in training mode (batch statistics; running statistics
    /// passed and updated, as `nn.BatchNorm` does).
    BatchNormTrain,
    /// `batch_norm` in eval mode with running statistics.
    BatchNormEval,
    LayerNorm,
    InstanceNorm,
    GroupNorm,
    RmsNorm,
}

impl Native {
    pub fn name(self) -> &'static str {
        match self {
            Native::BatchNormTrain => "batch_norm (training)",
            Native::BatchNormEval => "batch_norm (eval)",
            Native::LayerNorm => "layer_norm",
            Native::InstanceNorm => "instance_norm",
            Native::GroupNorm => "group_norm",
            Native::RmsNorm => "rms_norm",
        }
    }

    /// The inputs LibTorch differentiates the op with respect to.
    pub fn differentiable(self) -> &'static [&'static str] {
        match self {
            Native::RmsNorm => &["x", "gamma"],
            _ => &["x", "gamma", "beta"],
        }
    }
}

/// The native op of a built-in model (`centering` has none).
pub fn native_for(model: &str) -> Option<Native> {
    Some(match model {
        "batchnorm" | "batchnorm2d" => Native::BatchNormTrain,
        "batchnorm-eval" => Native::BatchNormEval,
        "layernorm" => Native::LayerNorm,
        "instancenorm" => Native::InstanceNorm,
        "groupnorm" => Native::GroupNorm,
        "rmsnorm" => Native::RmsNorm,
        _ => return None,
    })
}

/// A known, reported upstream LibTorch bug: a disagreement of the native op
/// that it explains is reported as a finding about LibTorch and leaves the
/// exit code 0 — but only when the composed ops agree with the symbolic
/// result at the same point (otherwise it is a failure like any other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownIssue {
    pub issue: &'static str,
    pub ops: &'static [Native],
    /// The lowest derivative order it affects.
    pub min_order: u8,
    pub summary: &'static str,
}

/// Every known upstream discrepancy bnproof detects, in one place, each
/// reproduced against torch 2.11.0 (`verify --order 3 --backend torch`).
/// Not listed: pytorch#196699 and #196700 (forward-over-forward JVPs of
/// `batch_norm`, `layer_norm`): bnproof compares reverse mode only, and tch
/// exposes no forward mode.
pub const KNOWN_UPSTREAM: &[KnownIssue] = &[
    KnownIssue {
        issue: "pytorch#186256",
        // instance_norm reshapes to (1, N·C, …) and calls the same fused op.
        ops: &[Native::BatchNormTrain, Native::InstanceNorm],
        min_order: 3,
        summary: "third and higher derivatives of the fused native_batch_norm in training mode are wrong (its saved mean and invstd carry no autograd history)",
    },
    KnownIssue {
        issue: "pytorch#175754",
        ops: &[Native::LayerNorm],
        min_order: 3,
        summary: "third and higher derivatives of native_layer_norm are wrong (the saved mean and rstd handed to its double backward carry no autograd history)",
    },
];

/// The known issue that explains a native-op disagreement, if any.
pub fn known_issue(op: Native, order: u8) -> Option<&'static KnownIssue> {
    KNOWN_UPSTREAM
        .iter()
        .find(|k| order >= k.min_order && k.ops.contains(&op))
}

/// Which way LibTorch differentiates the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Native(Native),
    Composed,
}

impl Path {
    fn label(self) -> String {
        match self {
            Path::Native(op) => format!("native {}", op.name()),
            Path::Composed => "composed ops".to_string(),
        }
    }
}

/// One LibTorch configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub device: Device,
    pub dtype: Dtype,
    /// cuDNN on or off (CUDA only).
    pub cudnn: Option<bool>,
}

impl Variant {
    fn label(self) -> String {
        let mut s = format!("{} {}", self.device.name(), self.dtype.name());
        if let Some(c) = self.cudnn {
            s.push_str(if c { " cudnn on" } else { " cudnn off" });
        }
        s
    }
}

/// A quantity LibTorch computes and the symbolic code predicts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quantity {
    /// `∂ℓ/∂name` with `ℓ = Σ dy · y`.
    Grad(String),
    /// `∂/∂x ⟨∂ℓ/∂x, v⟩` (Hessian-vector product) for the input `x` named.
    Hvp(String),
    /// `∂/∂p ⟨∂ℓ/∂x, v⟩` for the parameter `p` named.
    Mixed(String),
    /// `∂/∂dy ⟨∂ℓ/∂x, v⟩`.
    MixedDy,
    /// `∂/∂x ⟨H v, v⟩` for the input `x` named.
    Third(String),
}

impl Quantity {
    pub fn order(&self) -> u8 {
        match self {
            Quantity::Grad(_) => 1,
            Quantity::Hvp(_) | Quantity::Mixed(_) | Quantity::MixedDy => 2,
            Quantity::Third(_) => 3,
        }
    }

    /// The tensor the quantity has the shape of.
    fn tensor<'a>(&'a self, dy: &'a str) -> &'a str {
        match self {
            Quantity::Grad(n) | Quantity::Hvp(n) | Quantity::Mixed(n) | Quantity::Third(n) => n,
            Quantity::MixedDy => dy,
        }
    }

    /// `h` names the input the higher orders differentiate and the
    /// direction.
    fn label(&self, dy: &str, h: Option<&HigherNames>) -> String {
        let (x, v) = h.map_or(("x", "v"), |h| (h.input.as_str(), h.direction.as_str()));
        match self {
            Quantity::Grad(_) => "∂ℓ".to_string(),
            Quantity::Hvp(_) => format!("∂/∂{x} ⟨∂ℓ/∂{x}, {v}⟩"),
            Quantity::Mixed(p) => format!("∂/∂{p} ⟨∂ℓ/∂{x}, {v}⟩"),
            Quantity::MixedDy => format!("∂/∂{dy} ⟨∂ℓ/∂{x}, {v}⟩"),
            Quantity::Third(_) => format!("∂/∂{x} ⟨H {v}, {v}⟩"),
        }
    }
}

/// A tensor handed to LibTorch: values row-major over its axes in the
/// model's axis order (so a native op needs only reshapes, never
/// permutations).
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    pub axes: Vec<String>,
    pub dims: Vec<i64>,
    pub data: Vec<f64>,
    /// Inputs, parameters and the upstream gradient are differentiated.
    pub grad: bool,
}

/// One comparison problem: the sampled tensors, in model order.
#[derive(Clone, Debug)]
pub struct Problem<'a> {
    pub model: &'a crate::syntax::Model,
    pub sizes: BTreeMap<String, usize>,
    pub leaves: BTreeMap<String, Leaf>,
    /// The upstream gradient's name (`dy`).
    pub dy: String,
    /// Orders two and three: which input, which parameter, and the
    /// direction's leaf.
    pub higher: Option<HigherNames>,
}

/// The names of the higher orders of a [`Problem`].
#[derive(Clone, Debug)]
pub struct HigherNames {
    /// The input differentiated (`x` in the formulas).
    pub input: String,
    /// The parameter of the mixed term, if any.
    pub param: Option<String>,
    /// The direction `v`, a leaf.
    pub direction: String,
}

impl Problem<'_> {
    /// `dims` of `axes` with 1 for the model axes it lacks (for broadcasting
    /// in the composed ops).
    pub fn full_dims(&self, axes: &[String]) -> Vec<i64> {
        self.model
            .axes
            .iter()
            .map(|a| {
                if axes.contains(a) {
                    self.sizes.get(a).copied().unwrap_or(1) as i64
                } else {
                    1
                }
            })
            .collect()
    }

    /// Position of a model axis.
    pub fn axis_index(&self, a: &str) -> Option<i64> {
        self.model
            .axes
            .iter()
            .position(|b| b == a)
            .map(|k| k as i64)
    }

    /// The differentiated inputs and parameters, in declaration order.
    pub fn variables(&self) -> Vec<String> {
        self.model
            .inputs
            .iter()
            .chain(&self.model.params)
            .map(|s| s.name.clone())
            .collect()
    }
}

/// Whether `device` can be used in this build on this machine; the error
/// says why not (the command line exits 4 with it).
pub fn available(device: Device) -> Result<(), String> {
    imp::available(device)
}

fn model_order(model: &crate::syntax::Model, axes: &[String]) -> Vec<String> {
    model
        .axes
        .iter()
        .filter(|a| axes.contains(a))
        .cloned()
        .collect()
}

fn leaf(
    full: &EnvF64,
    model: &crate::syntax::Model,
    name: &str,
    grad: bool,
) -> Result<Leaf, OracleError> {
    let t = full
        .values
        .get(name)
        .ok_or_else(|| OracleError::Model(format!("no value for `{name}`")))?;
    let axes = model_order(model, &t.axes);
    let data = fd::eval_over(
        &Expr::Sym(Symbol::new(name, t.axes.iter().cloned())),
        full,
        &axes,
    )?;
    let dims = axes
        .iter()
        .map(|a| full.sizes.get(a).copied().unwrap_or(1) as i64)
        .collect();
    Ok(Leaf {
        axes,
        dims,
        data,
        grad,
    })
}

/// The derived first-order gradients: `gradients` (input or parameter →
/// expression) in the names `program` defines.
#[derive(Clone, Copy)]
pub struct Symbolic<'a> {
    pub program: &'a [(crate::ir::Symbol, Expr)],
    pub gradients: &'a [(String, Expr)],
}

/// Compare the LibTorch gradients of one model at one shape with the
/// symbolic ones: every path (native op, composed ops) on every device
/// (cuDNN on and off on CUDA). `gradients` are the derived gradients of
/// the inputs and parameters, in the names `program` defines (evaluated
/// once each, in order); `higher` the symbolic orders two and three
/// (compared in f64 whatever the dtype).
pub fn check(
    loaded: &Loaded,
    symbolic: Symbolic<'_>,
    higher: Option<&Higher>,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
    order: u8,
    opts: &TorchOptions,
) -> Result<Vec<Row>, OracleError> {
    let model = &loaded.model;
    let env = sample::f64_sample(model, sizes, seed)?;
    // LibTorch's loss reads the first output only.
    let (first, _) = crate::oracle::forward::output_of(model)?;
    let dy = fd::random_dy(model, &env, seed)?
        .remove(&first)
        .ok_or_else(|| OracleError::Model(format!("no upstream gradient for `{first}`")))?;
    let dy_name = crate::oracle::upstream_name(model)?;
    let mut full = fd::with_defs_f64(model, &env)?;
    // The same first-order program with rounding bounds (see `compare`).
    let mut rounding = fd::with_defs_rounding(model, &env)?;
    rounding
        .values
        .insert(dy_name.clone(), fd::rounding_of(&dy));
    fd::bind_program_rounding(&mut rounding, symbolic.program)?;
    full.values.insert(dy_name.clone(), dy);
    fd::bind_program_f64(&mut full, symbolic.program)?;
    let higher = higher.filter(|_| order >= 2);
    if let Some(h) = higher {
        let x = full.values.get(&h.input).ok_or_else(|| {
            OracleError::Model(format!("orders 2 and 3 need the input {}", h.input))
        })?;
        let mut rng = sample::rng(seed, sample::Stream::Torch);
        let v = TensorF64 {
            axes: x.axes.clone(),
            data: x.data.iter().map(|_| rng.gen_range(-1.0..1.0)).collect(),
        };
        full.values.insert(h.direction.clone(), v);
        // The tangents, each once, after the first-order program.
        fd::bind_program_f64(&mut full, &h.definitions)?;
    }
    let mut leaves = BTreeMap::new();
    for name in env.values.keys() {
        let grad = model
            .inputs
            .iter()
            .chain(&model.params)
            .any(|s| &s.name == name);
        leaves.insert(name.clone(), leaf(&full, model, name, grad)?);
    }
    leaves.insert(dy_name.clone(), leaf(&full, model, &dy_name, true)?);
    if let Some(h) = higher {
        leaves.insert(
            h.direction.clone(),
            leaf(&full, model, &h.direction, false)?,
        );
    }
    let problem = Problem {
        model,
        sizes: sizes.clone(),
        leaves,
        dy: dy_name.clone(),
        higher: higher.map(|h| HigherNames {
            input: h.input.clone(),
            param: h.mixed.as_ref().map(|(p, _)| p.clone()),
            direction: h.direction.clone(),
        }),
    };
    // The symbolic predictions, in model order.
    // A prediction the evaluator cannot afford (a large third derivative)
    // skips that quantity only.
    let mut predicted: BTreeMap<Quantity, Result<Vec<f64>, OracleError>> = BTreeMap::new();
    let mut predict = |q: Quantity, e: &Expr| -> Result<(), OracleError> {
        let axes = &problem
            .leaves
            .get(q.tensor(&dy_name))
            .ok_or_else(|| OracleError::Model(format!("no tensor {}", q.tensor(&dy_name))))?
            .axes;
        predicted.insert(q, fd::eval_over(e, &full, axes));
        Ok(())
    };
    // First-order rounding bounds, in units of the unit roundoff.
    let mut bounds: BTreeMap<Quantity, Vec<f64>> = BTreeMap::new();
    for (name, g) in symbolic.gradients {
        predict(Quantity::Grad(name.clone()), g)?;
        let q = Quantity::Grad(name.clone());
        let axes = problem.leaves.get(q.tensor(&dy_name)).map(|t| &t.axes);
        if let Some(Ok(r)) = axes.map(|a| fd::eval_over_rounding(g, &rounding, a)) {
            bounds.insert(q, r.iter().map(|r| r.e).collect());
        }
    }
    if let Some(h) = higher {
        predict(Quantity::Hvp(h.input.clone()), &h.hvp)?;
        if let Some((p, g)) = &h.mixed {
            predict(Quantity::Mixed(p.clone()), g)?;
        }
        predict(Quantity::MixedDy, &h.mixed_dy)?;
        if let Some(t) = &h.third {
            predict(Quantity::Third(h.input.clone()), t)?;
        }
    }
    let mut scales: BTreeMap<u8, f64> = BTreeMap::new();
    for (q, v) in predicted
        .iter()
        .filter_map(|(q, v)| Some((q, v.as_ref().ok()?)))
    {
        let m = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let e = scales.entry(q.order()).or_insert(0.0);
        *e = e.max(m);
    }
    let mut paths = Vec::new();
    if let Some(op) = native_for(&loaded.name) {
        paths.push(Path::Native(op));
    }
    paths.push(Path::Composed);
    let shape = sizes
        .iter()
        .map(|(a, n)| format!("{a}={n}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut rows = Vec::new();
    // (path, variant, quantity, index into rows), for the known-issue pass.
    let mut done: Vec<(Path, Variant, Quantity, usize)> = Vec::new();
    for &device in &opts.devices {
        let cudnn: &[Option<bool>] = match device {
            Device::Cpu => &[None],
            Device::Cuda => &[Some(true), Some(false)],
        };
        for &c in cudnn {
            // Orders two and three run in f64 whatever the dtype.
            let mut runs = vec![(opts.dtype, 1u8, order)];
            if opts.dtype == Dtype::F32 {
                runs = vec![(Dtype::F32, 1, 1)];
                if order >= 2 {
                    runs.push((Dtype::F64, 2, order));
                }
            }
            for (dtype, lo, hi) in runs {
                let variant = Variant {
                    device,
                    dtype,
                    cudnn: c,
                };
                for &path in &paths {
                    let mut push =
                        |q: Quantity, status, detail, errs: Option<(f64, f64)>, worst| {
                            rows.push(Row {
                                model: loaded.name.clone(),
                                wrt: q.tensor(&dy_name).to_string(),
                                form: format!(
                                    "{} · {} · {}",
                                    q.label(&dy_name, problem.higher.as_ref()),
                                    path.label(),
                                    variant.label()
                                ),
                                backend: Backend::Torch,
                                order: q.order(),
                                shape: shape.clone(),
                                status,
                                detail,
                                rel_err: errs.map(|e| e.0),
                                abs_err: errs.map(|e| e.1),
                                line: None,
                                evidence: worst,
                            });
                            done.push((path, variant, q, rows.len() - 1));
                        };
                    match imp::run(&problem, path, variant, lo, hi) {
                        Err(e) => push(
                            Quantity::Grad("x".into()),
                            Status::Fail,
                            format!("LibTorch failed: {e}"),
                            None,
                            None,
                        ),
                        Ok(values) => {
                            for (q, got) in values {
                                let want = match predicted.get(&q) {
                                    None => continue,
                                    Some(Ok(w)) => w,
                                    // Too large to evaluate: a skip; an
                                    // expression that does not fit the
                                    // model: a failure.
                                    Some(Err(e @ OracleError::Model(_))) => {
                                        let why =
                                            format!("the symbolic value cannot be evaluated: {e}");
                                        push(q, Status::Fail, why, None, None);
                                        continue;
                                    }
                                    Some(Err(e)) => {
                                        let why = format!("no symbolic value: {e}");
                                        push(q, Status::Skip(why), String::new(), None, None);
                                        continue;
                                    }
                                };
                                let scale = scales.get(&q.order()).copied().unwrap_or(0.0);
                                let bound = bounds.get(&q).map_or(&[][..], Vec::as_slice);
                                let (status, detail, errs, worst) =
                                    compare(&q, &got, want, bound, variant, scale, &problem);
                                push(q, status, detail, Some(errs), worst);
                            }
                        }
                    }
                }
            }
        }
    }
    classify_known(&mut rows, &done);
    Ok(rows)
}

/// One LibTorch tensor against its symbolic prediction, with the
/// tolerance of its dtype (`max|got − ref| / max|ref|`, max absolute error).
fn compare(
    q: &Quantity,
    got: &[f64],
    want: &[f64],
    bound: &[f64],
    variant: Variant,
    order_scale: f64,
    problem: &Problem,
) -> (Status, String, (f64, f64), Option<Evidence>) {
    let tol = match variant.dtype {
        Dtype::F64 => TOL_F64,
        Dtype::F32 => TOL_F32,
    };
    let max_ref = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = max_ref.max(order_scale);
    // Both sides round: the f64 reference and LibTorch in its dtype. An
    // entry may also differ by ROUNDING_SLACK times their first-order
    // rounding bounds, which matters only where the value cancels far
    // below the magnitudes it is computed from (softmax with one class:
    // every gradient is 0 and the f64 reference is rounding noise).
    let u = match variant.dtype {
        Dtype::F64 => f64::EPSILON / 2.0,
        Dtype::F32 => f64::from(f32::EPSILON) / 2.0 + f64::EPSILON / 2.0,
    };
    let floor: Vec<f64> = bound.iter().map(|e| ROUNDING_SLACK * u * e).collect();
    let c = fd::compare_with_floor(got, want, tol.atol_of_max * scale, tol.rtol, &floor);
    let mut detail = format!("rel {:.2e}, abs {:.2e}", c.rel_err, c.max_abs_err);
    if max_ref < 1e-6 * scale {
        detail.push_str(&format!(
            " (reference ≈ 0: judged against the largest gradient of this order, {scale:.2e})"
        ));
    }
    if c.passed && !fd::compare_with(got, want, tol.atol_of_max * scale, tol.rtol).passed {
        let max_floor = floor.iter().fold(0.0f64, |m, f| m.max(*f));
        detail.push_str(&format!(
            " (passes only within the rounding bound of the computation, {max_floor:.2e})"
        ));
    }
    if matches!(q, Quantity::Third(_)) {
        let direction = problem.higher.as_ref().map(|h| h.direction.as_str());
        if let Some(v) = direction.and_then(|d| problem.leaves.get(d)) {
            let dot = |a: &[f64]| a.iter().zip(&v.data).map(|(p, q)| p * q).sum::<f64>();
            detail.push_str(&format!(
                "; third directional derivative {:.6} (symbolic {:.6})",
                dot(got),
                dot(want)
            ));
        }
    }
    let status = if c.passed { Status::Pass } else { Status::Fail };
    // The worst entry of a mismatch (kept for known upstream bugs too).
    let worst = match (&status, &c.worst, problem.leaves.get(q.tensor(&problem.dy))) {
        (Status::Fail, Some(w), Some(leaf)) => Some(Evidence::worst(w, &leaf.axes, &problem.sizes)),
        _ => None,
    };
    (status, detail, (c.rel_err, c.max_abs_err), worst)
}

/// Native-op failures that a [`KnownIssue`] explains, and whose composed-op
/// twin (same variant, same quantity) passed, become [`Status::Known`].
fn classify_known(rows: &mut [Row], done: &[(Path, Variant, Quantity, usize)]) {
    for (path, variant, q, k) in done {
        let Path::Native(op) = path else { continue };
        let Some(known) = known_issue(*op, q.order()) else {
            continue;
        };
        if rows[*k].status != Status::Fail {
            continue;
        }
        let twin = done
            .iter()
            .find(|(p, v, q2, _)| *p == Path::Composed && v == variant && q2 == q);
        if let Some((_, _, _, j)) = twin {
            if rows[*j].status == Status::Pass {
                rows[*k].status = Status::Known(format!(
                    "known LibTorch bug {}: {}; the composed ops agree with the symbolic result ({})",
                    known.issue, known.summary, rows[*j].detail
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(form: &str, order: u8, status: Status) -> Row {
        Row {
            model: "m".into(),
            wrt: "x".into(),
            form: form.into(),
            backend: Backend::Torch,
            order,
            shape: "n=2".into(),
            status,
            detail: "rel 1e-15".into(),
            rel_err: None,
            abs_err: None,
            line: None,
            evidence: None,
        }
    }

    const CPU: Variant = Variant {
        device: Device::Cpu,
        dtype: Dtype::F64,
        cudnn: None,
    };

    #[test]
    fn known_issues_cover_exactly_the_reproduced_ops_and_orders() {
        assert_eq!(
            known_issue(Native::BatchNormTrain, 3).map(|k| k.issue),
            Some("pytorch#186256")
        );
        assert_eq!(
            known_issue(Native::InstanceNorm, 3).map(|k| k.issue),
            Some("pytorch#186256")
        );
        assert_eq!(
            known_issue(Native::LayerNorm, 3).map(|k| k.issue),
            Some("pytorch#175754")
        );
        for op in [
            Native::BatchNormTrain,
            Native::LayerNorm,
            Native::InstanceNorm,
        ] {
            assert!(known_issue(op, 1).is_none() && known_issue(op, 2).is_none());
        }
        for op in [Native::BatchNormEval, Native::GroupNorm, Native::RmsNorm] {
            assert!(known_issue(op, 3).is_none(), "{op:?}");
        }
    }

    #[test]
    fn a_known_native_failure_is_a_finding_only_when_the_composed_ops_agree() {
        let nat = Path::Native(Native::BatchNormTrain);
        let done = vec![
            (nat, CPU, Quantity::Third("x".into()), 0),
            (Path::Composed, CPU, Quantity::Third("x".into()), 1),
        ];
        let mut rows = vec![row("a", 3, Status::Fail), row("b", 3, Status::Pass)];
        classify_known(&mut rows, &done);
        assert!(matches!(&rows[0].status, Status::Known(w) if w.contains("pytorch#186256")));
        // Composed ops disagree too: a failure, not a known bug.
        let mut rows = vec![row("a", 3, Status::Fail), row("b", 3, Status::Fail)];
        classify_known(&mut rows, &done);
        assert_eq!(rows[0].status, Status::Fail);
        // Order two is not covered by the issue.
        let done2 = vec![
            (nat, CPU, Quantity::Hvp("x".into()), 0),
            (Path::Composed, CPU, Quantity::Hvp("x".into()), 1),
        ];
        let mut rows = vec![row("a", 2, Status::Fail), row("b", 2, Status::Pass)];
        classify_known(&mut rows, &done2);
        assert_eq!(rows[0].status, Status::Fail);
    }

    #[test]
    fn native_ops_map_to_the_built_in_models() {
        assert_eq!(native_for("batchnorm2d"), Some(Native::BatchNormTrain));
        assert_eq!(native_for("batchnorm-eval"), Some(Native::BatchNormEval));
        assert_eq!(native_for("groupnorm"), Some(Native::GroupNorm));
        assert_eq!(native_for("centering"), None);
        assert_eq!(native_for("my-model.bn"), None);
    }

    #[test]
    fn availability_matches_the_build() {
        assert_eq!(available(Device::Cpu).is_ok(), BUILT);
    }
}

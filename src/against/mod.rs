//! `verify MODEL --against FILE` and `vectors MODEL --out FILE`: the
//! derived gradients evaluated at a user's own arrays, compared with the
//! gradients the user's implementation computed there; and reference test
//! vectors for such a comparison.
//!
//! Not an oracle: this module evaluates the program of [`crate::diff`] (the
//! model's definitions, then the derivation's), each name once, at the
//! arrays read from the file — exactly over rationals with rigorous
//! enclosures of irrational roots ([`crate::eval`]) up to [`EXACT_ENTRIES`]
//! entries, above that over `f64` intervals rounded outward
//! ([`interval`]), whose width is the error bound.
//!
//! Layout: every array is row-major over its axes in the model's declared
//! axis order (`axis n, c, h, w` and `param gamma[c]`: `x` has shape
//! `(n, c, h, w)`, `gamma` shape `(c,)`); scalars are 0-d (shape `(1,)` is
//! accepted).

pub mod arrays;
pub mod interval;

use crate::diff::{self, Derivation};
use crate::eval::{self, Env, Evaluator, Limits, Tensor, Value};
use crate::ir::{Expr, Rat};
use crate::models::Loaded;
use crate::syntax::Model;
use arrays::{Array, Dtype};
use num_traits::{Signed, ToPrimitive, Zero};
use rand::Rng;
use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// Up to this many positions (the product of the model's axis sizes) the
/// reference is computed exactly or by rigorous enclosure; above it over
/// `f64` intervals.
pub const EXACT_ENTRIES: usize = 10_000;

/// The f64 evaluation's error bound must stay below this fraction of the
/// tolerance; otherwise the exact evaluation decides.
pub const BOUND_OF_TOLERANCE: f64 = 1e-3;

/// Most positions the exact evaluation takes over when the f64 bound is too
/// wide (27 648 took 22 s in a release build; this is about a minute).
pub const EXACT_FALLBACK_ENTRIES: usize = 60_000;

/// Default tolerances by the dtype of the compared array: entry-wise
/// `|got − ref| ≤ atol · scale + rtol · |ref|`.
pub fn default_tolerance(dtype: Dtype) -> (f64, f64) {
    let t = match dtype {
        Dtype::F64 => crate::torch::TOL_F64,
        Dtype::F32 => crate::torch::TOL_F32,
    };
    (t.rtol, t.atol_of_max)
}

/// Options of `verify --against`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options {
    /// Override the dtype's relative tolerance.
    pub rtol: Option<f64>,
    /// Override the dtype's absolute tolerance (a fraction of the scale).
    pub atol: Option<f64>,
}

/// What an array of the file stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Input,
    Param,
    Const,
    /// The upstream gradient of this output.
    Upstream(String),
    /// The implementation's gradient of this input or parameter.
    Grad(String),
    /// A direction `v_<q>` for second order, paired with the gradient of
    /// this input or parameter.
    Direction(String),
    /// The implementation's second-order gradient `∂/∂p Σ_q ⟨grad_q, v_q⟩`
    /// with respect to this input or parameter (upstream gradients fixed).
    Grad2(String),
}

impl Role {
    /// An implementation's result, compared with the derivation.
    pub fn is_compared(&self) -> bool {
        matches!(self, Role::Grad(_) | Role::Grad2(_))
    }

    /// May be left out of a file.
    fn is_optional(&self) -> bool {
        matches!(self, Role::Grad(_) | Role::Grad2(_) | Role::Direction(_))
    }
}

/// An array the model expects, with its axes in declared order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub role: Role,
    pub axes: Vec<String>,
}

impl Expected {
    fn describe(&self) -> String {
        let what = match &self.role {
            Role::Input => "input".to_string(),
            Role::Param => "param".to_string(),
            Role::Const => "const".to_string(),
            Role::Upstream(y) => format!("upstream gradient of output {y}"),
            Role::Grad(w) => format!("your gradient of {w}"),
            Role::Direction(q) => format!("second-order direction paired with grad_{q}"),
            Role::Grad2(p) => format!("your second-order gradient ∂/∂{p} Σ_q ⟨grad_q, v_q⟩"),
        };
        format!("{what} {}{}", self.name, axes_text(&self.axes))
    }
}

fn axes_text(axes: &[String]) -> String {
    if axes.is_empty() {
        String::new()
    } else {
        format!("[{}]", axes.join(","))
    }
}

/// `axes` in the model's declared axis order.
pub fn declared(model: &Model, axes: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = axes.into_iter().collect();
    model
        .axes
        .iter()
        .filter(|a| set.contains(*a))
        .cloned()
        .collect()
}

/// Every array name the model knows, in the order they are written:
/// inputs, params, constants, upstream gradients, `grad_<name>`, and for
/// second order the directions `v_<name>` and `grad2_<name>` (left out
/// where such a name is already one of the model's).
pub fn expected(model: &Model) -> Vec<Expected> {
    let mut out = Vec::new();
    let vars = || model.inputs.iter().chain(&model.params);
    for s in vars() {
        let role = if model.inputs.contains(s) {
            Role::Input
        } else {
            Role::Param
        };
        out.push(Expected {
            name: s.name.clone(),
            role,
            axes: declared(model, s.axes.iter().cloned()),
        });
    }
    for c in &model.consts {
        out.push(Expected {
            name: c.clone(),
            role: Role::Const,
            axes: vec![],
        });
    }
    for y in &model.outputs {
        let d = diff::upstream(model, y);
        out.push(Expected {
            name: d.name.clone(),
            role: Role::Upstream(y.clone()),
            axes: declared(model, d.axes.iter().cloned()),
        });
    }
    for s in vars() {
        out.push(Expected {
            name: format!("grad_{}", s.name),
            role: Role::Grad(s.name.clone()),
            axes: declared(model, s.axes.iter().cloned()),
        });
    }
    let taken = |out: &[Expected], name: &str| {
        out.iter().any(|e| e.name == name) || model.defs.iter().any(|(n, _)| n == name)
    };
    for (prefix, second) in [("v_", true), ("grad2_", false)] {
        for s in vars() {
            let name = format!("{prefix}{}", s.name);
            if taken(&out, &name) {
                continue;
            }
            let role = if second {
                Role::Direction(s.name.clone())
            } else {
                Role::Grad2(s.name.clone())
            };
            out.push(Expected {
                name,
                role,
                axes: declared(model, s.axes.iter().cloned()),
            });
        }
    }
    out
}

/// The arrays of a file checked against the model: axis sizes, and each
/// expected array present (in [`expected`] order) with its values
/// row-major in declared axis order.
#[derive(Clone, Debug)]
pub struct Bound {
    /// Axis sizes, in declared order.
    pub sizes: Vec<(String, usize)>,
    pub arrays: Vec<(Expected, Array)>,
}

impl Bound {
    fn size_map(&self) -> BTreeMap<String, usize> {
        self.sizes.iter().cloned().collect()
    }

    fn get(&self, name: &str) -> Option<&Array> {
        self.arrays
            .iter()
            .find(|(e, _)| e.name == name)
            .map(|(_, a)| a)
    }
}

/// Match the file's arrays with the model: every name known, every input,
/// param, constant and upstream gradient present, every axis of one size,
/// at least one `grad_<name>`, finite inputs. The error names the array
/// and, for a shape, the axis.
pub fn bind(model: &Model, given: &BTreeMap<String, Array>) -> Result<Bound, String> {
    let want = expected(model);
    let names: Vec<&str> = want.iter().map(|e| e.name.as_str()).collect();
    for name in given.keys() {
        if !names.contains(&name.as_str()) {
            return Err(format!(
                "array `{name}` is not a name of the model; its arrays are {}",
                names.join(", ")
            ));
        }
    }
    // Which array fixed each axis size: (size, array, position).
    let mut sizes: BTreeMap<String, (usize, String, usize)> = BTreeMap::new();
    let mut arrays = Vec::new();
    for e in &want {
        let Some(a) = given.get(&e.name) else {
            if !e.role.is_optional() {
                return Err(format!("array `{}` is missing ({})", e.name, e.describe()));
            }
            continue;
        };
        let scalar_as_1 = e.axes.is_empty() && a.shape == [1];
        if a.shape.len() != e.axes.len() && !scalar_as_1 {
            return Err(format!(
                "array `{}` has shape {} ({} axes), but {} has {} axes: ({})",
                e.name,
                a.shape_text(),
                a.shape.len(),
                e.describe(),
                e.axes.len(),
                e.axes.join(", ")
            ));
        }
        for (k, (axis, &n)) in e.axes.iter().zip(&a.shape).enumerate() {
            match sizes.get(axis) {
                Some((m, other, j)) if *m != n => {
                    return Err(format!(
                        "array `{}` axis {k} (`{axis}`) has size {n}, but array `{other}` axis {j} (`{axis}`) has size {m}",
                        e.name
                    ));
                }
                Some(_) => {}
                None => {
                    if n == 0 {
                        return Err(format!("array `{}` axis {k} (`{axis}`) has size 0", e.name));
                    }
                    sizes.insert(axis.clone(), (n, e.name.clone(), k));
                }
            }
        }
        if !e.role.is_compared() {
            if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "array `{}` holds {} at flat index {i}",
                    e.name, a.data[i]
                ));
            }
        }
        arrays.push((e.clone(), a.clone()));
    }
    let has = |f: fn(&Role) -> bool| arrays.iter().any(|(e, _)| f(&e.role));
    if has(|r| matches!(r, Role::Grad2(_))) && !has(|r| matches!(r, Role::Direction(_))) {
        return Err(
            "grad2_ arrays need directions: add v_<name> for at least one input or parameter \
             (grad2_p is compared with ∂/∂p Σ_q ⟨grad_q, v_q⟩)"
                .to_string(),
        );
    }
    if has(|r| matches!(r, Role::Direction(_))) && !has(|r| matches!(r, Role::Grad2(_))) {
        return Err(
            "v_ arrays are second-order directions: add the grad2_<name> arrays they are for"
                .to_string(),
        );
    }
    if !arrays.iter().any(|(e, _)| e.role.is_compared()) {
        let grads: Vec<&str> = want
            .iter()
            .filter(|e| matches!(e.role, Role::Grad(_)))
            .map(|e| e.name.as_str())
            .collect();
        return Err(format!(
            "no gradient to compare: add at least one of {}",
            grads.join(", ")
        ));
    }
    let mut ordered = Vec::new();
    for a in &model.axes {
        match sizes.get(a) {
            Some((n, _, _)) => ordered.push((a.clone(), *n)),
            None => return Err(format!("no array gives the size of axis `{a}`")),
        }
    }
    Ok(Bound {
        sizes: ordered,
        arrays,
    })
}

/// Row-major values over `from` reordered row-major over `to` (the same
/// axes in another order).
fn permute<T: Clone>(
    data: &[T],
    from: &[String],
    to: &[String],
    sizes: &BTreeMap<String, usize>,
) -> Vec<T> {
    if from == to {
        return data.to_vec();
    }
    let dims_to: Vec<usize> = to.iter().map(|a| sizes[a]).collect();
    // The stride in `from` layout of each axis of `to`.
    let strides: Vec<usize> = to
        .iter()
        .map(|a| {
            let k = from.iter().position(|b| b == a).unwrap_or(0);
            from[k + 1..].iter().map(|b| sizes[b]).product()
        })
        .collect();
    arrays::gather(data, &dims_to, &strides)
}

/// The exact environment of the bound inputs, params, constants and
/// upstream gradients (symbol layout: sorted axes).
fn exact_env(bound: &Bound) -> Env {
    let sizes = bound.size_map();
    let mut values = BTreeMap::new();
    for (e, a) in &bound.arrays {
        if e.role.is_compared() {
            continue;
        }
        let sorted: Vec<String> = {
            let mut s = e.axes.clone();
            s.sort();
            s
        };
        let data: Vec<Rat> = permute(&a.data, &e.axes, &sorted, &sizes)
            .into_iter()
            .map(|v| Rat::from_float(v).unwrap_or_else(Rat::zero))
            .collect();
        values.insert(e.name.clone(), Tensor { axes: sorted, data });
    }
    Env { sizes, values }
}

/// The derived gradients at the bound arrays, exactly or as rigorous
/// enclosures, row-major in declared axis order, by input or parameter.
/// Checks the model's assumptions there first.
pub fn enclose(
    model: &Model,
    derivation: &Derivation,
    bound: &Bound,
) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let env = exact_env(bound);
    let limits = Limits {
        budget: u64::MAX,
        deadline: None,
    };
    let mut ev = Evaluator::with_limits(&env, limits);
    let fail = |what: &str, e: eval::EvalError| format!("cannot evaluate {what}: {e}");
    for (name, e) in &model.defs {
        let axes: Vec<String> = e.free_axes().into_iter().collect();
        let v = ev.eval_over(e, &axes).map_err(|x| fail(name, x))?;
        ev.bind(name, axes, v);
    }
    for a in &model.assumptions {
        let axes: Vec<String> = a.expr.free_axes().into_iter().collect();
        let v = ev
            .eval_over(&a.expr, &axes)
            .map_err(|x| fail("an assumption", x))?;
        if let Some(k) = v.iter().position(|v| v.holds(a.rel) == Some(false)) {
            let at = if axes.is_empty() {
                String::new()
            } else {
                format!(" at flat index {k} over ({})", axes.join(", "))
            };
            return Err(format!(
                "the model assumes {a}, which does not hold for these arrays{at}"
            ));
        }
    }
    for (s, e) in derivation.program() {
        let v = ev.eval_over(&e, &s.axes).map_err(|x| fail(&s.name, x))?;
        ev.bind(&s.name, s.axes.clone(), v);
    }
    let mut out = BTreeMap::new();
    for (name, e, axes) in gradient_reads(model, derivation)
        .into_iter()
        .chain(second_order_reads(model, derivation, bound)?)
    {
        let v = ev.eval_over(&e, &axes).map_err(|x| fail(&name, x))?;
        out.insert(name, v);
    }
    Ok(out)
}

/// The second-order gradient of each `grad2_<p>` in the file: with the
/// file's directions `v_q`, `∂/∂p Σ_q ⟨grad_q, v_q⟩`, every first-order
/// gradient inlined and differentiated again, the upstream gradients held
/// fixed. The array's name, the expression, its axes in declared order.
fn second_order_reads(
    model: &Model,
    derivation: &Derivation,
    bound: &Bound,
) -> Result<Vec<(String, Expr, Vec<String>)>, String> {
    let directions: Vec<(&Expected, Expr)> = bound
        .arrays
        .iter()
        .filter_map(|(e, _)| match &e.role {
            Role::Direction(q) => Some((e, q)),
            _ => None,
        })
        .map(|(e, q)| {
            let g = derivation
                .gradient_symbol(q)
                .ok_or_else(|| format!("the derivation has no gradient of `{q}`"))?;
            Ok((e, derivation.inline(&g, model)))
        })
        .collect::<Result<_, String>>()?;
    let mut out = Vec::new();
    for (e, _) in &bound.arrays {
        let Role::Grad2(p) = &e.role else { continue };
        let mut total = Expr::num(0);
        for (v, grad_q) in &directions {
            let seed = Expr::Sym(crate::ir::Symbol::new(
                v.name.clone(),
                v.axes.iter().cloned(),
            ));
            let d = diff::grad_of(grad_q, &seed, p)
                .map_err(|x| format!("cannot differentiate grad_{p} again: {x}"))?;
            total = Expr::add(total, d);
        }
        out.push((e.name.clone(), total, e.axes.clone()));
    }
    Ok(out)
}

/// Each derived gradient once its program is bound: the array it is
/// compared with (`grad_<name>`), the expression that reads it, and its
/// axes in declared order.
fn gradient_reads(model: &Model, derivation: &Derivation) -> Vec<(String, Expr, Vec<String>)> {
    derivation
        .gradients
        .iter()
        .map(|g| {
            let e = if g.is_definition() {
                Expr::Sym(g.name.clone())
            } else {
                g.expr.clone()
            };
            (
                format!("grad_{}", g.of),
                e,
                declared(model, g.name.axes.iter().cloned()),
            )
        })
        .collect()
}

/// A reference value and a bound on its distance from the true value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Approx {
    pub value: f64,
    pub bound: f64,
}

/// `v` correctly rounded to `f64`, when the enclosure decides it.
pub fn rounded(v: &Value) -> Option<f64> {
    let lo = v.lo().to_f64()?;
    let hi = v.hi().to_f64()?;
    (lo.to_bits() == hi.to_bits() || (lo == 0.0 && hi == 0.0)).then_some(lo)
}

/// The nearest `f64` to `v` (to its midpoint when undecided) and a bound
/// on `|true − value|`.
fn approx(v: &Value) -> Approx {
    if let Some(r) = rounded(v) {
        let bound = match v {
            Value::Exact(x) if Rat::from_float(r).as_ref() == Some(x) => 0.0,
            _ => half_ulp(r),
        };
        return Approx { value: r, bound };
    }
    let value = v.approx();
    let far = match Rat::from_float(value) {
        Some(r) => (&r - v.lo()).abs().max((v.hi() - &r).abs()),
        None => v.hi() - v.lo(),
    };
    let bound = far.to_f64().unwrap_or(f64::INFINITY);
    Approx {
        value,
        bound: next_up(bound),
    }
}

fn half_ulp(x: f64) -> f64 {
    let x = x.abs();
    if x == 0.0 {
        f64::from_bits(1)
    } else {
        (next_up(x) - x) / 2.0 + f64::from_bits(1)
    }
}

/// The next `f64` above a non-negative finite `x`.
pub(crate) fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        x
    } else if x == 0.0 {
        f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        f64::from_bits(x.to_bits() - 1)
    }
}

/// How the reference values were computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Rationals with rigorous enclosures of irrational roots.
    Exact,
    /// `f64` intervals rounded outward.
    Interval,
}

impl Method {
    pub fn describe(self) -> &'static str {
        match self {
            Method::Exact => "exact rationals, irrational roots by rigorous enclosure",
            Method::Interval => "f64 intervals rounded outward (a rigorous error bound)",
        }
    }
}

/// The worst entry of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct WorstEntry {
    /// Position along each axis, in declared order.
    pub index: Vec<(String, usize)>,
    pub got: f64,
    pub reference: f64,
}

impl WorstEntry {
    /// `grad_x[n=1, c=2] (array index (1, 2))`: the entry of array `name`,
    /// by axis and as the index a NumPy user types.
    pub fn entry_text(&self, name: &str) -> String {
        if self.index.is_empty() {
            return format!("{name} (a scalar)");
        }
        let parts: Vec<String> = self.index.iter().map(|(a, i)| format!("{a}={i}")).collect();
        let tuple: Vec<String> = self.index.iter().map(|(_, i)| i.to_string()).collect();
        let comma = if tuple.len() == 1 { "," } else { "" };
        format!(
            "{name}[{}] (array index ({}{comma}))",
            parts.join(", "),
            tuple.join(", ")
        )
    }
}

/// One compared tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// `grad_x`.
    pub name: String,
    /// `x`.
    pub of: String,
    pub axes: Vec<String>,
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub rtol: f64,
    pub atol: f64,
    /// The tolerance's scale: the largest `|ref|` of this tensor, or of all
    /// compared gradients where that is larger (a tensor that is zero
    /// holds nothing but rounding).
    pub scale: f64,
    /// `max|got − ref| / max|ref|` (the absolute error when `ref` is 0).
    pub rel_err: f64,
    pub abs_err: f64,
    pub max_ref: f64,
    /// A bound on `|true − ref|` over the tensor.
    pub error_bound: f64,
    /// Whether every entry's error bound is at most [`BOUND_OF_TOLERANCE`]
    /// of its tolerance.
    pub bound_within_tolerance: bool,
    pub passed: bool,
    pub worst: Option<WorstEntry>,
}

/// The outcome of `verify --against`.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub model: String,
    pub file: String,
    pub sizes: Vec<(String, usize)>,
    pub method: Method,
    pub comparisons: Vec<Comparison>,
    /// Gradients the model has and the file does not.
    pub not_compared: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.comparisons.iter().all(|c| c.passed)
    }
}

/// The reference values of every compared array, by its name (`grad_x`,
/// `grad2_x`).
type References = BTreeMap<String, Vec<Approx>>;

fn references_exact(
    model: &Model,
    derivation: &Derivation,
    bound: &Bound,
) -> Result<References, String> {
    Ok(enclose(model, derivation, bound)?
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(approx).collect()))
        .collect())
}

/// Compare the implementation's gradients in `given` with the derived ones.
pub fn check(
    loaded: &Loaded,
    file: &str,
    given: &BTreeMap<String, Array>,
    opts: &Options,
) -> Result<Report, String> {
    let model = &loaded.model;
    let derivation =
        diff::derive(model).map_err(|e| format!("cannot differentiate the model: {e}"))?;
    let bound = bind(model, given)?;
    let positions: usize = bound.sizes.iter().map(|(_, n)| *n).product();
    let second = bound
        .arrays
        .iter()
        .any(|(e, _)| matches!(e.role, Role::Grad2(_)));
    if second && positions > EXACT_ENTRIES {
        return Err(format!(
            "second-order arrays are compared exactly, at up to {EXACT_ENTRIES} positions; \
             these arrays span {positions}: compare smaller arrays"
        ));
    }
    let (mut method, mut refs) = if positions <= EXACT_ENTRIES {
        (Method::Exact, references_exact(model, &derivation, &bound)?)
    } else {
        match interval::references(model, &derivation, &bound) {
            Ok(r) => (Method::Interval, r),
            // An interval that cannot decide the total semantics (a divisor
            // around 0): the exact evaluation can.
            Err(_) => (Method::Exact, references_exact(model, &derivation, &bound)?),
        }
    };
    let mut comparisons = compare_all(&bound, &refs, opts)?;
    let too_wide = comparisons.iter().any(|c| !c.bound_within_tolerance);
    if method == Method::Interval && too_wide && positions > EXACT_FALLBACK_ENTRIES {
        // Exact rationals over this many positions would run for hours.
        return Err(format!(
            "the f64 error bound at {positions} positions is wider than {BOUND_OF_TOLERANCE} of \
             the tolerance, and an exact evaluation of more than {EXACT_FALLBACK_ENTRIES} \
             positions is too slow: compare smaller arrays (the axis sizes only need to show \
             the bug), or loosen --rtol/--atol"
        ));
    }
    if method == Method::Interval && too_wide {
        // The f64 bound cannot decide at this tolerance: the exact
        // evaluation does, whatever it costs.
        method = Method::Exact;
        refs = references_exact(model, &derivation, &bound)?;
        comparisons = compare_all(&bound, &refs, opts)?;
    }
    let not_compared = expected(model)
        .into_iter()
        .filter(|e| matches!(e.role, Role::Grad(_)) && bound.get(&e.name).is_none())
        .map(|e| e.name)
        .collect();
    Ok(Report {
        model: loaded.name.clone(),
        file: file.to_string(),
        sizes: bound.sizes.clone(),
        method,
        comparisons,
        not_compared,
    })
}

fn compare_all(
    bound: &Bound,
    refs: &References,
    opts: &Options,
) -> Result<Vec<Comparison>, String> {
    let max_abs = |v: &[Approx]| v.iter().fold(0.0f64, |m, a| m.max(a.value.abs()));
    let second = |r: &Role| matches!(r, Role::Grad2(_));
    // The largest reference among the compared arrays of one order.
    let order_scale = |of_second: bool| {
        bound
            .arrays
            .iter()
            .filter(|(e, _)| e.role.is_compared() && second(&e.role) == of_second)
            .filter_map(|(e, _)| refs.get(&e.name).map(|r| max_abs(r)))
            .fold(0.0f64, f64::max)
    };
    let sizes = bound.size_map();
    let mut out = Vec::new();
    for (e, a) in &bound.arrays {
        let (Role::Grad(of) | Role::Grad2(of)) = &e.role else {
            continue;
        };
        let reference = refs
            .get(&e.name)
            .ok_or_else(|| format!("the derivation has no value for `{}`", e.name))?;
        let (rtol0, atol0) = default_tolerance(a.dtype);
        let rtol = opts.rtol.unwrap_or(rtol0);
        let atol = opts.atol.unwrap_or(atol0);
        let max_ref = max_abs(reference);
        let scale = max_ref.max(order_scale(second(&e.role)));
        let mut c = Comparison {
            name: e.name.clone(),
            of: of.clone(),
            axes: e.axes.clone(),
            shape: e.axes.iter().map(|x| sizes[x]).collect(),
            dtype: a.dtype,
            rtol,
            atol,
            scale,
            rel_err: 0.0,
            abs_err: 0.0,
            max_ref,
            error_bound: reference.iter().fold(0.0f64, |m, r| m.max(r.bound)),
            bound_within_tolerance: true,
            passed: true,
            worst: None,
        };
        let mut worst: Option<(f64, usize)> = None;
        for (k, (g, r)) in a.data.iter().zip(reference).enumerate() {
            let err = (g - r.value).abs();
            let err = if err.is_nan() { f64::INFINITY } else { err };
            let tol = atol * scale + rtol * (r.value.abs() - r.bound).max(0.0);
            if err + r.bound > tol {
                c.passed = false;
            }
            if r.bound > BOUND_OF_TOLERANCE * tol {
                c.bound_within_tolerance = false;
            }
            if worst.is_none_or(|(w, _)| err > w) {
                worst = Some((err, k));
            }
            c.abs_err = c.abs_err.max(err);
        }
        c.rel_err = if max_ref > 0.0 {
            c.abs_err / max_ref
        } else {
            c.abs_err
        };
        c.worst = worst.map(|(_, k)| WorstEntry {
            index: unflatten(k, &e.axes, &sizes),
            got: a.data[k],
            reference: reference[k].value,
        });
        out.push(c);
    }
    Ok(out)
}

/// The position along each axis of row-major entry `k`.
fn unflatten(
    mut k: usize,
    axes: &[String],
    sizes: &BTreeMap<String, usize>,
) -> Vec<(String, usize)> {
    let mut out = vec![(String::new(), 0); axes.len()];
    for (slot, a) in out.iter_mut().zip(axes).rev() {
        let n = sizes[a].max(1);
        *slot = (a.clone(), k % n);
        k /= n;
    }
    out
}

/// Text: one line per tensor, then the verdict.
pub fn write_text(out: &mut impl Write, r: &Report) -> fmt::Result {
    let sizes: Vec<String> = r.sizes.iter().map(|(a, n)| format!("{a}={n}")).collect();
    writeln!(
        out,
        "{} against {}: sizes {}; reference by {}",
        r.model,
        r.file,
        sizes.join(", "),
        r.method.describe()
    )?;
    for c in &r.comparisons {
        writeln!(
            out,
            "  {} {:<12} {} {:<14} max|got − ref| / max|ref| = {:.2e} (abs {:.2e}; tolerance {:.0e}·{:.2e} + {:.0e}·|ref|)",
            if c.passed { "ok  " } else { "FAIL" },
            c.name,
            c.dtype.name(),
            arrays::shape_text(&c.shape),
            c.rel_err,
            c.abs_err,
            c.atol,
            c.scale,
            c.rtol,
        )?;
        if let Some(w) = c.worst.as_ref().filter(|_| !c.passed) {
            writeln!(
                out,
                "       worst entry {}: got {:e}, reference {:e}",
                w.entry_text(&c.name),
                w.got,
                w.reference
            )?;
        }
    }
    if !r.not_compared.is_empty() {
        writeln!(out, "  not in the file: {}", r.not_compared.join(", "))?;
    }
    let failed: Vec<&str> = r
        .comparisons
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    if failed.is_empty() {
        writeln!(out, "{} tensors agree", r.comparisons.len())
    } else {
        writeln!(
            out,
            "{} of {} tensors disagree: {}",
            failed.len(),
            r.comparisons.len(),
            failed.join(", ")
        )
    }
}

/// JSON: `model`, `file`, `axes`, `sizes`, `method`, `ok`, `tensors`
/// (each with its errors, tolerance and worst entry), `not_compared`.
pub fn to_json(r: &Report) -> serde_json::Value {
    let tensors: Vec<serde_json::Value> = r
        .comparisons
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "wrt": c.of,
                "dtype": c.dtype.name(),
                "axes": c.axes,
                "shape": c.shape,
                "passed": c.passed,
                "rel_err": c.rel_err,
                "abs_err": c.abs_err,
                "max_ref": c.max_ref,
                "rtol": c.rtol,
                "atol": c.atol,
                "scale": c.scale,
                "error_bound": c.error_bound,
                "worst": c.worst.as_ref().map(|w| serde_json::json!({
                    "index": w.index.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
                    "axes": w.index.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(),
                    "got": w.got,
                    "reference": w.reference,
                })),
            })
        })
        .collect();
    serde_json::json!({
        "model": r.model,
        "file": r.file,
        "axes": r.sizes.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(),
        "sizes": r.sizes.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        "method": match r.method { Method::Exact => "exact", Method::Interval => "f64-interval" },
        "ok": r.passed(),
        "tensors": tensors,
        "not_compared": r.not_compared,
    })
}

/// JUnit: one test case per compared tensor.
pub fn junit_suite(r: &Report) -> crate::junit::Suite {
    let cases = r
        .comparisons
        .iter()
        .map(|c| {
            let mut case = crate::junit::Case::new(
                format!("{}.against", r.model),
                format!("{} against {}", c.name, r.file),
            );
            case.file = Some(r.file.clone());
            if !c.passed {
                let worst = c
                    .worst
                    .as_ref()
                    .map(|w| {
                        format!(
                            "; worst entry {}: got {:e}, reference {:e}",
                            w.entry_text(&c.name),
                            w.got,
                            w.reference
                        )
                    })
                    .unwrap_or_default();
                case.outcome = crate::junit::Outcome::Failure {
                    message: format!(
                        "{}: max|got − ref| / max|ref| = {:.2e}{worst}",
                        c.name, c.rel_err
                    ),
                    text: String::new(),
                };
            }
            case
        })
        .collect();
    crate::junit::Suite {
        name: format!("bnproof verify {} --against {}", r.model, r.file),
        cases,
    }
}

/// `verify MODEL --against module.pt`: seeded arrays as [`vectors`] draws
/// them (inputs, params, constants, upstream gradients, in [`expected`]
/// order, each as `f64` or `f32`), given positionally to the user's
/// backward by `run`, whose returned tensors are read as `grad_<name>` in
/// declaration order and compared like arrays from a file.
pub fn check_module(
    loaded: &Loaded,
    file: &str,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
    f32_args: bool,
    run: impl FnOnce(&[(String, Array)]) -> Result<Vec<Array>, String>,
    opts: &Options,
) -> Result<Report, String> {
    let drawn = vectors(loaded, sizes, seed, 1)?;
    let want = expected(&loaded.model);
    let grads: Vec<&Expected> = want
        .iter()
        .filter(|e| matches!(e.role, Role::Grad(_)))
        .collect();
    let args: Vec<(String, Array)> = drawn
        .into_iter()
        .filter(|(name, _)| grads.iter().all(|g| &g.name != name))
        .map(|(name, mut a)| {
            if f32_args {
                a.dtype = Dtype::F32;
            }
            (name, a)
        })
        .collect();
    let results = run(&args)?;
    let names: Vec<&str> = grads.iter().map(|g| g.name.as_str()).collect();
    if results.len() != grads.len() {
        let arg_names: Vec<&str> = args.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!(
            "the module returned {} tensor{}; forward({}) must return {} ({}), in this order",
            results.len(),
            if results.len() == 1 { "" } else { "s" },
            arg_names.join(", "),
            grads.len(),
            names.join(", ")
        ));
    }
    let mut given: BTreeMap<String, Array> = args.into_iter().collect();
    for (name, a) in names.iter().zip(results) {
        given.insert((*name).to_string(), a);
    }
    check(loaded, file, &given, opts)
}

/// Default axis sizes of `vectors`: 4, 3, 2, 3, 2 by declared position.
pub fn default_sizes(model: &Model) -> BTreeMap<String, usize> {
    model
        .axes
        .iter()
        .enumerate()
        .map(|(k, a)| (a.clone(), [4, 3, 2, 3, 2][k % 5]))
        .collect()
}

/// Reference vectors: seeded inputs, params, constants and upstream
/// gradients, and the derived gradients correctly rounded to `f64`, in
/// [`expected`] order, every array in declared axis order. With `order` 2
/// also a seeded direction `v_<q>` for every input and parameter (in
/// `[-1, 1]`) and every `grad2_<p>`.
///
/// Inputs and params are uniform in `[-2, 2]` (those assumed positive in
/// `[0.5, 2]`), constants in `[0.05, 0.5]` so that `eps` moves the result
/// well above any tolerance, upstream gradients in `[-1, 1]`; every value
/// is a float32 number, so an f32 implementation reads the same inputs.
/// The model's assumptions must hold (otherwise the draw is repeated).
pub fn vectors(
    loaded: &Loaded,
    sizes: &BTreeMap<String, usize>,
    seed: u64,
    order: u8,
) -> Result<Vec<(String, Array)>, String> {
    if !(1..=2).contains(&order) {
        return Err(format!(
            "order {order}: vectors are written for orders 1 and 2"
        ));
    }
    let model = &loaded.model;
    let derivation =
        diff::derive(model).map_err(|e| format!("cannot differentiate the model: {e}"))?;
    for a in &model.axes {
        if !sizes.contains_key(a) {
            return Err(format!("no size for axis `{a}`"));
        }
    }
    if let Some(a) = sizes.keys().find(|a| !model.axes.contains(a)) {
        return Err(format!(
            "the model has no axis `{a}`; its axes are {}",
            model.axes.join(", ")
        ));
    }
    let want: Vec<Expected> = expected(model)
        .into_iter()
        .filter(|e| order == 2 || !matches!(e.role, Role::Direction(_) | Role::Grad2(_)))
        .collect();
    let mut last = String::new();
    for attempt in 0..16u64 {
        let mut rng = crate::oracle::sample::rng(
            seed.wrapping_add(attempt.wrapping_mul(0x9E37_79B9)),
            crate::oracle::sample::Stream::Sample,
        );
        let positive: Vec<String> = model
            .assumptions
            .iter()
            .filter_map(|a| match &a.expr {
                Expr::Sym(s) => Some(s.name.clone()),
                _ => None,
            })
            .collect();
        let mut given = BTreeMap::new();
        for e in &want {
            let n: usize = e.axes.iter().map(|a| sizes[a]).product();
            let range = match &e.role {
                Role::Grad(_) => continue,
                Role::Const => 0.05..0.5,
                Role::Upstream(_) | Role::Direction(_) => -1.0..1.0,
                _ if positive.contains(&e.name) => 0.5..2.0,
                _ => -2.0..2.0,
            };
            let data = (0..n)
                .map(|_| f64::from(rng.gen_range(range.clone()) as f32))
                .collect();
            let shape = e.axes.iter().map(|a| sizes[a]).collect();
            given.insert(e.name.clone(), Array::f64(shape, data));
        }
        // Placeholders so that the arrays bind (a first-order gradient; at
        // order 2 every grad2_, which says which to compute); replaced below.
        if !want.iter().any(|e| matches!(e.role, Role::Grad(_))) {
            return Err("the model has no input or parameter to differentiate".into());
        }
        let placeholders = want
            .iter()
            .filter(|e| matches!(e.role, Role::Grad2(_)))
            .chain(want.iter().find(|e| matches!(e.role, Role::Grad(_))));
        for e in placeholders {
            let n: usize = e.axes.iter().map(|a| sizes[a]).product();
            let shape = e.axes.iter().map(|a| sizes[a]).collect();
            given.insert(e.name.clone(), Array::f64(shape, vec![0.0; n]));
        }
        let bound = bind(model, &given)?;
        let grads = match correctly_rounded(model, &derivation, &bound) {
            Ok(g) => g,
            Err(e) if e.contains("does not hold") => {
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in &want {
            let shape: Vec<usize> = e.axes.iter().map(|a| sizes[a]).collect();
            match &e.role {
                Role::Grad(_) | Role::Grad2(_) => {
                    let data = grads
                        .get(&e.name)
                        .cloned()
                        .ok_or_else(|| format!("the derivation has no value for `{}`", e.name))?;
                    out.push((e.name.clone(), Array::f64(shape, data)));
                }
                _ => out.push((e.name.clone(), given[&e.name].clone())),
            }
        }
        return Ok(out);
    }
    Err(format!(
        "no random draw satisfied the model's assumptions: {last}"
    ))
}

/// The derived gradients correctly rounded to `f64`: the enclosures are
/// recomputed at twice the precision until each decides its rounding.
fn correctly_rounded(
    model: &Model,
    derivation: &Derivation,
    bound: &Bound,
) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let mut bits = 96u32;
    loop {
        let values = eval::with_precision(bits, || enclose(model, derivation, bound))?;
        let rounded: Option<BTreeMap<String, Vec<f64>>> = values
            .iter()
            .map(|(k, vs)| Some((k.clone(), vs.iter().map(rounded).collect::<Option<_>>()?)))
            .collect();
        match rounded {
            Some(r) => return Ok(r),
            None if bits < 96 * 16 => bits *= 2,
            None => {
                return Err(format!(
                    "the rounding of a gradient to f64 is still undecided at {bits} bits"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! The forward pass of a model over jets, written independently of the
//! symbolic differentiation code and of [`crate::eval`].
//!
//! Definitions are evaluated in file order, each as a tensor over its free
//! axes (sorted, row-major, last axis fastest, as [`crate::eval::Tensor`]).
//! A symbol that is perturbed (a direction is given for it) becomes
//! `x + t v`; every other input, parameter or constant is a constant jet.
//!
//! The pass is generic over its numbers ([`Coef`]): exact jets ([`Jet`]),
//! or first-order dual numbers of rigorous enclosures
//! ([`super::interval::Dual`]) where values are irrational.

use super::jet::Jet;
use super::OracleError;
use crate::eval::{assignments, Env, Tensor};
use crate::ir::{Expr, Fun, Rat, RedOp};
use crate::syntax::Model;
use num_traits::Zero;
use std::collections::{BTreeMap, BTreeSet};

/// Work budget: expression nodes evaluated per forward pass.
pub const BUDGET: u64 = 20_000_000;

/// Deepest expression evaluated (recursion guard).
const MAX_DEPTH: usize = 256;

/// The numbers a forward pass runs over. Operations follow the total
/// semantics and answer [`OracleError::NotSmooth`] at a kink and
/// [`OracleError::Irrational`] where a value cannot be held.
pub trait Coef: Clone {
    fn constant(v: Rat, order: usize) -> Self;
    /// `v + dv · t`.
    fn linear(v: Rat, dv: Rat, order: usize) -> Self;
    fn add(&self, o: &Self) -> Result<Self, OracleError>;
    fn sub(&self, o: &Self) -> Result<Self, OracleError>;
    fn mul(&self, o: &Self) -> Result<Self, OracleError>;
    fn neg(&self) -> Self;
    fn scale(&self, s: &Rat) -> Result<Self, OracleError>;
    fn div(&self, o: &Self) -> Result<Self, OracleError>;
    /// `self ^ p` for a rational constant `p`.
    fn pow(&self, p: &Rat) -> Result<Self, OracleError>;
    fn exp(&self) -> Result<Self, OracleError>;
    /// `log |self|`.
    fn log(&self) -> Result<Self, OracleError>;
    fn abs(&self) -> Result<Self, OracleError>;
    fn max_min(&self, o: &Self, is_max: bool) -> Result<Self, OracleError>;
    /// The value with no derivative.
    fn detach(&self) -> Self;
    /// The value is exactly 0.
    fn value_is_zero(&self) -> bool;
    /// The values are exactly equal.
    fn value_eq(&self, o: &Self) -> bool;
    /// The value, when it is exact.
    fn exact_value(&self) -> Option<Rat>;
}

impl Coef for Jet {
    fn constant(v: Rat, order: usize) -> Self {
        Jet::constant(v, order)
    }
    fn linear(v: Rat, dv: Rat, order: usize) -> Self {
        Jet::linear(v, dv, order)
    }
    fn add(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(self + o)
    }
    fn sub(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(self - o)
    }
    fn mul(&self, o: &Self) -> Result<Self, OracleError> {
        Ok(self * o)
    }
    fn neg(&self) -> Self {
        -self
    }
    fn scale(&self, s: &Rat) -> Result<Self, OracleError> {
        Ok(Jet::scale(self, s))
    }
    fn div(&self, o: &Self) -> Result<Self, OracleError> {
        Jet::div(self, o)
    }
    fn pow(&self, p: &Rat) -> Result<Self, OracleError> {
        Jet::pow(self, p)
    }
    fn exp(&self) -> Result<Self, OracleError> {
        Jet::exp(self)
    }
    fn log(&self) -> Result<Self, OracleError> {
        Jet::log(self)
    }
    fn abs(&self) -> Result<Self, OracleError> {
        Jet::abs(self)
    }
    fn max_min(&self, o: &Self, is_max: bool) -> Result<Self, OracleError> {
        Jet::max_min(self, o, is_max)
    }
    fn detach(&self) -> Self {
        Jet::detach(self)
    }
    fn value_is_zero(&self) -> bool {
        self.value().is_zero()
    }
    fn value_eq(&self, o: &Self) -> bool {
        self.value() == o.value()
    }
    fn exact_value(&self) -> Option<Rat> {
        Some(self.value().clone())
    }
}

/// A tensor of [`Coef`] numbers, laid out like [`Tensor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoefTensor<C> {
    pub axes: Vec<String>,
    pub data: Vec<C>,
}

/// A tensor of jets.
pub type JetTensor = CoefTensor<Jet>;

impl JetTensor {
    /// The values at `t = 0`.
    pub fn values(&self) -> Tensor {
        Tensor {
            axes: self.axes.clone(),
            data: self.data.iter().map(|j| j.value().clone()).collect(),
        }
    }
}

/// Row-major offset of `index` into a tensor over `axes`, and the tensor's
/// total number of entries.
pub(crate) fn offset(
    axes: &[String],
    sizes: &BTreeMap<String, usize>,
    index: &BTreeMap<String, usize>,
) -> Result<(usize, usize), OracleError> {
    let mut off = 0usize;
    let mut total = 1usize;
    for a in axes {
        let n = *sizes
            .get(a)
            .ok_or_else(|| OracleError::Model(format!("no size for axis `{a}`")))?;
        let i = *index
            .get(a)
            .ok_or_else(|| OracleError::Model(format!("no position for axis `{a}`")))?;
        if i >= n {
            return Err(OracleError::Model(format!(
                "position {i} out of range for axis `{a}`"
            )));
        }
        off = off * n + i;
        total = total.saturating_mul(n);
    }
    Ok((off, total))
}

/// Number of entries of a tensor over `axes`.
pub(crate) fn count(
    axes: &[String],
    sizes: &BTreeMap<String, usize>,
) -> Result<usize, OracleError> {
    axes.iter().try_fold(1usize, |acc, a| {
        sizes
            .get(a)
            .map(|n| acc.saturating_mul(*n))
            .ok_or_else(|| OracleError::Model(format!("no size for axis `{a}`")))
    })
}

/// Evaluates expressions over [`Coef`] numbers in an environment of
/// constant values, perturbed symbols and already evaluated definitions.
pub struct Forward<'a, C> {
    env: &'a Env,
    order: usize,
    jets: BTreeMap<String, CoefTensor<C>>,
    /// Names whose value depends on `t`.
    varying: BTreeSet<String>,
    steps: u64,
}

/// The forward pass over exact jets.
pub type JetEval<'a> = Forward<'a, Jet>;

impl<'a, C: Coef> Forward<'a, C> {
    /// Perturb each symbol named in `directions`: its value becomes
    /// `env value + t · direction`.
    pub fn new(
        env: &'a Env,
        directions: &BTreeMap<String, Tensor>,
        order: usize,
    ) -> Result<Self, OracleError> {
        if order > super::jet::MAX_ORDER {
            return Err(OracleError::TooLarge(format!("jet order {order}")));
        }
        let mut jets = BTreeMap::new();
        for (name, v) in directions {
            let x = env
                .values
                .get(name)
                .ok_or_else(|| OracleError::Model(format!("no value for `{name}`")))?;
            if x.axes != v.axes || x.data.len() != v.data.len() {
                return Err(OracleError::Model(format!(
                    "direction for `{name}` does not match its shape"
                )));
            }
            let data = x
                .data
                .iter()
                .zip(&v.data)
                .map(|(a, b)| C::linear(a.clone(), b.clone(), order))
                .collect();
            jets.insert(
                name.clone(),
                CoefTensor {
                    axes: x.axes.clone(),
                    data,
                },
            );
        }
        Ok(Forward {
            env,
            order,
            varying: jets.keys().cloned().collect(),
            jets,
            steps: 0,
        })
    }

    /// Evaluate the model's definitions in order and bind them.
    pub fn run_defs(&mut self, model: &Model) -> Result<(), OracleError> {
        self.run_defs_cut(model, None)
    }

    /// [`JetEval::run_defs`], with the value of definition `cut.0` moved by
    /// `t · cut.1` once computed: what comes after it sees the perturbed
    /// value, what it is computed from does not move. The derivative of the
    /// loss along `t` is then the adjoint of that definition paired with
    /// the direction, which reverse mode computes as ∂ℓ/∂name.
    pub fn run_defs_cut(
        &mut self,
        model: &Model,
        cut: Option<(&str, &Tensor)>,
    ) -> Result<(), OracleError> {
        for (name, e) in &model.defs {
            let mut t = self.eval_tensor(e)?;
            match cut {
                Some((c, v)) if c == name => {
                    if t.axes != v.axes || t.data.len() != v.data.len() {
                        return Err(OracleError::Model(format!(
                            "direction for `{name}` does not match its shape"
                        )));
                    }
                    for (j, d) in t.data.iter_mut().zip(&v.data) {
                        *j = j.add(&C::linear(Rat::zero(), d.clone(), self.order))?;
                    }
                    self.varying.insert(name.clone());
                    self.jets.insert(name.clone(), t);
                }
                _ => self.bind(name, e, t),
            }
        }
        Ok(())
    }

    /// Bind `name` to a tensor computed from `e`.
    pub fn bind(&mut self, name: &str, e: &Expr, t: CoefTensor<C>) {
        if self.depends(e) {
            self.varying.insert(name.to_string());
        } else {
            self.varying.remove(name);
        }
        self.jets.insert(name.to_string(), t);
    }

    /// The bound jet tensor of a perturbed symbol or evaluated definition.
    pub fn get(&self, name: &str) -> Option<&CoefTensor<C>> {
        self.jets.get(name)
    }

    /// Every bound jet tensor.
    pub fn bound(&self) -> &BTreeMap<String, CoefTensor<C>> {
        &self.jets
    }

    /// The value of `e` at every assignment of its free axes.
    pub fn eval_tensor(&mut self, e: &Expr) -> Result<CoefTensor<C>, OracleError> {
        let axes: Vec<String> = e.free_axes().into_iter().collect();
        let points = assignments(&axes, &self.env.sizes, BUDGET)?;
        let mut data = Vec::with_capacity(points.len());
        for mut p in points {
            data.push(self.ev(e, &mut p, 0)?);
        }
        Ok(CoefTensor { axes, data })
    }

    /// The value of `e` at one position.
    pub fn eval_at(&mut self, e: &Expr, index: &BTreeMap<String, usize>) -> Result<C, OracleError> {
        let mut idx = index.clone();
        self.ev(e, &mut idx, 0)
    }

    /// Whether `e` mentions a name whose value depends on `t`.
    fn depends(&self, e: &Expr) -> bool {
        match e {
            Expr::Sym(s) => self.varying.contains(&s.name),
            // A stop-gradient's jet is constant.
            Expr::App(Fun::Detach, _) => false,
            _ => e.children().iter().any(|c| self.depends(c)),
        }
    }

    fn constant(&self, v: Rat) -> C {
        C::constant(v, self.order)
    }

    fn zero(&self) -> C {
        self.constant(Rat::zero())
    }

    fn symbol(
        &self,
        s: &crate::ir::Symbol,
        index: &BTreeMap<String, usize>,
    ) -> Result<C, OracleError> {
        let sizes = &self.env.sizes;
        let mismatch = |axes: &[String]| {
            OracleError::Model(format!(
                "`{}` used with axes [{}] but bound with axes [{}]",
                s.name,
                s.axes.join(","),
                axes.join(",")
            ))
        };
        if let Some(t) = self.jets.get(&s.name) {
            if t.axes != s.axes {
                return Err(mismatch(&t.axes));
            }
            let (off, total) = offset(&t.axes, sizes, index)?;
            if t.data.len() != total {
                return Err(OracleError::Model(format!("`{}` has a wrong size", s.name)));
            }
            return Ok(t.data[off].clone());
        }
        let t = self
            .env
            .values
            .get(&s.name)
            .ok_or_else(|| OracleError::Model(format!("no value for `{}`", s.name)))?;
        if t.axes != s.axes {
            return Err(mismatch(&t.axes));
        }
        let (off, total) = offset(&t.axes, sizes, index)?;
        if t.data.len() != total {
            return Err(OracleError::Model(format!("`{}` has a wrong size", s.name)));
        }
        Ok(self.constant(t.data[off].clone()))
    }

    fn ev(
        &mut self,
        e: &Expr,
        index: &mut BTreeMap<String, usize>,
        depth: usize,
    ) -> Result<C, OracleError> {
        self.steps += 1;
        if self.steps > BUDGET {
            return Err(OracleError::TooLarge(
                "forward-pass work budget".to_string(),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(OracleError::TooLarge(
                "expression nested too deeply".to_string(),
            ));
        }
        let d = depth + 1;
        Ok(match e {
            Expr::Num(r) => self.constant(r.clone()),
            Expr::Sym(s) => self.symbol(s, index)?,
            Expr::PVar(v) => return Err(OracleError::Model(format!("pattern variable ?{v}"))),
            Expr::Neg(a) => self.ev(a, index, d)?.neg(),
            Expr::Add(a, b) => self.ev(a, index, d)?.add(&self.ev(b, index, d)?)?,
            Expr::Sub(a, b) => self.ev(a, index, d)?.sub(&self.ev(b, index, d)?)?,
            Expr::Mul(a, b) => self.ev(a, index, d)?.mul(&self.ev(b, index, d)?)?,
            Expr::Div(a, b) => {
                let x = self.ev(a, index, d)?;
                let y = self.ev(b, index, d)?;
                if y.value_is_zero() && !self.depends(b) {
                    // x / 0 = 0 for every t: exact under the total semantics.
                    self.zero()
                } else {
                    x.div(&y)?
                }
            }
            Expr::Sqrt(a) => {
                let x = self.ev(a, index, d)?;
                if x.value_is_zero() && !self.depends(a) {
                    self.zero()
                } else {
                    x.pow(&Rat::new(1.into(), 2.into()))?
                }
            }
            Expr::Pow(a, p) => {
                let p = match p.const_value() {
                    Some(p) => p,
                    None if !self.depends(p) => {
                        let v = self.ev(p, index, d)?;
                        v.exact_value().ok_or_else(|| {
                            OracleError::Irrational("the exponent is not exact".to_string())
                        })?
                    }
                    None => {
                        return Err(OracleError::Model(
                            "exponent depends on a perturbed symbol".to_string(),
                        ))
                    }
                };
                let x = self.ev(a, index, d)?;
                if x.value_is_zero() && !self.depends(a) {
                    // 0^p for every t: 1 when p = 0, else 0.
                    self.constant(if p.is_zero() {
                        Rat::from_integer(1.into())
                    } else {
                        Rat::zero()
                    })
                } else {
                    x.pow(&p)?
                }
            }
            Expr::App(f, args) => {
                let x = self.ev(&args[0], index, d)?;
                match f {
                    Fun::Exp => x.exp()?,
                    Fun::Log if x.value_is_zero() && !self.depends(&args[0]) => {
                        // log 0 = 0 for every t.
                        self.zero()
                    }
                    Fun::Log => x.log()?,
                    Fun::Abs if x.value_is_zero() && !self.depends(&args[0]) => self.zero(),
                    Fun::Abs => x.abs()?,
                    Fun::Max | Fun::Min => {
                        let y = self.ev(&args[1], index, d)?;
                        let tie = x.value_eq(&y);
                        if tie && !self.depends(&args[0]) && !self.depends(&args[1]) {
                            x
                        } else {
                            x.max_min(&y, *f == Fun::Max)?
                        }
                    }
                    Fun::Detach => x.detach(),
                }
            }
            Expr::Reduce(op, axes, body) => self.reduce(*op, axes, body, index, d)?,
        })
    }

    fn reduce(
        &mut self,
        op: RedOp,
        axes: &[String],
        body: &Expr,
        index: &mut BTreeMap<String, usize>,
        d: usize,
    ) -> Result<C, OracleError> {
        let points = assignments(axes, &self.env.sizes, BUDGET)?;
        let saved: Vec<(String, Option<usize>)> = axes
            .iter()
            .map(|a| (a.clone(), index.get(a).copied()))
            .collect();
        let mut vals = Vec::with_capacity(points.len());
        let mut result = Ok(());
        for p in &points {
            index.extend(p.iter().map(|(k, v)| (k.clone(), *v)));
            match self.ev(body, index, d) {
                Ok(v) => vals.push(v),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for (a, v) in saved {
            match v {
                Some(v) => index.insert(a, v),
                None => index.remove(&a),
            };
        }
        result?;
        let zero = self.zero();
        let n = Rat::from_integer(vals.len().into());
        let sum = |vs: &[C]| vs.iter().try_fold(zero.clone(), |acc, v| acc.add(v));
        let mean = |vs: &[C]| {
            if vs.is_empty() {
                Ok(zero.clone())
            } else {
                sum(vs)?.scale(&n.recip())
            }
        };
        match op {
            RedOp::Sum => sum(&vals),
            RedOp::Mean => mean(&vals),
            RedOp::Var => {
                let m = mean(&vals)?;
                let sq = vals
                    .iter()
                    .map(|v| {
                        let c = v.sub(&m)?;
                        c.mul(&c)
                    })
                    .collect::<Result<Vec<C>, OracleError>>()?;
                mean(&sq)
            }
        }
    }
}

/// The upstream gradient of every output, keyed by the output's name: the
/// loss is `ℓ = Σ_outputs Σ d<output> · output`.
pub type Upstream = BTreeMap<String, Tensor>;

/// The name and axes of every output.
pub fn outputs_of(model: &Model) -> Result<Vec<(String, Vec<String>)>, OracleError> {
    if model.outputs.is_empty() {
        return Err(OracleError::Model("the model has no output".to_string()));
    }
    model
        .outputs
        .iter()
        .map(|o| output_axes(model, o))
        .collect()
}

/// A random upstream gradient for every output, drawn from `rng`.
pub fn random_upstream(
    model: &Model,
    env: &Env,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<Upstream, OracleError> {
    outputs_of(model)?
        .into_iter()
        .map(|(o, axes)| Ok((o, super::sample::random_tensor(&axes, &env.sizes, rng)?)))
        .collect()
}

/// The name and axes of the model's first output.
pub fn output_of(model: &Model) -> Result<(String, Vec<String>), OracleError> {
    let out = model
        .outputs
        .first()
        .ok_or_else(|| OracleError::Model("the model has no output".to_string()))?;
    output_axes(model, out)
}

/// The axes of output `out`.
fn output_axes(model: &Model, out: &str) -> Result<(String, Vec<String>), OracleError> {
    let out = &out.to_string();
    if let Some((_, e)) = model.defs.iter().rev().find(|(n, _)| n == out) {
        return Ok((out.clone(), e.free_axes().into_iter().collect()));
    }
    if let Some(s) = model
        .inputs
        .iter()
        .chain(&model.params)
        .find(|s| &s.name == out)
    {
        return Ok((out.clone(), s.axes.clone()));
    }
    Err(OracleError::Model(format!("output `{out}` is not defined")))
}

/// The jet of `ℓ(t) = Σ_outputs Σ dy · y(x + t v)` (`dy` the upstream
/// gradient of output `y`; an output missing from `dy` contributes
/// nothing), with the model's definitions evaluated in `ev`.
pub fn loss_jet<C: Coef>(
    model: &Model,
    ev: &Forward<'_, C>,
    dy: &Upstream,
) -> Result<C, OracleError> {
    let mut total = C::constant(Rat::zero(), ev.order);
    for (out, dy) in dy {
        let (_, axes) = output_axes(model, out)?;
        if dy.axes != axes {
            return Err(OracleError::Model(format!(
                "upstream gradient has axes [{}], output `{out}` has [{}]",
                dy.axes.join(","),
                axes.join(",")
            )));
        }
        let y = match ev.get(out) {
            Some(y) => y.clone(),
            None => {
                let x =
                    ev.env.values.get(out).ok_or_else(|| {
                        OracleError::Model(format!("no value for output `{out}`"))
                    })?;
                CoefTensor {
                    axes: x.axes.clone(),
                    data: x
                        .data
                        .iter()
                        .map(|v| C::constant(v.clone(), ev.order))
                        .collect(),
                }
            }
        };
        if y.data.len() != dy.data.len() {
            return Err(OracleError::Model(
                "upstream gradient has a wrong size".to_string(),
            ));
        }
        for (y, g) in y.data.iter().zip(&dy.data) {
            total = total.add(&y.scale(g)?)?;
        }
    }
    Ok(total)
}

/// The derivatives `d^k ℓ / dt^k` at `t = 0`, `k = 1..=order`, of
/// `ℓ(t) = Σ_outputs Σ dy · y(x + t v)`, where `v` maps perturbed names
/// (inputs, parameters, constants) to directions.
/// `d²ℓ/dt² = ⟨H v, v⟩` and `d³ℓ/dt³` is the third derivative tensor applied
/// to `v, v, v`.
pub fn directional(
    model: &Model,
    env: &Env,
    v: &BTreeMap<String, Tensor>,
    dy: &Upstream,
    order: usize,
) -> Result<Vec<Rat>, OracleError> {
    let mut ev = JetEval::new(env, v, order)?;
    ev.run_defs(model)?;
    let l = loss_jet(model, &ev, dy)?;
    Ok(l.derivatives().into_iter().skip(1).collect())
}

/// Exact values of every definition (evaluated over order-0 jets).
pub fn def_values(model: &Model, env: &Env) -> Result<BTreeMap<String, Tensor>, OracleError> {
    let mut ev = JetEval::new(env, &BTreeMap::new(), 0)?;
    ev.run_defs(model)?;
    Ok(ev
        .bound()
        .iter()
        .map(|(k, t)| (k.clone(), t.values()))
        .collect())
}

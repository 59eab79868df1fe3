//! Higher-order derivatives: the double backward of a normalization layer
//! (the gradient of `⟨∂ℓ/∂x, v⟩` with respect to the input `x`, a parameter
//! and the upstream gradient `dy`) and the third directional derivative,
//! all symbolic (by differentiating the inlined first-order gradient
//! again), and their exact checks against the oracle's Taylor series, which
//! never sees the symbolic code. Which input and parameter is decided by the
//! model's declarations, never by their names.

use crate::diff;
use crate::eval::{Env, Tensor};
use crate::ir::{Expr, Rat, Symbol};
use crate::oracle::{self, sample, OracleError};
use crate::syntax::Model;
use std::collections::BTreeMap;

/// Preferred name of the direction symbol `v` (another is chosen when the
/// model uses it: [`Higher::direction`]).
pub const DIRECTION: &str = "v";

/// The input the higher orders differentiate: the model's first declared
/// input (models without one get no higher orders).
pub fn input_of(model: &Model) -> Option<&Symbol> {
    model.inputs.first()
}

/// A name like `base` that the model does not use (`v`, else `v1`, `v2`, …).
pub fn fresh_name(model: &Model, base: &str) -> String {
    let used = |n: &str| {
        model
            .inputs
            .iter()
            .chain(&model.params)
            .any(|s| s.name == n)
            || model.consts.iter().any(|c| c == n)
            || model.defs.iter().any(|(d, _)| d == n)
            || model
                .outputs
                .iter()
                .any(|y| diff::upstream(model, y).name == n)
    };
    std::iter::once(base.to_string())
        .chain((1..).map(|k| format!("{base}{k}")))
        .find(|n| !used(n))
        .unwrap_or_else(|| base.to_string())
}

/// The symbolic higher-order derivatives of a model with an input.
#[derive(Clone, Debug)]
pub struct Higher {
    /// The input differentiated (`x` in the formulas of this module).
    pub input: String,
    /// The direction's name: `v` unless the model uses that name.
    pub direction: String,
    /// `∂/∂x ⟨∂ℓ/∂x, v⟩` = H v (Hessian-vector product), axes of `x`.
    pub hvp: Expr,
    /// The parameter of the mixed term: the first declared parameter that
    /// `∂ℓ/∂x` depends on (batch norm's scale), and `∂/∂p ⟨∂ℓ/∂x, v⟩`.
    pub mixed: Option<(String, Expr)>,
    /// `∂/∂dy ⟨∂ℓ/∂x, v⟩` = Jᵀ v, axes of `dy`.
    pub mixed_dy: Expr,
    /// `∂/∂x ⟨H v, v⟩`: paired with `v`, the third directional derivative.
    pub third: Option<Expr>,
    /// The upstream gradient's name.
    pub dy: String,
}

impl Higher {
    /// Each symbolic derivative with its label, in the model's names.
    pub fn rows(&self) -> Vec<(String, &Expr)> {
        let (x, v) = (&self.input, &self.direction);
        let mut rows = vec![(
            format!("∂/∂{x} ⟨∂ℓ/∂{x}, {v}⟩ (Hessian-vector product)"),
            &self.hvp,
        )];
        if let Some((p, e)) = &self.mixed {
            rows.push((format!("∂/∂{p} ⟨∂ℓ/∂{x}, {v}⟩"), e));
        }
        rows.push((format!("∂/∂{} ⟨∂ℓ/∂{x}, {v}⟩", self.dy), &self.mixed_dy));
        if let Some(t) = &self.third {
            rows.push((format!("∂/∂{x} ⟨H {v}, {v}⟩ (third order)"), t));
        }
        rows
    }
}

/// Why higher derivatives could not be formed.
#[derive(Debug)]
pub enum HigherError {
    NoInput,
    Diff(diff::DiffError),
}

impl std::fmt::Display for HigherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HigherError::NoInput => write!(
                f,
                "higher orders need an input to differentiate (`input x[...]`)"
            ),
            HigherError::Diff(e) => write!(f, "cannot differentiate the model: {e}"),
        }
    }
}

impl std::error::Error for HigherError {}

/// The direction symbol with the axes of the input.
pub fn direction(model: &Model) -> Option<Expr> {
    let x = input_of(model)?;
    Some(Expr::Sym(Symbol::new(
        fresh_name(model, DIRECTION),
        x.axes.iter().cloned(),
    )))
}

/// Differentiate the inlined first-order gradient again (and, for `order`
/// 3, once more).
pub fn derive(model: &Model, order: u8) -> Result<Higher, HigherError> {
    let v = direction(model).ok_or(HigherError::NoInput)?;
    let input = input_of(model).ok_or(HigherError::NoInput)?.name.clone();
    let d = diff::derive(model).map_err(HigherError::Diff)?;
    let dx = d.inline(
        &d.gradient_symbol(&input).ok_or(HigherError::NoInput)?,
        model,
    );
    let output = model
        .outputs
        .first()
        .ok_or(HigherError::Diff(diff::DiffError::NoOutput))?;
    let dy = diff::upstream(model, output).name;
    let g = |wrt: &str| diff::grad_of(&dx, &v, wrt).map_err(HigherError::Diff);
    let hvp = g(&input)?;
    let mut mixed = None;
    for p in &model.params {
        let e = g(&p.name)?;
        if !matches!(&e, Expr::Num(r) if num_traits::Zero::is_zero(r)) {
            mixed = Some((p.name.clone(), e));
            break;
        }
    }
    let mixed_dy = g(&dy)?;
    let third = if order >= 3 {
        Some(diff::grad_of(&hvp, &v, &input).map_err(HigherError::Diff)?)
    } else {
        None
    };
    let direction = match &v {
        Expr::Sym(s) => s.name.clone(),
        _ => DIRECTION.to_string(),
    };
    Ok(Higher {
        input,
        direction,
        hvp,
        mixed,
        mixed_dy,
        third,
        dy,
    })
}

/// One exact comparison of a symbolic higher derivative with the oracle.
#[derive(Clone, Debug)]
pub struct HigherCheck {
    pub what: String,
    pub order: u8,
    pub result: Result<oracle::ExactCheck, OracleError>,
}

fn tensor_like(
    model: &Model,
    env: &Env,
    name: &str,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<Tensor, OracleError> {
    let axes = oracle::axes_of(model, env, name)?;
    sample::random_tensor(&axes, &env.sizes, rng)
}

fn pair(
    e: &Expr,
    h: &Higher,
    model: &Model,
    env: &Env,
    dy: &oracle::Upstream,
    v: &Tensor,
    w: &Tensor,
) -> Result<Rat, OracleError> {
    let mut genv = oracle::gradient_env(model, env, dy)?;
    genv.values.insert(h.direction.clone(), v.clone());
    oracle::inner_product(e, &genv, w)
}

/// Check every symbolic higher derivative exactly at `env`: the pairing
/// with a random `w` against the oracle's Taylor coefficients
/// (polarization for mixed second derivatives; `ℓ` is linear in `dy`, so its
/// mixed term is a first derivative of `Σ w·y`).
pub fn check(model: &Model, h: &Higher, env: &Env, seed: u64) -> Vec<HigherCheck> {
    let mut out = Vec::new();
    // Its own stream: v, dy and w here are not the sample's draws.
    let mut rng = sample::rng(seed, sample::Stream::Directions);
    let setup = (|| {
        let v = tensor_like(model, env, &h.input, &mut rng)?;
        let dy = oracle::forward::random_upstream(model, env, &mut rng)?;
        // `mixed_dy` is the derivative in the first output's upstream only.
        let (first, out_axes) = oracle::forward::output_of(model)?;
        let wy = sample::random_tensor(&out_axes, &env.sizes, &mut rng)?;
        let wy_first: oracle::Upstream = BTreeMap::from([(first, wy.clone())]);
        Ok::<_, OracleError>((v, dy, wy, wy_first))
    })();
    let (v, dy, wy, wy_first) = match setup {
        Ok(s) => s,
        Err(e) => {
            out.push(HigherCheck {
                what: "set-up".into(),
                order: 2,
                result: Err(e),
            });
            return out;
        }
    };
    let zero = |t: &Tensor| Tensor {
        axes: t.axes.clone(),
        data: t.data.iter().map(|_| Rat::from_integer(0.into())).collect(),
    };
    let x = &h.input;
    // Second order in x: ⟨H v, w⟩ = wᵀ H v.
    let r = oracle::check_hvp(model, x, &h.hvp, &h.direction, env, seed);
    out.push(HigherCheck {
        what: format!(
            "∂/∂{x} ⟨∂ℓ/∂{x}, {v}⟩ (Hessian-vector product)",
            v = h.direction
        ),
        order: 2,
        result: r,
    });
    if let Some((p, mg)) = &h.mixed {
        let r = (|| {
            let wg = tensor_like(model, env, p, &mut rng)?;
            let lhs = pair(mg, h, model, env, &dy, &v, &wg)?;
            // d²/dt² ℓ(x + t v, γ + t w) = vᵀHv + 2 vᵀH_xγ w + wᵀH_γγ w.
            let q = |a: &Tensor, b: &Tensor| -> Result<Rat, OracleError> {
                let dirs = BTreeMap::from([(x.clone(), a.clone()), (p.clone(), b.clone())]);
                Ok(oracle::forward::directional(model, env, &dirs, &dy, 2)?.remove(1))
            };
            let two = Rat::from_integer(2.into());
            let rhs = (q(&v, &wg)? - q(&v, &zero(&wg))? - q(&zero(&v), &wg)?) / two;
            Ok(oracle::ExactCheck::new(lhs, rhs))
        })();
        out.push(HigherCheck {
            what: format!("∂/∂{p} ⟨∂ℓ/∂{x}, {}⟩", h.direction),
            order: 2,
            result: r,
        });
    }
    let r = (|| {
        let lhs = pair(&h.mixed_dy, h, model, env, &dy, &v, &wy)?;
        // ℓ is linear in dy: the mixed term is d/dt Σ w·y(x + t v).
        let dirs = BTreeMap::from([(x.clone(), v.clone())]);
        let rhs = oracle::forward::directional(model, env, &dirs, &wy_first, 1)?.remove(0);
        Ok(oracle::ExactCheck::new(lhs, rhs))
    })();
    out.push(HigherCheck {
        what: format!("∂/∂{} ⟨∂ℓ/∂{x}, {}⟩", h.dy, h.direction),
        order: 2,
        result: r,
    });
    if let Some(t) = &h.third {
        let r = (|| {
            let lhs = pair(t, h, model, env, &dy, &v, &v)?;
            let dirs = BTreeMap::from([(x.clone(), v.clone())]);
            let rhs = oracle::forward::directional(model, env, &dirs, &dy, 3)?.remove(2);
            Ok(oracle::ExactCheck::new(lhs, rhs))
        })();
        out.push(HigherCheck {
            what: format!(
                "⟨∂/∂{x} ⟨H {v}, {v}⟩, {v}⟩ (third directional derivative)",
                v = h.direction
            ),
            order: 3,
            result: r,
        });
    }
    out
}

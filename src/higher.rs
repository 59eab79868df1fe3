//! Higher-order derivatives: the double backward of a normalization layer
//! (the gradient of `⟨∂ℓ/∂x, v⟩` with respect to `x`, the scale `gamma` and
//! the upstream gradient `dy`) and the third directional derivative, all
//! symbolic (by differentiating the inlined first-order gradient again), and
//! their exact checks against the oracle's Taylor series, which never sees
//! the symbolic code.

use crate::diff;
use crate::eval::{Env, Tensor};
use crate::ir::{Expr, Rat, Symbol};
use crate::oracle::{self, sample, OracleError};
use crate::syntax::Model;
use std::collections::BTreeMap;

/// The input the higher orders differentiate (models without one get no
/// higher orders).
pub const INPUT: &str = "x";

/// Name of the direction symbol `v` (and of the pairing direction `w`).
pub const DIRECTION: &str = "v";

/// The symbolic higher-order derivatives of a model with an input `x`.
#[derive(Clone, Debug)]
pub struct Higher {
    /// `∂/∂x ⟨∂ℓ/∂x, v⟩` = H v (Hessian-vector product), axes of `x`.
    pub hvp_x: Expr,
    /// `∂/∂gamma ⟨∂ℓ/∂x, v⟩`, axes of `gamma` (when the model has one).
    pub mixed_gamma: Option<Expr>,
    /// `∂/∂dy ⟨∂ℓ/∂x, v⟩` = Jᵀ v, axes of `dy`.
    pub mixed_dy: Expr,
    /// `∂/∂x ⟨H v, v⟩`: paired with `v`, the third directional derivative.
    pub third: Option<Expr>,
    /// The upstream gradient's name.
    pub dy: String,
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
                "higher orders need an input named x; name the layer's input `x` (`input x[...]`)"
            ),
            HigherError::Diff(e) => write!(f, "cannot differentiate the model: {e}"),
        }
    }
}

impl std::error::Error for HigherError {}

/// The direction symbol with the axes of `x`.
pub fn direction(model: &Model) -> Option<Expr> {
    let x = model.inputs.iter().find(|s| s.name == "x")?;
    Some(Expr::Sym(Symbol::new(DIRECTION, x.axes.iter().cloned())))
}

/// Differentiate the inlined first-order gradient again (and, for `order`
/// 3, once more).
pub fn derive(model: &Model, order: u8) -> Result<Higher, HigherError> {
    let v = direction(model).ok_or(HigherError::NoInput)?;
    let d = diff::derive(model).map_err(HigherError::Diff)?;
    let dx = d.inline(&d.gradient_symbol("x").ok_or(HigherError::NoInput)?, model);
    let output = model
        .outputs
        .first()
        .ok_or(HigherError::Diff(diff::DiffError::NoOutput))?;
    let dy = diff::upstream(model, output).name;
    let g = |wrt: &str| diff::grad_of(&dx, &v, wrt).map_err(HigherError::Diff);
    let hvp_x = g("x")?;
    let mixed_gamma = if model.params.iter().any(|p| p.name == "gamma") {
        Some(g("gamma")?)
    } else {
        None
    };
    let mixed_dy = g(&dy)?;
    let third = if order >= 3 {
        Some(diff::grad_of(&hvp_x, &v, "x").map_err(HigherError::Diff)?)
    } else {
        None
    };
    Ok(Higher {
        hvp_x,
        mixed_gamma,
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
    model: &Model,
    env: &Env,
    dy: &oracle::Upstream,
    v: &Tensor,
    w: &Tensor,
) -> Result<Rat, OracleError> {
    let mut genv = oracle::gradient_env(model, env, dy)?;
    genv.values.insert(DIRECTION.to_string(), v.clone());
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
        let v = tensor_like(model, env, "x", &mut rng)?;
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
    // Second order in x: ⟨H v, w⟩ = wᵀ H v.
    let r = oracle::check_hvp(model, "x", &h.hvp_x, DIRECTION, env, seed);
    out.push(HigherCheck {
        what: "∂/∂x ⟨∂ℓ/∂x, v⟩ (Hessian-vector product)".into(),
        order: 2,
        result: r,
    });
    if let Some(mg) = &h.mixed_gamma {
        let r = (|| {
            let wg = tensor_like(model, env, "gamma", &mut rng)?;
            let lhs = pair(mg, model, env, &dy, &v, &wg)?;
            // d²/dt² ℓ(x + t v, γ + t w) = vᵀHv + 2 vᵀH_xγ w + wᵀH_γγ w.
            let q = |a: &Tensor, b: &Tensor| -> Result<Rat, OracleError> {
                let dirs = BTreeMap::from([
                    ("x".to_string(), a.clone()),
                    ("gamma".to_string(), b.clone()),
                ]);
                Ok(oracle::forward::directional(model, env, &dirs, &dy, 2)?.remove(1))
            };
            let two = Rat::from_integer(2.into());
            let rhs = (q(&v, &wg)? - q(&v, &zero(&wg))? - q(&zero(&v), &wg)?) / two;
            Ok(oracle::ExactCheck::new(lhs, rhs))
        })();
        out.push(HigherCheck {
            what: "∂/∂gamma ⟨∂ℓ/∂x, v⟩".into(),
            order: 2,
            result: r,
        });
    }
    let r = (|| {
        let lhs = pair(&h.mixed_dy, model, env, &dy, &v, &wy)?;
        // ℓ is linear in dy: the mixed term is d/dt Σ w·y(x + t v).
        let dirs = BTreeMap::from([("x".to_string(), v.clone())]);
        let rhs = oracle::forward::directional(model, env, &dirs, &wy_first, 1)?.remove(0);
        Ok(oracle::ExactCheck::new(lhs, rhs))
    })();
    out.push(HigherCheck {
        what: format!("∂/∂{} ⟨∂ℓ/∂x, v⟩", h.dy),
        order: 2,
        result: r,
    });
    if let Some(t) = &h.third {
        let r = (|| {
            let lhs = pair(t, model, env, &dy, &v, &v)?;
            let dirs = BTreeMap::from([("x".to_string(), v.clone())]);
            let rhs = oracle::forward::directional(model, env, &dirs, &dy, 3)?.remove(2);
            Ok(oracle::ExactCheck::new(lhs, rhs))
        })();
        out.push(HigherCheck {
            what: "⟨∂/∂x ⟨H v, v⟩, v⟩ (third directional derivative)".into(),
            order: 3,
            result: r,
        });
    }
    out
}

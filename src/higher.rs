//! Higher-order derivatives: the double backward of a normalization layer
//! (the gradient of `⟨∂ℓ/∂x, v⟩` with respect to the input `x`, a parameter
//! and the upstream gradient `dy`) and the third directional derivative,
//! all symbolic (by differentiating the inlined first-order gradient
//! again), and their exact checks against the oracle's Taylor series, which
//! never sees the symbolic code. Which input and parameter is decided by the
//! model's declarations, never by their names.

use crate::diff;
use crate::eval::{Env, Tensor};
use crate::ir::{Expr, Rat, RedOp, Symbol};
use crate::oracle::{self, sample, OracleError};
use crate::syntax::Model;
use std::collections::{BTreeMap, BTreeSet};

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

/// The higher-order derivatives of a model with an input, as a program: the
/// tangents (forward-mode derivatives in the direction `v`) of the model's
/// definitions and of the first-order program, each a named definition.
#[derive(Clone, Debug)]
pub struct Higher {
    /// The input differentiated (`x` in the formulas of this module).
    pub input: String,
    /// The direction's name: `v` unless the model uses that name.
    pub direction: String,
    /// The first-order program the tangents build on (the derivation's
    /// helpers, adjoints and gradients), evaluated after the model's
    /// definitions.
    pub program: Vec<(Symbol, Expr)>,
    /// The tangent definitions, in dependency order: the tangent of `name`
    /// along `v` is `v_name` (`v_v_name` the tangent of that, for order 3;
    /// another name where that one is taken). Tangents that are identically
    /// 0 are not defined.
    pub definitions: Vec<(Symbol, Expr)>,
    /// `∂/∂x ⟨∂ℓ/∂x, v⟩` = H v (Hessian-vector product), axes of `x`: the
    /// tangent of `∂ℓ/∂x` (the Hessian is symmetric).
    pub hvp: Expr,
    /// The parameter of the mixed term: the first declared parameter whose
    /// gradient depends on `x` (batch norm's scale), and
    /// `∂/∂p ⟨∂ℓ/∂x, v⟩`, the tangent of `∂ℓ/∂p` (mixed partials commute).
    pub mixed: Option<(String, Expr)>,
    /// `∂/∂dy ⟨∂ℓ/∂x, v⟩` = J v, axes of `dy`: the tangent of the first
    /// output.
    pub mixed_dy: Expr,
    /// `∂/∂x ⟨H v, v⟩`, the tangent of H v: paired with `v`, the third
    /// directional derivative.
    pub third: Option<Expr>,
    /// The upstream gradient's name.
    pub dy: String,
}

impl Higher {
    /// Each derivative with its label, in the model's names.
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

    /// What to evaluate, in order, after the model's definitions (with the
    /// direction and `d<output>` bound): the first-order program, then the
    /// tangents.
    pub fn evaluation_order(&self) -> Vec<(Symbol, Expr)> {
        self.program
            .iter()
            .chain(&self.definitions)
            .cloned()
            .collect()
    }

    /// `e` with the tangent definitions substituted, so that it mentions
    /// only the direction and the names of the model and the first-order
    /// program.
    pub fn inline_tangents(&self, e: &Expr) -> Expr {
        diff::inline_defs(e, &self.definitions)
    }

    /// The operations per element of the tangent definitions `e` needs
    /// (each counted once; the first-order program is not counted).
    pub fn cost(&self, e: &Expr) -> usize {
        let index: BTreeMap<&str, &Expr> = self
            .definitions
            .iter()
            .map(|(s, b)| (s.name.as_str(), b))
            .collect();
        let mut seen = BTreeSet::new();
        let mut todo = vec![e];
        let mut total = crate::derive::cost(e);
        while let Some(x) = todo.pop() {
            let mut syms = BTreeSet::new();
            x.symbols(&mut syms);
            for s in syms {
                if let Some(b) = index.get(s.name.as_str()) {
                    if seen.insert(s.name) {
                        total += crate::derive::cost(b);
                        todo.push(b);
                    }
                }
            }
        }
        total
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

/// The forward-mode derivative of `e` when each symbol named in `tangents`
/// moves along the symbol it maps to (all others are constant). Written with
/// `diff`'s noise-free constructors, so a constant `e` gives exactly `0`.
pub fn tangent(e: &Expr, tangents: &BTreeMap<String, Symbol>) -> Result<Expr, diff::DiffError> {
    use diff::mk;
    let t = |x: &Expr| tangent(x, tangents);
    let sub = |a: Expr, b: Expr| mk::add(a, mk::neg(b));
    Ok(match e {
        Expr::Num(_) => Expr::num(0),
        Expr::PVar(p) => return Err(diff::DiffError::PatternVariable(p.clone())),
        Expr::Sym(s) => tangents
            .get(&s.name)
            .map_or_else(|| Expr::num(0), |d| Expr::Sym(d.clone())),
        Expr::Neg(a) => mk::neg(t(a)?),
        Expr::Add(a, b) => mk::add(t(a)?, t(b)?),
        Expr::Sub(a, b) => sub(t(a)?, t(b)?),
        Expr::Mul(a, b) => mk::add(mk::mul(t(a)?, (**b).clone()), mk::mul((**a).clone(), t(b)?)),
        Expr::Div(a, b) => {
            let first = mk::div(t(a)?, (**b).clone());
            if mk::is_zero(&t(b)?) {
                return Ok(first);
            }
            // `a / c^p` (and `a / sqrt(c)`): `a · (−p) · c^(−p−1) · c'`, the
            // form reverse mode writes too.
            let power = match &**b {
                Expr::Sqrt(c) => Some(((**c).clone(), Rat::new(1.into(), 2.into()))),
                Expr::Pow(c, p) => p.const_value().map(|p| ((**c).clone(), p)),
                _ => None,
            };
            let second = match power.filter(|(_, p)| !num_traits::Zero::is_zero(p)) {
                Some((c, p)) => {
                    let exp = -p.clone() - Rat::from_integer(1.into());
                    let local = mk::mul(Expr::Num(-p), Expr::pow(c.clone(), Expr::Num(exp)));
                    mk::mul(mk::mul((**a).clone(), local), t(&c)?)
                }
                None => mk::neg(mk::div(
                    mk::mul((**a).clone(), t(b)?),
                    Expr::pow((**b).clone(), Expr::num(2)),
                )),
            };
            mk::add(first, second)
        }
        Expr::Pow(a, p) => {
            if !mk::is_zero(&t(p)?) {
                return Err(diff::DiffError::NonConstantExponent {
                    context: crate::syntax::print(e),
                    exponent: crate::syntax::print(p),
                });
            }
            mk::mul(mk::pow_local(a, p), t(a)?)
        }
        Expr::Sqrt(a) => mk::div(t(a)?, Expr::mul(Expr::num(2), e.clone())),
        Expr::App(f, args) => {
            let mut sum = Expr::num(0);
            for (a, local) in args.iter().zip(diff::fun_partials(*f, args, e)) {
                if let Some(local) = local {
                    sum = mk::add(sum, mk::mul(local, t(a)?));
                }
            }
            sum
        }
        Expr::Reduce(op, axes, body) => {
            let tb = t(body)?;
            if mk::is_zero(&tb) {
                return Ok(Expr::num(0));
            }
            match op {
                RedOp::Sum => mk::sum(axes, tb),
                RedOp::Mean => Expr::Reduce(RedOp::Mean, axes.clone(), Box::new(tb)),
                // var = mean(b²) − mean(b)², so var' = 2 · mean((b − mean b) · b').
                RedOp::Var => {
                    let m = Expr::Reduce(RedOp::Mean, axes.clone(), body.clone());
                    let centred = sub((**body).clone(), m);
                    mk::mul(
                        Expr::num(2),
                        Expr::Reduce(RedOp::Mean, axes.clone(), Box::new(mk::mul(centred, tb))),
                    )
                }
            }
        }
    })
}

/// The cheaper of `e` folded ([`fold`]) and its ring normal form (equal
/// everywhere under the total semantics: the kernel trusts the same normal
/// form); the folded form when they cost the same, as it keeps the
/// program's shape.
fn simplify(e: Expr) -> Expr {
    let folded = fold(&e);
    match crate::ring::normalize(&e) {
        Ok(p) => {
            let n = crate::ring::to_expr(&p);
            if crate::derive::cost(&n) < crate::derive::cost(&folded) {
                n
            } else {
                folded
            }
        }
        Err(_) => folded,
    }
}

/// Local clean-up, an identity under the total semantics: the numbers of a
/// product multiplied into one leading coefficient (signs included), equal
/// factors written as a power (`f · f = f^2`), a coefficient taken out of
/// a sum or mean, `+ 0` dropped and `a + (−b)` written `a − b`.
pub fn fold(e: &Expr) -> Expr {
    match e {
        Expr::Mul(..) | Expr::Neg(_) => {
            let (c, fs) = factors_of(e, false);
            with_coefficient(c, fs)
        }
        Expr::Add(a, b) | Expr::Sub(a, b) => {
            let (a, b) = (fold(a), fold(b));
            let (c, fs) = factors_of(&b, true);
            let minus = matches!(e, Expr::Sub(..));
            if diff::mk::is_zero(&b) {
                a
            } else if diff::mk::is_zero(&a) {
                with_coefficient(if minus { -c } else { c }, fs)
            } else if c < Rat::from_integer(0.into()) {
                let b = with_coefficient(-c, fs);
                if minus {
                    Expr::add(a, b)
                } else {
                    Expr::sub(a, b)
                }
            } else if minus {
                Expr::sub(a, b)
            } else {
                Expr::add(a, b)
            }
        }
        Expr::Reduce(op @ (RedOp::Sum | RedOp::Mean), axes, body) => {
            let (c, fs) = factors_of(&fold(body), true);
            if fs.is_empty() {
                return Expr::Reduce(*op, axes.clone(), Box::new(Expr::Num(c)));
            }
            let inner = Expr::Reduce(*op, axes.clone(), Box::new(with_coefficient(one(), fs)));
            with_coefficient(c, vec![inner])
        }
        Expr::Num(_) | Expr::Sym(_) | Expr::PVar(_) => e.clone(),
        Expr::Sqrt(a) => Expr::sqrt(fold(a)),
        Expr::Div(a, b) => Expr::div(fold(a), fold(b)),
        Expr::Pow(a, b) => Expr::pow(fold(a), fold(b)),
        Expr::Reduce(op, axes, body) => Expr::Reduce(*op, axes.clone(), Box::new(fold(body))),
        Expr::App(..) => e.map_children(fold),
    }
}

fn one() -> Rat {
    Rat::from_integer(1.into())
}

/// The numeric coefficient and the other factors (folded) of a product;
/// `folded`: `e` is folded already (folding again would cost time
/// exponential in its depth).
fn factors_of(e: &Expr, folded: bool) -> (Rat, Vec<Expr>) {
    fn walk(e: &Expr, c: &mut Rat, out: &mut Vec<Expr>, folded: bool) {
        match e {
            Expr::Num(r) => *c *= r,
            Expr::Neg(a) => {
                *c = -c.clone();
                walk(a, c, out, folded);
            }
            Expr::Mul(a, b) => {
                walk(a, c, out, folded);
                walk(b, c, out, folded);
            }
            e if folded => out.push(e.clone()),
            // A factor may fold into a product itself (`(-(a)) * b`).
            e => walk(&fold(e), c, out, true),
        }
    }
    let mut c = one();
    let mut out = Vec::new();
    walk(e, &mut c, &mut out, folded);
    (c, out)
}

/// `c · f₁ · f₂ ⋯`, equal factors as powers, in first-seen order.
fn with_coefficient(c: Rat, fs: Vec<Expr>) -> Expr {
    if num_traits::Zero::is_zero(&c) {
        return Expr::num(0);
    }
    let mut grouped: Vec<(Expr, i64)> = Vec::new();
    for f in fs {
        match grouped.iter_mut().find(|(g, _)| *g == f) {
            Some((_, k)) => *k += 1,
            None => grouped.push((f, 1)),
        }
    }
    let product = grouped
        .into_iter()
        .map(|(f, k)| {
            if k == 1 {
                f
            } else {
                Expr::pow(f, Expr::num(k))
            }
        })
        .reduce(Expr::mul);
    let Some(p) = product else {
        return Expr::Num(c);
    };
    if c == one() {
        p
    } else if c == -one() {
        Expr::neg(p)
    } else {
        Expr::mul(Expr::Num(c), p)
    }
}

/// Tangent definitions of `defs` (in order) along the symbols `tangents`
/// already maps to; each new tangent is named `<v>_<name>` (made fresh
/// against `used`) and added to `tangents`. Identically zero tangents are
/// dropped.
fn tangent_program(
    defs: &[(Symbol, Expr)],
    v: &str,
    tangents: &mut BTreeMap<String, Symbol>,
    used: &mut BTreeSet<String>,
) -> Result<Vec<(Symbol, Expr)>, diff::DiffError> {
    let mut out = Vec::new();
    for (s, e) in defs {
        let t = simplify(tangent(e, tangents)?);
        if diff::mk::is_zero(&t) {
            continue;
        }
        let base = format!("{v}_{}", s.name);
        let name = std::iter::once(base.clone())
            .chain((1..).map(|k| format!("{base}{k}")))
            .find(|n| !used.contains(n))
            .unwrap_or(base);
        used.insert(name.clone());
        let sym = Symbol::new(name, t.free_axes());
        tangents.insert(s.name.clone(), sym.clone());
        out.push((sym, t));
    }
    Ok(out)
}

/// Every name a model or its derivation uses (tangents must avoid them).
fn names_in(model: &Model, program: &[(Symbol, Expr)]) -> BTreeSet<String> {
    let mut syms = BTreeSet::new();
    for e in model
        .defs
        .iter()
        .map(|(_, e)| e)
        .chain(program.iter().map(|(_, e)| e))
    {
        e.symbols(&mut syms);
    }
    for a in &model.assumptions {
        a.expr.symbols(&mut syms);
    }
    let mut names: BTreeSet<String> = syms.into_iter().map(|s| s.name).collect();
    names.extend(
        model
            .inputs
            .iter()
            .chain(&model.params)
            .map(|s| s.name.clone()),
    );
    names.extend(model.consts.iter().cloned());
    names.extend(model.defs.iter().map(|(d, _)| d.clone()));
    names.extend(model.outputs.iter().map(|y| diff::upstream(model, y).name));
    names.extend(program.iter().map(|(s, _)| s.name.clone()));
    names
}

/// The tangents of the model's definitions and of its first-order program
/// along `v` (and, for `order` 3, the tangents of those): H v, the mixed
/// terms and the third derivative are names of that program.
pub fn derive(model: &Model, order: u8) -> Result<Higher, HigherError> {
    let v = direction(model).ok_or(HigherError::NoInput)?;
    let Expr::Sym(vsym) = &v else {
        return Err(HigherError::NoInput);
    };
    let x = input_of(model).ok_or(HigherError::NoInput)?;
    let input = x.name.clone();
    let d = diff::derive(model).map_err(HigherError::Diff)?;
    let output = model
        .outputs
        .first()
        .ok_or(HigherError::Diff(diff::DiffError::NoOutput))?;
    let dy = diff::upstream(model, output).name;
    let program = d.program();
    let forward: Vec<(Symbol, Expr)> = d
        .all_definitions(model)
        .into_iter()
        .take(model.defs.len())
        .collect();
    let mut used = names_in(model, &program);
    used.insert(vsym.name.clone());
    let mut tangents = BTreeMap::from([(input.clone(), vsym.clone())]);
    let mut definitions = tangent_program(&forward, &vsym.name, &mut tangents, &mut used)
        .map_err(HigherError::Diff)?;
    definitions.extend(
        tangent_program(&program, &vsym.name, &mut tangents, &mut used)
            .map_err(HigherError::Diff)?,
    );
    let named = |tangents: &BTreeMap<String, Symbol>, n: &str| {
        tangents
            .get(n)
            .map_or_else(|| Expr::num(0), |s| Expr::Sym(s.clone()))
    };
    let dx = d.gradient_symbol(&input).ok_or(HigherError::NoInput)?;
    let grad_name = |e: &Expr| match e {
        Expr::Sym(s) => s.name.clone(),
        _ => String::new(),
    };
    let hvp = named(&tangents, &grad_name(&dx));
    let mixed = model.params.iter().find_map(|p| {
        let g = grad_name(&d.gradient_symbol(&p.name)?);
        tangents
            .get(&g)
            .map(|s| (p.name.clone(), Expr::Sym(s.clone())))
    });
    let mixed_dy = named(&tangents, output);
    let third = if order >= 3 {
        // The tangents of the tangents: the first-level names now move too.
        let first = definitions.clone();
        let second = tangent_program(&first, &vsym.name, &mut tangents, &mut used)
            .map_err(HigherError::Diff)?;
        definitions.extend(second);
        Some(match &hvp {
            Expr::Sym(s) => named(&tangents, &s.name),
            _ => Expr::num(0),
        })
    } else {
        None
    };
    Ok(Higher {
        input,
        direction: vsym.name.clone(),
        program,
        definitions,
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
    oracle::bind_program(&mut genv, &h.evaluation_order())?;
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
    let program = h.evaluation_order();
    let r = oracle::check_hvp(model, x, &h.hvp, &h.direction, &program, env, seed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{parse_expr, print};

    fn folded(s: &str) -> String {
        print(&fold(&parse_expr(s).unwrap()))
    }

    #[test]
    fn fold_gathers_coefficients_and_equal_factors() {
        assert_eq!(folded("-1/2 * (-3/2 * a * b)"), "3/4 * (a * b)");
        assert_eq!(folded("2 * (a - b) * (a - b)"), "2 * (a - b)^2");
        assert_eq!(folded("mean[n](2 * x[n])"), "2 * mean[n](x[n])");
        assert_eq!(folded("a + -2 * b"), "a - 2 * b");
        assert_eq!(folded("a - -(b)"), "a + b");
        assert_eq!(folded("0 * a + b * 1"), "b");
        assert_eq!(folded("0 - 2 * b"), "-2 * b");
    }

    #[test]
    fn tangent_of_a_variance_is_twice_the_centred_mean() {
        let e = parse_expr("var[n](x[n])").unwrap();
        let t = BTreeMap::from([("x".to_string(), Symbol::new("v", ["n"]))]);
        assert_eq!(
            print(&tangent(&e, &t).unwrap()),
            "2 * mean[n]((x[n] - mean[n](x[n])) * v[n])"
        );
        // Nothing moves: exactly 0.
        assert_eq!(tangent(&e, &BTreeMap::new()).unwrap(), Expr::num(0));
    }
}

//! The simulations behind the narratives, in exact rational arithmetic
//! (and, where square roots stop being rational, in f64 with a stated
//! tolerance).

use crate::ir::Rat;
use num_bigint::BigInt;
use num_traits::{One, Signed, ToPrimitive, Zero};

fn r(n: i64) -> Rat {
    Rat::from_integer(BigInt::from(n))
}

fn q(n: i64, d: i64) -> Rat {
    Rat::new(BigInt::from(n), BigInt::from(d))
}

fn rats(v: &[i64]) -> Vec<Rat> {
    v.iter().map(|&n| r(n)).collect()
}

fn mean(v: &[Rat]) -> Rat {
    let n = r(v.len() as i64);
    v.iter().fold(Rat::zero(), |s, x| s + x) / n
}

/// Biased variance (the paper's σ²).
fn var(v: &[Rat]) -> Rat {
    let m = mean(v);
    let sq: Vec<Rat> = v.iter().map(|x| (x - &m) * (x - &m)).collect();
    mean(&sq)
}

/// The exact square root of a non-negative rational, when it is rational.
pub(crate) fn exact_sqrt(x: &Rat) -> Option<Rat> {
    if x.is_negative() {
        return None;
    }
    let (n, d) = (x.numer(), x.denom());
    let (sn, sd) = (n.sqrt(), d.sqrt());
    if &(&sn * &sn) == n && &(&sd * &sd) == d {
        Some(Rat::new(sn, sd))
    } else {
        None
    }
}

/// Squared-error loss Σ (x̂ − t)².
fn sq_loss(xhat: &[Rat], t: &[Rat]) -> Rat {
    xhat.iter()
        .zip(t)
        .fold(Rat::zero(), |s, (x, t)| s + (x - t) * (x - t))
}

/// g = ∂ℓ/∂x̂ = 2 (x̂ − t).
fn sq_grad(xhat: &[Rat], t: &[Rat]) -> Vec<Rat> {
    xhat.iter().zip(t).map(|(x, t)| r(2) * (x - t)).collect()
}

// ---------------------------------------------------------------- seed ---

/// One step of the seed simulation: the state before step `step + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRow {
    pub step: usize,
    /// b after `step` naive updates.
    pub b_naive: Rat,
    /// The naive update computed at `b_naive`: −η Σ_i ∂ℓ/∂x̂_i.
    pub delta_naive: Rat,
    /// The loss at `b_naive`.
    pub loss_naive: Rat,
    /// b after `step` correct updates.
    pub b_correct: Rat,
    /// ∂ℓ/∂b through the normalization, at `b_correct`.
    pub grad_correct: Rat,
    /// The loss at `b_correct`.
    pub loss_correct: Rat,
}

/// The seed simulation: x = u + b, x̂ = x − E\[x\], ℓ = Σ (x̂ − t)².
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedSimulation {
    pub u: Vec<Rat>,
    pub t: Vec<Rat>,
    pub eta: Rat,
    pub b0: Rat,
    /// Rows for steps 0..=k.
    pub rows: Vec<SeedRow>,
}

/// x̂ = u + b − E[u + b].
fn centre(u: &[Rat], b: &Rat) -> Vec<Rat> {
    let x: Vec<Rat> = u.iter().map(|u| u + b).collect();
    let m = mean(&x);
    x.iter().map(|x| x - &m).collect()
}

/// The seed example: N = 4, u = [1, 2, 4, 7], t = [-1, 0, 1, 2], η = 1/10,
/// b₀ = 0, k steps of each update.
pub fn seed_simulation(k: usize) -> SeedSimulation {
    let u = rats(&[1, 2, 4, 7]);
    let t = rats(&[-1, 0, 1, 2]);
    let eta = q(1, 10);
    let b0 = Rat::zero();
    let n = u.len();
    let mut rows = Vec::with_capacity(k + 1);
    let (mut bn, mut bc) = (b0.clone(), b0.clone());
    for step in 0..=k {
        // Naive: E[x] treated as a constant, so ∂x̂_i/∂b = 1.
        let xh = centre(&u, &bn);
        let g = sq_grad(&xh, &t);
        let naive_grad = g.iter().fold(Rat::zero(), |s, g| s + g);
        let delta_naive = -(&eta * naive_grad);
        let loss_naive = sq_loss(&xh, &t);
        // Correct: ∂x̂_i/∂b = Σ_j ∂x̂_i/∂x_j · ∂x_j/∂b = Σ_j (δ_ij − 1/N) · 1.
        let xc = centre(&u, &bc);
        let gc = sq_grad(&xc, &t);
        let inv_n = q(1, n as i64);
        let mut grad_correct = Rat::zero();
        for (i, gi) in gc.iter().enumerate() {
            let mut dxi_db = Rat::zero();
            for j in 0..n {
                let delta = if i == j { Rat::one() } else { Rat::zero() };
                dxi_db += delta - &inv_n;
            }
            grad_correct += gi * dxi_db;
        }
        let loss_correct = sq_loss(&xc, &t);
        let next_bn = &bn + &delta_naive;
        let next_bc = &bc - &eta * &grad_correct;
        rows.push(SeedRow {
            step,
            b_naive: bn,
            delta_naive,
            loss_naive,
            b_correct: bc,
            grad_correct,
            loss_correct,
        });
        bn = next_bn;
        bc = next_bc;
    }
    SeedSimulation {
        u,
        t,
        eta,
        b0,
        rows,
    }
}

// --------------------------------------------------------------- scale ---

/// One step of the scale simulation: the state before step `step + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleRow {
    pub step: usize,
    pub a: Rat,
    /// The naive update at `a`: −η Σ_i g_i u_i / σ (μ, σ held constant).
    pub delta_naive: Rat,
    pub loss: Rat,
    /// ∂ℓ/∂a through the normalization (exactly 0 for a ≠ 0).
    pub grad_true: Rat,
    /// σ² = Var[a u] computed from the data equals (|a| sd(u))².
    pub sigma_exact: bool,
}

/// The scale simulation: x = a u, x̂ = (x − E\[x\]) / sqrt(Var\[x\]), ε = 0,
/// ℓ = Σ (x̂ − t)², naive steps on a.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleSimulation {
    pub u: Vec<Rat>,
    pub t: Vec<Rat>,
    pub eta: Rat,
    pub a0: Rat,
    /// sd(u), rational by choice of u.
    pub sd_u: Rat,
    /// C = Σ_i g_i u_i / sd(u), with g at a > 0.
    pub c: Rat,
    /// Rows for steps 0..=k.
    pub rows: Vec<ScaleRow>,
}

impl ScaleSimulation {
    /// The first step index at which a is ≤ 0, if any.
    pub fn flip_step(&self) -> Option<usize> {
        self.rows
            .iter()
            .find(|row| !row.a.is_positive())
            .map(|row| row.step)
    }
    /// For C > 0: while a_k > 0 and a_{k+1} > 0, a² falls by more than ηC
    /// per step, so a reaches 0 or crosses it within ⌈a₀² / (ηC)⌉ steps.
    pub fn predicted_flip_bound(&self) -> Option<usize> {
        if !self.c.is_positive() {
            return None;
        }
        let x = (&self.a0 * &self.a0) / (&self.eta * &self.c);
        x.ceil().to_integer().to_usize()
    }
}

/// x̂, σ and the loss pieces at scale a.
fn scale_forward(u: &[Rat], a: &Rat, sd_u: &Rat) -> (Vec<Rat>, Rat, bool) {
    let x: Vec<Rat> = u.iter().map(|u| a * u).collect();
    let m = mean(&x);
    let sigma = a.abs() * sd_u;
    let exact = &sigma * &sigma == var(&x);
    let xhat = if sigma.is_zero() {
        vec![Rat::zero(); u.len()]
    } else {
        x.iter().map(|x| (x - &m) / &sigma).collect()
    };
    (xhat, sigma, exact)
}

/// Run the scale simulation; `None` when sd(u) is irrational.
pub fn scale_simulation(
    u: Vec<Rat>,
    t: Vec<Rat>,
    eta: Rat,
    a0: Rat,
    k: usize,
) -> Option<ScaleSimulation> {
    let sd_u = exact_sqrt(&var(&u))?;
    let n = u.len();
    let inv_n = q(1, n as i64);
    // C at a = 1 (x̂, g are the same for every a > 0).
    let (xh1, _, _) = scale_forward(&u, &Rat::one(), &sd_u);
    let g1 = sq_grad(&xh1, &t);
    let c = if sd_u.is_zero() {
        Rat::zero()
    } else {
        g1.iter().zip(&u).fold(Rat::zero(), |s, (g, u)| s + g * u) / &sd_u
    };
    let mut rows = Vec::with_capacity(k + 1);
    let mut a = a0.clone();
    for step in 0..=k {
        let (xh, sigma, sigma_exact) = scale_forward(&u, &a, &sd_u);
        let g = sq_grad(&xh, &t);
        let loss = sq_loss(&xh, &t);
        let (naive, grad_true) = if sigma.is_zero() {
            (Rat::zero(), Rat::zero())
        } else {
            let naive = g.iter().zip(&u).fold(Rat::zero(), |s, (g, u)| s + g * u) / &sigma;
            // Chain rule through the statistics: J_ij = (δ_ij − 1/N − x̂_i x̂_j / N) / σ,
            // ∂x_j/∂a = u_j.
            let mut tr = Rat::zero();
            for i in 0..n {
                for j in 0..n {
                    let delta = if i == j { Rat::one() } else { Rat::zero() };
                    let jij = (delta - &inv_n - &xh[i] * &xh[j] * &inv_n) / &sigma;
                    tr += &g[i] * jij * &u[j];
                }
            }
            (naive, tr)
        };
        let delta_naive = -(&eta * naive);
        let next = &a + &delta_naive;
        rows.push(ScaleRow {
            step,
            a,
            delta_naive,
            loss,
            grad_true,
            sigma_exact,
        });
        a = next;
    }
    Some(ScaleSimulation {
        u,
        t,
        eta,
        a0,
        sd_u,
        c,
        rows,
    })
}

/// C < 0: u = [1, 3], t = [0, 2], η = 1/10, a₀ = 1 (C = −8): a drifts.
pub fn scale_grow_case(k: usize) -> ScaleSimulation {
    scale_simulation(rats(&[1, 3]), rats(&[0, 2]), q(1, 10), r(1), k)
        .unwrap_or_else(|| unreachable!("sd([1, 3]) = 1"))
}

/// C > 0: u = [1, 3], t = [−2, 0], η = 1/10, a₀ = 2 (C = 8): a crosses 0.
pub fn scale_flip_case(k: usize) -> ScaleSimulation {
    scale_simulation(rats(&[1, 3]), rats(&[-2, 0]), q(1, 10), r(2), k)
        .unwrap_or_else(|| unreachable!("sd([1, 3]) = 1"))
}

// ------------------------------------------------------------- weights ---

/// The Section 3.3 example: x_i = Σ_k W_k u_ik, x̂ = (x − E\[x\]) / sqrt(Var\[x\]),
/// ε = 0, ℓ = Σ (x̂ − t)², gradients at W and at aW, exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightExample {
    pub u: Vec<Vec<Rat>>,
    pub w: Vec<Rat>,
    pub t: Vec<Rat>,
    pub a: Rat,
    /// x = W u (rows), and its standard deviation (rational by choice).
    pub x: Vec<Rat>,
    pub sigma: Rat,
    pub loss: Rat,
    pub loss_scaled: Rat,
    pub grad_w: Vec<Rat>,
    pub grad_aw: Vec<Rat>,
    /// ⟨∇_W ℓ, W⟩.
    pub inner: Rat,
}

/// Loss and ∇_W ℓ at W, exactly; `None` when sd(Wu) is irrational.
fn weight_grad_exact(u: &[Vec<Rat>], w: &[Rat], t: &[Rat]) -> Option<(Rat, Vec<Rat>, Rat)> {
    let x: Vec<Rat> = u
        .iter()
        .map(|row| row.iter().zip(w).fold(Rat::zero(), |s, (u, w)| s + u * w))
        .collect();
    let m = mean(&x);
    let sigma = exact_sqrt(&var(&x))?;
    if sigma.is_zero() {
        return None;
    }
    let xh: Vec<Rat> = x.iter().map(|x| (x - &m) / &sigma).collect();
    let g = sq_grad(&xh, t);
    let n = x.len();
    let inv_n = q(1, n as i64);
    // ∂ℓ/∂x_j = Σ_i g_i J_ij, J_ij = (δ_ij − 1/N − x̂_i x̂_j / N) / σ.
    let mut dx = vec![Rat::zero(); n];
    for (j, d) in dx.iter_mut().enumerate() {
        for i in 0..n {
            let delta = if i == j { Rat::one() } else { Rat::zero() };
            *d += &g[i] * (delta - &inv_n - &xh[i] * &xh[j] * &inv_n) / &sigma;
        }
    }
    let grad: Vec<Rat> = (0..w.len())
        .map(|k| (0..n).fold(Rat::zero(), |s, j| s + &dx[j] * &u[j][k]))
        .collect();
    Some((sq_loss(&xh, t), grad, sigma))
}

fn weight_data() -> (Vec<Vec<Rat>>, Vec<Rat>, Vec<Rat>) {
    let u = vec![rats(&[2, -1]), rats(&[0, 1]), rats(&[4, -1]), rats(&[2, 3])];
    (u, rats(&[1, 2]), rats(&[0, 1, 0, 0]))
}

/// u = [[2, −1], [0, 1], [4, −1], [2, 3]], W = [1, 2] (so Wu = [0, 2, 2, 8],
/// mean 3, sd 3), t = [0, 1, 0, 0], a = 3.
pub fn weight_example() -> WeightExample {
    let (u, w, t) = weight_data();
    let a = r(3);
    let aw: Vec<Rat> = w.iter().map(|w| &a * w).collect();
    let x: Vec<Rat> = u
        .iter()
        .map(|row| row.iter().zip(&w).fold(Rat::zero(), |s, (u, w)| s + u * w))
        .collect();
    let (loss, grad_w, sigma) =
        weight_grad_exact(&u, &w, &t).unwrap_or_else(|| unreachable!("sd = 3"));
    let (loss_scaled, grad_aw, _) =
        weight_grad_exact(&u, &aw, &t).unwrap_or_else(|| unreachable!("sd = 9"));
    let inner = grad_w
        .iter()
        .zip(&w)
        .fold(Rat::zero(), |s, (g, w)| s + g * w);
    WeightExample {
        u,
        w,
        t,
        a,
        x,
        sigma,
        loss,
        loss_scaled,
        grad_w,
        grad_aw,
        inner,
    }
}

/// Tolerance of the f64 steps of [`weight_norm_simulation`]: the identity
/// ‖W + ΔW‖² = ‖W‖² + ‖ΔW‖² is checked to this relative error.
pub const NORM_TOLERANCE: f64 = 1e-12;

/// One step of the weight-norm simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct NormRow {
    pub step: usize,
    pub w: Vec<f64>,
    pub norm2: f64,
    /// ‖ΔW‖² of the step taken from this W.
    pub delta_norm2: f64,
    pub loss: f64,
    /// ⟨∇_W ℓ, W⟩ (0 up to rounding).
    pub inner: f64,
    /// This row was computed exactly (the square root was rational).
    pub exact: bool,
}

fn weight_grad_f64(u: &[Vec<Rat>], w: &[f64], t: &[Rat]) -> (f64, Vec<f64>) {
    let u: Vec<Vec<f64>> = u
        .iter()
        .map(|r| r.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect())
        .collect();
    let t: Vec<f64> = t.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect();
    let n = u.len();
    let x: Vec<f64> = u
        .iter()
        .map(|row| row.iter().zip(w).map(|(u, w)| u * w).sum())
        .collect();
    let m = x.iter().sum::<f64>() / n as f64;
    let sigma = (x.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64).sqrt();
    let xh: Vec<f64> = x.iter().map(|x| (x - m) / sigma).collect();
    let g: Vec<f64> = xh.iter().zip(&t).map(|(x, t)| 2.0 * (x - t)).collect();
    let loss = xh.iter().zip(&t).map(|(x, t)| (x - t) * (x - t)).sum();
    let mg = g.iter().sum::<f64>() / n as f64;
    let mgx = g.iter().zip(&xh).map(|(g, x)| g * x).sum::<f64>() / n as f64;
    let dx: Vec<f64> = (0..n).map(|j| (g[j] - mg - xh[j] * mgx) / sigma).collect();
    let grad = (0..w.len())
        .map(|k| (0..n).map(|j| dx[j] * u[j][k]).sum())
        .collect();
    (loss, grad)
}

/// k steps of correct gradient descent W ← W − η ∇_W ℓ on the
/// [`weight_example`] layer, from W = [1, 2], η = 2. Step 0 is exact; the
/// later ones are in f64 (the square roots are irrational).
pub fn weight_norm_simulation(k: usize) -> Vec<NormRow> {
    let (u, w0, t) = weight_data();
    let eta = 2.0;
    let to_f =
        |v: &[Rat]| -> Vec<f64> { v.iter().map(|x| x.to_f64().unwrap_or(f64::NAN)).collect() };
    let mut rows = Vec::with_capacity(k + 1);
    let mut w = to_f(&w0);
    for step in 0..=k {
        let (loss, grad, exact) = if step == 0 {
            match weight_grad_exact(&u, &w0, &t) {
                Some((l, g, _)) => (l.to_f64().unwrap_or(f64::NAN), to_f(&g), true),
                None => {
                    let (l, g) = weight_grad_f64(&u, &w, &t);
                    (l, g, false)
                }
            }
        } else {
            let (l, g) = weight_grad_f64(&u, &w, &t);
            (l, g, false)
        };
        let norm2 = w.iter().map(|x| x * x).sum();
        let delta: Vec<f64> = grad.iter().map(|g| -eta * g).collect();
        let delta_norm2 = delta.iter().map(|x| x * x).sum();
        let inner = grad.iter().zip(&w).map(|(g, w)| g * w).sum();
        let next: Vec<f64> = w.iter().zip(&delta).map(|(w, d)| w + d).collect();
        rows.push(NormRow {
            step,
            w: w.clone(),
            norm2,
            delta_norm2,
            loss,
            inner,
            exact,
        });
        w = next;
    }
    rows
}

/// The exact first step of [`weight_norm_simulation`]: (‖W₀‖², ‖ΔW₀‖², ‖W₁‖²).
pub(crate) fn weight_first_step_exact() -> Option<(Rat, Rat, Rat)> {
    let (u, w0, t) = weight_data();
    let eta = r(2);
    let (_, g, _) = weight_grad_exact(&u, &w0, &t)?;
    let d: Vec<Rat> = g.iter().map(|g| -(&eta * g)).collect();
    let w1: Vec<Rat> = w0.iter().zip(&d).map(|(w, d)| w + d).collect();
    let n2 = |v: &[Rat]| v.iter().fold(Rat::zero(), |s, x| s + x * x);
    Some((n2(&w0), n2(&d), n2(&w1)))
}

//! `explain scale`: "worse if the normalization also scales", and the
//! paper's Section 3.3.

use super::sim::{
    scale_flip_case, scale_grow_case, weight_example, weight_first_step_exact,
    weight_norm_simulation, ScaleSimulation, NORM_TOLERANCE,
};
use super::{show, show_list, Doc, ExplainError, Format};
use crate::ir::Rat;
use num_traits::{Signed, Zero};
use std::fmt;

/// Steps of the simulations shown.
const STEPS: usize = 6;

fn scale_table<W: fmt::Write>(
    d: &mut Doc<'_, W>,
    sim: &ScaleSimulation,
) -> Result<(), ExplainError> {
    let rows: Vec<Vec<String>> = sim
        .rows
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                show(&r.a),
                show(&(&r.a * &r.a)),
                show(&r.delta_naive),
                show(&r.loss),
                show(&r.grad_true),
            ]
        })
        .collect();
    let header: &[&str] = match d.format {
        Format::Text => &["step", "a", "a²", "naive Δa", "loss", "true ∂ℓ/∂a"],
        _ => &["step", "a", "a²", "naive Δa", "loss", "true ∂ℓ/∂a"],
    };
    d.table(header, &rows)
}

pub(crate) fn write<W: fmt::Write>(d: &mut Doc<'_, W>) -> Result<(), ExplainError> {
    d.title("Worse if the normalization also scales (Ioffe & Szegedy 2015, Sections 2 and 3.3)")?;
    d.para(
        "The seed paragraph ends: \"This problem can get worse if the normalization not only \
         centers but also scales the activations.\" Here is why, with proofs re-checked by the \
         kernel and simulations in exact rational arithmetic (f64 only where the text says so).",
    )?;

    // 1 ---------------------------------------------------------------
    d.section("A scale-normalized layer")?;
    d.para("Let the layer multiply its input by a learned scale a and standardize (ε = 0):")?;
    d.display(
        "x_i = a·u_i,    x̂_i = (x_i − E[x]) / sqrt(Var[x]),    Var[x] = E[(x − E[x])²]",
        r"x_i = a u_i, \qquad \hat x_i = \frac{x_i - E[x]}{\sqrt{\mathrm{Var}[x]}}",
    )?;
    d.para(
        "For a > 0 the output does not depend on a at all (read x[i] below as the layer's input \
         u_i):",
    )?;
    d.proof(
        "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i])) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]))",
        &["a > 0"],
    )?;
    d.para(
        "For a < 0 the square root gives |a|, not a, and the output flips sign: x̂ becomes −x̂. \
         So a matters only through its sign.",
    )?;

    // 2 ---------------------------------------------------------------
    d.section("The naive step on a")?;
    d.para(
        "A step that treats μ = E[x] and σ = sqrt(Var[x]) as constants sees ∂x̂_i/∂a = u_i/σ, \
         with σ = sqrt(Var[a u]) = |a|·sd(u). With g_i = ∂ℓ/∂x̂_i:",
    )?;
    d.display(
        "∂ℓ/∂a (naive) = Σ_i g_i u_i / σ = C / a     for a > 0,    C = Σ_i g_i u_i / sd(u)\n\
         a ← a − η·C/a",
        r"\frac{\partial \ell}{\partial a}\Big|_{\text{naive}} = \frac{\sum_i g_i u_i}{\sigma} = \frac{C}{a}\ (a > 0), \qquad C = \frac{\sum_i g_i u_i}{\mathrm{sd}(u)}, \qquad a \leftarrow a - \eta\,\frac{C}{a}",
    )?;
    d.para(
        "While a > 0, x̂ and hence g do not change, so C is a constant and the loss is fixed. \
         Squaring the step: a_{k+1}² = a_k² − 2ηC + η²C²/a_k².",
    )?;
    d.para(
        "If C < 0: a_{k+1}² ≥ a_k² + 2η|C|, so a² grows by at least 2η|C| per step and a drifts \
         without bound, while the loss stays fixed: the seed's problem again.",
    )?;
    d.para(
        "If C > 0: a_{k+1} = (a_k² − ηC)/a_k, so a reaches 0 or jumps across it exactly at the \
         first step with a_k² ≤ ηC; before that a² shrinks by about 2ηC (at least ηC) per step, \
         so this happens within ⌈a₀²/(ηC)⌉ steps. After it x̂ flips sign (x̂ = −x̂ for a < 0; \
         x̂ = 0 at a = 0) and the loss changes, in general for the worse: the step was computed \
         for a model that does not exist.",
    )?;
    d.para(
        "With the statistics inside the gradient, ∂ℓ/∂a = Σ_ij g_i J_ij u_j with J_ij = (δ_ij − \
         1/N − x̂_i x̂_j/N)/σ, and Σ_j J_ij u_j = 0: the true gradient is exactly 0 for every \
         a ≠ 0 (last column of the tables).",
    )?;

    // 3 ---------------------------------------------------------------
    let grow = scale_grow_case(STEPS);
    d.section("Simulation, C < 0: a drifts")?;
    d.para(&format!(
        "u = {} (mean 2, Var 1, so sd(u) = {} and every square root is exact), target t = {}, \
         η = {}, a₀ = {}, ℓ = Σ_i (x̂_i − t_i)². Then x̂ = [−1, 1] for every a > 0 and C = {}.",
        show_list(&grow.u),
        show(&grow.sd_u),
        show_list(&grow.t),
        show(&grow.eta),
        show(&grow.a0),
        show(&grow.c),
    ))?;
    scale_table(d, &grow)?;
    let loss0 = grow.rows[0].loss.clone();
    let two_eta_c = Rat::from_integer(2.into()) * &grow.eta * grow.c.abs();
    d.claims(&[
        (format!("C = {} < 0", show(&grow.c)), grow.c.is_negative()),
        (
            format!(
                "a² grows by at least 2η|C| = {} at every step",
                show(&two_eta_c)
            ),
            grow.rows
                .windows(2)
                .all(|w| &w[1].a * &w[1].a >= &w[0].a * &w[0].a + &two_eta_c),
        ),
        (
            format!("the loss is exactly {} at every step", show(&loss0)),
            grow.rows.iter().all(|r| r.loss == loss0),
        ),
        (
            "σ² = Var[a u] = (|a|·sd(u))² exactly, and the true ∂ℓ/∂a is exactly 0 at every step"
                .into(),
            grow.rows
                .iter()
                .all(|r| r.sigma_exact && r.grad_true.is_zero()),
        ),
    ])?;

    // 4 ---------------------------------------------------------------
    let flip = scale_flip_case(STEPS);
    d.section("Simulation, C > 0: a crosses zero")?;
    let eta_c = &flip.eta * &flip.c;
    d.para(&format!(
        "Same u, target t = {}, η = {}, a₀ = {}: now C = {} and ηC = {}. The prediction: a \
         reaches or crosses 0 at the first step with a_k² ≤ ηC, within ⌈a₀²/(ηC)⌉ = {} steps.",
        show_list(&flip.t),
        show(&flip.eta),
        show(&flip.a0),
        show(&flip.c),
        show(&eta_c),
        flip.predicted_flip_bound()
            .map_or("?".into(), |b| b.to_string()),
    ))?;
    scale_table(d, &flip)?;
    let fs = flip.flip_step();
    let bound = flip.predicted_flip_bound();
    let first_small = flip
        .rows
        .iter()
        .find(|r| &r.a * &r.a <= eta_c)
        .map(|r| r.step + 1);
    let l0 = flip.rows[0].loss.clone();
    let after = fs.map(|k| flip.rows[k].loss.clone());
    d.claims(&[
        (format!("C = {} > 0", show(&flip.c)), flip.c.is_positive()),
        (
            format!(
                "a changes sign at step {} (the first step after a_k² ≤ ηC), within the predicted {} steps",
                fs.map_or("?".into(), |k| k.to_string()),
                bound.map_or("?".into(), |b| b.to_string())
            ),
            fs.is_some() && fs == first_small && matches!((fs, bound), (Some(k), Some(b)) if k <= b),
        ),
        (
            format!(
                "the loss is {} while a > 0 and {} after the flip",
                show(&l0),
                after.as_ref().map_or("?".into(), show)
            ),
            matches!((fs, &after), (Some(k), Some(l)) if *l != l0
                && flip.rows[..k].iter().all(|r| r.loss == l0)),
        ),
    ])?;

    // 5 ---------------------------------------------------------------
    d.section("Section 3.3: BN((aW)u) = BN(Wu)")?;
    d.para(
        "In the paper's Section 3.3 the scale is the layer's weight matrix: x_i = Σ_k W_k u_ik, \
         and scaling W by a scalar a scales x by a, by linearity of the sum:",
    )?;
    d.proof("sum[k](a*(W[k]*u[i,k])) = a*sum[k](W[k]*u[i,k])", &[])?;
    d.para(
        "so BN((aW)u) = BN(Wu) is the invariance of Section 1 with x = Wu (ε = 0, a > 0). With a \
         fixed ε > 0, as in practice, the invariance is not exact; bnproof refutes it:",
    )?;
    d.refutation(
        "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i]) + eps) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]) + eps)",
        &["a > 0", "eps > 0"],
    )?;
    d.para("It is exact again when ε is scaled by a² along with W:")?;
    d.proof(
        "(a*x[i] − mean[i](a*x[i])) / sqrt(var[i](a*x[i]) + a^2*eps) = (x[i] − mean[i](x[i])) / sqrt(var[i](x[i]) + eps)",
        &["a > 0"],
    )?;

    // 6 ---------------------------------------------------------------
    let ex = weight_example();
    d.section("Larger weights lead to smaller gradients")?;
    let u_rows: Vec<String> = ex.u.iter().map(|r| show_list(r)).collect();
    d.para(&format!(
        "Take N = {} examples with K = {} inputs, u = [{}], W = {}, so Wu = {} (σ = {}, rational), \
         target t = {}, ℓ = Σ_i (x̂_i − t_i)², ε = 0. The gradient, by the chain rule written out \
         over the rationals: ∂ℓ/∂x_j = Σ_i g_i J_ij, ∂ℓ/∂W_k = Σ_j ∂ℓ/∂x_j · u_jk. At W and at \
         aW with a = {}:",
        ex.u.len(),
        ex.w.len(),
        u_rows.join(", "),
        show_list(&ex.w),
        show_list(&ex.x),
        show(&ex.sigma),
        show_list(&ex.t),
        show(&ex.a),
    ))?;
    let ratios: Vec<Rat> = ex
        .grad_aw
        .iter()
        .zip(&ex.grad_w)
        .map(|(a, w)| if w.is_zero() { Rat::zero() } else { a / w })
        .collect();
    let rows: Vec<Vec<String>> = (0..ex.w.len())
        .map(|k| {
            vec![
                k.to_string(),
                show(&ex.grad_w[k]),
                show(&ex.grad_aw[k]),
                show(&ratios[k]),
            ]
        })
        .collect();
    d.table(&["k", "∂ℓ/∂W_k", "∂ℓ/∂(aW)_k", "ratio"], &rows)?;
    let inv_a = Rat::from_integer(1.into()) / &ex.a;
    d.claims(&[
        (
            format!("BN((aW)u) = BN(Wu): the loss is {} at both", show(&ex.loss)),
            ex.loss == ex.loss_scaled,
        ),
        (
            format!(
                "∇_(aW) ℓ = (1/a) ∇_W ℓ exactly: every ratio is {}",
                show(&inv_a)
            ),
            ex.grad_w.iter().any(|g| !g.is_zero())
                && ex
                    .grad_aw
                    .iter()
                    .zip(&ex.grad_w)
                    .all(|(ga, gw)| ga * &ex.a == *gw),
        ),
        (
            format!(
                "⟨∇_W ℓ, W⟩ = {} exactly: the gradient is orthogonal to W",
                show(&ex.inner)
            ),
            ex.inner.is_zero(),
        ),
    ])?;
    d.para(
        "Both facts hold in general, not just in this example. The gradient scaling, proved \
         symbolically for every batch size and width (substitute a·W for W in the derived \
         ∂ℓ/∂W of the unit x[i] = sum[k](W[k] * u[i,k]) normalized with ε = 0):",
    )?;
    gradient_scaling(d)?;
    d.para(
        "The orthogonality is general for ε = 0: ⟨∇_W ℓ, W⟩ = Σ_j ∂ℓ/∂x_j · x_j, and J·x = 0 \
         because BN is invariant along the ray x ↦ a·x (differentiate BN(a·x) = BN(x) at a = 1). \
         bnproof proves it for every batch size, every width and every upstream gradient: it \
         differentiates the layer x[i] = sum[k](W[k] * u[i,k]), x̂ = (x − E[x]) / sqrt(Var[x]) \
         symbolically and shows Σ_k W[k] · ∂ℓ/∂W[k] = 0 whenever the batch is not constant:",
    )?;
    orthogonality(d)?;

    // 7 ---------------------------------------------------------------
    d.section("The correct gradient can only grow ‖W‖")?;
    d.para(
        "Since ΔW = −η ∇_W ℓ is orthogonal to W, ‖W + ΔW‖² = ‖W‖² + ‖ΔW‖²: every step of \
         correct gradient descent increases the norm, and by the previous section a larger \
         norm means smaller gradients. The scale-invariant layer stabilizes its own effective \
         learning rate (the paper: \"back-propagation through a layer is unaffected by the \
         scale of its parameters\"). Gradient descent from the W above with η = 2:",
    )?;
    let sim = weight_norm_simulation(STEPS);
    let rows: Vec<Vec<String>> = sim
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                format!("[{:.6}, {:.6}]", r.w[0], r.w[1]),
                format!("{:.6}", r.norm2),
                format!("{:.6}", r.delta_norm2),
                format!("{:.6}", r.loss),
                if r.exact {
                    "exact".into()
                } else {
                    "f64".into()
                },
            ]
        })
        .collect();
    d.table(&["step", "W", "‖W‖²", "‖ΔW‖²", "loss", "arithmetic"], &rows)?;
    let exact = weight_first_step_exact();
    let exact_ok = matches!(&exact, Some((n0, dn, n1)) if *n1 == n0 + dn);
    let exact_text = match &exact {
        Some((n0, dn, n1)) => format!(
            "step 0 → 1 exactly: ‖W₀‖² + ‖ΔW₀‖² = {} + {} = {} = ‖W₁‖²",
            show(n0),
            show(dn),
            show(n1)
        ),
        None => "step 0 → 1 exactly: the square root was not rational".into(),
    };
    let pyth = sim.windows(2).all(|w| {
        (w[1].norm2 - (w[0].norm2 + w[0].delta_norm2)).abs() <= NORM_TOLERANCE * w[1].norm2
    });
    let growing = sim.windows(2).all(|w| w[1].norm2 > w[0].norm2);
    let orth = sim
        .iter()
        .all(|r| r.inner.abs() <= NORM_TOLERANCE * r.norm2.max(1.0));
    d.claims(&[
        (exact_text, exact_ok),
        (
            format!(
                "later steps in f64 (the square roots are irrational): ‖W_(k+1)‖² = ‖W_k‖² + ‖ΔW_k‖² to relative error {NORM_TOLERANCE:e}"
            ),
            pyth,
        ),
        ("‖W‖² strictly increases at every step".into(), growing),
        (
            format!("⟨∇_W ℓ, W⟩ = 0 at every step (to {NORM_TOLERANCE:e} relative, in f64)"),
            orth,
        ),
    ])?;

    // 8 ---------------------------------------------------------------
    d.section("In short")?;
    d.para(
        "With a scaling normalization the naive step on a scale parameter sees a non-zero \
         gradient C/a that the model cannot feel: a drifts without bound while the loss stays \
         fixed (C < 0), or is driven through zero, where the output flips sign and the loss \
         jumps (C > 0). Differentiating through the statistics gives the true gradient 0 along \
         the scale, ∇ ⟂ W, and ‖W‖ grows under correct gradient descent; these identities hold \
         exactly only with ε = 0 (or ε scaled by a²), as the refuted fixed-ε statement shows.",
    )?;
    Ok(())
}

/// The scale-invariant unit, its gradient in W (inlined), and the
/// assumption that the batch is not constant.
fn unit() -> Result<(crate::syntax::Model, crate::ir::Expr, crate::ir::Assumption), ExplainError> {
    use crate::ir::{Assumption, Expr, RedOp, Rel};
    let src = include_str!("../../models/explain/scale-invariant-unit.bn");
    let model =
        crate::syntax::parse_model(src).map_err(|e| ExplainError::Derivation(e.to_string()))?;
    let derivation =
        crate::diff::derive(&model).map_err(|e| ExplainError::Derivation(e.to_string()))?;
    let grad = derivation
        .gradient("W")
        .cloned()
        .unwrap_or_else(|| Expr::num(0));
    let grad = derivation.inline(&grad, &model);
    let x = crate::diff::inline(&Expr::sym("x", &["i"]), &model);
    let assumption = Assumption {
        expr: Expr::reduce(RedOp::Var, &["i"], x),
        rel: Rel::Gt,
    };
    Ok((model, grad, assumption))
}

/// Show and record a normal-form proof of `stmt`.
fn proved<W: fmt::Write>(
    d: &mut Doc<'_, W>,
    what: &str,
    stmt: &crate::ir::Statement,
    assumptions: &[crate::ir::Assumption],
) -> Result<(), ExplainError> {
    let proof = crate::prove::by_normal_form(stmt, assumptions);
    let held = proof
        .as_ref()
        .is_some_and(|p| crate::kernel::check(p).is_ok());
    let assumed: Vec<String> = assumptions
        .iter()
        .map(|a| format!("{} > 0", crate::syntax::print(&a.expr)))
        .collect();
    let text = match &proof {
        Some(p) if held => format!(
            "{what}, assuming {}\n  proved: {} kernel-checked step(s) ({}), after substituting the layer's definitions",
            assumed.join(" and "),
            p.steps.len(),
            p.steps.iter().map(|s| s.rule.as_str()).collect::<Vec<_>>().join(", ")
        ),
        _ => format!("{what}: no kernel-checked proof was found"),
    };
    d.block(&text)?;
    d.record(
        format!("{what} (symbolic)"),
        super::CheckKind::Proof,
        held,
        if held {
            String::new()
        } else {
            "not proved".into()
        },
    );
    Ok(())
}

/// ∂ℓ/∂W at a·W is (1/a) · ∂ℓ/∂W at W (a > 0, ε = 0).
fn gradient_scaling<W: fmt::Write>(d: &mut Doc<'_, W>) -> Result<(), ExplainError> {
    use crate::ir::{Assumption, Expr, Rel, Statement};
    let (_, grad, not_constant) = unit()?;
    let a = Expr::sym("a", &[]);
    let scaled: std::collections::BTreeMap<String, Expr> = [(
        "W".to_string(),
        Expr::mul(a.clone(), Expr::sym("W", &["k"])),
    )]
    .into();
    let stmt = Statement {
        lhs: crate::diff::subst(&grad, &scaled),
        rhs: Expr::div(grad, a.clone()),
    };
    let assumptions = [
        Assumption {
            expr: a,
            rel: Rel::Gt,
        },
        not_constant,
    ];
    proved(d, "∂ℓ/∂W at a·W = (1/a) · ∂ℓ/∂W at W", &stmt, &assumptions)
}

/// ⟨∇_W ℓ, W⟩ = 0 for the scale-invariant unit, derived and proved.
fn orthogonality<W: fmt::Write>(d: &mut Doc<'_, W>) -> Result<(), ExplainError> {
    use crate::ir::{Expr, RedOp, Statement};
    let (_, grad, not_constant) = unit()?;
    let inner = Expr::reduce(RedOp::Sum, &["k"], Expr::mul(Expr::sym("W", &["k"]), grad));
    let stmt = Statement {
        lhs: inner,
        rhs: Expr::num(0),
    };
    proved(d, "sum[k](W[k] * ∂ℓ/∂W[k]) = 0", &stmt, &[not_constant])
}

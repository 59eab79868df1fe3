//! `explain seed`: the seed question (Ioffe & Szegedy 2015, Section 2).

use super::sim::seed_simulation;
use super::{show, show_list, Doc, ExplainError, Format};
use crate::ir::Rat;
use num_traits::Zero;
use std::fmt;

/// Steps of the simulation shown.
const STEPS: usize = 6;

pub(crate) fn write<W: fmt::Write>(d: &mut Doc<'_, W>) -> Result<(), ExplainError> {
    d.title("Why Eq. (1) holds, and what its \"Then\" means (Ioffe & Szegedy 2015, Section 2)")?;
    d.para(
        "Every proof below was found by bnproof's prover while this text was written and \
         re-checked by its independent kernel; every number was computed in exact rational \
         arithmetic.",
    )?;

    // 0 ---------------------------------------------------------------
    d.section("The question")?;
    d.para(
        "Section 2 of the Batch Normalization paper argues that normalizing activations \
         outside the gradient step can undo the step. Its example is a layer that adds a \
         learned bias b and subtracts the mean; if the gradient step ignores that the mean \
         depends on b, it updates b ← b + Δb, and the paper continues: \"Then \
         u + (b + Δb) − E[u + (b + Δb)] = u + b − E[u + b]\" (its Eq. (1)). A reader asked \
         three things: why Eq. (1) is true, what it has to do with the sentence before it \
         (the \"Then\" suggests it follows from it), and whether E[Δb] = Δb, and if so why. \
         This page answers all three: the equation by proofs, the \"Then\" by an exact \
         simulation of the training loop the paper describes.",
    )?;

    // 1 ---------------------------------------------------------------
    d.section("The set-up")?;
    d.para(
        "A layer receives an input u, adds a learned bias b and centres the result by \
         subtracting its mean over the N examples i = 1…N:",
    )?;
    d.display(
        "x_i = u_i + b,    x̂_i = x_i − E[x],    E[x] = (1/N) Σ_i x_i",
        r"x_i = u_i + b, \qquad \hat x_i = x_i - E[x], \qquad E[x] = \frac{1}{N}\sum_{i=1}^{N} x_i",
    )?;
    d.para(
        "E here is not an expectation over a probability distribution, although the paper \
         writes it like one: it is a sample mean, the plain average of the N values at \
         hand: the whole training set in the paper's Section 2, the mini-batch in Section 3. \
         bnproof writes it mean[i](…) (or E[…]), where i indexes the examples. A name with an \
         index, like u[i], varies from example to example; a name without one, like b or Δb, \
         is a single number shared by all examples.",
    )?;

    // 2 ---------------------------------------------------------------
    d.section("E[Δb] = Δb")?;
    d.para(
        "Δb is one number: the gradient step computes a single update for the single \
         parameter b (summing the per-example contributions over the batch) and adds it to \
         every example's activation. The mean of N copies of one number is that number, \
         (1/N)(Δb + Δb + … + Δb) = Δb. So yes, E[Δb] = Δb, and the whole reason is that \
         Δb is the same for every example in the batch.",
    )?;
    d.proof("mean[i](Δb) = Δb", &[])?;
    d.para(
        "Contrast: if the update differed between examples (a per-example Δb[i]), its mean \
         would be an average of different numbers, and Eq. (1) would be false: the left side \
         minus the right side is Δb[i] − E[Δb], which is non-zero whenever Δb varies. bnproof \
         refutes that version with an exact counterexample:",
    )?;
    d.refutation(
        "u[i] + (b + Δb[i]) − E[u[i] + (b + Δb[i])] = u[i] + b − E[u[i] + b]",
        &[],
    )?;

    // 3 ---------------------------------------------------------------
    d.section("Eq. (1)")?;
    d.display(
        "u + (b + Δb) − E[u + (b + Δb)] = u + b − E[u + b]        (1)",
        r"u + (b + \Delta b) - E[u + (b + \Delta b)] = u + b - E[u + b] \tag{1}",
    )?;
    d.para(
        "The mean of a sum is the sum of the means (mean-add), and the shift b + Δb is the same \
         for every example, so its mean is itself (mean-const, the fact of the previous \
         section). The shift therefore appears once added and once subtracted, and cancels \
         (ring): both sides equal u − E[u]. Each step below names the rule that justifies it, \
         with its side condition:",
    )?;
    d.proof(
        "u[i] + (b + Δb) − E[u[i] + (b + Δb)] = u[i] + b − E[u[i] + b]",
        &[],
    )?;
    d.para(
        "Eq. (1) itself is plain algebra and holds for any number Δb whatsoever. What it \
         means comes from the sentence before it.",
    )?;

    // 4 ---------------------------------------------------------------
    d.section("What \"Then\" means")?;
    d.para(
        "\"Then\" introduces a consequence of the update rule. The paper considers a gradient \
         step that ignores the dependence of E[x] on b, i.e. one that treats E[x] as a \
         constant, as if the normalization were done outside the model between steps. For \
         that computation ∂x̂_i/∂b = 1, so it moves b by",
    )?;
    d.display(
        "Δb = −η Σ_i ∂ℓ/∂x̂_i        (η the learning rate; Δb ∝ −∂ℓ/∂x̂, summed over the batch)",
        r"\Delta b = -\eta \sum_{i} \frac{\partial \ell}{\partial \hat x_i}",
    )?;
    d.para(
        "which is in general not zero: the step believes that moving b lowers the loss. \
         \"Then\" says: now recompute the layer with the new bias, the normalization included. \
         By Eq. (1) the output x̂ after the step is exactly the output before it. The output \
         did not change, so the loss did not change, so ∂ℓ/∂x̂ did not change, so the next \
         step computes the same Δb again. b moves by the same amount at every step, without \
         bound (\"b will grow indefinitely\"), while the loss stays fixed: the update to b and \
         the change in the normalization cancel exactly.",
    )?;

    // 5 ---------------------------------------------------------------
    d.section("The true gradient: ∂ℓ/∂b = 0")?;
    d.para(
        "With the normalization inside the gradient (E[x] depends on b, and back-propagation \
         goes through it, as Batch Normalization does in Section 3), the chain rule gives, \
         with g_j = ∂ℓ/∂x̂_j,",
    )?;
    d.display(
        "∂x̂_j/∂b = ∂x_j/∂b − ∂E[x]/∂b = 1 − (1/N) Σ_i ∂x_i/∂b = 1 − (1/N) Σ_i 1 = 1 − mean[i](1)\n\
         ∂ℓ/∂b   = Σ_j g_j · ∂x̂_j/∂b = sum[j](g[j] * (1 − mean[i](1)))",
        r"\frac{\partial \hat x_j}{\partial b} = 1 - \frac{1}{N}\sum_{i=1}^{N} 1, \qquad \frac{\partial \ell}{\partial b} = \sum_j g_j \Bigl(1 - \frac{1}{N}\sum_{i=1}^{N} 1\Bigr)",
    )?;
    d.para("Both vanish, for every batch size N and every upstream gradient g:")?;
    d.proof("1 - mean[i](1) = 0", &[])?;
    d.proof("sum[j](g[j] * (1 - mean[i](1))) = 0", &[])?;
    d.para(
        "The correct gradient with respect to b is exactly zero: a centring layer cannot see \
         b, and a correct optimizer leaves b where it is. (This is why the paper later drops \
         the bias before a batch-normalized layer: \"its effect will be canceled by the \
         subsequent mean subtraction\", Section 3.2; its role is taken by β.)",
    )?;

    // 6 ---------------------------------------------------------------
    d.section("An exact simulation")?;
    let sim = seed_simulation(STEPS);
    let n = sim.u.len();
    let sum_t = sim.t.iter().fold(Rat::zero(), |s, t| s + t);
    d.para(&format!(
        "A batch of N = {n} examples, u = {}, target t = {}, loss ℓ = Σ_i (x̂_i − t_i)², \
         learning rate η = {}, b₀ = {}. The naive update is b ← b − η Σ_i ∂ℓ/∂x̂_i; the \
         correct one is b ← b − η ∂ℓ/∂b with ∂ℓ/∂b computed through the normalization \
         (∂x̂_i/∂b = Σ_j (δ_ij − 1/N)). Both are computed over the rationals, {STEPS} steps each.",
        show_list(&sim.u),
        show_list(&sim.t),
        show(&sim.eta),
        show(&sim.b0),
    ))?;
    d.para(&format!(
        "Why this target: since Σ_i x̂_i = 0, the naive gradient is Σ_i ∂ℓ/∂x̂_i = 2 Σ_i (x̂_i \
         − t_i) = −2 Σ_i t_i. A target with mean zero would make the naive Δb zero, and the \
         naive update would stand still for the wrong reason; the example would show nothing. \
         Here Σ_i t_i = {}, so the naive Δb = 2η Σ_i t_i = {}.",
        show(&sum_t),
        show(&(Rat::from_integer(2.into()) * &sim.eta * &sum_t)),
    ))?;
    let rows: Vec<Vec<String>> = sim
        .rows
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                show(&r.b_naive),
                show(&r.delta_naive),
                show(&r.loss_naive),
                show(&r.b_correct),
                show(&r.grad_correct),
                show(&r.loss_correct),
            ]
        })
        .collect();
    let header: &[&str] = match d.format {
        Format::Text => &[
            "step",
            "b (naive)",
            "naive Δb",
            "loss",
            "b (true)",
            "∂ℓ/∂b",
            "loss",
        ],
        _ => &[
            "step",
            "b (naive)",
            "naive Δb",
            "loss (naive)",
            "b (true gradient)",
            "∂ℓ/∂b",
            "loss (true gradient)",
        ],
    };
    d.table(header, &rows)?;
    let first = &sim.rows[0];
    let delta = first.delta_naive.clone();
    let loss0 = first.loss_naive.clone();
    let claims = vec![
        (
            format!("the naive Δb is the same non-zero number {} at every step", show(&delta)),
            !delta.is_zero() && sim.rows.iter().all(|r| r.delta_naive == delta),
        ),
        (
            format!(
                "b_k = b₀ + k·Δb exactly: after {STEPS} steps b = {}, and it keeps growing linearly",
                show(&sim.rows[STEPS].b_naive)
            ),
            sim.rows.iter().all(|r| {
                r.b_naive == &sim.b0 + Rat::from_integer(r.step.into()) * &delta
            }),
        ),
        (
            format!("the loss is exactly {} at every naive step", show(&loss0)),
            sim.rows.iter().all(|r| r.loss_naive == loss0),
        ),
        (
            "the true gradient ∂ℓ/∂b is exactly 0 at every step, so b does not move".into(),
            sim.rows
                .iter()
                .all(|r| r.grad_correct.is_zero() && r.b_correct == sim.b0),
        ),
        (
            format!("the loss with the true gradient is also {} (b cannot change it)", show(&loss0)),
            sim.rows.iter().all(|r| r.loss_correct == loss0),
        ),
    ];
    d.claims(&claims)?;

    // 7 ---------------------------------------------------------------
    d.section("In short")?;
    d.para(
        "E is the batch mean, and Δb is one number shared by the whole batch, so E[Δb] = Δb and \
         Eq. (1) holds for any Δb: whatever a step adds to b, the re-computed mean takes away. \
         \"Then\" links Eq. (1) to the naive step: because that step ignored E[x]'s dependence \
         on b it computed a non-zero Δb, and because of Eq. (1) that Δb changed neither the \
         output nor the loss, so the same Δb is computed again and again: b grows without \
         bound while the loss stays fixed. Differentiating through the normalization gives \
         ∂ℓ/∂b = 0 exactly, and the problem disappears; this is the paper's argument for \
         making the normalization part of the model (Section 3).",
    )?;
    Ok(())
}

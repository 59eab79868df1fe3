//! The work SymPy does in `bench/sympy` for "bn-dx", for every N at once:
//! differentiate batch norm in reverse mode and prove (kernel-checked) that
//! ∂ℓ/∂x equals the three-term form `γ/s · (dy − mean(dy) − x̂ · mean(dy·x̂))`.
//! Prints the median wall time of `BNPROOF_RUNS` runs (default 21) in ms:
//! `cargo run --release --example bn_dx`.

use bnproof::ir::Statement;
use bnproof::{diff, models, prove};
use std::io::Write;
use std::time::Instant;

const THREE_TERM: &str =
    "gamma / sqrt(var + eps) * (dy[n] - mean[n](dy[n]) - xhat[n] * mean[n](dy[n] * xhat[n]))";

fn main() {
    let runs: usize = std::env::var("BNPROOF_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let loaded = models::load("batchnorm").expect("built-in model");
    let model = &loaded.model;
    let claim = bnproof::syntax::parse_expr(THREE_TERM).expect("the three-term form parses");
    let mut times = Vec::new();
    let mut steps = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let d = diff::derive(model).expect("batch norm differentiates");
        let dx = d.gradient_symbol("x").expect("a gradient for x");
        // Inlined, as SymPy works: the derivation's names and the model's.
        let stmt = Statement {
            lhs: d.inline(&dx, model),
            rhs: d.inline(&claim, model),
        };
        let proof = prove::by_normal_form(&stmt, &model.assumptions)
            .expect("the three-term form is proved by normal forms");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        steps = proof
            .steps
            .iter()
            .map(|s| s.rule.clone())
            .collect::<Vec<_>>()
            .join(", ");
    }
    times.sort_by(f64::total_cmp);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "bn-dx: reverse mode + kernel-checked proof ({steps}): median {:.2} ms of {runs} (min {:.2}, max {:.2})",
        times[runs / 2],
        times[0],
        times[runs - 1]
    )
    .unwrap();
}

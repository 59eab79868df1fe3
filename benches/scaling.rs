//! How bnproof's work grows with the size of the statement: proof time,
//! e-graph nodes and the size of the linear normal form, for families that
//! grow with a parameter k. `cargo bench --bench scaling` prints a table
//! (median of 3 runs per point; a family stops after its first point that
//! is not proved or takes more than 5 s).
//!
//! * `centering^k`: k stacked centerings c(e) = e − mean[i](e) equal one
//!   (c is idempotent); the written statement doubles in size with each k.
//! * `shift^k`: (x[i] + c − mean[i](x[i] + c))^k = (x[i] − mean[i](x[i]))^k,
//!   a bias does not change the k-th centred power; the normal form grows
//!   with the degree.
//! * `moment^k`: mean[i]((x[i] + c − mean[i](x[i] + c))^k)
//!   = mean[i]((x[i] − mean[i](x[i]))^k), the k-th central moment is
//!   shift invariant (nested means inside a power under a mean).

use bnproof::derive::cost;
use bnproof::prove::{self, Options, Outcome};
use bnproof::ring;
use bnproof::syntax::parse_statement;
use std::io::Write;
use std::time::{Duration, Instant};

fn centering(k: usize) -> String {
    let mut e = "x[i]".to_string();
    for _ in 0..k {
        e = format!("({e} − mean[i]({e}))");
    }
    e
}

fn family(name: &str, k: usize) -> String {
    match name {
        "centering^k" => format!("{} = {}", centering(k), centering(1)),
        "shift^k" => {
            format!("(x[i] + c − mean[i](x[i] + c))^{k} = (x[i] − mean[i](x[i]))^{k}")
        }
        "moment^k" => format!(
            "mean[i]((x[i] + c − mean[i](x[i] + c))^{k}) = mean[i]((x[i] − mean[i](x[i]))^{k})"
        ),
        _ => unreachable!(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: keep
    // the test run to one small point per family.
    let quick = !std::env::args().any(|a| a == "--bench");
    let opts = Options::default();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:>3} {:>8} {:>10} {:>10} {:>8} {:>8} {:>9} {:>10}",
        "family", "k", "verdict", "prove ms", "nf ms", "nodes", "iters", "stmt ops", "nf terms"
    )
    .unwrap();
    let families: [(&str, usize); 3] = [("centering^k", 10), ("shift^k", 12), ("moment^k", 12)];
    for (name, kmax) in families {
        let ks: Vec<usize> = if quick { vec![2] } else { (1..=kmax).collect() };
        for k in ks {
            let stmt = parse_statement(&family(name, k)).expect("statement parses");
            let size = cost(&stmt.lhs) + cost(&stmt.rhs);
            let runs = if quick { 1 } else { 3 };
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..runs {
                let start = Instant::now();
                let (outcome, stats) = prove::prove(&stmt, &[], &opts);
                times.push(start.elapsed().as_secs_f64() * 1e3);
                last = Some((outcome, stats));
            }
            let (outcome, stats) = last.expect("at least one run");
            let verdict = match outcome {
                Outcome::Proved(_) => "proved",
                Outcome::Refuted(_) => "refuted",
                Outcome::Unknown { .. } => "unknown",
            };
            let mut nf_times = Vec::new();
            for _ in 0..runs {
                let start = Instant::now();
                let _ = prove::by_normal_form(&stmt, &[]);
                nf_times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            let terms = ring::normalize_with(&stmt.lhs, &ring::Mode::LINEAR)
                .map(|p| p.len().to_string())
                .unwrap_or_else(|e| format!("err: {e:?}").chars().take(10).collect());
            let ms = median(times);
            writeln!(
                out,
                "{:<12} {:>3} {:>8} {:>10.2} {:>10.2} {:>8} {:>8} {:>9} {:>10}",
                name,
                k,
                verdict,
                ms,
                median(nf_times),
                stats.nodes,
                stats.iterations,
                size,
                terms
            )
            .unwrap();
            out.flush().unwrap();
            if verdict != "proved" || Duration::from_secs_f64(ms / 1e3) > Duration::from_secs(5) {
                break;
            }
        }
    }
}

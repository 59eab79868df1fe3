//! Where the time of each library entry goes (counterexample search vs
//! e-graph search), median of several runs: `cargo run --release --example timing`.

use bnproof::library;
use bnproof::prove::Options;
use std::io::Write;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let opts = Options::default();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<34} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "theorem", "total ms", "refute", "search", "nodes", "iters"
    )
    .unwrap();
    for t in library::THEOREMS {
        let runs: Vec<library::Run> = (0..7).map(|_| library::run(t, &opts)).collect();
        let ms = |f: &dyn Fn(&library::Run) -> f64| median(runs.iter().map(f).collect());
        writeln!(
            out,
            "{:<34} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>6}",
            t.name,
            ms(&|r| r.elapsed.as_secs_f64() * 1e3),
            ms(&|r| r.stats.refute_time.as_secs_f64() * 1e3),
            ms(&|r| r.stats.search_time.as_secs_f64() * 1e3),
            runs[0].stats.nodes,
            runs[0].stats.iterations
        )
        .unwrap();
    }
}

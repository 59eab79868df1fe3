//! Criterion benches of the main pipeline stages:
//!
//! * `prove/<theorem>`: each library theorem, end to end (parse, refute
//!   search, e-graph search, kernel check);
//! * `derive/<model>/order<k>`: each built-in model, orders 1 and 2;
//! * `kernel/<theorem>`: the kernel check alone, on proofs made once;
//! * `verify-exact/<model>`: the exact-rational oracle for batch and layer norm.
//!
//! `cargo bench --bench bnproof` (add a filter, e.g. `-- prove/`, to run a group).
//! Runs are kept short (10 samples, ~2 s) because the machine is shared.

use bnproof::derive::{derive, DeriveOptions};
use bnproof::kernel;
use bnproof::library;
use bnproof::models;
use bnproof::prove::{Options, Outcome};
use bnproof::verify::{verify, Backend, VerifyOptions};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn bench_prove(c: &mut Criterion) {
    let opts = Options::default();
    let mut g = c.benchmark_group("prove");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    for t in library::THEOREMS {
        g.bench_function(t.name, |b| {
            b.iter(|| {
                let r = library::run(black_box(t), &opts);
                assert!(r.as_expected(), "{}: {}", t.name, r.verdict());
                r
            })
        });
    }
    g.bench_function("whole-library", |b| {
        b.iter(|| {
            library::THEOREMS
                .iter()
                .map(|t| library::run(t, &opts).as_expected())
                .filter(|ok| *ok)
                .count()
        })
    });
    g.finish();
}

fn bench_derive(c: &mut Criterion) {
    let mut g = c.benchmark_group("derive");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(300));
    for name in models::builtin_names() {
        let loaded = models::load(name).expect("built-in model loads");
        for order in [1u8, 2] {
            let opts = DeriveOptions {
                order,
                ..Default::default()
            };
            g.bench_function(format!("{name}/order{order}"), |b| {
                b.iter(|| derive(black_box(&loaded), &opts).expect("derives"))
            });
        }
    }
    g.finish();
}

fn bench_kernel(c: &mut Criterion) {
    let opts = Options::default();
    let proofs: Vec<(&str, kernel::Proof)> = library::THEOREMS
        .iter()
        .filter_map(|t| match library::run(t, &opts).outcome {
            Outcome::Proved(p) => Some((t.name, p)),
            _ => None,
        })
        .collect();
    let mut g = c.benchmark_group("kernel");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200));
    for (name, proof) in &proofs {
        g.bench_function(*name, |b| {
            b.iter(|| kernel::check(black_box(proof)).expect("kernel accepts"))
        });
    }
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify-exact");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(300));
    for name in ["batchnorm", "layernorm"] {
        let loaded = models::load(name).expect("built-in model loads");
        let opts = VerifyOptions {
            backends: vec![Backend::Exact],
            ..Default::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| verify(black_box(&loaded), &opts).expect("verifies"))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_prove,
    bench_derive,
    bench_kernel,
    bench_verify
);
criterion_main!(benches);

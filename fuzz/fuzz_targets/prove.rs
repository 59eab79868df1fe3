//! Parse a statement (and assumptions after `;`) and prove it with tiny
//! limits: never panics; a proof is accepted by the kernel and a
//! counterexample passes the independent re-check.
#![no_main]

use bnproof::prove::{self, Options, Outcome};
use bnproof::{kernel, refute, syntax};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if src.len() > 200 {
        return;
    }
    let mut parts = src.split(';');
    let Ok(st) = syntax::parse_statement(parts.next().unwrap_or("")) else {
        return;
    };
    let Ok(assumptions) = parts
        .map(syntax::parse_assumption)
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let mut all = vec![&st.lhs, &st.rhs];
    all.extend(assumptions.iter().map(|a| &a.expr));
    if syntax::check_consistent(&all).is_err() {
        return;
    }
    let opts = Options {
        node_limit: 500,
        iter_limit: 3,
        timeout: Duration::from_millis(50),
        seed: 0,
        samples: 10,
        ..Options::default()
    };
    match prove::prove(&st, &assumptions, &opts).0 {
        Outcome::Proved(p) => kernel::check(&p).expect("a reported proof passes the kernel"),
        Outcome::Refuted(cx) => assert!(
            refute::check_counterexample(&st, &assumptions, &cx),
            "a reported counterexample passes the re-check"
        ),
        Outcome::Unknown { .. } => {}
    }
});

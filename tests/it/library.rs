//! Every library entry gets its expected verdict; every proof is re-checked
//! by the kernel and survives a certificate round trip.

use bnproof::cert;
use bnproof::kernel;
use bnproof::library::{self, Expect};
use bnproof::prove::{Options, Outcome};

#[test]
fn library_verdicts() {
    let opts = Options::default();
    for t in library::THEOREMS {
        let run = library::run(t, &opts);
        match (&run.outcome, t.expect) {
            (Outcome::Proved(p), Expect::Proved) => {
                kernel::check(p).unwrap();
                let c = cert::to_certificate(p, true);
                let text = serde_json::to_string(&c).unwrap();
                let back = cert::check_json(&text).unwrap_or_else(|e| panic!("{}: {e}", t.name));
                assert_eq!(&back, p, "{}: certificate round trip", t.name);
            }
            (Outcome::Refuted(c), Expect::Refuted) => {
                let (stmt, assumptions) = library::parse(t).unwrap();
                assert!(
                    bnproof::refute::check_counterexample(&stmt, &assumptions, c),
                    "{}",
                    t.name
                );
            }
            (o, e) => panic!("{}: expected {}, got {o:?}", t.name, e.as_str()),
        }
    }
}

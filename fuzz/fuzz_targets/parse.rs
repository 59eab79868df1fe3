//! Any bytes through every parser and the printer: never panics, and
//! whatever parses prints to text that parses back to the same expression.
#![no_main]

use bnproof::syntax;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let _ = syntax::parse_model(src);
    let _ = syntax::parse_assumption(src);
    if let Ok(e) = syntax::parse_expr(src) {
        let printed = syntax::print(&e);
        let back = syntax::parse_expr(&printed)
            .unwrap_or_else(|err| panic!("printed {printed:?} does not parse: {err}"));
        assert_eq!(back, e, "round trip through {printed:?}");
    }
    if let Ok(st) = syntax::parse_statement(src) {
        for e in [&st.lhs, &st.rhs] {
            let printed = syntax::print(e);
            let back = syntax::parse_expr(&printed)
                .unwrap_or_else(|err| panic!("printed {printed:?} does not parse: {err}"));
            assert_eq!(&back, e, "round trip through {printed:?}");
        }
    }
});

//! Any bytes as a certificate: `check_json` never panics.
#![no_main]

use bnproof::cert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cert::check_json(text);
});

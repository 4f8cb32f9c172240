//! The `Authorization` header, the cookie and the custom header, the cross-site rule for
//! cookies, and the compact-form / `b64token` check (input format: `jwt_cache::fuzzing::token_extraction`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache::fuzzing::token_extraction(data);
});

//! What is read from a token before its signature is verified: registered claims, header
//! (`alg`, `kid`), issuer, the signed part's hash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache::fuzzing::unverified_token(data);
});

//! What the revocation log's channel announces, and what its snapshot and catch-up scripts
//! return (input format: `jwt_cache_redis::fuzzing::revocation_log`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache_redis::fuzzing::revocation_log(data);
});

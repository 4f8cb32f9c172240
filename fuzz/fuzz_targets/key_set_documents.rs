//! What a key set or discovery endpoint answers (a hostile issuer, or anyone on the path).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache::fuzzing::key_set_documents(data);
});

//! What an introspection endpoint answers with a 200: accepted only when active, for the
//! configured audience, not a refresh token, within its times; anything malformed is a 503.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache::fuzzing::introspection_answer_bytes(data);
});

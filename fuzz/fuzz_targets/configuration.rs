//! The demo's configuration, `NAME=value` lines, checked as start-up checks it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jwt_cache_example_support::fuzz_configuration(data);
});

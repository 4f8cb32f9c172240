//! Every fuzz target's seed corpus (`fuzz/seeds/<target>/`) and every input a fuzz run found
//! (`fuzz/regressions/<target>/`, where a crash or hang's input goes once fixed) replayed
//! through the same entry points the fuzz targets call: nothing panics, and each entry point's
//! own checks hold. Runs in the ordinary suite, without the fuzzer.

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

fn replay(target: &str, run: fn(&[u8])) {
    let all = inputs(target);
    assert!(!all.is_empty(), "no seeds for {target}");
    for (path, bytes) in all {
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
    }
}

#[test]
fn token_extraction() {
    replay("token_extraction", jwt_cache::fuzzing::token_extraction);
}

#[test]
fn unverified_token() {
    replay("unverified_token", jwt_cache::fuzzing::unverified_token);
}

#[test]
fn redis_value() {
    replay("redis_value", jwt_cache_redis::fuzzing::redis_value);
}

#[test]
fn key_set_documents() {
    replay("key_set_documents", jwt_cache::fuzzing::key_set_documents);
}

#[test]
fn introspection_answer() {
    replay(
        "introspection_answer",
        jwt_cache::fuzzing::introspection_answer_bytes,
    );
}

#[test]
fn revocation_log() {
    replay("revocation_log", jwt_cache_redis::fuzzing::revocation_log);
}

#[test]
fn configuration() {
    replay(
        "configuration",
        jwt_cache_example_support::fuzz_configuration,
    );
}

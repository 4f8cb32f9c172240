#!/usr/bin/env bash
# Coverage-guided fuzzing on the stable toolchain: libFuzzer (libfuzzer-sys) with the
# sanitizer-coverage instrumentation that `cargo fuzz` would set, passed as stable `-C` flags
# (no `-Z`, no nightly, no cargo-fuzz). Builds every target of fuzz/ and runs each for
# JWT_CACHE_FUZZ_SECS seconds (default 30) from its seed corpus in fuzz/seeds/<target>/.
# A crash or a hang fails the run and leaves its input in fuzz/artifacts/<target>/: make it a
# regression test (tests/tests/fuzz_regressions.rs replays every seed and every such input).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${JWT_CACHE_FUZZ_SECS:-30}"
# libFuzzer's seed: fixed by default, so a CI run explores the same inputs as the run that
# checked it (a slower machine explores a prefix of them); 0 draws a new one each run, for
# exploring.
seed="${JWT_CACHE_FUZZ_SEED:-1}"
host="$(rustc -vV | sed -n 's/^host: //p')"
targets=(token_extraction unverified_token redis_value key_set_documents introspection_answer revocation_log configuration)

# `--target` keeps the instrumentation off build scripts and proc macros (they are not linked
# with libFuzzer).
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
echo "==> building the fuzz targets ($host)"
cargo build --release --quiet --manifest-path fuzz/Cargo.toml --target-dir fuzz/target \
    --target "$host" --bins
unset RUSTFLAGS

passed=0
failed=0
summary=()
for t in "${targets[@]}"; do
    corpus="$(mktemp -d)"
    cp fuzz/seeds/"$t"/* "$corpus"/
    mkdir -p fuzz/artifacts/"$t"
    log="$(mktemp)"
    echo "==> fuzzing $t for ${secs}s"
    if fuzz/target/"$host"/release/"$t" "$corpus" -max_total_time="$secs" -timeout=10 -seed="$seed" \
        -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
        -artifact_prefix=fuzz/artifacts/"$t"/ >"$log" 2>&1; then
        passed=$((passed + 1))
        verdict=ok
    else
        failed=$((failed + 1))
        verdict=FAILED
        tail -40 "$log"
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    summary+=("$t: $verdict, ${execs:-?} executions, ${rate:-?}/s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l)")
    rm -rf "$corpus" "$log"
done
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

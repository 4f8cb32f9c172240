#!/usr/bin/env bash
# Run every test of the workspace: unit, acceptance, end-to-end and doc tests.
# Tests that need Redis start their own redis-server (Debian package) on loopback; this script
# installs it when it is missing and we are root. Under CI=true a test that finds no
# redis-server fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing redis-server (Debian package)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
        # The package starts a system instance on 6379; the tests start their own on free ports.
    else
        echo "warning: redis-server not found; Redis tests will fail under CI=true" >&2
    fi
fi

# Doc tests first, so the run closes on the suite's own summary.
cargo test --workspace --doc
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --all-targets --no-fail-fast
fi

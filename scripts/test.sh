#!/usr/bin/env bash
# Run every test of the workspace: unit, acceptance, end-to-end and doc tests.
# Tests that need Redis start their own redis-server (Debian package) on loopback; this script
# installs it when it is missing and we are root. A Redis test that finds no redis-server
# fails; JWT_CACHE_SKIP_REDIS_TESTS=1 is the one, explicit way to skip them (refused under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing redis-server (Debian package)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
        # The package starts a system instance on 6379; the tests start their own on free ports.
    else
        echo "warning: redis-server not found; the Redis tests will fail (install redis-server, or set JWT_CACHE_SKIP_REDIS_TESTS=1 to skip them)" >&2
    fi
fi

# Both the doc tests and the suite run whatever the other's outcome; the script fails if
# either did. Doc tests first, so the run closes on the suite's own summary.
status=0
cargo test --workspace --doc || status=1
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast || status=1
else
    cargo test --workspace --all-targets --no-fail-fast || status=1
fi
exit "$status"

#!/usr/bin/env bash
# Run every test of the workspace: unit, acceptance, end-to-end and doc tests, and the alert
# rules' unit tests.
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

# The alert rules are checked and unit-tested with promtool, and an end-to-end test scrapes the
# demo with a real Prometheus: both from the Debian package `prometheus`, installed the same way.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing prometheus (Debian package: prometheus, promtool)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "warning: prometheus/promtool not found; the alert-rule and Prometheus tests will fail (apt-get install prometheus)" >&2
    fi
fi

# Every part runs whatever the others' outcome; the script fails if any did. Doc tests
# first, so the run closes on the suite's own summary.
status=0
echo "==> alert rules (promtool)"
if command -v promtool >/dev/null 2>&1; then
    promtool check rules deploy/prometheus/jwt-cache.rules.yml || status=1
    (cd deploy/prometheus && promtool test rules jwt-cache.rules.test.yml) || status=1
else
    echo "promtool not found" >&2
    status=1
fi
cargo test --workspace --doc || status=1
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast || status=1
else
    cargo test --workspace --all-targets --no-fail-fast || status=1
fi
exit "$status"

#!/usr/bin/env bash
# Run every test of the workspace: unit, acceptance, end-to-end and doc tests, and the alert
# rules' unit tests.
# Tests that need Redis start their own redis-server (Debian package) on loopback; browser
# tests start chromedriver. This script installs what is missing when we are root. A test that
# finds its tool missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests start for real (Debian packages), installed when missing and we are root:
# redis-server and redis-sentinel (Redis, Cluster and Sentinel tests), chromium and
# chromium-driver (browser tests: cookies, CSRF, CORS), prometheus/promtool (alert rules and the
# scrape test). A test whose tool is missing fails; it never skips.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing ${missing[*]} (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # The redis package starts a system instance on 6379; the tests start their own on free ports.
    else
        echo "warning: ${missing[*]} not found and not root: the tests that need them will fail" >&2
    fi
fi
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

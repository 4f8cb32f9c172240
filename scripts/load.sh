#!/usr/bin/env bash
# Load run: throughput of one axum service with and without JwtCacheLayer (in-process hits),
# side by side in one run, alternating, on loopback only. Needs wrk (Debian package).
#   ./scripts/load.sh [rounds] [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
PORT=${PORT:-3900}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p jwt-cache-load-target
OUT=$(mktemp)
TOKIO_WORKER_THREADS=1 ADDR=127.0.0.1:$PORT ./target/release/jwt-cache-load-target >"$OUT" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 50); do grep -q '^TOKEN=' "$OUT" && break; sleep 0.1; done
TOKEN=$(sed -n 's/^TOKEN=//p' "$OUT")
sleep 0.5
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/auth" >/dev/null
rate() { wrk -t1 -c32 -d"${SECS}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/$1" | awk '/Requests\/sec/ {print $2}'; }
printf "%-6s %14s %14s %8s\n" round "plain req/s" "auth req/s" ratio
# Alternate which runs first, so drift on the shared machine does not favour one side.
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then p=$(rate plain); a=$(rate auth); else a=$(rate auth); p=$(rate plain); fi
    printf "%-6s %14s %14s %8s\n" "$r" "$p" "$a" "$(awk -v a="$a" -v p="$p" 'BEGIN {printf "%.3f", a/p}')"
    echo "$p $a" >>"$OUT.sum"
done
awk '{p+=$1; a+=$2} END {printf "total  %14.0f %14.0f %8.3f\n", p/NR, a/NR, a/p}' "$OUT.sum"
rm -f "$OUT.sum"

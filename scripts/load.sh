#!/usr/bin/env bash
# Load run: throughput of one axum service under different authentication, side by side in one
# run, rotating the order each round so drift on the shared machine favours no route. Loopback
# only; bounded (ROUNDS x routes x SECS seconds). Needs wrk (Debian package); with
# redis-server installed it also starts a Redis on a free loopback port for /redis and /tiered.
#   ./scripts/load.sh [rounds] [seconds-per-run]
# Routes (examples/load-target): plain (no auth), direct (validate every request), auth
# (in-process MemoryCache), redis (RedisCache alone), tiered (TieredCache, what the demo uses).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
PORT=${PORT:-3900}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p jwt-cache-load-target
OUT=$(mktemp)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -f "$OUT" "$OUT.sum"' EXIT
ROUTES="plain direct auth"
if command -v redis-server >/dev/null; then
    RPORT=$((PORT + 1))
    redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
    PIDS+=($!)
    sleep 0.5
    export REDIS_URL="redis://127.0.0.1:$RPORT"
    ROUTES="plain direct auth redis tiered"
fi
TOKIO_WORKER_THREADS=1 ADDR=127.0.0.1:$PORT ./target/release/jwt-cache-load-target >"$OUT" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q '^TOKEN=' "$OUT" && break; sleep 0.1; done
TOKEN=$(sed -n 's/^TOKEN=//p' "$OUT")
sleep 1
for r in $ROUTES; do
    curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/$r" >/dev/null
done
rate() { wrk -t1 -c32 -d"${SECS}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/$1" | awk '/Requests\/sec/ {print $2}'; }
set -- $ROUTES
N=$#
printf "%-6s" round; for r in $ROUTES; do printf " %12s" "$r"; done; echo
for round in $(seq "$ROUNDS"); do
    declare -A got=()
    # Rotate the order by one route each round.
    for i in $(seq 0 $((N - 1))); do
        idx=$(( (i + round - 1) % N + 1 ))
        r=${!idx}
        got[$r]=$(rate "$r")
    done
    printf "%-6s" "$round"; for r in $ROUTES; do printf " %12s" "${got[$r]}"; done; echo
    line=""; for r in $ROUTES; do line="$line ${got[$r]}"; done; echo "$line" >>"$OUT.sum"
    unset got
done
echo "mean, and each route as a ratio of the first ($1) and of auth (in-process):"
awk -v routes="$ROUTES" 'BEGIN {n = split(routes, name, " ")}
    {for (i = 1; i <= n; i++) s[i] += $i}
    END {
        for (i = 1; i <= n; i++) if (name[i] == "auth") a = i
        for (i = 1; i <= n; i++) printf "%-8s %12.0f  x%s %.3f  x auth %.3f\n", name[i], s[i]/NR, name[1], s[i]/s[1], s[i]/s[a]
    }' "$OUT.sum"

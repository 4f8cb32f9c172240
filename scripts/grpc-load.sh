#!/usr/bin/env bash
# The design note's figures, measured its way: requests through the demo in front of the
# example auth service answering `Validate` over gRPC in DELAY_MS (default 5 ms): with the
# cache (a repeated token is validated once) against JWT_CACHE_TTL=0 (validated on every
# request: the note's "before"), side by side, alternating the order each round; then the
# auth service stopped: the share of requests still served (cached tokens) and what new tokens
# get. Loopback only; bounded (ROUNDS x 2 runs of SECS s, one request at a time).
#   ./scripts/grpc-load.sh [rounds] [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
DELAY_MS=${DELAY_MS:-5}
APORT=${APORT:-50151}
CPORT=${CPORT:-3111}
DPORT=${DPORT:-3112}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p jwt-cache-demo -p jwt-cache-example-auth-grpc
PIDS=()
LUA=$(mktemp --suffix=.lua)
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -f "$LUA"' EXIT
cat >"$LUA" <<'LUA'
done = function(summary, latency, requests)
  local served = summary.requests - summary.errors.status - summary.errors.connect - summary.errors.read - summary.errors.write - summary.errors.timeout
  io.write(string.format("%.3f %.3f %.3f %.0f %d %d\n", latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6), served, summary.requests))
end
LUA
AUTH_OUT=$(mktemp)
./target/release/jwt-cache-auth-grpc --addr 127.0.0.1:$APORT --delay-ms "$DELAY_MS" >"$AUTH_OUT" 2>&1 &
AUTH_PID=$!
PIDS+=($AUTH_PID)
for _ in $(seq 100); do grep -q '^export TOKEN=' "$AUTH_OUT" && break; sleep 0.1; done
TOKEN=$(sed -n 's/^export TOKEN=//p' "$AUTH_OUT")
export AUTH_GRPC_URL=http://127.0.0.1:$APORT
RUST_LOG=error TOKIO_WORKER_THREADS=1 ADDR=127.0.0.1:$CPORT ./target/release/jwt-cache-demo >/dev/null 2>&1 &
PIDS+=($!)
RUST_LOG=error TOKIO_WORKER_THREADS=1 JWT_CACHE_TTL=0 ADDR=127.0.0.1:$DPORT ./target/release/jwt-cache-demo >/dev/null 2>&1 &
PIDS+=($!)
for p in $CPORT $DPORT; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$p/me")" = 200
done
run() { wrk -t1 -c1 -d"${SECS}s" -s "$LUA" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/me" | tail -1; }
printf "%-6s %-8s %9s %9s %9s %9s\n" round route p50_ms p95_ms p99_ms req/s
SUM=$(mktemp)
for round in $(seq "$ROUNDS"); do
    order="cached direct"; [ $((round % 2)) -eq 0 ] && order="direct cached"
    for route in $order; do
        port=$CPORT; [ "$route" = direct ] && port=$DPORT
        read -r p50 p95 p99 rps _ _ < <(run "$port")
        printf "%-6s %-8s %9s %9s %9s %9s\n" "$round" "$route" "$p50" "$p95" "$p99" "$rps"
        echo "$route $p50 $p95 $p99 $rps" >>"$SUM"
    done
done
echo "means; direct/cached: how many times lower the latency is with the cache:"
awk '{n[$1]++; a[$1]+=$2; b[$1]+=$3; c[$1]+=$4; r[$1]+=$5}
    END {for (k in n) printf "%-8s p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  %.0f req/s\n", k, a[k]/n[k], b[k]/n[k], c[k]/n[k], r[k]/n[k];
         printf "ratio    p50 %.1fx  p95 %.1fx  p99 %.1fx\n", (a["direct"]/n["direct"])/(a["cached"]/n["cached"]), (b["direct"]/n["direct"])/(b["cached"]/n["cached"]), (c["direct"]/n["direct"])/(c["cached"]/n["cached"])}' "$SUM"
rm -f "$SUM"
# The auth service goes away: every request of a cached token is still served; a new token
# gets 503 (not a hang, not a 401).
kill "$AUTH_PID"; wait "$AUTH_PID" 2>/dev/null || true
read -r p50 p95 p99 rps served total < <(run "$CPORT")
echo "auth service down, cached token: $served of $total requests served ($(awk -v s="$served" -v t="$total" 'BEGIN{printf "%.1f", 100*s/t}')%), p50 $p50 ms, p99 $p99 ms"
read -r p50 p95 p99 rps served total < <(run "$DPORT")
echo "auth service down, validating every request: $served of $total requests served"
NEW=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer ${TOKEN}x" "http://127.0.0.1:$CPORT/me")
echo "auth service down, a token never seen: HTTP ${NEW% *} in ${NEW#* } s"
rm -f "$AUTH_OUT"

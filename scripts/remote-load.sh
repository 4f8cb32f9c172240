#!/usr/bin/env bash
# Remote validation under load: the demo in front of the example issuer answering RFC 7662
# introspection in DELAY_MS (default 5 ms), with the cache (a repeated token is introspected
# once) against JWT_CACHE_TTL=0 (introspected on every request), side by side in one run,
# alternating the order each round. Loopback only; bounded (ROUNDS x 2 x 2 runs of SECS s).
#   ./scripts/remote-load.sh [rounds] [seconds-per-run]
# Latency: wrk -t1 -c1 (one request at a time, so single-flight cannot merge the direct
# route's calls); throughput: wrk -t1 -c32 (where the direct route's concurrent requests for
# one token do share calls: single-flight flatters the baseline, not us).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
DELAY_MS=${DELAY_MS:-5}
IPORT=${IPORT:-4100}
CPORT=${CPORT:-3101}
DPORT=${DPORT:-3102}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p jwt-cache-demo -p jwt-cache-example-issuer
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
ADDR=127.0.0.1:$IPORT ./target/release/jwt-cache-issuer >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$IPORT/stats" >/dev/null && break; sleep 0.1; done
export INTROSPECTION_URL=http://127.0.0.1:$IPORT/introspect INTROSPECTION_CLIENT_ID=demo INTROSPECTION_CLIENT_SECRET=demo-secret JWT_AUDIENCE=jwt-cache-demo
RUST_LOG=warn TOKIO_WORKER_THREADS=1 ADDR=127.0.0.1:$CPORT ./target/release/jwt-cache-demo >/dev/null 2>&1 &
PIDS+=($!)
RUST_LOG=warn TOKIO_WORKER_THREADS=1 JWT_CACHE_TTL=0 ADDR=127.0.0.1:$DPORT ./target/release/jwt-cache-demo >/dev/null 2>&1 &
PIDS+=($!)
for p in $CPORT $DPORT; do
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
done
curl -sf -X POST "http://127.0.0.1:$IPORT/control?delay_ms=$DELAY_MS" >/dev/null
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$IPORT/token?sub=load-user&format=opaque" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
for p in $CPORT $DPORT; do
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$p/me")" = 200
done
# "p50_ms p99_ms req_per_s" of one run.
run() {
    wrk -t1 -c"$2" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/me" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)} /Requests\/sec/ {rps = $2}
        END {printf "%.3f %.3f %.0f\n", p50, p99, rps}'
}
printf "%-6s %-8s %-7s %10s %10s %10s\n" round route conns p50_ms p99_ms req/s
SUM=$(mktemp); trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -f "$SUM"' EXIT
for round in $(seq "$ROUNDS"); do
    order="cached direct"; [ $((round % 2)) -eq 0 ] && order="direct cached"
    for route in $order; do
        port=$CPORT; [ "$route" = direct ] && port=$DPORT
        for c in 1 32; do
            read -r p50 p99 rps < <(run "$port" "$c")
            printf "%-6s %-8s %-7s %10s %10s %10s\n" "$round" "$route" "$c" "$p50" "$p99" "$rps"
            echo "$route $c $p50 $p99 $rps" >>"$SUM"
        done
    done
done
echo "means, and direct/cached ratios (p50, p99: how many times lower with the cache; req/s: how many times higher):"
awk '{k = $1 " " $2; n[k]++; p50[k] += $3; p99[k] += $4; rps[k] += $5}
    END {
        for (c = 1; c <= 32; c += 31) {
            d = "direct " c; h = "cached " c
            printf "c=%-3d cached p50 %.3f ms p99 %.3f ms %.0f req/s | direct p50 %.3f ms p99 %.3f ms %.0f req/s | p50 x%.1f p99 x%.1f req/s x%.1f\n", c,
                p50[h]/n[h], p99[h]/n[h], rps[h]/n[h], p50[d]/n[d], p99[d]/n[d], rps[d]/n[d],
                p50[d]/p50[h], p99[d]/p99[h], rps[h]/rps[d]
        }
    }' "$SUM"
echo "issuer: $(curl -s "http://127.0.0.1:$IPORT/stats")"

#!/usr/bin/env bash
# The benchmark, in one command: HTTP load against every mode and the peer (scripts/bench.py),
# then how cost grows with scale (scripts/scale.py). Loopback only, bounded, and it starts and
# stops everything it uses (servers, the introspection stub, redis-server).
#   ./scripts/bench.sh            full run: 2 rounds x 7 modes x 4 populations x 5 s, and the
#                                 scale curves up to 1M (about 8 min on 2 cores once built:
#                                 ~7 the HTTP runs, ~1 the scale points)
#   ./scripts/bench.sh --quick    1 round of 1 s runs and the small scale points (about a
#                                 minute once built; what CI runs: every mode must answer
#                                 correctly, speed is only reported)
# Other options (--out DIR, --modes a,b, --pops x,y) go to bench.py; results (Markdown, JSON,
# SVG) land in target/bench unless --out says otherwise. Needs wrk, redis-server, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y -qq wrk redis-server >/dev/null
        else
            echo "bench: $tool not found (apt-get install wrk redis-server)" >&2
            exit 1
        fi
    fi
done
cargo build --release -q -p jwt-cache-load-target
# The peer: its own crate and lockfile, outside the workspace's dependency graph.
cargo build --release -q --locked --manifest-path bench/peer/Cargo.toml
QUICK=()
OUT=()
for arg in "$@"; do
    [ "$arg" = --quick ] && QUICK=(--quick)
done
args=("$@")
for i in "${!args[@]}"; do
    [ "${args[$i]}" = --out ] && OUT=(--out "${args[$((i + 1))]}")
done
python3 scripts/bench.py "$@"
python3 scripts/scale.py "${QUICK[@]}" "${OUT[@]}"

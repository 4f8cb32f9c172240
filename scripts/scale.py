#!/usr/bin/env python3
"""How cost grows with scale: runs target/release/jwt-cache-scale once per point (a fresh
process each, so resident-memory deltas are that point's alone) and draws the curves.
Run it through ./scripts/bench.sh, which builds the binaries first:

    python3 scripts/scale.py [--quick] [--out DIR]

Points (full / --quick):
  in-process cache, cached tokens:     1k, 10k, 100k, 1M  /  1k, 10k
  tiered view, live revocations:       1k, 100k, 1M       /  1k
  Redis, shared entries:               100k, 1M           /  1k

Starts its own redis-server on a free loopback port (no persistence) and stops it. Writes
scale.json, scale.md and scale-*.svg into DIR (default target/bench). Exits 1 when a point
fails (a check inside jwt-cache-scale: every lookup after the fill a hit, every revocation
loaded, every probe propagated).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (  # noqa: E402
    DEFAULT_OUT, REPO, Failure, Supervisor, line_chart, machine, progress, start_redis,
)

SCALE = REPO / "target/release/jwt-cache-scale"
FULL = {"memory": [1_000, 10_000, 100_000, 1_000_000], "view": [1_000, 100_000, 1_000_000],
        "redis": [100_000, 1_000_000]}
QUICK = {"memory": [1_000, 10_000], "view": [1_000], "redis": [1_000]}
# The design note's estimate: "1 M users ≈ 500 MB" (~500 bytes an entry).
NOTE_BYTES_PER_ENTRY = 500


def point(kind: str, n: int, redis_url: str | None) -> dict:
    argv = [str(SCALE), kind, str(n)] + ([redis_url] if redis_url else [])
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    progress(f"scale: {kind} {n:,}: {json.dumps(result)} ({time.monotonic() - started:.0f} s)")
    return result


def markdown(meta: dict, results: dict) -> str:
    def rows(kind: str, columns: list[tuple[str, str, str]]) -> list[str]:
        head = "| " + " | ".join(title for title, _, _ in columns) + " |"
        rule = "|" + "---|" * len(columns)
        body = ["| " + " | ".join(fmt.format(r[key]) for _, key, fmt in columns) + " |"
                for r in results[kind]]
        return [head, rule, *body]

    lines = [f"Measured {meta['date']} on {meta['cpu']} ({meta['nproc']} cores), commit"
             f" {meta['commit']}: `{meta['command']}`.", "",
             "In-process cache (`MemoryCache` + hash memo, HS256 tokens of"
             f" {results['memory'][0]['token_bytes']} bytes):", ""]
    lines += rows("memory", [("cached tokens", "n", "{:,}"),
                             ("resident bytes per entry", "bytes_per_entry", "{:,.0f}"),
                             ("hit, mean ns", "hit_mean_ns", "{:,.0f}"),
                             ("hit, p50 ns", "hit_p50_ns", "{:,}"),
                             ("hit, p99 ns", "hit_p99_ns", "{:,}"),
                             ("fill, µs per token", "fill_per_token_us", "{:.1f}")])
    lines += ["", "Tiered cache, replicated revocation view:", ""]
    lines += rows("view", [("live revocations", "n", "{:,}"),
                           ("new instance loads them, ms", "load_ms", "{:,.0f}"),
                           ("resident bytes per revocation", "bytes_per_revocation", "{:,.0f}"),
                           ("propagation p50 ms", "propagation_p50_ms", "{:.2f}"),
                           ("propagation p99 ms", "propagation_p99_ms", "{:.2f}"),
                           ("revocations written per s", "revocations_per_s", "{:,.0f}"),
                           ("writer's view reloads meanwhile", "writer_reloads", "{:,}"),
                           ("writer's view catch-ups meanwhile", "writer_catch_ups", "{:,}")])
    lines += ["", "Redis, shared entries (an auth service's validations of the design note's"
              " claims, integrity key on):", ""]
    lines += rows("redis", [("entries", "n", "{:,}"),
                            ("used_memory per entry", "used_memory_per_entry", "{:,.0f}"),
                            ("MEMORY USAGE of one", "memory_usage_one", "{}"),
                            ("key bytes", "key_bytes", "{}"),
                            ("value bytes", "value_bytes", "{}"),
                            ("used_memory MB", "used_memory_mb", "{:,.1f}")])
    return "\n".join(lines) + "\n"


def plots(out: Path, results: dict) -> list[str]:
    def series(kind: str, field: str, scale: float = 1.0) -> list:
        return [r[field] * scale for r in results[kind]]

    written = []

    def chart(name: str, title: str, kind: str, lines: dict, x_label: str, y_label: str,
              log_y: bool = False) -> None:
        xs = [r["n"] for r in results[kind]]
        line_chart(out / name, title, xs, lines, x_label, y_label, log_x=True, log_y=log_y)
        written.append(name)

    chart("scale-hit.svg", "In-process hit latency by cached tokens", "memory",
          {"mean": series("memory", "hit_mean_ns"), "p50": series("memory", "hit_p50_ns"),
           "p99": series("memory", "hit_p99_ns")}, "cached tokens", "ns per hit")
    chart("scale-memory.svg", "Memory per cached token", "memory",
          {"in process, resident": series("memory", "bytes_per_entry"),
           "design note's estimate": [NOTE_BYTES_PER_ENTRY] * len(results["memory"])},
          "cached tokens", "bytes per entry")
    chart("scale-view.svg", "Tiered view: loading and propagation by live revocations", "view",
          {"new instance loads, ms": series("view", "load_ms"),
           "propagation p99, ms": series("view", "propagation_p99_ms"),
           "propagation p50, ms": series("view", "propagation_p50_ms")},
          "live revocations", "ms", log_y=True)
    chart("scale-view-memory.svg", "Tiered view: memory per revocation", "view",
          {"resident bytes per revocation": series("view", "bytes_per_revocation")},
          "live revocations", "bytes")
    chart("scale-redis.svg", "Redis memory by shared entries", "redis",
          {"used_memory per entry": series("redis", "used_memory_per_entry"),
           "design note's estimate": [NOTE_BYTES_PER_ENTRY] * len(results["redis"])},
          "entries", "bytes per entry")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small points only (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    points = QUICK if args.quick else FULL
    results: dict = {kind: [] for kind in points}
    with Supervisor() as sup:
        try:
            port = start_redis(sup, args.out / "redis.log")
            url = f"redis://127.0.0.1:{port}"
            for kind, ns in points.items():
                for n in ns:
                    results[kind].append(point(kind, n, None if kind == "memory" else url))
        except (Failure, RuntimeError, subprocess.TimeoutExpired) as err:
            progress(f"scale: {err}")
            return 1
    command = "./scripts/bench.sh --quick" if args.quick else "./scripts/bench.sh"
    meta = {**machine(), "command": command}
    (args.out / "scale.json").write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")
    (args.out / "scale.md").write_text(markdown(meta, results))
    written = plots(args.out, results)
    progress(f"scale: wrote scale.json, scale.md, {', '.join(written)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

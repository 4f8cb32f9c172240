#!/usr/bin/env python3
"""The HTTP benchmark: jwt-cache's tower layer against no authentication and against
jwt-authorizer, driven by wrk. Run it through ./scripts/bench.sh, which builds the
binaries first:

    python3 scripts/bench.py [--quick] [--out DIR] [--modes a,b] [--pops x,y]
    python3 scripts/bench.py --plot-scale FILE.json

Every run starts a fresh server (one Tokio worker thread) on a free loopback port, checks
that it authenticates correctly, warms it with the hot tokens (except for the `new`
population), then drives `GET /me` with wrk (one thread, 32 connections, scripts/bench.lua)
and charges the server process's CPU time to the requests it answered. Modes rotate and
populations reverse from round to round, so drift on a shared machine favours none.

Writes results.json, results.md, throughput.svg, latency.svg and cpu.svg into DIR
(default target/bench), with the servers' and wrk's output of their last run in DIR/logs.
Exits 1 if any check failed: a wrong status before a run, a non-200 response or a socket
error during one, a process that would not start. Speed never fails the run.

--plot-scale reads a JSON list of line charts (scale curves measured elsewhere), each
    {"title": ..., "x_label": ..., "y_label": ..., "log_x": true, "log_y": false,
     "series": {"name": [[x, y], ...], ...}, "out": "path.svg"}
and writes one SVG per entry (log_x defaults to true, log_y to false).

Standard library only (Debian's python3).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
LUA_SCRIPT = REPO / "scripts/bench.lua"
DEFAULT_OUT = REPO / "target/bench"
LOAD_TARGET = REPO / "target/release/jwt-cache-load-target"
PEER = REPO / "bench/peer/target/release/jwt-cache-bench-peer"
MINT = REPO / "target/release/jwt-cache-mint"
STUB = REPO / "target/release/jwt-cache-introspect-stub"
KEYS = REPO / "crates/jwt-cache/benches/keys"

# The policy every server enforces and every minted token satisfies.
ISSUER = "https://id.example"
AUDIENCE = "content"
JWT_ENV = {
    "JWT_PUBLIC_KEY_FILE": str(KEYS / "rsa_public.pem"),
    "JWT_ALG": "RS256",
    "JWT_ISSUER": ISSUER,
    "JWT_AUDIENCE": AUDIENCE,
}
INTROSPECTION_ENV = {
    "INTROSPECTION_CLIENT_ID": "bench",
    "INTROSPECTION_CLIENT_SECRET": "bench-secret",
}
INTROSPECTION_PATH = "/introspect"  # the stub's RFC 7662 endpoint
STUB_DELAY_MS = 5

# Modes, in report order: what answers GET /me.
MODES = {
    "plain": "no authentication (the ceiling)",
    "direct": "jwt-cache validating every request, nothing cached",
    "memory": "jwt-cache with its in-process cache",
    "tiered": "jwt-cache with an in-process L1 and Redis as L2",
    "remote": f"jwt-cache asking an RFC 7662 introspection stub ({STUB_DELAY_MS} ms)"
    " on every request, nothing cached",
    "remote-cached": "jwt-cache asking the same stub, with its in-process cache",
    "peer": "jwt-authorizer 0.15 on axum, validating every request",
}
REMOTE_MODES = {"remote", "remote-cached"}
MODE_LABELS = {"peer": "peer (jwt-authorizer)"}  # names on the plots

POPULATIONS = {
    "one": "one hot token on every request",
    "hot1k": "round-robin over 1,000 hot tokens",
    "mix": "80% from the 1,000 hot tokens, 20% never-seen tokens",
    "new": "a never-seen token on every request",
}
NEW_TOKEN_POPS = {"mix", "new"}  # the populations that read tokens-new.txt
WARM_POP = "hot1k"  # what warms the server before `one`, `hot1k` and `mix`: the hot set only

HOT_TOKENS = 1000
TOKEN_MAX_AGE_S = 12 * 3600  # minted tokens live 24 h
WRK_ARGS = ("-t1", "-c32")
WRK_GRACE_S = 30  # beyond -d, before a silent wrk counts as hung
START_TIMEOUT_S = 15


@dataclass(frozen=True)
class Settings:
    rounds: int
    run_s: int  # wrk -d takes whole seconds
    warm_s: float
    # tokens-new.txt: ~45k per second of run is beyond what one worker validates, so a
    # `new` run rarely runs out (and when it does, it is measured until then).
    new_tokens: int


FULL = Settings(rounds=2, run_s=5, warm_s=1.0, new_tokens=45_000 * 5)
QUICK = Settings(rounds=1, run_s=1, warm_s=0.5, new_tokens=30_000)


@dataclass
class Run:
    """One measured run."""

    mode: str
    population: str
    round: int
    requests: int
    duration_s: float
    rps: float
    p50_us: int
    p95_us: int
    p99_us: int
    cpu_us_per_req: float
    non2xx: int
    socket_errors: int
    new_used: int
    ran_out: bool  # tokens-new.txt exhausted: measured over duration_s, less than the run

    @property
    def valid(self) -> bool:
        """Only 200s and no socket error: a run that counts (the others fail the bench)."""
        return self.non2xx == 0 and self.socket_errors == 0


# Medians per (mode, population) over the rounds' valid runs.
MEDIAN_FIELDS = ("rps", "p50_us", "p95_us", "p99_us", "cpu_us_per_req", "new_used")


class Failure(Exception):
    """A check that failed or a process that misbehaved; reported, and the exit code is 1."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Processes ------------------------------------------------------------------------


class Supervisor:
    """Starts child processes, each in its own process group, and stops whatever still
    runs when the block exits: normally, on an exception, on Ctrl-C or on SIGTERM."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc) -> None:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for proc in reversed(self._children[:]):
                self.stop(proc)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start(self, argv: list, env: dict, log: Path) -> subprocess.Popen:
        """Starts argv in the repository root, stdout and stderr to `log` (truncated)."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(arg) for arg in argv],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        """Terminates proc's process group if proc still runs, and forgets proc."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._children.remove(proc)


def clean_env(**extra: str) -> dict:
    """The caller's environment without the variables our binaries and bench.lua read
    (a REDIS_URL or JWT_ALG left in the shell changes nothing), plus `extra`."""
    ours = ("JWT_", "INTROSPECTION_", "REDIS_", "LOAD_", "TOKIO_", "RUST_LOG", "BENCH_")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(ours) and k not in ("ADDR", "DELAY_MS")}
    env.update(extra)
    return env


def redis_cli(port: int, *command: str) -> str:
    """redis-cli's answer to command on the loopback Redis at port ('' if it did not answer
    in time)."""
    try:
        done = subprocess.run(["redis-cli", "-p", str(port), *command],
                              capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip()


def start_redis(sup: Supervisor, log: Path) -> int:
    """Starts a throwaway redis-server (no persistence) on a free loopback port, under sup;
    returns the port once it answers PING."""
    port = free_port()
    argv = ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no"]
    proc = sup.start(argv, clean_env(), log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while redis_cli(port, "PING") != "PONG":
        if proc.poll() is not None or time.monotonic() > deadline:
            raise Failure(f"redis-server did not start{log_tail(log)}")
        time.sleep(0.05)
    return port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def http_status(url: str, token: str | None = None) -> int:
    """Status of GET url, with `Authorization: Bearer token` if given."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_healthy(base: str, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise Failure(f"{what} exited with status {proc.returncode} at start{log_tail(log)}")
        try:
            if http_status(base + "/healthz") == 200:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise Failure(f"{what}: no 200 from /healthz within {START_TIMEOUT_S} s{log_tail(log)}")
        time.sleep(0.05)


def log_tail(log: Path, lines: int = 8) -> str:
    """The end of a log, indented, for a failure message ('' when empty)."""
    text = log.read_text(errors="replace").strip() if log.exists() else ""
    return "".join(f"\n    | {line}" for line in text.splitlines()[-lines:])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields 14 (utime) and 15 (stime); the command name, field 2, may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def count_lines(path: Path) -> int:
    """Newlines in a file: the tokens of a token file, one per line."""
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def tamper(token: str) -> str:
    """The token with one character of its signature changed, mid-signature (the last
    character of a base64url segment may carry only padding bits)."""
    head, sig = token.rsplit(".", 1)
    i = len(sig) // 2
    return f"{head}.{sig[:i]}{'B' if sig[i] == 'A' else 'A'}{sig[i + 1 :]}"


# --- The benchmark --------------------------------------------------------------------


class Bench:
    """The shared set-up (tokens, Redis, the introspection stub), the runs, and what they
    measured and found wrong."""

    def __init__(self, sup: Supervisor, settings: Settings, out: Path, modes: list,
                 pops: list) -> None:
        self.sup = sup
        self.settings = settings
        self.modes = modes
        self.pops = pops
        self.logs = out / "logs"
        self.hot_file = out / "tokens-hot.txt"
        self.new_file = out / "tokens-new.txt"
        self.valid_token = ""  # the first hot token, for the checks before each run
        self.new_available = 0
        self.redis_port: int | None = None
        self.introspection_url: str | None = None
        self.runs: list[Run] = []
        self.failures: list[str] = []

    # Set-up shared by all runs.

    def prepare(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ensure_tokens(self.hot_file, "hot", HOT_TOKENS)
        self.valid_token = self.hot_file.read_text().split("\n", 1)[0].strip()
        if NEW_TOKEN_POPS.intersection(self.pops):
            self.new_available = self.ensure_tokens(self.new_file, "new", self.settings.new_tokens)
        if "tiered" in self.modes:
            self.redis_port = start_redis(self.sup, self.logs / "redis.log")
        if REMOTE_MODES.intersection(self.modes):
            self.start_stub()

    def ensure_tokens(self, path: Path, prefix: str, count: int) -> int:
        """Mints `count` tokens into `path` unless it already holds as many, minted less
        than TOKEN_MAX_AGE_S ago; returns how many it holds."""
        if path.exists() and time.time() - path.stat().st_mtime < TOKEN_MAX_AGE_S:
            held = count_lines(path)
            if held >= count:
                return held
        progress(f"minting {count:,} tokens into {path} ...")
        began = time.monotonic()
        partial = path.with_name(path.name + ".partial")  # no short file if interrupted
        argv = [MINT, "--key", KEYS / "rsa_private.pem", "--iss", ISSUER, "--aud", AUDIENCE,
                "--count", count, "--prefix", prefix, "--out", partial]
        log = self.logs / "mint.log"
        proc = self.sup.start(argv, clean_env(), log)
        status = proc.wait()
        self.sup.stop(proc)
        held = count_lines(partial) if status == 0 else 0
        if held < count:
            raise Failure(f"jwt-cache-mint (status {status}) wrote {held:,} of {count:,} tokens"
                          + log_tail(log))
        partial.replace(path)
        progress(f"minted {held:,} tokens in {time.monotonic() - began:.0f} s")
        return held

    def start_stub(self) -> None:
        port = free_port()
        log = self.logs / "introspect-stub.log"
        env = clean_env(ADDR=f"127.0.0.1:{port}", DELAY_MS=str(STUB_DELAY_MS), RUST_LOG="warn",
                        JWT_PUBLIC_KEY_FILE=JWT_ENV["JWT_PUBLIC_KEY_FILE"])
        proc = self.sup.start([STUB], env, log)
        wait_healthy(f"http://127.0.0.1:{port}", proc, "jwt-cache-introspect-stub", log)
        self.introspection_url = f"http://127.0.0.1:{port}{INTROSPECTION_PATH}"

    # One run.

    def server(self, mode: str, port: int) -> tuple[list, dict]:
        """argv and environment of the server for `mode`."""
        env = clean_env(ADDR=f"127.0.0.1:{port}", TOKIO_WORKER_THREADS="1", RUST_LOG="warn",
                        **JWT_ENV)
        if mode == "peer":
            return [PEER], env
        env["LOAD_MODE"] = mode
        if mode == "tiered":
            env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}"
        if mode in REMOTE_MODES:
            env.update(INTROSPECTION_ENV, INTROSPECTION_URL=self.introspection_url)
        return [LOAD_TARGET], env

    def check_auth(self, mode: str, base: str) -> None:
        """GET /me before the run: 200 for a valid token, 401 for a forged signature or
        none; `plain` answers 200 without a token."""
        if mode == "plain":
            cases = [("no token", None, 200)]
        else:
            cases = [
                ("valid token", self.valid_token, 200),
                ("token with a changed signature", tamper(self.valid_token), 401),
                ("no token", None, 401),
            ]
        wrong = []
        for what, token, expected in cases:
            try:
                status = http_status(base + "/me", token)
            except OSError as err:
                raise Failure(f"GET /me with {what}: {err}") from None
            if status != expected:
                wrong.append(f"{what} -> {status}, expected {expected}")
        if wrong:
            raise Failure("wrong status before the run: " + "; ".join(wrong))

    def wrk(self, port: int, pop: str, seconds: float) -> dict:
        """Drives GET /me with population `pop` for `seconds` and returns bench.lua's
        BENCH line as a dict. wrk counts whole seconds: a shorter run is cut with SIGINT,
        on which wrk stops early and still reports."""
        whole = math.ceil(seconds)
        env = clean_env(BENCH_POP=pop, BENCH_HOT=str(self.hot_file), BENCH_NEW=str(self.new_file))
        log = self.logs / "wrk.log"
        argv = ["wrk", *WRK_ARGS, f"-d{whole}s", "--latency", "-s", LUA_SCRIPT,
                f"http://127.0.0.1:{port}/me"]
        proc = self.sup.start(argv, env, log)
        try:
            if seconds < whole:
                try:
                    proc.wait(timeout=seconds)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGINT)
            proc.wait(timeout=whole + WRK_GRACE_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"wrk still running {WRK_GRACE_S} s after its end" + log_tail(log)) from None
        finally:
            self.sup.stop(proc)
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("BENCH "):
                pairs = (field.split("=", 1) for field in line.split()[1:])
                return {key: int(value) for key, value in pairs}
        raise Failure(f"wrk (status {proc.returncode}) printed no BENCH line{log_tail(log)}")

    def run(self, mode: str, pop: str, round_no: int) -> Run:
        """One run on a fresh server; returns its record (non-2xx responses and socket
        errors are in it) or raises Failure when nothing could be measured."""
        if mode == "tiered" and redis_cli(self.redis_port, "FLUSHALL") != "OK":
            raise Failure("redis-cli FLUSHALL failed")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv, env = self.server(mode, port)
        log = self.logs / f"{mode}.log"
        proc = self.sup.start(argv, env, log)
        try:
            wait_healthy(base, proc, f"{mode} server", log)
            self.check_auth(mode, base)
            if pop != "new":  # never warm with new tokens
                warm = self.wrk(port, WARM_POP, self.settings.warm_s)
                if warm["non2xx"] or warm["socket_errors"]:
                    raise Failure(f"warm-up: {warm['non2xx']} non-200 responses,"
                                  f" {warm['socket_errors']} socket errors")
            cpu_before = cpu_seconds(proc.pid)
            got = self.wrk(port, pop, self.settings.run_s)
            if proc.poll() is not None:
                raise Failure(f"{mode} server exited with status {proc.returncode} during the run"
                              + log_tail(log))
            cpu = cpu_seconds(proc.pid) - cpu_before
        finally:
            self.sup.stop(proc)
        requests = got["requests"]
        if requests == 0:
            raise Failure("no request completed")
        duration_s = got["duration_us"] / 1e6
        return Run(
            mode=mode,
            population=pop,
            round=round_no,
            requests=requests,
            duration_s=round(duration_s, 3),
            rps=round(requests / duration_s, 1),
            p50_us=got["p50_us"],
            p95_us=got["p95_us"],
            p99_us=got["p99_us"],
            cpu_us_per_req=round(cpu / requests * 1e6, 3),
            non2xx=got["non2xx"],
            socket_errors=got["socket_errors"],
            new_used=got["new_used"],
            ran_out=bool(got["ran_out"]),
        )

    def rounds(self) -> None:
        """All runs: the mode list rotated by one per round, populations reversed on
        odd rounds."""
        total = self.settings.rounds
        for r in range(total):
            modes = self.modes[r % len(self.modes) :] + self.modes[: r % len(self.modes)]
            pops = self.pops[::-1] if r % 2 else self.pops
            for mode in modes:
                for pop in pops:
                    tag = f"[round {r + 1}/{total}] {mode}/{pop}"
                    try:
                        run = self.run(mode, pop, r + 1)
                    except Failure as err:
                        self.failures.append(f"{tag}: {err}")
                        progress(f"{tag}: FAILED: {err}")
                        continue
                    self.runs.append(run)
                    progress(f"{tag}: {describe(run)}")
                    if not run.valid:
                        self.failures.append(f"{tag}: {run.non2xx} non-200 responses,"
                                             f" {run.socket_errors} socket errors")


def describe(run: Run) -> str:
    """A run on one line: '23,456 req/s p99 2.1 ms cpu 31.2 µs/req'."""
    line = f"{run.rps:,.0f} req/s p99 {run.p99_us / 1000:.3g} ms cpu {run.cpu_us_per_req:.1f} µs/req"
    if run.population in NEW_TOKEN_POPS:
        line += f", {run.new_used:,} new tokens"
    if run.ran_out:
        line += f" (ran out after {run.duration_s:.1f} s)"
    if not run.valid:
        line += f" -- {run.non2xx} non-200, {run.socket_errors} socket errors"
    return line


# --- Aggregation and reports ----------------------------------------------------------


def summarize(runs: list[Run]) -> list[dict]:
    """Medians over rounds per (mode, population), in report order, of the valid runs."""
    grouped: dict[tuple, list[Run]] = {}
    for run in filter(lambda run: run.valid, runs):
        grouped.setdefault((run.mode, run.population), []).append(run)
    medians = []
    for mode in MODES:
        for pop in POPULATIONS:
            group = grouped.get((mode, pop))
            if group:
                row = {"mode": mode, "population": pop, "rounds": len(group)}
                for field in MEDIAN_FIELDS:
                    row[field] = statistics.median(getattr(run, field) for run in group)
                medians.append(row)
    return medians


def machine() -> dict:
    """Date, CPU and commit the results belong to."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "commit": commit,
    }


def ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "–"


def markdown(meta: dict, runs: list[Run], medians: list[dict]) -> str:
    settings = meta["settings"]
    lines = [
        "# HTTP benchmark",
        "",
        "`GET /me` on one Tokio worker thread, driven by `wrk -t1 -c32` (scripts/bench.py,"
        " scripts/bench.lua) on loopback. Every run starts a fresh server (Redis flushed) and,"
        " except for `new`, warms it with the hot tokens first. Medians over rounds;"
        " CPU is the server process's user + system time per request.",
        "",
        *(f"- `{mode}`: {what}" for mode, what in MODES.items() if mode in meta["modes"]),
        "",
        f"Machine: {meta['cpu']}, nproc {meta['nproc']}.",
    ]
    footer = (
        f"`{meta['command']}` · {meta['date']} · nproc {meta['nproc']} · commit {meta['commit']}"
        f" · {settings['rounds']} round(s) of {settings['run_s']} s"
    )
    for pop in POPULATIONS:
        rows = {row["mode"]: row for row in medians if row["population"] == pop}
        if not rows:
            continue
        peer, plain = rows.get("peer"), rows.get("plain")
        lines += [
            "",
            f"## `{pop}`: {POPULATIONS[pop]}",
            "",
            "| mode | req/s | × peer | × plain | p50 µs | p95 µs | p99 µs"
            " | CPU µs/req | × peer CPU |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for mode, row in rows.items():
            cells = [
                f"`{mode}`",
                f"{row['rps']:,.0f}",
                ratio(row["rps"], peer and peer["rps"]),
                ratio(row["rps"], plain and plain["rps"]),
                f"{row['p50_us']:,.0f}",
                f"{row['p95_us']:,.0f}",
                f"{row['p99_us']:,.0f}",
                f"{row['cpu_us_per_req']:.1f}",
                ratio(row["cpu_us_per_req"], peer and peer["cpu_us_per_req"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", footer]
        if pop in NEW_TOKEN_POPS:
            pop_runs = [run for run in runs if run.population == pop]
            ran_out = sum(run.ran_out for run in pop_runs)
            lines += [
                "",
                f"New tokens per run: {min(r.new_used for r in pop_runs):,} to"
                f" {max(r.new_used for r in pop_runs):,} of the {meta['new_tokens_available']:,}"
                f" in tokens-new.txt; {ran_out} of {len(pop_runs)} runs ran out of them"
                " (measured until then).",
            ]
    return "\n".join(lines) + "\n"


def write_plots(out: Path, medians: list[dict]) -> None:
    pops = [p for p in POPULATIONS if any(row["population"] == p for row in medians)]
    modes = [m for m in MODES if any(row["mode"] == m for row in medians)]
    labels = [MODE_LABELS.get(m, m) for m in modes]

    def values(field: str) -> dict:
        table: dict = {label: {} for label in labels}
        for row in medians:
            table[MODE_LABELS.get(row["mode"], row["mode"])][row["population"]] = row[field]
        return table

    x_label = "token population"
    bar_chart(out / "throughput.svg", "Throughput (median over rounds)", pops, labels,
              values("rps"), "requests per second", x_label=x_label)
    bar_chart(out / "latency.svg", "Latency: p99 (bars) and p50 (markers)", pops, labels,
              values("p99_us"), "latency (µs, log scale)", x_label=x_label,
              markers=values("p50_us"), marker_label="p50", log_y=True)
    bar_chart(out / "cpu.svg", "Server CPU time per request (median over rounds)", pops, labels,
              values("cpu_us_per_req"), "CPU µs per request", x_label=x_label)


# --- SVG ------------------------------------------------------------------------------

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
           "#b07aa1", "#9c755f", "#edc948", "#ff9da7", "#bab0ac")
WIDTH, HEIGHT = 960, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 730, 56, 404  # the plot area; the legend goes right of it


class _Svg:
    """Elements of one SVG document, on a white background."""

    def __init__(self) -> None:
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
            f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" fill="#222">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        ]

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, content: str, anchor: str = "middle", size: int = 12,
             bold: bool = False, vertical: bool = False) -> None:
        attrs = f'x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
        if bold:
            attrs += ' font-weight="bold"'
        if vertical:
            attrs += f' transform="rotate(-90 {x:.1f} {y:.1f})"'
        self.add(f"<text {attrs}>{escape(content)}</text>")

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1) -> None:
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
                 f' stroke="{color}" stroke-width="{width}"/>')

    def save(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(self.parts)
        path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n</svg>\n', encoding="utf-8")


class _Scale:
    """Maps data values onto pixels along one axis, linearly or on log10; holds its ticks."""

    def __init__(self, lo: float, hi: float, px_lo: float, px_hi: float, log: bool) -> None:
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.px_lo, self.px_hi = px_lo, px_hi
        self.ticks = _log_ticks(lo, hi) if log else _linear_ticks(lo, hi)

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.px_lo + (v - self.lo) / (self.hi - self.lo) * (self.px_hi - self.px_lo)

    def shows(self, value: float | None) -> bool:
        """Whether value can be drawn: present, and positive on a log axis."""
        return value is not None and (value > 0 or not self.log)


def _nice_step(span: float) -> float:
    """A 1, 2 or 5 × 10^k step giving about five ticks over span."""
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _linear_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step(hi - lo)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi], with 2× and 5× between them over less than three decades."""
    multiples = (1, 2, 5) if hi / lo < 1000 else (1,)
    ticks = []
    for exponent in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in multiples:
            tick = m * 10.0**exponent
            if lo * 0.999 <= tick <= hi * 1.001:
                ticks.append(tick)
    return ticks


def _domain(values: list[float], log: bool, from_zero: bool) -> tuple[float, float]:
    """The axis range for values: whole decades on a log axis; on a linear one, out to
    whole steps, from zero if from_zero (bars) or else from the smallest value."""
    if log:
        values = [v for v in values if v > 0]
    if not values:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(values), max(values)
    if log:
        lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        return lo, max(hi, lo * 10)
    if from_zero:
        lo = min(lo, 0.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def _compact(value: float) -> str:
    """A tick label: 0.5, 20, 1.5k, 2M."""
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _exact(value: float) -> str:
    """A value in a tooltip: 23,456 or 2.15."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _frame(svg: _Svg, title: str, x_label: str | None, y_label: str, y: _Scale) -> None:
    """Title, horizontal grid lines at the y ticks with their labels, axes, axis labels."""
    svg.text(WIDTH / 2, 30, title, size=16, bold=True)
    for tick in y.ticks:
        svg.line(LEFT, y(tick), RIGHT, y(tick), "#e3e3e3")
        svg.text(LEFT - 8, y(tick) + 4, _compact(tick), anchor="end")
    svg.line(LEFT, TOP, LEFT, BOTTOM, "#444")
    svg.line(LEFT, BOTTOM, RIGHT, BOTTOM, "#444")
    svg.text(20, (TOP + BOTTOM) / 2, y_label, size=13, vertical=True)
    if x_label:
        svg.text((LEFT + RIGHT) / 2, HEIGHT - 22, x_label, size=13)


def _legend(svg: _Svg, entries: list[tuple[str, Callable[[float, float], str]]]) -> None:
    """One line per (label, swatch) right of the plot; swatch(x, y) draws the symbol
    centred on the line's left end."""
    x = RIGHT + 28
    for i, (label, swatch) in enumerate(entries):
        y = TOP + 10 + i * 22
        svg.add(swatch(x, y))
        svg.text(x + 16, y + 4, label, anchor="start")


def _square(color: str) -> Callable[[float, float], str]:
    return lambda x, y: f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="{color}"/>'


def _dot_on_line(color: str) -> Callable[[float, float], str]:
    return lambda x, y: (
        f'<line x1="{x - 8:.1f}" y1="{y:.1f}" x2="{x + 8:.1f}" y2="{y:.1f}" stroke="{color}"'
        f' stroke-width="3"/><circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>'
    )


def _diamond(cx: float, cy: float, tooltip: str = "") -> str:
    title = f"<title>{escape(tooltip)}</title>" if tooltip else ""
    return (f'<path d="M{cx:.1f},{cy - 5:.1f} L{cx + 4:.1f},{cy:.1f} L{cx:.1f},{cy + 5:.1f}'
            f' L{cx - 4:.1f},{cy:.1f} Z" fill="#111" stroke="white" stroke-width="0.8">{title}</path>')


def bar_chart(path, title, groups, series, values, y_label, *, x_label=None, markers=None,
              marker_label="marker", log_y=False) -> None:
    """Writes a grouped bar chart to path: along x one group per entry of groups, in each
    group one bar per entry of series (its colour in the legend). values[s][g] is the
    height of series s's bar in group g (missing: no bar). markers[s][g], if given, puts
    a diamond on that bar at a second value (say p50 on p99 bars), marker_label in the
    legend. Hovering a bar or a diamond shows its value."""
    markers = markers or {}
    plotted = [v for table in (values, markers) for row in table.values() for v in row.values()]
    y = _Scale(*_domain(plotted, log_y, from_zero=True), BOTTOM, TOP, log_y)
    svg = _Svg()
    _frame(svg, title, x_label, y_label, y)
    group_w = (RIGHT - LEFT) / len(groups)
    bar_w = group_w * 0.8 / len(series)
    for gi, group in enumerate(groups):
        x0 = LEFT + gi * group_w + group_w * 0.1
        for si, name in enumerate(series):
            x = x0 + si * bar_w
            value = values.get(name, {}).get(group)
            if y.shows(value):
                tooltip = escape(f"{name}, {group}: {_exact(value)}")
                svg.add(f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{max(bar_w - 1, 1):.1f}"'
                        f' height="{BOTTOM - y(value):.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                        f"<title>{tooltip}</title></rect>")
            mark = markers.get(name, {}).get(group)
            if y.shows(mark):
                tooltip = f"{name}, {group}, {marker_label}: {_exact(mark)}"
                svg.add(_diamond(x + bar_w / 2, y(mark), tooltip))
        svg.text(x0 + group_w * 0.4, BOTTOM + 20, str(group), size=13)
    entries = [(name, _square(PALETTE[i % len(PALETTE)])) for i, name in enumerate(series)]
    if markers:
        entries.append((marker_label, _diamond))
    _legend(svg, entries)
    svg.save(path)


def line_chart(path, title, xs, series, x_label, y_label, log_x=True, log_y=False) -> None:
    """Writes a line chart to path: series[name] holds the ys of one line, aligned with
    xs (None where that series has no point). The x ticks are the xs themselves when there
    are at most 12 of them. Hovering a point shows its values."""
    x = _Scale(*_domain(list(xs), log_x, from_zero=False), LEFT + 12, RIGHT - 12, log_x)
    if len(xs) <= 12:
        x.ticks = [v for v in xs if x.shows(v)]
    ys = [v for row in series.values() for v in row if v is not None]
    y = _Scale(*_domain(ys, log_y, from_zero=min(ys, default=0) >= 0), BOTTOM, TOP, log_y)
    svg = _Svg()
    _frame(svg, title, x_label, y_label, y)
    for tick in x.ticks:
        svg.line(x(tick), BOTTOM, x(tick), BOTTOM + 5, "#444")
        svg.text(x(tick), BOTTOM + 20, _compact(tick))
    entries = []
    for i, (name, row) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = [(px, py) for px, py in zip(xs, row) if x.shows(px) and y.shows(py)]
        coords = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in points)
        svg.add(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for px, py in points:
            tooltip = escape(f"{name}: {_exact(px)}, {_exact(py)}")
            svg.add(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3.5" fill="{color}">'
                    f"<title>{tooltip}</title></circle>")
        entries.append((name, _dot_on_line(color)))
    _legend(svg, entries)
    svg.save(path)


def plot_scale(spec_file: Path) -> None:
    """The --plot-scale entry point: one line chart per object of the JSON list."""
    specs = json.loads(Path(spec_file).read_text())
    for spec in specs:
        points = {name: {x: y for x, y in pairs} for name, pairs in spec["series"].items()}
        xs = sorted({x for by_x in points.values() for x in by_x})
        series = {name: [by_x.get(x) for x in xs] for name, by_x in points.items()}
        log_x, log_y = spec.get("log_x", True), spec.get("log_y", False)
        line_chart(spec["out"], spec["title"], xs, series, spec["x_label"], spec["y_label"],
                   log_x=log_x, log_y=log_y)
        progress(f"wrote {spec['out']}")


# --- Command line ---------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 s runs (what CI runs: correctness, not speed)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: target/bench)")
    parser.add_argument("--modes", help="comma list, a subset of: " + ",".join(MODES))
    parser.add_argument("--pops", help="comma list, a subset of: " + ",".join(POPULATIONS))
    parser.add_argument("--plot-scale", type=Path, metavar="FILE.json",
                        help="only draw the line charts FILE.json describes")
    args = parser.parse_args(argv)
    for option, known in (("modes", MODES), ("pops", POPULATIONS)):
        chosen = getattr(args, option)
        names = known if chosen is None else [n.strip() for n in chosen.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            parser.error(f"--{option}: unknown {', '.join(unknown) or 'empty list'};"
                         f" known: {', '.join(known)}")
        setattr(args, option, [n for n in known if n in names])  # report order
    args.out = args.out.resolve()
    return args


def command_line(args: argparse.Namespace) -> str:
    """How to repeat this run, as the results cite it."""
    words = ["./scripts/bench.sh"]
    if args.quick:
        words.append("--quick")
    if args.modes != list(MODES):
        words += ["--modes", ",".join(args.modes)]
    if args.pops != list(POPULATIONS):
        words += ["--pops", ",".join(args.pops)]
    if args.out != DEFAULT_OUT:
        words += ["--out", str(args.out)]
    return shlex.join(words)


def missing_tools(modes: list[str]) -> list[str]:
    needed = [MINT, "wrk"]
    if set(modes) - {"peer"}:
        needed.append(LOAD_TARGET)
    if "peer" in modes:
        needed.append(PEER)
    if REMOTE_MODES.intersection(modes):
        needed.append(STUB)
    if "tiered" in modes:
        needed += ["redis-server", "redis-cli"]
    return [str(tool) for tool in needed if not shutil.which(tool)]


def interrupt(signum, frame) -> None:
    """SIGTERM (a CI timeout, say) unwinds like Ctrl-C: every child gets stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_scale:
        plot_scale(args.plot_scale)
        return 0
    missing = missing_tools(args.modes)
    if missing:
        progress("bench: missing (./scripts/bench.sh builds the binaries): " + ", ".join(missing))
        return 1
    settings = QUICK if args.quick else FULL
    runs_per_round = len(args.modes) * len(args.pops)
    warmed = sum(pop != "new" for pop in args.pops) * len(args.modes)
    estimate = settings.rounds * (runs_per_round * (settings.run_s + 0.5)  # + start, checks
                                  + warmed * settings.warm_s)
    duration = f"{estimate / 60:.0f} min" if estimate >= 120 else f"{estimate:.0f} s"
    progress(f"bench: {settings.rounds} round(s) of {len(args.modes)} modes"
             f" × {len(args.pops)} populations, {settings.run_s} s per run: about {duration}")
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with Supervisor() as sup:
            bench = Bench(sup, settings, args.out, args.modes, args.pops)
            bench.prepare()
            bench.rounds()
    except KeyboardInterrupt:
        progress("bench: interrupted; every process it started is stopped")
        return 130
    except Failure as err:
        progress(f"bench: {err}")
        return 1

    medians = summarize(bench.runs)
    meta = {
        "command": command_line(args),
        **machine(),
        "modes": args.modes,
        "populations": args.pops,
        "settings": asdict(settings),
        "wrk": " ".join(WRK_ARGS),
        "new_tokens_available": bench.new_available,
    }
    results = {
        "meta": meta,
        "runs": [asdict(run) for run in bench.runs],
        "medians": medians,
        "failures": bench.failures,
    }
    results_json = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    (args.out / "results.json").write_text(results_json, encoding="utf-8")
    (args.out / "results.md").write_text(markdown(meta, bench.runs, medians), encoding="utf-8")
    if medians:
        write_plots(args.out, medians)
    progress(f"bench: results in {args.out}")
    if bench.failures:
        progress(f"bench: {len(bench.failures)} check(s) failed:")
        for failure in bench.failures:
            progress(f"  {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

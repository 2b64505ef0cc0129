"""Benchmark the Lean proof-state server and print the figures (no assertions; targets are in the README).

    python scripts/bench_lean.py [--problems 30] [--seconds 20] [--requests 10000] [--skip-daemon] [--two-servers]

Measures: cold start to the first answer and RSS per server; how long the warm spare takes to start in the
background; warm per-tactic latency (median/p90) for decide, simp, omega, grind and exact? on goals of the
valid split; tactic requests per second per server (and with 2 servers, `--two-servers`: a third process);
RSS growth over N requests; restart to the first answer when the server is killed and the spare swaps in;
and the first answer of a second command through the daemon. At most two Lean processes run at once unless
`--two-servers` (the server and its spare; the daemon runs after both are closed, without a spare).
Targets (issue 11): cold <= 30 s, restart with the spare <= 5 s, <= 2.6 GB per server, >= 50 calls/s,
no growth over 10,000 requests, daemon first answer <= 2 s.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.io import read_jsonl_rows  # noqa: E402
from prover.config import ConfigError, ConfigParser  # noqa: E402
from prover.lean import LeanServer  # noqa: E402
from prover.lean.server import rss_mb  # noqa: E402

PRELUDE = (ROOT / "data" / "minif2f_core" / "prelude.lean").read_text()
TACTICS = ["decide", "simp", "omega", "grind", "exact?"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def first_answer(srv: LeanServer) -> None:
    res = srv.run_tac(srv.start("theorem t : 1 + 1 = 2"), "decide")
    assert res.complete, res.error


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants: a start-up figure that
    depends less on the machine's load than wall time does."""
    total, todo, seen, tick = 0.0, [pid], set(), os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


def cold_start(name: str, spare: bool = False) -> tuple[LeanServer, float, float]:
    """(server, seconds to its first answer, peak RSS in MB during start-up)."""
    srv = LeanServer(preludes=[PRELUDE], progress=True, name=name, request_timeout=120, spare=spare)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            if srv.pid:
                peak[0] = max(peak[0], rss_mb(srv.pid))

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.monotonic()
    srv.ensure_started()
    first_answer(srv)
    dt = time.monotonic() - t0
    done.set()
    peak[0] = max(peak[0], rss_mb(srv.pid))
    return srv, dt, peak[0]


def latency(srv: LeanServer, rows: list[dict]) -> tuple[dict[str, list[float]], dict[str, int], int]:
    """Per-tactic wall time on each problem's root goal; also how many closed it and how many timed out."""
    out: dict[str, list[float]] = {t: [] for t in TACTICS}
    closed = {t: 0 for t in TACTICS}
    timeouts = 0
    for row in rows:
        for tac in TACTICS:
            root = srv.start(row["core_statement"])
            t0 = time.perf_counter()
            res = srv.run_tac(root, tac, heartbeats=10000, timeout=30)
            ms = (time.perf_counter() - t0) * 1000
            if res.lost == "LeanTimeout":
                timeouts += 1  # the server was restarted; leave the restart out of the latency figures
                continue
            out[tac].append(ms)
            closed[tac] += res.complete
        srv.clear()
    return out, closed, timeouts


def throughput(servers: list[LeanServer], rows: list[dict], seconds: float) -> float:
    """Tactic requests per second, all servers busy at once (cheap tactics on real goals)."""
    counts = [0] * len(servers)
    stop = time.monotonic() + seconds

    def work(i: int, srv: LeanServer) -> None:
        k = 0
        while time.monotonic() < stop:
            row = rows[k % len(rows)]
            root = srv.start(row["core_statement"])
            for tac in ("intro", "simp only []", "constructor", "rfl", "decide", "omega"):
                srv.run_tac(root, tac, heartbeats=5000)
                counts[i] += 1
            counts[i] += 1
            k += 1
            if k % 50 == 0:
                srv.clear()
        srv.clear()

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(servers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def memory_growth(srv: LeanServer, n: int) -> tuple[float, float]:
    srv.clear()
    before = rss_mb(srv.pid)
    root = srv.start("theorem m (a b : Nat) (h : a ≤ b) : a < b + 1")
    for i in range(n):
        srv.run_tac(root, "omega" if i % 2 else "intro")
        if i % 100 == 99:  # a search clears its states after each theorem
            srv.clear()
            root = srv.start("theorem m (a b : Nat) (h : a ≤ b) : a < b + 1")
    return before, rss_mb(srv.pid)


def restart_with_spare(srv: LeanServer) -> tuple[float, float]:
    """Kill the server's process; (seconds until the next request is answered, RSS of the new process)."""
    assert srv.spare is not None and srv.spare.ready
    os.kill(srv.pid, signal.SIGKILL)
    t0 = time.monotonic()
    while srv.alive:  # (a request sent before the death is noticed would be lost, as any in-flight request)
        time.sleep(0.01)
    first_answer(srv)
    return time.monotonic() - t0, rss_mb(srv.pid)


def daemon_first_answer() -> tuple[float, float]:
    py = sys.executable
    t0 = time.monotonic()
    subprocess.run([py, "-m", "prover.lean.daemon", "start", "--prelude", "data/minif2f_core/prelude.lean",
                    "--spare", "0"], cwd=ROOT, check=True)
    start_s = time.monotonic() - t0
    probe = ("import time; t=time.monotonic();"
             "from prover.lean import open_server;"
             "from pathlib import Path;"
             "s=open_server(preludes=[Path('data/minif2f_core/prelude.lean').read_text()]);"
             "r=s.run_tac(s.start('theorem t : 1 + 1 = 2'), 'decide');"
             "assert r.complete; print(time.monotonic()-t)")
    t0 = time.monotonic()
    out = subprocess.run([py, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.monotonic() - t0
    subprocess.run([py, "-m", "prover.lean.daemon", "stop"], cwd=ROOT, check=True)
    return start_s, min(wall, float(out.stdout.strip() or wall))


@dataclass
class BenchLeanConfig:
    """The benchmark's settings: its flags and `--config FILE` keys (prover/config.py)."""

    problems: int = field(default=30, metadata={"help": "valid problems whose root goals are timed"})
    seconds: float = field(default=20, metadata={"help": "length of each throughput measurement"})
    requests: int = field(default=10000, metadata={"help": "requests of the memory-growth measurement"})
    skip_daemon: bool = field(default=False, metadata={"help": "skip the daemon's first-answer figure"})
    two_servers: bool = field(default=False, metadata={"help": "also measure 2 servers at once (3 processes)"})
    no_spare: bool = field(default=False, metadata={"help": "one Lean process at a time: skip the spare figures"})
    cold_only: bool = field(default=False, metadata={"help": "stop after the cold-start figure (quick A/B runs)"})
    json: Path | None = field(default=None, metadata={"help": "also write the figures here"})


def main(argv: list[str] | None = None) -> int:
    try:
        (args,) = ConfigParser(BenchLeanConfig, description=__doc__.splitlines()[0]).parse_config(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = read_jsonl_rows(ROOT / "data/minif2f_core/valid.jsonl")
    rows = rows[: args.problems]
    fig: dict[str, object] = {}

    a, fig["cold_start_s"], fig["peak_rss_mb"] = cold_start("bench-a", spare=not args.no_spare)
    fig["rss_ready_mb"] = rss_mb(a.pid)
    fig["cold_cpu_s"] = cpu_seconds(a.pid)
    fig["load_1min"] = os.getloadavg()[0]
    fig["warm_up"] = a.warm_up
    fig["lean_ready_s"] = a.start_seconds[0]  # the process printed "ready"; then preludes, warm-up, 1st answer
    print(f"cold start to first answer: {fig['cold_start_s']:.1f} s (Lean ready after {fig['lean_ready_s']:.1f} s, "
          f"then preludes and warm-up `{a.warm_up}`); RSS {fig['rss_ready_mb']:.0f} MB (peak {fig['peak_rss_mb']:.0f} MB); "
          f"Lean CPU {fig['cold_cpu_s']:.1f} s; load {fig['load_1min']:.2f}",
          flush=True)
    if args.cold_only:
        a.close()
        if args.json:
            args.json.write_text(json.dumps(fig, indent=1))
        return 0
    t0 = time.monotonic()
    while a.spare is not None and not a.spare.ready:
        if a.spare.error is not None:
            raise SystemExit(f"the warm spare did not start: {a.spare.error}")
        time.sleep(0.5)
    if a.spare is not None:
        fig["spare_ready_after_s"] = time.monotonic() - t0
        fig["spare_rss_mb"] = rss_mb(a.spare.pid)
        print(f"warm spare ready {fig['spare_ready_after_s']:.1f} s after the first answer (started in the "
              f"background); RSS {fig['spare_rss_mb']:.0f} MB", flush=True)

    lat, closed, timeouts = latency(a, rows)
    fig["latency_ms"] = {t: {"median": statistics.median(v), "p90": pct(v, 0.9), "closed": closed[t]}
                         for t, v in lat.items() if v}
    fig["latency_timeouts"] = timeouts
    print(f"warm latency on the root goals of {len(rows)} valid problems (10,000 heartbeats):")
    for t, v in lat.items():
        if v:
            print(f"  {t:8s} median {statistics.median(v):8.1f} ms   p90 {pct(v, 0.9):8.1f} ms   "
                  f"closed {closed[t]}/{len(v)}")
    print(f"  calls past 30 s (server restarted): {timeouts}", flush=True)

    fig["rps_1_server"] = throughput([a], rows, args.seconds)
    print(f"tactic calls/s, 1 server: {fig['rps_1_server']:.1f}", flush=True)

    before, after = memory_growth(a, args.requests)
    fig["rss_before_mb"], fig["rss_after_mb"] = before, after
    print(f"RSS over {args.requests} requests: {before:.0f} -> {after:.0f} MB ({after - before:+.0f} MB)",
          flush=True)

    if a.spare is not None:
        while not a.spare.ready:  # a timeout above may have used it
            time.sleep(0.5)
        fig["restart_first_answer_s"], fig["rss_after_swap_mb"] = restart_with_spare(a)
        print(f"restart to first answer with the spare (kill -9, swap): {fig['restart_first_answer_s']:.2f} s",
              flush=True)

    if args.two_servers:
        if a.spare is not None:
            a.spare.close()
        b, _, _ = cold_start("bench-b")
        fig["rps_2_servers"] = throughput([a, b], rows, args.seconds)
        print(f"tactic calls/s, 2 servers: {fig['rps_2_servers']:.1f}", flush=True)
        b.close()
    fig["restarts"], fig["swaps"] = a.restarts, a.swaps
    a.close()

    if not args.skip_daemon:
        fig["daemon_start_s"], fig["daemon_first_answer_s"] = daemon_first_answer()
        print(f"daemon: start {fig['daemon_start_s']:.1f} s; second command's first answer "
              f"{fig['daemon_first_answer_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(fig, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

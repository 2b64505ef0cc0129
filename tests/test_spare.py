"""The warm spare's logic on a fake server process (tests/fake_lean_server.py; fast, no Lean): a killed or
hung process is replaced by the started spare at once, client state ids survive, preludes added later reach
the spare, the spare refills in the background, and `auto` skips the spare when memory is short."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from prover.lean import LeanPool, LeanServer
from prover.lean.backend import Backend
from prover.lean.sandbox import SandboxPlan
from prover.generate.base import Candidate, GeneratorStats
from prover.lean.spare import spare_mode
from prover.search import BestFirstSearch, Budget

FAKE = Path(__file__).with_name("fake_lean_server.py")


def fake_backend(tmp_path: Path, start_s: float = 0.0) -> Backend:
    # no OS sandbox: the fake is a Python script, and the sandbox would hide the interpreter's virtualenv
    return Backend(name="fake", argv=(sys.executable, str(FAKE)), env={"FAKE_LEAN_START_S": str(start_s)},
                   workdir=tmp_path, sandbox=SandboxPlan("none"))


def make(tmp_path, start_s=0.0, **kw) -> LeanServer:
    srv = LeanServer(backend=fake_backend(tmp_path, start_s), preludes=["-- p1"], progress=False,
                     request_timeout=10, **kw)
    srv._warm_up = lambda: None  # the fake has no tactics to warm up
    return srv


def patch_spare_warm_up(holder: "LeanServer | LeanPool") -> None:
    """Spares made by `holder` skip the warm-up (the fake has no tactics)."""
    make_spare = holder.spare.make

    def no_warm_up():
        s = make_spare()
        s._warm_up = lambda: None
        return s

    holder.spare.make = no_warm_up


def wait(cond, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_spare_modes():
    assert [spare_mode(v) for v in (True, False, "auto", "ON", "0")] == ["1", "0", "auto", "1", "0"]
    with pytest.raises(ValueError, match="bad spare setting"):
        spare_mode("sometimes")


def test_kill_swaps_in_the_spare_and_states_survive(tmp_path):
    srv = make(tmp_path, start_s=2.0, spare=True)
    patch_spare_warm_up(srv)
    with srv:
        st = srv.run_tac(srv.start("a"), "t1").state
        wait(lambda: srv.spare.ready)
        srv.add("-- p2")  # added after the spare started: must reach it on the swap
        old, spare_pid = srv.pid, srv.spare.pid
        os.kill(old, signal.SIGKILL)
        wait(lambda: not srv.alive)  # (a request already in flight when a process dies is lost, by design)
        t0 = time.monotonic()
        res = srv.run_tac(st, "t2")  # the old id: replayed on the spare
        assert time.monotonic() - t0 < 1.5  # a fresh start would take 2 s
        assert res.state.goals == ("⊢ a [2] t1 t2",), res  # both preludes, then the replayed path
        assert srv.pid == spare_pid and srv.swaps == 1 and srv.restarts == 1
        assert not srv.spare.ready  # refilling in the background
        wait(lambda: srv.spare.ready)
        assert srv.spare.pid not in (old, spare_pid)
    assert srv.spare.pid is None  # closed with its server


def test_without_a_ready_spare_the_restart_waits_for_the_starting_one(tmp_path):
    srv = make(tmp_path, start_s=1.0, spare=True)
    patch_spare_warm_up(srv)
    with srv:
        srv.spare.close()  # nothing ready and nothing starting: a plain restart
        os.kill(srv.pid, signal.SIGKILL)
        wait(lambda: not srv.alive)
        assert srv.run_tac(srv.start("b"), "done").complete
        assert srv.swaps == 0 and srv.restarts == 1


def test_auto_skips_the_spare_when_memory_is_short(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVER_LEAN_SPARE_MIN_FREE_MB", str(10 ** 9))
    srv = make(tmp_path, spare="auto")
    with srv:
        assert srv.spare is not None and not srv.spare.ready and srv.spare.skipped_for_memory == 1
        assert srv.run_tac(srv.start("c"), "done").complete


def test_pool_shares_one_spare(tmp_path):
    be = fake_backend(tmp_path)
    with LeanPool(2, spare="1", backend=be, preludes=[], progress=False, request_timeout=10) as pool:
        for s in pool.servers:
            s._warm_up = lambda: None
        assert all(s.spare is pool.spare for s in pool.servers)
        patch_spare_warm_up(pool)
        pool.spare.fill()
        wait(lambda: pool.spare.ready)
        s0 = pool.servers[0]
        spare_pid = pool.spare.pid
        os.kill(s0.pid, signal.SIGKILL)
        wait(lambda: not s0.alive)
        assert s0.run_tac(s0.start("d"), "done").complete and s0.pid == spare_pid
    assert pool.spare.pid is None


class Fixed:
    name = "fixed"

    def __init__(self, tactics):
        self.tactics, self.stats = tactics, GeneratorStats()

    def generate(self, requests, num_samples):
        return [[Candidate(t, -0.1 * i) for i, t in enumerate(self.tactics)] for _ in requests]


def test_a_hung_tactic_costs_at_most_twice_the_wall_budget(tmp_path):
    srv = make(tmp_path, start_s=2.0, spare=True)
    patch_spare_warm_up(srv)
    with srv:
        wait(lambda: srv.spare.ready)
        budget = Budget(max_expansions=5, wall_seconds=1.5, tactic_timeout=60)
        res = BestFirstSearch(srv, Fixed(["hang", "x"]), budget).search("theorem h : P", "h")
        assert res.status == "budget" and res.wall_seconds <= 2 * budget.wall_seconds, res
        # the next theorem starts on the spare at once, not after a 2 s start-up
        res2 = BestFirstSearch(srv, Fixed(["done"]), budget).search("theorem n : Q", "n")
        assert res2.wall_seconds < 1.0 and res2.tactic_calls == 1 and srv.swaps == 1, res2

"""Crash and restart: a killed or hung Lean costs one request, never the session. Slow: each restart
reloads the Lean library (minutes on the embedded backend), so this file keeps to one restart."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from prover.lean import LeanCrash

pytestmark = [pytest.mark.lean, pytest.mark.slow]


def test_kill_during_request_then_restart_and_replay_states(lean):
    root = lean.start("theorem r (a b : Nat) (h : a = b) : b = a")
    mid = lean.run_tac(root, "subst h")
    assert mid.ok
    restarts = lean.restarts
    pid = lean.pid

    # kill -9 the process while a request is in flight
    threading.Timer(2.0, lambda: os.kill(pid, signal.SIGKILL)).start()
    t0 = time.monotonic()
    with pytest.raises(LeanCrash):  # a small request that keeps the kernel busy for minutes
        lean.request({"cmd": "check", "code": "set_option maxRecDepth 100000 in\n"
                      "theorem w : ∀ x, x < 100000 → x * x ≠ 2 := by decide"}, timeout=600)
    assert time.monotonic() - t0 < 120

    # the next request restarts the server and succeeds; the old state is rebuilt by replaying its path
    done = lean.run_tac(mid.state, "rfl")
    assert done.complete, done.error
    assert lean.restarts == restarts + 1 and lean.pid != pid
    # preludes came back with the restart
    assert lean.run_tac(lean.start("theorem f3 : Nat.factorial 3 = 6"), "decide").complete

"""The warm spare, on real Lean: a killed server is replaced at once by the spare (preludes loaded, the client's
proof-state ids still valid), and the spare refills in the background. One server plus its spare: two
processes. (The 2x wall budget under a hung tactic is tested on a fake server in test_spare.py.)"""
from __future__ import annotations

import os
import signal
import time

import pytest

from fakes import gone

from prover.lean import LeanServer

pytestmark = [pytest.mark.lean, pytest.mark.slow]

@pytest.fixture(scope="module")
def spared(prelude):
    srv = LeanServer(preludes=[prelude], request_timeout=60, progress=False, name="test-spare", spare=True)
    try:
        srv.ensure_started()
        assert srv.spare is not None
        deadline = time.monotonic() + 900
        while not srv.spare.ready and time.monotonic() < deadline:
            assert srv.spare.error is None, f"the spare did not start: {srv.spare.error}"
            time.sleep(0.5)
        assert srv.spare.ready, "the spare did not become ready"
        yield srv
    finally:
        srv.close()


def test_killed_server_is_replaced_by_the_spare_at_once(spared):
    root = spared.start("theorem r (a b : Nat) (h : a = b) : b = a")
    mid = spared.run_tac(root, "subst h")
    assert mid.ok, mid.error
    old, spare_pid, swaps = spared.pid, spared.spare.pid, spared.swaps
    os.kill(old, signal.SIGKILL)
    time.sleep(0.5)

    t0 = time.monotonic()
    done = spared.run_tac(mid.state, "rfl")  # the old state id, rebuilt on the spare by replaying its path
    took = time.monotonic() - t0
    assert done.complete, done.error
    assert took < 5, f"the swap took {took:.1f} s"
    assert spared.swaps == swaps + 1 and spared.pid == spare_pid and gone(old)
    # the spare had the prelude (`Nat.factorial` comes from it), and a new spare is starting in the background
    assert spared.run_tac(spared.start("theorem f3 : Nat.factorial 3 = 6"), "decide").complete
    assert spared.spare.ready or spared.spare._filling is not None

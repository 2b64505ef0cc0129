"""The warm spare, on real Lean: a killed server is replaced at once by the spare (preludes loaded, the client's
proof-state ids still valid), and the spare refills in the background. One server plus its spare: two
processes. The 2x wall budget under a hung tactic is tested here with a real hung `decide`, and its logic on a
fake server in test_spare.py."""
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


def test_a_hung_tactic_costs_at_most_twice_the_wall_budget_on_real_lean(spared):
    """A tactic that runs on past the theorem's wall budget (`decide` over 6,000 values, heartbeats out of the
    way: measured to run past 20 s here) is killed at the search's hard deadline: the search ends within 2x
    `wall_seconds`, as `budget` (the lost tactic is no verdict), and the spare answers the next request at once."""
    from prover.generate import FixedGenerator
    from prover.search import BestFirstSearch, Budget

    deadline = time.monotonic() + 900  # an earlier test may have used the spare: let the refill finish
    while not spared.spare.ready and time.monotonic() < deadline:
        time.sleep(0.5)
    budget = Budget(max_expansions=4, wall_seconds=8, tactic_timeout=120, tactic_heartbeats=100_000_000)
    search = BestFirstSearch(spared, FixedGenerator(["set_option maxRecDepth 100000 in decide"]), budget)
    t0 = time.monotonic()
    res = search.search("theorem hung : ∀ x, x < 6000 → x * x ≠ 2")
    took = time.monotonic() - t0
    assert took <= 2 * budget.wall_seconds, f"the theorem took {took:.1f} s on a {budget.wall_seconds} s budget"
    assert res.status == "budget" and res.lost_tactics == 1, (res.status, res.stop_reason, res.error)
    t1 = time.monotonic()
    assert spared.run_tac(spared.start("theorem after : 2 + 2 = 4"), "decide").complete
    assert time.monotonic() - t1 < 5, "the spare did not take over"

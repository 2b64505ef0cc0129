"""The warm spare, on real Lean: a killed server is replaced at once by the spare (preludes loaded, the client's
proof-state ids still valid), the spare refills in the background, and a hung tactic cannot make a theorem
overrun its wall budget more than 2x. One server plus its spare: two processes, started once for the file."""
from __future__ import annotations

import os
import signal
import time

import pytest

from prover.generate.base import Candidate, GeneratorStats
from prover.lean import LeanServer
from prover.search import BestFirstSearch, Budget

pytestmark = [pytest.mark.lean, pytest.mark.slow]

# Kernel reduction of a decision procedure over 100,000 cases (`+kernel`: the tactic itself runs the kernel),
# with no heartbeat limit (`tactic_heartbeats=0`): nothing inside Lean stops it, so it runs for minutes.
HANG = "set_option maxRecDepth 100000 in decide +kernel"
HANG_STATEMENT = "theorem hang : ∀ x, x < 100000 → x * x ≠ 2"


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


def wait_ready(srv: LeanServer, seconds: float = 900) -> None:
    deadline = time.monotonic() + seconds
    while not srv.spare.ready and time.monotonic() < deadline:
        time.sleep(0.5)
    assert srv.spare.ready, f"the spare did not refill: {srv.spare.error}"


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


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


class Fixed:
    """A generator that proposes the same tactics for every goal."""

    name = "fixed"

    def __init__(self, tactics: list[str]):
        self.tactics, self.stats = tactics, GeneratorStats()

    def generate(self, requests, num_samples):
        return [[Candidate(t, -0.1 * i) for i, t in enumerate(self.tactics)] for _ in requests]


def test_hung_tactic_keeps_the_wall_budget_and_the_next_theorem_is_not_delayed(spared):
    wait_ready(spared)
    budget = Budget(max_expansions=4, samples_per_expansion=2, wall_seconds=6, tactic_timeout=120,
                    tactic_heartbeats=0)
    res = BestFirstSearch(spared, Fixed([HANG, "omega"]), budget).search(HANG_STATEMENT, "hang")
    assert res.status == "budget" and res.tactic_calls >= 1
    assert res.wall_seconds <= 2 * budget.wall_seconds, res
    assert res.slowest_tactic[0] == HANG and res.slowest_tactic[1] > budget.wall_seconds  # it really hung

    # the hung process was killed; the next theorem runs on the spare without waiting for a start-up
    res2 = BestFirstSearch(spared, Fixed(["omega"]), budget).search("theorem nxt (n : Nat) : n + 0 = n", "nxt")
    assert res2.status == "proved", res2
    assert res2.wall_seconds <= 2 * budget.wall_seconds, res2

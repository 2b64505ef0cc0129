"""No child outlives the command that started it: killing the Python parent (SIGTERM or SIGKILL, no clean-up
runs) kills its Lean at once, even a child forked from a thread that has since ended, and even a Lean that is
busy (loading its library) rather than waiting on its stdin."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes import gone

ROOT = Path(__file__).resolve().parents[1]


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.1)
    return gone(pid)


def run_parent(code: str) -> tuple[subprocess.Popen, int]:
    """Start a Python parent running `code`, which prints its child's pid; return (parent, child pid)."""
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = parent.stdout.readline()
    assert line.strip().isdigit(), f"parent printed {line!r}"
    return parent, int(line)


SLEEPER = """
import threading, time
from prover.lean import tied
box = []
t = threading.Thread(target=lambda: box.append(tied.popen(["sleep", "300"])))
t.start(); t.join()          # the forking thread is gone now
time.sleep(0.3)
assert box[0].poll() is None, "the child died with the thread that forked it"
print(box[0].pid, flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_child_dies_with_its_parent_not_with_the_forking_thread(sig):
    parent, child = run_parent(SLEEPER)
    assert not gone(child)
    parent.send_signal(sig)
    parent.wait(timeout=10)
    assert wait_gone(child, 3), f"child {child} outlived its parent"


LEAN_PARENT = """
import threading, time
from prover.lean import LeanServer
srv = LeanServer(progress=False, name="orphan-test")
threading.Thread(target=srv.ensure_started, daemon=True).start()
while srv.pid is None:
    time.sleep(0.05)
print(srv.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.lean
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_client_kills_its_lean(sig):
    parent, node = run_parent(LEAN_PARENT)
    time.sleep(2)  # Lean is busy loading its library: it is not reading stdin, so only the death signal helps
    assert not gone(node)
    parent.send_signal(sig)
    parent.wait(timeout=10)
    assert wait_gone(node, 5), f"Lean ({node}) outlived its client"

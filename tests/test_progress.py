"""Progress through a pipe or into a log: whole lines, no carriage returns (tqdm's redraws become a line
every N seconds, plus the first and the last status)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import time
from prover.progress import progress_bar
bar = progress_bar(total=50, desc="prove", unit="thm", interval=0.25)
for _ in range(50):
    time.sleep(0.02)
    bar.update(1)
bar.close()
start = progress_bar(desc="starting Lean", bar_format="{desc}: {elapsed} elapsed", leave=False, interval=0.25)
for _ in range(25):  # what LeanServer._await_ready does while Lean loads
    time.sleep(0.1)
    start.update(0)
    start.refresh()
start.close()
"""


def test_progress_through_a_pipe_is_lines_every_interval():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "\r" not in err and err.endswith("\n")
    lines = err.splitlines()
    prove = [ln for ln in lines if ln.startswith("prove")]
    start = [ln for ln in lines if ln.startswith("starting Lean")]
    # about 1 s of bar at one line per 0.25 s: first, a few in between, and the final 50/50; not 50 redraws
    assert 3 <= len(prove) <= 10 and "50/50" in prove[-1] and "0/50" in prove[0]
    # start-up: 2.5 s; a line when the text changes (once a second here), and the last elapsed time
    # survives the bar's blanking-out at close
    assert start == [f"starting Lean: 00:0{i} elapsed" for i in range(3)]
    assert all(len(ln) < 200 for ln in lines)


def test_a_terminal_gets_tqdm_as_usual():
    import io

    from prover.progress import LineWriter, progress_bar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    bar = progress_bar(total=3, file=out)
    assert not isinstance(bar.fp, LineWriter)
    bar.update(3)
    bar.close()
    assert "\r" in out.getvalue()

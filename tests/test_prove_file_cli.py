"""`python -m prover prove FILE.lean` and `prove "theorem ..."` end to end with real Lean, through the CLI
(the session's daemon serves them, so no command pays Lean's start-up): the filled file checks, the finished
theorem is unchanged byte for byte, the run directory has its report, exit codes follow the outcomes, and
progress through a pipe is lines."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lean
ROOT = Path(__file__).resolve().parents[1]
PRELUDE = ROOT / "data" / "minif2f_core" / "prelude.lean"

FINISHED = '''/-- Already proved: the prover must leave it exactly as it is. -/
theorem finished (n : Nat) : n + 0 = n := by
  simp -- a comment that stays
'''

SOURCE = f'''-- two sorry theorems (one inside a namespace, `:= sorry` and `by sorry`) and a finished one
theorem swap_add (a b : Nat) : a + b = b + a := by
  sorry

{FINISHED}
namespace Space
theorem lt_succ (n : Nat) : n < n + 1 := sorry
end Space
'''


def prove_cli(args: list[str], sock: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROVER_LEAN_SOCKET": str(sock), "PYTHONPATH": str(ROOT),
           "PROVER_PROGRESS_INTERVAL": "0"}
    return subprocess.run([sys.executable, "-m", "prover", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_prove_a_lean_file_and_a_statement_through_the_cli(daemon_socket, tmp_path):
    f = tmp_path / "Mine.lean"
    f.write_text(SOURCE)
    common = ["--generator", "fixed", "--prelude", str(PRELUDE), "--budget", "max_expansions=4,wall_seconds=30"]
    r = prove_cli(["prove", str(f), "--out", str(tmp_path / "run"), *common], daemon_socket, tmp_path)
    assert r.returncode == 0, r.stderr  # all proved
    assert r.stderr.strip().splitlines()[-1] == "prove: all 2 theorems proved"
    assert "\r" not in r.stderr and "\r" not in r.stdout  # piped progress: lines
    assert any(ln.startswith("prove[fixed]:") and "2/2" in ln for ln in r.stderr.splitlines())
    filled = tmp_path / "Mine.proved.lean"
    text = filled.read_text()
    assert FINISHED in text and text.split("\n", 1)[1].count("sorry") == 0  # (line 1 is a comment)
    assert f.read_text() == SOURCE  # the input is not touched
    assert text.startswith("-- two sorry theorems") and "namespace Space\ntheorem lt_succ" in text
    rows = {json.loads(ln)["name"]: json.loads(ln) for ln in (tmp_path / "run" / "results.jsonl").read_text().splitlines()}
    assert set(rows) == {"swap_add", "Space.lt_succ"} and all(r["status"] == "proved" and r["verified"]
                                                              for r in rows.values())
    assert (tmp_path / "run" / "report.md").is_file() and "Proved 2/2" in (tmp_path / "run" / "report.md").read_text()
    assert "check:   " + str(filled) + ": 3/3 declarations sound" in r.stdout
    # the written file checks on its own, as a user would check it
    c = prove_cli(["check", str(filled), "--prelude", str(PRELUDE)], daemon_socket, tmp_path)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "finished: sound" in c.stdout and "swap_add: sound" in c.stdout and "3/3 declarations sound" in c.stdout

    # one statement: proved (exit 0); a false one: some failed (exit 1); one Lean refuses: nothing (exit 3)
    s = prove_cli(["prove", "theorem foo (a b : Nat) : a * b = b * a", "--out", str(tmp_path / "s1"), *common],
                  daemon_socket, tmp_path)
    assert s.returncode == 0, s.stderr
    proof = (tmp_path / "s1" / "proofs.lean").read_text()
    assert "theorem foo (a b : Nat) : a * b = b * a := by\n" in proof
    s = prove_cli(["prove", "theorem nope (n : Nat) : n + 1 = n", "--out", str(tmp_path / "s2"), *common],
                  daemon_socket, tmp_path)
    assert s.returncode == 1, s.stderr
    assert s.stderr.strip().splitlines()[-1] == "prove: 0/1 theorems proved"
    s = prove_cli(["prove", "theorem bad : undefinedThing = 1", "--out", str(tmp_path / "s3"), *common],
                  daemon_socket, tmp_path)
    assert s.returncode == 3, s.stderr
    assert s.stderr.strip().splitlines()[-1] == "prove: nothing could be attempted: Lean refused all 1 statements"


def test_a_files_definitions_pass_the_untrusted_check_before_they_are_loaded(daemon_socket, tmp_path):
    from prover.__main__ import _load_context
    from prover.lean.daemon import RemoteLeanServer
    from prover.run.inputs import InputError

    marker = tmp_path / "pwned"
    ctx = tmp_path / "context.lean"
    ctx.write_text(f'def k : Nat := 3\n#eval IO.FS.writeFile "{marker}" "x"\n')
    with RemoteLeanServer(daemon_socket) as srv:
        with pytest.raises(InputError, match="were refused by Lean"):
            _load_context([srv], ctx, tmp_path / "Evil.lean")
    assert not marker.exists()

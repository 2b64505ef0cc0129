"""The daemon (a second command skips the start-up), the `python -m prover check` contract, and the
LeanDojo-shaped facade."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prover.lean.daemon import RemoteLeanServer

pytestmark = pytest.mark.lean
ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], sock: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROVER_LEAN_SOCKET": str(sock)}
    return subprocess.run([sys.executable, "-m", "prover", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def test_daemon_serves_typed_methods_to_several_clients(daemon_socket):
    with RemoteLeanServer(daemon_socket) as a, RemoteLeanServer(daemon_socket) as b:
        assert a.ping()["servers"] == 1
        st = a.start("theorem d (n : Nat) : n * 1 = n")
        assert a.run_tac(st, "simp").complete
        assert not a.run_tac(st, "exact nonsense").ok
        res = b.check("theorem e : Nat.factorial 3 = 6 := by decide")  # the daemon has the prelude
        assert res.all_ok and res.decl("e").sound
        assert a.stats().requests >= 3


def test_second_command_uses_the_daemon(daemon_socket):
    code = ("import os,json; from pathlib import Path; from prover.lean import open_server;"
            "s = open_server(preludes=[Path('data/minif2f_core/prelude.lean').read_text()]);"
            "print(type(s).__name__, s.run_tac(s.start('theorem t : 1 + 1 = 2'), 'decide').complete)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PROVER_LEAN_SOCKET": str(daemon_socket)})
    assert out.stdout.split() == ["RemoteLeanServer", "True"], out.stderr


def test_check_cli_json_contract(daemon_socket, tmp_path):
    f = tmp_path / "mixed.lean"
    f.write_text("import Lean\n\ntheorem good (x : Nat) : x + 0 = x := by simp\n"
                 "theorem holey : 1 = 1 := by sorry\ntheorem bad : 1 = 2 := by decide\n")
    out = run_cli(["check", str(f), "--json"], daemon_socket)
    assert out.returncode == 1, out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"good", "holey", "bad"}
    for r in rows:
        assert set(r) == {"name", "ok", "complete", "sound", "messages", "unsound_reason", "audit_error"}
    assert by_name["good"]["sound"] and by_name["good"]["complete"] and by_name["good"]["ok"]
    assert not by_name["holey"]["sound"] and not by_name["bad"]["ok"]
    assert by_name["holey"]["messages"][0]["line"] == 4  # line numbers survive the stripped import
    assert set(by_name["holey"]["messages"][0]) == {"severity", "line", "column", "text"}

    ok = tmp_path / "ok.lean"
    ok.write_text("theorem fine : 2 + 2 = 4 := by decide\n")
    out = run_cli(["check", str(ok)], daemon_socket)
    assert out.returncode == 0 and "fine: sound" in out.stdout, out.stdout + out.stderr


def test_check_cli_bad_input_is_a_clear_error(daemon_socket, tmp_path):
    out = run_cli(["check", str(tmp_path / "missing.lean")], daemon_socket)
    assert out.returncode == 2 and "no such file" in out.stderr
    m = tmp_path / "mathlib.lean"
    m.write_text("import Mathlib\ntheorem t : True := trivial\n")
    out = run_cli(["check", str(m)], daemon_socket)
    assert out.returncode == 2 and "Mathlib" in out.stderr


def test_dojo_facade(lean):
    from prover.lean.dojo import Dojo, LeanError, ProofFinished, TacticState

    with Dojo("theorem dj (a b : Nat) (h : a = b) : b = a := by sorry", server=lean) as (dojo, s0):
        assert isinstance(s0, TacticState) and "h : a = b" in s0.pp and s0.num_goals == 1
        assert isinstance(dojo.run_tac(s0, "exact bogus"), LeanError)
        s1 = dojo.run_tac(s0, "subst h")
        assert isinstance(s1, TacticState)
        done = dojo.run_tac(s1, "rfl")
        assert isinstance(done, ProofFinished)
        assert dojo.proof_text(done.tactic_state_id).endswith(":= by\n  subst h\n  rfl\n")

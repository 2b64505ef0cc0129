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


def _requests(sock: Path) -> int:
    with RemoteLeanServer(sock) as c:
        return c.stats().requests


def test_lean_dojo_client_in_a_fresh_process_uses_the_daemon(daemon_socket, tmp_path):
    """A LeanDojo-style client (`import lean_dojo`, a `Theorem` looked up in a .lean file, `Dojo(thm)` without
    `server=`) is served by the running daemon, whose prelude it does not ask for: no private Lean starts."""
    (tmp_path / "Thm.lean").write_text("theorem viaShim (a b : Nat) : a + b = b + a := by\n  sorry\n")
    code = ("import lean_dojo as ld, sys\n"
            f"thm = ld.Theorem(ld.LeanGitRepo({str(tmp_path)!r}, ''), 'Thm.lean', 'viaShim')\n"
            "with ld.Dojo(thm, timeout=60) as (dojo, s0):\n"
            "    r = dojo.run_tac(s0, 'omega')\n"
            "    print(type(dojo.server).__name__, type(r).__name__)\n")
    before = _requests(daemon_socket)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PROVER_LEAN_SOCKET": str(daemon_socket)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["RemoteLeanServer", "ProofFinished"]
    assert _requests(daemon_socket) >= before + 2  # start and the tactic went to the daemon


def test_trace_cli_uses_the_daemon_pristine(daemon_socket, tmp_path):
    """`python -m prover trace` without --prelude uses `make daemon-start`'s daemon (it has the miniF2F
    prelude) and traces in its environment before that prelude, so the file's own names cannot clash."""
    name = "Nat.factorial"  # the prelude's (core Lean has none): redeclared by the traced file
    assert f"def {name}" in (ROOT / "data" / "minif2f_core" / "prelude.lean").read_text()
    f = tmp_path / "T.lean"
    f.write_text(f"def {name} : Nat := 3\n\ntheorem usesIt : {name} = 3 := by\n  rfl\n")
    before = _requests(daemon_socket)
    out = run_cli(["trace", str(f), "--out", str(tmp_path / "o"), "--no-dataset"], daemon_socket)
    assert out.returncode == 0, out.stderr
    assert _requests(daemon_socket) >= before + 1
    rows = [json.loads(x) for x in (tmp_path / "o" / "declarations.jsonl").read_text().splitlines()]
    assert {r["name"]: r["ok"] for r in rows} == {name: True, "usesIt": True}
    assert json.loads((tmp_path / "o" / "leandojo.json").read_text())[0]["traced_tactics"][0]["tactic"] == "rfl"

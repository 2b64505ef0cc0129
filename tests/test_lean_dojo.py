"""`import lean_dojo`: a best-first client written the way ReProver drives LeanDojo, run on the shared server,
plus the error classes, `Theorem` resolution, state identity and the shadowed-`prover` case."""
from __future__ import annotations

import heapq
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lean_dojo
from lean_dojo import (Dojo, DojoCrashError, DojoHardTimeoutError, DojoInitError, DojoTacticTimeoutError, LeanError,
                       LeanGitRepo, Pos, ProofFinished, ProofGivenUp, TacticState, Theorem)
from prover.lean.protocol import LeanCrash, LeanTimeout, TacticResult
from tests.fakes import ToyEnv

ROOT = Path(__file__).resolve().parents[1]

# a fixed "policy": candidate tactics with log-probabilities, as a model would propose them
POLICY = [("intro h", -0.5), ("exact bogus_lemma", -0.6), ("simp", -0.7), ("omega", -1.0), ("subst h", -1.2),
          ("rfl", -1.5), ("constructor", -2.0), ("assumption", -2.2)]


def best_first(dojo, init: TacticState, max_expansions: int = 30) -> list[str] | None:
    """Best-first search over states by cumulative log-probability; equal states (same `pp`) are one node."""
    tie = itertools.count()
    frontier = [(0.0, next(tie), init, [])]
    seen = {init}
    for _ in range(max_expansions):
        if not frontier:
            return None
        neg, _, state, path = heapq.heappop(frontier)
        for tac, logp in POLICY:
            r = dojo.run_tac(state, tac)
            if isinstance(r, ProofFinished):
                return [*path, tac]
            if isinstance(r, TacticState) and r not in seen:
                seen.add(r)
                heapq.heappush(frontier, (neg - logp, next(tie), r, [*path, tac]))
            elif not isinstance(r, (TacticState, LeanError, ProofGivenUp)):
                raise AssertionError(f"unexpected result {r!r}")
    return None


@pytest.mark.lean
def test_best_first_client_proves_theorems(lean, tmp_path):
    repo_dir = tmp_path / "repo"
    (repo_dir / "Demo").mkdir(parents=True)
    (repo_dir / "Demo" / "Basic.lean").write_text(
        "namespace Demo\n\ntheorem swap_eq (a b : Nat) (h : a = b) : b = a := by\n  sorry\n\nend Demo\n")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"name": "dj_imp", "core_statement": "theorem dj_imp (p q : Prop) (hq : q) : p → q"}) + "\n")
    repo = LeanGitRepo(str(repo_dir), "0" * 40)
    theorems = [Theorem(repo, Path("Demo/Basic.lean"), "Demo.swap_eq"),
                Theorem(repo, bench, "dj_imp"),
                "theorem add_zero' (n : Nat) : n + 0 = n"]
    proofs = {}
    for thm in theorems:
        with Dojo(thm, timeout=120, server=lean) as (dojo, init):
            assert isinstance(init, TacticState) and init.num_goals == 1 and init.goals[0].conclusion
            proofs[getattr(thm, "full_name", thm)] = best_first(dojo, init)
    assert all(proofs.values()), proofs
    assert len(proofs["dj_imp"]) == 2 and proofs["dj_imp"][0] == "intro h"  # two expansions deep


def test_state_identity_and_positions():
    a, b = TacticState("⊢ True", 1), TacticState("⊢ True", 7, "Try this: trivial")
    assert a == b and hash(a) == hash(b) and a != TacticState("⊢ False", 1)
    g = TacticState("case h\nn : Nat\nh : n = 1\n⊢ n + 1 = 2", 0).goals[0]
    assert g.assumptions == ("n : Nat", "h : n = 1") and g.conclusion == "n + 1 = 2"
    assert Pos(3, 4) < Pos(10, 0) and tuple(Pos.from_str("(3, 4)")) == (3, 4)
    assert LeanGitRepo("https://github.com/x/y.git", "abc").name == "y"
    assert str(LeanGitRepo("u", "c").get_packages_dir()) == ".lake/packages"
    assert issubclass(DojoTacticTimeoutError, DojoHardTimeoutError)


def test_theorem_resolution_errors(tmp_path):
    (tmp_path / "F.lean").write_text("theorem ok_one (n : Nat) : n = n := rfl\n")
    repo = LeanGitRepo(str(tmp_path), "c")
    assert Theorem(repo, "F.lean", "ok_one").resolve_statement() == "theorem ok_one (n : Nat) : n = n"
    for thm in (Theorem(repo, "F.lean", "missing_one"), Theorem(repo, "Nope.lean", "ok_one")):
        with pytest.raises(DojoInitError):
            thm.resolve_statement()


class _Machinery(ToyEnv):
    """The toy environment whose `hang`/`lost`/`die` tactics fail the way our servers report it."""

    def run_tac(self, state, tactic, heartbeats=None, timeout=None):
        if tactic == "hang":  # LeanServer.run_tac turns a lost request into an answer...
            return TacticResult(None, "LeanTimeout: tactic ran past 1 s; Lean was restarted")
        if tactic == "lost":
            return TacticResult(None, "LeanCrash: Lean died during `tactic`; it will be restarted")
        if tactic == "die":  # ...a daemon connection raises
            raise LeanCrash("the Lean daemon closed the connection")
        if tactic == "slow":
            raise LeanTimeout("tactic ran past 1 s")
        return super().run_tac(state, tactic, heartbeats, timeout)


def test_machinery_failures_raise_not_answer():
    with Dojo("theorem toy : 3", server=_Machinery(), timeout=1) as (dojo, s0):
        for tac, exc in (("hang", DojoTacticTimeoutError), ("slow", DojoHardTimeoutError), ("lost", DojoCrashError),
                         ("die", DojoCrashError)):
            with pytest.raises(exc):
                dojo.run_tac(s0, tac)
        assert isinstance(dojo.run_tac(s0, "sorry"), ProofGivenUp)
        assert isinstance(dojo.run_tac(s0, "nonsense"), LeanError)
        assert isinstance(dojo.run_tac(s0, "dec"), TacticState)
    with pytest.raises(DojoCrashError):  # closed on exit
        dojo.run_tac(s0, "dec")


@pytest.mark.lean
def test_setup_failures_raise_init_error(lean):
    for bad in ("theorem u1 : no_such_constant_xyz = 1", "theorem u2 : 1 = 1 := by rfl", ""):
        with pytest.raises(DojoInitError):
            with Dojo(bad, server=lean):
                pass
    with pytest.raises(DojoInitError):
        with Dojo(("repo", "File.lean", 3), server=lean):
            pass


@pytest.mark.lean
def test_messages_sorry_and_release(lean):
    lean.clear()
    with Dojo("theorem msg (n : Nat) (h : n = 2) : n + 0 = 2", server=lean) as (dojo, s0):
        assert isinstance(dojo.run_tac(s0, "sorry"), ProofGivenUp)
        r = dojo.run_tac(s0, "exact?")
        assert isinstance(r, ProofFinished) and "Try this" in (r.message or "")
        assert lean.stats().live_states >= 2
    assert lean.stats().live_states == 0  # the Dojo made every state, so it dropped them on exit


def test_dojo_uses_a_running_daemon(daemon_socket, monkeypatch):
    monkeypatch.setenv("PROVER_LEAN_SOCKET", str(daemon_socket))
    from prover.lean.daemon import RemoteLeanServer

    with Dojo("theorem viaDaemon (a : Nat) : a + 0 = a", timeout=120) as (dojo, s0):
        assert isinstance(dojo.server, RemoteLeanServer)
        assert isinstance(dojo.run_tac(s0, "simp"), ProofFinished)
    assert dojo.server is None


def test_import_survives_a_shadowing_prover_package(tmp_path):
    (tmp_path / "prover").mkdir()
    (tmp_path / "prover" / "__init__.py").write_text("REPROVER = True\n")
    code = ("import prover, lean_dojo; assert prover.REPROVER; "
            "print(lean_dojo.Dojo.__module__, lean_dojo.DojoInitError.__mro__[1].__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["lean_dojo._prover.lean.dojo", "DojoError"]
    assert lean_dojo.Dojo.__module__ == "prover.lean.dojo"  # in this process ours is `prover`

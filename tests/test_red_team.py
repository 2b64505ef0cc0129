"""Soundness red team: untrusted proofs that try to cheat or reach the host. None may count as sound, and
none may leave a trace on the host."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.lean

STMT = "theorem target : 2 + 2 = 5"


@pytest.fixture
def marker(tmp_path_factory) -> Path:
    # under /tmp, which the embedded Lean can see, so a successful attack would really create it
    return Path("/tmp") / f"redteam-{uuid.uuid4().hex}"


def cheats(marker: Path) -> dict[str, str]:
    m = str(marker)
    return {
        "sorry": f"{STMT} := by sorry",
        "admit": f"{STMT} := by admit",
        "sorry term": f"{STMT} := sorry",
        "native_decide": "theorem nd : 2 + 2 = 4 := by native_decide",
        "decide +native": "theorem nd2 : 2 + 2 = 4 := by decide +native",
        "ofReduceBool": "theorem rb : 2 + 2 = 4 := Lean.ofReduceBool _ _ rfl",
        "axiom": f"axiom cheat : 2 + 2 = 5\n{STMT} := cheat",
        "implemented_by": ("def f (n : Nat) : Bool := false\n@[implemented_by f] def g (n : Nat) : Bool := true\n"
                           f"{STMT} := by decide"),
        "macro redefinition": f'macro "trivial" : tactic => `(tactic| sorry)\n{STMT} := by trivial',
        "notation": f'notation "five" => 4\ntheorem target : 2 + 2 = five := rfl',
        "unsafe": f"unsafe def u : Nat := 5\n{STMT} := by decide",
        "#eval writes a file": f'#eval IO.FS.writeFile "{m}" "pwned"\n{STMT} := by decide',
        "run_cmd": f'run_cmd (IO.FS.writeFile "{m}" "pwned" : IO Unit)\ntheorem t : True := trivial',
        "run_tac spawns": ('theorem t : True := by\n  run_tac do\n'
                           f'    let _ ← IO.Process.output {{ cmd := "touch", args := #["{m}"] }}\n  trivial'),
        "IO via unsafeBaseIO": (f'def boom : Nat := (unsafeBaseIO (IO.FS.writeFile "{m}" "x")).1\n'
                                f"theorem t : True := trivial"),
        "set_option escape": f"set_option debug.skipKernelTC true in\n{STMT} := by decide",
        "elab": f'open Lean Elab Tactic in\nelab "pwn" : tactic => do IO.FS.writeFile "{m}" "x"\n'
                f"theorem t : True := by pwn",
    }


@pytest.mark.parametrize("kind", list(cheats(Path("/tmp/x")).keys()))
def test_cheating_check_is_never_sound_and_never_touches_host(lean, marker, kind):
    code = cheats(marker)[kind]
    res = lean.check(code)
    assert not res.all_ok, f"{kind} was accepted: {res}"
    assert not any(d.sound and d.name in ("target", "nd", "nd2", "rb") for d in res.declarations), res
    assert not marker.exists(), f"{kind} touched the host"


@pytest.mark.parametrize("tactic", [
    "sorry", "admit", "native_decide", "exact sorry", "decide +native",
    'run_tac do let _ ← IO.Process.output { cmd := "touch", args := #["/tmp/redteam-tactic"] }',
    "set_option maxHeartbeats 0 in decide", "exact Lean.ofReduceBool _ _ rfl",
])
def test_cheating_tactics_are_refused(lean, tactic):
    st = lean.start("theorem tt : 2 + 2 = 4")
    res = lean.run_tac(st, tactic)
    assert not res.ok, f"{tactic!r} was accepted"
    assert not os.path.exists("/tmp/redteam-tactic")


def test_statement_cannot_smuggle_code(lean, marker):
    from prover.lean import LeanError

    with pytest.raises(LeanError):
        lean.start(f'theorem s : (unsafeBaseIO (IO.FS.writeFile "{marker}" "x")).1 = ()')
    assert not marker.exists()


def test_honest_proof_is_sound(lean):
    res = lean.check("theorem honest : 2 + 2 = 4 := by decide", statement="theorem honest : 2 + 2 = 4")
    assert res.all_ok and res.decl("honest").sound


def test_statement_reinterpreted_by_a_preceding_instance_is_caught(lean):
    # `2 + 3 = 6` is false; with `+` redefined as `*` it "holds". The text of the statement is unchanged,
    # the elaborated statement is not, and that is what the check compares.
    code = "instance (priority := high) addIsMul : Add Nat := ⟨Nat.mul⟩\ntheorem target : 2 + 3 = 6 := by decide"
    res = lean.check(code, statement="theorem target : 2 + 3 = 6", name="target")
    d = res.decl("target")
    assert d.statement_matches is False and not d.sound and not res.all_ok

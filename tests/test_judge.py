"""The judge behind `check` (lean_project/LeanServer.lean): a verdict rests on the kernel's replay of every
constant the text added, in an environment made of the imports and trusted preludes only, and on each
statement elaborated again in the pristine environment; never on the syntax filter or on the elaborator that
ran the text. Attacks the filter would stop first are also run with the filter off (`trusted=True`) to show
that the judge alone catches them. Honest controls must stay accepted."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.lean


def bogus_thm(name: str) -> str:
    """Meta code that adds `name : False` with kernel checking switched off through an option name literal."""
    return (f"Lean.withOptions (fun o => o.setBool `debug.skipKernelTC true) (Lean.addDecl "
            f"(Lean.Declaration.thmDecl {{ name := `{name}, levelParams := [], type := Lean.mkConst ``False, "
            f"value := Lean.mkConst ``True.intro, all := [`{name}] }}))")


# ----------------------------------------------------------------------------- kernel checking switched off
def test_declaration_added_with_the_kernel_off_is_caught_by_the_replay(lean):
    code = ("theorem fiveIsFour : 2 + 2 = 5 := by\n"
            f"  run_tac do {bogus_thm('smuggled')}\n"
            "  exact smuggled.elim\n")
    res = lean.check(code, trusted=True)  # filter off: only the judge stands in the way
    d = res.decl("fiveIsFour")
    assert d.ok, d.messages  # it elaborated: the elaborator was fooled
    assert not d.sound and not res.all_ok
    assert "smuggled" in d.unsound_reason and "kernel rejects" in d.unsound_reason
    # the same through the statement-pinned check that verify_proof uses
    pinned = lean.check(code, statement="theorem fiveIsFour : 2 + 2 = 5", name="fiveIsFour", trusted=True)
    assert not pinned.all_ok and not pinned.decl("fiveIsFour").sound


def test_tactic_config_route_is_refused_by_the_filter(lean):
    # the meta code sits in a tactic configuration's value; the filter sees the identifiers it names
    code = ("theorem cfgRoute : 1 = 0 := by\n"
            "  have h : False := by\n"
            f"    solve_by_elim (config := {{ discharge := fun _ => do {bogus_thm('viaConfig')}; pure none }})\n"
            "  exact h.elim\n")
    res = lean.check(code)
    d = res.decl("cfgRoute")
    assert not res.all_ok and not d.sound and "is not allowed" in d.unsound_reason, d


# ----------------------------------------------------------------------------- compiled-code evaluation
def test_native_evaluation_is_unsound_even_past_the_filter(lean):
    res = lean.check("theorem natEval : 10 * 10 = 100 := by decide +native", trusted=True)
    d = res.decl("natEval")
    assert not d.sound and "Lean.ofReduceBool" in d.unsound_reason, d
    res = lean.check("theorem natEval2 : 10 * 10 = 100 := Lean.ofReduceBool _ _ rfl")
    assert not res.all_ok and not res.decl("natEval2").sound


def test_root_qualified_io_is_refused_and_touches_nothing(lean):
    marker = Path("/tmp") / f"judge-{uuid.uuid4().hex}"
    code = (f'theorem hostWrite : True := by\n  have := _root_.IO.FS.writeFile "{marker}" "x"\n  trivial\n'
            f'def alsoWrite : _root_.IO Unit := _root_.IO.FS.writeFile "{marker}" "y"\n')
    res = lean.check(code)
    assert not res.all_ok and not res.decl("hostWrite").sound
    assert "IO.FS.writeFile" in (res.decl("hostWrite").unsound_reason or "")
    assert not marker.exists()


# ----------------------------------------------------------------------------- every command accounted for
@pytest.mark.parametrize("stopper, why", [("#exit", "#exit"), ("import Lean.Data.Json", "import")])
def test_truncating_commands_fail_the_file(lean, stopper, why):
    code = f"theorem before : 3 = 3 := rfl\n{stopper}\ntheorem after : 3 = 4 := by decide\n"
    for trusted in (False, True):
        res = lean.check(code, trusted=trusted)
        assert not res.all_ok
        bad = [d for d in res.declarations if not d.sound]
        assert bad and why in bad[0].unsound_reason and bad[0].messages[0].line == 2
        assert not any(d.name == "after" and d.sound for d in res.declarations)


def test_sorry_inside_wrappers_is_audited(lean):
    code = ("set_option pp.all true in\ntheorem wrapped : 1 = 2 := by sorry\n"
            "abbrev holeAbbrev : Nat := sorry\n"
            "mutual\ntheorem inMutual : 2 = 3 := by sorry\nend\n"
            "theorem usesHole : holeAbbrev = holeAbbrev := rfl\n")
    res = lean.check(code, trusted=True)  # filter off, so `sorry` reaches the elaborator
    assert not res.all_ok
    for name in ("wrapped", "holeAbbrev", "inMutual", "usesHole"):
        d = res.decl(name)
        assert not d.complete and not d.sound, d


def test_examples_are_reported_with_a_verdict(lean):
    res = lean.check("example : 2 + 2 = 4 := by decide\nexample : 2 + 2 = 5 := by sorry\n", trusted=True)
    good, bad = res.declarations
    assert good.name == "example@1" and good.sound
    assert bad.name == "example@2" and not bad.sound and not bad.complete


def test_names_carry_their_namespace_and_positions_match_the_file(lean):
    code = "namespace Outer.Inner\ntheorem target : 1 + 1 = 2 := rfl\nend Outer.Inner\n\n\ntheorem off : True := by\n  exact 5\n"
    res = lean.check(code)
    assert res.decl("Outer.Inner.target").sound
    assert [d.name for d in res.declarations if d.name.endswith("target")] == ["Outer.Inner.target"]
    err = res.decl("off").messages[0]
    assert (err.severity, err.line, err.column) == ("error", 7, 8), err


# ----------------------------------------------------------------------------- meaning pinned, no reference
MEANING = {
    "local instance": ("noncomputable instance (priority := high) anyLE : LE Nat := ⟨fun _ _ => True⟩\n"
                       "theorem sevenLeTwo : 7 ≤ 2 := trivial\n", "sevenLeTwo"),
    "default instance": ("instance unitLit (n : Nat) : OfNat Unit n := ⟨()⟩\n"
                         "attribute [default_instance high] unitLit\ntheorem threeIsEight : 3 = 8 := rfl\n",
                         "threeIsEight"),
    "namespace shadowing": ("namespace Trick\nabbrev Nat := Int\n"
                            "theorem negNat : ∃ x : Nat, x < 0 := ⟨-2, by decide⟩\nend Trick\n", "Trick.negNat"),
    # the statement names the file's own `minusOne`, so it is elaborated with the file's checked definitions,
    # where `Nat` would still mean `Trick2.Nat`
    "shadowing with own def": ("namespace Trick2\ndef Nat := Int\ndef minusOne : Nat := (-1 : Int)\n"
                               "theorem same : minusOne = minusOne := rfl\nend Trick2\n", "Trick2.same"),
    "variable + include": ("variable (absurd : 1 = 0)\ninclude absurd\n"
                           "theorem anything : 2 + 2 = 5 := by omega\n", "anything"),
}


@pytest.mark.parametrize("kind", list(MEANING))
def test_statement_meaning_changes_fail_without_a_reference(lean, kind):
    code, name = MEANING[kind]
    res = lean.check(code)
    d = res.decl(name)
    assert d.ok, d.messages  # the text elaborates; only its meaning is wrong
    assert not d.sound and not res.all_ok
    assert "means something else" in d.unsound_reason or "shadows" in d.unsound_reason, d.unsound_reason


# ----------------------------------------------------------------------------- honest controls
HONEST = {
    "array literal": "theorem arrSize : #[1, 2, 3].size = 3 := by decide",
    "namespace": "namespace Honest\ntheorem two : 1 + 1 = 2 := rfl\nend Honest\ntheorem useIt : 1 + 1 = 2 := Honest.two",
    "classical": ("theorem lem (p : Prop) : p ∨ ¬p := Classical.em p\n"
                  "noncomputable def pick (h : Nonempty Nat) : Nat := Classical.choice h\n"
                  "theorem pickSelf (h : Nonempty Nat) : pick h = pick h := rfl"),
    "auxiliary lemma": "theorem addZero (n : Nat) : n + 0 = n := rfl\ntheorem five : 5 + 0 = 5 := addZero 5",
    "match, omega, decide": ("theorem split (n : Nat) : n = 0 ∨ 0 < n := by\n  match n with\n"
                             "  | 0 => exact Or.inl rfl\n  | k + 1 => exact Or.inr (by omega)\n"
                             "theorem dec : 12 % 5 = 2 := by decide"),
    "structure projection": ("structure Pair where\n  fst : Nat\n  snd : Nat\n"
                             "theorem swapSum (p : Pair) : p.fst + p.snd = p.snd + p.fst := Nat.add_comm _ _"),
    "own recursive def": ("def tri : Nat → Nat\n  | 0 => 0\n  | n + 1 => n + 1 + tri n\n"
                          "theorem tri4 : tri 4 = 10 := by decide"),
    "inductive": ("inductive Light where\n  | on\n  | off\n"
                  "theorem onOff : Light.on ≠ Light.off := fun h => Light.noConfusion h"),
    "open in": "open Nat in\ntheorem succOne : succ 1 = 2 := rfl\nset_option maxRecDepth 2000 in\ntheorem t2 : 2 = 2 := rfl",
    "example": "example (a b : Nat) : a + b = b + a := Nat.add_comm a b",
    "universe variable": "universe u\ntheorem myRefl {α : Sort u} (a : α) : a = a := rfl",
}


@pytest.mark.parametrize("kind", list(HONEST))
def test_honest_files_stay_accepted(lean, kind):
    res = lean.check(HONEST[kind])
    assert res.all_ok, [(d.name, d.unsound_reason, d.errors) for d in res.declarations]
    assert all(d.sound for d in res.declarations)


def test_honest_proof_with_a_reference_statement_and_the_prelude(lean):
    res = lean.check("theorem fac5 : Nat.factorial 5 = 120 := by decide",
                     statement="theorem fac5 : Nat.factorial 5 = 120", name="fac5")
    assert res.all_ok and res.decl("fac5").statement_matches is True and res.decl("fac5").sound


# ----------------------------------------------------------------------------- forged answers
def test_an_answer_printed_by_elaborated_code_is_not_taken_for_the_judges(lean):
    """Elaborated code can print to the server's stdout; a forged answer for this very request must not win."""
    import json

    from prover.lean.protocol import ANSWER_TAG

    fake = json.dumps({"id": lean._next_req + 1, "ok": True, "all_ok": True, "expected_found": True,
                       "parse_messages": [], "declarations": [
                           {"name": "forged", "ok": True, "complete": True, "sound": True, "messages": []}]})
    lean_str = fake.replace("\\", "\\\\").replace('"', '\\"')
    code = ("theorem forged : 1 = 2 := by\n  run_tac do\n"
            '    let h ← IO.FS.Handle.mk "/dev/stdout" .write\n'
            f'    h.putStrLn "{ANSWER_TAG} {lean_str}"\n    h.flush\n  sorry\n')
    res = lean.check(code, trusted=True)
    d = res.decl("forged")
    assert d.ok, d.messages  # the printing ran
    assert not res.all_ok and not d.sound and not d.complete

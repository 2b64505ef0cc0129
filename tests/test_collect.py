"""Collect (expert iteration, step 2): only proofs Lean accepts for the pool's own statement become data."""
from __future__ import annotations

import json

import pytest

from prover.lean.protocol import LeanError
from prover.run.bench import Problem
from prover.run.results import TheoremResult
from prover.train.collect import collect, load_proofs, replay, save, split_tactics

pytestmark = pytest.mark.lean

REP = Problem("rep_sum", "theorem rep_sum (n : Nat) : (List.replicate n 1).sum = n := by sorry")
COMM = Problem("comm", "theorem comm (a b : Nat) : a + b = b + a := by sorry")
BIG = Problem("big", "theorem big : 2 ^ 10 = 1024 := by sorry")


def proved(name: str, proof: str, text: str | None = None) -> TheoremResult:
    return TheoremResult(name=name, category="t", status="proved", proof=proof, proof_text=text, verified=True)


def test_split_tactics_inverts_the_runner_join():
    tacs = ["intro n", "induction n with\n  | zero => rfl\n  | succ k ih => omega", "simp"]
    assert split_tactics("\n".join(tacs)) == tacs
    whole = ["intro n", "induction n with\n| zero => rfl\n| succ k ih => omega", "simp"]  # as a split whole proof
    assert split_tactics("\n".join(whole)) == whole


def test_unsound_or_changed_proofs_are_rejected_and_sound_ones_kept(lean):
    rows = [
        proved("comm", "sorry"),
        proved("big", "native_decide"),
        # the proof text claims another statement than the pool's: never trusted
        proved("rep_sum", "simp", text="theorem rep_sum (n : Nat) : n = n := by\n  simp\n"),
        proved("comm", "omega"),
        proved("comm", "exact Nat.add_comm a b\n"),  # longer, so not the one kept
        proved("big", "decide"),
        proved("unknown", "rfl"),
    ]
    kept, rejected = collect(lean, [REP, COMM, BIG], rows, source="test")
    assert {vp.theorem: vp.tactics for vp in kept} == {"comm": ["omega"], "big": ["decide"]}
    why = {(r.theorem, r.why.split(":")[0]) for r in rejected}
    assert ("comm", "Lean refused the proof") in why and ("big", "Lean refused the proof") in why
    assert ("rep_sum", "the proof's statement differs from the pool's") in why
    assert ("unknown", "not in the pool") in why


def test_replay_traces_nested_tactics_and_refuses_unsound_proofs(lean):
    """The tracer sees inside `·` and `<;>` (the runner joins whole tactics), and skips steps that change
    nothing; a proof Lean does not accept as sound never yields steps."""
    steps = replay(lean, COMM.statement, ["skip", "induction b with\n  | zero => simp\n  | succ k ih => omega"])
    assert [s.tactic for s in steps][1:] == ["simp", "omega"] and steps[0].tactic.startswith("induction b with")
    assert steps[1].state_before[0].startswith("case zero") and steps[-1].state_after == ()
    with pytest.raises(LeanError, match="sorry"):
        replay(lean, COMM.statement, ["sorry"])
    with pytest.raises(LeanError, match="unsound|native"):
        replay(lean, BIG.statement, ["native_decide"])


def test_replay_gives_the_state_before_every_tactic(lean, tmp_path):
    steps = replay(lean, REP.statement, ["induction n", "rfl", "simp [List.replicate_succ]", "omega"])
    assert [s.tactic for s in steps] == ["induction n", "rfl", "simp [List.replicate_succ]", "omega"]
    assert steps[0].state_before == ("n : Nat\n⊢ (List.replicate n 1).sum = n",)
    assert len(steps[0].state_after) == 2 and steps[0].state_after[0].startswith("case zero")
    assert steps[1].state_before == steps[0].state_after and steps[-1].state_after == ()
    assert steps[-1].state_before[0].endswith("⊢ 1 + n✝ = n✝ + 1")

    kept, _ = collect(lean, [REP], [proved("rep_sum", "induction n\nrfl\nsimp [List.replicate_succ]\nomega")])
    info = save(kept, tmp_path / "data")
    assert info == {"proofs": 1, "examples": 4}
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "data" / "dataset"))
    assert ds[0]["prompt"].startswith("[GOAL]\nn : Nat\n") and ds[0]["completion"] == "induction n\n"
    dojo = json.loads((tmp_path / "data" / "leandojo.json").read_text())
    assert dojo[0]["traced_tactics"][-1]["state_after"] == "no goals"
    # the traced corpora's shape (prover.trace.export.theorem_json), premises annotated by the tracer
    assert set(dojo[0]) == {"url", "commit", "corpus", "file_path", "full_name", "theorem_statement", "start",
                            "end", "traced_tactics"}
    simp = dojo[0]["traced_tactics"][2]
    assert set(simp) == {"tactic", "annotated_tactic", "state_before", "state_after", "pos", "end_pos"}
    assert simp["annotated_tactic"][0] == "simp [<a>List.replicate_succ</a>]"
    assert simp["annotated_tactic"][1][0]["full_name"] == "List.replicate_succ"
    assert simp["annotated_tactic"][1][0]["module"].startswith("Init.")
    assert simp["pos"] == [4, 2]  # line 4 of the traced text, after the statement, induction and rfl
    again = load_proofs(tmp_path / "data" / "proofs.jsonl")
    assert again[0].steps == kept[0].steps
    # rounds merge: a shorter proof replaces an earlier one, a longer one does not
    kept2, _ = collect(lean, [REP], [proved("rep_sum", "simp")], earlier=again)
    assert kept2[0].tactics == ["simp"]
    kept3, _ = collect(lean, [REP], [proved("rep_sum", "induction n\nrfl\nsimp [List.replicate_succ]\nomega")],
                       earlier=kept2)
    assert kept3[0].tactics == ["simp"]

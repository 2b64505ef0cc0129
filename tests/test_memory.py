"""The memory (retrieval) learner: contract, renamed goals, learning a pair, the file formats it reads, and
with the real Lean an expert-iteration round whose new pair the next round's prover uses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.generate import GoalRequest, MixGenerator, build_generator
from prover.generate.memory import MemoryError_, MemoryGenerator, Pair, adapt_tactic, load_pairs
from prover.generate.goals import parse_goal

from test_generators import assert_contract

STORED = Pair("a b : Nat\nh₀ : 0 < a ∧ 0 < b\nh₁ : a + b = 20\nh₂ : a = 3 * b\n⊢ a - b = 10",
              "(obtain ⟨ha, hb⟩ := h₀; subst h₂; omega)")
OTHER = Pair("n : Nat\nh : n % 7 = 3\n⊢ (2 * n + 1) % 7 = 0", "rw [Nat.add_mod, h.symm]")
RENAMED = "x y : Nat\nhpos : 0 < x ∧ 0 < y\nhsum : x + y = 20\nhrel : x = 3 * y\n⊢ x - y = 10"


def test_memory_proposes_a_stored_tactic_for_a_renamed_goal_with_names_adapted():
    mem = MemoryGenerator([OTHER, STORED])
    (cands,) = mem.generate([GoalRequest((RENAMED, "⊢ other goal"))], 4)
    assert cands[0].tactic == "(obtain ⟨ha, hb⟩ := hpos; subst hrel; omega)"
    assert cands[0].logprob == pytest.approx(0.0, abs=1e-9)  # the same goal up to names: similarity 1
    assert cands[0].source == "memory"
    assert all(c.logprob < cands[0].logprob for c in cands[1:])


def test_adapt_tactic_maps_names_by_type_and_keeps_projections():
    stored = parse_goal("n : Nat\nh : n % 7 = 3\n⊢ n = n")
    current = parse_goal("k : Nat\nhk : k % 7 = 3\n⊢ k = k")
    assert adapt_tactic("rw [h.symm]; exact Nat.mod_lt n", stored, current) == "rw [hk.symm]; exact Nat.mod_lt k"
    assert adapt_tactic("omega", stored, current) == "omega"


def test_memory_learns_a_new_pair_and_keeps_the_contract(tmp_path):
    mem = MemoryGenerator([OTHER])
    requests = [GoalRequest((RENAMED,)), GoalRequest(()), GoalRequest(("⊢ True",))]
    before = mem.generate(requests, 2)
    assert_contract(before, requests, 2)
    assert "omega" not in before[0][0].tactic
    assert mem.add([STORED]) == 1 and mem.add([STORED]) == 0  # a duplicate is not learned twice
    after = mem.generate(requests, 2)
    assert_contract(after, requests, 2)
    assert after[0][0].tactic.endswith("omega)") and after[1] == []
    mem.save(tmp_path / "m.jsonl")
    again = MemoryGenerator.from_path(tmp_path / "m.jsonl")
    assert len(again) == 2 and again.generate(requests, 2) == after


def test_loader_reads_traced_jsonl_proofs_and_leandojo_and_names_bad_files(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "traced.jsonl").write_text(json.dumps({"state_before": STORED.state + "\n\n⊢ b = b",
                                                             "tactic": STORED.tactic}) + "\n")
    (tmp_path / "t" / "proofs.jsonl").write_text(json.dumps(
        {"theorem": "x", "steps": [{"state_before": [OTHER.state], "tactic": OTHER.tactic, "state_after": []}]}) + "\n")
    (tmp_path / "t" / "leandojo.json").write_text(json.dumps(
        [{"full_name": "y", "traced_tactics": [{"state_before": "⊢ 1 = 1", "tactic": "rfl"}]}]))
    pairs = load_pairs(tmp_path / "t")
    assert {p.tactic for p in pairs} == {STORED.tactic, OTHER.tactic, "rfl"}
    assert next(p for p in pairs if p.tactic == STORED.tactic).state == STORED.state  # the main goal only
    gen = build_generator("memory+fixed", options={"memory": str(tmp_path / "t"), "memory_k": 3})
    assert isinstance(gen, MixGenerator) and len(gen.parts[0]) == 3 and gen.parts[0].k == 3
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(MemoryError_, match="bad.jsonl"):
        load_pairs(tmp_path / "bad.jsonl")
    with pytest.raises(MemoryError_, match="not found"):
        build_generator("memory", options={"memory": str(tmp_path / "missing.jsonl")})


POOL = [("m_lt", "theorem m_lt (n : Nat) (h : n < 3) : n < 5 := by sorry"),
        ("m_four", "theorem m_four : 2 + 2 = 4 := by sorry")]


@pytest.mark.lean
def test_an_iteration_round_learns_pairs_the_next_round_uses(lean, tmp_path):
    from prover.run.results import read_results
    from prover.search import Budget
    from prover.train import iteration as it

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"name": n, "core_statement": s, "category": "toy"}) + "\n" for n, s in POOL))
    cfg = it.IterationConfig(pool=pool, bench=pool, root=tmp_path / "iterations", generator="memory+fixed",
                             budget=Budget(max_expansions=2, samples_per_expansion=2, wall_seconds=30),
                             progress=False)
    m1 = it.run_iteration(cfg, envs=[lean])
    d1 = tmp_path / "iterations" / "001"
    assert m1["metrics"]["train"]["skipped"]  # no model in the generator: nothing to train
    assert m1["metrics"]["collect"]["memory_added"] >= 2
    learned = load_pairs(d1 / "data" / "memory.jsonl")
    assert {p.state for p in learned} >= {"n : Nat\nh : n < 3\n⊢ n < 5", "⊢ 2 + 2 = 4"}
    first = read_results(d1 / "prove" / "results.jsonl")
    assert all("memory" not in (r.extra or {}).get("proof_sources", []) for r in first.values())  # empty memory

    m2 = it.run_iteration(cfg, envs=[lean])
    d2 = tmp_path / "iterations" / "002"
    second = read_results(d2 / "prove" / "results.jsonl")
    assert all(r.proved for r in second.values())
    # the round-1 pair is the most similar goal (similarity 1 beats the fixed list's prior): memory proposed it
    assert all((r.extra or {}).get("proof_sources") == ["memory"] for r in second.values())
    assert m2["metrics"]["collect"]["memory_before"] == m1["metrics"]["collect"]["memory_pairs"]


def test_preflight_takes_the_name_traced_and_names_a_missing_memory_file(tmp_path):
    from prover.run.runner import RunError, check_generator_spec

    check_generator_spec("memory+fixed", {"memory": "traced"})  # data/traced/, as load_pairs reads it
    with pytest.raises(RunError, match="no such file or folder: .*nowhere.jsonl"):
        check_generator_spec("memory+fixed", {"memory": f"traced,{tmp_path / 'nowhere.jsonl'}"})


# ------------------------------------------------------------------------------------------- whole proofs
ROOT_STORED = "a b : Nat\nh₀ : a + b = 20\nh₁ : a = 3 * b\n⊢ a - b = 10"
ROOT_RENAMED = "x y : Nat\nhsum : x + y = 20\nhrel : x = 3 * y\n⊢ x - y = 10"
TWO_STEPS = ("have hb : b = 5 := by omega", "rw [h₁, hb]")


def test_memory_proposes_a_stored_two_step_proof_at_the_root_of_a_renamed_theorem():
    from prover.generate.memory import Proof

    mem = MemoryGenerator([OTHER], proofs=[Proof(ROOT_STORED, TWO_STEPS)])
    root, inner = mem.generate([GoalRequest((ROOT_RENAMED,)), GoalRequest((ROOT_RENAMED,), history=("skip",))], 4)
    assert_contract([root, inner], [None, None], 4)
    (path,) = [c for c in root if c.source == "memory-proof"]
    # one mapping for the whole proof: `b` is `y` and `h₁` is `hrel` in both steps; `hb`, made by the proof, stays
    assert path.path == ("have hb : y = 5 := by omega", "rw [hrel, hb]")
    assert path.logprob == pytest.approx(0.0, abs=1e-9) and root[0] is path  # the same root up to names
    assert all(not c.steps for c in inner)  # below the root only single tactics


def test_memory_keeps_whole_proofs_from_collect_and_leandojo_and_saves_them(tmp_path):
    nested = {"state_before": ["⊢ inner"], "tactic": "omega", "pos": [3, 4], "end_pos": [3, 9]}
    (tmp_path / "proofs.jsonl").write_text(json.dumps(
        {"theorem": "x", "tactics": list(TWO_STEPS),
         "steps": [{"state_before": [ROOT_STORED], "tactic": TWO_STEPS[0], "state_after": [], "pos": [2, 2],
                    "end_pos": [2, 30]}, {**nested, "pos": [2, 25], "end_pos": [2, 30]},
                   {"state_before": ["⊢ later"], "tactic": TWO_STEPS[1], "pos": [3, 2], "end_pos": [3, 13]}]}) + "\n")
    (tmp_path / "leandojo.json").write_text(json.dumps([{"full_name": "y", "traced_tactics": [
        {"state_before": "⊢ 2 = 2 ∧ 1 = 1", "tactic": "constructor", "pos": [2, 2], "end_pos": [2, 13]},
        {"state_before": "⊢ 2 = 2", "tactic": "· rfl", "pos": [3, 2], "end_pos": [3, 7]},
        {"state_before": "⊢ 2 = 2", "tactic": "rfl", "pos": [3, 4], "end_pos": [3, 7]},  # nested in `· rfl`
        {"state_before": "⊢ 1 = 1", "tactic": "· rfl", "pos": [4, 2], "end_pos": [4, 7]}]}]))
    mem = MemoryGenerator.from_path(tmp_path)
    assert {(p.root, p.tactics) for p in mem.proofs} == {
        (ROOT_STORED, TWO_STEPS), ("⊢ 2 = 2 ∧ 1 = 1", ("constructor", "· rfl", "· rfl"))}
    assert len(mem) == 3 + 4  # every step is still a pair, nested ones included
    mem.save(tmp_path / "out" / "memory.jsonl")
    again = MemoryGenerator.from_path(tmp_path / "out" / "memory.jsonl")
    assert len(again) == len(mem)
    assert {(p.root, p.tactics) for p in again.proofs} == {(p.root, p.tactics) for p in mem.proofs}
    assert again.add_proofs(mem.proofs) == 0  # a duplicate is not learned twice
    assert load_pairs(tmp_path / "out" / "memory.jsonl") == again.pairs  # the proof rows add no pairs


def test_a_stored_proof_proves_its_theorem_in_one_expansion_of_the_search():
    from fakes import ToyEnv
    from prover.generate.memory import Proof
    from prover.search import BestFirstSearch, Budget

    mem = MemoryGenerator(proofs=[Proof("⊢ 3", ("dec", "dec", "dec", "zero"))])
    env = ToyEnv()
    res = BestFirstSearch(env, mem, Budget(max_expansions=4), debug=True).search("theorem t : 3", "t")
    assert res.status == "proved" and res.proof == ["dec", "dec", "dec", "zero"] and res.expansions == 1
    assert res.proof_sources == ["memory-proof"] * 4 and env.calls == 4


@pytest.mark.lean
def test_a_stored_two_step_proof_proves_a_renamed_theorem_with_lean(lean):
    from prover.generate.memory import Proof
    from prover.search import BestFirstSearch, Budget

    stored = Proof(ROOT_STORED, ("have hb : b = 5 := by omega",
                                 "induction a with\n| zero => omega\n| succ k ih => omega"))  # `|` at the step's column
    mem = MemoryGenerator(proofs=[stored])
    res = BestFirstSearch(lean, mem, Budget(max_expansions=1, samples_per_expansion=4, wall_seconds=120)).search(
        "theorem mem_renamed (x y : Nat) (hsum : x + y = 20) (hrel : x = 3 * y) : x - y = 10 := by sorry",
        "mem_renamed")
    assert res.status == "proved" and res.verified and res.expansions == 1 and res.tactic_calls == 2
    assert res.proof == ["have hb : y = 5 := by omega", "induction x with\n| zero => omega\n| succ k ih => omega"]
    assert res.proof_sources == ["memory-proof"] * 2

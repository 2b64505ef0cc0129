"""The structural generator: goal parsing, its candidates by goal shape, the generator contract, closers-first
search (toy environment), and with the real Lean: a two-step theorem the hammer alone cannot prove, and
`exact?`'s suggestion written into the proof."""
from __future__ import annotations

import pytest

from fakes import ScriptedGenerator, ToyEnv
from prover.generate import FixedGenerator, GoalRequest, MixGenerator, TacticGenerator, build_generator
from prover.generate.goals import binder, bounds, parse_goal, split_top
from prover.generate.structural import StructuralGenerator
from prover.search import BestFirstSearch, Budget
from prover.search import best_first

from test_generators import assert_contract

GOAL = ("a b n : Nat\n"
        "h₀ : 1 ≤ a ∧ a ≤ 9\n"
        "h₁ : ∃ r,\n    r * r = 10 * b + 6\n"
        "h₂ : n = 10 * a + b\n"
        "⊢ ∀ i ≤ n, i = 9 ∨ b = 1")


def test_parse_goal_reads_groups_continuations_and_target():
    g = parse_goal("case succ\n" + GOAL)
    assert g.case == "succ"
    assert g.hyps[0].names == ("a", "b", "n") and g.hyps[0].type == "Nat"
    assert g.named()[4] == ("h₁", "∃ r, r * r = 10 * b + 6")  # the continuation line is joined
    assert g.target == "∀ i ≤ n, i = 9 ∨ b = 1"
    assert g.fresh("a") == "a_1" and g.fresh("k") == "k"
    assert [v for v, _ in g.variables()] == ["a", "b", "n"]
    assert bounds(g, "a") == (1, 9) and bounds(g, "b") == (None, None)
    assert parse_goal("⊢ 1 + 1 = 2").target == "1 + 1 = 2" and parse_goal("⊢ 1 + 1 = 2").hyps == ()


def test_split_top_and_binders_respect_brackets_and_binder_scope():
    assert split_top("(a ∧ b) ∧ c", "∧") == ["(a ∧ b)", "c"]
    assert split_top("p ∧ ∀ x, q x ∧ r", "∧") == ["p", "∀ x, q x ∧ r"]  # the binder's body is not top level
    assert split_top("a = b", "∧") == ["a = b"]
    assert binder("∀ (x y : Nat), x = y") == ("∀", ["x", "y"], "x = y")
    assert binder("∀ i ≤ p - 2, P i") == ("∀", ["i"], "i ≤ p - 2 → P i")
    assert binder("∃ n, n < 3") == ("∃", ["n"], "n < 3") and binder("a ∧ b") is None


def test_structural_candidates_follow_the_goal_shape():
    gen = StructuralGenerator()
    assert isinstance(gen, TacticGenerator)
    tactics = [c.tactic for c in gen.propose([GOAL])]
    assert "intro i h" in tactics  # binders keep their names; the bound becomes a named hypothesis
    (split,) = [c.tactic for c in gen.propose(["a : Nat\nh : 1 ≤ a ∧ a ≤ 3\n⊢ a * a ≠ 5"])
                if c.tactic.startswith("rcases (show") and "try" not in c.tactic]
    assert split.startswith("rcases (show a = 1 ∨ a = 2 ∨ a = 3 by omega) with rfl | rfl | rfl <;>")
    hyp = [c.tactic for c in gen.propose(["x y : Nat\nh : x = y + 1\nhd : x < 3 ∨ y > 7\nhe : ∃ k, y = 2 * k\n"
                                          "⊢ x ∣ y"])]
    assert "subst h" in hyp and "rcases hd with hd | hd" in hyp and "obtain ⟨k, hk⟩ := he" in hyp
    ex = [c.tactic for c in gen.propose(["⊢ ∃ m, m * m = 49 ∧ 5 < m"])]
    assert "exact ⟨49, by first | omega | decide | simp_all | grind⟩" in ex
    assert any(t.startswith("exact (show ∃ m, m < 20 ∧ (m * m = 49 ∧ 5 < m) by decide)") for t in ex)
    conj = [c.tactic for c in gen.propose(["⊢ 1 < 2 ∧ 2 < 3 ∧ 3 < 4"])]
    assert "constructor" in conj and any(t.startswith("refine ⟨?_, ?_, ?_⟩ <;>") for t in conj)
    ind = [c.tactic for c in gen.propose(["n : Nat\n⊢ 3 ∣ n ^ 3 + 2 * n"])]
    assert "induction n" in ind
    assert gen.propose([]) == []


def test_structural_keeps_the_generator_contract():
    gen = build_generator("structural+fixed")
    assert isinstance(gen, MixGenerator) and gen.name == "structural+fixed"
    requests = [GoalRequest((GOAL,)), GoalRequest(("⊢ True",)), GoalRequest(())]
    out = gen.generate(requests, 2)
    assert_contract(out, requests)  # rule-based like fixed: the whole list, distinct, sorted, logprob <= 0
    assert any(c.source == "structural" for c in out[0])
    s = gen.parts[0]
    assert s.stats.calls == 1 and s.stats.prompts == 3 and s.stats.candidates == sum(
        len(c) for c in s.generate(requests, 2))


def test_closers_first_skips_the_generator_where_a_closer_finishes(monkeypatch):
    monkeypatch.setattr(best_first, "CLOSERS", ("zero",))
    env = ToyEnv()
    gen = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.2)])
    res = BestFirstSearch(env, gen, Budget(max_expansions=10, closers_first=1)).search("theorem t : 2", "t")
    assert res.status == "proved" and res.proof == ["dec", "dec", "zero"]
    assert res.closed_by_closer == 1 and res.proof_sources[-1] == "closer"
    assert gen.batches == [1, 1]  # asked for ⊢ 2 and ⊢ 1, never for ⊢ 0
    # without the option the generator is asked for every node
    gen2 = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.2)])
    res2 = BestFirstSearch(ToyEnv(), gen2, Budget(max_expansions=10)).search("theorem t : 2", "t")
    assert res2.proof == res.proof and gen2.batches == [1, 1, 1] and res2.closed_by_closer == 0


TWO_STEP = "theorem two_step : ∀ x : Nat, x * x * x = 64 → x < 6 → x = 4 := by sorry"


@pytest.mark.lean
def test_structural_search_proves_what_the_hammer_cannot(lean):
    budget = Budget(max_expansions=6, samples_per_expansion=4, wall_seconds=60, closers_first=1)
    hammer = BestFirstSearch(lean, FixedGenerator(), budget).search(TWO_STEP, "two_step")
    assert hammer.status != "proved"
    res = BestFirstSearch(lean, build_generator("structural+fixed"), budget).search(TWO_STEP, "two_step")
    assert res.status == "proved" and res.verified, res
    assert len(res.proof) >= 2 and res.proof[0] == "intro x h h_1"
    assert "structural" in res.proof_sources
    assert res.proof_text.startswith("theorem two_step")


@pytest.mark.lean
def test_exact_search_suggestion_replaces_exact_query_in_the_proof(lean):
    st = "theorem rr (l : List Nat) : l.reverse.reverse = l := by sorry"
    chk = lean.check("theorem rr (l : List Nat) : l.reverse.reverse = l := by\n  exact?\n")
    msgs = [(m.severity, m.line, m.text) for d in chk.declarations for m in d.messages]
    assert any("Try this" in t for _, _, t in msgs), msgs  # Lean says which lemma it found
    res = BestFirstSearch(lean, FixedGenerator(["exact?"]), Budget(max_expansions=2, wall_seconds=60)).search(st, "rr")
    assert res.status == "proved" and res.verified
    assert "exact?" not in res.proof_text and res.proof[0].startswith("exact")

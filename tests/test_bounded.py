"""Bounded evaluation and the goal-shape moves added beside it (definitions unfolded, casts, `n = m + 1`,
induction with a hammer on each case): which candidates each goal shape gets, and with the real Lean, for
each kind a theorem the hammer alone does not prove and the structural search does."""
from __future__ import annotations

import pytest

from prover.generate import FixedGenerator, build_generator
from prover.generate.bounded import box_moves, finite_set_moves, pin_moves, refute_moves, witness_moves
from prover.generate.evaluate import NotEvaluable, compile_expr, satisfying
from prover.generate.goals import parse_goal
from prover.generate.structural import (StructuralGenerator, cast_moves, closed_moves, definition_moves,
                                        induction_moves, succ_moves, unfold_moves)
from prover.search import BestFirstSearch, Budget


def tactics(moves, goal: str) -> list[str]:
    return [c.tactic for c in moves(parse_goal(goal))]


def test_box_bounds_every_variable_the_hypotheses_tie_together():
    (small, mid, large) = tactics(box_moves, "b : Nat\nh₀ : b < 10\nr : Nat\nhr : r * r = 10 * b + 6\n⊢ b = 3 ∨ b = 1")
    assert small.startswith("(have hb_b : b < 10 := (by first | omega | (have := Nat.le_mul_self b; omega)); "
                            "have hb_r : r < 7 := ")
    assert "∀ b, b < 10 → ∀ r, r < 7 → (b < 10) → (r * r = 10 * b + 6) → (b = 3 ∨ b = 1) by" in small
    assert small.endswith(") b hb_b r hb_r h₀ hr)")
    assert "∀ r, r < 11" in mid and "∀ r, r < 101" in large  # the square of the largest literal: what `r * r = 10 * b + 6` allows
    # a variable of the target that no hypothesis bounds: no box
    assert tactics(box_moves, "x y : Nat\nh : x < 3\n⊢ x + y = y + x") == []


def test_refutation_below_a_lower_bound():
    (t,) = tactics(refute_moves, "t : Nat\nht : 0 < t ∧ t * t % 7 = 2\n⊢ 3 ≤ t")
    assert t.startswith("exact Nat.le_of_not_lt fun hlt => (show ∀ t, t < 3 → (0 < t ∧ t * t % 7 = 2) → False by")
    assert t.endswith(" t hlt ht")
    assert "t < 4" in tactics(refute_moves, "t : Nat\n⊢ t > 3")[0]  # `3 < t` is `4 ≤ t`
    assert tactics(refute_moves, "t : Int\n⊢ 3 ≤ t") == []  # only Nat is enumerated


def test_finite_set_given_by_membership_is_a_filtered_range():
    goal = "S : List Nat\nhS : S.Nodup\nh₀ : ∀ (n : Nat), n ∈ S ↔ n ∣ 36\n⊢ S.sum = 91"
    ts = tactics(finite_set_moves, goal)
    assert len(ts) == 2 and ts[1].startswith("set_option maxRecDepth 100000 in exact") and "decide +kernel" in ts[1]
    assert ts[0].startswith("exact (List.Perm.sum_nat (show List.Perm S ((List.range 37).filter (fun a => decide (a ∣ 36))) from List.perm_iff_count.2 fun a =>")
    assert "((List.range 37).filter (fun a => decide (a ∣ 36)))" in ts[0] and "rw [h₀ a]" in ts[0]
    assert tactics(finite_set_moves, goal.replace("hS : S.Nodup\n", "")) == []  # no Nodup: not a set
    assert tactics(finite_set_moves, goal.replace("n ∣ 36", "n ∣ m").replace("S : List Nat", "m : Nat\nS : List Nat")) == []
    assert tactics(finite_set_moves, goal.replace("S.sum", "S.length"))[0].startswith(
        "exact (show List.Perm S ((List.range 37).filter (fun a => decide (a ∣ 36))) from List.perm_iff_count.2 fun a =>")


def test_evaluator_has_nat_semantics_and_refuses_what_it_cannot_read():
    assert compile_expr("2 - 5 + 1 = 1 ∧ ¬ 3 ∣ 7 ∧ 7 % 3 = 1")({}) is True  # truncated subtraction
    assert compile_expr("2 ^ 3 ^ 2")({}) == 512 and compile_expr("10 - 2 - 3")({}) == 5
    assert compile_expr("x / 0 + x % 0 = x")({"x": 7}) is True
    assert compile_expr("p → q ↔ ¬ p ∨ q")({"p": True, "q": False}) is True
    for bad in ("Nat.gcd 4 6 = 2", "(x : Int) = 1", "2 ^ 100000 ^ 100"):
        with pytest.raises(NotEvaluable):
            compile_expr(bad)({"x": 1})
    assert satisfying(["r * r = 196"], "r", 197) == [14]
    assert satisfying(["x % 2 = 0"], "x", 100) is None  # more values than the limit
    assert satisfying(["List.length l = 2"], "x", 10) is None


def test_pinned_variables_and_witnesses_come_from_evaluation():
    (pin,) = tactics(pin_moves, "r : Nat\nhr : r * r = 196\nS : List Nat\n⊢ S.sum = r")
    assert pin == ("(have hb : r < 197 := (by first | omega | (have := Nat.le_mul_self r; omega)); obtain rfl : "
                   "r = 14 := (show ∀ r, r < 197 → (r * r = 196) → r = 14 by set_option maxRecDepth 100000 in "
                   "decide) r hb hr)")
    # several bounds to try: the smallest first (the time `decide` takes grows with the bound)
    pins = pin_moves(parse_goal("b : Nat\nh₀ : 0 < b\nh₁ : 3 * b ^ 2 + 2 * b + 1 = 57\n⊢ b = 4"))
    assert [c.tactic.split(" := ")[0] for c in pins] == ["(have hb : b < 58"]  # 3250: past DECIDE_MAX
    (two,) = tactics(pin_moves, "x : Nat\nh : x < 10\nh' : x * x % 5 = 1\n⊢ x = x")
    assert "x = 1 ∨ x = 4 ∨ x = 6 ∨ x = 9 by" in two and two.endswith("with rfl | rfl | rfl | rfl)")
    assert tactics(witness_moves, "⊢ ∃ m, m * m = 4489 ∧ 5 < m")[0] == "exact ⟨67, by decide⟩"
    assert tactics(witness_moves, "x : Nat\n⊢ ∃ m, m = x") == []


def test_definitions_casts_successors_and_induction_candidates():
    (step, closed) = tactics(definition_moves, "u : Nat → Nat\nh₀ : ∀ (n : Nat), u n = 2 * n + 2\n⊢ u 3 = 8")
    assert step == "obtain rfl : u = fun n => 2 * n + 2 := funext fun n => h₀ n"
    assert closed.startswith(f"({step}; first | decide")
    two = tactics(definition_moves, "s : Nat → Nat → Nat\nh : ∀ (a b : Nat), s a b = a ^ b + b\n⊢ s 2 3 = 11")
    assert "obtain rfl : s = fun a b => a ^ b + b := funext fun a => funext fun b => h a b" in two
    # a recurrence is not a definition
    assert tactics(definition_moves, "u : Nat → Nat\nh : ∀ (n : Nat), u n = u (n - 1) + 1\n⊢ u 3 = 3") == []
    assert "decide +kernel" in tactics(closed_moves, "⊢ (1 : Rat) / 2 + 1 / 2 = 1")
    assert tactics(closed_moves, "x : Nat\n⊢ x = x") == []
    assert tactics(cast_moves, "a b : Nat\nh : 5 / 8 * ↑b = ↑a + 7\n⊢ a = 42") == [
        "exact_mod_cast (show ((a : Rat)) = 42 by grind)"]
    assert tactics(succ_moves, "n k : Nat\nh₀ : 0 < n ∧ 0 < k\n⊢ n.choose k = (n - 1).choose k") == [
        "obtain ⟨n, rfl⟩ : ∃ m, n = m + 1 := ⟨n - 1, by omega⟩"]
    assert tactics(unfold_moves, "m k : Nat\n⊢ (m + 1).choose (k + 1) = m.choose k") == [
        "(simp [Nat.choose]; first | omega | decide | simp_all | grind)"]
    ind = tactics(induction_moves, "n : Nat\nu : Nat → Nat\nh₁ : ∀ (n : Nat), u (n + 1) = 2 * u n\n⊢ u n = 2 ^ n")
    assert any("(try rw [h₁]); (try rw [ih]); have := Nat.lt_pow_self (n := k + 1) (show 1 < 2 by decide)" in t
               for t in ind)


def test_structural_generator_includes_the_new_kinds():
    gen = StructuralGenerator()
    out = [c.tactic for c in gen.propose(["S : List Nat\nhS : S.Nodup\nh₀ : ∀ (n : Nat), n ∈ S ↔ n ∣ 36\n"
                                          "⊢ S.sum = 91"])]
    assert any(t.startswith("exact (List.Perm.sum_nat") for t in out)


# Each: a theorem (not from any benchmark) that the fixed hammer does not prove, and the kind of step that does.
HARD = {
    "box": "theorem box_t (b r : Nat) (h₀ : b < 5) (hr : r * r = 4 * b + 9) : b = 0 ∨ b = 4 := by sorry",
    "refute": "theorem refute_t (t : Nat) (h : 0 < t ∧ t * t % 7 = 2) : 3 ≤ t := by sorry",
    "finite_set": "theorem fset_t (S : List Nat) (hS : S.Nodup) (h : ∀ n, n ∈ S ↔ n ∣ 12) : S.sum = 28 := by sorry",
    "definition": "theorem def_t (f : Nat → Nat) (h : ∀ n, f n = 3 * n + 1) : "
                  "((List.range 30).map f).sum = 1335 := by sorry",
    "cast": "theorem cast_t (a b : Nat) (h₀ : (a : Rat) / 2 = b + 1) (h₁ : (b : Rat) * 3 = 9) : a = 8 := by sorry",
    "induction": "theorem ind_t (u : Nat → Nat) (h₀ : u 0 = 0) (h₁ : ∀ n, u (n + 1) = 2 * u n + 1) (n : Nat) : "
                 "u n = 2 ^ n - 1 := by sorry",
}
HARD["pin"] = ("theorem pin_t (r : Nat) (hr : r * r = 144) (S : List Nat) (hS : S.Nodup) (h : ∀ n, n ∈ S ↔ n ∣ r) : "
               "S.length = 6 := by sorry")
MARK = {"pin": "obtain rfl : r = 12", "box": "have hb_b", "refute": "Nat.le_of_not_lt", "finite_set": "List.perm_iff_count",
        "definition": "funext", "cast": "exact_mod_cast", "induction": "induction n"}


@pytest.mark.lean
@pytest.mark.parametrize("kind", sorted(HARD))
def test_new_candidates_prove_what_the_hammer_cannot(lean, kind):
    budget = Budget(max_expansions=6, samples_per_expansion=4, wall_seconds=40, closers_first=1)
    name = HARD[kind].split()[1]
    hammer = BestFirstSearch(lean, FixedGenerator(), budget).search(HARD[kind], name)
    assert hammer.status != "proved", hammer.proof
    res = BestFirstSearch(lean, build_generator("structural+fixed"), budget).search(HARD[kind], name)
    assert res.status == "proved" and res.verified, res
    assert any(MARK[kind] in t for t in res.proof), res.proof
    assert "structural" in res.proof_sources

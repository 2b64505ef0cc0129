"""Periodicity of powers mod m (prover/generate/cycles.py): the cycle by evaluation, the lemma's text, what
is read off a goal, and with the real Lean: theorems about `b ^ n % m` for a variable `n` that the hammer
cannot prove and the cycle move can, one of them with a pre-period."""
from __future__ import annotations

import pytest

from prover.generate import FixedGenerator, build_generator
from prover.generate.cycles import cycle, cycle_lemma, cycle_moves, disjunct, moduli, variable_powers
from prover.generate.goals import parse_goal
from prover.search import BestFirstSearch, Budget


def test_cycle_finds_pre_period_and_period_by_evaluation():
    assert cycle(2, 7) == ([1, 2, 4], 3)
    assert cycle(3, 10) == ([1, 3, 9, 7], 4)
    seq, lam = cycle(2, 12)  # 1 2 4 8 4 8 ...: pre-period 2, period 2
    assert (seq, lam) == ([1, 2, 4, 8], 2)
    for base, m in ((2, 7), (2, 12), (6, 10), (7, 97), (10, 4)):
        seq, lam = cycle(base, m)
        mu = len(seq) - lam
        for k in range(60):  # the stated cycle is the sequence itself
            j = k if k < mu else mu + (k - mu) % lam
            assert pow(base, k, m) == seq[j], (base, m, k)


def test_cycle_lemma_states_every_state_and_refuses_long_cycles():
    text, n = cycle_lemma(2, 12)
    assert n == 4
    assert text == ("∀ k : Nat, 0 < 2 ^ k ∧ ((k = 0 ∧ 2 ^ k % 12 = 1) ∨ (k = 1 ∧ 2 ^ k % 12 = 2) ∨ "
                    "(2 ≤ k ∧ (k - 2) % 2 = 0 ∧ 2 ^ k % 12 = 4) ∨ (2 ≤ k ∧ (k - 2) % 2 = 1 ∧ 2 ^ k % 12 = 8))")
    assert cycle_lemma(3, 97) is None  # 3 has order 48 mod 97: too many states for one omega step


def test_powers_and_moduli_are_read_from_target_and_hypotheses():
    g = parse_goal("n m : Nat\nh₀ : 7 ∣ 2 ^ n - 1\nh₁ : 3 ^ (2 * m + 1) % 5 = 2\n⊢ 3 ∣ n + 2 ^ 10")
    assert variable_powers(g) == {2: ["n"], 3: ["(2 * m + 1)"]}  # 2 ^ 10 is closed: not a variable power
    assert moduli(g) == [3, 7, 5]  # target first, then the hypotheses in order
    moves = [c.tactic for c in cycle_moves(g)]
    assert any("have := hc n; omega" in t and "2 ^ k % 7" in t for t in moves)
    assert any("have := hc (2 * m + 1); omega" in t and "3 ^ k % 5" in t for t in moves)
    assert cycle_moves(parse_goal("x : Nat\n⊢ x ^ 2 % 4 = 0 ∨ x ^ 2 % 4 = 1")) == []  # variable base


CYCLES = [
    ("theorem pow_mod_nine (n : Nat) : ¬ 9 ∣ 4 ^ n + 1 := by sorry", "pow_mod_nine"),
    ("theorem pow_mod_pre (n : Nat) (h : 2 ≤ n) : 2 ^ n % 12 = 4 ∨ 2 ^ n % 12 = 8 := by sorry", "pow_mod_pre"),
    ("theorem pow_mod_sub (n : Nat) (h₀ : 7 ∣ 3 ^ n - 1) : 6 ∣ n := by sorry", "pow_mod_sub"),
]


@pytest.mark.lean
@pytest.mark.parametrize("statement,name", CYCLES, ids=[n for _, n in CYCLES])
def test_cycle_move_proves_what_the_hammer_cannot(lean, statement, name):
    budget = Budget(max_expansions=4, samples_per_expansion=4, wall_seconds=60, closers_first=1)
    hammer = BestFirstSearch(lean, FixedGenerator(), budget).search(statement, name)
    assert hammer.status != "proved"
    res = BestFirstSearch(lean, build_generator("structural+fixed"), budget).search(statement, name)
    assert res.status == "proved" and res.verified, res
    assert "hc" in res.proof[0] and "structural" in res.proof_sources


def test_disjunct_names_one_of_the_right_nested_disjuncts():
    assert disjunct(0, 3) == "Or.inl (by omega)"
    assert disjunct(1, 3) == "Or.inr (Or.inl (by omega))"
    assert disjunct(2, 3) == "Or.inr (Or.inr ((by omega)))"
    assert disjunct(0, 1) == "(by omega)"

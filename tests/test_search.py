"""The search graph and the best-first loop, on a toy environment (no Lean)."""
from __future__ import annotations

import pytest

from fakes import ScriptedGenerator, ToyEnv
from prover.lean.judge import proof_text
from prover.search import BestFirstSearch, Budget, SearchTree, Status


def test_status_propagates_proved_to_the_root_and_proof_is_extracted():
    t = SearchTree(("⊢ 2",), 0)
    a, _ = t.add_edge(t.root, "dec", ("⊢ 1",), 1, -0.5)
    b, _ = t.add_edge(a.dst, "dec", ("⊢ 0",), 2, -0.5)
    assert not t.proved
    t.add_edge(b.dst, "zero", (), 3, -0.1)
    assert t.proved and a.dst.status is Status.PROVED
    assert t.proof() == ["dec", "dec", "zero"]


def test_failure_propagates_only_when_every_child_failed():
    t = SearchTree(("⊢ 3",), 0)
    a, _ = t.add_edge(t.root, "x", ("⊢ a",), 1, -1.0)
    b, _ = t.add_edge(t.root, "y", ("⊢ b",), 2, -1.0)
    t.mark_expanded(t.root)
    t.mark_expanded(a.dst)  # no children: fails at once
    assert a.dst.status is Status.FAILED and t.root.status is Status.OPEN
    t.mark_expanded(b.dst)
    assert t.failed


def test_transposition_shares_a_node_and_keeps_the_better_priority():
    t = SearchTree(("⊢ 4",), 0)
    a, new_a = t.add_edge(t.root, "half", ("⊢ 2",), 1, -3.0)
    mid, _ = t.add_edge(t.root, "dec", ("⊢ 3",), 2, -0.1)
    b, new_b = t.add_edge(mid.dst, "dec", ("⊢ 2",), 3, -0.1)
    assert new_a and not new_b and a.dst is b.dst and len(t) == 3
    assert b.dst.cum_logprob == pytest.approx(-0.2) and b.dst.depth == 2
    assert b.dst.state_id == 1  # the first Lean state that reached it


def test_cycles_never_make_a_node_fail_or_loop_extraction():
    t = SearchTree(("⊢ a",), 0)
    e1, _ = t.add_edge(t.root, "go", ("⊢ b",), 1, -1.0)
    t.add_edge(e1.dst, "back", ("⊢ a",), 2, -1.0)  # a -> b -> a
    t.mark_expanded(t.root)
    t.mark_expanded(e1.dst)
    assert t.root.status is Status.OPEN  # not a failure we saw
    t.add_edge(e1.dst, "close", (), 3, -1.0)
    assert t.proof() == ["go", "close"]


def test_length_normalisation_prefers_deep_confident_paths():
    plain, norm = SearchTree(("⊢ r",), 0, 0.0), SearchTree(("⊢ r",), 0, 1.0)
    for t in (plain, norm):
        x, _ = t.add_edge(t.root, "a", ("⊢ x",), 1, -1.0)
        t.add_edge(x.dst, "b", ("⊢ y",), 2, -1.0)
        t.add_edge(t.root, "c", ("⊢ z",), 3, -1.5)
        t.root.expanded = x.dst.expanded = True
    assert [n.goals for n in plain.open_frontier()] == [("⊢ z",), ("⊢ y",)]  # -1.5 beats -2
    assert [n.goals for n in norm.open_frontier()] == [("⊢ y",), ("⊢ z",)]  # -2 / 2 beats -1.5 / 1


def test_search_finds_a_multi_step_proof_by_priority_and_verifies_it():
    env = ToyEnv()
    gen = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.2), ("same", -0.01), ("bogus", -0.05)])
    res = BestFirstSearch(env, gen, Budget(max_expansions=50)).search("theorem t : 3 := by sorry", "t")
    assert res.status == "proved" and res.verified
    assert res.proof == ["dec", "dec", "dec", "zero"]
    assert res.proof_text == proof_text("theorem t : 3", res.proof)
    assert env.checks == [res.proof_text]  # the final text went through check
    assert res.expansions_to_proof == res.expansions == 4
    assert res.tactic_calls == env.calls


def test_multiple_goals_are_one_state_and_tactics_act_on_the_main_goal():
    env = ToyEnv()
    gen = ScriptedGenerator({2: [("split", -0.1)], 0: [("zero", -0.1)]}, default=[("dec", -1.0)])
    res = BestFirstSearch(env, gen, Budget(max_expansions=20)).search("theorem t : 2", "t")
    assert res.status == "proved"
    assert res.proof == ["split", "dec", "zero", "zero"]  # 2 -> [1, 0] -> [0, 0] -> [0] -> []


def test_the_budget_stops_the_search():
    env = ToyEnv()
    gen = ScriptedGenerator(default=[("dec", -0.1)])  # never closes: no `zero`
    res = BestFirstSearch(env, gen, Budget(max_expansions=5)).search("theorem t : 100", "t")
    assert res.status == "budget" and res.stop_reason == "max_expansions" and res.expansions == 5
    res = BestFirstSearch(env, gen, Budget(max_expansions=10_000, wall_seconds=0.0)).search("theorem t : 100", "t")
    assert res.status == "budget" and res.stop_reason == "wall_seconds"


def test_exhausted_search_space_is_a_failure_not_a_budget_stop():
    env = ToyEnv()
    gen = ScriptedGenerator(default=[("half", -0.1)])  # 6 -> 3 -> stuck
    res = BestFirstSearch(env, gen, Budget(max_expansions=50)).search("theorem t : 6", "t")
    assert res.status == "failed" and res.expansions == 2 and res.proof is None


def test_a_proof_refused_by_the_final_check_is_never_reported():
    env = ToyEnv(lie_in_check=True)  # the tree thinks it is proved; the re-check says no
    gen = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.1)])
    res = BestFirstSearch(env, gen, Budget()).search("theorem t : 1", "t")
    assert res.status == "failed" and not res.verified and res.proof is None
    assert res.rejected and res.rejected[0]["tactics"] == ["dec", "zero"]
    assert "refused" in res.error


def test_a_statement_lean_rejects_is_an_error_row():
    res = BestFirstSearch(ToyEnv(), ScriptedGenerator(), Budget()).search("theorem t : oops", "t")
    assert res.status == "invalid" and "statement rejected" in res.error


def test_expand_batch_sends_several_open_nodes_to_the_generator_at_once():
    env = ToyEnv()
    gen = ScriptedGenerator(default=[("dec", -1.0), ("split", -1.0)])
    BestFirstSearch(env, gen, Budget(max_expansions=12, expand_batch=4)).search("theorem t : 9", "t")
    assert max(gen.batches) == 4 and sum(gen.batches) == 12


def test_budget_parse():
    b = Budget.parse("max_expansions=7, wall_seconds=2.5,lean_seconds=none")
    assert (b.max_expansions, b.wall_seconds, b.lean_seconds) == (7, 2.5, None)
    assert Budget.parse("lean_seconds=30").lean_seconds == 30.0
    with pytest.raises(ValueError, match="bogus"):
        Budget.parse("bogus=1")


def test_states_that_would_crash_lean_are_recognised():
    from prover.lean.hazards import crashes_lean

    assert crashes_lean(["⊢ ((4032064 + 2 ^ 2008) ^ 2 + 2 ^ (4032064 + 2 ^ 2008)) % 10 = 6"])
    assert crashes_lean(["x : Nat\n⊢ 3 ^ (2 ^ 40) = x"])
    assert not crashes_lean(["⊢ 2 ^ 2010 % 10 = 4", "k : Nat\n⊢ (k ^ 2 + 2 ^ k) % 10 = 6"])
    assert not crashes_lean(["⊢ 2 ^ (3 * 1000) % 7 = 1", "⊢ 5 ^ 100 % 7 = 2", "⊢ x ^ (n + 1) = x * x ^ n"])


# ----------------------------------------------------------------------------- path candidates (whole proofs)
@pytest.fixture
def edges(monkeypatch):
    """Every `add_edge` call of the search as (tactic, logprob, source)."""
    from prover.search import tree as tree_mod

    seen = []
    real = tree_mod.SearchTree.add_edge

    def spy(self, src, tactic, goals, state_id, logprob, source="model"):
        seen.append((tactic, logprob, source))
        return real(self, src, tactic, goals, state_id, logprob, source)

    monkeypatch.setattr(tree_mod.SearchTree, "add_edge", spy)
    return seen


def test_a_path_candidate_proves_a_three_step_theorem_in_one_expansion(edges):
    env = ToyEnv()
    gen = ScriptedGenerator({2: [(("dec", "dec", "zero"), -1.5)]})  # nothing else is ever proposed
    res = BestFirstSearch(env, gen, Budget(max_expansions=10), debug=True).search("theorem t : 2", "t")
    assert res.status == "proved" and res.verified and res.proof == ["dec", "dec", "zero"]
    assert res.expansions == res.expansions_to_proof == 1 and gen.stats.calls == 1
    assert res.tactic_calls == env.calls == 3 and res.nodes == 4  # every state of the path is a node
    assert env.checks == [res.proof_text]  # the judge re-checked the whole text, as for any proof
    assert edges == [("dec", -1.5, "model"), ("dec", 0.0, "model"), ("zero", 0.0, "model")]  # logprob: first edge


def test_a_path_whose_second_step_fails_keeps_its_first_state_and_the_search_goes_on(edges):
    env = ToyEnv()
    gen = ScriptedGenerator({3: [(("dec", "bogus", "zero"), -0.5)], 0: [("zero", -0.1)]}, default=[("dec", -0.2)])
    res = BestFirstSearch(env, gen, Budget(max_expansions=10), debug=True).search("theorem t : 3", "t")
    # the path stopped at its failing second step; the state its first step reached was searched on
    assert edges[0] == ("dec", -0.5, "model") and res.tactic_calls == env.calls
    assert res.status == "proved" and res.proof == ["dec", "dec", "dec", "zero"] and res.expansions == 4
    assert [r.history for r in gen.requests] == [(), ("dec",), ("dec", "dec"), ("dec", "dec", "dec")]


def test_a_path_stops_at_a_step_that_makes_no_progress_and_the_search_goes_on():
    env = ToyEnv()
    gen = ScriptedGenerator({4: [(("dec", "same", "dec"), -0.1)], 0: [("zero", -0.1)]}, default=[("dec", -0.3)])
    res = BestFirstSearch(env, gen, Budget(max_expansions=10), debug=True).search("theorem t : 4", "t")
    assert res.status == "proved" and res.proof == ["dec"] * 4 + ["zero"]
    assert env.calls == res.tactic_calls == 2 + 4  # the path ran `dec`, `same` and never its third step


class _ClockedEnv(ToyEnv):
    """Every tactic takes one second of a fake clock; the timeouts the search asked for are kept."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.timeouts = clock, []

    def run_tac(self, state, tactic, heartbeats=None, timeout=None):
        self.timeouts.append(timeout)
        self.clock.now += 1.0
        return super().run_tac(state, tactic, heartbeats, timeout)


def test_a_path_respects_the_wall_budget_and_the_hard_deadline(monkeypatch):
    import types

    from prover.search import best_first

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(best_first, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    env = _ClockedEnv(clock)
    gen = ScriptedGenerator({5: [(("dec", "dec", "dec", "dec", "dec", "zero"), -0.1)]})
    res = BestFirstSearch(env, gen, Budget(max_expansions=10, wall_seconds=2.5, tactic_timeout=30)).search(
        "theorem t : 5", "t")
    # steps start at t = 0, 1, 2; at t = 3 the wall budget (2.5 s) is spent and the path stops between steps
    assert res.status == "budget" and res.stop_reason == "wall_seconds" and env.calls == res.tactic_calls == 3
    assert res.expansions == 1 and res.nodes == 4
    hard = 2 * 2.5 - min(2.0, 0.2 * 2.5)  # no Lean call may run past it: each timeout is cut to what is left
    assert env.timeouts == [hard - 0.0, hard - 1.0, hard - 2.0]


class _SimpEnv(ToyEnv):
    """`simp` acts as `dec`: a closer (best_first.CLOSERS) that makes progress without closing."""

    @staticmethod
    def step(goals, tactic):
        return ToyEnv.step(goals, "dec" if tactic == "simp" else tactic)


def test_a_closer_that_ran_hides_a_single_tactic_but_not_a_path_that_starts_with_it():
    env = _SimpEnv()
    gen = ScriptedGenerator({2: [("simp", -0.1), (("simp", "simp", "zero"), -0.3)]})
    res = BestFirstSearch(env, gen, Budget(max_expansions=5, closers_first=1), debug=True).search("theorem t : 2", "t")
    assert res.status == "proved" and res.proof == ["simp", "simp", "zero"] and res.expansions == 1
    assert env.calls == res.tactic_calls == 6 + 3  # every closer once, then the path; not `simp` alone again


# ----------------------------------------------------------------------------- invariants and the frontier heap
def test_check_invariants_accepts_honest_trees_and_names_a_broken_one():
    t = SearchTree(("⊢ 2",), 0)
    a, _ = t.add_edge(t.root, "dec", ("⊢ 1",), 1, -0.5)
    t.add_edge(t.root, "half", ("⊢ 1",), 2, -0.1)  # a transposition with a better path
    t.mark_expanded(t.root)
    t.check_invariants()
    a.dst.status = Status.FAILED  # a failure nobody saw: it was never expanded
    with pytest.raises(AssertionError, match="disagrees with expansion"):
        t.check_invariants()
    a.dst.status = Status.OPEN
    t.root.out_edges.pop()  # an edge its destination still lists
    with pytest.raises(AssertionError, match="not mirrored"):
        t.check_invariants()


def test_a_node_set_aside_by_the_budget_is_never_failed():
    t = SearchTree(("⊢ 3",), 0)
    a, _ = t.add_edge(t.root, "x", ("⊢ a",), 1, -1.0)
    t.set_aside(t.root)  # the budget ran out before every candidate of the root was tried
    t.mark_expanded(a.dst)  # its only child fails
    assert a.dst.status is Status.FAILED and t.root.status is Status.OPEN
    t.check_invariants()


def test_debug_mode_checks_the_tree_after_every_expansion(monkeypatch):
    calls = []
    real = SearchTree.check_invariants
    monkeypatch.setattr(SearchTree, "check_invariants", lambda self: calls.append(len(self)) or real(self))
    gen = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.2), ("split", -0.3)])
    res = BestFirstSearch(ToyEnv(), gen, Budget(max_expansions=40), debug=True).search("theorem t : 4", "t")
    assert res.status == "proved" and len(calls) == res.expansions > 1
    calls.clear()
    BestFirstSearch(ToyEnv(), gen, Budget(max_expansions=40), debug=False).search("theorem t : 4", "t")
    assert calls == []


def test_a_broken_invariant_stops_a_debug_search_at_the_expansion_that_broke_it(monkeypatch):
    def forget_failures(self, node):  # a bug: expansion never propagates failure
        node.expanded = True
    monkeypatch.setattr(SearchTree, "mark_expanded", forget_failures)
    gen = ScriptedGenerator(default=[("half", -0.1)])  # 6 -> 3 -> stuck: 3 must fail
    with pytest.raises(AssertionError, match="search tree invariant broken"):
        BestFirstSearch(ToyEnv(), gen, Budget(max_expansions=50), debug=True).search("theorem t : 6", "t")


class _RandomGenerator:
    """Toy tactics with seeded random log-probabilities, rounded so that ties are common."""

    name = "random"

    def __init__(self, seed: int):
        import random

        self.rng = random.Random(seed)
        self.stats = ScriptedGenerator().stats

    def generate(self, requests, num_samples):
        from prover.generate.base import Candidate

        return [[Candidate(t, -round(self.rng.random() * 3, 1), 1) for t in ("dec", "half", "split", "zero", "same")]
                for _ in requests]


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_the_heap_frontier_expands_in_exactly_the_order_of_a_full_sort(monkeypatch, alpha):
    """Before every pop, the reference order (a stable sort of the open nodes, filtered by depth) is computed;
    the heap must hand out the same nodes. Random log-probabilities with many ties, depth caps, batches."""
    real_pop = SearchTree.pop_frontier
    compared = []

    def checked_pop(self, k, max_depth=None):
        want = [n for n in self.open_frontier() if max_depth is None or n.depth < max_depth][:k]
        got = real_pop(self, k, max_depth)
        assert got == want
        compared.append(len(got))
        return got

    monkeypatch.setattr(SearchTree, "pop_frontier", checked_pop)
    for seed in range(12):
        budget = Budget(max_expansions=60, max_depth=3 + seed % 4, expand_batch=1 + seed % 3, length_alpha=alpha,
                        closers_first=seed % 2)
        BestFirstSearch(ToyEnv(), _RandomGenerator(seed), budget, debug=True).search(f"theorem t : {7 + seed}", "t")
    assert sum(compared) > 200  # the comparison really ran over many expansions


# ----------------------------------------------------------------------------- the judge on the toy environment
def test_the_judge_builds_one_text_and_refuses_what_the_check_does_not_vouch_for():
    from prover.lean.judge import theorem_name, verify_proof

    env = ToyEnv()
    ok, text, why = verify_proof(env, "theorem t : 2 := by sorry", ["dec", "dec", "zero"])
    assert ok and why == "" and text == "theorem t : 2 := by\n  dec\n  dec\n  zero\n" == env.checks[-1]
    ok, _, why = verify_proof(env, "theorem t : 2", ["dec", "zero"])
    assert not ok and why
    assert theorem_name("lemma foo (x : Nat) : x = x") == "foo" and theorem_name("example : True") is None

    class OtherName(ToyEnv):  # the check answers about some other declaration
        def check(self, code, statement=None, name=None, **kw):
            return super().check(code, statement, "someone_else", **kw)

    ok, _, why = verify_proof(OtherName(), "theorem t : 1", ["dec", "zero"])
    assert not ok and "no declaration named 't'" in why

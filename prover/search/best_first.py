"""Best-first proof search for one theorem: expand the most promising open proof state, ask the generator
for tactics, let Lean run them, repeat until the root is proved, fails, or the budget runs out.

With `Budget.closers_first`, every node first gets the closing tactics `CLOSERS` (a few milliseconds each);
when one closes the node's main goal without leaving new goals, the node is done and the generator is not
called for it (a model's seconds are spent only where a closer is not enough).

A candidate may be a path of steps (a sampled or stored whole proof, `Candidate.steps`): its steps run one after
another from the state the first reaches, each a `run_tac` counted in `tactic_calls`, each state reached a
node; the path stops at the first step that errors, makes no progress, reaches a closed node or finds the wall
budget spent, and what it reached stays in the tree. The whole path's logprob goes on its first edge (0 on
the rest: every state on it is scored by the path's probability), and it counts as part of the one expansion
of the node it started from. Nodes carry the tactics that first reached them (`GoalRequest.history`), so a
generator knows the root (empty history), where whole proofs are proposed.

A proof found in the tree is only a claim: the judge (`prover.lean.judge.verify_proof`) rebuilds the theorem
text and has Lean elaborate it from scratch and audit it; only then does the search report "proved". This
module is search policy only: which state to expand, what to ask the generator, when to stop.

Debug mode (`BestFirstSearch(debug=True)`, or `PROVER_SEARCH_DEBUG=1`; the tests run with it) checks the
tree's invariants (`SearchTree.check_invariants`) after every expansion, so a search bug fails at the step
that caused it.

Wall budget: the loop stops starting work at `wall_seconds`, and no Lean call of the search may run past the
hard deadline `2 * wall_seconds` (each call's timeout is cut to what is left; a hung tactic is then killed by
the server, which swaps in its warm spare). So a theorem overruns its budget at most 2x, a hung tactic
included; only the final re-check of a found proof keeps a floor of `tactic_timeout`, so that a real proof is
not lost to the clock.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import settings
from ..generate.base import GoalRequest, TacticGenerator
from ..lean.hazards import crashes_lean
from ..lean.judge import resolve_suggestions, verify_proof
from ..lean.protocol import CheckResult, LeanError, ProofState, TacticResult
from .budget import Budget
from .tree import SearchTree, Status


class ProofEnv(Protocol):
    """What the search needs from Lean; `prover.lean.LeanServer` is one (tests use a fake)."""

    def start(self, statement: str, heartbeats: int | None = None, timeout: float | None = None) -> ProofState: ...

    def run_tac(self, state: ProofState | int, tactic: str, heartbeats: int | None = None,
                timeout: float | None = None) -> TacticResult: ...

    def check(self, code: str, statement: str | None = None, name: str | None = None, **kw: Any) -> CheckResult: ...


# Most useful first (what closed the valid split's theorems: omega, grind, decide, simp_all, simp).
CLOSERS: tuple[str, ...] = ("omega", "grind", "decide", "simp_all", "simp", "rfl")


@dataclass
class SearchResult:
    status: str  # an `Outcome` verdict: "proved" | "failed" | "budget" | "invalid" (machinery failures raise)
    proof: list[str] | None = None  # tactics, root to end
    proof_text: str | None = None  # the theorem text Lean re-checked
    verified: bool = False
    expansions: int = 0
    expansions_to_proof: int | None = None
    tactic_calls: int = 0
    nodes: int = 0
    lean_seconds: float = 0.0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    seconds_to_proof: float | None = None
    error: str | None = None
    stop_reason: str = ""
    hazards: int = 0  # states dropped because tactics on them crash Lean
    lost_tactics: int = 0  # tactic requests lost to a Lean crash or timeout (the server restarted)
    slowest_tactic: tuple[str, float] | None = None  # (tactic, seconds): where a slow search went
    rejected: list[dict] = field(default_factory=list)  # proofs found in the tree that Lean's re-check refused
    proof_sources: list[str] = field(default_factory=list)  # which generator proposed each proof step
    closed_by_closer: int = 0  # nodes a closer finished before the generator was asked (closers_first)


class BestFirstSearch:
    """One theorem at a time; the generator may be shared with other searches (it is called with a batch)."""

    def __init__(self, env: ProofEnv, generator: TacticGenerator, budget: Budget = Budget(),
                 debug: bool | None = None):
        self.env, self.generator, self.budget = env, generator, budget
        # debug: check the tree's invariants after every expansion (default: `PROVER_SEARCH_DEBUG` set to 1)
        self.debug = debug if debug is not None else settings.search_debug()

    def _check(self, tree: SearchTree) -> None:
        if self.debug:
            tree.check_invariants()  # a search bug fails at the expansion that caused it

    def search(self, statement: str, name: str = "") -> SearchResult:
        b = self.budget
        t0 = time.monotonic()
        hard = t0 + 2 * b.wall_seconds - min(2.0, 0.2 * b.wall_seconds)  # room for killing a hung process

        def limit(cap: float) -> float:
            """A Lean call's timeout: its own cap, never past the hard deadline (at least 1 s)."""
            return max(1.0, min(cap, hard - time.monotonic()))

        res = SearchResult(status="budget")
        try:
            root = self.env.start(statement, heartbeats=b.tactic_heartbeats, timeout=limit(max(b.tactic_timeout, 60)))
        except LeanError as e:
            res.status, res.error = "invalid", f"statement rejected by Lean: {e}"  # crashes propagate
            res.wall_seconds = time.monotonic() - t0
            return res
        res.lean_seconds += time.monotonic() - t0
        tree = SearchTree(root.goals, root.id, b.length_alpha)

        while not tree.root.is_terminal:
            if res.expansions >= b.max_expansions:
                res.stop_reason = "max_expansions"
                break
            if time.monotonic() - t0 >= b.wall_seconds:
                res.stop_reason = "wall_seconds"
                break
            if b.lean_seconds is not None and res.lean_seconds >= b.lean_seconds:
                res.stop_reason = "lean_seconds"
                break
            batch = tree.pop_frontier(max(1, min(b.expand_batch, b.max_expansions - res.expansions)), b.max_depth)
            if not batch:
                res.stop_reason = "frontier_exhausted"
                break  # only depth-capped or cyclic open nodes are left: the budget, not the space, ran out
            tried: dict[int, set[str]] = {}
            if b.closers_first:
                for node in batch:
                    tried[id(node)] = self._close_first(tree, node, res, t0)
                    if tried[id(node)] is _CLOSED:
                        res.expansions += 1
                        res.closed_by_closer += 1
                        tree.mark_expanded(node)
                        self._check(tree)
                batch = [n for n in batch if tried.get(id(n)) is not _CLOSED]
                if tree.root.is_terminal:
                    break
                if not batch:
                    continue
            tg = time.monotonic()
            cands = self.generator.generate(
                [GoalRequest(n.goals, name, statement, n.history) for n in batch], b.samples_per_expansion)
            res.model_seconds += time.monotonic() - tg
            for node, node_cands in zip(batch, cands):
                res.expansions += 1
                tried_all = True
                skip = tried.get(id(node), set())
                for cand in node_cands:
                    if node.status is not Status.OPEN:
                        break
                    if not cand.steps and " ".join(cand.tactic.split()) in skip:
                        continue  # a closer already ran here
                    if time.monotonic() - t0 >= b.wall_seconds:
                        tried_all = False  # not every candidate was tried: the node may not be marked failed
                        break
                    self._run_path(tree, node, cand, res, t0, limit)
                if tried_all:
                    tree.mark_expanded(node)
                else:
                    tree.set_aside(node)  # budget is over anyway; keep it out of the frontier, not failed
                self._check(tree)
                if tree.root.is_terminal:
                    break

        res.nodes = len(tree)
        if tree.proved:
            tactics = tree.proof()
            assert tactics is not None
            tv = time.monotonic()
            resolved = resolve_suggestions(self.env, statement, tactics)
            ok, text, why = verify_proof(self.env, statement, resolved,
                                         timeout=min(120.0, max(b.tactic_timeout, hard - time.monotonic())))
            if ok:
                tactics = resolved
            elif resolved != tactics:  # the suggestion did not check on its own: keep the search tactic
                ok, text, why = verify_proof(self.env, statement, tactics,
                                             timeout=min(120.0, max(b.tactic_timeout, hard - time.monotonic())))
            res.proof_sources = tree.proof_sources()
            res.lean_seconds += time.monotonic() - tv
            if ok:
                res.status, res.proof, res.proof_text, res.verified = "proved", tactics, text, True
            else:
                # Never report it. The tree said proved but the text did not check (e.g. a transposition
                # joined two states that only print alike): record why, and count the theorem as unproved.
                res.status, res.error = "failed", f"proof found in search but refused by Lean's check: {why}"
                res.rejected.append({"tactics": tactics, "why": why})
                res.expansions_to_proof = res.seconds_to_proof = None
        elif tree.failed and res.lost_tactics:
            # tactics lost to Lean's crashes or timeouts were never judged: the space is not known exhausted
            res.status, res.stop_reason = "budget", "tactics_lost_to_lean"
        elif tree.failed:
            res.status, res.stop_reason = "failed", "search_space_exhausted"
        res.wall_seconds = time.monotonic() - t0
        return res

    def _run_path(self, tree: SearchTree, node, cand, res: SearchResult, t0: float, limit) -> None:
        """Run `cand`'s steps one after another from `node`, each on the state the step before reached; every
        state reached becomes a node (`tree.add_edge`). Stop at the first step that errors, makes no progress or
        reaches a crash hazard; at a state that is no longer open (proved, or failed: no edge may leave a
        failed node); or when the wall budget is spent (between steps, as between candidates). The states
        reached so far stay in the tree: a partial path is still progress. The candidate's logprob goes on the
        first edge and 0 on the others, so every state of the path is scored by the whole path's probability."""
        b = self.budget
        src, state_id = node, node.state_id
        for i, tac in enumerate(cand.path):
            if i and (src.status is not Status.OPEN or time.monotonic() - t0 >= b.wall_seconds):
                return
            tl = time.monotonic()
            out = self.env.run_tac(state_id, tac, heartbeats=b.tactic_heartbeats, timeout=limit(b.tactic_timeout))
            dt = time.monotonic() - tl
            res.lean_seconds += dt
            res.tactic_calls += 1
            if out.lost:
                res.lost_tactics += 1  # Lean crashed or hung on it: not a verdict on the tactic
            if res.slowest_tactic is None or dt > res.slowest_tactic[1]:
                res.slowest_tactic = (tac, round(dt, 3))
            if out.state is None or tuple(out.state.goals) == src.goals:
                return  # an error, or no progress
            if crashes_lean(out.state.goals):
                res.hazards += 1  # expanding it would crash Lean (see prover/lean/hazards.py): a dead end
                return
            edge, _ = tree.add_edge(src, tac, tuple(out.state.goals), out.state.id, cand.logprob if i == 0 else 0.0,
                                    cand.source)
            if tree.proved and res.expansions_to_proof is None:
                res.expansions_to_proof = res.expansions
                res.seconds_to_proof = time.monotonic() - t0
            src, state_id = edge.dst, out.state.id

    def _close_first(self, tree: SearchTree, node, res: SearchResult, t0: float):
        """Run CLOSERS on `node`; `_CLOSED` if one closed its main goal and left no new goal (the edge is
        added), else the set of closers tried (normalised), which the generator's candidates then skip.
        Goals with metavariables (`?x`) are shared between goals: closing one may not be the only way, so
        such nodes are never skipped."""
        b = self.budget
        tried: set[str] = set()
        for tac in CLOSERS:
            if node.status is not Status.OPEN or time.monotonic() - t0 >= b.wall_seconds:
                break
            tl = time.monotonic()
            out = self.env.run_tac(node.state_id, tac, heartbeats=b.tactic_heartbeats, timeout=b.tactic_timeout)
            res.lean_seconds += time.monotonic() - tl
            res.tactic_calls += 1
            tried.add(tac)
            if out.state is None or tuple(out.state.goals) != node.goals[1:]:
                continue  # an error, or it left goals of its own: the generator may do better
            tree.add_edge(node, tac, tuple(out.state.goals), out.state.id, 0.0, "closer")
            if tree.proved and res.expansions_to_proof is None:
                res.expansions_to_proof = res.expansions + 1
                res.seconds_to_proof = time.monotonic() - t0
            if not any("?" in g for g in node.goals):
                return _CLOSED
        return tried


_CLOSED: set[str] = set()  # sentinel: a closer finished the node

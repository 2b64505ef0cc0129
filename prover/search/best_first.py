"""Best-first proof search for one theorem: expand the most promising open proof state, ask the generator
for tactics, let Lean run them, repeat until the root is proved, fails, or the budget runs out.

A proof found in the tree is only a claim. `verify_proof` rebuilds the theorem text from the statement and
the tactic script and has Lean elaborate it from scratch and audit it (kernel, no sorry, no escape-hatch
axiom, statement unchanged); only then does the search report "proved".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..generate.base import GoalRequest, TacticGenerator
from ..lean.protocol import CheckResult, LeanError, ProofState, TacticResult, normalize_statement
from .budget import Budget
from .hazards import crashes_lean
from .tree import SearchTree, Status


class ProofEnv(Protocol):
    """What the search needs from Lean; `prover.lean.LeanServer` is one (tests use a fake)."""

    def start(self, statement: str, heartbeats: int | None = None, timeout: float | None = None) -> ProofState: ...

    def run_tac(self, state: ProofState | int, tactic: str, heartbeats: int | None = None,
                timeout: float | None = None) -> TacticResult: ...

    def check(self, code: str, statement: str | None = None, name: str | None = None, **kw: Any) -> CheckResult: ...


@dataclass
class SearchResult:
    status: str  # "proved" | "failed" | "budget" | "error"
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
    slowest_tactic: tuple[str, float] | None = None  # (tactic, seconds): where a slow search went
    rejected: list[dict] = field(default_factory=list)  # proofs found in the tree that Lean's re-check refused


def theorem_name(statement: str) -> str | None:
    """The declared name of `theorem name ...`, or None for a bare proposition."""
    toks = normalize_statement(statement).split()
    if len(toks) >= 2 and toks[0] in ("theorem", "lemma", "example"):
        return None if toks[0] == "example" else toks[1]
    return None


def proof_text(statement: str, tactics: list[str]) -> str:
    """`statement := by` followed by the tactics, each on its own lines, indented two spaces."""
    head = normalize_statement(statement)
    lines = ["  " + line for tac in tactics for line in tac.strip("\n").split("\n")]
    return head + " := by\n" + "\n".join(lines) + "\n"


def verify_proof(env: ProofEnv, statement: str, tactics: list[str], timeout: float = 120.0) -> tuple[bool, str, str]:
    """(sound, text, why-not): Lean elaborates the whole text from scratch and audits the theorem."""
    text = proof_text(statement, tactics)
    name = theorem_name(statement)
    try:
        res = env.check(text, statement=statement, name=name, timeout=timeout)
    except LeanError as e:
        return False, text, f"check failed: {e}"
    if not res.declarations:
        return False, text, "check returned no declaration"
    decl = res.decl(name) if name else res.declarations[-1]
    if res.all_ok and decl.sound and decl.statement_matches is not False:
        return True, text, ""
    why = "; ".join(decl.errors[:2]) or decl.unsound_reason or decl.audit_error or res.audit_error \
        or ("statement changed" if decl.statement_matches is False else "") \
        or (f"bad axioms {decl.bad_axioms}" if decl.bad_axioms else "not sound")
    return False, text, why


class BestFirstSearch:
    """One theorem at a time; the generator may be shared with other searches (it is called with a batch)."""

    def __init__(self, env: ProofEnv, generator: TacticGenerator, budget: Budget = Budget()):
        self.env, self.generator, self.budget = env, generator, budget

    def search(self, statement: str, name: str = "") -> SearchResult:
        b = self.budget
        t0 = time.monotonic()
        res = SearchResult(status="budget")
        try:
            root = self.env.start(statement, heartbeats=b.tactic_heartbeats, timeout=max(b.tactic_timeout, 60))
        except LeanError as e:
            res.status, res.error = "error", f"statement rejected by Lean: {e}"
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
            frontier = [n for n in tree.open_frontier() if n.depth < b.max_depth]
            if not frontier:
                res.stop_reason = "frontier_exhausted"
                break  # only depth-capped or cyclic open nodes are left: the budget, not the space, ran out
            batch = frontier[:max(1, min(b.expand_batch, b.max_expansions - res.expansions))]
            tg = time.monotonic()
            cands = self.generator.generate(
                [GoalRequest(n.goals, name, statement) for n in batch], b.samples_per_expansion)
            res.model_seconds += time.monotonic() - tg
            for node, node_cands in zip(batch, cands):
                res.expansions += 1
                tried_all = True
                for cand in node_cands:
                    if node.status is not Status.OPEN:
                        break
                    if time.monotonic() - t0 >= b.wall_seconds:
                        tried_all = False  # not every candidate was tried: the node may not be marked failed
                        break
                    tl = time.monotonic()
                    out = self.env.run_tac(node.state_id, cand.tactic, heartbeats=b.tactic_heartbeats,
                                           timeout=b.tactic_timeout)
                    dt = time.monotonic() - tl
                    res.lean_seconds += dt
                    res.tactic_calls += 1
                    if res.slowest_tactic is None or dt > res.slowest_tactic[1]:
                        res.slowest_tactic = (cand.tactic, round(dt, 3))
                    if out.state is None or tuple(out.state.goals) == node.goals:
                        continue  # an error, or no progress
                    if crashes_lean(out.state.goals):
                        res.hazards += 1  # expanding it would crash Lean (see hazards.py): a dead end
                        continue
                    tree.add_edge(node, cand.tactic, tuple(out.state.goals), out.state.id, cand.logprob,
                                  cand.source)
                    if tree.proved and res.expansions_to_proof is None:
                        res.expansions_to_proof = res.expansions
                        res.seconds_to_proof = time.monotonic() - t0
                if tried_all:
                    tree.mark_expanded(node)
                else:
                    node.expanded = True  # budget is over anyway; keep it out of the frontier, not failed
                if tree.root.is_terminal:
                    break

        res.nodes = len(tree)
        if tree.proved:
            tactics = tree.proof()
            assert tactics is not None
            tv = time.monotonic()
            ok, text, why = verify_proof(self.env, statement, tactics)
            res.lean_seconds += time.monotonic() - tv
            if ok:
                res.status, res.proof, res.proof_text, res.verified = "proved", tactics, text, True
            else:
                # Never report it. The tree said proved but the text did not check (e.g. a transposition
                # joined two states that only print alike): record why, and count the theorem as unproved.
                res.status, res.error = "failed", f"proof found in search but refused by Lean's check: {why}"
                res.rejected.append({"tactics": tactics, "why": why})
                res.expansions_to_proof = res.seconds_to_proof = None
        elif tree.failed:
            res.status, res.stop_reason = "failed", "search_space_exhausted"
        res.wall_seconds = time.monotonic() - t0
        return res

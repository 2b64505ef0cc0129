"""Are two statements the same claim? Proved in Lean, both directions (BEq-style), or not claimed at all.

Each statement is closed over its binders into one proposition, `∀ binders, conclusion`, and a small
best-first search with fixed tactics proves `A → B` and `B → A`. Every proof found passes the prover's
kernel re-check of the whole text (`verify_proof`). Failing to find a proof means "not shown", never
"different".

Two true statements imply each other whatever they say, and competition statements are often easy to prove
outright (`3 + 3 = 6` "implies" `2 ^ 10 % 7 = 2`). So a direction counts only if its premise was needed: the
same script must fail on `True → B`. Evidence is therefore conservative: "equivalent" means Lean accepted both
implications and neither conclusion fell to that script on its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from prover.generate.fixed import FixedGenerator
from prover.lean.judge import verify_proof
from prover.search import BestFirstSearch, Budget

from .statement import Statement, normal_form

# Whole scripts first (one Lean call each settles most rewordings), then single steps for the search to combine.
IMPLICATION_TACTICS: tuple[tuple[str, float], ...] = (
    ("intro hSrc; exact hSrc", 0.30),  # definitionally equal: renamed binders, unfolded notation
    ("intro hSrc; intros; apply hSrc <;> assumption", 0.12),  # hypotheses reordered or renamed
    ("intro hSrc; intros; simp_all", 0.10),
    ("intro hSrc; intros; grind", 0.10),
    ("intro hSrc; intros; apply hSrc <;> omega", 0.06),
    ("intro hSrc", 0.05),
    ("intros", 0.05),
    ("apply hSrc", 0.04),
    ("assumption", 0.04),
    ("omega", 0.04),
    ("simp_all", 0.03),
    ("grind", 0.03),
    ("constructor", 0.02),
    ("decide", 0.01),
    ("rfl", 0.01),
)
DEFAULT_BUDGET = Budget(max_expansions=8, samples_per_expansion=0, wall_seconds=20, tactic_heartbeats=10000,
                        tactic_timeout=20, max_depth=8)


@dataclass
class Implication:
    proved: bool  # Lean accepted a proof of A → B that needed A
    proof: list[str] | None = None
    stop_reason: str = ""
    premise_needed: bool | None = None  # False: the script also proves True → B (no evidence about A)


@dataclass
class Equivalence:
    forward: Implication  # a -> b
    backward: Implication  # b -> a
    seconds: float = 0.0
    method: str = "lean"  # "normal_form" when the texts agree without asking Lean

    @property
    def proven(self) -> bool:
        return self.forward.proved and self.backward.proved

    def to_json(self) -> dict:
        return {"proven": self.proven, "method": self.method, "seconds": round(self.seconds, 3),
                "forward": self.forward.__dict__, "backward": self.backward.__dict__}


def implication_statement(a: Statement, b: Statement, name: str = "autoform_implies") -> str:
    return f"theorem {name} : ({a.proposition()}) → ({b.proposition()})"


class EquivalenceProver:
    """Proves implications between statements with one Lean environment (a `LeanServer` or daemon client)."""

    def __init__(self, env, budget: Budget = DEFAULT_BUDGET):
        self.env, self.budget = env, budget
        self.search = BestFirstSearch(env, FixedGenerator(IMPLICATION_TACTICS, name="equiv"), budget)

    def implies(self, a: Statement, b: Statement) -> Implication:
        res = self.search.search(implication_statement(a, b))
        if not (res.status == "proved" and res.verified and res.proof):
            return Implication(False, None, res.error or res.stop_reason or res.status)
        alone, _, _ = verify_proof(self.env, f"theorem autoform_alone : True → ({b.proposition()})", res.proof)
        if alone:
            return Implication(False, res.proof, "the conclusion holds without the premise", premise_needed=False)
        return Implication(True, res.proof, "proved", premise_needed=True)

    def equivalent(self, a: Statement, b: Statement) -> Equivalence:
        t0 = time.monotonic()
        if normal_form(a) == normal_form(b):
            same = Implication(True, None, "same text")
            return Equivalence(same, same, time.monotonic() - t0, "normal_form")
        fwd = self.implies(a, b)
        bwd = self.implies(b, a) if fwd.proved else Implication(False, None, "forward direction not shown")
        return Equivalence(fwd, bwd, time.monotonic() - t0)


@dataclass
class Group:
    members: list[int] = field(default_factory=list)  # indices into the candidate list; members[0] represents

    @property
    def rep(self) -> int:
        return self.members[0]


def group_statements(prover: EquivalenceProver, stmts: Sequence[Statement], max_lean_checks: int = 24) -> list[Group]:
    """Partition statements into classes shown equivalent (same normal form, or proved both ways against the
    class's first member). Statements are taken in the given order (best first). Past `max_lean_checks`
    equivalence searches, only normal forms are compared."""
    groups: list[Group] = []
    forms: list[str] = []
    checks = 0
    for i, s in enumerate(stmts):
        nf = normal_form(s)
        home = next((g for g, f in zip(groups, forms) if f == nf), None)
        if home is None:
            for g in groups:
                if checks >= max_lean_checks:
                    break
                checks += 1
                if prover.equivalent(stmts[g.rep], s).proven:
                    home = g
                    break
        if home is None:
            groups.append(Group([i]))
            forms.append(nf)
        else:
            home.members.append(i)
    return groups

"""A generator that proposes the same tactics for every goal: the "hammer" baseline, and a safety net mixed
in with a model (`MixGenerator`) so that goals a closing tactic finishes are never missed.

It ignores `num_samples` and returns its whole list (base.py's invariant allows it for fixed generators).
"""
from __future__ import annotations

import math
import time
from typing import Sequence, Union

from .base import Candidate, GeneratorStats, GoalRequest

# Core Lean 4 only (no Mathlib: no norm_num, linarith, nlinarith, positivity, ring). Most useful first; the
# order also breaks ties between equal priors.
DEFAULT_TACTICS: tuple[str, ...] = (
    "omega",         # decides linear arithmetic over Nat/Int (with hypotheses): the bulk of miniF2F-core
    "simp",          # normalises with the simp set; closes many computational and propositional goals
    "decide",        # evaluates closed decidable propositions (concrete numbers, bounded quantifiers)
    "grind",         # congruence closure + E-matching + linear arithmetic; strongest core closer
    "rfl",           # definitional equalities (concrete computations the kernel can evaluate)
    "simp_all",      # simp that also rewrites with and into the hypotheses
    "intros",        # opens binders/implications so the closers above see the hypotheses
    "constructor",   # splits ∧, ↔ and ∃-free structure goals into parts a closer can finish
    "exact?",        # library search for a single lemma that closes the goal
    "contradiction", # closes goals with contradictory or False hypotheses
)

TacticSpec = Union[str, tuple[str, float]]


class FixedGenerator:
    """Returns the same candidates for every request.

    `tactics` is a list of tactic strings (uniform prior: each gets log(1/len(tactics))) or of
    (tactic, probability) pairs (prior log(probability)); plain strings in a list with pairs get the uniform
    prior. Duplicates keep their first occurrence. Candidates have `source="fixed"` and `n_tokens=0`.
    """

    def __init__(self, tactics: Sequence[TacticSpec] | None = None, name: str = "fixed"):
        specs = list(DEFAULT_TACTICS if tactics is None else tactics)
        if not specs:
            raise ValueError("FixedGenerator needs at least one tactic")
        uniform = math.log(1.0 / len(specs))
        cands: list[Candidate] = []
        seen: set[str] = set()
        for spec in specs:
            if isinstance(spec, str):
                tactic, logprob = spec, uniform
            else:
                tactic, prob = spec
                prob = float(prob)
                if not 0.0 < prob <= 1.0:
                    raise ValueError(f"prior for {tactic!r} must be a probability in (0, 1], got {prob}")
                logprob = math.log(prob)
            tactic = tactic.strip()
            key = " ".join(tactic.split())
            if not key or key in seen:
                continue
            seen.add(key)
            cands.append(Candidate(tactic=tactic, logprob=logprob, n_tokens=0, source="fixed"))
        # Stable sort: equal priors keep the given order.
        self._cands: tuple[Candidate, ...] = tuple(sorted(cands, key=lambda c: -c.logprob))
        self.name = name
        self.stats = GeneratorStats()

    @property
    def tactics(self) -> list[str]:
        return [c.tactic for c in self._cands]

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        out = [list(self._cands) for _ in requests]
        self.stats.record_call(out, time.perf_counter() - t0)
        return out

    def __repr__(self) -> str:
        return f"FixedGenerator({self.tactics!r}, name={self.name!r})"

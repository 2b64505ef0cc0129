"""The one interface every tactic generator implements, and the request/answer types it speaks.

A generator turns proof states into candidate tactics with a log-probability each. The search calls
`generate` with several states at once (the open nodes it is about to expand, possibly from several
theorems), so a model backend can run them as one batch instead of one prompt at a time.

A candidate is one tactic, or a path of tactics (a whole proof sampled at once, DeepSeek-Prover/Kimina
style, or a stored proof): `tactic` is its first step and `steps` the ones after it, in order (empty for a
single tactic). The search runs a path's steps one after another from the state the first one reaches.

Invariant: `generate(requests, n)` returns one list per request, in request order; each list holds at most
`n` candidates (fixed generators may return their whole list), with distinct paths (`Candidate.key`: every
step whitespace-normalised; a single tactic is a path of one step), sorted by `logprob` descending.
`logprob` is the natural-log probability of the whole candidate, every step of it, under the generator (sum
over its tokens), <= 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class GoalRequest:
    """What a generator sees of one proof state: the pretty-printed goals (main goal first) and context."""

    goals: tuple[str, ...]
    theorem: str = ""  # the theorem's name (for logging and per-theorem seeding; never part of the prompt)
    statement: str = ""  # the theorem statement as given in the benchmark (some prompt formats use it)
    history: tuple[str, ...] = ()  # tactics applied from the root to reach this state


@dataclass(frozen=True)
class Candidate:
    """One proposed tactic (or path of tactics) and its natural-log probability under the generator."""

    tactic: str  # the first (often the only) step
    logprob: float
    n_tokens: int = 0  # tokens in the tactic (the whole path), for length-normalised priorities (0 if unknown)
    source: str = "model"  # "model" | "fixed" | "model-proof" | ... (which generator proposed it, for the report)
    steps: tuple[str, ...] = ()  # the tactics after `tactic`, in order: a path the search runs step by step

    @property
    def path(self) -> tuple[str, ...]:
        """Every step, the first one included."""
        return (self.tactic, *self.steps)

    @property
    def key(self) -> tuple[str, ...]:
        """The path with each step whitespace-normalised: what makes two candidates the same."""
        return tuple(" ".join(t.split()) for t in self.path)


@dataclass
class GeneratorStats:
    """Counters every generator keeps; the run report reads them."""

    calls: int = 0
    prompts: int = 0
    candidates: int = 0
    seconds: float = 0.0
    tokens_generated: int = 0
    extra: dict = field(default_factory=dict)

    def record_call(self, answers: Sequence[Sequence["Candidate"]], seconds: float) -> None:
        """Count one `generate` call: one prompt per answer list, every candidate returned, its wall time."""
        self.calls += 1
        self.prompts += len(answers)
        self.candidates += sum(len(a) for a in answers)
        self.seconds += seconds


@runtime_checkable
class TacticGenerator(Protocol):
    name: str
    stats: GeneratorStats

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        ...


def dedupe_sorted(cands: Sequence[Candidate], limit: int | None = None) -> list[Candidate]:
    """Keep the best-scoring copy of each path (`Candidate.key`), best first, at most `limit`. A candidate with
    an empty step is dropped (a path with a hole is no path)."""
    best: dict[tuple[str, ...], Candidate] = {}
    for c in cands:
        key = c.key
        if not all(key):
            continue
        if key not in best or c.logprob > best[key].logprob:
            best[key] = c
    out = sorted(best.values(), key=lambda c: -c.logprob)
    return out if limit is None else out[:limit]

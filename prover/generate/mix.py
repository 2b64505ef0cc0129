"""Several generators as one: every part sees the same requests, and the answers are merged per request."""
from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from .base import Candidate, GeneratorStats, GoalRequest, TacticGenerator, dedupe_sorted


class MixGenerator:
    """Calls each part (in order) with the same requests and `num_samples`, and merges per request with
    `dedupe_sorted` (no limit): a tactic proposed by several parts keeps its best-scoring copy (and that
    copy's `source`). The name defaults to the parts' names joined by "+", e.g. "hf+fixed".

    `stats`: calls, prompts, candidates and seconds are the mix's own (what it returned, wall time);
    tokens_generated is the parts' sum; `extra["parts"]` holds each part's stats as a dict.
    """

    def __init__(self, parts: Sequence[TacticGenerator], name: str | None = None):
        self.parts = list(parts)
        if not self.parts:
            raise ValueError("MixGenerator needs at least one part")
        self.name = name or "+".join(p.name for p in self.parts)
        self._own = GeneratorStats()

    @property
    def stats(self) -> GeneratorStats:
        parts: dict[str, dict] = {}
        for i, p in enumerate(self.parts):
            key = p.name if p.name not in parts else f"{p.name}#{i}"
            parts[key] = dataclasses.asdict(p.stats)
        return GeneratorStats(calls=self._own.calls, prompts=self._own.prompts, candidates=self._own.candidates,
                              seconds=self._own.seconds,
                              tokens_generated=sum(p.stats.tokens_generated for p in self.parts),
                              extra={"parts": parts})

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        requests = list(requests)
        merged: list[list[Candidate]] = [[] for _ in requests]
        for p in self.parts:
            answers = p.generate(requests, num_samples)
            if len(answers) != len(requests):
                raise RuntimeError(f"generator {p.name!r} returned {len(answers)} answers for {len(requests)} requests")
            for acc, cands in zip(merged, answers):
                acc.extend(cands)
        out = [dedupe_sorted(c) for c in merged]
        self._own.record_call(out, time.perf_counter() - t0)
        return out

    def close(self) -> None:
        for p in self.parts:
            close = getattr(p, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        return f"MixGenerator({self.parts!r}, name={self.name!r})"

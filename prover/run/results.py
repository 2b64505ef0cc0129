"""The results file of a run: `results.jsonl`, one JSON row per theorem, appended as each theorem finishes.

Rows are written with flush + fsync, so a run that is killed loses no finished theorem; at worst the last
line is cut short mid-write. Readers skip such a line, and `ResultsWriter` drops it before appending, so
`--resume` (which re-runs every theorem not in `finished_names`) leaves a clean file behind.

A row's `status` is an `Outcome` (prover/outcome.py). Only verdicts are finished: a row whose attempt failed
for machinery reasons (Lean crash or timeout, model server down, a bug) is retried by `--resume`, and its
retry's row, appended later, replaces it for every reader.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from ..io import JsonlAppender, dumps_row, read_jsonl
from ..outcome import MACHINERY, Outcome

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
STATUSES = tuple(o.value for o in Outcome)
FINISHED_STATUSES = frozenset(o.value for o in Outcome if o not in MACHINERY)  # verdicts: --resume keeps them


@dataclass
class TheoremResult:
    """One theorem's outcome.

    status: an `Outcome` value: a verdict ("proved", "failed", "budget", "invalid") or a machinery failure
    ("lean_crash", "lean_timeout", "model_error", "error"); `error` says why. `proof` is the tactic script after `:= by`,
    `proof_text` the full theorem text that Lean's kernel re-checked, `verified` whether it passed.
    Fields a newer writer adds land in `extra` and are written back unchanged.
    """

    name: str
    category: str
    status: str
    proof: str | None = None
    proof_text: str | None = None
    verified: bool = False
    generator: str = ""
    expansions: int = 0
    expansions_to_proof: int | None = None
    tactic_calls: int = 0
    nodes: int = 0
    lean_seconds: float = 0.0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    seconds_to_proof: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.name}: status {self.status!r} is not one of {STATUSES}")
        self.status = Outcome(self.status).value  # a plain string in rows and JSON

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.status)

    @property
    def machinery_failure(self) -> bool:
        """The attempt says nothing about the theorem (Lean or the model failed); --resume retries it."""
        return self.outcome.machinery

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        for k, v in extra.items():
            d.setdefault(k, v)
        return d

    def to_json(self) -> str:
        """One line of JSON (no newline)."""
        return dumps_row(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TheoremResult":
        known = {f.name for f in fields(cls)} - {"extra"}
        kw = {k: v for k, v in d.items() if k in known}
        extra = {k: v for k, v in d.items() if k not in known and k != "extra"}
        if isinstance(d.get("extra"), dict):
            extra.update(d["extra"])
        for k in ("expansions", "tactic_calls", "nodes"):
            if kw.get(k) is not None:
                kw[k] = int(kw[k])
        if kw.get("expansions_to_proof") is not None:
            kw["expansions_to_proof"] = int(kw["expansions_to_proof"])
        for k in ("lean_seconds", "model_seconds", "wall_seconds", "seconds_to_proof"):
            if kw.get(k) is not None:
                kw[k] = float(kw[k])
        if "verified" in kw:
            kw["verified"] = bool(kw["verified"])
        return cls(**kw, extra=extra)

    @classmethod
    def from_json(cls, s: str | bytes | dict) -> "TheoremResult":
        """From a JSON line (or an already parsed dict)."""
        return cls.from_dict(s if isinstance(s, dict) else json.loads(s))


class ResultsWriter:
    """Appends one JSON line per finished theorem to `path`, flushed and fsynced before `write` returns
    (`prover.io.JsonlAppender`). Opening an existing file keeps its rows (for --resume) but drops an incomplete
    last line first, so the next row does not get glued onto it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._out = JsonlAppender(path)
        self.path, self.dropped_bytes = self._out.path, self._out.dropped_bytes

    def write(self, result: TheoremResult | dict) -> None:
        row = result if isinstance(result, TheoremResult) else TheoremResult.from_dict(result)
        self._out.append(row.to_dict())

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_results(path: str | os.PathLike) -> Iterator[TheoremResult]:
    """Rows in file order. A last line cut short (a run killed mid-write) is skipped silently; a bad line
    elsewhere is skipped with a warning naming its file and line."""
    for line, d in read_jsonl(path, skip_bad=True, partial_tail_ok=True):
        try:
            yield TheoremResult.from_dict(d)
        except (ValueError, TypeError) as e:
            log.warning("%s:%d: skipping a bad results row (%s: %s)", path, line, type(e).__name__, e)


def read_results(path: str | os.PathLike) -> dict[str, TheoremResult]:
    """`{name: row}` from a results file; a later row for the same name replaces an earlier one."""
    return {r.name: r for r in iter_results(path)}


def finished_names(path: str | os.PathLike) -> set[str]:
    """Names of theorems whose latest row is a verdict (FINISHED_STATUSES); machinery failures are not
    finished. Empty if no file yet."""
    if not Path(path).is_file():
        return set()
    return {name for name, r in read_results(path).items() if r.status in FINISHED_STATUSES}

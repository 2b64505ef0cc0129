"""Benchmark files: JSONL rows with a theorem `name` and its statement, read with errors that name the line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import read_jsonl

STATEMENT_FIELDS = ("core_statement", "statement", "formal_statement")


class BenchError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    name: str
    statement: str  # `theorem name binders : type` (a trailing `:= by sorry` is allowed)
    category: str = ""
    preludes: tuple[str, ...] = ()  # names of prelude definitions the statement uses (see data/*/prelude.lean)


def load_bench(path: str | Path, field: str | None = None) -> list[Problem]:
    """Rows need `name` and a statement (`core_statement`, `statement` or `formal_statement`, or `field`).
    A row whose statement field is present but null (nothing was formalized) is skipped."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"benchmark file not found: {path}")
    problems, seen = [], set()
    for i, row in read_jsonl(path, BenchError):
        if not isinstance(row.get("name"), str) or not row["name"]:
            raise BenchError(f"{path}:{i}: a row needs a non-empty string `name`")
        keys = (field,) if field else STATEMENT_FIELDS
        stmt = next((row[k] for k in keys if isinstance(row.get(k), str) and row[k].strip()), None)
        if stmt is None and any(k in row and row[k] is None for k in keys):
            continue  # an explicit null: e.g. a problem `python -m autoform` could not formalize
        if stmt is None:
            raise BenchError(f"{path}:{i}: row {row['name']!r} has no statement (one of {', '.join(keys)})")
        if row["name"] in seen:
            raise BenchError(f"{path}:{i}: duplicate name {row['name']!r}")
        seen.add(row["name"])
        pre = row.get("prelude") or []
        problems.append(Problem(row["name"], stmt, str(row.get("category", "")),
                                tuple(map(str, pre)) if isinstance(pre, list) else (str(pre),)))
    if not problems:
        raise BenchError(f"{path}: no problems")
    return problems

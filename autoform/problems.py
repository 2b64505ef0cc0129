"""What a user hands in: a JSONL file, a text file with one problem per paragraph, or one problem as text.

Each becomes an `InformalProblem`; a reference statement (for the faithfulness check) comes along when the JSONL
row has one (`core_statement`, `formal_statement` or `statement`). Bad rows are refused with file and line.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from prover.io import read_jsonl

TEXT_FIELDS = ("informal_statement", "informal", "problem", "text", "nl_statement")
REFERENCE_FIELDS = ("core_statement", "formal_statement", "statement")


class InputError(ValueError):
    """The input cannot be read as problems; the message names the file, line and field."""


@dataclass(frozen=True)
class InformalProblem:
    name: str  # becomes the theorem's name: a Lean identifier
    text: str
    reference: str | None = None  # a known-good Lean statement of the same problem
    preludes: tuple[str, ...] = field(default=())  # prelude definitions the reference uses


def lean_ident(text: str, fallback: str) -> str:
    """A Lean identifier made from `text` (letters, digits, `_`; not starting with a digit)."""
    s = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_")
    if not s:
        return fallback
    return s if not s[0].isdigit() else f"p_{s}"


def _auto_name(text: str, i: int) -> str:
    return f"problem_{i}_{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def read_problems(spec: str) -> list[InformalProblem]:
    """`spec` is a path (`.jsonl`: rows; any other file: paragraphs) or, if no such file exists, the problem."""
    path = Path(spec)
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise InputError(f"input file not found: {path}")
        return _read_jsonl(path) if path.suffix == ".jsonl" else _read_paragraphs(path)
    text = spec.strip()
    if not text:
        raise InputError("empty input: give a JSONL file, a text file or the problem itself")
    return [InformalProblem(_auto_name(text, 1), text)]


def _read_paragraphs(path: Path) -> list[InformalProblem]:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text: {e}") from None
    paras = [p.strip() for p in re.split(r"\n\s*\n", raw) if p.strip()]
    if not paras:
        raise InputError(f"{path}: no problems (one problem per paragraph, separated by blank lines)")
    return [InformalProblem(_auto_name(p, i), p) for i, p in enumerate(paras, 1)]


def _read_jsonl(path: Path) -> list[InformalProblem]:
    out: list[InformalProblem] = []
    seen: set[str] = set()
    for i, row in read_jsonl(path, InputError):
        text = next((row[k] for k in TEXT_FIELDS if isinstance(row.get(k), str) and row[k].strip()), None)
        if text is None:
            raise InputError(f"{path}:{i}: no informal statement (one of {', '.join(TEXT_FIELDS)})")
        name = row.get("name")
        if name is not None and not isinstance(name, str):
            raise InputError(f"{path}:{i}: `name` must be a string")
        name = lean_ident(name, _auto_name(text, i)) if name else _auto_name(text, i)
        if name in seen:
            raise InputError(f"{path}:{i}: duplicate name {name!r}")
        seen.add(name)
        ref = next((row[k] for k in REFERENCE_FIELDS if isinstance(row.get(k), str) and row[k].strip()), None)
        pre = row.get("prelude") or []
        out.append(InformalProblem(name, text.strip(), ref, tuple(map(str, pre if isinstance(pre, list) else [pre]))))
    if not out:
        raise InputError(f"{path}: no problems")
    return out

"""What `python -m prover prove` accepts, turned into a benchmark file in the run directory.

- a benchmark (JSONL, `--bench`): used as it is;
- a `.lean` file: every theorem/lemma whose proof is `sorry` becomes a row of `OUT/problems.jsonl`, and the
  file's other declarations (definitions its statements may use) become `OUT/context.lean`, a prelude;
  after the search, `FILE.proved.lean` beside it is the same file with the verified proofs filled in;
- one statement in quotes (`theorem foo (a b : Nat) : a + b = b + a`, or a bare proposition): one row.

Everything here runs before Lean starts; a bad input raises `InputError` naming it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..io import atomic_write_text, dumps_row
from ..lean.check_file import FileError, read_source
from ..lean import lean_file
from .results import TheoremResult

PROBLEMS_NAME = "problems.jsonl"
CONTEXT_NAME = "context.lean"


class InputError(ValueError):
    """The input of `prove` is not a benchmark, a .lean file or a statement; the message says which and why."""


@dataclass
class Source:
    kind: str  # "bench" | "file" | "statement"
    bench: Path  # the benchmark the runner reads
    lean_file: Path | None = None  # for kind "file": the user's file
    context: Path | None = None  # for kind "file": the file's definitions, loaded as a prelude
    names: tuple[str, ...] = ()


def kind_of(arg: str) -> str:
    """"file" for a .lean path, "bench" for a .jsonl path, else "statement" (refused if it is neither)."""
    if arg.endswith(".lean"):
        return "file"
    if arg.endswith(".jsonl"):
        return "bench"
    if re.match(r"\s*(theorem|lemma|example)\s", arg):
        return "statement"
    if Path(arg).is_file():
        raise InputError(f"{arg}: a file, but neither .lean nor .jsonl")
    if "\n" not in arg.strip() and any(c in arg for c in ":=→↔∀∃<>≤≥≠"):
        return "statement"
    raise InputError(f"{arg!r} is neither a .lean file, a .jsonl benchmark, nor a statement "
                     "(e.g. \"theorem foo (a b : Nat) : a + b = b + a\")")


def default_out(arg: str, kind: str) -> Path:
    if kind == "statement":
        name = statement_name(arg) or "statement"
        return Path("runs") / f"prove-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}"
    return Path("runs") / f"prove-{Path(arg).stem}"


def statement_name(text: str) -> str | None:
    m = re.match(r"\s*(?:theorem|lemma)\s+([^\s(:{\[⦃]+)", text)
    return m.group(1) if m else None


def _write_rows(out: Path, rows: Sequence[dict]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / PROBLEMS_NAME
    text = "".join(dumps_row(r) + "\n" for r in rows)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # unchanged: --resume sees the same data
        atomic_write_text(path, text)
    return path


def from_statement(text: str, out: Path) -> Source:
    """One statement: `theorem name binders : type` (`lemma` too; `:= sorry` may follow), or a proposition,
    which becomes `theorem goal : <proposition>`."""
    stmt = text.strip()
    if not stmt:
        raise InputError("empty statement")
    if stmt.startswith("example"):
        stmt = "theorem goal" + stmt[len("example"):]
    elif not re.match(r"(theorem|lemma)\s", stmt):
        stmt = f"theorem goal : {stmt}"
    name = statement_name(stmt)
    if not name:
        raise InputError(f"cannot read a theorem name in {text!r}")
    from ..lean.protocol import normalize_statement

    try:
        stmt = normalize_statement(stmt)
    except ValueError as e:
        raise InputError(str(e)) from None
    return Source("statement", _write_rows(out, [{"name": name, "core_statement": stmt}]), names=(name,))


def from_lean_file(path: Path, out: Path) -> Source:
    """The sorry theorems of a .lean file. Raises InputError for a missing or unreadable file, or one with
    no theorem to prove."""
    try:
        source = read_source(path)  # byte-exact: the filled file keeps every other byte, CRLF included
    except FileError as e:
        raise InputError(str(e)) from None
    try:
        theorems = lean_file.scan(source)
        ctx = lean_file.context(source)
    except lean_file.LeanFileError as e:
        raise InputError(f"{path}: {e}") from None
    if not theorems:
        raise NothingToProve(f"{path} has no theorem or lemma whose proof is `sorry`: nothing to prove")
    seen: set[str] = set()
    for t in theorems:
        if t.name in seen:
            raise InputError(f"{path}:{t.line}: theorem {t.name} is declared twice")
        seen.add(t.name)
    rows = [{"name": t.name, "core_statement": t.statement, "category": path.name, "line": t.line}
            for t in theorems]
    bench = _write_rows(out, rows)
    context = None
    if ctx:
        context = out / CONTEXT_NAME
        context.write_text(f"-- The definitions of {path}, loaded before its statements.\n{ctx}", encoding="utf-8")
    elif (out / CONTEXT_NAME).exists():
        (out / CONTEXT_NAME).unlink()
    return Source("file", bench, lean_file=path, context=context, names=tuple(t.name for t in theorems))


class NothingToProve(InputError):
    """A valid input with nothing to attempt (exit code 3, not 2)."""


def filled_path(path: Path) -> Path:
    return path.with_name(path.stem + ".proved.lean")


def write_filled(path: Path, rows: Sequence[TheoremResult]) -> tuple[Path, int]:
    """`FILE.proved.lean` beside `path`: the file with every verified proof filled in (other bytes unchanged).
    Returns the path and how many proofs went in."""
    proofs = {r.name: [r.proof] for r in rows if r.proved and r.verified and r.proof}
    source = read_source(path)
    out = filled_path(path)
    atomic_write_text(out, lean_file.fill(source, proofs))
    return out, len(proofs)

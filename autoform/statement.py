"""Lean statements as text: split `theorem name binders : type` into its parts, rename it, close it over its
binders as one proposition, and a whitespace-and-name-blind normal form for cheap grouping.

Only the header matters here (no proof): `normalize_statement` drops a trailing `:= by sorry` first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from prover.lean.protocol import normalize_statement

_OPEN, _CLOSE = "([{⦃⟨", ")]}⦄⟩"
_LINE_COMMENT = re.compile(r"--[^\n]*")
_BLOCK_COMMENT = re.compile(r"/-.*?-/", re.S)


class StatementError(ValueError):
    """The text is not a theorem header this module can take apart."""


@dataclass(frozen=True)
class Statement:
    """`theorem name binders : conclusion`. `binders` is the raw text between the name and the top-level
    colon (bracketed groups or plain identifiers, possibly empty); `conclusion` is the type after it."""

    name: str
    binders: str
    conclusion: str

    @property
    def header(self) -> str:
        mid = f" {self.binders}" if self.binders else ""
        return f"theorem {self.name}{mid} : {self.conclusion}"

    @property
    def with_sorry(self) -> str:
        """The form the benchmark files use (and `python -m prover prove` reads)."""
        return self.header + " := by\n  sorry"

    def proposition(self) -> str:
        """The statement closed over its binders: `∀ binders, conclusion` (just the conclusion if none)."""
        return f"∀ {self.binders}, {self.conclusion}" if self.binders else self.conclusion

    def renamed(self, name: str) -> "Statement":
        return Statement(name, self.binders, self.conclusion)


def strip_comments(text: str) -> str:
    return _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub(" ", text))


def one_line(text: str) -> str:
    return " ".join(strip_comments(text).split())


def parse_statement(text: str) -> Statement:
    """Split a theorem header. Raises StatementError on anything else (a bare proposition, a def, a proof)."""
    try:
        t = one_line(normalize_statement(text))
    except ValueError as e:
        raise StatementError(str(e)) from None
    m = re.match(r"(theorem|example)\s+", t)
    if not m:
        raise StatementError(f"not a theorem statement (expected `theorem name ... : ...`): {t[:120]!r}")
    rest = t[m.end():]
    if m.group(1) == "example":
        name, rest = "example", rest
    else:
        nm = re.match(r"[^\s(\[{⦃:]+", rest)
        if not nm:
            raise StatementError(f"theorem without a name: {t[:120]!r}")
        name, rest = nm.group(0), rest[nm.end():]
    depth = 0
    for i, ch in enumerate(rest):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                raise StatementError(f"unbalanced brackets in {t[:120]!r}")
        elif ch == ":" and depth == 0 and rest[i + 1:i + 2] != "=":
            binders, conclusion = rest[:i].strip(), rest[i + 1:].strip()
            if not conclusion:
                raise StatementError(f"empty conclusion in {t[:120]!r}")
            return Statement(name, binders, conclusion)
    raise StatementError(f"no `: type` after the binders in {t[:120]!r}")


def normal_form(stmt: Statement) -> str:
    """Name-blind, whitespace-blind text: identical normal forms are the same statement up to the theorem's
    name, spacing and comments (Lean decides the subtler cases: see equivalence.py)."""
    return one_line(f"{stmt.binders} : {stmt.conclusion}")

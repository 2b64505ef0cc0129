"""Prompts for formalization and repair, and reading a statement back out of a completion.

A prompt is an instruction, then few-shot pairs, then the problem; the model continues the header
`theorem <name>` with binders, `:` and the conclusion on one line, ended by `:= by sorry`:

    Problem: <informal text>
    Lean 4: theorem <name> (x : Nat) (h₀ : ...) : ... := by sorry

A repair prompt adds the failed attempt and Lean's first error before asking again. Examples are added most
similar first while the prompt stays within `max_tokens`; the problem itself is always there (its text is cut
at the end if it alone is too long).
"""
from __future__ import annotations

from typing import Callable, Sequence

from .examples import Example
from .statement import one_line

INSTRUCTION = ("Translate each math problem into a Lean 4 theorem statement. Use core Lean 4 only (Nat, Int, "
               "Rat, List; no Mathlib), state hypotheses as named binders, and end with `:= by sorry`.\n\n")
END = " := by sorry"
_MAX_ERROR_CHARS = 300
# where a statement's completion ends: its line, its `:= by`, or a new problem (sampling stops there)
STATEMENT_STOP = ("\n", ":= by", "Problem:")


def _pair(informal: str, header: str) -> str:
    return f"Problem: {one_line(informal)}\nLean 4: {header}{END}\n\n"


def _ask(informal: str, name: str) -> str:
    return f"Problem: {one_line(informal)}\nLean 4: theorem {name}"


def _repair_tail(informal: str, name: str, failed: str, error: str) -> str:
    err = one_line(error)[:_MAX_ERROR_CHARS]
    return (f"Problem: {one_line(informal)}\nLean 4 (rejected): {one_line(failed)}{END}\n"
            f"Lean error: {err}\nLean 4 (fixed): theorem {name}")


def build_prompt(informal: str, name: str, examples: Sequence[Example], count_tokens: Callable[[str], int],
                 max_tokens: int, failed: str | None = None, error: str | None = None) -> tuple[str, int]:
    """(prompt, number of examples used). With `failed` and `error`, a repair prompt."""
    def tail_for(text: str) -> str:
        return _ask(text, name) if failed is None else _repair_tail(text, name, failed, error or "")

    tail = tail_for(informal)
    used: list[str] = []
    total = count_tokens(INSTRUCTION + tail)
    if total > max_tokens:  # the problem alone does not fit: keep the start of its text
        words = one_line(informal).split()
        lo, hi = 0, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(INSTRUCTION + tail_for(" ".join(words[:mid]) + " …")) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return INSTRUCTION + tail_for(" ".join(words[:lo]) + " …"), 0
    for ex in examples:
        piece = _pair(ex.informal, ex.statement)
        cost = count_tokens(piece)
        if total + cost > max_tokens:
            break
        used.append(piece)
        total += cost
    # the most similar example goes last, nearest the problem
    return INSTRUCTION + "".join(reversed(used)) + tail, len(used)


def extract_statement(name: str, completion: str) -> str | None:
    """The header `theorem <name> ...` the completion finishes, or None if there is nothing usable.

    The completion continues after `theorem <name>`: its first line is kept, cut before `:= by sorry` (or the last
    top-level `:=`, where the model wrote a proof of its own)."""
    line = completion.split("\n", 1)[0]
    for stop in ("Problem:", "Lean 4", "```", ":= by"):
        line = line.split(stop, 1)[0]
    if ":=" in line:
        line = line[:line.rindex(":=")]
    line = line.strip()
    if not line or ":" not in line:
        return None
    return one_line(f"theorem {name} {line}")

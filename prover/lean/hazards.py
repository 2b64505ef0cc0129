"""Proof states that crash Lean, recognised from their pretty-printed goals so the search never expands them.

Lean's runtime aborts the whole process ("INTERNAL PANIC: Nat.pow exponent is too big") when a tactic
evaluates `a ^ b` on literals with an exponent that is not a machine-size number; `omega` does so on ground
terms without a guard. A crash costs a Lean restart (about a minute on the embedded backend, unless a warm spare takes over). Seen on miniF2F's
amc12a_2008_p15, where `simp_all` substitutes k = 2008 ^ 2 + 2 ^ 2008 into `2 ^ k`.
"""
from __future__ import annotations

import re
from typing import Sequence

# Exponents at or above this do not fit a Lean scalar on 32-bit WebAssembly (on 64-bit the limit is higher;
# being conservative only drops states no tactic could finish anyway).
MAX_SAFE_EXPONENT = 2 ** 31 - 1
_TOKEN = re.compile(r"\s*(\d+|[-+*()^])")


def _tokens(text: str, start: int) -> list[str]:
    """Tokens of the arithmetic expression that starts at `start` (stops at the first other character)."""
    out, pos, depth = [], start, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        tok = m.group(1)
        if tok == ")" and depth == 0:
            break
        depth += tok == "("
        depth -= tok == ")"
        out.append(tok)
        pos = m.end()
    return out


class _Big(Exception):
    pass


def _eval(tokens: list[str]) -> int:
    """The value of the ground expression at the front of `tokens` (number, parenthesised sum/product/power);
    raises _Big once a value would pass the exponent limit by far."""
    pos = 0

    def atom() -> int:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            v = expr()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
            return v
        if pos < len(tokens) and tokens[pos].isdigit():
            pos += 1
            return int(tokens[pos - 1])
        raise ValueError("not ground")

    def power() -> int:
        nonlocal pos
        base = atom()
        if pos < len(tokens) and tokens[pos] == "^":
            pos += 1
            exp = power()
            if exp > MAX_SAFE_EXPONENT:
                raise _Big
            if base > 1 and exp * base.bit_length() > 4 * 64:
                raise _Big  # a huge value: as an exponent it is surely too big; as a base we stop caring
            return base ** exp
        return base

    def product() -> int:
        nonlocal pos
        v = power()
        while pos < len(tokens) and tokens[pos] == "*":
            pos += 1
            v *= power()
        return v

    def expr() -> int:
        nonlocal pos
        v = product()
        while pos < len(tokens) and tokens[pos] in "+-":
            op = tokens[pos]
            pos += 1
            w = product()
            v = v + w if op == "+" else max(v - w, 0)
        return v

    return expr() if tokens else 0


def crashes_lean(goals: Sequence[str]) -> bool:
    """True if some `x ^ e` in the goals has a ground exponent e beyond MAX_SAFE_EXPONENT."""
    for goal in goals:
        for m in re.finditer(r"\^", goal):
            toks = _tokens(goal, m.end())
            try:
                if _eval(toks) > MAX_SAFE_EXPONENT:
                    return True
            except _Big:
                return True
            except ValueError:
                continue
    return False

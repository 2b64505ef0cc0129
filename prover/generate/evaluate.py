"""Evaluate a pretty-printed Lean proposition or `Nat` term under an assignment of its variables, in Python.

The subset: numerals, variables, parentheses, `+ - * / % ^` with `Nat` semantics (truncated subtraction,
`x / 0 = 0`, `x % 0 = x`), `= ≠ < ≤ > ≥ ∣`, `¬ ∧ ∨ → ↔`, `True`, `False`. Anything else raises `NotEvaluable`.
It only guides the search (which witness or value to propose); Lean checks every proposal, so a mismatch
with Lean's semantics costs a rejected tactic, never soundness.
"""
from __future__ import annotations

import re
from typing import Callable

_TOK = re.compile(r"\s*(\d+|[^\W\d][\w'₀-₉]*|≠|≤|≥|∣|¬|∧|∨|→|↔|[-+*/%^()=<>])")
MAX_VALUE = 10 ** 30  # larger intermediate values are refused (a power tower would hang the evaluator)


class NotEvaluable(ValueError):
    pass


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        if not m:
            raise NotEvaluable(f"cannot read {text[pos:pos + 10]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


# binary operators: (precedence, right-associative, function); Lean's precedences, loosest first
_BIN: dict[str, tuple[int, bool, Callable]] = {
    "↔": (20, False, lambda a, b: bool(a) == bool(b)),
    "→": (25, True, lambda a, b: (not a) or bool(b)),
    "∨": (30, True, lambda a, b: bool(a) or bool(b)),
    "∧": (35, True, lambda a, b: bool(a) and bool(b)),
    "=": (50, False, lambda a, b: a == b), "≠": (50, False, lambda a, b: a != b),
    "<": (50, False, lambda a, b: a < b), "≤": (50, False, lambda a, b: a <= b),
    ">": (50, False, lambda a, b: a > b), "≥": (50, False, lambda a, b: a >= b),
    "∣": (50, False, lambda a, b: (b == 0) if a == 0 else b % a == 0),
    "+": (65, False, lambda a, b: a + b), "-": (65, False, lambda a, b: max(0, a - b)),
    "*": (70, False, lambda a, b: a * b), "/": (70, False, lambda a, b: a // b if b else 0),
    "%": (70, False, lambda a, b: a % b if b else a),
    "^": (75, True, lambda a, b: _pow(a, b)),
}


def _pow(a: int, b: int) -> int:
    if a > 1 and b * a.bit_length() > MAX_VALUE.bit_length():
        raise NotEvaluable("power too large")
    return a ** b


def compile_expr(text: str) -> Callable[[dict[str, int]], int | bool]:
    """A function of an assignment (variable -> value) that evaluates `text`; raises NotEvaluable if `text`
    is outside the subset (at compile time) or names an unassigned variable (at call time)."""
    toks = _tokens(text)
    pos = 0

    def primary():
        nonlocal pos
        if pos >= len(toks):
            raise NotEvaluable("unexpected end")
        t = toks[pos]
        pos += 1
        if t == "(":
            f = expr(0)
            if pos >= len(toks) or toks[pos] != ")":
                raise NotEvaluable("unbalanced parenthesis")
            pos += 1
            return f
        if t == "¬":
            g = expr(40)
            return lambda env: not g(env)
        if t.isdigit():
            v = int(t)
            return lambda env: v
        if t in ("True", "False"):
            v = t == "True"
            return lambda env: v
        if re.match(r"^[^\W\d]", t) and t not in _BIN:
            def var(env, t=t):
                if t not in env:
                    raise NotEvaluable(f"unassigned {t}")
                return env[t]
            return var
        raise NotEvaluable(f"unexpected {t!r}")

    def expr(min_prec: int):
        nonlocal pos
        left = primary()
        while pos < len(toks) and toks[pos] in _BIN:
            op = toks[pos]
            prec, right_assoc, fn = _BIN[op]
            if prec < min_prec:
                break
            pos += 1
            right = expr(prec if right_assoc else prec + 1)
            left = (lambda l, r, fn: lambda env: fn(l(env), r(env)))(left, right, fn)
        return left

    f = expr(0)
    if pos != len(toks):
        raise NotEvaluable(f"trailing {toks[pos]!r}")

    def run(env: dict[str, int]):
        v = f(env)
        if not isinstance(v, bool) and v > MAX_VALUE:
            raise NotEvaluable("value too large")
        return v

    return run


def satisfying(props: list[str], var: str, bound: int, limit: int = 7) -> list[int] | None:
    """The values `x < bound` of `var` that make every proposition true (at most `limit`, else None), or None
    when a proposition is outside the subset."""
    try:
        fs = [compile_expr(p) for p in props]
        out = []
        for x in range(bound):
            if all(f({var: x}) for f in fs):
                out.append(x)
                if len(out) > limit:
                    return None
        return out
    except (NotEvaluable, RecursionError, OverflowError, ZeroDivisionError):
        return None

"""Read a pretty-printed Lean goal back into hypotheses and target, and split terms at top-level connectives.

Lean prints a goal as an optional `case tag` line, one line per hypothesis group (`x y : Nat`, `h₀ : P`), and
`⊢ target`; a long type continues on lines indented deeper than its first line. The parse is textual, so it
is only a guide for proposing tactics: a wrong guess yields a tactic Lean rejects, never an unsound step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

IDENT = r"[^\W\d][\w'!?₀-₉]*(?:\.[^\W\d][\w'!?₀-₉]*)*"
_IDENT_RE = re.compile(rf"^{IDENT}$")
_HYP_RE = re.compile(rf"^((?:{IDENT}|x✝\S*)(?:\s+(?:{IDENT}|x✝\S*))*)\s+:\s+(.*)$", re.S)
_OPEN, _CLOSE = "([{⟨", ")]}⟩"


@dataclass(frozen=True)
class Hyp:
    names: tuple[str, ...]
    type: str


@dataclass(frozen=True)
class Goal:
    hyps: tuple[Hyp, ...]
    target: str
    case: str | None = None

    def named(self) -> list[tuple[str, str]]:
        """(name, type) for every accessible local, in context order."""
        return [(n, h.type) for h in self.hyps for n in h.names if "✝" not in n]

    def names(self) -> set[str]:
        return {n for h in self.hyps for n in h.names}

    def variables(self, types: tuple[str, ...] = ("Nat", "ℕ", "Int", "ℤ")) -> list[tuple[str, str]]:
        """Locals whose type is one of `types` (numbers one can bound, split or induct on)."""
        return [(n, t) for n, t in self.named() if t.strip() in types]

    def fresh(self, base: str, taken: set[str] | None = None) -> str:
        """`base`, or `base_1`, `base_2`, ... : a name no local (or `taken`) uses."""
        return fresh_name(base, self.names() | (taken or set()))


def fresh_name(base: str, used: set[str], first: int = 1) -> str:
    """`base` if unused, else `base_<first>`, `base_<first + 1>`, ...: the first one not in `used`."""
    if base not in used:
        return base
    i = first
    while f"{base}_{i}" in used:
        i += 1
    return f"{base}_{i}"


def is_ident(text: str) -> bool:
    return bool(_IDENT_RE.match(text.strip()))


def parse_goal(text: str) -> Goal:
    """Hypotheses and target of one pretty-printed goal (a goal without `⊢` is all target)."""
    lines = text.split("\n")
    case = None
    if lines and lines[0].startswith("case "):
        case, lines = lines[0][5:].strip(), lines[1:]
    items: list[str] = []  # each hypothesis or the target, continuation lines joined
    for line in lines:
        if not line.strip():
            continue
        if line[0] in " \t" and items:
            items[-1] += " " + line.strip()
        else:
            items.append(line.strip())
    hyps: list[Hyp] = []
    target_parts: list[str] = []
    in_target = False
    for item in items:
        if item.startswith("⊢"):
            in_target = True
            target_parts.append(item[1:].strip())
        elif in_target:
            target_parts.append(item)
        else:
            m = _HYP_RE.match(item)
            if m:
                hyps.append(Hyp(tuple(m.group(1).split()), " ".join(m.group(2).split())))
            elif hyps:  # not a `name : type` line: part of the previous type
                hyps[-1] = Hyp(hyps[-1].names, hyps[-1].type + " " + item)
    target = " ".join(" ".join(target_parts).split())
    if not target_parts:
        target = " ".join(" ".join(items).split())
    return Goal(tuple(hyps), target, case)


def split_top(term: str, op: str) -> list[str]:
    """`term` split at every top-level occurrence of the infix `op` (outside brackets and binder bodies).

    A binder (`∀`, `∃`, `fun`, `λ`) extends as far right as possible, so nothing after it is top level.
    """
    parts, depth, start, i = [], 0, 0, 0
    n = len(term)
    while i < n:
        c = term[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0 and (c in "∀∃λ" or term.startswith("fun ", i)) and (i == 0 or not term[i - 1].isalnum()):
            break  # the binder's body runs to the end
        elif depth == 0 and term.startswith(op, i):
            parts.append(term[start:i].strip())
            i += len(op)
            start = i
            continue
        i += 1
    parts.append(term[start:].strip())
    return [p for p in parts if p] if len(parts) > 1 else [term.strip()]


def strip_parens(term: str) -> str:
    """`(P)` -> `P` when the outer parentheses enclose the whole term."""
    t = term.strip()
    while t.startswith("(") and t.endswith(")"):
        depth = 0
        for i, c in enumerate(t):
            depth += c in _OPEN
            depth -= c in _CLOSE
            if depth == 0 and i < len(t) - 1:
                return t
        t = t[1:-1].strip()
    return t


def binder(term: str) -> tuple[str, list[str], str] | None:
    """(`∀` or `∃`, bound names, body) of a term that starts with a binder, else None.

    `∀ x y, P`, `∀ (x : T), P`, `∃ x : T, P`, `∀ i ≤ n, P` (the bound `i ≤ n` becomes a hypothesis: the body
    returned is `i ≤ n → P` for `∀`, `i ≤ n ∧ P` for `∃`).
    """
    t = strip_parens(term)
    if not t or t[0] not in "∀∃":
        return None
    q, rest = t[0], t[1:].strip()
    depth, comma = 0, -1
    for i, c in enumerate(rest):
        depth += c in _OPEN
        depth -= c in _CLOSE
        if c == "," and depth == 0:
            comma = i
            break
    if comma < 0:
        return None
    head, body = rest[:comma].strip(), rest[comma + 1:].strip()
    names: list[str] = []
    for group in re.findall(r"\(([^()]*)\)", head) or [head]:
        group = group.split(":")[0]
        m = re.match(rf"^((?:{IDENT}|_)(?:\s+(?:{IDENT}|_))*)\s*(?:(<|≤|>|≥|∈|∉)\s*(.+))?$", group.strip())
        if not m:
            return None
        names += m.group(1).split()
        if m.group(2):
            link = "→" if q == "∀" else "∧"
            body = f"{names[-1]} {m.group(2)} {m.group(3)} {link} {body}"
    return q, names, body


def numerals(text: str) -> list[int]:
    """The distinct natural-number literals of `text`, in order of appearance."""
    seen: dict[int, None] = {}
    for m in re.finditer(r"(?<![\w₀-₉.])\d+(?![\w.])", text):
        seen.setdefault(int(m.group()), None)
    return list(seen)


def bounds(goal: Goal, var: str) -> tuple[int | None, int | None]:
    """The tightest literal bounds (lo, hi), inclusive, that the hypotheses state for `var` (None: unknown).

    Reads `x < N`, `x ≤ N`, `N > x`, `N ≥ x`, `N ≤ x`, `N < x`, `x > N`, `x ≥ N`, also inside conjunctions.
    """
    lo: int | None = None
    hi: int | None = None
    v = re.escape(var)
    num = r"(-?\d+)"
    text = " ∧ ".join(t for _, t in goal.named())
    for part in re.split(r"∧|∨|→|↔|\(|\)", text):
        p = part.strip()
        for pat, kind in ((rf"^{v}\s*<\s*{num}$", "hi-1"), (rf"^{v}\s*≤\s*{num}$", "hi"),
                          (rf"^{num}\s*>\s*{v}$", "hi-1"), (rf"^{num}\s*≥\s*{v}$", "hi"),
                          (rf"^{num}\s*<\s*{v}$", "lo+1"), (rf"^{num}\s*≤\s*{v}$", "lo"),
                          (rf"^{v}\s*>\s*{num}$", "lo+1"), (rf"^{v}\s*≥\s*{num}$", "lo")):
            m = re.match(pat, p)
            if m:
                k = int(m.group(1))
                if kind.startswith("hi"):
                    k -= kind == "hi-1"
                    hi = k if hi is None else min(hi, k)
                else:
                    k += kind == "lo+1"
                    lo = k if lo is None else max(lo, k)
    return lo, hi

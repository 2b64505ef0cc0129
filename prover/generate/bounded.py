"""Bounded evaluation: finish a goal by letting `decide` enumerate the values of its number variables, once
each variable has a bound that `omega` (with a hint) proves. These are the moves of `StructuralGenerator` for
goals whose hypotheses pin their variables to a finite range:

- `box_moves`: the goal restated as `∀ x₁ < B₁, ∀ x₂ < B₂, hypotheses → target`, decided, and applied to the
  goal's own variables and hypotheses. Bounds are literals the hypotheses state, or guesses (the hypotheses'
  literals, and their squares) that `omega` must prove, helped by `x ≤ x * x` (`Nat.le_mul_self`), so a
  hypothesis like `r * r = 10 * b + 6` bounds `r`;
- `refute_moves`: a target `c ≤ x` (or `c < x`, `x ≥ c`, `x > c`) refuted below `c`: `decide` checks that no
  `x < c` satisfies the hypotheses;
- `finite_set_moves`: a list given by membership, `hS : S.Nodup` and `h : ∀ n, n ∈ S ↔ P n` (how the
  restatements encode a finite set), whose `length` or `sum` is the target: `S` is a permutation of
  `(List.range B).filter P` (counts: each is 0 or 1 on both sides), whose length or sum `decide` computes;
- `pin_moves`: a variable its own hypotheses pin to a few values (found by evaluating them in Python,
  evaluate.py) is replaced by each value; `witness_moves`: an `∃` target's witness found the same way.

Each candidate is one tactic; a wrong bound or a guess that does not hold is a tactic Lean rejects, never an
unsound step. Only `Nat` variables are enumerated (`decide` needs a bounded `Nat` quantifier).
"""
from __future__ import annotations

import math
import re

from .base import Candidate
from .evaluate import satisfying
from .goals import Goal, binder, bounds, numerals, split_top, strip_parens

DEEP = "set_option maxRecDepth 100000 in decide"
BOX_MAX = 5000  # most assignments a box enumerates
SET_BOUND_MAX = 2000  # largest range a finite set is filtered from
NATS = ("Nat", "ℕ")


def _cand(tactic: str, prob: float) -> Candidate:
    return Candidate(tactic=tactic, logprob=math.log(prob), n_tokens=0, source="structural")


def occurs(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.'₀-₉]){re.escape(name)}(?![\w'₀-₉])", text) is not None


def rename(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w.'₀-₉]){re.escape(old)}(?![\w'₀-₉])", new, text)


def locals_in(goal: Goal, text: str) -> set[str]:
    return {n for n, _ in goal.named() if occurs(n, text)}


def bound_proof(var: str) -> str:
    """A term proving `var < B` from the context: `omega`, or `omega` told that `var ≤ var * var`."""
    return f"(by first | omega | (have := Nat.le_mul_self {var}; omega))"


def bound_guesses(goal: Goal, var: str, limit: int) -> list[int]:
    """Upper bounds (exclusive) to try for a `Nat` variable: its literal bound if the hypotheses state one,
    else the largest literals of the hypotheses it occurs in, and their squares (at most `limit`)."""
    _, hi = bounds(goal, var)
    if hi is not None:
        return [hi + 1] if hi + 1 <= limit else []
    lits = sorted({k for n, t in goal.named() if n != var and occurs(var, t) for k in numerals(t)})
    out = [k + 1 for k in lits[-2:] if 1 <= k < limit]
    if lits and 1 < lits[-1] and lits[-1] ** 2 < limit:
        out.append(lits[-1] ** 2 + 1)
    return sorted(set(out))


def box_moves(goal: Goal) -> list[Candidate]:
    """Decide the goal over a box of values of its `Nat` variables (see the module docstring)."""
    nat_vars = [n for n, _ in goal.variables(NATS)]
    if not nat_vars:
        return []
    guesses = {v: bound_guesses(goal, v, BOX_MAX) for v in nat_vars}
    bounded = [v for v in nat_vars if guesses[v]]
    target_locals = locals_in(goal, goal.target)
    if not bounded or not target_locals <= set(bounded):
        return []
    hyps = [(n, t) for n, t in goal.named() if n not in nat_vars and locals_in(goal, t)
            and locals_in(goal, t) <= set(bounded)]
    used = [v for v in bounded if v in target_locals or any(occurs(v, t) for _, t in hyps)]
    if not used:
        return []
    out: list[Candidate] = []
    tried: set[tuple[int, ...]] = set()
    for i, prior in enumerate((0.3, 0.2, 0.1)):  # smaller boxes first: `decide`'s time grows with the box
        bs = {v: guesses[v][min(i, len(guesses[v]) - 1)] for v in used}
        key = tuple(bs.values())
        if key in tried or math.prod(key) > BOX_MAX:
            continue
        tried.add(key)
        quant = " → ".join(f"∀ {v}, {v} < {bs[v]}" for v in used)
        premises = "".join(f"({t}) → " for _, t in hyps)
        # The bounds first: a guess that does not hold fails before `decide` spends anything.
        names = {v: goal.fresh(f"hb_{v}") for v in used}
        haves = "".join(f"have {names[v]} : {v} < {bs[v]} := {bound_proof(v)}; " for v in used)
        args = " ".join(f"{v} {names[v]}" for v in used) + "".join(f" {n}" for n, _ in hyps)
        out.append(_cand(f"({haves}exact (show {quant} → {premises}({goal.target}) by {DEEP}) {args})", prior))
    return out


_LOWER = [re.compile(rf"^(\d+)\s*(≤|<)\s*([^\W\d][\w'₀-₉]*)$"), re.compile(rf"^([^\W\d][\w'₀-₉]*)\s*(≥|>)\s*(\d+)$")]


def refute_moves(goal: Goal) -> list[Candidate]:
    """A lower bound `c ≤ x` on a `Nat` variable: no value below it satisfies the hypotheses (by `decide`)."""
    t = strip_parens(goal.target)
    for pat in _LOWER:
        m = pat.match(t)
        if not m:
            continue
        if m.group(2) in ("≤", "<"):
            c, strict, var = int(m.group(1)), m.group(2) == "<", m.group(3)
        else:
            var, strict, c = m.group(1), m.group(2) == ">", int(m.group(3))
        if (var, "Nat") not in [(n, "Nat" if ty.strip() in NATS else ty) for n, ty in goal.named()]:
            return []
        c += strict  # `c < x` is `c + 1 ≤ x`
        if not 1 <= c <= BOX_MAX:
            return []
        hyps = [(n, ht) for n, ht in goal.named() if n != var and locals_in(goal, ht) == {var}]
        premises = "".join(f"({ht}) → " for _, ht in hyps)
        args = "".join(f" {n}" for n, _ in hyps)
        return [_cand(f"exact Nat.le_of_not_lt fun hlt => (show ∀ {var}, {var} < {c} → {premises}False by {DEEP}) "
                      f"{var} hlt{args}", 0.3)]
    return []


_FINAL = re.compile(r"^([^\W\d][\w'₀-₉]*)\.(length|sum)\s*=\s*(\d+)$")


def finite_set_moves(goal: Goal) -> list[Candidate]:
    """`S.length = k` / `S.sum = k` for a `Nodup` list `S` given by `∀ n, n ∈ S ↔ P n` (module docstring)."""
    m = _FINAL.match(strip_parens(goal.target))
    if not m:
        return []
    s, what = m.group(1), m.group(2)
    named = goal.named()
    types = dict(named)
    if types.get(s, "").strip() not in ("List Nat", "List ℕ"):
        return []
    nodup = [n for n, t in named if " ".join(t.split()) in (f"{s}.Nodup", f"List.Nodup {s}")]
    out: list[Candidate] = []
    for h, t in named:
        b = binder(t)
        if not nodup or not b or b[0] != "∀" or len(b[1]) != 1:
            continue
        sides = split_top(b[2], "↔")
        if len(sides) != 2 or " ".join(sides[0].split()) != f"{b[1][0]} ∈ {s}":
            continue
        a = goal.fresh("a")
        prop = rename(strip_parens(sides[1]), b[1][0], a)
        if locals_in(goal, prop) - {a}:
            continue  # P mentions other locals: not a closed finite set
        lits = [k for k in numerals(prop) if k <= SET_BOUND_MAX]
        if not lits:
            continue
        bound = max(lits) + 1
        lst = f"((List.range {bound}).filter (fun {a} => decide ({prop})))"
        hint = (f"first | omega | (have := Nat.le_mul_self {a}; omega) | (have := Nat.le_of_dvd (by decide) hh; "
                f"omega) | (have := Nat.le_of_dvd (by decide) hh.1; omega) | (have := Nat.le_of_dvd (by decide) "
                f"hh.2; omega)")
        mem = (f"(by rw [{h} {a}]; simp only [List.mem_filter, List.mem_range, decide_eq_true_eq]; "
               f"exact ⟨fun hh => ⟨by {hint}, hh⟩, fun hh => hh.2⟩)")
        perm = (f"(show List.Perm {s} {lst} from List.perm_iff_count.2 fun {a} => by have e : {a} ∈ {s} ↔ {a} ∈ {lst} := {mem}; "
                f"have := (List.count_pos_iff (l := {s})).trans (e.trans (List.count_pos_iff (l := {lst})).symm); "
                f"have := List.nodup_iff_count.1 {nodup[0]} {a}; "
                f"have := List.nodup_iff_count.1 (by decide : {lst}.Nodup) {a}; omega)")
        head = f"{perm}.length_eq" if what == "length" else f"(List.Perm.sum_nat {perm})"
        out.append(_cand(f"exact {head}.trans (by decide)", 0.3))
        # the same computed by the kernel (large ranges: the elaborator's `decide` runs out of recursion)
        out.append(_cand(f"set_option maxRecDepth 100000 in exact {head.replace('(by decide :', '(by decide +kernel :')}"
                         f".trans (by decide +kernel)", 0.2))
    return out


PIN_MAX = 10000  # largest range searched (in Python) for an ∃-witness
DECIDE_MAX = 1000  # largest bound a pinned variable is decided over (a loaded machine took 23 s for 3250)


def pin_moves(goal: Goal) -> list[Candidate]:
    """A `Nat` variable that its own hypotheses pin to a few values (found by evaluating them in Python below
    a bound `omega` proves): `obtain rfl : x = v` (one value) or the split `x = v₁ ∨ …` into `rfl` cases, each
    justified by `decide` over the bound, so the rest of the goal sees the number."""
    out: list[Candidate] = []
    for var, _ in goal.variables(NATS):
        hyps = [(n, t) for n, t in goal.named() if n != var and locals_in(goal, t) == {var}]
        if not hyps:
            continue
        found = 0
        for bound in bound_guesses(goal, var, DECIDE_MAX):
            vals = satisfying([t for _, t in hyps], var, bound)
            if not vals:
                continue
            prior = 0.3 / (1 + found)  # the smallest bound first: `decide`'s time grows with it
            found += 1
            hb = goal.fresh("hb")
            premises = "".join(f"({t}) → " for _, t in hyps)
            args = "".join(f" {n}" for n, _ in hyps)
            ors = " ∨ ".join(f"{var} = {v}" for v in vals)
            proof = f"(show ∀ {var}, {var} < {bound} → {premises}{ors} by {DEEP}) {var} {hb}{args}"
            if len(vals) == 1:
                out.append(_cand(f"(have {hb} : {var} < {bound} := {bound_proof(var)}; "
                                 f"obtain rfl : {ors} := {proof})", prior))
            else:
                pat = " | ".join("rfl" for _ in vals)
                out.append(_cand(f"(have {hb} : {var} < {bound} := {bound_proof(var)}; "
                                 f"rcases {proof} with {pat})", 0.8 * prior))
    return out


def witness_moves(goal: Goal) -> list[Candidate]:
    """A target `∃ x, P x` with `P` closed: the first witnesses below `PIN_MAX` (by evaluating `P` in
    Python), each checked by `decide`."""
    b = binder(strip_parens(goal.target))
    if not b or b[0] != "∃" or len(b[1]) != 1 or locals_in(goal, b[2]):
        return []
    typed = re.search(r"∃\s*\(?[^,:]*:\s*([^,)]*)", goal.target)
    if typed and typed.group(1).strip() not in NATS:
        return []
    vals = satisfying([b[2]], b[1][0], PIN_MAX, limit=2)
    return [_cand(f"exact ⟨{v}, by {c}⟩", 0.35) for v in (vals or [])[:2]
            for c in ("decide", DEEP)]

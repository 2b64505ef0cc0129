"""Progress-making tactics chosen by the shape of the goal: the moves a hammer cannot make on its own.

For the main goal (the first one) it proposes
- target `∀`/`→`/`¬`: `intro` with the binders' own names (fresh if taken), so later tactics can name them;
- target `∧`/`↔`: `constructor`, and the anonymous constructor with a closer on every part;
- target `∃`: `exact ⟨w, by closer⟩` for a bounded set of witnesses (small numerals, the literals and number
  variables of the goal): Lean evaluates each, so this is a bounded search for a witness; and for a `Nat`
  witness, `decide` over all witnesses below `EXISTS_BOUNDS`;
- target `∨`: `left`, `right`;
- hypotheses: `obtain ⟨a, b⟩ := h` on `∧`, `rcases h with h | h` on `∨`, `obtain ⟨x, hx⟩ := h` on `∃`, `subst h`
  on `x = e` with `x` a local, `rw [h]` on a universally quantified equation;
- a number variable the hypotheses bound by literals (`x < 10`, `1 ≤ x ∧ x ≤ 9`): the split into its values
  (`rcases (show x = 1 ∨ … ∨ x = 9 by omega) with rfl | … <;> closer`), which `omega` justifies;
- a number variable with `x % m` in the target: the split into its residues, `%` then pushed through + * ^;
- a `Nat` variable of the target: `induction x`, alone and followed by a closer on every case;
- bounded evaluation by `decide`: over all values of `Fin n`/`Bool` variables, and over a `Nat` variable with
  a literal bound too large to split (`∀ x < B, hypotheses → target`, then applied to the goal's own);
- a literal power with a variable exponent and a modulus (`¬ 7 ∣ 2 ^ n + 1`): the cycle of `b ^ k % m` as a
  lemma proved by induction, then `omega` (cycles.py).

Every candidate is one tactic (the server parses one per step; sequences are parenthesised with `;`).
It is rule-based like `FixedGenerator`: it ignores `num_samples` and returns its whole list for the request
(at most `max_candidates`), distinct tactics sorted by prior, source "structural". The parse of the goal is
textual (goals.py): a wrong guess costs one rejected tactic, never soundness.
"""
from __future__ import annotations

import math
import re
import time
from typing import Sequence

from .base import Candidate, GeneratorStats, GoalRequest, dedupe_sorted
from .bounded import box_moves, finite_set_moves, pin_moves, refute_moves, witness_moves
from .cycles import cycle_moves
from .goals import Goal, binder, bounds, is_ident, numerals, parse_goal, split_top, strip_parens

# Tried in this order on every part / case; all core Lean. `decide` after `omega`: it is the slow one.
CLOSER = "first | omega | decide | simp_all | grind"
MAX_SPLIT = 30  # most values a bounded variable is split into
MAX_WITNESSES = 12
MAX_RESIDUES = 20  # largest modulus split into its residues
EXISTS_BOUNDS = (20, 200)  # witnesses below these are searched by `decide` (Nat existentials)


def _cand(tactic: str, prob: float) -> Candidate:
    return Candidate(tactic=tactic, logprob=math.log(prob), n_tokens=0, source="structural")


def _occurs(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.']){re.escape(name)}(?![\w'₀-₉])", text) is not None


def intro_names(goal: Goal) -> list[str]:
    """Names for what `intro` would introduce: the target's leading binders and implication premises."""
    names: list[str] = []
    taken: set[str] = set()
    t = strip_parens(goal.target)
    for _ in range(8):
        if t.startswith("¬"):
            names.append(goal.fresh("h", taken))
            break
        b = binder(t)
        if b and b[0] == "∀":
            for n in b[1]:
                nm = goal.fresh(n if n != "_" else "x", taken)
                names.append(nm)
                taken.add(nm)
            t = b[2]
            continue
        parts = split_top(t, "→")
        if len(parts) > 1:
            for _ in parts[:-1]:
                nm = goal.fresh("h", taken)
                names.append(nm)
                taken.add(nm)
            t = strip_parens(parts[-1])
            continue
        break
    return names


def target_moves(goal: Goal) -> list[Candidate]:
    out: list[Candidate] = []
    t = strip_parens(goal.target)
    names = intro_names(goal)
    if names:
        out.append(_cand("intro " + " ".join(names), 0.5))
        out.append(_cand(f"(intro {' '.join(names)}; {CLOSER})", 0.4))
        return out  # the other shapes are read after the intro
    conj = split_top(t, "∧")
    if len(conj) > 1:
        out.append(_cand("constructor", 0.3))
        out.append(_cand(f"refine ⟨{', '.join('?_' for _ in conj)}⟩ <;> ({CLOSER})", 0.4))
        out.append(_cand(f"refine ⟨{', '.join('?_' for _ in conj)}⟩ <;> try ({CLOSER})", 0.2))
    if len(split_top(t, "↔")) == 2:
        out.append(_cand("constructor", 0.3))
        h = goal.fresh("h")
        out.append(_cand(f"constructor <;> intro {h} <;> ({CLOSER})", 0.3))
    disj = split_top(t, "∨")
    if len(disj) > 1:
        out.append(_cand("left", 0.1))
        out.append(_cand("right", 0.1))
    b = binder(t)
    if b and b[0] == "∃":
        body = b[2]
        typed = re.search(r"∃\s*\(?[^,:]*:\s*([^,)]*)", t)
        if typed and "→" in typed.group(1):
            return out  # a function witness: not a bounded search
        ws: list[str] = []
        for v in [str(k) for k in numerals(body)] + [str(k) for k in range(4)] + \
                [n for n, _ in goal.variables()] + [str(k) for k in numerals(" ".join(h.type for h in goal.hyps))]:
            if v not in ws:
                ws.append(v)
        for i, w in enumerate(ws[:MAX_WITNESSES]):
            out.append(_cand(f"exact ⟨{w}, by {CLOSER}⟩", 0.3 / (1 + 0.1 * i)))
        for i, w in enumerate(ws[:3]):
            out.append(_cand(f"refine ⟨{w}, ?_⟩", 0.05 / (1 + i)))
        if len(b[1]) == 1 and (not typed or typed.group(1).strip() in ("Nat", "ℕ")):
            # Bounded evaluation: `decide` searches the witnesses below a bound (Nat.decidableExistsLT).
            x = b[1][0]
            for bound in EXISTS_BOUNDS:
                deep = "set_option maxRecDepth 100000 in " if bound > 20 else ""  # decide recurses per value
                out.append(_cand(f"exact (show ∃ {x}, {x} < {bound} ∧ ({body}) by {deep}decide).elim "
                                 f"fun {x} h => ⟨{x}, h.2⟩", 0.25))
    return out


def hyp_moves(goal: Goal) -> list[Candidate]:
    out: list[Candidate] = []
    locals_ = goal.names()
    taken: set[str] = set()
    for name, typ in goal.named():
        t = strip_parens(typ)
        b = binder(t)
        if b and b[0] == "∃":
            x = goal.fresh(b[1][0] if b[1] and b[1][0] != "_" else "x", taken)
            taken.add(x)
            hx = goal.fresh("h" + x, taken)
            taken.add(hx)
            out.append(_cand(f"obtain ⟨{x}, {hx}⟩ := {name}", 0.3))
            continue
        if b and b[0] == "∀":
            inner = b[2]
            while True:
                nb = binder(inner)
                if not nb or nb[0] != "∀":
                    break
                inner = nb[2]
            concl = split_top(inner, "→")[-1]
            if len(split_top(concl, "=")) == 2 and "↔" not in concl:
                out.append(_cand(f"rw [{name}]", 0.1))
                out.append(_cand(f"simp only [{name}] at *", 0.05))
            continue
        conj = split_top(t, "∧")
        if len(conj) > 1:
            parts = []
            for i in range(len(conj)):
                p = goal.fresh(f"{name}_{i + 1}", taken)
                taken.add(p)
                parts.append(p)
            out.append(_cand(f"obtain ⟨{', '.join(parts)}⟩ := {name}", 0.2))
            continue
        disj = split_top(t, "∨")
        if len(disj) > 1:
            out.append(_cand(f"rcases {name} with {' | '.join(name for _ in disj)}", 0.3))
            out.append(_cand(f"rcases {name} with {' | '.join(name for _ in disj)} <;> ({CLOSER})", 0.4))
            continue
        eq = split_top(t, "=")
        if len(eq) == 2 and not t.startswith("¬"):
            lhs, rhs = strip_parens(eq[0]), strip_parens(eq[1])
            for side, other in ((lhs, rhs), (rhs, lhs)):
                if is_ident(side) and side in locals_ and not _occurs(side, other):
                    out.append(_cand(f"subst {name}", 0.3))
                    break
    return out


_MOD = re.compile(r"%\s*(\d+)")
# After a residue split: push `%` through + * ^ so the case hypothesis applies (Nat and Int lemmas).
RESIDUE_SIMP = ("first | omega | simp [Nat.dvd_iff_mod_eq_zero, Nat.pow_succ, Nat.pow_zero, Nat.mul_mod, "
                "Nat.add_mod, {h}] | simp [Int.dvd_iff_emod_eq_zero, Int.pow_succ, Int.pow_zero, Int.mul_emod, "
                "Int.add_emod, {h}] | grind")
FINITE_DECIDE_MAX = 5000  # most assignments `decide` enumerates over finite variables
BOUNDED_DECIDE_MAX = 1000  # most values of a bounded number variable `decide` enumerates


def decide_moves(goal: Goal) -> list[Candidate]:
    """Bounded evaluation by `decide`: over all values of `Fin n`/`Bool` variables (`revert` them with their
    hypotheses), and over a `Nat` variable with a literal upper bound, stated as `∀ x < B, hyps → target`."""
    out: list[Candidate] = []
    deep = "set_option maxRecDepth 100000 in decide"
    finite = []
    size = 1
    for n, t in goal.named():
        m = re.fullmatch(r"Fin (\d+)", t.strip())
        if m or t.strip() == "Bool":
            finite.append(n)
            size *= int(m.group(1)) if m else 2
    if finite and size <= FINITE_DECIDE_MAX:
        out.append(_cand(f"(revert {' '.join(finite)}; {deep})", 0.3))
    return (out + box_moves(goal) + refute_moves(goal) + finite_set_moves(goal) + pin_moves(goal)
            + witness_moves(goal))


def derived_bounds(goal: Goal, var: str, limit: int) -> list[int]:
    """Guesses for an upper bound of a `Nat` variable no hypothesis bounds literally: the smallest literals
    (at most `limit`) of the hypotheses it occurs in. `omega` decides whether a guess holds."""
    lits = sorted({k for n, t in goal.named() if n != var and _occurs(var, t) for k in numerals(t)})
    return [k for k in lits if 1 <= k <= limit][-2:]  # the largest: more likely to hold


def split_moves(goal: Goal) -> list[Candidate]:
    """Case splits on number variables with literal (or derived) bounds, residue splits, and induction on
    `Nat` variables of the target."""
    out: list[Candidate] = []
    for var, typ in goal.variables():
        lo, hi = bounds(goal, var)
        his = [hi]
        if typ.strip() in ("Nat", "ℕ"):
            lo = 0 if lo is None else max(lo, 0)
            if hi is None:
                his = derived_bounds(goal, var, MAX_SPLIT - 1)
        for hi in his:
            if lo is None or hi is None or not 1 <= hi - lo + 1 <= MAX_SPLIT:
                continue
            values = [str(v) if v >= 0 else f"({v})" for v in range(lo, hi + 1)]
            ors = " ∨ ".join(f"{var} = {v}" for v in values)
            pat = " | ".join("rfl" for _ in values)
            head = f"rcases (show {ors} by omega) with {pat}" if len(values) > 1 else \
                f"obtain rfl : {var} = {values[0]} := by omega"
            out.append(_cand(f"{head} <;> ({CLOSER})", 0.35))
            if len(values) <= 12:
                out.append(_cand(f"{head} <;> try ({CLOSER})", 0.1))
    for var, typ in goal.variables():
        # residues: `x % m` cases for every modulus m of the goal that x appears with
        for m in sorted({int(k) for k in _MOD.findall(goal.target)}):
            if 2 <= m <= MAX_RESIDUES and _occurs(var, goal.target):
                h = goal.fresh("hr")
                ors = " ∨ ".join(f"{var} % {m} = {r}" for r in range(m))
                pat = " | ".join(h for _ in range(m))
                out.append(_cand(f"rcases (show {ors} by omega) with {pat} <;> "
                                 f"({RESIDUE_SIMP.format(h=h)})", 0.3))
    for var, typ in goal.variables(("Nat", "ℕ")):
        if _occurs(var, goal.target):
            out.append(_cand(f"induction {var}", 0.08))
            out.append(_cand(f"induction {var} <;> try ({CLOSER})", 0.1))
    return out


# After a step that leaves a closed computation: `decide` with room to recurse, and the kernel's evaluator
# (`decide +kernel`: checked by the kernel, no extra axiom), which reduces what the elaborator's `decide` won't
# (rationals, large lists).
HEAVY_CLOSER = f"first | decide | (set_option maxRecDepth 100000 in decide) | decide +kernel | simp | omega | grind"


def definition_moves(goal: Goal) -> list[Candidate]:
    """A hypothesis `∀ x y, f x y = e` defining a local function `f` (not recursively): replace `f` by
    `fun x y => e` everywhere (`obtain rfl : f = … := funext …`), so closed terms become computable."""
    out: list[Candidate] = []
    locals_ = dict(goal.named())
    for name, typ in goal.named():
        b = binder(strip_parens(typ))
        if not b or b[0] != "∀" or "→" in b[2]:
            continue
        eq = split_top(b[2], "=")
        if len(eq) != 2:
            continue
        head = eq[0].split()
        if not head or head[0] not in locals_ or "→" not in locals_[head[0]] or head[1:] != b[1] \
                or _occurs(head[0], eq[1]):
            continue
        f, xs = head[0], b[1]
        ext = "".join(f"funext fun {x} => " for x in xs) + f"{name} {' '.join(xs)}"
        step = f"obtain rfl : {f} = fun {' '.join(xs)} => {eq[1]} := {ext}"
        out.append(_cand(step, 0.3))
        out.append(_cand(f"({step}; {HEAVY_CLOSER})", 0.35))
    return out


def closed_moves(goal: Goal) -> list[Candidate]:
    """A target that names no local: evaluate it (`decide` deeper, or the kernel's `decide`)."""
    if any(_occurs(n, goal.target) for n, _ in goal.named()):
        return []
    return [_cand(DEEP_DECIDE, 0.3), _cand("decide +kernel", 0.3)]


DEEP_DECIDE = "set_option maxRecDepth 100000 in decide"
_REL = re.compile(r"^([^\W\d][\w'₀-₉]*)\s*(=|≤|<|≠)\s*(-?\d+)$")


def cast_moves(goal: Goal) -> list[Candidate]:
    """A target `x = c` (or `≤`, `<`, `≠`) on a number variable whose hypotheses speak of its cast `↑x`:
    prove it for the cast in `Rat` by `grind` (linear arithmetic over a field) and cast back."""
    m = _REL.match(strip_parens(goal.target))
    if not m or not any("↑" in t for _, t in goal.named()):
        return []
    var = m.group(1)
    if var not in dict(goal.variables()):
        return []
    return [_cand(f"exact_mod_cast (show (({var} : Rat)) {m.group(2)} {m.group(3)} by grind)", 0.3)]


def succ_moves(goal: Goal) -> list[Candidate]:
    """A positive `Nat` variable (`0 < n`, `n ≠ 0`, `1 ≤ n`) of a goal with `n - 1` or `n - k` in it: write it
    as `m + 1` (`obtain ⟨n, rfl⟩ : ∃ m, n = m + 1`), so truncated subtraction and recursion unfold."""
    out: list[Candidate] = []
    text = goal.target + " " + " ".join(t for _, t in goal.named())
    for var, _ in goal.variables(("Nat", "ℕ")):
        lo, _ = bounds(goal, var)
        positive = (lo or 0) >= 1 or any(" ".join(t.split()) == f"{var} ≠ 0" for _, t in goal.named())
        if positive and re.search(rf"(?<![\w.'₀-₉]){re.escape(var)}\s*-\s*\d", text):
            out.append(_cand(f"obtain ⟨{var}, rfl⟩ : ∃ m, {var} = m + 1 := ⟨{var} - 1, by omega⟩", 0.25))
    return out


def unfold_moves(goal: Goal) -> list[Candidate]:
    """Functions applied with method notation to a `Nat` variable of the target (`n.choose k`,
    `n.factorial`): unfold their equations with `simp [Nat.f]`, then a closer, so a recursive definition
    meets the hypotheses (typically after `n = m + 1`)."""
    out: list[Candidate] = []
    nats = {n for n, _ in goal.variables(("Nat", "ℕ"))}
    seen: set[str] = set()
    for m in re.finditer(r"(?<![\w.'])\(?([^\W\d][\w'₀-₉]*)(?:\s*[+-]\s*\d+\))?\.([a-z]\w*)", goal.target):
        if m.group(1) in nats and m.group(2) not in seen:
            seen.add(m.group(2))
            out.append(_cand(f"(simp [Nat.{m.group(2)}]; {CLOSER})", 0.2))
    return out


# The simp set of an induction step on sums over `List.range`, powers and products (Nat).
STEP_SIMP = "List.range_succ, List.map_append, List.sum_append_nat, Nat.pow_succ, Nat.mul_add, Nat.add_mul"


def induction_moves(goal: Goal) -> list[Candidate]:
    """Induction on a `Nat` variable of the target with a hammer on each case: the step case unfolds sums over
    `List.range`, recurrences given as hypotheses (`∀ n, u (n + 1) = …`) and the induction hypothesis, adds
    `k + 1 < b ^ (k + 1)` for the bases `b` of the target's powers (what `omega` needs about an atom `b ^ k`),
    and closes with `omega` or `grind`."""
    out: list[Candidate] = []
    recs = [n for n, t in goal.named() if (b := binder(strip_parens(t))) and b[0] == "∀"
            and re.search(r"\+\s*1\)\s*=", b[2])]
    bases = sorted({int(k) for k in re.findall(r"(?<![\w.])(\d+)\s*\^", goal.target) if int(k) > 1})
    for var, _ in goal.variables(("Nat", "ℕ")):
        if not _occurs(var, goal.target):
            continue
        k, ih = goal.fresh("k"), goal.fresh("ih")
        for closer in ("omega", "grind"):
            out.append(_cand(f"induction {var} <;> simp_all [{STEP_SIMP}] <;> {closer}", 0.12))
        rw = "".join(f"(try rw [{r}]); " for r in recs)
        hints = "".join(f"have := Nat.lt_pow_self (n := {k} + 1) (show 1 < {b} by decide); " for b in bases)
        # continuation lines indented: a proof's text is split back into tactics at unindented lines
        out.append(_cand(f"induction {var} with\n  | zero => first | rfl | decide | simp_all | omega\n"
                         f"  | succ {k} {ih} => {rw}(try rw [{ih}]); {hints}simp only [{STEP_SIMP}] at *; "
                         f"first | omega | grind", 0.15))
    return out


class StructuralGenerator:
    """Goal-shape tactics for the main goal of every request (see the module docstring)."""

    def __init__(self, name: str = "structural", max_candidates: int = 40):
        self.name = name
        self.max_candidates = max_candidates
        self.stats = GeneratorStats()

    def propose(self, goals: Sequence[str]) -> list[Candidate]:
        if not goals:
            return []
        goal = parse_goal(goals[0])
        cands = (target_moves(goal) + hyp_moves(goal) + split_moves(goal) + decide_moves(goal)
                 + definition_moves(goal) + closed_moves(goal) + cast_moves(goal) + succ_moves(goal)
                 + induction_moves(goal) + unfold_moves(goal) + cycle_moves(goal))
        return dedupe_sorted(cands, self.max_candidates)

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        out = [self.propose(r.goals) for r in requests]
        self.stats.record_call(out, time.perf_counter() - t0)
        return out

    def __repr__(self) -> str:
        return f"StructuralGenerator(name={self.name!r})"

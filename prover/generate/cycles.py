"""Periodicity of powers modulo m: the move for goals like `¬ 7 ∣ 2 ^ n + 1` or `7 ∣ 2 ^ n - 1 → 3 ∣ n`,
where the exponent is a variable and neither `omega` (an atom `2 ^ n` is all it sees) nor `decide` (no bound on
`n`) can finish.

For a literal base `b`, a modulus `m` of the goal (`% m`, `m ∣`) and the sequence `b ^ k % m`, which is
eventually periodic (pre-period `mu`, period `lam`, found here by evaluation), the move states the whole cycle
as a lemma and proves it by induction, then instantiates it at the goal's exponents for `omega`:

    have hc : ∀ k : Nat, 0 < b ^ k ∧ ((k = 0 ∧ b ^ k % m = r₀) ∨ …                         -- k < mu
                                     ∨ (mu ≤ k ∧ (k - mu) % lam = c ∧ b ^ k % m = r_c) ∨ …)  -- the cycle
    := by intro k; induction k with | zero => decide
                                    | succ k ih => rw [Nat.pow_succ]; rcases ih with … <;>
                                                   refine ⟨by omega, ?_⟩ <;> first | exact Or.inl (by omega) | …
    have := hc e₁; …; omega

The induction step is linear once `b ^ (k + 1)` is `b ^ k * b` (a literal times the atom), so `omega` proves
each state's successor (the disjunct is named, `disjunct`) for any true cycle; a cycle is computed, never guessed, so the only way the move fails is a goal that does
not follow from it. `0 < b ^ k` is part of the lemma because truncated subtraction (`2 ^ n - 1`) needs it.
Only `Nat` powers are handled (`Int` goals rarely state a variable exponent in miniF2F-core).
"""
from __future__ import annotations

import math
import re

from .base import Candidate
from .goals import Goal

MAX_MODULUS = 100  # largest modulus whose cycle is stated (the lemma has at most mu + lam disjuncts)
MAX_STATES = 24  # most disjuncts (pre-period plus period) a cycle lemma may have
_POW = re.compile(r"(?<![\w.'₀-₉])(\d+)\s*\^\s*")
_MODULI = (re.compile(r"%\s*(\d+)(?![\w.])"), re.compile(r"(?<![\w.'₀-₉^])(\d+)\s*∣"))


def _cand(tactic: str, prob: float) -> Candidate:
    return Candidate(tactic=tactic, logprob=math.log(prob), n_tokens=0, source="structural")


def _exponent(text: str, start: int) -> str | None:
    """The exponent written at `text[start:]`: an identifier or a parenthesised term."""
    if start < len(text) and text[start] == "(":
        depth = 0
        for i in range(start, len(text)):
            depth += text[i] == "("
            depth -= text[i] == ")"
            if depth == 0:
                return text[start:i + 1]
        return None
    m = re.match(r"[^\W\d][\w'₀-₉]*", text[start:])
    return m.group() if m else None


def variable_powers(goal: Goal) -> dict[int, list[str]]:
    """Literal bases `b >= 2` raised to an exponent that names a `Nat` local, with those exponents in order."""
    nats = [n for n, _ in goal.variables(("Nat", "ℕ"))]
    out: dict[int, list[str]] = {}
    for text in [goal.target] + [t for _, t in goal.named()]:
        for m in _POW.finditer(text):
            base, exp = int(m.group(1)), _exponent(text, m.end())
            if base < 2 or exp is None:
                continue
            if any(re.search(rf"(?<![\w.'₀-₉]){re.escape(v)}(?![\w'₀-₉])", exp) for v in nats):
                exps = out.setdefault(base, [])
                if exp not in exps:
                    exps.append(exp)
    return out


def moduli(goal: Goal) -> list[int]:
    """The literal moduli of the goal (`x % m`, `m ∣ x`), 2 <= m <= MAX_MODULUS, in order of appearance."""
    seen: dict[int, None] = {}
    for text in [goal.target] + [t for _, t in goal.named()]:
        for pat in _MODULI:
            for m in pat.finditer(text):
                k = int(m.group(1))
                if 2 <= k <= MAX_MODULUS:
                    seen.setdefault(k, None)
    return list(seen)


def cycle(base: int, modulus: int) -> tuple[list[int], int]:
    """(`base ** k % modulus` for k below mu + lam, lam): the sequence up to its first repeat, and the period."""
    seen: dict[int, int] = {}
    seq: list[int] = []
    r = 1 % modulus
    while r not in seen:
        seen[r] = len(seq)
        seq.append(r)
        r = r * base % modulus
    return seq, len(seq) - seen[r]


def cycle_lemma(base: int, modulus: int, var: str = "k") -> tuple[str, int] | None:
    """The statement `∀ k : Nat, 0 < b ^ k ∧ (…)` of the cycle and its number of disjuncts, or None if the
    cycle has more than MAX_STATES states."""
    seq, lam = cycle(base, modulus)
    mu = len(seq) - lam
    if len(seq) > MAX_STATES:
        return None
    p = f"{base} ^ {var} % {modulus}"
    parts = [f"({var} = {j} ∧ {p} = {seq[j]})" for j in range(mu)]
    for c in range(lam):
        where = f"{var} % {lam} = {c}" if mu == 0 else f"{mu} ≤ {var} ∧ ({var} - {mu}) % {lam} = {c}"
        parts.append(f"({where} ∧ {p} = {seq[mu + c]})")
    return f"∀ {var} : Nat, 0 < {base} ^ {var} ∧ ({' ∨ '.join(parts)})", len(parts)


def disjunct(j: int, n: int) -> str:
    """A proof term of the `j`-th of `n` right-nested disjuncts, its parts left to `omega`. Naming the disjunct
    keeps each `omega` small: asked for the whole disjunction, it splits 2^n ways and runs out of heartbeats."""
    term = "(by omega)" if j == n - 1 else "Or.inl (by omega)"
    for _ in range(j):
        term = f"Or.inr ({term})"
    return term


def cycle_moves(goal: Goal) -> list[Candidate]:
    """For every (literal base with a variable exponent, modulus of the goal): the cycle lemma, proved by
    induction and instantiated at the goal's exponents, then `omega` (see the module docstring)."""
    powers = variable_powers(goal)
    if not powers:
        return []
    out: list[Candidate] = []
    hc = goal.fresh("hc")
    for m in moduli(goal):
        for base, exps in powers.items():
            lemma = cycle_lemma(base, m)
            if lemma is None:
                continue
            statement, n = lemma
            cases = " | ".join("h" for _ in range(n))
            step = f"rw [Nat.pow_succ]; rcases ih with ⟨h0, {cases}⟩ <;> refine ⟨by omega, ?_⟩ <;> " \
                   f"first | {' | '.join(f'exact {disjunct(j, n)}' for j in range(n))}"
            proof = f"(by intro k; induction k with | zero => decide | succ k ih => ({step}))"
            uses = "".join(f"have := {hc} {e}; " for e in exps)
            out.append(_cand(f"(have {hc} : {statement} := {proof}; {uses}omega)", 0.3))
    return out

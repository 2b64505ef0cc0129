"""The judge: whether a tactic script proves a statement, decided by Lean alone.

A proof found by any part of the pipeline (search tree, Dojo client, training pool, autoform) is only a
claim until `verify_proof` says so: it builds the one theorem text (`proof_text`), has Lean elaborate it
from scratch and audit it (kernel replay, no sorry, no escape-hatch axiom, statement unchanged). Lean
crashing or hanging (`LeanInfraError`) propagates: it is no verdict on the proof.

`resolve_suggestions` turns `exact?`/`apply?` steps into the tactic Lean suggests for them, so a stored proof
does not depend on a library search; whatever it returns is judged again by `verify_proof`.
"""
from __future__ import annotations

import re
from typing import Any, Protocol, Sequence

from .protocol import CheckResult, LeanError, normalize_statement

SEARCH_TACTICS = ("exact?", "apply?")  # print "Try this: <tactic>"; the proof keeps the suggestion instead
_TRY_THIS = re.compile(r"Try this:\s*(?:\[apply\]\s*)?(.+)", re.S)


class Checker(Protocol):
    """What the judge needs from Lean: a from-scratch `check` (`prover.lean.LeanServer` is one)."""

    def check(self, code: str, statement: str | None = None, name: str | None = None, **kw: Any) -> CheckResult: ...


def theorem_name(statement: str) -> str | None:
    """The declared name of `theorem name ...`, or None for a bare proposition or an `example`."""
    toks = normalize_statement(statement).split()
    if len(toks) >= 2 and toks[0] in ("theorem", "lemma", "example"):
        return None if toks[0] == "example" else toks[1]
    return None


def proof_text(statement: str, tactics: Sequence[str]) -> str:
    """`statement := by` followed by the tactics, each of their lines on its own line, indented two spaces.
    The only place a theorem text is assembled from a statement and tactics."""
    head = normalize_statement(statement)
    lines = ["  " + line for tac in tactics for line in tac.strip("\n").split("\n")]
    return head + " := by\n" + "\n".join(lines) + "\n"


def verify_proof(env: Checker, statement: str, tactics: Sequence[str],
                 timeout: float = 120.0) -> tuple[bool, str, str]:
    """(sound, text, why-not): Lean elaborates the whole text from scratch and audits the theorem.
    A crash or timeout of Lean (`LeanInfraError`) propagates: it is no verdict on the proof."""
    text = proof_text(statement, tactics)
    name = theorem_name(statement)
    try:
        res = env.check(text, statement=statement, name=name, timeout=timeout)
    except LeanError as e:
        return False, text, f"check failed: {e}"
    if not res.declarations:
        return False, text, "check returned no declaration"
    try:
        decl = res.decl(name) if name else res.declarations[-1]
    except KeyError:
        return False, text, f"check returned no declaration named {name!r}"
    if res.all_ok and decl.sound and decl.statement_matches is not False:
        return True, text, ""
    why = "; ".join(decl.errors[:2]) or decl.unsound_reason or decl.audit_error or res.audit_error \
        or ("statement changed" if decl.statement_matches is False else "") \
        or (f"bad axioms {decl.bad_axioms}" if decl.bad_axioms else "not sound")
    return False, text, why


def suggestions(res: CheckResult, name: str | None) -> list[tuple[int, int, str]]:
    """(line, column, suggested tactic) of every "Try this:" message of a check, in source order."""
    out: list[tuple[int, int, str]] = []
    decls = [res.decl(name)] if name else list(res.declarations[-1:])
    for d in decls:
        for m in d.messages:
            hit = _TRY_THIS.search(m.text) if m.severity != "error" else None
            if hit:
                out.append((m.line, m.column, hit.group(1).strip().split("\n")[0].strip()))
    return sorted(out)


def resolve_suggestions(env: Checker, statement: str, tactics: list[str], timeout: float = 120.0) -> list[str]:
    """`tactics` with every `exact?`/`apply?` step replaced by the tactic Lean suggests for it, when the check
    of the whole text gives one suggestion per such step (matched in source order); unchanged otherwise (the
    caller re-verifies whatever comes back)."""
    where = [i for i, t in enumerate(tactics) if t.strip() in SEARCH_TACTICS]
    if not where:
        return tactics
    try:
        res = env.check(proof_text(statement, tactics), statement=statement, name=theorem_name(statement),
                        timeout=timeout)
        found = suggestions(res, theorem_name(statement))
    except (LeanError, KeyError):
        return tactics
    if len(found) != len(where):
        return tactics
    out = list(tactics)
    for i, (_, _, tac) in zip(where, found):
        out[i] = tac
    return out

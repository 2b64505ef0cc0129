"""Lean's verdict on a candidate statement: does it elaborate, and is it trivial or vacuous?

- Elaborates: the server's `start` elaborates the header with `autoImplicit false` (an unknown name is an
  error, not a new variable) after its untrusted-input filter; its error message feeds the repair prompt.
- Vacuous: the theorem's own hypotheses prove `False` (`exfalso` then a cheap closer). Only the binders before
  the colon count: `¬ P` or `P → Q` in the conclusion is a claim, not a contradiction in the assumptions.
- Trivial: a cheap closer proves the statement at once. Many faithful competition statements are (compute a
  number, check a finite fact), so this is a flag for the report and a tie-break, not a rejection.
- Refuted: a cheap closer proves its negation (`2004 % 12 = 1`). A problem that says "show that" is true, so a
  refuted statement is a wrong one.
States whose literals would crash Lean (`prover/lean/hazards.py`) get no flag tactics at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prover.lean.hazards import crashes_lean
from prover.lean.protocol import DEFAULT_HEARTBEATS, LeanError, LeanInfraError

TRIVIAL_TACTICS = ("rfl", "trivial", "decide", "simp", "omega")
VACUOUS_TACTICS = ("exfalso; contradiction", "exfalso; omega", "exfalso; simp_all", "exfalso; grind")
REFUTE_TACTICS = ("decide", "simp", "omega")
FLAG_HEARTBEATS = 5000  # thousands; a flag is about what closes *at once*


@dataclass
class Verdict:
    elaborates: bool
    error: str = ""
    flags: list[str] = field(default_factory=list)  # "trivial", "vacuous", "refuted"
    flag_tactics: dict[str, str] = field(default_factory=dict)  # flag -> the tactic that showed it


def check_statement(env, header: str, flags: bool = True, timeout: float = 60.0) -> Verdict:
    try:
        root = env.start(header, heartbeats=DEFAULT_HEARTBEATS, timeout=timeout)
    except LeanError as e:
        return Verdict(False, str(e))
    except LeanInfraError as e:  # no verdict from Lean; the candidate is not kept, and the error says why
        return Verdict(False, f"no verdict, Lean failed: {type(e).__name__}: {e}")
    except ValueError as e:  # not a statement at all (e.g. it carries a proof)
        return Verdict(False, str(e))
    v = Verdict(True)
    if not flags or crashes_lean(root.goals):
        return v
    for flag, tactics in (("vacuous", VACUOUS_TACTICS), ("trivial", TRIVIAL_TACTICS)):
        if _closes(env, root, tactics, timeout, v, flag):
            break  # a vacuous statement is trivially true: no need to ask
    if "trivial" not in v.flags and "vacuous" not in v.flags:
        from .statement import parse_statement

        try:
            negation = env.start(f"theorem autoform_refute : ¬ ({parse_statement(header).proposition()})",
                                 heartbeats=DEFAULT_HEARTBEATS, timeout=timeout)
        except (LeanError, LeanInfraError, ValueError):  # no refutation flag without Lean's answer
            return v
        _closes(env, negation, REFUTE_TACTICS, timeout, v, "refuted")
    return v


def _closes(env, state, tactics, timeout: float, v: Verdict, flag: str) -> bool:
    for tac in tactics:
        if env.run_tac(state, tac, heartbeats=FLAG_HEARTBEATS, timeout=timeout).complete:
            v.flags.append(flag)
            v.flag_tactics[flag] = tac
            return True
    return False

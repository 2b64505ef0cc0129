"""Lean's verdict on a candidate statement: does it elaborate, and is it trivial or vacuous?

- Elaborates: the server's `start` elaborates the header with `autoImplicit false` (an unknown name is an
  error, not a new variable) after its untrusted-input filter; its error message feeds the repair prompt.
- Vacuous: the theorem's own hypotheses prove `False` (`exfalso` then a cheap closer). Only the binders before
  the colon count: `¬ P` or `P → Q` in the conclusion is a claim, not a contradiction in the assumptions.
- Trivial: a cheap closer proves the statement at once. Many faithful competition statements are (compute a
  number, check a finite fact), so this is a flag for the report and a tie-break, not a rejection.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prover.lean.protocol import LeanError

TRIVIAL_TACTICS = ("rfl", "trivial", "decide", "simp", "omega")
VACUOUS_TACTICS = ("exfalso; contradiction", "exfalso; omega", "exfalso; simp_all", "exfalso; grind")
FLAG_HEARTBEATS = 5000  # thousands; a flag is about what closes *at once*


@dataclass
class Verdict:
    elaborates: bool
    error: str = ""
    flags: list[str] = field(default_factory=list)  # "trivial", "vacuous"
    flag_tactics: dict[str, str] = field(default_factory=dict)  # flag -> the tactic that showed it


def check_statement(env, header: str, flags: bool = True, timeout: float = 60.0) -> Verdict:
    try:
        root = env.start(header, heartbeats=20000, timeout=timeout)
    except LeanError as e:
        return Verdict(False, str(e))
    except ValueError as e:  # not a statement at all (e.g. it carries a proof)
        return Verdict(False, str(e))
    v = Verdict(True)
    if not flags:
        return v
    for flag, tactics in (("vacuous", VACUOUS_TACTICS), ("trivial", TRIVIAL_TACTICS)):
        for tac in tactics:
            res = env.run_tac(root, tac, heartbeats=FLAG_HEARTBEATS, timeout=timeout)
            if res.complete:
                v.flags.append(flag)
                v.flag_tactics[flag] = tac
                break
    return v

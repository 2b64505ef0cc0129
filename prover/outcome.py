"""How one theorem's attempt ended: a verdict on the proof, or a failure of the machinery.

The two kinds must never be confused. A verdict ("proved", "failed", "budget", "invalid") is what the search
and Lean concluded about this theorem under this budget; `--resume` keeps it. A machinery failure (Lean
crashed or hung, the model server was unreachable, a bug) says nothing about the theorem; `--resume` retries
it, reports count it apart, and a run whose every attempt was one exits non-zero.

The values are the `status` strings of `results.jsonl` rows (rows written before "invalid" existed used
"error" for a statement Lean refused; such rows are retried, which costs one start each).
"""
from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    # verdicts: what the search and Lean concluded
    PROVED = "proved"  # the whole proof text passed Lean's from-scratch check (kernel, no sorry, no extra axiom)
    FAILED = "failed"  # the search space is exhausted (every tactic from every state failed), or the proof the
    #                    tree found was refused by the re-check (recorded in `rejected_proofs`)
    BUDGET = "budget"  # a budget limit was reached first (expansions, wall or Lean seconds, depth, lost tactics)
    INVALID = "invalid"  # Lean refused the statement itself (it does not elaborate): fix the input
    # machinery failures: no verdict on the theorem
    LEAN_CRASH = "lean_crash"  # the Lean process died, or would not start, during a theorem-level request
    LEAN_TIMEOUT = "lean_timeout"  # a theorem-level Lean request (start, re-check) ran past its wall-clock limit
    MODEL_ERROR = "model_error"  # the tactic generator failed (model server unreachable, error status, bad answer)
    ERROR = "error"  # an unexpected exception (a bug); `error` holds its type and message

    @property
    def machinery(self) -> bool:
        """True for a failure of the machinery rather than a verdict on the theorem."""
        return self in MACHINERY

    def __str__(self) -> str:
        return self.value


MACHINERY = frozenset({Outcome.LEAN_CRASH, Outcome.LEAN_TIMEOUT, Outcome.MODEL_ERROR, Outcome.ERROR})
VERDICTS = frozenset(Outcome) - MACHINERY


def outcome_of_exception(err: BaseException) -> Outcome:
    """The machinery outcome for an exception that ended a theorem's search."""
    from .lean.backend import BackendError
    from .lean.protocol import LeanInfraError, LeanTimeout

    if isinstance(err, LeanTimeout):
        return Outcome.LEAN_TIMEOUT
    if isinstance(err, (LeanInfraError, BackendError)):
        return Outcome.LEAN_CRASH
    try:
        from .generate.openai_api import GeneratorError
    except ImportError:  # the generator package needs optional dependencies
        GeneratorError = ()  # type: ignore[assignment]
    if GeneratorError and isinstance(err, GeneratorError):
        return Outcome.MODEL_ERROR
    return Outcome.ERROR

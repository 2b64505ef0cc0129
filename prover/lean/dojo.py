"""A facade in the shape of LeanDojo's interaction API, so ReProver-style code runs on our server.

    with Dojo("theorem foo (n : Nat) : n + 0 = n") as (dojo, init_state):
        result = dojo.run_tac(init_state, "simp")
        if isinstance(result, ProofFinished): ...

LeanDojo traces a repository and needs network access and a native toolchain; here a "theorem" is a statement
string (or any object with a `statement` attribute). Unlike a bare tactic state, `ProofFinished` is returned
only after the whole proof text was re-checked from scratch by the kernel with the statement unchanged;
otherwise the last step comes back as `LeanError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .protocol import ProofState, normalize_statement
from .server import LeanServer


@dataclass(frozen=True)
class TacticState:
    pp: str
    id: int
    message: str | None = None

    @property
    def num_goals(self) -> int:
        return 0 if self.pp == "no goals" else self.pp.count("⊢")


@dataclass(frozen=True)
class ProofFinished:
    tactic_state_id: int
    message: str | None = None


@dataclass(frozen=True)
class LeanError:
    error: str


@dataclass(frozen=True)
class ProofGivenUp:
    pass


TacticResult = Union[TacticState, ProofFinished, LeanError, ProofGivenUp]


def as_theorem(statement: str, name: str = "dojo_theorem") -> str:
    """A statement as a named theorem header (bare propositions get `name`)."""
    st = normalize_statement(statement)
    if st.startswith("theorem "):
        return st
    if st.startswith("example"):
        return f"theorem {name}" + st[len("example"):]
    return f"theorem {name} : {st}"


def proof_text(statement: str, tactics: tuple[str, ...] | list[str]) -> str:
    """`theorem ... := by` followed by the tactics, each indented on its own lines."""
    body = "\n".join("  " + line for t in tactics for line in t.splitlines())
    return f"{as_theorem(statement)} := by\n{body}\n"


class Dojo:
    """`Dojo(theorem, server=None)`; `with` yields `(dojo, initial TacticState)`."""

    def __init__(self, theorem: Any, server: LeanServer | Any | None = None, timeout: float = 60.0):
        statement = theorem if isinstance(theorem, str) else getattr(theorem, "statement")
        self.statement = as_theorem(statement)
        self.timeout = timeout
        self._own_server = server is None
        self.server = server if server is not None else LeanServer(request_timeout=timeout)
        self.name = self._name()

    def _name(self) -> str:
        parts = self.statement.split()
        return parts[1] if parts and parts[0] == "theorem" and len(parts) > 1 else "dojo_theorem"

    def __enter__(self) -> tuple["Dojo", TacticState]:
        root = self.server.start(self.statement, timeout=self.timeout)
        return self, TacticState(root.pp, root.id)

    def __exit__(self, *exc: Any) -> None:
        if self._own_server:
            self.server.close()

    def run_tac(self, state: TacticState, tactic: str) -> TacticResult:
        if not isinstance(state, TacticState):
            raise TypeError(f"run_tac expects a TacticState, got {type(state).__name__}")
        res = self.server.run_tac(state.id, tactic, timeout=self.timeout)
        if res.error is not None or res.state is None:
            return LeanError(res.error or "tactic failed")
        new: ProofState = res.state
        if not new.complete:
            return TacticState(new.pp, new.id)
        # The goals are closed; count it only if the whole proof text passes the kernel from scratch.
        text = self.proof_text(new)
        check = self.server.check(text, statement=self.statement, timeout=self.timeout)
        decl = check.declarations[-1] if check.declarations else None
        if check.all_ok and decl is not None and decl.sound:
            return ProofFinished(new.id, None)
        why = "; ".join(decl.errors) if decl else "no declaration checked"
        return LeanError(f"goals closed but the proof text failed the kernel re-check: {why}")

    def proof_text(self, state: ProofState | TacticState | int) -> str:
        sid = state if isinstance(state, int) else state.id
        return proof_text(self.statement, self.server.tactics_of(sid))

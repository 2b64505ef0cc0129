"""Typed answers of the Lean proof-state server (`lean_project/LeanServer.lean`).

One dataclass per answer shape; `from_json` builds it from the server's JSON object. The request side is the
method set of `LeanServer` (start, run_tac, check, add, stats, clear), which mirrors the server's commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class LeanError(RuntimeError):
    """Lean answered and said no: the input was refused (a statement that does not elaborate, a parse error,
    an unknown state, a request too large to send). A verdict on the input, never a machinery failure."""


class LeanInfraError(RuntimeError):
    """The Lean machinery failed (the process died, hung, or would not start): no verdict on the input.
    Deliberately not a `LeanError`, so `except LeanError` never turns a crash into "Lean refused it"."""


class LeanCrash(LeanInfraError):
    """The Lean process died (or would not start) during a request; it has been restarted, the request is lost."""


class LeanTimeout(LeanInfraError):
    """A request ran past its wall-clock limit; the process was killed and restarted, the request is lost."""


_PROOF_SUFFIX = re.compile(r"\s*:=\s*(by\s+)?(sorry|admit)\s*$", re.S)


def normalize_statement(text: str) -> str:
    """`theorem foo (x : Nat) : x = x := by sorry` -> `theorem foo (x : Nat) : x = x`.

    Accepts `lemma` (turned into `theorem`) and bare propositions. Raises ValueError on empty input or on a
    statement that still carries a real proof, so a caller never sends a proof where a statement belongs.
    """
    t = text.strip()
    if not t:
        raise ValueError("empty statement")
    t = _PROOF_SUFFIX.sub("", t).strip()
    if t.startswith("lemma "):
        t = "theorem " + t[len("lemma "):]
    if re.search(r":=\s*(by\b|fun\b|⟨)", t):
        raise ValueError(f"statement carries a proof (only `:= by sorry` may follow it): {text[:200]!r}")
    return t


@dataclass(frozen=True)
class Message:
    severity: str  # "error" | "warning" | "info"
    line: int
    column: int
    text: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Message":
        return cls(d.get("severity", "error"), int(d.get("line", 0)), int(d.get("column", 0)), d.get("text", ""))


@dataclass(frozen=True)
class ProofState:
    """A proof state held by the server. `goals` are pretty-printed, main goal first; no goals = proved."""

    id: int
    goals: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.goals

    @property
    def pp(self) -> str:
        return "\n\n".join(self.goals) if self.goals else "no goals"


@dataclass(frozen=True)
class TacticResult:
    """Outcome of one tactic: a new state, or an error (the input state stays usable)."""

    state: ProofState | None
    error: str | None = None
    # "LeanCrash" | "LeanTimeout" when the request was lost to the machinery (the process was restarted):
    # not Lean's verdict on the tactic
    lost: str | None = None
    messages: tuple[str, ...] = ()  # Lean's infos and warnings on success (e.g. `exact?`'s "Try this")

    @property
    def ok(self) -> bool:
        return self.state is not None

    @property
    def complete(self) -> bool:
        return self.state is not None and self.state.complete


@dataclass(frozen=True)
class DeclResult:
    """One declaration of a `check`: `sound` means the kernel accepted its replay from the base environment, no
    sorry, no escape hatch, and its statement means what its text says (or the reference statement).
    `unsound_reason` says why not, when the judge found a reason; `audit_error` when the judge could not audit."""

    name: str
    ok: bool
    complete: bool
    sound: bool
    messages: tuple[Message, ...] = ()
    statement_matches: bool | None = None
    bad_axioms: tuple[str, ...] = ()
    unsound_reason: str | None = None
    audit_error: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "DeclResult":
        return cls(
            name=d.get("name", "?"),
            ok=bool(d.get("ok")),
            complete=bool(d.get("complete", d.get("ok"))),
            sound=bool(d.get("sound", False)),
            messages=tuple(Message.from_json(m) for m in d.get("messages", [])),
            statement_matches=d.get("statement_matches"),
            bad_axioms=tuple(d.get("bad_axioms", [])),
            unsound_reason=d.get("unsound_reason"),
            audit_error=d.get("audit_error"),
        )

    @property
    def errors(self) -> list[str]:
        return [m.text for m in self.messages if m.severity == "error"]


@dataclass(frozen=True)
class CheckResult:
    """A whole `check`: `all_ok` is true only if every declaration is sound and the source parsed."""

    all_ok: bool
    declarations: tuple[DeclResult, ...]
    parse_messages: tuple[Message, ...] = ()
    expected_found: bool = True
    audit_error: str | None = None  # the judge itself failed (never a verdict on the proof)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "CheckResult":
        return cls(
            all_ok=bool(d.get("all_ok")),
            declarations=tuple(DeclResult.from_json(x) for x in d.get("declarations", [])),
            parse_messages=tuple(Message.from_json(m) for m in d.get("parse_messages", [])),
            expected_found=bool(d.get("expected_found", True)),
            audit_error=d.get("audit_error"),
        )

    def decl(self, name: str) -> DeclResult:
        for d in self.declarations:
            if d.name == name or d.name.endswith("." + name):
                return d
        raise KeyError(name)


@dataclass(frozen=True)
class Stats:
    states_created: int
    live_states: int
    requests: int
    heartbeats: int
    uptime_ms: int
    rss_mb: float = 0.0
    restarts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


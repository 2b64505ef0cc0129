"""The wire protocol of the Lean proof-state server, defined once: mirrors `lean_project/LeanServer.lean`.

Change the two together. What lives here and nowhere else:
- the constants both sides share (`ANSWER_TAG`, `DEFAULT_HEARTBEATS`, `DEFAULT_MAX_REC_DEPTH`, the closed
  set of commands `COMMANDS`). The Lean file carries a generated copy of them between the `WIRE` markers;
  `server_source()` (prover/lean/server.py) replaces that block with `lean_wire_block()` at every start, so
  the running server always has these values, and `python scripts/lean_wire.py --check|--write` keeps the
  checked-in copy (what an editor sees) equal to them (tests/test_protocol.py fails when it is not);
- one request class per command and one answer class per answer shape, with strict parsing
  (`parse_request`, `parse_answer`): a missing or mistyped required field is a `ProtocolError` naming the
  command and the field, in the words the Lean server uses for the same mistake; fields this module does not
  know are kept in `extra`, never dropped;
- the daemon's extra commands (`DAEMON_COMMANDS`: ping, tactics_of, shutdown) and the `error_type` of an error
  answer, which only the Python proxies (the daemon) set.

Envelope: a request is one JSON object per line with `cmd`, an optional `id` (any JSON value, echoed back) and
the command's fields; an answer is one line `ANSWER_TAG KEY {json}` (KEY: the session key the client sent as its
first line) carrying `id`, `ok` and, when `ok` is false, `error`. The first answer is `{"ready": true}` (no id).
tests/golden/*.txt are transcripts of every command and every error kind: the protocol's examples.
"""
from __future__ import annotations

import json
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

LEAN_FILE = "lean_project/LeanServer.lean"
ANSWER_TAG = "@@LS@@"  # an answer line is `ANSWER_TAG KEY {json}`
DEFAULT_HEARTBEATS = 20000  # per request, in thousands (Lean's `maxHeartbeats` unit)
DEFAULT_MAX_REC_DEPTH = 512
# The Lean server's commands, in the order of its `WireCmd` type (generated from this tuple).
COMMANDS = ("start", "tactic", "check", "add", "trace", "stats", "clear")
# Answered by the daemon (prover/lean/daemon.py) besides the forwarded commands; never sent to Lean.
DAEMON_COMMANDS = ("ping", "tactics_of", "shutdown")
ENVELOPE = ("id", "cmd", "ok")


def answer_prefix(key: str) -> str:
    """What starts every answer line of a session whose key is `key`."""
    return f"{ANSWER_TAG} {key} "


# ----------------------------------------------------------------------------- errors
class ProtocolError(ValueError):
    """A line that breaks the protocol: not JSON, no or an unknown `cmd`, or a required field missing or of the
    wrong type. The message names the command and the field."""


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


# `error_type` of an error answer -> the exception a client raises. Absent: Lean refused the input (LeanError).
ERROR_TYPES: dict[str, type[Exception]] = {"LeanError": LeanError, "LeanInfraError": LeanInfraError,
                                           "LeanCrash": LeanCrash, "LeanTimeout": LeanTimeout,
                                           "ValueError": ValueError, "ProtocolError": ProtocolError}
INFRA_ERROR_TYPES = ("LeanInfraError", "LeanCrash", "LeanTimeout")


# ----------------------------------------------------------------------------- field kinds
# Each wire field is declared with `wire(kind)`; the kind names the JSON type in the Lean server's words.
def _nat(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


_KINDS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "natural-number": _nat,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string-list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "natural-number-list": lambda v: isinstance(v, list) and all(_nat(x) for x in v),
}


def wire(kind: "str | type", default: Any = MISSING, *, many: bool = False, required: bool | None = None) -> Any:
    """A wire field. `kind`: a name in `_KINDS` or a `Wire` class (a nested object; `many`: a list of them).
    Required on the wire unless it has a default (`required=True`: a default for Python callers only). A
    default of None means "Lean may leave it out or send null"; `to_json` leaves None fields out."""
    meta = {"kind": kind, "many": many, "required": default is MISSING if required is None else required}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _kind_name(kind: "str | type", many: bool) -> str:
    name = kind if isinstance(kind, str) else "object"
    return f"{name}-list" if many and not isinstance(kind, str) else name


@dataclass(frozen=True, kw_only=True)
class Wire:
    """A JSON object of the protocol. `extra`: fields it does not declare, kept as they came."""

    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def _where(cls) -> str:
        return getattr(cls, "cmd", None) or cls.__name__

    @classmethod
    def from_json(cls, d: Any, where: str | None = None, nested: bool = False) -> Any:
        """Strictly: a required field absent, null or of the wrong type is a ProtocolError naming `where` and
        the field. `nested`: an object inside a message (the envelope keys are then ordinary fields)."""
        where = where or cls._where()
        if not isinstance(d, dict):
            raise ProtocolError(f"{where}: expected a JSON object, got {type(d).__name__}")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            kind, many, required = f.metadata["kind"], f.metadata["many"], f.metadata["required"]
            v = d.get(f.name)
            if v is None:  # absent or null
                if required:
                    raise ProtocolError(f"{where}: missing {_kind_name(kind, many)} field `{f.name}`")
                continue
            if isinstance(kind, str):
                if not _KINDS[kind](v):
                    raise ProtocolError(f"{where}: missing {kind} field `{f.name}`")  # Lean's words
                kw[f.name] = tuple(v) if isinstance(v, list) else v
            elif many:
                if not isinstance(v, list):
                    raise ProtocolError(f"{where}: field `{f.name}` must be a list")
                kw[f.name] = tuple(kind.from_json(x, f"{where}.{f.name}[{i}]", True) for i, x in enumerate(v))
            else:
                kw[f.name] = kind.from_json(v, f"{where}.{f.name}", True)
        names = {f.name for f in fields(cls)}
        extra = {k: v for k, v in d.items() if k not in names and (nested or k not in ENVELOPE)}
        return cls(**kw, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The JSON object (without the envelope); None-valued optional fields are left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None:
                continue
            out[f.name] = _plain(v)
        out.update(self.extra)
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, Wire):
        return v.to_json()
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


# ----------------------------------------------------------------------------- requests
@dataclass(frozen=True, kw_only=True)
class Request(Wire):
    """A request. `timeout`: the wall-clock seconds a Python proxy (the daemon) grants it; Lean ignores it and
    `LeanServer` never sends it (its methods take the limit as an argument)."""

    cmd: ClassVar[str]
    timeout: float | None = wire("number", None)

    def to_line(self, id: Any = None) -> str:
        """The request as one line, `cmd` and `id` first."""
        head: dict[str, Any] = {"cmd": self.cmd} if id is None else {"id": id, "cmd": self.cmd}
        return json.dumps({**head, **self.to_json()}, ensure_ascii=False)


@dataclass(frozen=True, kw_only=True)
class Limited(Request):
    """A request with Lean limits: `heartbeats` in thousands (default DEFAULT_HEARTBEATS), `max_rec_depth`."""

    heartbeats: int | None = wire("natural-number", None)
    max_rec_depth: int | None = wire("natural-number", None)


@dataclass(frozen=True, kw_only=True)
class StartRequest(Limited):
    """Elaborate `statement` (`theorem name binders : type` without a proof, or a proposition) into a state."""

    cmd: ClassVar[str] = "start"
    statement: str = wire("string")


@dataclass(frozen=True, kw_only=True)
class TacticRequest(Limited):
    """Run `tactic` (one tactic or a sequence) on proof state `state`, any earlier one."""

    cmd: ClassVar[str] = "tactic"
    state: int = wire("natural-number")
    tactic: str = wire("string")


@dataclass(frozen=True, kw_only=True)
class CheckRequest(Limited):
    """Judge whole declarations: `statement`/`name` the reference statement, `pristine` ignore `add`ed code,
    `trusted` no syntax filter (the daemon refuses it)."""

    cmd: ClassVar[str] = "check"
    code: str = wire("string")
    statement: str | None = wire("string", None)
    name: str | None = wire("string", None)
    pristine: bool | None = wire("boolean", None)
    trusted: bool | None = wire("boolean", None)


@dataclass(frozen=True, kw_only=True)
class AddRequest(Limited):
    """Add trusted declarations (a prelude) to the base environment (the daemon refuses it)."""

    cmd: ClassVar[str] = "add"
    code: str = wire("string")


@dataclass(frozen=True, kw_only=True)
class TraceRequest(Limited):
    """Elaborate `code` with info trees, after `prefix` (silently); report each command's tactics."""

    cmd: ClassVar[str] = "trace"
    code: str = wire("string")
    prefix: str | None = wire("string", None)
    pristine: bool | None = wire("boolean", None)
    trusted: bool | None = wire("boolean", None)


@dataclass(frozen=True, kw_only=True)
class StatsRequest(Request):
    cmd: ClassVar[str] = "stats"


@dataclass(frozen=True, kw_only=True)
class ClearRequest(Request):
    """Drop every proof state (ids are never reused)."""

    cmd: ClassVar[str] = "clear"


@dataclass(frozen=True, kw_only=True)
class PingRequest(Request):
    """Daemon only: who is serving."""

    cmd: ClassVar[str] = "ping"


@dataclass(frozen=True, kw_only=True)
class TacticsOfRequest(Request):
    """Daemon only: the tactics applied since `start` to reach `state`."""

    cmd: ClassVar[str] = "tactics_of"
    state: int = wire("natural-number")


@dataclass(frozen=True, kw_only=True)
class ShutdownRequest(Request):
    """Daemon only: stop serving."""

    cmd: ClassVar[str] = "shutdown"


REQUESTS: dict[str, type[Request]] = {c.cmd: c for c in (
    StartRequest, TacticRequest, CheckRequest, AddRequest, TraceRequest, StatsRequest, ClearRequest)}
DAEMON_REQUESTS: dict[str, type[Request]] = {c.cmd: c for c in (PingRequest, TacticsOfRequest, ShutdownRequest)}
assert tuple(REQUESTS) == COMMANDS and tuple(DAEMON_REQUESTS) == DAEMON_COMMANDS


def parse_request(line: "str | dict[str, Any]", daemon: bool = False) -> tuple[Any, Request]:
    """`(id, request)` from a request line (or its decoded object). `daemon`: accept DAEMON_COMMANDS too.
    Raises ProtocolError with the Lean server's message for the same mistake."""
    if isinstance(line, str):
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise ProtocolError(f"malformed JSON: {e}") from None
    else:
        d = line
    if not isinstance(d, dict) or not isinstance(d.get("cmd"), str):
        raise ProtocolError("missing string field `cmd`")
    cls = REQUESTS.get(d["cmd"]) or (DAEMON_REQUESTS.get(d["cmd"]) if daemon else None)
    if cls is None:
        raise ProtocolError(f"unknown command `{d['cmd']}`")
    return d.get("id"), cls.from_json(d)


# ----------------------------------------------------------------------------- answers
@dataclass(frozen=True, kw_only=True)
class Answer(Wire):
    ok: ClassVar[bool] = True

    def to_line(self, id: Any = None) -> str:
        """The answer object as one line (without the session prefix), `id` and `ok` first."""
        return json.dumps({"id": id, "ok": self.ok, **self.to_json()}, ensure_ascii=False)


@dataclass(frozen=True, kw_only=True)
class ErrorAnswer(Answer):
    """`ok: false`. Lean sends `error` alone: it refused the input. `error_type` is set only by a Python proxy:
    a name in ERROR_TYPES (`LeanCrash`/`LeanTimeout`: the request was lost to the machinery, no verdict)."""

    ok: ClassVar[bool] = False
    error: str = wire("string")
    error_type: str | None = wire("string", None)

    @property
    def lost(self) -> str | None:
        return self.error_type if self.error_type in INFRA_ERROR_TYPES else None

    def exception(self) -> Exception:
        return ERROR_TYPES.get(self.error_type or "LeanError", LeanError)(self.error)


@dataclass(frozen=True, kw_only=True)
class Ready(Answer):
    """The first line of a session, `{"ready": true}`, without id."""

    ready: bool = wire("boolean")

    def to_line(self, id: Any = None) -> str:
        return json.dumps(self.to_json())


@dataclass(frozen=True, kw_only=True)
class StartAnswer(Answer):
    """A new proof state: its id and goals (pretty-printed, main goal first)."""

    state: int = wire("natural-number")
    goals: tuple[str, ...] = wire("string-list")
    complete: bool = wire("boolean")


@dataclass(frozen=True, kw_only=True)
class TacticAnswer(StartAnswer):
    """A new proof state after a tactic; `messages`: Lean's infos and warnings (e.g. `exact?`'s "Try this")."""

    messages: tuple[str, ...] = wire("string-list")


@dataclass(frozen=True)
class Message(Wire):
    """A Lean message; `line` is 1-based, `column` 0-based, in the checked text."""

    severity: str = wire("string")  # "error" | "warning" | "info"
    line: int = wire("natural-number")
    column: int = wire("natural-number")
    text: str = wire("string")


@dataclass(frozen=True)
class DeclResult(Wire):
    """One declaration of a `check` (or one command that declares nothing, named `command#N`). `sound`: the
    kernel accepted its replay from the base environment, no sorry, no escape hatch, and its statement means
    what its text says (or is the reference statement). `unsound_reason` says why not, when the judge found a
    reason; `audit_error` when the judge could not audit. `ms`: its elaboration time; `line`: where it starts.
    An `add` answer carries only name, ok, complete, sound and messages."""

    name: str = wire("string")
    ok: bool = wire("boolean")
    complete: bool = wire("boolean")
    sound: bool = wire("boolean")
    messages: tuple[Message, ...] = wire(Message, (), many=True, required=True)
    statement_matches: bool | None = wire("boolean", None)
    bad_axioms: tuple[str, ...] | None = wire("string-list", None)
    unsound_reason: str | None = wire("string", None)
    audit_error: str | None = wire("string", None)
    kind: str | None = wire("string", None)
    ms: int | None = wire("natural-number", None)
    line: int | None = wire("natural-number", None)

    @property
    def errors(self) -> list[str]:
        return [m.text for m in self.messages if m.severity == "error"]


@dataclass(frozen=True)
class CheckResult(Answer):
    """The answer to `check` and `add`: `all_ok` is true only if every declaration is sound, the source parsed,
    and the reference statement (if given) was found. `audit_error`: the judge itself failed (no verdict)."""

    all_ok: bool = wire("boolean")
    declarations: tuple[DeclResult, ...] = wire(DeclResult, many=True)
    parse_messages: tuple[Message, ...] = wire(Message, (), many=True, required=True)
    expected_found: bool = wire("boolean", True, required=True)
    audit_error: str | None = wire("string", None)

    def decl(self, name: str) -> DeclResult:
        for d in self.declarations:
            if d.name == name or d.name.endswith("." + name):
                return d
        raise KeyError(name)


@dataclass(frozen=True)
class Premise(Wire):
    """A constant a traced tactic names: where, and the module that declares it."""

    name: str = wire("string")
    module: str = wire("string")
    start: int = wire("natural-number")
    end: int = wire("natural-number")
    line: int = wire("natural-number")
    column: int = wire("natural-number")
    end_line: int = wire("natural-number")
    end_column: int = wire("natural-number")


@dataclass(frozen=True)
class TracedTactic(Wire):
    """A tactic as written: its syntax kind, byte range and position, goals before and after, premises."""

    kind: str = wire("string")
    state_before: tuple[str, ...] = wire("string-list")
    state_after: tuple[str, ...] = wire("string-list")
    premises: tuple[Premise, ...] = wire(Premise, many=True)
    start: int = wire("natural-number")
    end: int = wire("natural-number")
    line: int = wire("natural-number")
    column: int = wire("natural-number")
    end_line: int = wire("natural-number")
    end_column: int = wire("natural-number")


@dataclass(frozen=True)
class TraceDecl(Wire):
    """One traced command. `refused`: the syntax filter's reason (then nothing was elaborated). A theorem-like
    declaration that elaborated carries `full_name`, `complete`, `sound`, `bad_axioms` (or `audit_error`)."""

    name: str = wire("string")
    kind: str = wire("string")
    parse_ok: bool = wire("boolean")
    ok: bool = wire("boolean")
    messages: tuple[Message, ...] = wire(Message, many=True)
    tactics: tuple[TracedTactic, ...] = wire(TracedTactic, many=True)
    refused: str | None = wire("string", None)
    ms: int | None = wire("natural-number", None)
    holes: int | None = wire("natural-number", None)
    full_name: str | None = wire("string", None)
    complete: bool | None = wire("boolean", None)
    sound: bool | None = wire("boolean", None)
    bad_axioms: tuple[str, ...] | None = wire("string-list", None)
    audit_error: str | None = wire("string", None)
    start: int | None = wire("natural-number", None)
    end: int | None = wire("natural-number", None)
    line: int | None = wire("natural-number", None)
    column: int | None = wire("natural-number", None)
    end_line: int | None = wire("natural-number", None)
    end_column: int | None = wire("natural-number", None)
    walk_ms: int | None = wire("natural-number", None)  # time spent walking its info trees


@dataclass(frozen=True)
class TraceAnswer(Answer):
    """The answer to `trace`: per command of `code`, its status and tactics; `prefix_failed`: how many commands
    of the prefix failed or were refused."""

    declarations: tuple[TraceDecl, ...] = wire(TraceDecl, many=True)
    prefix_failed: int = wire("natural-number")
    prefix_ms: int | None = wire("natural-number", None)  # time spent elaborating the prefix


@dataclass(frozen=True)
class Stats(Answer):
    """The answer to `stats`. `rss_mb` and `restarts` are added by the Python client (Lean cannot see them)."""

    states_created: int = wire("natural-number")
    live_states: int = wire("natural-number")
    requests: int = wire("natural-number")
    heartbeats: int = wire("natural-number")
    uptime_ms: int = wire("natural-number")
    rss_mb: float | None = wire("number", None)
    restarts: int | None = wire("natural-number", None)


@dataclass(frozen=True)
class ClearAnswer(Answer):
    """`cleared`: how many proof states were dropped."""

    cleared: int = wire("natural-number")


@dataclass(frozen=True)
class PingAnswer(Answer):
    """Daemon only: its configuration key, its pid, its servers' pids, and how many connections share this
    connection's server (`clear` drops states only for a sole client)."""

    key: str = wire("string")
    pid: int = wire("natural-number")
    servers: int = wire("natural-number")
    server_pids: tuple[int, ...] = wire("natural-number-list")
    clients: int = wire("natural-number")
    spare_pid: int | None = wire("natural-number", None)


@dataclass(frozen=True)
class TacticsOfAnswer(Answer):
    tactics: tuple[str, ...] = wire("string-list")


@dataclass(frozen=True)
class ShutdownAnswer(Answer):
    stopping: bool = wire("boolean")


ANSWERS: dict[str, type[Answer]] = {
    "start": StartAnswer, "tactic": TacticAnswer, "check": CheckResult, "add": CheckResult,
    "trace": TraceAnswer, "stats": Stats, "clear": ClearAnswer,
    "ping": PingAnswer, "tactics_of": TacticsOfAnswer, "shutdown": ShutdownAnswer}
assert set(ANSWERS) == {*COMMANDS, *DAEMON_COMMANDS}


def parse_answer(cmd: str, d: "str | dict[str, Any]") -> Answer:
    """The typed answer to a `cmd` request: an `ErrorAnswer` when `ok` is false. Raises ProtocolError when a
    field is missing or mistyped (the two sides disagree: a bug, never a verdict)."""
    if isinstance(d, str):
        try:
            d = json.loads(d)
        except json.JSONDecodeError as e:
            raise ProtocolError(f"answer to `{cmd}`: malformed JSON: {e}") from None
    where = f"answer to `{cmd}`"
    if not isinstance(d, dict) or not isinstance(d.get("ok"), bool):
        raise ProtocolError(f"{where}: missing boolean field `ok`")
    if not d["ok"]:
        return ErrorAnswer.from_json(d, where)
    if cmd not in ANSWERS:
        raise ProtocolError(f"unknown command `{cmd}`")
    return ANSWERS[cmd].from_json(d, where)


# ----------------------------------------------------------------------------- client-side results
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
class ProofState:
    """A proof state of a client (`LeanServer`, the daemon): `id` is the client's own, stable across restarts
    (not Lean's); `goals` are pretty-printed, main goal first; no goals = proved."""

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


# ----------------------------------------------------------------------------- the Lean side's copy
WIRE_BEGIN = "-- BEGIN WIRE (generated from prover/lean/protocol.py: `python scripts/lean_wire.py --write`)"
WIRE_END = "-- END WIRE"


def lean_wire_block() -> str:
    """The Lean definitions of the shared constants and of the closed command type `WireCmd`."""
    cases = "\n".join(f"  | {c}" for c in COMMANDS)
    names = "\n".join(f'  else if s == "{c}" then some .{c}' for c in COMMANDS[1:])
    return "\n".join([
        WIRE_BEGIN,
        f'def answerTag : String := "{ANSWER_TAG}"',
        f"def defaultHeartbeats : Nat := {DEFAULT_HEARTBEATS}",
        f"def defaultMaxRecDepth : Nat := {DEFAULT_MAX_REC_DEPTH}",
        "",
        "/-- The commands, a closed set: `handle` matches on it exhaustively. -/",
        "inductive WireCmd where",
        cases,
        "",
        "def WireCmd.ofName? (s : String) : Option WireCmd :=",
        f'  if s == "{COMMANDS[0]}" then some .{COMMANDS[0]}',
        names,
        "  else none",
        WIRE_END,
    ])


def with_wire_block(lean_source: str) -> str:
    """`lean_source` with its WIRE block replaced by `lean_wire_block()`; ValueError if it has none."""
    start, end = lean_source.find("-- BEGIN WIRE"), lean_source.find(WIRE_END)
    if start < 0 or end < start:
        raise ValueError(f"{LEAN_FILE} has no `-- BEGIN WIRE` ... `{WIRE_END}` block")
    return lean_source[:start] + lean_wire_block() + lean_source[end + len(WIRE_END):]

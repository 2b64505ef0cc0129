"""Run trace units through the server's `trace` command and turn the answers into typed records.

A declaration is exported as a traced proof only if Lean accepted it and it is sound: the kernel took it, no
`sorry`, no `native_decide`/extra axioms (named theorems are audited by the server; for `example`s, which Lean
discards, we go by their messages and tactic text). Tactics of other declarations are counted, never exported.
A crash or timeout of the server is reported as machinery failure of the unit, never as a verdict on its proofs.

Long texts are traced in chunks of whole commands (`chunk_spans`), each one request whose prefix is the text
before it. Why: one request over fp-lean's Classes.lean (2,035 lines) ran past 60-400 s with Lean idle, while
its elaboration took 4.3 s and the info-tree walk 0.2 s. The cause was the answer's size: Emscripten prints a
line with one `fs.writeSync(1, …)`, which on Node's non-blocking stdout pipe writes ~64 KB and drops the rest,
so the client waited for a newline that never came (fixed in the Node preload, scripts/setup_lean.py: the
same request then took 5.3 s with a 209 KB answer). Chunks keep answers small on installs without that fix,
and a chunk that times out costs only its own declarations (`chunk: timeout`); it is left out of the prefix
of the chunks after it.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..lean.protocol import LeanCrash, LeanError, LeanTimeout
from .source import TraceUnit

THEOREM_KINDS = {"Lean.Parser.Command.theorem", "Lean.Parser.Command.example", "Lean.Parser.Command.definition",
                 "Lean.Parser.Command.instance", "Lean.Parser.Command.abbrev"}
_PRIVATE = re.compile(r"^_private\.(?:[^.]+\.)*?0\.")


def user_name(name: str) -> str:
    """`_private.<module>.0.foo` -> `foo` (private names of the traced text itself)."""
    return _PRIVATE.sub("", name)


def pp_state(goals: list[str]) -> str:
    """Goals as LeanDojo prints a state: blank-line separated, `no goals` when none."""
    return "\n\n".join(goals) if goals else "no goals"


@dataclass
class Premise:
    full_name: str
    module: str          # declaring module; "" when declared in the traced text
    start: int           # byte offsets in the unit's code
    end: int
    line: int
    column: int

    def def_path(self, unit_path: str) -> str:
        return self.module.replace(".", "/") + ".lean" if self.module else unit_path


@dataclass
class TracedTactic:
    tactic: str
    kind: str
    state_before: str
    state_after: str
    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int
    premises: list[Premise] = field(default_factory=list)
    goals_before: list[str] = field(default_factory=list)  # one pretty-printed goal each
    goals_after: list[str] = field(default_factory=list)

    def annotated(self, code: bytes, unit_path: str) -> tuple[str, list[dict[str, Any]]]:
        """LeanDojo's `annotated_tactic`: the text with `<a>…</a>` around each premise, and their provenances."""
        inside = sorted({(p.start, p.end): p for p in self.premises if self.start <= p.start and p.end <= self.end
                         }.values(), key=lambda p: p.start)
        out, prov, cur = [], [], self.start
        for p in inside:
            if p.start < cur:
                continue  # nested or overlapping occurrence: annotate the outer one only
            out += [code[cur:p.start].decode(errors="replace"), "<a>", code[p.start:p.end].decode(errors="replace"),
                    "</a>"]
            prov.append({"full_name": p.full_name, "def_path": p.def_path(unit_path), "def_pos": None,
                         "def_end_pos": None, "module": p.module})
            cur = p.end
        out.append(code[cur:self.end].decode(errors="replace"))
        return "".join(out), prov


@dataclass
class TracedDecl:
    name: str
    kind: str
    ok: bool
    line: int
    end_line: int
    code: str
    full_name: str = ""
    complete: bool | None = None
    sound: bool | None = None
    refused: str | None = None
    parse_ok: bool = True
    errors: list[str] = field(default_factory=list)
    tactics: list[TracedTactic] = field(default_factory=list)
    ms: int = 0
    start: int = 0

    @property
    def is_proof(self) -> bool:
        return self.kind in THEOREM_KINDS and bool(self.tactics)

    @property
    def exportable(self) -> bool:
        """Accepted and sound: the only declarations whose tactics go into the dataset."""
        return self.is_proof and self.ok and bool(self.sound)

    @property
    def reason(self) -> str | None:
        """Why this declaration failed (None when it did not)."""
        if self.refused:
            m = re.search(r"`([^`]+)`", self.refused)
            return f"refused by the untrusted filter ({m.group(1) if m else self.refused[:40]})"
        if not self.parse_ok:
            return "parse error"
        if not self.ok:
            return classify(self.errors)
        if self.kind in THEOREM_KINDS and self.complete is False:
            return "sorry"
        if self.kind in THEOREM_KINDS and self.sound is False:
            return "unsound (native code or axioms)"
        return None

    def statement(self) -> str:
        """The declaration's text up to its proof (`:=` before the first traced tactic)."""
        if not self.tactics:
            return self.code
        head = self.code.encode()[: max(0, self.tactics[0].start - self.start)].decode(errors="replace")
        cut = head.rfind(":=")
        return (head[:cut] if cut >= 0 else head).rstrip()


def classify(errors: list[str]) -> str:
    text = "\n".join(errors)
    rules = [("heartbeats", "timeout (heartbeats)"), ("maximum recursion", "max recursion depth"),
             ("unknown tactic", "unknown tactic (missing in this Lean)"),
             ("nknown identifier", "unknown identifier"), ("nknown constant", "unknown constant"),
             ("unknown namespace", "unknown namespace"), ("unexpected token", "parse error"),
             ("already been declared", "redeclaration"),
             ("unsolved goals", "tactic failed (unsolved goals)"), ("could not prove", "tactic failed"),
             ("failed", "tactic failed"),
             ("type mismatch", "type mismatch")]
    for needle, reason in rules:
        if needle in text:
            return reason
    return "elaboration error" if text else "error"


@dataclass
class TracedFile:
    path: str
    corpus: str
    code: str
    status: str                      # ok | errors | missing-imports | crash | timeout | server-error
    decls: list[TracedDecl] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_imports: list[str] = field(default_factory=list)
    prefix_failed: int = 0
    error: str | None = None
    seconds: float = 0.0
    failed_chunks: list[str] = field(default_factory=list)  # "lines A-B: timeout|crash|server-error"


def _premises(rows: list[dict]) -> list[Premise]:
    seen, out = set(), []
    for p in rows:
        key = (p["name"], p["start"], p["end"])
        if key in seen or "._" in p["name"] and not p["name"].startswith("_private"):
            continue  # duplicates, and auxiliary constants such as `foo.match_1`
        seen.add(key)
        out.append(Premise(user_name(p["name"]), p.get("module", ""), p["start"], p["end"], p["line"], p["column"]))
    return out


def parse_answer(unit: TraceUnit, ans: dict[str, Any]) -> list[TracedDecl]:
    code = unit.code.encode()
    decls = []
    for d in ans.get("declarations", []):
        tactics = []
        for t in d.get("tactics", []):
            tactics.append(TracedTactic(
                tactic=code[t["start"]:t["end"]].decode(errors="replace"), kind=t["kind"],
                state_before=pp_state(t["state_before"]), state_after=pp_state(t["state_after"]),
                start=t["start"], end=t["end"], line=t["line"], column=t["column"], end_line=t["end_line"],
                end_column=t["end_column"], premises=_premises(t.get("premises", [])),
                goals_before=list(t["state_before"]), goals_after=list(t["state_after"])))
        errors = [m["text"] for m in d.get("messages", []) if m.get("severity") == "error"]
        warnings = [m["text"] for m in d.get("messages", []) if m.get("severity") == "warning"]
        start, end = d.get("start", 0), d.get("end", 0)
        decl = TracedDecl(name=d.get("name", ""), kind=d.get("kind", ""), ok=bool(d.get("ok")),
                          line=d.get("line", 0), end_line=d.get("end_line", 0),
                          code=code[start:end].decode(errors="replace"), full_name=user_name(d.get("full_name", "")),
                          complete=d.get("complete"), sound=d.get("sound"), refused=d.get("refused"),
                          parse_ok=d.get("parse_ok", True), errors=errors,
                          tactics=tactics, ms=d.get("ms", 0), start=start)
        if decl.kind == "Lean.Parser.Command.example" and decl.ok:
            # Lean discards examples after checking them, so the server cannot audit them: go by the messages
            # (sorry warns) and the tactic text
            decl.complete = not any("sorry" in w for w in warnings)
            decl.sound = decl.complete
        if any("native_decide" in t.tactic or "+native" in t.tactic for t in tactics):
            decl.sound = False
        if not decl.full_name:
            decl.full_name = decl.name if not decl.name.startswith("command#") else f"_example_L{decl.line}"
        decls.append(decl)
    return decls


CHUNK_LINES = 150
_COMMAND_START = re.compile(r"^(?:[A-Za-z_#@]|/--)")


def _line_depths(code: str) -> list[int]:
    """Block-comment depth at the start of every line (`/- -/` nest; `--` comments and strings are skipped)."""
    depths, depth, i, n, in_str = [0], 0, 0, len(code), False
    while i < n:
        c = code[i]
        if c == "\n":
            depths.append(depth)
        elif in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif code.startswith("/-", i):
            depth += 1
            i += 1
        elif depth and code.startswith("-/", i):
            depth -= 1
            i += 1
        elif not depth and code.startswith("--", i):
            j = code.find("\n", i)
            i = (j if j >= 0 else n) - 1
        elif not depth and c == '"' and not code.startswith("'\"'", i - 1):
            in_str = True
        i += 1
    return depths


def chunk_spans(code: str, max_lines: int = CHUNK_LINES) -> list[tuple[int, int]]:
    """Split `code` into line spans [a, b) of whole commands, each about `max_lines` long: a cut goes before
    a line that starts a command at column 0, after a blank line, outside comments, strings and `mutual`
    blocks, and not after a line ending in `in` (`#guard_msgs in`, `open Foo in`)."""
    lines = code.split("\n")
    if len(lines) <= max_lines:
        return [(0, len(lines))]
    depths = _line_depths(code)
    cuts, mutual, last = [0], False, ""
    for i, line in enumerate(lines):
        if (i - cuts[-1] >= max_lines and not mutual and depths[i] == 0 and _COMMAND_START.match(line)
                and i > 0 and not lines[i - 1].strip() and not re.search(r"\bin$", last)):
            cuts.append(i)
        if depths[i] == 0 and re.match(r"mutual\b", line):
            mutual = True
        elif mutual and re.match(r"end\b", line):
            mutual = False
        if line.strip() and depths[i] == 0:
            last = line.split("--", 1)[0].rstrip()
    return list(zip(cuts, [*cuts[1:], len(lines)]))


def _shift(ans: dict[str, Any], delta: int) -> None:
    """Byte offsets of a chunk's answer, made offsets into the whole text."""
    for d in ans.get("declarations", []):
        for k in ("start", "end"):
            if k in d:
                d[k] += delta
        for t in d.get("tactics", []):
            t["start"] += delta
            t["end"] += delta
            for p in t.get("premises", []):
                p["start"] += delta
                p["end"] += delta


def _trace_chunks(server: Any, unit: TraceUnit, trusted: bool, heartbeats: int | None, timeout: float,
                  tf: TracedFile, max_lines: int, use_preludes: bool) -> None:
    lines = unit.code.split("\n")
    spans = chunk_spans(unit.code, max_lines)
    decls: list[dict] = []
    kept: list[str] = []  # text of the chunks that traced, the prefix of the next ones
    for k, (a, b) in enumerate(spans):
        text = "\n".join(lines[a:b]) + ("\n" if b < len(lines) else "")
        before = "\n".join(lines[:a]) + "\n" if a else ""
        prefix = "\n".join(x for x in [unit.prefix, *kept] if x)
        try:
            kw = {} if use_preludes else {"use_preludes": False}  # stand-in servers need not know it
            ans = server.trace("\n" * a + text, prefix=prefix, trusted=trusted, heartbeats=heartbeats,
                               timeout=timeout, **kw)
        except (LeanTimeout, LeanCrash, LeanError) as e:
            status = "timeout" if isinstance(e, LeanTimeout) else "crash" if isinstance(e, LeanCrash) else "server-error"
            tf.failed_chunks.append(f"lines {a + 1}-{b}: {status}")
            tf.error = (tf.error + "; " if tf.error else "") + f"lines {a + 1}-{b}: {e}"
            if len(spans) == 1:
                tf.status = status
            continue
        _shift(ans, len(before.encode()) - a)
        decls += ans.get("declarations", [])
        if k == 0:
            tf.prefix_failed = int(ans.get("prefix_failed", 0))
        kept.append(text)
    if tf.failed_chunks and len(tf.failed_chunks) == len(spans) and len(spans) > 1:
        tf.status = tf.failed_chunks[0].rsplit(": ", 1)[1]
    tf.decls = parse_answer(unit, {"declarations": decls})
    if tf.status == "ok" and (tf.failed_chunks or any(d.reason for d in tf.decls)):
        tf.status = "errors"


def trace_unit(server: Any, unit: TraceUnit, trusted: bool = False, heartbeats: int | None = None,
               timeout: float = 600, max_lines: int = CHUNK_LINES, use_preludes: bool = True) -> TracedFile:
    """Trace one unit, in chunks of about `max_lines` lines (see the module docstring); `timeout` is per chunk.
    `use_preludes=False`: in the server's environment before its preludes."""
    t0 = time.monotonic()
    tf = TracedFile(unit.path, unit.corpus, unit.code, "ok", notes=list(unit.notes),
                    missing_imports=list(unit.missing_imports))
    if unit.missing_imports:
        tf.status = "missing-imports"
        tf.error = "imports not available here: " + ", ".join(unit.missing_imports)
        return tf
    _trace_chunks(server, unit, trusted, heartbeats, timeout, tf, max_lines, use_preludes)
    tf.seconds = time.monotonic() - t0
    return tf


def trace_units(server: Any, units: list[TraceUnit], trusted: bool = False, heartbeats: int | None = None,
                timeout: float = 600, progress: Callable[[TracedFile], None] | None = None,
                max_lines: int = CHUNK_LINES, use_preludes: bool = True) -> list[TracedFile]:
    """Trace in order. A file whose prefix holds a file that timed out or crashed is not sent (it would cost the
    same timeout and a restart again): it is reported as `dependency-failed`."""
    out, lost = [], set()
    for u in units:
        bad = [d for d in u.deps if d in lost]
        if bad:
            tf = TracedFile(u.path, u.corpus, u.code, "dependency-failed", notes=list(u.notes),
                            error=f"imports {bad[0]}, which timed out or crashed")
        else:
            tf = trace_unit(server, u, trusted, heartbeats, timeout, max_lines, use_preludes)
        if tf.status in ("timeout", "crash", "dependency-failed") or any(
                c.endswith(("timeout", "crash")) for c in tf.failed_chunks):
            lost.add(u.path)
        out.append(tf)
        if progress:
            progress(tf)
    return out

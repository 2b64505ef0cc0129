"""Golden transcripts of the Lean server protocol (tests/golden/*.txt): reading, matching and recording.

A transcript is a sequence of exchanges, in order:

    # a comment (the documentation of what follows)
    > {"id": 1, "cmd": "start", "statement": "theorem g (n : Nat) : n + 0 = n"}
    < {"id": 1, "ok": true, "state": "$s1", "goals": ["n : Nat\\n⊢ n + 0 = n"], "complete": false}

`>` is a request line as sent (the session prefix left out), `<` the expected answer. Masks in answers: a string
`"$name"` matches any value and binds it (later occurrences must be equal; in requests it is replaced by the
bound value), `"<int>"` any natural number (timings, counters), `"<str>"` any string, `"<re:PATTERN>"` a string
PATTERN is found in. An expected `null` also matches an absent field (the daemon leaves None fields out).
A line `# targets: lean daemon` says which servers the transcript runs against (default: lean).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

GOLDEN = Path(__file__).with_name("golden")
ENVELOPE_KEYS = ("id", "ok", "error")
# answer keys whose values change from run to run: masked when recording
_VOLATILE = {"ms", "uptime_ms", "heartbeats", "requests", "states_created", "live_states", "cleared", "pid",
             "server_pids", "spare_pid", "key", "rss_mb", "restarts"}


@dataclass
class Exchange:
    request: str  # the request line, with "$name" masks
    expected: Any  # the expected answer object, with masks
    comments: list[str] = field(default_factory=list)
    lineno: int = 0


@dataclass
class Transcript:
    path: Path
    exchanges: list[Exchange]
    targets: tuple[str, ...] = ("lean",)
    trailer: list[str] = field(default_factory=list)  # comments after the last exchange


def transcripts() -> list[Path]:
    return sorted(GOLDEN.glob("*.txt"))


def read(path: Path) -> Transcript:
    exchanges: list[Exchange] = []
    comments: list[str] = []
    targets = ("lean",)
    pending: tuple[str, int] | None = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.startswith("# targets:"):
            targets = tuple(raw.split(":", 1)[1].split())
            comments.append(raw)
        elif raw.startswith("#") or not raw.strip():
            comments.append(raw)
        elif raw.startswith("> "):
            assert pending is None, f"{path.name}:{n}: a request without an answer before it"
            pending = (raw[2:], n)
        elif raw.startswith("< "):
            assert pending is not None, f"{path.name}:{n}: an answer without a request"
            exchanges.append(Exchange(pending[0], json.loads(raw[2:]), comments, pending[1]))
            comments, pending = [], None
        else:
            raise AssertionError(f"{path.name}:{n}: a line must start with `#`, `> ` or `< `")
    assert pending is None, f"{path.name}: the last request has no answer"
    return Transcript(path, exchanges, targets, comments)


_VAR = re.compile(r'"\$(\w+)"')


def substitute(request: str, bound: dict[str, Any]) -> str:
    """The request line with every `"$name"` replaced by its bound value (as JSON)."""
    def one(m: re.Match) -> str:
        assert m.group(1) in bound, f"${m.group(1)} is used before an answer binds it"
        return json.dumps(bound[m.group(1)], ensure_ascii=False)
    return _VAR.sub(one, request)


def mismatch(expected: Any, actual: Any, bound: dict[str, Any], path: str = "") -> str | None:
    """None if `actual` matches `expected` (binding `$name`s into `bound`), else where and how it differs."""
    if isinstance(expected, str) and expected.startswith("$"):
        name = expected[1:]
        if name in bound and bound[name] != actual:
            return f"{path}: {name} was {bound[name]!r}, now {actual!r}"
        bound[name] = actual
        return None
    if expected == "<int>":
        ok = isinstance(actual, int) and not isinstance(actual, bool) and actual >= 0
        return None if ok else f"{path}: expected a natural number, got {actual!r}"
    if expected == "<str>":
        return None if isinstance(actual, str) else f"{path}: expected a string, got {actual!r}"
    if isinstance(expected, str) and expected.startswith("<re:") and expected.endswith(">"):
        ok = isinstance(actual, str) and re.search(expected[4:-1], actual)
        return None if ok else f"{path}: {actual!r} does not contain /{expected[4:-1]}/"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        for k, v in expected.items():
            if k not in actual:
                if v is None:
                    continue
                return f"{path}.{k}: missing"
            why = mismatch(v, actual[k], bound, f"{path}.{k}")
            if why:
                return why
        extra = sorted(set(actual) - set(expected))
        return f"{path}: unexpected fields {extra}" if extra else None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {len(expected)} items, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            why = mismatch(e, a, bound, f"{path}[{i}]")
            if why:
                return why
        return None
    return None if expected == actual and type(expected) is type(actual) else f"{path}: expected {expected!r}, got {actual!r}"


def run(t: Transcript, send: Callable[[str], dict[str, Any]]) -> list[str]:
    """Send the requests of `t` through `send` (a request line -> the answer object); [] if every answer matched,
    else the first mismatch."""
    bound: dict[str, Any] = {}
    out = []
    for ex in t.exchanges:
        answer = send(substitute(ex.request, bound))
        why = mismatch(ex.expected, answer, bound, "answer")
        if why:  # the first mismatch only: later requests may need what this answer should have bound
            return [f"{t.path.name}:{ex.lineno}: {ex.request}\n  {why}\n  got {json.dumps(answer, ensure_ascii=False)}"]
    return out


def fill(expected: Any) -> Any:
    """An answer object with its masks replaced by plausible values (for the parser test without Lean)."""
    if isinstance(expected, str):
        if expected.startswith("$") or expected == "<int>":
            return 0
        if expected == "<str>" or expected.startswith("<re:"):
            return "text"
        return expected
    if isinstance(expected, dict):
        return {k: fill(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [fill(v) for v in expected]
    return expected


# ----------------------------------------------------------------------------- recording
def _mask(answer: Any, names: dict[Any, str], key: str = "") -> Any:
    if isinstance(answer, dict):
        return {k: _mask(v, names, k) for k, v in answer.items()}
    if isinstance(answer, list):
        return [_mask(v, names, key) for v in answer]
    if key == "state" and isinstance(answer, int):
        names.setdefault(answer, f"$s{len(names) + 1}")
        return names[answer]
    if key in _VOLATILE and answer is not None:
        return "<int>" if isinstance(answer, int) else "<str>" if isinstance(answer, str) else answer
    return answer


def record(t: Transcript, send: Callable[[str], dict[str, Any]]) -> str:
    """The transcript's text with every answer replaced by what `send` answers (state ids and volatile
    fields masked). For writing a new transcript: review the result before committing it."""
    names: dict[Any, str] = {}
    bound: dict[str, Any] = {}
    lines: list[str] = []
    for ex in t.exchanges:
        lines += ex.comments
        req = substitute(ex.request, bound)
        answer = send(req)
        masked = _mask(answer, names)
        for value, name in names.items():
            bound[name[1:]] = value
        if isinstance(masked, dict):  # the envelope first (Lean writes the keys in order)
            masked = {**{k: masked[k] for k in ENVELOPE_KEYS if k in masked}, **masked}
        lines += ["> " + ex.request, "< " + json.dumps(masked, ensure_ascii=False)]
    lines += t.trailer
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`python tests/golden.py --record [NAME ...]`: rewrite the answers of the named transcripts (all by
    default) from a fresh Lean server with the miniF2F prelude, as the tests' shared server has. Run it under
    /work/bin/lean-slot; review the diff before committing it."""
    import sys

    if not argv or argv[0] != "--record":
        print(main.__doc__, file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from prover.lean import LeanServer

    paths = [GOLDEN / f"{n}.txt" for n in argv[1:]] or transcripts()
    prelude = (root / "data" / "minif2f_core" / "prelude.lean").read_text()
    with LeanServer(preludes=[prelude], request_timeout=120, progress=False, name="golden") as srv:
        for p in paths:
            p.write_text(record(read(p), srv.send_raw))
            print(f"recorded {p.name}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

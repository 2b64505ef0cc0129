"""Golden transcripts (tests/golden/*.txt, read by tests/golden.py): the protocol's documentation, checked.

Without Lean: every request of every transcript goes through the Python parser (prover/lean/protocol.py), which
refuses exactly the malformed ones, with the Lean server's own message; every expected answer parses into its
typed class with no field left over in `extra` (so a field Lean sends is a field Python declares), and comes
back out unchanged. With Lean: the transcripts run against the session's real server, and those that name the
daemon against the session's daemon, and every answer must match.
"""
from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from golden import fill, read, run, transcripts
from prover.lean.protocol import (COMMANDS, DAEMON_COMMANDS, ErrorAnswer, ProtocolError, Wire, parse_answer,
                                  parse_request)

ALL = transcripts()
# The errors Lean gives for a request that breaks the envelope or a command's fields.
_MALFORMED = re.compile(r"^(<re:\^)?(malformed JSON|missing \S+ field|unknown command|\w+: missing \S+ field)")


def _leftovers(obj, where="answer") -> list[str]:
    """Fields no class declared, anywhere in a parsed answer."""
    out = [f"{where}.{k}" for k in getattr(obj, "extra", {})] if isinstance(obj, Wire) else []
    if isinstance(obj, Wire):
        for k, v in vars(obj).items():
            if k != "extra":
                out += _leftovers(v, f"{where}.{k}")
    elif isinstance(obj, tuple):
        for i, v in enumerate(obj):
            out += _leftovers(v, f"{where}[{i}]")
    return out


def _strip_nulls(d):
    if isinstance(d, dict):
        return {k: _strip_nulls(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_strip_nulls(v) for v in d]
    return d


def test_transcripts_cover_every_command_and_error_kind():
    sent, errors = set(), []
    for path in ALL:
        for ex in read(path).exchanges:
            try:
                sent.add(json.loads(ex.request.replace('"$', '"')).get("cmd"))
            except json.JSONDecodeError:
                sent.add("<bad json>")
            if isinstance(ex.expected, dict) and ex.expected.get("ok") is False:
                errors.append(ex.expected.get("error", ""))
    # `shutdown` would stop the session's daemon: the session's end sends it (conftest.py)
    assert set(COMMANDS) | set(DAEMON_COMMANDS) - {"shutdown"} <= sent
    text = "\n".join(errors)
    for kind in ("malformed JSON", "missing string field `cmd`", "unknown command", "missing string field",
                 "missing natural-number field", "unknown proof state", "Unknown identifier", "parse error",
                 "deterministic", "LeanTimeout", "not allowed in untrusted input"):
        assert kind in text, f"no transcript shows the error kind {kind!r}"


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_python_parser_agrees_with_the_transcript(path):
    t = read(path)
    daemon_only = t.targets == ("daemon",)
    for ex in t.exchanges:
        where = f"{path.name}:{ex.lineno}"
        line = re.sub(r'"\$\w+"', "0", ex.request)
        error = ex.expected.get("error", "") if ex.expected.get("ok") is False else None
        if error is not None and _MALFORMED.match(error):
            with pytest.raises(ProtocolError) as info:
                parse_request(line, daemon=daemon_only)
            want = error[len("<re:^"):-1] if error.startswith("<re:") else error
            assert str(info.value).startswith(want.replace("\\", "")), where
            continue
        rid, req = parse_request(line, daemon=True)
        assert rid == json.loads(line).get("id"), where
        # the request comes back out as it went in (cmd and id aside)
        assert {**json.loads(req.to_line(rid))} == json.loads(line), where
        ans = parse_answer(req.cmd, fill(ex.expected))
        assert isinstance(ans, ErrorAnswer) == (error is not None), where
        assert not _leftovers(ans), f"{where}: fields no protocol class declares: {_leftovers(ans)}"
        # and the typed answer writes the same object (null fields are left out)
        assert json.loads(ans.to_line(rid)) == {**_strip_nulls(fill(ex.expected)), "id": rid}, where


@pytest.mark.lean
@pytest.mark.parametrize("path", [p for p in ALL if "lean" in read(p).targets],
                         ids=[p.stem for p in ALL if "lean" in read(p).targets])
def test_transcript_against_the_lean_server(lean, path):
    if not hasattr(lean, "send_raw"):
        pytest.skip("the session's server is a daemon connection (PROVER_TEST_DAEMON): no raw lines")
    try:
        failures = run(read(path), lambda line: lean.send_raw(line, timeout=120))
    finally:
        lean.clear()  # raw `clear`s dropped states the client still mapped; its own ids start afresh
    assert not failures, "\n".join(failures)


@pytest.mark.lean
@pytest.mark.parametrize("path", [p for p in ALL if "daemon" in read(p).targets],
                         ids=[p.stem for p in ALL if "daemon" in read(p).targets])
def test_transcript_against_the_daemon(daemon_socket, path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(600)
        s.connect(str(daemon_socket))
        f = s.makefile("rwb")

        def send(line: str) -> dict:
            f.write((line + "\n").encode())
            f.flush()
            ans = json.loads(f.readline())
            if "states_created" in ans:  # the Python client adds its own counters to `stats`
                ans.pop("rss_mb", None)
                ans.pop("restarts", None)
            return ans

        # connections of earlier tests are checked in by the daemon's threads: wait until this one is alone, so
        # that `clear` is allowed (only a sole client may drop a server's states)
        deadline = time.monotonic() + 30
        while send('{"cmd": "ping"}')["clients"] > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        failures = run(read(path), send)
    assert not failures, "\n".join(failures)


def test_daemon_speaks_the_protocol_over_a_fake_server(tmp_path):
    """The daemon's wire without Lean (tests/fake_lean_server.py behind it): typed calls, refusals, a lost
    request with its `error_type`, and the replay of an old state id after the restart."""
    import sys
    import threading
    import types

    from prover.lean import LeanServer
    from prover.lean.backend import Backend
    from prover.lean.daemon import Daemon, RemoteLeanServer, _Handler, _UnixServer
    from prover.lean.protocol import LeanError
    from prover.lean.sandbox import SandboxPlan

    fake = Backend(name="fake", argv=(sys.executable, str(Path(__file__).with_name("fake_lean_server.py"))),
                   workdir=tmp_path, sandbox=SandboxPlan("none"))
    srv = LeanServer(backend=fake, progress=False, request_timeout=10)
    srv._warm_up = lambda: None  # the fake has no tactics to warm up
    srv.ensure_started()
    daemon = Daemon(types.SimpleNamespace(servers=[srv], spare=None), "key", 0)
    server = _UnixServer(str(tmp_path / "d.sock"), _Handler)
    server.daemon = daemon
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with RemoteLeanServer(tmp_path / "d.sock") as c:
            assert c.ping()["clients"] == 1
            st = c.start("theorem t : True")
            assert st.goals == ("⊢ theorem t : True [0]",)
            done = c.run_tac(st, "done")
            assert done.complete and c.tactics_of(done.state) == ("done",)
            with pytest.raises(LeanError, match="`add` is not accepted"):
                c._call("add", code="def x := 1")
            with pytest.raises(LeanError, match="trusted"):
                c.check("theorem u : True := trivial", trusted=True)
            lost = c.run_tac(st, "hang", timeout=1)
            assert lost.lost == "LeanTimeout" and not lost.ok
            again = c.run_tac(st, "step")  # a new fake process; the old id is replayed onto it
            assert again.ok and again.state.goals == ("⊢ theorem t : True [0] step",)
            assert c.stats().restarts == 1
            # a raw line that is not JSON gets Lean's kind of answer, and the connection keeps serving
            c._file.write(b"{not json\n")
            c._file.flush()
            bad = json.loads(c._file.readline())
            assert bad["id"] is None and bad["ok"] is False and bad["error"].startswith("malformed JSON")
            assert c.clear() == 3
    finally:
        server.shutdown()
        server.server_close()
        srv.close()

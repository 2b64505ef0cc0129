"""Shared fixtures. One Lean server (with the miniF2F prelude) serves every test of the session that needs
Lean: the embedded backend takes minutes to start, so tests never start their own unless restarting is
what they test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every search in the tests checks its tree's invariants after each expansion (prover/search/best_first.py).
os.environ.setdefault("PROVER_SEARCH_DEBUG", "1")
DATA = ROOT / "data" / "minif2f_core"


@pytest.fixture(scope="session")
def prelude() -> str:
    return (DATA / "prelude.lean").read_text()


@pytest.fixture(scope="session")
def valid_rows() -> list[dict]:
    from prover.io import read_jsonl_rows

    return read_jsonl_rows(DATA / "valid.jsonl")


_SHARED: dict = {}


def _start_shared_server() -> None:
    """Start the session's Lean server in a thread, so its loading overlaps with the daemon's."""
    import threading

    import os

    from prover.lean import LeanServer

    if os.environ.get("PROVER_TEST_DAEMON"):  # development loops: reuse `make daemon-start`'s warm server
        from prover.lean.daemon import find_daemon

        remote = find_daemon([(DATA / "prelude.lean").read_text()])
        if remote is not None:
            _SHARED["server"], _SHARED["thread"] = remote, threading.Thread(target=lambda: None)
            _SHARED["thread"].start()
            return
    srv = LeanServer(preludes=[(DATA / "prelude.lean").read_text()], request_timeout=120, progress=False,
                     name="test-lean")
    _SHARED["server"] = srv

    def start() -> None:
        try:
            srv.ensure_started()
        except Exception as e:  # reported by the fixture
            _SHARED["error"] = e

    _SHARED["thread"] = threading.Thread(target=start, daemon=True)
    _SHARED["thread"].start()


@pytest.fixture(scope="session")
def lean():
    if "server" not in _SHARED:
        _start_shared_server()
    _SHARED["thread"].join()
    if "error" in _SHARED:
        pytest.fail(f"the shared Lean server did not start: {_SHARED['error']}")
    srv = _SHARED["server"]
    yield srv
    srv.close()


# The daemon is a second Lean process; start it when the session starts so that its minutes of loading
# overlap with the shared server's instead of following them.
_DAEMON: dict = {}


def _daemon_socket() -> Path:
    import os

    return Path(f"/tmp/prover-test-leand-{os.getpid()}.sock")


def pytest_collection_finish(session):
    """Once we know the selected tests need Lean, start both Lean processes at once."""
    import subprocess
    import sys

    if session.config.getoption("collectonly"):
        return
    if any("lean" in getattr(item, "fixturenames", ()) for item in session.items):
        _start_shared_server()
    if not any("daemon_socket" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    sock = _daemon_socket()
    _DAEMON["sock"] = sock
    from prover.lean import tied

    _DAEMON["proc"] = tied.popen(  # dies with this pytest, however it ends (its Lean servers die with it)
        [sys.executable, "-m", "prover.lean.daemon", "serve", "--pool", "1", "--idle-exit", "3600", "--spare", "0",
         "--socket", str(sock), "--prelude", str(DATA / "prelude.lean")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(ROOT / ".cache" / "test-daemon.log", "w"),
        start_new_session=True)


def pytest_sessionfinish(session, exitstatus):
    proc = _DAEMON.get("proc")
    if proc is not None and proc.poll() is None:
        from prover.lean.daemon import find_daemon

        client = find_daemon(None, sock=_DAEMON["sock"])
        if client is not None:
            try:
                client._call("shutdown")
            except Exception:
                pass
        try:
            proc.wait(timeout=30)
        except Exception:
            import os
            import signal

            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def daemon_socket() -> Path:
    """The session's Lean daemon (started at session start), once it answers."""
    import time

    from prover.lean.daemon import find_daemon

    if "proc" not in _DAEMON:
        pytest.fail("the Lean daemon was not started for this session")
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        if _DAEMON["proc"].poll() is not None:
            log = (ROOT / ".cache" / "test-daemon.log").read_text()[-2000:]
            pytest.fail(f"the Lean daemon exited during start-up:\n{log}")
        client = find_daemon(None, sock=_DAEMON["sock"])
        if client is not None:
            client.close()
            return _DAEMON["sock"]
        time.sleep(2)
    pytest.fail("the Lean daemon did not become ready")

"""What a server runs before its first answer (`warm_up`, `PROVER_LEAN_WARMUP`), on the fake server process
(tests/fake_lean_server.py; no Lean): `basic` leaves `exact?` (whose first call starts a second Lean thread) to
the first real call, `full` pays it at start-up, `off` sends nothing; a spare warms up as its server does."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prover import settings
from prover.lean import LeanServer
from prover.lean.backend import Backend
from prover.lean.protocol import StartRequest, TacticRequest
from prover.lean.sandbox import SandboxPlan
from prover.lean.server import warmup_tactics

FAKE = Path(__file__).with_name("fake_lean_server.py")


def fake_server(tmp_path: Path, **kw) -> LeanServer:
    backend = Backend(name="fake", argv=(sys.executable, str(FAKE)), workdir=tmp_path, sandbox=SandboxPlan("none"))
    return LeanServer(backend=backend, progress=False, request_timeout=10, **kw)


def warm_up_requests(srv: LeanServer) -> list:
    """The requests the server's start-up sends, in order."""
    sent = []
    request = srv._request

    def record(req, timeout=None):
        sent.append(req)
        return request(req, timeout)

    srv._request = record
    srv.ensure_started()
    return sent


@pytest.mark.parametrize("mode", ["off", "basic", "full"])
def test_each_mode_sends_its_tactics(tmp_path, mode):
    srv = fake_server(tmp_path, warm_up=mode)
    try:
        sent = warm_up_requests(srv)
        tactics = [r.tactic for r in sent if isinstance(r, TacticRequest)]
        assert tactics == list(warmup_tactics(mode) or [])
        assert any(isinstance(r, StartRequest) for r in sent) == (mode != "off")
        assert ("exact?" in tactics) == (mode == "full")
        # the warm-up leaves no state behind, and the server answers at once
        assert srv.run_tac(srv.start("theorem t : True"), "done").complete
    finally:
        srv.close()


def test_default_comes_from_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("PROVER_LEAN_WARMUP", raising=False)
    assert fake_server(tmp_path).warm_up == "basic"
    monkeypatch.setenv("PROVER_LEAN_WARMUP", "full")
    assert fake_server(tmp_path).warm_up == "full"
    assert fake_server(tmp_path, warm_up="off").warm_up == "off"  # the argument wins
    monkeypatch.setenv("PROVER_LEAN_WARMUP", "sometimes")
    with pytest.raises(settings.SettingError, match="PROVER_LEAN_WARMUP"):
        fake_server(tmp_path)


def test_bad_mode_is_refused_before_any_process_starts(tmp_path):
    with pytest.raises(ValueError, match="bad warm-up mode"):
        fake_server(tmp_path, warm_up="lazy")


def test_spare_warms_up_like_its_server(tmp_path):
    srv = fake_server(tmp_path, warm_up="full", spare=True)
    try:
        assert srv._make_spare().warm_up == "full"
    finally:
        srv.close()

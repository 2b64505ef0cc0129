"""Shared fixtures. One Lean server (with the miniF2F prelude) serves every test of the session that needs
Lean: the embedded backend takes minutes to start, so tests never start their own unless restarting is
what they test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "minif2f_core"


@pytest.fixture(scope="session")
def prelude() -> str:
    return (DATA / "prelude.lean").read_text()


@pytest.fixture(scope="session")
def valid_rows() -> list[dict]:
    return [json.loads(line) for line in (DATA / "valid.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def lean(prelude):
    from prover.lean import LeanServer

    srv = LeanServer(preludes=[prelude], request_timeout=120, progress=False, name="test-lean")
    srv.ensure_started()
    yield srv
    srv.close()

"""Environment settings, read when called (never at import).

(On this branch only `PROVER_CACHE`; the config branch's prover/settings.py, a superset with the same
`cache_root`, replaces this file when merged.)
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    base = os.environ.get("PROVER_CACHE")
    return Path(base) if base else ROOT / ".cache"

"""Where the project's files live: the repository root and the cache of installed tools, models and logs.

A module of its own so that parts which must not depend on Lean (the generators) can find the cache
without importing the Lean client. `PROVER_CACHE` is read on each call, not at import.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """`$PROVER_CACHE`, else `<repository>/.cache`."""
    base = os.environ.get("PROVER_CACHE")
    return Path(base) if base else ROOT / ".cache"

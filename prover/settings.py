"""Environment settings: every environment variable the project reads, read when called (never at import,
so a test's or a caller's `os.environ` change takes effect), with a clear error naming a bad value.

| variable | default | meaning |
|---|---|---|
| `PROVER_CACHE` | `<repo>/.cache` | where the Lean install (`lean-wasm/`), the models (`models/`), Lean's logs (`run/`) and Node's compile cache live |
| `PROVER_LEAN_BACKEND` | (auto) | `embedded` (the bundled WebAssembly Lean) or `native` (`lean` on PATH); unset: native if the toolchain matches, else embedded (prover/lean/backend.py) |
| `PROVER_LAKE_DIR` | (unset) | a Lake project (e.g. with Mathlib) whose `lake env` gives the native backend its `LEAN_PATH` |
| `PROVER_LEAN_THREADS` | `1` | Lean's task-manager threads on the embedded backend (each costs ~650 MB; at least 1) |
| `PROVER_LEAN_START_TIMEOUT` | `1200` | seconds a Lean server may take to become ready before it counts as crashed |
| `PROVER_LEAN_MAX_REQUEST_BYTES` | `262144` | largest request sent to Lean (the embedded heap cannot pass 2 GiB); larger ones are refused with an error |
| `PROVER_LEAN_SOCKET` | `/tmp/prover-leand-<cache hash>.sock` | the Unix socket of the warm Lean daemon (`make daemon-start`) |
| `PROVER_LEAN_SPARE` | `auto` | keep a warm spare Lean per server: `1`/`on`, `0`/`off`, or `auto` (when memory allows) |
| `PROVER_LEAN_WARMUP` | `basic` | what a Lean server runs before its first answer: `basic` (first elaboration, simp, omega, decide, grind), `full` (also `exact?`'s lemma index: +11-16 s and a second Lean thread, +1.4 GB), `off` |
| `PROVER_LEAN_SPARE_MIN_FREE_MB` | `6000` | `auto` keeps a spare only while this much memory is available |
| `PROVER_LEAN_OS_SANDBOX` | `auto` | the OS sandbox around Lean: `auto` (bubblewrap where it works), `off`, or `require` |
| `PROVER_LEAN_MAX_VMEM_MB` | `32768` | virtual-memory limit of a native Lean process (prlimit), MB |
| `PROVER_PROGRESS_INTERVAL` | `30` | seconds between progress lines when stderr is not a terminal (0: every update) |
| `PROVER_LOG_LEVEL` | `INFO` | level of the project's diagnostic log messages (DEBUG, INFO, WARNING, ...) |
| `PROVER_SEARCH_DEBUG` | `0` | `1`: check the search tree's invariants after every expansion (the tests set it) |
| `OPENAI_API_KEY` | `EMPTY` | the key the `openai` generator sends, unless `--gen-opt api_key=...` gives one |

Variables of other tools that the code sets or passes on (`OMP_NUM_THREADS`, `DS_ACCELERATOR`, `WORLD_SIZE`,
`MASTER_PORT`, `HF_HUB_OFFLINE`, `NODE_COMPILE_CACHE`, ...) are theirs, documented where they are used.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


class SettingError(ValueError):
    """An environment variable with a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: unset means "not given"
    meaning: str


SETTINGS = {s.name: s for s in (
    Setting("PROVER_CACHE", None, "cache folder (default <repo>/.cache)"),
    Setting("PROVER_LEAN_BACKEND", None, "embedded or native (default: chosen automatically)"),
    Setting("PROVER_LAKE_DIR", None, "Lake project giving the native backend its LEAN_PATH"),
    Setting("PROVER_LEAN_THREADS", "1", "Lean threads on the embedded backend"),
    Setting("PROVER_LEAN_START_TIMEOUT", "1200", "seconds a Lean server may take to start"),
    Setting("PROVER_LEAN_MAX_REQUEST_BYTES", str(256 * 1024), "largest request sent to Lean"),
    Setting("PROVER_LEAN_SOCKET", None, "Unix socket of the Lean daemon"),
    Setting("PROVER_LEAN_SPARE", "auto", "warm spare Lean: 1, 0 or auto"),
    Setting("PROVER_LEAN_WARMUP", "basic", "Lean warm-up before the first answer: basic, full or off"),
    Setting("PROVER_LEAN_SPARE_MIN_FREE_MB", "6000", "memory a spare needs free, MB"),
    Setting("PROVER_LEAN_OS_SANDBOX", "auto", "OS sandbox: auto, off or require"),
    Setting("PROVER_LEAN_MAX_VMEM_MB", "32768", "virtual-memory limit of native Lean, MB"),
    Setting("PROVER_PROGRESS_INTERVAL", "30", "seconds between progress lines off a terminal"),
    Setting("PROVER_LOG_LEVEL", "INFO", "log level of diagnostics"),
    Setting("PROVER_SEARCH_DEBUG", "0", "1: check search-tree invariants after each expansion"),
    Setting("OPENAI_API_KEY", "EMPTY", "key of the openai generator"),
)}


def raw(name: str) -> str | None:
    """The variable's text now, or its default (None when it has none and is unset)."""
    return os.environ.get(name, SETTINGS[name].default)


def _number(name: str, kind: Callable[[str], float], minimum: float | None = None) -> float:
    text = raw(name)
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise SettingError(f"{name}={text!r}: expected a number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name} must be at least {minimum:g}, got {value:g}")
    return value


def cache_root() -> Path:
    base = raw("PROVER_CACHE")
    return Path(base) if base else ROOT / ".cache"


def lean_backend() -> str | None:
    return raw("PROVER_LEAN_BACKEND") or None


def lake_dir() -> str | None:
    return raw("PROVER_LAKE_DIR") or None


def lean_threads() -> int:
    return int(_number("PROVER_LEAN_THREADS", int, minimum=1))


def lean_start_timeout() -> float:
    return _number("PROVER_LEAN_START_TIMEOUT", float, minimum=0)


def lean_max_request_bytes() -> int:
    return int(_number("PROVER_LEAN_MAX_REQUEST_BYTES", int, minimum=1))


def lean_socket(default: str) -> Path:
    """The daemon's socket: PROVER_LEAN_SOCKET, else `default` (keyed by the cache, prover/lean/daemon.py)."""
    return Path(raw("PROVER_LEAN_SOCKET") or default)


def lean_spare() -> str:
    return str(raw("PROVER_LEAN_SPARE"))


WARMUP_MODES = ("basic", "full", "off")


def lean_warmup() -> str:
    mode = str(raw("PROVER_LEAN_WARMUP")).strip().lower()
    if mode not in WARMUP_MODES:
        raise SettingError(f"PROVER_LEAN_WARMUP={mode!r}: expected {', '.join(WARMUP_MODES)}")
    return mode


def spare_min_free_mb() -> float:
    return _number("PROVER_LEAN_SPARE_MIN_FREE_MB", float, minimum=0)


def os_sandbox() -> str:
    mode = str(raw("PROVER_LEAN_OS_SANDBOX"))
    if mode not in ("auto", "off", "require"):
        raise SettingError(f"PROVER_LEAN_OS_SANDBOX={mode!r}: expected auto, off or require")
    return mode


def max_vmem_mb() -> int:
    return int(_number("PROVER_LEAN_MAX_VMEM_MB", int, minimum=1))


def progress_interval() -> float:
    """Never an error: a bad value falls back to the default (a progress line is not worth a failed run)."""
    try:
        return max(0.0, float(str(raw("PROVER_PROGRESS_INTERVAL"))))
    except ValueError:
        return float(SETTINGS["PROVER_PROGRESS_INTERVAL"].default or 30)


def log_level() -> str:
    """The level name as given; the logging set-up (prover/logs.py) upper-cases it and refuses a name it does
    not know."""
    return str(raw("PROVER_LOG_LEVEL")).strip()


def search_debug() -> bool:
    return str(raw("PROVER_SEARCH_DEBUG")).strip().lower() in ("1", "true", "yes", "on")


def openai_api_key() -> str:
    return raw("OPENAI_API_KEY") or "EMPTY"

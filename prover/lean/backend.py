"""Where Lean comes from: the embedded WebAssembly build (default) or a native `lean` on PATH.

Both run the same server source (`lean_project/LeanServer.lean`) with the same protocol; a backend only
knows how to turn "run this .lean file" into a command line and an environment.
Choose with `PROVER_LEAN_BACKEND=embedded|native` (default: embedded when installed, else native).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEAN_PROJECT = ROOT / "lean_project"
SERVER_SOURCE = LEAN_PROJECT / "LeanServer.lean"


class BackendError(RuntimeError):
    """No usable Lean: says what is missing and how to install it."""


def cache_root() -> Path:
    base = os.environ.get("PROVER_CACHE")
    return Path(base) if base else ROOT / ".cache"


@dataclass(frozen=True)
class Backend:
    """A way to run `lean FILE` such that the file can read requests on stdin."""

    name: str
    argv: tuple[str, ...]  # command prefix; the .lean file is appended
    env: dict[str, str] = field(default_factory=dict)
    # The embedded build sees only /tmp, /home and the mounts we ask for; generated files must live there.
    workdir: Path = field(default_factory=lambda: cache_root() / "run")

    def command(self, lean_file: Path) -> list[str]:
        return [*self.argv, str(lean_file)]

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        return env


def lean_threads() -> int:
    """Lean's task-manager threads (`-j`) on the embedded build, `PROVER_LEAN_THREADS` (default 1). Each is a
    Node worker with its own copy of the 89 MB `lean.js`: the default (one per core) cost ~650 MB more per
    server and made start-up no faster; only `exact?`'s first index build is slower (~5 -> 8 s, in warm-up).
    0 is refused by the runtime (it asserts a task manager)."""
    n = int(os.environ.get("PROVER_LEAN_THREADS", 1))
    if n < 1:
        raise BackendError(f"PROVER_LEAN_THREADS must be at least 1, got {n}")
    return n


def node_compile_cache() -> dict[str, str]:
    """Node's on-disk cache of compiled JavaScript (the 89 MB `lean.js`), so later starts skip compiling
    it; a writable directory of its own. `NODE_COMPILE_CACHE` from the environment wins (empty: off)."""
    if "NODE_COMPILE_CACHE" in os.environ:
        return {}
    return {"NODE_COMPILE_CACHE": str((cache_root() / "node-compile-cache").resolve())}


def embedded_backend() -> Backend:
    home = cache_root() / "lean-wasm"
    node, js, lib = home / "node" / "bin" / "node", home / "lean" / "lean.js", home / "lean" / "lib"
    if not (node.exists() and js.exists() and (lib / "Init.olean").exists()):
        raise BackendError(f"embedded Lean is not installed in {home}: run `make setup`")
    mounts = [str(cache_root().resolve())]
    return Backend(
        name="embedded",
        argv=(str(node), "--stack-size=8000", "-r", str(home / "lean" / "preload.js"), str(js),
              "-DmaxErrors=100", f"-j{lean_threads()}"),
        env={"LEAN_PATH": str(lib.resolve()), "LEAN_WASM_MOUNTS": ":".join(mounts), **node_compile_cache()},
    )


def native_backend() -> Backend:
    """`lean` from PATH; inside a Lake project (for Mathlib) set PROVER_LAKE_DIR so `lake env` supplies LEAN_PATH."""
    lake_dir = os.environ.get("PROVER_LAKE_DIR")
    if lake_dir:
        if shutil.which("lake") is None:
            raise BackendError("PROVER_LAKE_DIR is set but `lake` is not on PATH")
        out = subprocess.run(["lake", "env", "printenv", "LEAN_PATH"], cwd=lake_dir, capture_output=True,
                             text=True, check=True)
        return Backend(name="native", argv=("lean", "-DmaxErrors=100"), env={"LEAN_PATH": out.stdout.strip()})
    if shutil.which("lean") is None:
        raise BackendError("no `lean` on PATH for the native backend (install elan, or use the embedded one)")
    return Backend(name="native", argv=("lean", "-DmaxErrors=100"))


def find_backend(name: str | None = None) -> Backend:
    name = name or os.environ.get("PROVER_LEAN_BACKEND")
    if name == "native":
        return native_backend()
    if name == "embedded":
        return embedded_backend()
    if name:
        raise BackendError(f"unknown Lean backend {name!r}: expected 'embedded' or 'native'")
    try:
        return embedded_backend()
    except BackendError:
        if shutil.which("lean"):
            return native_backend()
        raise

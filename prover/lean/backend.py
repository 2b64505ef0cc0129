"""Where Lean comes from: the embedded WebAssembly build (default) or a native `lean` on PATH.

Both run the same server source (`lean_project/LeanServer.lean`) with the same protocol; a backend only
knows how to turn "run this .lean file" into a command line and an environment.
Choose with `PROVER_LEAN_BACKEND=embedded|native` (default: embedded when installed, else native).

Lean elaborates untrusted input, so a backend also says what that process may touch (`read_roots`):
- embedded: by construction, nothing else. The patched `lean.js` mounts only the read roots into Lean's
  file system and starts it in an empty in-memory directory; the Node preload lets no path outside them be
  read and nothing but fds 1/2 be written (see `scripts/setup_lean.py`). The OS sandbox below is added when
  it is available.
- native: the OS sandbox (`sandbox.py`: bubblewrap, else `unshare`, with rlimits), when available; without
  it a warning is logged and native Lean runs with the user's rights.
The server source lives in its own directory (`source_dir`, written only by the client) so that the logs
and daemon files in `workdir` are not readable by Lean.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .. import settings
from .sandbox import SandboxPlan, plan_sandbox

ROOT = Path(__file__).resolve().parents[2]
LEAN_PROJECT = ROOT / "lean_project"
SERVER_SOURCE = LEAN_PROJECT / "LeanServer.lean"
SANDBOX_VERSION = 1  # what scripts/setup_lean.py stamps an install made with the current sandbox patches
# Host variables the Lean process gets (others may hold secrets: Lean code can read its environment).
_PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "ELAN_HOME", "ELAN_TOOLCHAIN",
             "LEAN_WASM_PTHREADS", "LEAN_WASM_STACK_MB")


class BackendError(RuntimeError):
    """No usable Lean: says what is missing and how to install it."""


def cache_root() -> Path:
    return settings.cache_root()


@dataclass(frozen=True)
class Backend:
    """A way to run `lean FILE` such that the file can read requests on stdin."""

    name: str
    argv: tuple[str, ...]  # command prefix; the .lean file is appended
    env: dict[str, str] = field(default_factory=dict)
    # The client's files (logs); the Lean process's host working directory, never readable by Lean.
    workdir: Path = field(default_factory=lambda: cache_root() / "run")
    # Where the client writes the server source; Lean may read it, not write it.
    source_dir: Path = field(default_factory=lambda: cache_root() / "lean-src")
    # Everything else Lean may read (its install, its library).
    read_roots: tuple[Path, ...] = ()
    # None: decided from PROVER_LEAN_OS_SANDBOX when the command is built.
    sandbox: SandboxPlan | None = None

    def os_sandbox(self) -> SandboxPlan:
        return self.sandbox or plan_sandbox(self.name)

    def command(self, lean_file: Path) -> list[str]:
        return self.os_sandbox().wrap([*self.argv, str(lean_file)], self.all_read_roots(),
                                      workdir=self.workdir, env=self.process_env())

    def all_read_roots(self) -> tuple[Path, ...]:
        return (*self.read_roots, self.source_dir)

    def process_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update(self.env)
        return env


def lean_threads() -> int:
    """Lean's task-manager threads (`-j`) on the embedded build, `PROVER_LEAN_THREADS` (default 1). Each is a
    Node worker with its own copy of the 89 MB `lean.js`: the default (one per core) cost ~650 MB more per
    server and made start-up no faster; only `exact?`'s first index build is slower (~5 -> 8 s, in warm-up).
    0 is refused by the runtime (it asserts a task manager)."""
    try:
        return settings.lean_threads()
    except settings.SettingError as e:
        raise BackendError(str(e)) from None


def node_compile_cache() -> dict[str, str]:
    """Node's on-disk cache of compiled JavaScript (the 89 MB `lean.js`), so later starts skip compiling
    it; a writable directory of its own. `NODE_COMPILE_CACHE` from the environment wins (empty: off)."""
    if "NODE_COMPILE_CACHE" in os.environ:
        return {}
    return {"NODE_COMPILE_CACHE": str((cache_root() / "node-compile-cache").resolve())}


def embedded_backend() -> Backend:
    # Real paths throughout: Lean's file system and the OS sandbox mount the real directories only.
    home = (cache_root() / "lean-wasm").resolve()
    node, js, lib = home / "node" / "bin" / "node", home / "lean" / "lean.js", home / "lean" / "lib"
    if not (node.exists() and js.exists() and (lib / "Init.olean").exists()):
        raise BackendError(f"embedded Lean is not installed in {home}: run `make setup`")
    try:
        stamp = json.loads((home / "installed.json").read_text())
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("sandbox") != SANDBOX_VERSION:
        raise BackendError(f"the embedded Lean in {home} was installed without the current sandbox patches: "
                           "run `make setup` (scripts/setup_lean.py) again")
    source_dir = (cache_root() / "lean-src").resolve()
    roots = (home / "lean", source_dir)
    return Backend(
        name="embedded",
        argv=(str(node), "--stack-size=8000", "-r", str(home / "lean" / "preload.js"), str(js),
              "-DmaxErrors=100", f"-j{lean_threads()}"),
        env={"LEAN_PATH": str(lib), "LEAN_WASM_READ_ROOTS": ":".join(map(str, roots)),
             **node_compile_cache()},
        source_dir=source_dir,
        read_roots=(home,),  # the OS sandbox also needs the node binary
    )


def _lean_prefix(lean: str, env: dict[str, str] | None = None) -> Path | None:
    """The toolchain directory of a `lean` executable (elan's `lean` is a proxy that resolves it)."""
    try:
        out = subprocess.run([lean, "--print-prefix"], capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    p = Path(out.stdout.strip())
    return p if out.returncode == 0 and (p / "bin").is_dir() else None


def native_backend() -> Backend:
    """`lean` from PATH; inside a Lake project (for Mathlib) set PROVER_LAKE_DIR so `lake env` supplies LEAN_PATH."""
    lake_dir = settings.lake_dir()
    env: dict[str, str] = {}
    if lake_dir:
        if shutil.which("lake") is None:
            raise BackendError("PROVER_LAKE_DIR is set but `lake` is not on PATH")
        out = subprocess.run(["lake", "env", "printenv", "LEAN_PATH"], cwd=lake_dir, capture_output=True,
                             text=True, check=True)
        env["LEAN_PATH"] = out.stdout.strip()
    if shutil.which("lean") is None:
        raise BackendError("no `lean` on PATH for the native backend (install elan, or use the embedded one)")
    prefix = _lean_prefix("lean")
    # Inside the sandbox run the toolchain's own binary: elan's proxy would need ~/.elan and the network.
    lean = str(prefix / "bin" / "lean") if prefix else "lean"
    roots = [prefix] if prefix else []
    roots += [Path(p) for p in env.get("LEAN_PATH", "").split(":") if p]
    return Backend(name="native", argv=(lean, "-DmaxErrors=100"), env=env, read_roots=tuple(roots),
                   source_dir=(cache_root() / "lean-src").resolve())


def find_backend(name: str | None = None) -> Backend:
    name = name or settings.lean_backend()
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


def lean_version() -> str:
    """What a run's manifest records about Lean: the backend, and the toolchain for the embedded one."""
    try:
        backend = find_backend().name
    except (BackendError, OSError, subprocess.SubprocessError):  # no usable Lean: record what we can
        backend = "unknown"
    toolchain = (LEAN_PROJECT / "lean-toolchain").read_text().strip()
    return f"{backend} backend, {toolchain}" if backend == "embedded" else f"{backend} backend"

"""The OS sandbox around a Lean process: bubblewrap where it works, else `unshare`, else none (with a warning).

`PROVER_LEAN_OS_SANDBOX=auto` (default) picks the best that works on this machine (probed once per process);
`off` runs Lean without one; `require` refuses to run Lean without bubblewrap.

What each level isolates (the README's "What is isolated" repeats this):
- bwrap: the host file system is invisible except the read roots (the Lean toolchain or embedded install,
  its library, the server source) and the system's /usr, /lib*, /bin, /sbin, all bound read-only; /tmp and
  the working directory are an empty private tmpfs; new user, PID, IPC, UTS, cgroup and network namespaces
  (no network at all); all capabilities dropped; the sandbox dies with its client.
- unshare: new user, network, IPC, UTS and PID namespaces (no network, no signals to host processes), but
  the file system is the host's: Lean code can read and write what the user can.
- none: Lean runs with the user's rights.
Each level adds rlimits when `prlimit` exists: no core files, files written at most `fsize_mb` (the log),
at most `nofile` descriptors, and for native Lean an address-space cap (`PROVER_LEAN_MAX_VMEM_MB`; not for
the embedded build, whose WebAssembly memories reserve far more address space than they use).
"""
from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import settings

log = logging.getLogger("prover.lean")

# System directories a dynamically linked program needs; bound read-only (symlinks, as on merged-/usr
# systems, are recreated as symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache", "/etc/alternatives")


@dataclass(frozen=True)
class SandboxPlan:
    kind: str  # "bwrap" | "unshare" | "none"
    tool: str | None = None  # path of bwrap / unshare
    prlimit: str | None = None
    fsize_mb: int = 1024
    nofile: int = 65536
    vmem_mb: int | None = None
    note: str = ""  # what is not isolated (logged once)

    def wrap(self, argv: Sequence[str], read_roots: Sequence[Path], workdir: Path | None = None,
             env: dict[str, str] | None = None) -> list[str]:
        """The command line that runs `argv` inside this sandbox, seeing only `read_roots` (read-only)."""
        cmd = list(argv)
        if self.kind == "bwrap":
            cmd = [*self.bwrap_args(read_roots), "--", *cmd]
        elif self.kind == "unshare":
            cmd = [self.tool or "unshare", "--user", "--map-root-user", "--net", "--ipc", "--uts", "--pid",
                   "--fork", "--kill-child", "--", *cmd]
        if self.prlimit:
            lim = [self.prlimit, "--core=0", f"--fsize={_capped(resource.RLIMIT_FSIZE, self.fsize_mb << 20)}",
                   f"--nofile={_capped(resource.RLIMIT_NOFILE, self.nofile)}"]
            if self.vmem_mb:
                lim.append(f"--as={_capped(resource.RLIMIT_AS, self.vmem_mb << 20)}")
            cmd = [*lim, "--", *cmd]
        return cmd

    def bwrap_args(self, read_roots: Sequence[Path]) -> list[str]:
        args = [self.tool or "bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                args += ["--symlink", os.readlink(d), d]
            elif os.path.exists(d):
                args += ["--ro-bind", d, d]
        args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        seen: set[str] = set()
        for r in read_roots:
            real = str(Path(r).resolve())
            if not os.path.exists(real):
                continue
            for dest in dict.fromkeys([real, os.path.abspath(r)]):  # also where a symlinked path points from
                if dest not in seen:
                    seen.add(dest)
                    args += ["--ro-bind", real, dest]
        return [*args, "--chdir", "/tmp"]


def _capped(which: int, value: int) -> int:
    """`value`, but never above the current hard limit (raising it is not allowed)."""
    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


@functools.lru_cache(maxsize=None)
def _works(argv: tuple[str, ...]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def probe_bwrap() -> str | None:
    tool = shutil.which("bwrap")
    if tool and _works(tuple(SandboxPlan("bwrap", tool).wrap(["true"], []))):
        return tool
    return None


def probe_unshare() -> str | None:
    tool = shutil.which("unshare")
    if tool and _works(tuple(SandboxPlan("unshare", tool).wrap(["true"], []))):
        return tool
    return None


_warned: set[str] = set()


def _warn_once(msg: str) -> None:
    if msg not in _warned:
        _warned.add(msg)
        log.warning(msg)


def plan_sandbox(backend: str, mode: str | None = None) -> SandboxPlan:
    """The best sandbox for this backend that works here, per PROVER_LEAN_OS_SANDBOX."""
    mode = mode or settings.os_sandbox()
    if mode not in ("auto", "off", "require"):
        raise ValueError(f"PROVER_LEAN_OS_SANDBOX={mode!r}: expected auto, off or require")
    prlimit = shutil.which("prlimit")
    vmem = settings.max_vmem_mb() if backend == "native" else None
    if mode == "off":
        return SandboxPlan("none", prlimit=prlimit, vmem_mb=vmem, note="OS sandbox switched off")
    tool = probe_bwrap()
    if tool:
        return SandboxPlan("bwrap", tool, prlimit=prlimit, vmem_mb=vmem)
    if mode == "require":
        from .backend import BackendError

        raise BackendError("PROVER_LEAN_OS_SANDBOX=require but bubblewrap (`bwrap`) is missing or cannot create "
                           "namespaces here (apt-get install bubblewrap)")
    if backend != "native":  # the embedded build is sandboxed by its own patches; unshare adds little there
        return SandboxPlan("none", prlimit=prlimit, vmem_mb=vmem, note="no bubblewrap: Node-level sandbox only")
    tool = probe_unshare()
    if tool:
        _warn_once("native Lean runs without a file-system sandbox (no usable bubblewrap): `unshare` isolates "
                   "network and processes only; Lean code can read and write the user's files")
        return SandboxPlan("unshare", tool, prlimit=prlimit, vmem_mb=vmem, note="file system not isolated")
    _warn_once("native Lean runs without an OS sandbox (neither bubblewrap nor unshare works here): Lean code "
               "can read and write the user's files and use the network")
    return SandboxPlan("none", prlimit=prlimit, vmem_mb=vmem, note="not isolated")

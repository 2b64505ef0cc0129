"""Child processes that die with this Python process, however it dies (SIGKILL included).

On Linux each child gets `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when its parent goes. The kernel's
"parent" is the *thread* that forked, not the process: a child forked from a short-lived thread (a pool's
start-up thread, the warm spare's refill thread) would be killed when that thread ends. So every tied child is
forked from one long-lived spawner thread, which lives as long as the interpreter.

Where prctl is unavailable (not Linux), children are started normally; the Lean server also exits by itself
when its stdin closes, which covers an idle server.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1

_libc: Any = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _prctl = _libc.prctl  # looked up here: the child between fork and exec must not load anything
    except OSError:
        _libc = None


def _die_with_parent() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_jobs: "queue.Queue[tuple[tuple, dict, Future]]" = queue.Queue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _serve() -> None:
    while True:
        args, kwargs, fut = _jobs.get()
        try:
            fut.set_result(subprocess.Popen(*args, preexec_fn=_die_with_parent, **kwargs))
        except BaseException as e:  # handed to the caller
            fut.set_exception(e)


def popen(*args: Any, **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen(*args, **kwargs)`, tied to this process's life (see the module docstring)."""
    global _spawner
    if _libc is None:
        return subprocess.Popen(*args, **kwargs)
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_serve, name="tied-spawner", daemon=True)
            _spawner.start()
    fut: Future = Future()
    _jobs.put((args, kwargs, fut))
    return fut.result()

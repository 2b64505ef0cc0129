"""Python side of the Lean proof-state server: backends, one server, a pool, a daemon, a LeanDojo facade.

The names below load their modules on first use (PEP 562), so importing a pure module of this package (the
lexer, `prover.lean.lexer`, which tactic generators use to split a sampled proof into steps) does not load the
Lean client.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOME = {"Backend": "backend", "BackendError": "backend", "find_backend": "backend", "LeanPool": "pool",
         "LeanServer": "server", **{n: "protocol" for n in (
             "CheckResult", "DeclResult", "LeanCrash", "LeanError", "LeanInfraError", "LeanTimeout", "Message",
             "ProofState", "Stats", "TacticResult", "normalize_statement")}}

if TYPE_CHECKING:
    from .backend import Backend, BackendError, find_backend
    from .pool import LeanPool
    from .protocol import (CheckResult, DeclResult, LeanCrash, LeanError, LeanInfraError, LeanTimeout, Message,
                           ProofState, Stats, TacticResult, normalize_statement)
    from .server import LeanServer


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def open_server(preludes: list[str] | None = None, imports: tuple[str, ...] = ("Lean",), use_daemon: bool = True,
                **kwargs):
    """A running daemon with this configuration if there is one (instant), else a new local server."""
    from .server import LeanServer

    if use_daemon:
        from .daemon import find_daemon

        remote = find_daemon(list(preludes or []), imports)
        if remote is not None:
            return remote
    srv = LeanServer(preludes=preludes or [], imports=imports, **kwargs)
    srv.ensure_started()
    return srv


__all__ = ["Backend", "BackendError", "find_backend", "LeanPool", "LeanServer", "open_server", "CheckResult",
           "DeclResult", "LeanCrash", "LeanError", "LeanInfraError", "LeanTimeout", "Message", "ProofState", "Stats", "TacticResult",
           "normalize_statement"]

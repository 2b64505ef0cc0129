"""Python side of the Lean proof-state server: backends, one server, a pool, a daemon, a LeanDojo facade."""
from .backend import Backend, BackendError, find_backend
from .pool import LeanPool
from .protocol import (CheckResult, DeclResult, LeanCrash, LeanError, LeanInfraError, LeanTimeout,
                       Message, ProofState, Stats,
                       TacticResult, normalize_statement)
from .server import LeanServer


def open_server(preludes: list[str] | None = None, imports: tuple[str, ...] = ("Lean",), use_daemon: bool = True,
                **kwargs):
    """A running daemon with this configuration if there is one (instant), else a new local server."""
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

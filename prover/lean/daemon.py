"""A long-lived Lean daemon on a local Unix socket, so later commands skip the minutes of start-up.

    python -m prover.lean.daemon start [--pool N] [--prelude FILE ...] [--spare auto|1|0]
                                                    # returns once the servers are ready
    python -m prover.lean.daemon status | stop

Wire format: one JSON object per line each way. Request `{"op": "start"|"run_tac"|"check"|"add"|"stats",
"args": {...}}`; answer `{"ok": true, "result": ...}` or `{"ok": false, "error_type": ..., "error": ...}`.
`RemoteLeanServer` speaks it and has the same typed methods as `LeanServer`. Each connection is pinned to one
server of the pool (proof states live in one process); a server's states are cleared when its last
connection closes. The pool keeps a warm spare (spare.py; `--spare`, default `$PROVER_LEAN_SPARE` or `auto`),
so a crashed or hung server is replaced at once; a client's proof-state ids survive the swap (replayed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import settings
from .backend import ROOT, cache_root
from .pool import LeanPool
from .protocol import CheckResult, DeclResult, LeanCrash, LeanError, LeanInfraError, LeanTimeout, Message, ProofState, Stats, TacticResult
from .server import LeanServer

ERRORS = {"LeanError": LeanError, "LeanInfraError": LeanInfraError, "LeanCrash": LeanCrash, "LeanTimeout": LeanTimeout, "ValueError": ValueError}


def default_socket() -> Path:
    # Unix socket paths are limited to ~108 bytes, so live in /tmp, keyed by the cache this checkout uses.
    key = hashlib.sha256(str(cache_root().resolve()).encode()).hexdigest()[:10]
    return settings.lean_socket(f"/tmp/prover-leand-{key}.sock")


def config_key(preludes: list[str], imports: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps([list(imports), preludes]).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- server side
class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        daemon: Daemon = self.server.daemon  # type: ignore[attr-defined]
        srv = daemon.checkout()
        try:
            for raw in self.rfile:
                try:
                    req = json.loads(raw)
                    result = daemon.dispatch(srv, req.get("op"), req.get("args") or {})
                    out = {"ok": True, "result": result}
                except Exception as e:  # every failure is an answer; the daemon keeps serving
                    out = {"ok": False, "error_type": type(e).__name__, "error": str(e)}
                self.wfile.write((json.dumps(out) + "\n").encode())
                self.wfile.flush()
        finally:
            daemon.checkin(srv)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Daemon:
    def __init__(self, pool: LeanPool, key: str, idle_exit: float):
        self.pool, self.key, self.idle_exit = pool, key, idle_exit
        self.users = {id(s): 0 for s in pool.servers}
        self.lock = threading.Lock()
        self.last_active = time.monotonic()
        self.stop = threading.Event()

    def checkout(self) -> LeanServer:
        with self.lock:
            srv = min(self.pool.servers, key=lambda s: self.users[id(s)])
            self.users[id(srv)] += 1
            return srv

    def checkin(self, srv: LeanServer) -> None:
        with self.lock:
            self.users[id(srv)] -= 1
            self.last_active = time.monotonic()
            if self.users[id(srv)] == 0:
                try:
                    srv.clear()
                except Exception as e:  # noqa: BLE001 - costs memory only; a broken server restarts on use
                    logging.getLogger(__name__).debug("clearing a server after its last client left failed (%s: %s)",
                                                      type(e).__name__, e)

    def dispatch(self, srv: LeanServer, op: str | None, a: dict[str, Any]) -> Any:
        self.last_active = time.monotonic()
        if op == "ping":
            spare = self.pool.spare
            return {"key": self.key, "pid": os.getpid(), "servers": len(self.pool.servers),
                    "server_pids": [s.pid for s in self.pool.servers],
                    "spare_pid": spare.pid if spare is not None else None}
        if op == "start":
            return asdict(srv.start(a["statement"], a.get("heartbeats"), a.get("timeout")))
        if op == "run_tac":
            return asdict(srv.run_tac(int(a["state"]), a["tactic"], a.get("heartbeats"), a.get("timeout")))
        if op == "check":
            return asdict(srv.check(a["code"], a.get("statement"), a.get("name"),
                                    use_preludes=a.get("use_preludes", True), heartbeats=a.get("heartbeats"),
                                    timeout=a.get("timeout")))
        if op == "trace":  # untrusted only: a socket client is not the user's own code
            return srv.trace(a["code"], a.get("prefix", ""), use_preludes=a.get("use_preludes", True),
                             heartbeats=a.get("heartbeats"), timeout=a.get("timeout"))
        if op == "tactics_of":
            return list(srv.tactics_of(int(a["state"])))
        if op == "stats":
            return asdict(srv.stats())
        if op == "clear":
            # Only a sole client may drop the server's states; with others connected it would drop theirs.
            with self.lock:
                sole = self.users[id(srv)] == 1
                if sole:
                    srv.clear()
            return {"cleared": sole}
        if op == "shutdown":
            self.stop.set()
            return {"stopping": True}
        raise ValueError(f"unknown op {op!r}")


def serve(sock: Path, pool_size: int, preludes: list[str], imports: tuple[str, ...], idle_exit: float,
          spare: str | None = None) -> None:
    pool = LeanPool(pool_size, preludes=preludes, imports=imports, progress=False, spare=spare)
    pool.start()
    daemon = Daemon(pool, config_key(preludes, imports), idle_exit)
    if sock.exists():
        sock.unlink()
    server = _UnixServer(str(sock), _Handler)
    server.daemon = daemon  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while not daemon.stop.wait(5):
            if idle_exit and time.monotonic() - daemon.last_active > idle_exit:
                break
    finally:
        server.shutdown()
        server.server_close()
        sock.unlink(missing_ok=True)
        pool.close()


# ----------------------------------------------------------------------------- client side
class RemoteLeanServer:
    """The `LeanServer` methods, answered by a daemon."""

    def __init__(self, sock: Path | None = None, timeout: float = 3600):
        self.sock_path = Path(sock or default_socket())
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(self.sock_path))
        self._file = self._sock.makefile("rwb")
        self._lock = threading.Lock()

    def _call(self, op: str, **args: Any) -> Any:
        with self._lock:
            self._file.write((json.dumps({"op": op, "args": args}) + "\n").encode())
            self._file.flush()
            line = self._file.readline()
        if not line:
            raise LeanCrash("the Lean daemon closed the connection")
        ans = json.loads(line)
        if not ans["ok"]:
            raise ERRORS.get(ans.get("error_type"), LeanError)(ans["error"])
        return ans["result"]

    def ping(self) -> dict[str, Any]:
        return self._call("ping")

    def start(self, statement: str, heartbeats: int | None = None, timeout: float | None = None) -> ProofState:
        r = self._call("start", statement=statement, heartbeats=heartbeats, timeout=timeout)
        return ProofState(r["id"], tuple(r["goals"]))

    def run_tac(self, state: ProofState | int, tactic: str, heartbeats: int | None = None,
                timeout: float | None = None) -> TacticResult:
        sid = state.id if isinstance(state, ProofState) else int(state)
        r = self._call("run_tac", state=sid, tactic=tactic, heartbeats=heartbeats, timeout=timeout)
        st = r["state"]
        return TacticResult(ProofState(st["id"], tuple(st["goals"])) if st else None, r["error"], r.get("lost"),
                            tuple(r.get("messages", ())))

    def tactics_of(self, state: ProofState | int) -> tuple[str, ...]:
        sid = state.id if isinstance(state, ProofState) else int(state)
        return tuple(self._call("tactics_of", state=sid))

    def check(self, code: str, statement: str | None = None, name: str | None = None, *,
              use_preludes: bool = True, heartbeats: int | None = None, timeout: float | None = None,
              trusted: bool = False) -> CheckResult:
        if trusted:
            raise LeanError("trusted checks are not accepted over the daemon socket")
        r = self._call("check", code=code, statement=statement, name=name, use_preludes=use_preludes,
                       heartbeats=heartbeats, timeout=timeout)
        decls = tuple(DeclResult(**{**d, "messages": tuple(Message(**m) for m in d["messages"]),
                                    "bad_axioms": tuple(d["bad_axioms"])}) for d in r["declarations"])
        return CheckResult(r["all_ok"], decls, tuple(Message(**m) for m in r["parse_messages"]), r["expected_found"],
                           r.get("audit_error"))

    def trace(self, code: str, prefix: str = "", *, trusted: bool = False, use_preludes: bool = True,
              heartbeats: int | None = None, timeout: float | None = None) -> dict[str, Any]:
        if trusted:
            raise LeanError("trusted traces are not accepted over the daemon socket")
        return self._call("trace", code=code, prefix=prefix, use_preludes=use_preludes, heartbeats=heartbeats,
                          timeout=timeout)

    def stats(self) -> Stats:
        return Stats(**self._call("stats"))

    def clear(self) -> None:
        """Drop this client's proof states now if it is the server's only client (a long run calls this
        between theorems); otherwise the daemon clears them when the last connection closes."""
        self._call("clear")

    def close(self) -> None:
        try:
            self._file.close()
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RemoteLeanServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def find_daemon(preludes: list[str] | None = None, imports: tuple[str, ...] = ("Lean",),
                sock: Path | None = None) -> RemoteLeanServer | None:
    """A connection to a running daemon with this configuration, or None."""
    path = Path(sock or default_socket())
    if not path.exists():
        return None
    try:
        client = RemoteLeanServer(path)
        info = client.ping()
    except (OSError, LeanError, LeanInfraError, json.JSONDecodeError):
        return None
    if preludes is not None and info["key"] != config_key(preludes, imports):
        client.close()
        return None
    return client


# ----------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover.lean.daemon", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="action", required=True)
    for name in ("start", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--pool", type=int, default=1, help="number of Lean servers")
        p.add_argument("--prelude", action="append", default=[], help="a .lean file added to every server")
        p.add_argument("--import", dest="imports", action="append", default=[], help="extra module to import")
        p.add_argument("--idle-exit", type=float, default=7200, help="stop after this many idle seconds (0: never)")
        p.add_argument("--socket", type=Path, default=None)
        p.add_argument("--spare", default=None, choices=["auto", "1", "0"],
                       help="keep a warm spare server (default: $PROVER_LEAN_SPARE, else auto = if memory allows)")
    for name in ("status", "stop"):
        sub.add_parser(name).add_argument("--socket", type=Path, default=None)
    args = ap.parse_args(argv)
    sock = args.socket or default_socket()

    if args.action in ("start", "serve"):
        preludes = [Path(p).read_bytes().decode() for p in args.prelude]  # exact text, as Lean reads it
        imports = ("Lean", *args.imports)
        if args.action == "serve":
            serve(sock, args.pool, preludes, imports, args.idle_exit, args.spare)
            return 0
        running = find_daemon(preludes, imports, sock)
        if running is not None:
            print(f"Lean daemon already running on {sock}: {running.ping()}")
            return 0
        log = cache_root() / "run" / "daemon.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "prover.lean.daemon", "serve", "--pool", str(args.pool),
               "--idle-exit", str(args.idle_exit), "--socket", str(sock)]
        if args.spare is not None:
            cmd += ["--spare", args.spare]
        for p in args.prelude:
            cmd += ["--prelude", str(Path(p).resolve())]
        for m in args.imports:
            cmd += ["--import", m]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        from ..progress import progress_bar  # in place on a terminal, a line every N s into a log

        with progress_bar(desc="starting Lean daemon", bar_format="{desc}: {elapsed} elapsed",
                          file=sys.stderr) as bar:
            while find_daemon(preludes, imports, sock) is None:
                if proc.poll() is not None:
                    print(f"Lean daemon exited during start-up; see {log}", file=sys.stderr)
                    return 1
                time.sleep(2)
                bar.update(0)
                bar.refresh()
        print(f"Lean daemon ready on {sock} (pid {proc.pid})")
        return 0

    client = find_daemon(None, sock=sock)
    if client is None:
        print(f"no Lean daemon on {sock}")
        return 1 if args.action == "status" else 0
    if args.action == "status":
        print(json.dumps({**client.ping(), **asdict(client.stats())}))
        return 0
    client._call("shutdown")
    for _ in range(60):
        if not sock.exists():
            break
        time.sleep(0.5)
    print("Lean daemon stopped")
    return 0


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()  # PROVER_LOG_LEVEL
    sys.exit(main())

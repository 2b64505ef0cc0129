"""A long-lived Lean daemon on a local Unix socket, so later commands skip the minutes of start-up.

    python -m prover.lean.daemon start [--pool N] [--prelude FILE ...] [--spare auto|1|0]
                                                    # returns once the servers are ready
    python -m prover.lean.daemon status | stop

Wire format: the Lean server's own (prover/lean/protocol.py), one JSON object per line each way, without the
session prefix: requests `start`, `tactic`, `check`, `trace`, `stats`, `clear`, plus the daemon's `ping`,
`tactics_of` and `shutdown`; `add` and `trusted` are refused (the servers are shared: preludes are given at
`start`). Answers are the server's answers, with proof-state ids that are the daemon's own (stable across
restarts), a per-request `timeout` (wall-clock seconds), and `error_type` on errors the Python side raised
(`LeanCrash`/`LeanTimeout`: the request was lost, no verdict). `RemoteLeanServer` speaks it and has the same
typed methods as `LeanServer`. Each connection is pinned to one server of the pool (proof states live in one
process); a server's states are cleared when its last connection closes. The pool keeps a warm spare
(spare.py; `--spare`, default `$PROVER_LEAN_SPARE` or `auto`), so a crashed or hung server is replaced at once;
a client's proof-state ids survive the swap (replayed).
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
from pathlib import Path
from typing import Any

from .. import settings
from .backend import ROOT, cache_root
from .pool import LeanPool
from .protocol import (DAEMON_REQUESTS, REQUESTS, AddRequest, Answer, CheckRequest, CheckResult, ClearAnswer,
                       ClearRequest, ErrorAnswer, LeanCrash, LeanError, LeanInfraError, PingAnswer, PingRequest, ProofState,
                       ProtocolError, Request, ShutdownAnswer, ShutdownRequest, StartAnswer, StartRequest, Stats,
                       StatsRequest, TacticAnswer, TacticRequest, TacticResult, TacticsOfAnswer, TacticsOfRequest,
                       TraceAnswer, TraceRequest, parse_answer, parse_request)
from .server import LeanServer


def default_socket() -> Path:
    # Unix socket paths are limited to ~108 bytes, so live in /tmp, keyed by the cache this checkout uses.
    key = hashlib.sha256(str(cache_root().resolve()).encode()).hexdigest()[:10]
    return settings.lean_socket(f"/tmp/prover-leand-{key}.sock")


def config_key(preludes: list[str], imports: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps([list(imports), preludes]).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- server side
def error_answer(e: Exception) -> ErrorAnswer:
    """An exception as an error answer. Lean's own kinds of refusal (a `LeanError`, a malformed request) carry
    no `error_type`, as Lean's answers do; anything else names its type, so the client re-raises it."""
    plain = type(e) is LeanError or isinstance(e, ProtocolError)
    return ErrorAnswer(error=str(e), error_type=None if plain else type(e).__name__)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        daemon: Daemon = self.server.daemon  # type: ignore[attr-defined]
        srv = daemon.checkout()
        try:
            for raw in self.rfile:
                line = raw.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    rid = d.get("id") if isinstance(d, dict) else None
                except json.JSONDecodeError:
                    rid = None
                try:
                    ans = daemon.dispatch(srv, parse_request(line, daemon=True)[1])
                except Exception as e:  # every failure is an answer; the daemon keeps serving
                    ans = error_answer(e)
                self.wfile.write((ans.to_line(rid) + "\n").encode())
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

    def dispatch(self, srv: LeanServer, req: Request) -> Answer:
        """One request, answered by `srv` (the connection's server). Closed over the protocol's request types."""
        self.last_active = time.monotonic()
        hb = getattr(req, "heartbeats", None)
        if getattr(req, "max_rec_depth", None) is not None:
            raise ValueError("max_rec_depth is not forwarded by the daemon")
        match req:
            case PingRequest():
                spare = self.pool.spare
                return PingAnswer(key=self.key, pid=os.getpid(), servers=len(self.pool.servers),
                                  server_pids=tuple(s.pid for s in self.pool.servers),
                                  spare_pid=spare.pid if spare is not None else None, clients=self.users[id(srv)])
            case StartRequest():
                st = srv.start(req.statement, hb, req.timeout)
                return StartAnswer(state=st.id, goals=st.goals, complete=st.complete)
            case TacticRequest():
                res = srv.run_tac(req.state, req.tactic, hb, req.timeout)
                if res.state is None:
                    return ErrorAnswer(error=res.error or "tactic failed", error_type=res.lost)
                return TacticAnswer(state=res.state.id, goals=res.state.goals, complete=res.state.complete,
                                    messages=res.messages)
            case CheckRequest():
                if req.trusted:  # a socket client is not the user's own code
                    raise LeanError("trusted checks are not accepted over the daemon socket")
                return srv.check(req.code, req.statement, req.name, use_preludes=not req.pristine, heartbeats=hb,
                                 timeout=req.timeout)
            case TraceRequest():
                if req.trusted:
                    raise LeanError("trusted traces are not accepted over the daemon socket")
                return TraceAnswer.from_json(srv.trace(req.code, req.prefix or "", use_preludes=not req.pristine,
                                                       heartbeats=hb, timeout=req.timeout))
            case AddRequest():
                raise LeanError("`add` is not accepted over the daemon socket (its servers are shared: start the "
                                "daemon with --prelude)")
            case TacticsOfRequest():
                return TacticsOfAnswer(tactics=srv.tactics_of(req.state))
            case StatsRequest():
                return srv.stats()
            case ClearRequest():
                # Only a sole client may drop the server's states; with others connected it would drop theirs.
                with self.lock:
                    n = srv.clear() if self.users[id(srv)] == 1 else 0
                return ClearAnswer(cleared=n)
            case ShutdownRequest():
                self.stop.set()
                return ShutdownAnswer(stopping=True)
        raise ProtocolError(f"unknown command `{req.cmd}`")


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
    """The `LeanServer` methods, answered by a daemon over the protocol's own messages."""

    def __init__(self, sock: Path | None = None, timeout: float = 3600):
        self.sock_path = Path(sock or default_socket())
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(self.sock_path))
        self._file = self._sock.makefile("rwb")
        self._lock = threading.Lock()
        self._next_id = 0

    def call(self, req: Request) -> Answer:
        """Send one request; its typed answer (an `ErrorAnswer` when refused or lost)."""
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            self._file.write((req.to_line(rid) + "\n").encode())
            self._file.flush()
            line = self._file.readline()
        if not line:
            raise LeanCrash("the Lean daemon closed the connection")
        d = json.loads(line)
        if d.get("id") != rid:
            raise ProtocolError(f"answer to `{req.cmd}`: id {d.get('id')!r}, expected {rid}")
        return parse_answer(req.cmd, d)

    def _call(self, op: "str | Request", **args: Any) -> Answer:
        """`call`, raising the error answer as its exception; `op` may be a command name with its fields."""
        req = op if isinstance(op, Request) else (REQUESTS.get(op) or DAEMON_REQUESTS[op])(
            **{k: v for k, v in args.items() if v is not None})
        ans = self.call(req)
        if isinstance(ans, ErrorAnswer):
            raise ans.exception()
        return ans

    def ping(self) -> dict[str, Any]:
        return self._call(PingRequest()).to_json()

    def start(self, statement: str, heartbeats: int | None = None, timeout: float | None = None) -> ProofState:
        ans = self._call(StartRequest(statement=statement, heartbeats=heartbeats, timeout=timeout))
        return ProofState(ans.state, ans.goals)

    def run_tac(self, state: ProofState | int, tactic: str, heartbeats: int | None = None,
                timeout: float | None = None) -> TacticResult:
        sid = state.id if isinstance(state, ProofState) else int(state)
        ans = self.call(TacticRequest(state=sid, tactic=tactic, heartbeats=heartbeats, timeout=timeout))
        if isinstance(ans, ErrorAnswer):
            if ans.error_type is not None and ans.lost is None:
                raise ans.exception()
            return TacticResult(None, ans.error, ans.lost)
        return TacticResult(ProofState(ans.state, ans.goals), messages=ans.messages)

    def tactics_of(self, state: ProofState | int) -> tuple[str, ...]:
        sid = state.id if isinstance(state, ProofState) else int(state)
        return self._call(TacticsOfRequest(state=sid)).tactics

    def check(self, code: str, statement: str | None = None, name: str | None = None, *,
              use_preludes: bool = True, heartbeats: int | None = None, timeout: float | None = None,
              trusted: bool = False) -> CheckResult:
        return self._call(CheckRequest(code=code, statement=statement, name=name, pristine=not use_preludes,
                                       trusted=trusted or None, heartbeats=heartbeats, timeout=timeout))

    def trace(self, code: str, prefix: str = "", *, trusted: bool = False, use_preludes: bool = True,
              heartbeats: int | None = None, timeout: float | None = None) -> dict[str, Any]:
        ans = self._call(TraceRequest(code=code, prefix=prefix, pristine=not use_preludes, trusted=trusted or None,
                                      heartbeats=heartbeats, timeout=timeout))
        return {"ok": True, **ans.to_json()}

    def stats(self) -> Stats:
        return self._call(StatsRequest())

    def clear(self) -> int:
        """Drop this client's proof states now if it is the server's only client (a long run calls this
        between theorems); otherwise the daemon clears them when the last connection closes. How many."""
        return self._call(ClearRequest()).cleared

    def shutdown(self) -> None:
        self._call(ShutdownRequest())

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
    except (OSError, LeanError, LeanInfraError, ValueError):  # ValueError: bad JSON or ProtocolError
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
        stats = client.stats().to_json()
        print(json.dumps({**client.ping(), **stats}))
        return 0
    client.shutdown()
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

"""`LeanServer`: one Lean proof-state server process, with the robustness the search needs.

- Start-up: writes the server source (imports + `lean_project/LeanServer.lean` + `#eval`) and waits for
  "ready", showing progress (the embedded Lean takes minutes to load its library).
- Every request has a wall-clock limit. A request that runs past it, or a process that dies, costs that
  request (it raises `LeanTimeout`/`LeanCrash`); the process is restarted, preludes are re-added, and the next
  request goes through.
- Proof-state ids handed out here are the client's own. Each remembers its path (statement + tactics), so
  after a restart a state is rebuilt by replaying that path, and callers never see a dangling id.
- A memory cap: after a request, a server above `max_rss_mb` is restarted before the next one.
- A warm spare (optional, `spare=`; see spare.py): a restart then adopts an already started process with the
  preludes loaded (milliseconds) and the spare refills in the background, instead of a start-up in the way.
- Every process is tied to this Python process (tied.py): killing the client kills its Lean too.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import settings
from . import tied
from .backend import SERVER_SOURCE, Backend, find_backend
from .spare import WarmSpare, spare_mode
from .protocol import (
    DEFAULT_HEARTBEATS,
    AddRequest,
    Answer,
    CheckRequest,
    CheckResult,
    ClearAnswer,
    ClearRequest,
    ErrorAnswer,
    LeanCrash,
    LeanError,
    LeanInfraError,
    LeanTimeout,
    ProofState,
    Request,
    StartAnswer,
    StartRequest,
    Stats,
    StatsRequest,
    TacticAnswer,
    TacticRequest,
    TacticResult,
    TraceAnswer,
    TraceRequest,
    answer_prefix,
    normalize_statement,
    parse_answer,
    parse_request,
    with_wire_block,
)

DEFAULT_REQUEST_TIMEOUT = 60.0
# The embedded Lean's heap cannot pass 2 GiB; a 140 kB proof of 20,000 tactics already exhausted it. Refuse
# larger requests with a clear error instead of losing the server (minutes to restart).
# The limit is settings.lean_max_request_bytes() (PROVER_LEAN_MAX_REQUEST_BYTES, default 256 KiB).


# What a server runs before its first answer (`PROVER_LEAN_WARMUP`, or `LeanServer(warm_up=...)`). `exact?` is
# apart: its first call builds the lemma index in Lean tasks, and the first task starts a second Lean thread,
# which on the embedded build is a second Node worker with its own copy of `lean.js` (measured: +11-16 s to the
# first answer and +1.4 GB, 3.4 GB against 2.0 GB per server). `basic` leaves it to the first real `exact?`
# (which then pays 5-11 s once), so a check-only client (autoform, `check_file`) never pays it; `full` pays it at
# start-up, for runs that judge each theorem by a wall-clock budget (prover/run/local.py) so that the first
# theorem is not charged for it.
WARMUP_TACTICS = {"off": None, "basic": ("simp [h]", "omega", "subst h; decide", "grind"),
                  "full": ("simp [h]", "omega", "subst h; decide", "grind", "exact?")}


def warmup_tactics(mode: str) -> tuple[str, ...] | None:
    """The tactics a warm-up of `mode` runs on its test goal; None: no warm-up at all."""
    if mode not in WARMUP_TACTICS:
        raise ValueError(f"bad warm-up mode {mode!r}: expected one of {', '.join(WARMUP_TACTICS)}")
    return WARMUP_TACTICS[mode]


def server_source(imports: Sequence[str] = ("Lean",)) -> str:
    """The server file: the given imports, check-friendly options, the server code (its WIRE block made from
    prover/lean/protocol.py), and its entry point."""
    body = with_wire_block(SERVER_SOURCE.read_text())
    lines = body.splitlines()
    assert lines[0].startswith("import Lean"), "LeanServer.lean must start with `import Lean`"
    header = [f"import {m}" for m in dict.fromkeys(["Lean", *imports])]
    options = ["set_option autoImplicit false", "set_option relaxedAutoImplicit false",
               "set_option Elab.async false"]
    return "\n".join([*header, *options, *lines[1:], "", "#eval LeanServer.serve", ""])


def _own_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants: under the OS sandbox, Lean is a child of the
    sandbox's processes (bwrap, prlimit), not the process the client started."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _own_rss_mb(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


@dataclass
class _StatePath:
    """How to rebuild a client state: the statement and the tactics applied since `start`."""

    statement: str
    tactics: tuple[str, ...]
    server_id: int | None  # id on the current process; None once that process is gone
    generation: int


class LeanServer:
    """A typed client of one server process. Thread-safe: requests are serialised."""

    def __init__(
        self,
        backend: Backend | None = None,
        imports: Sequence[str] = ("Lean",),
        preludes: Iterable[str | Path] = (),
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        start_timeout: float | None = None,  # None: settings.lean_start_timeout()
        max_rss_mb: float = 6000.0,
        heartbeats: int = DEFAULT_HEARTBEATS,
        progress: bool = True,
        name: str = "lean",
        spare: "bool | str | WarmSpare | None" = False,
        warm_up: str | None = None,  # None: settings.lean_warmup(); see WARMUP_TACTICS
    ):
        self.backend = backend or find_backend()
        self.imports = tuple(imports)
        self.preludes = [Path(p).read_bytes().decode() if isinstance(p, Path) or str(p).endswith(".lean") else str(p)
                         for p in preludes]
        self.request_timeout = request_timeout
        self.start_timeout = settings.lean_start_timeout() if start_timeout is None else start_timeout
        self.max_rss_mb = max_rss_mb
        self.heartbeats = heartbeats
        self.warm_up = settings.lean_warmup() if warm_up is None else warm_up
        warmup_tactics(self.warm_up)  # a bad mode fails here, not at the first start
        self.progress = progress
        self.name = name
        self.restarts = 0
        self.start_seconds: list[float] = []
        self._proc: subprocess.Popen | None = None
        self._answers: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._next_req = 0
        self._generation = 0
        self._states: list[_StatePath] = []
        self._needs_restart = False
        self._log_path: Path | None = None
        self._stdout_tail: list[str] = []  # Lean's own stdout lines (compile errors of the server source)
        self.swaps = 0  # restarts answered by adopting the warm spare
        self._own_spare = not isinstance(spare, WarmSpare)
        if isinstance(spare, WarmSpare):
            self.spare: WarmSpare | None = spare
        else:
            mode = spare_mode(spare)
            self.spare = WarmSpare(self._make_spare, mode) if mode != "0" else None

    def _make_spare(self) -> "LeanServer":
        """A server like this one (same backend, imports, preludes, limits), to stand in for it."""
        return LeanServer(self.backend, self.imports, list(self.preludes), self.request_timeout,
                          self.start_timeout, self.max_rss_mb, self.heartbeats, progress=False,
                          name=f"{self.name}-spare", spare=False, warm_up=self.warm_up)

    # ----------------------------------------------------------------- process lifecycle
    def __enter__(self) -> "LeanServer":
        self.ensure_started()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure_started(self) -> None:
        with self._lock:
            if self._needs_restart or not self.alive:
                if self._generation > 0:  # every start after the first is a restart
                    self.restarts += 1
                    if self._swap_in_spare():
                        return
                self._spawn()
                if self.spare is not None and self._own_spare:
                    self.spare.fill()  # after our own start, so the two do not compete for the CPU

    def _swap_in_spare(self) -> bool:
        """Replace the dead or condemned process by the warm spare, if one is ready or starting."""
        if self.spare is None:
            return False
        other = self.spare.take(wait=self.start_timeout)
        if other is None:
            return False
        try:
            self._adopt(other)
        except LeanError:  # the spare broke while adopting (a prelude failed): start our own
            self._kill()
            return False
        self.swaps += 1
        return True

    def _adopt(self, other: "LeanServer") -> None:
        """Take over `other`'s started process. Its preludes must be a prefix of ours; the rest are added."""
        if other.imports != self.imports or other.preludes != self.preludes[:len(other.preludes)]:
            other.close()
            raise LeanError("the warm spare has another configuration")
        self._kill()
        self._proc, other._proc = other._proc, None
        self._answers, self._stdout_tail, self._log_path = other._answers, other._stdout_tail, other._log_path
        self._generation += 1  # states of the old process are rebuilt by replaying their paths
        self._needs_restart = False
        for code in self.preludes[len(other.preludes):]:
            res = self._request(AddRequest(code=code), timeout=max(self.request_timeout, 600))
            if not isinstance(res, CheckResult) or not res.all_ok:
                raise LeanError("prelude did not elaborate on the warm spare")

    def _source_file(self) -> Path:
        src = server_source(self.imports)
        digest = hashlib.sha256(src.encode()).hexdigest()[:12]
        wd = self.backend.source_dir  # readable by Lean, written only here
        wd.mkdir(parents=True, exist_ok=True)
        path = wd / f"LeanServer-{digest}.lean"
        if not path.exists() or path.read_text() != src:
            from ..io import atomic_write_text  # (imported here: a shared module, kept off the import block)

            atomic_write_text(path, src)
        return path

    def _spawn(self) -> None:
        self._kill()
        path = self._source_file()
        self._answers = queue.Queue()
        self.backend.workdir.mkdir(parents=True, exist_ok=True)
        self._log_path = self.backend.workdir / f"{self.name}-{os.getpid()}-{id(self) & 0xffff:x}.log"
        log = open(self._log_path, "w")
        self._stdout_tail = []
        t0 = time.monotonic()
        self._proc = tied.popen(
            self.backend.command(path), cwd=self.backend.workdir, env=self.backend.process_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8",
            bufsize=1, start_new_session=True,
        )
        log.close()
        # A fresh key per process prefixes its answers (see LeanServer.lean `serve`): stdout lines that code
        # under elaboration prints cannot pass for answers.
        key = secrets.token_hex(16)
        prefix = answer_prefix(key)
        try:
            self._proc.stdin.write(key + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # the process is gone: _await_ready reports it
        threading.Thread(target=self._read_stdout, args=(self._proc, self._answers, self._stdout_tail, prefix),
                         daemon=True).start()
        self._await_ready(t0)
        self._generation += 1
        self._needs_restart = False
        self.start_seconds.append(time.monotonic() - t0)
        for code in self.preludes:
            res = self._request(AddRequest(code=code), timeout=max(self.request_timeout, 600))
            if isinstance(res, ErrorAnswer):
                raise LeanError(f"prelude was refused: {res.error}")
            if not res.all_ok:
                errs = [e for d in res.declarations for e in d.errors]
                raise LeanError(f"prelude did not elaborate: {errs[:3]}")
        self._warm_up()

    def _warm_up(self) -> None:
        """Pay Lean's one-time costs (first elaboration, first type-class and simp-set builds) here, not in the
        first real request; which ones is `warm_up` (`warmup_tactics`)."""
        tactics = warmup_tactics(self.warm_up)
        if tactics is None:
            return
        ans = self._request(StartRequest(statement="theorem warmUp (n : Nat) (h : n = 1) : n + 1 = 2"),
                            timeout=max(self.request_timeout, 300))
        if isinstance(ans, StartAnswer):
            for tac in tactics:
                self._request(TacticRequest(state=ans.state, tactic=tac, heartbeats=DEFAULT_HEARTBEATS),
                              timeout=max(self.request_timeout, 300))
        self._request(ClearRequest())

    @staticmethod
    def _read_stdout(proc: subprocess.Popen, answers: queue.Queue, tail: list[str], prefix: str) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if line.startswith(prefix):
                    try:
                        answers.put(json.loads(line[len(prefix):]))
                    except json.JSONDecodeError:
                        answers.put({"ok": False, "error": f"unreadable answer: {line[:200]}"})
                elif "[DEBUG" not in line:
                    tail.append(line.rstrip("\n"))  # Lean's own messages (compile errors of the server)
                    del tail[:-200]
        except (ValueError, OSError):
            pass  # a kill or restart closed the pipe under us ("I/O operation on closed file"): same as EOF
        answers.put(None)  # end of stream: the process is gone

    def _await_ready(self, t0: float) -> None:
        bar = None
        if self.progress:
            from ..progress import progress_bar  # in place on a terminal, a line every N s into a log

            bar = progress_bar(total=None, desc=f"starting Lean ({self.backend.name})", unit="s", leave=False,
                               bar_format="{desc}: {elapsed} elapsed", file=sys.stderr)
        try:
            while True:
                elapsed = time.monotonic() - t0
                if elapsed > self.start_timeout:
                    self._kill()
                    raise LeanCrash(f"Lean did not become ready in {self.start_timeout:.0f} s; log: {self._log_path}")
                try:
                    ans = self._answers.get(timeout=1.0)
                except queue.Empty:
                    if bar is not None:
                        bar.update(0)
                        bar.refresh()
                    continue
                if ans is None:
                    raise LeanCrash(f"Lean exited during start-up; log: {self._log_path}\n{self._log_tail()}")
                if ans.get("ready"):
                    return
        finally:
            if bar is not None:
                bar.close()

    def _log_tail(self, n: int = 15) -> str:
        """Lean's last messages: its stdout (errors in the server source land there) and stderr."""
        lines = [ln for ln in self._stdout_tail if ": error" in ln or "error:" in ln]
        try:
            lines += [ln for ln in Path(self._log_path).read_text(errors="replace").splitlines()
                      if "[DEBUG" not in ln and not ln.startswith("  - ")]
        except (OSError, TypeError):
            pass
        return "\n".join(lines[-n:])

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for s in (proc.stdin, proc.stdout):
            try:
                s and s.close()
            except OSError:
                pass

    def close(self) -> None:
        if self.spare is not None and self._own_spare:
            self.spare.close()
        with self._lock:
            if self._proc is not None and self._proc.poll() is None and self._proc.stdin:
                try:
                    self._proc.stdin.close()  # end of input: the server returns and Lean exits
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._kill()

    def restart(self) -> None:
        """Kill and start again (what a timeout or crash does on its own)."""
        with self._lock:
            self._needs_restart = True
            self.ensure_started()

    # ----------------------------------------------------------------- raw requests
    def _request(self, req: Request, timeout: float | None = None) -> Answer:
        """Send one request to the live process and wait for its typed answer (no restart logic). An answer
        that breaks the protocol raises ProtocolError (a bug on one side, never a verdict)."""
        assert self._proc is not None and self._proc.stdin is not None
        self._next_req += 1
        rid = self._next_req
        line = req.to_line(rid)
        limit = settings.lean_max_request_bytes()
        if len(line.encode()) > limit:
            raise LeanError(f"request too large for Lean: {len(line.encode())} bytes (limit {limit}; "
                            "set PROVER_LEAN_MAX_REQUEST_BYTES to change it)")
        timeout = self.request_timeout if timeout is None else timeout
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self._needs_restart = True
            raise LeanCrash(f"Lean process is gone ({e})") from e
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._needs_restart = True
                self._kill()
                raise LeanTimeout(f"{req.cmd} ran past {timeout:.0f} s; Lean was restarted")
            try:
                ans = self._answers.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if ans is None:
                self._needs_restart = True
                self._kill()
                raise LeanCrash(f"Lean died during `{req.cmd}`; it will be restarted\n{self._log_tail(5)}")
            if ans.get("id") == rid:
                return parse_answer(req.cmd, ans)

    def request(self, req: "Request | dict[str, Any]", timeout: float | None = None) -> Answer:
        """One request (a `Request`, or its JSON object, parsed strictly) with restart-on-failure; its typed
        answer, an `ErrorAnswer` when Lean refused it. Raises LeanCrash/LeanTimeout if the request was lost."""
        if isinstance(req, dict):
            req = parse_request(req)[1]
        with self._lock:
            self.ensure_started()
            try:
                return self._request(req, timeout)
            finally:
                if self.alive and self.max_rss_mb and rss_mb(self._proc.pid) > self.max_rss_mb:
                    self._needs_restart = True

    # ----------------------------------------------------------------- the protocol, typed
    def _hb(self, heartbeats: int | None) -> int:
        return self.heartbeats if heartbeats is None else heartbeats

    @staticmethod
    def _expect(ans: Answer, cls: type) -> Any:
        """The answer if it is a `cls`; Lean's refusal raised as LeanError."""
        if isinstance(ans, ErrorAnswer):
            raise ans.exception()
        assert isinstance(ans, cls), (type(ans), cls)
        return ans

    def start(self, statement: str, heartbeats: int | None = None, timeout: float | None = None) -> ProofState:
        """Elaborate a statement (`theorem name binders : type`, or a proposition) into a proof state."""
        stmt = normalize_statement(statement)
        with self._lock:
            ans = self._expect(self.request(StartRequest(statement=stmt, heartbeats=self._hb(heartbeats)), timeout),
                               StartAnswer)
            self._states.append(_StatePath(stmt, (), ans.state, self._generation))
            return ProofState(len(self._states) - 1, ans.goals)

    def _server_id(self, sid: int) -> int:
        """The live process's id for client state `sid`, replaying its path if the process was restarted."""
        if not 0 <= sid < len(self._states):
            raise LeanError(f"unknown proof state {sid}")
        path = self._states[sid]
        if path.server_id is not None and path.generation == self._generation and self.alive:
            return path.server_id
        self.ensure_started()
        ans = self._request(StartRequest(statement=path.statement))
        if isinstance(ans, ErrorAnswer):
            raise LeanError(f"replay of state {sid} failed at start: {ans.error}")
        cur = ans.state
        for tac in path.tactics:
            ans = self._request(TacticRequest(state=cur, tactic=tac))
            if isinstance(ans, ErrorAnswer):
                raise LeanError(f"replay of state {sid} failed at `{tac}`: {ans.error}")
            cur = ans.state
        path.server_id, path.generation = cur, self._generation
        return cur

    def run_tac(self, state: ProofState | int, tactic: str, heartbeats: int | None = None,
                timeout: float | None = None) -> TacticResult:
        """Run a tactic on any earlier state. Lean errors come back in `.error`; a hung or crashed process
        also comes back as an error (the process is restarted and the input state stays usable)."""
        sid = state.id if isinstance(state, ProofState) else int(state)
        with self._lock:
            try:
                server_sid = self._server_id(sid)
                ans = self.request(TacticRequest(state=server_sid, tactic=tactic, heartbeats=self._hb(heartbeats)),
                                   timeout)
            except LeanError as e:  # unknown state, too large: an answer, not an exception
                return TacticResult(None, str(e))
            except LeanInfraError as e:  # crash or timeout: the tactic is lost, and the result says so
                return TacticResult(None, f"{type(e).__name__}: {e}", lost=type(e).__name__)
            if isinstance(ans, ErrorAnswer):
                return TacticResult(None, ans.error)
            assert isinstance(ans, TacticAnswer)
            parent = self._states[sid]
            self._states.append(_StatePath(parent.statement, (*parent.tactics, tactic), ans.state,
                                           self._generation))
            return TacticResult(ProofState(len(self._states) - 1, ans.goals), messages=ans.messages)

    def tactics_of(self, state: ProofState | int) -> tuple[str, ...]:
        sid = state.id if isinstance(state, ProofState) else int(state)
        if not 0 <= sid < len(self._states):
            raise LeanError(f"unknown proof state {sid}")
        return self._states[sid].tactics

    def check(self, code: str, statement: str | None = None, name: str | None = None, *,
              use_preludes: bool = True, heartbeats: int | None = None, timeout: float | None = None,
              trusted: bool = False) -> CheckResult:
        """Elaborate whole declarations from scratch and audit each theorem (kernel, sorry, axioms, statement)."""
        req = CheckRequest(code=code, statement=None if statement is None else normalize_statement(statement),
                           name=name, pristine=not use_preludes, trusted=trusted, heartbeats=self._hb(heartbeats))
        return self._expect(self.request(req, timeout), CheckResult)

    def trace(self, code: str, prefix: str = "", *, trusted: bool = False, use_preludes: bool = True,
              heartbeats: int | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Elaborate `code` with info trees and return the `trace` answer's JSON object (see `prover.trace`;
        checked against `TraceAnswer`): per command, its messages and traced tactics. `prefix` is elaborated
        first, silently. The base environment is kept."""
        req = TraceRequest(code=code, prefix=prefix, trusted=trusted, pristine=not use_preludes,
                           heartbeats=self._hb(heartbeats))
        return {"ok": True, **self._expect(self.request(req, timeout), TraceAnswer).to_json()}

    def add(self, code: str, timeout: float | None = None) -> CheckResult:
        """Add trusted declarations (a prelude) to the base environment; kept across restarts."""
        with self._lock:
            res = self._expect(self.request(AddRequest(code=code), timeout=timeout or max(self.request_timeout, 600)),
                               CheckResult)
            if not res.all_ok:
                raise LeanError(f"add failed: {[e for d in res.declarations for e in d.errors][:3]}")
            self.preludes.append(code)
            return res

    def clear(self) -> int:
        """Forget all proof states (frees the server's memory between theorems); how many were dropped."""
        with self._lock:
            self._expect(self.request(ClearRequest()), ClearAnswer)
            n = len(self._states)
            self._states.clear()
            return n

    def stats(self) -> Stats:
        ans = self._expect(self.request(StatsRequest()), Stats)
        return dataclasses.replace(ans, rss_mb=rss_mb(self.pid) if self.pid else 0.0, restarts=self.restarts)

    def send_raw(self, line: str, timeout: float | None = None) -> dict[str, Any]:
        """Send a raw line (tests of malformed input); returns the next answer."""
        with self._lock:
            self.ensure_started()
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(line.rstrip("\n") + "\n")
            self._proc.stdin.flush()
            ans = self._answers.get(timeout=timeout or self.request_timeout)
            if ans is None:
                self._needs_restart = True
                raise LeanCrash("Lean died on a raw line")
            return ans

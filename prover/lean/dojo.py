"""LeanDojo's interaction API (`Dojo`, `run_tac`) on our server, so ReProver-style clients run unchanged.

    with Dojo(Theorem(LeanGitRepo(url, commit), "Foo.lean", "foo")) as (dojo, init_state):
        result = dojo.run_tac(init_state, "simp")
        if isinstance(result, ProofFinished): ...

What differs from LeanDojo, and why:
- No repository is cloned or built (LeanDojo needs network access and a native toolchain). A `Theorem` is
  resolved to its statement from a local `.lean` file or a benchmark JSONL (rows with `name` and
  `core_statement`/`statement`); a plain statement string works too. `build_deps` is accepted and ignored.
- `ProofFinished` is returned only after the whole proof text was re-checked from scratch by the kernel with
  the statement unchanged (no sorry, no `native_decide`, no new axioms); otherwise the step is a `LeanError`.
- Machinery failures are exceptions, never answers: a tactic past the wall-clock `timeout` raises
  `DojoTacticTimeoutError` (a subclass of `DojoHardTimeoutError` for old clients), a dead server or daemon
  connection raises `DojoCrashError`, a statement Lean rejects raises `DojoInitError` from `__enter__`.
- `Dojo()` without `server=` uses a running daemon (`make daemon-start`) when one exists, else starts a
  private server (minutes). On exit a Dojo releases what it created: its private server, its daemon
  connection (the daemon clears a server's states when its last client leaves), or, on a `server=` it was
  given, all states if there were none when it entered (others' states are never dropped).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

from ..io import read_jsonl
from . import lean_file
from .check_file import FileError, read_source
from .judge import proof_text, verify_proof
from .protocol import LeanCrash, LeanError as _ServerError, LeanTimeout, ProofState, normalize_statement

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- errors
class DojoError(Exception):
    """Base of the errors a Dojo raises."""


class DojoInitError(DojoError):
    """The theorem could not be set up (unknown name, statement Lean rejects, a statement with a proof)."""


class DojoCrashError(DojoError):
    """The Lean server (or the daemon connection) died; the Dojo's states are gone."""


class DojoHardTimeoutError(DojoError):
    """An interaction ran past the Dojo's wall-clock timeout (old LeanDojo name)."""


class DojoTacticTimeoutError(DojoHardTimeoutError):
    """A tactic ran past the Dojo's wall-clock timeout; the server was restarted."""


# ----------------------------------------------------------------------------- repository, theorem, position
@dataclass(frozen=True, order=True)
class Pos:
    """A position in a file: 1-based line, 0-based column (as Lean and LeanDojo report them)."""

    line_nb: int
    column_nb: int

    @classmethod
    def from_str(cls, s: str) -> "Pos":
        line, col = s.strip("()").split(",")
        return cls(int(line), int(col))

    def __iter__(self):
        return iter((self.line_nb, self.column_nb))


@dataclass(frozen=True)
class LeanGitRepo:
    """A repository by URL and commit. A local folder as `url` is where `Theorem.file_path` is looked up."""

    url: str
    commit: str = ""

    @property
    def name(self) -> str:
        return Path(self.url.rstrip("/")).name.removesuffix(".git")

    @property
    def local_path(self) -> Path | None:
        p = Path(self.url)
        return p if p.is_dir() else None

    def get_packages_dir(self) -> Path:
        return Path(".lake/packages")


@dataclass(frozen=True)
class Theorem:
    """A theorem by repository, file and full name; `statement` overrides the lookup."""

    repo: LeanGitRepo
    file_path: Path
    full_name: str
    statement: str | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "file_path", Path(self.file_path))

    @property
    def uid(self) -> str:
        return f"{self.repo.url}:{self.repo.commit}:{self.file_path}:{self.full_name}"

    def resolve_statement(self) -> str:
        """The `theorem name binders : type` header, from `statement`, the `.lean` file or the benchmark JSONL."""
        if self.statement is not None:
            return self.statement
        path = self.file_path
        if not path.is_absolute() and self.repo.local_path is not None:
            path = self.repo.local_path / path
        if not path.exists():
            raise DojoInitError(f"{self.full_name}: no file {path} (this Dojo does not clone repositories: give a "
                                "local folder as the repo url, an existing path, or `statement=`)")
        if path.suffix == ".jsonl":
            return _statement_from_jsonl(path, self.full_name)
        try:
            code = read_source(path)
        except FileError as e:
            raise DojoInitError(str(e)) from None
        return statement_from_source(code, self.full_name, str(path))


def _statement_from_jsonl(path: Path, name: str) -> str:
    for _, row in read_jsonl(path, DojoInitError):
        if row.get("name") == name or row.get("full_name") == name:
            st = row.get("core_statement") or row.get("statement") or row.get("formal_statement")
            if not st:
                raise DojoInitError(f"{path}: row {name!r} has no statement field")
            if not st.lstrip().startswith(("theorem", "lemma", "example")):
                st = f"theorem {name.split('.')[-1]} : {st}"
            return st
    raise DojoInitError(f"{path}: no row named {name!r}")


def statement_from_source(code: str, full_name: str, where: str = "<source>") -> str:
    """The header `theorem <last name component> binders : type` of the theorem `full_name` of a file, found by
    the project's one Lean lexer (prover/lean/lean_file.py: comments and strings are not code). A theorem
    declared outside any namespace also answers to a longer `full_name` ending in its written name."""
    try:
        found = lean_file.theorems(code)
    except lean_file.LeanFileError as e:
        raise DojoInitError(f"{where}: {e}") from None
    exact = [t for t in found if t.name == full_name]
    loose = [t for t in found if not t.namespaces and full_name.endswith("." + t.name)]
    for t in exact or loose:
        return "theorem " + full_name.split(".")[-1] + t.statement[len("theorem " + t.name):]
    raise DojoInitError(f"{where}: no theorem named {full_name!r} with a `:=`")


# ----------------------------------------------------------------------------- states and results
@dataclass(frozen=True)
class Goal:
    assumptions: tuple[str, ...]
    conclusion: str

    @classmethod
    def from_pp(cls, pp: str) -> "Goal":
        lines = pp.split("\n")
        k = max((i for i, ln in enumerate(lines) if ln.startswith("⊢")), default=len(lines))
        hyps = tuple(ln for ln in lines[:k] if not ln.startswith("case "))
        return cls(hyps, "\n".join(lines[k:])[1:].strip())


@dataclass(frozen=True)
class TacticState:
    """A proof state. Equal and hashed by `pp` alone: the same goals reached twice are one search node."""

    pp: str
    id: int = field(compare=False)
    message: str | None = field(default=None, compare=False)

    @property
    def goals(self) -> list[Goal]:
        return [] if self.pp == "no goals" else [Goal.from_pp(g) for g in self.pp.split("\n\n")]

    @property
    def num_goals(self) -> int:
        return 0 if self.pp == "no goals" else self.pp.count("⊢")


@dataclass(frozen=True)
class ProofFinished:
    tactic_state_id: int
    message: str | None = None


@dataclass(frozen=True)
class LeanError:
    error: str


@dataclass(frozen=True)
class ProofGivenUp:
    pass


@dataclass(frozen=True)
class TacticTimeout:
    """LeanDojo 1.x's timeout result (`lean_dojo.TimeoutError`), importable for old clients; never returned:
    a timeout raises `DojoTacticTimeoutError`."""

    error: str


TacticResult = Union[TacticState, ProofFinished, LeanError, ProofGivenUp]


def as_theorem(statement: str, name: str = "dojo_theorem") -> str:
    """A statement as a named theorem header (bare propositions get `name`)."""
    st = normalize_statement(statement)
    if st.startswith("theorem "):
        return st
    if st.startswith("example"):
        return f"theorem {name}" + st[len("example"):]
    return f"theorem {name} : {st}"


_GIVE_UP = re.compile(r"(?<![\w.])(sorry|admit)(?![\w.])")


class Dojo:
    """`Dojo(entry, timeout=600, additional_imports=[], build_deps=True, *, server=None, heartbeats=None)`;
    `with` yields `(dojo, initial TacticState)`. `timeout` is each interaction's wall-clock limit, seconds;
    `heartbeats` each tactic's `maxHeartbeats` (thousands; default the server's)."""

    def __init__(self, entry: Any, timeout: float = 600, additional_imports: Sequence[str] = (),
                 build_deps: bool = True, *, server: Any = None, heartbeats: int | None = None,
                 preludes: Sequence[str] = ()):
        self.entry = entry
        self.timeout = timeout
        self.heartbeats = heartbeats
        self.additional_imports = tuple(additional_imports)
        self.build_deps = build_deps  # nothing to build: accepted for LeanDojo compatibility
        self._given_server = server
        self._preludes = list(preludes)
        self.server: Any = None
        self._own_server = False
        self._own_connection = False
        self.statement = ""
        self.name = ""

    # ------------------------------------------------------------------ setup
    def _resolve(self) -> str:
        e = self.entry
        if isinstance(e, str):
            return e
        if isinstance(e, Theorem):
            return e.resolve_statement()
        if isinstance(e, tuple):
            raise DojoInitError("command-mode entries (repo, path, line) are not supported: give a Theorem or a "
                                "statement")
        st = getattr(e, "statement", None)
        if isinstance(st, str):
            return st
        raise DojoInitError(f"cannot make a theorem of {type(e).__name__}: give a Theorem, a statement string, or "
                            "an object with a `statement`")

    def _open_server(self) -> Any:
        if self._given_server is not None:
            have = tuple(getattr(self._given_server, "imports", ()) or ())
            missing = [m for m in self.additional_imports if have and m not in have]
            if missing:
                raise DojoInitError(f"the given server does not import {missing}")
            return self._given_server
        imports = tuple(dict.fromkeys(["Lean", *self.additional_imports]))
        from .daemon import find_daemon

        # any daemon will do without imports or preludes of our own: its prelude only adds definitions
        remote = find_daemon(self._preludes if self._preludes else None, imports)
        if remote is not None and (imports == ("Lean",) or self._preludes):
            self._own_connection = True
            return remote
        if remote is not None:
            remote.close()
        from .server import LeanServer

        self._own_server = True
        srv = LeanServer(imports=imports, preludes=self._preludes, request_timeout=self.timeout)
        try:
            srv.ensure_started()
        except _ServerError as e:
            srv.close()
            raise DojoInitError(f"Lean did not start: {e}") from e
        return srv

    def __enter__(self) -> tuple["Dojo", TacticState]:
        try:
            raw = self._resolve()
            self.statement = as_theorem(raw, self._default_name())
        except ValueError as e:  # empty, or a statement that carries a proof
            raise DojoInitError(str(e)) from e
        parts = self.statement.split()
        self.name = parts[1] if len(parts) > 1 else "dojo_theorem"
        self.server = self._open_server()
        # a given server's states can be dropped on exit only if this Dojo made all of them
        self._clear_on_exit = (not self._own_server and not self._own_connection
                               and len(getattr(self.server, "_states", [None])) == 0)
        try:
            root = self.server.start(self.statement, heartbeats=self.heartbeats, timeout=self.timeout)
        except LeanTimeout as e:
            self._release()
            raise DojoInitError(f"setting up {self.name} ran past {self.timeout} s: {e}") from e
        except LeanCrash as e:
            self._release()
            raise DojoCrashError(str(e)) from e
        except _ServerError as e:
            self._release()
            raise DojoInitError(f"Lean rejected the statement of {self.name}: {e}") from e
        return self, TacticState(root.pp, root.id)

    def _default_name(self) -> str:
        if isinstance(self.entry, Theorem):
            return self.entry.full_name.split(".")[-1]
        return "dojo_theorem"

    def __exit__(self, *exc: Any) -> None:
        self._release()

    def _release(self) -> None:
        srv, self.server = self.server, None
        if srv is None:
            return
        if self._own_server or self._own_connection:
            srv.close()  # a daemon clears a server's states when its last client leaves
        elif getattr(self, "_clear_on_exit", False):
            try:
                srv.clear()
            except Exception as e:  # noqa: BLE001 - best effort; a dead server has no states to keep
                log.debug("clearing the Dojo's states on exit failed (%s: %s)", type(e).__name__, e)

    # ------------------------------------------------------------------ interaction
    def run_tac(self, state: TacticState, tactic: str) -> TacticResult:
        if not isinstance(state, TacticState):
            raise TypeError(f"run_tac expects a TacticState, got {type(state).__name__}")
        if self.server is None:
            raise DojoCrashError("this Dojo is closed (use it inside its `with` block)")
        if _GIVE_UP.search(tactic):
            return ProofGivenUp()
        try:
            res = self.server.run_tac(state.id, tactic, heartbeats=self.heartbeats, timeout=self.timeout)
        except LeanTimeout as e:
            raise DojoTacticTimeoutError(str(e)) from e
        except (LeanCrash, OSError) as e:  # OSError: the daemon connection broke
            raise DojoCrashError(str(e)) from e
        if res.error is not None or res.state is None:
            err = res.error or "tactic failed"
            # the server reports a lost request as an answer; for a client it is an exception
            if err.startswith("LeanTimeout:"):
                raise DojoTacticTimeoutError(f"`{tactic}` ran past {self.timeout} s; Lean was restarted")
            if err.startswith("LeanCrash:"):
                raise DojoCrashError(err)
            return LeanError(err)
        new: ProofState = res.state
        message = "\n".join(getattr(res, "messages", ()) or ()) or None
        if not new.complete:
            return TacticState(new.pp, new.id, message)
        # The goals are closed; count it only if the whole proof text passes the kernel from scratch.
        try:
            ok, _, why = verify_proof(self.server, self.statement, self.server.tactics_of(new.id),
                                      timeout=self.timeout)
        except LeanTimeout as e:
            raise DojoTacticTimeoutError(f"the kernel re-check ran past {self.timeout} s") from e
        except (LeanCrash, OSError) as e:  # OSError: the daemon connection broke
            raise DojoCrashError(str(e)) from e
        if ok:
            return ProofFinished(new.id, message)
        return LeanError(f"goals closed but the proof text failed the kernel re-check: {why}")

    def proof_text(self, state: ProofState | TacticState | int) -> str:
        sid = state if isinstance(state, int) else state.id
        return proof_text(self.statement, self.server.tactics_of(sid))

"""Where the parts live, checked on the source: one JSONL reader and writer and one atomic write
(prover/io.py), one judge and one proof-text builder (prover/lean/judge.py), no import cycle between the
local and the Ray runner, no private names of prover/run/ used from other packages, prints only where a
command talks to its user (diagnostics go through logging). A new twin fails here with its file and line."""
from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("prover", "autoform")


def sources(*tops: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for top in tops for p in sorted((ROOT / top).rglob("*.py"))}


def hits(pattern: str, files: dict[str, str]) -> list[str]:
    rx = re.compile(pattern)
    return [f"{f}:{i}" for f, text in files.items() for i, line in enumerate(text.splitlines(), 1)
            if rx.search(line) and not line.lstrip().startswith("#")]


def where(hit: str) -> str:
    return hit.rsplit(":", 1)[0]


def test_one_jsonl_reader_one_appender_one_atomic_write():
    code = sources(*PACKAGES, "scripts")
    # JSON parsed line by line: only the JSONL reader, and the wire protocol (prover/lean/protocol.py parses
    # Lean's and the daemon's lines; the server and daemon read their streams)
    assert {where(h) for h in hits(r"json\.loads\((line|raw|ln|x)\b", code)} <= {
        "prover/io.py", "prover/lean/protocol.py", "prover/lean/server.py", "prover/lean/daemon.py"}
    # replacing a file by rename, fsyncing appends: only prover/io.py (the trainer renames checkpoint folders)
    assert {where(h) for h in hits(r"os\.replace\(|\.replace\(path\)|os\.fsync\(", code)} <= {
        "prover/io.py", "prover/train/trainer.py"}
    assert not hits(r"\.tmp\b.*write_text|write_text.*\.tmp\b", code)
    # a JSON line written by hand: only the JSONL writer and the daemon's socket protocol
    assert {where(h) for h in hits(r'json\.dumps\(.*\+ *"\\n"', sources(*PACKAGES))} <= {
        "prover/io.py", "prover/lean/daemon.py"}


def test_one_judge_and_one_proof_text_builder():
    code = sources(*PACKAGES)
    for name in ("proof_text", "verify_proof", "theorem_name", "crashes_lean", "read_jsonl", "drop_partial_tail",
                 "atomic_write_text"):
        defs = [h for h in hits(rf"^def {name}\(", code)]
        assert len(defs) == 1, (name, defs)
    assert [where(h) for h in hits(r"^def (proof_text|verify_proof)\(", code)] == ["prover/lean/judge.py"] * 2
    search = sources("prover/search")
    assert not hits(r"env\.check\(|^def (verify_proof|proof_text|crashes_lean)", search)  # search is policy only


def _imports(path: str) -> list[tuple[str, list[str]]]:
    """(module as written, with leading dots resolved against `path`; imported names) of every import."""
    tree = ast.parse((ROOT / path).read_text())
    pkg = Path(path).with_suffix("").parts[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = list(pkg[:len(pkg) - node.level + 1]) if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.append((mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def test_no_private_names_of_prover_run_outside_it_and_no_runner_cycle():
    outside = [f for f in sources(*PACKAGES) if not f.startswith("prover/run/")]
    private = [(f, mod, n) for f in outside for mod, names in _imports(f) if mod.startswith("prover.run")
               for n in names if n.startswith("_")]
    assert private == []
    ray = {mod for mod, _ in _imports("prover/run/ray_runner.py")}
    assert "prover.run.runner" not in ray  # runner -> ray_runner only; both build on prover/run/local.py
    assert "prover.run.runner" not in {mod for mod, _ in _imports("prover/run/local.py")}


# where a command talks to its user: its summary, its verdicts, its errors (function names in their modules)
USER_OUTPUT = {
    "prover/__main__.py": None, "autoform/__main__.py": None, "prover/train/__main__.py": None,  # CLIs
    "prover/trace/cli.py": {"run"}, "prover/lean/daemon.py": {"main"},
    "prover/run/runner.py": {"run"},  # the summary table and where the outputs are
    "prover/train/iteration.py": {"run_iteration"},  # the round's report
    "prover/train/trainer.py": {"train", "main"},  # the final loss line; its CLI's bad-input error
    "prover/train/launch.py": {"main"},  # its CLI's bad-input error
    "prover/train/warm_start.py": {"warm_start", "main"},  # the run's summary line; its CLI's bad-input error
}


def test_prints_only_where_a_command_talks_to_its_user():
    found = []
    for f, text in sources(*PACKAGES).items():
        stack: list[str] = []

        class Visit(ast.NodeVisitor):
            def visit_FunctionDef(self, node):
                stack.append(node.name)
                self.generic_visit(node)
                stack.pop()

            visit_AsyncFunctionDef = visit_FunctionDef

            def visit_Call(self, node):
                if isinstance(node.func, ast.Name) and node.func.id == "print":
                    found.append((f, stack[0] if stack else "<module>", node.lineno))
                self.generic_visit(node)

        Visit().visit(ast.parse(text))
    stray = [f"{f}:{line} (in {fn})" for f, fn, line in found
             if f not in USER_OUTPUT or (USER_OUTPUT[f] is not None and fn not in USER_OUTPUT[f])]
    assert stray == [], "diagnostics go through logging (log = logging.getLogger(__name__))"


def test_silent_except_pass_is_gone():
    code = sources(*PACKAGES)
    lines = {f: text.splitlines() for f, text in code.items()}
    silent = [f"{f}:{i}" for f, ls in lines.items() for i, line in enumerate(ls[:-1], 1)
              if re.match(r"\s*except (Exception|BaseException)\b.*:", line) and ls[i].strip() == "pass"]
    assert silent == []


def test_setup_logging_reads_the_level_when_called_and_names_a_bad_one(monkeypatch):
    from prover.logs import ENV_LEVEL, setup_logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        monkeypatch.setenv(ENV_LEVEL, "debug")
        setup_logging()
        assert root.level == logging.DEBUG
        setup_logging()  # once per process: no second handler
        assert sum(getattr(h, "_prover", False) for h in root.handlers) == 1
        monkeypatch.setenv(ENV_LEVEL, "chatty")
        with pytest.raises(ValueError, match="PROVER_LOG_LEVEL='chatty'"):
            setup_logging()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

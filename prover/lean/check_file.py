"""Check a whole .lean file with the server: one result per declaration, honest about soundness."""
from __future__ import annotations

import re
from pathlib import Path

from .protocol import CheckResult

AVAILABLE_ROOTS = ("Init", "Std", "Lean")
_IMPORT = re.compile(r"^\s*import\s+(.+?)\s*$")


class FileError(ValueError):
    """The file cannot be checked as given (missing, or it imports a module this Lean does not have)."""


def strip_imports(source: str, imports: tuple[str, ...] = ("Lean",)) -> str:
    """Blank out the header's `import` lines (keeping line numbers) after checking each module is available."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        m = _IMPORT.match(line)
        if m:
            for mod in m.group(1).split():
                root = mod.split(".")[0]
                if root not in AVAILABLE_ROOTS and mod not in imports:
                    raise FileError(
                        f"line {i + 1}: module `{mod}` is not available in this Lean (the embedded backend has "
                        f"Init, Std and Lean; for Mathlib use the native backend with PROVER_LAKE_DIR)")
            lines[i] = ""
        elif line.strip() and not line.strip().startswith("--"):
            if not line.lstrip().startswith(("/-", "-/")) and not _in_comment(lines[:i]):
                break
    return "\n".join(lines) + "\n"


def _in_comment(before: list[str]) -> bool:
    text = "\n".join(before)
    return text.count("/-") > text.count("-/")


def check_source(server, source: str, use_preludes: bool, imports: tuple[str, ...] = ("Lean",),
                 timeout: float = 600) -> CheckResult:
    return server.check(strip_imports(source, imports), use_preludes=use_preludes, timeout=timeout)


def read_source(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise FileError(f"no such file: {p}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise FileError(f"{p} is not UTF-8 text: {e}") from e

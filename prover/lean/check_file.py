"""Check a whole .lean file with the server: one result per declaration, honest about soundness.

One text: Lean parses exactly the characters of the file. The file is read as bytes and decoded as strict
UTF-8 (no newline translation; only `\r\n` becomes `\n`, as Lean's own front end does); the header is found
by the lexer that follows Lean's own rules (prover/lean/lexer.py; `/--` and `/-!` are doc comments, i.e.
commands, so they end the header); and the header's tokens are replaced by as many spaces as they have characters, so every line and column Lean reports is the file's own. Nothing after the header
is touched: a later `import` stays for Lean to reject.
"""
from __future__ import annotations

from pathlib import Path

from .lexer import LeanLexError, line_of, skip_trivia, word_end
from .protocol import CheckResult

AVAILABLE_ROOTS = ("Init", "Std", "Lean")
_HEADER_KEYWORDS = ("module", "prelude", "public", "meta", "import", "all")


class FileError(ValueError):
    """The file cannot be checked as given (missing, not Lean text, or it imports a module this Lean does not
    have)."""


def header_imports(source: str) -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    """The header's token spans (`module`, `public`, `meta`, `import`, `all`, module names) and its imported
    modules with their lines, as Lean's header parser reads them: `module`? then imports, each
    `public? meta? import all? Name`."""
    try:
        return _header(source)
    except LeanLexError as e:
        raise FileError(str(e)) from None


def _header(source: str) -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    spans: list[tuple[int, int]] = []
    modules: list[tuple[str, int]] = []
    i = skip_trivia(source, 0)
    first = True
    while True:
        j = word_end(source, i)
        tok = source[i:j]
        if first and tok == "module":
            spans.append((i, j))
            i = skip_trivia(source, j)
            first = False
            continue
        if first and tok == "prelude":
            raise FileError(f"line {line_of(source, i)}: `prelude` files cannot be checked (the server "
                            "always imports Init)")
        first = False
        k, pending = i, []
        for kw in ("public", "meta"):
            if source[k:word_end(source, k)] == kw:
                pending.append((k, word_end(source, k)))
                k = skip_trivia(source, pending[-1][1])
        if source[k:word_end(source, k)] != "import":
            return spans, modules  # the header ends here; whatever follows is for Lean
        pending.append((k, word_end(source, k)))
        k = skip_trivia(source, pending[-1][1])
        if source[k:word_end(source, k)] == "all":
            pending.append((k, word_end(source, k)))
            k = skip_trivia(source, pending[-1][1])
        end = word_end(source, k)
        if end == k:
            raise FileError(f"line {line_of(source, k)}: `import` must be followed by a module name")
        name = source[k:end]
        pending.append((k, end))
        spans += pending
        modules.append((name.replace("«", "").replace("»", ""), line_of(source, k)))
        i = skip_trivia(source, end)


def strip_imports(source: str, imports: tuple[str, ...] = ("Lean",)) -> str:
    """The source with its header blanked (same length, same lines and columns), after checking that each
    imported module is available."""
    spans, modules = header_imports(source)
    for mod, line in modules:
        if mod.split(".")[0] not in AVAILABLE_ROOTS and mod not in imports:
            raise FileError(
                f"line {line}: module `{mod}` is not available in this Lean (the embedded backend has "
                f"Init, Std and Lean; for Mathlib use the native backend with PROVER_LAKE_DIR)")
    out = list(source)
    for a, b in spans:
        out[a:b] = " " * (b - a)
    return "".join(out)


def lean_text(source: str) -> str:
    """What Lean's own front end parses for a file: `Parser.mkInputContext` turns each `\r\n` into `\n`
    (`String.crlfToLf`) and nothing else; lines and columns are unchanged."""
    return source.replace("\r\n", "\n")


def check_source(server, source: str, use_preludes: bool, imports: tuple[str, ...] = ("Lean",),
                 timeout: float = 600) -> CheckResult:
    return server.check(strip_imports(lean_text(source), imports), use_preludes=use_preludes, timeout=timeout)


def read_source(path: str | Path) -> str:
    """The file's text exactly: bytes decoded as strict UTF-8, no newline translation."""
    p = Path(path)
    if not p.is_file():
        raise FileError(f"no such file: {p}")
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileError(f"{p} is not UTF-8 text: {e}") from e

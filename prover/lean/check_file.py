"""Check a whole .lean file with the server: one result per declaration, honest about soundness.

One text: Lean parses exactly the characters of the file. The file is read as bytes and decoded as strict
UTF-8 (no newline translation; only `\r\n` becomes `\n`, as Lean's own front end does); the header is found by a lexer that follows Lean's own rules (whitespace
is space, `\\n` and `\\r\\n`; a `--` comment ends only at `\\n`; `/- -/` comments nest; `/--` and `/-!` are
doc comments, i.e. commands, so they end the header); and the header's tokens are replaced by as many spaces
as they have characters, so every line and column Lean reports is the file's own. Nothing after the header
is touched: a later `import` stays for Lean to reject.
"""
from __future__ import annotations

from pathlib import Path

from .protocol import CheckResult

AVAILABLE_ROOTS = ("Init", "Std", "Lean")
_HEADER_KEYWORDS = ("module", "prelude", "public", "meta", "import", "all")


class FileError(ValueError):
    """The file cannot be checked as given (missing, or it imports a module this Lean does not have)."""


def _is_id_start(c: str) -> bool:
    return c == "_" or (c.isalpha() and c not in "λΠΣ")


def _is_id_rest(c: str) -> bool:
    return _is_id_start(c) or c.isdigit() or c in "'!?" or "\u2080" <= c <= "\u209c" or "\u1d62" <= c <= "\u1d6a"


def _line_of(src: str, i: int) -> int:
    return src.count("\n", 0, i) + 1


def _skip_trivia(src: str, i: int) -> int:
    """Index of the next token at or after `i`, skipping what Lean's `whitespace` skips."""
    n = len(src)
    while i < n:
        c = src[i]
        if c in " \n":
            i += 1
        elif c == "\r":
            if src.startswith("\r\n", i):
                i += 2
            else:
                raise FileError(f"line {_line_of(src, i)}: isolated carriage return (Lean rejects it)")
        elif c == "\t":
            raise FileError(f"line {_line_of(src, i)}: tab character (Lean rejects tabs)")
        elif src.startswith("--", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
        elif src.startswith("/-", i) and not src.startswith(("/--", "/-!"), i):
            depth, i = 1, i + 2
            while depth:
                if i >= n:
                    raise FileError(f"line {_line_of(src, n)}: unterminated comment")
                if src.startswith("/-", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("-/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        else:
            return i
    return i


def _word(src: str, i: int) -> int:
    """End of the identifier (a dotted name, components possibly in «») starting at `i`, or `i` if none."""
    n, j = len(src), i
    while True:
        if j < n and src[j] == "«":
            k = src.find("»", j + 1)
            if k < 0:
                return i
            j = k + 1
        elif j < n and _is_id_start(src[j]):
            j += 1
            while j < n and _is_id_rest(src[j]):
                j += 1
        else:
            return i if j == i else j - 1  # a trailing dot is not part of the name
        if j < n and src[j] == "." and j + 1 < n and (src[j + 1] == "«" or _is_id_start(src[j + 1])):
            j += 1
            continue
        return j


def header_imports(source: str) -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    """The header's token spans (`module`, `public`, `meta`, `import`, `all`, module names) and its imported
    modules with their lines, as Lean's header parser reads them: `module`? then imports, each
    `public? meta? import all? Name`."""
    spans: list[tuple[int, int]] = []
    modules: list[tuple[str, int]] = []
    i = _skip_trivia(source, 0)
    first = True
    while True:
        j = _word(source, i)
        tok = source[i:j]
        if first and tok == "module":
            spans.append((i, j))
            i = _skip_trivia(source, j)
            first = False
            continue
        if first and tok == "prelude":
            raise FileError(f"line {_line_of(source, i)}: `prelude` files cannot be checked (the server "
                            "always imports Init)")
        first = False
        k, pending = i, []
        for kw in ("public", "meta"):
            if source[k:_word(source, k)] == kw:
                pending.append((k, _word(source, k)))
                k = _skip_trivia(source, pending[-1][1])
        if source[k:_word(source, k)] != "import":
            return spans, modules  # the header ends here; whatever follows is for Lean
        pending.append((k, _word(source, k)))
        k = _skip_trivia(source, pending[-1][1])
        if source[k:_word(source, k)] == "all":
            pending.append((k, _word(source, k)))
            k = _skip_trivia(source, pending[-1][1])
        end = _word(source, k)
        if end == k:
            raise FileError(f"line {_line_of(source, k)}: `import` must be followed by a module name")
        name = source[k:end]
        pending.append((k, end))
        spans += pending
        modules.append((name.replace("«", "").replace("»", ""), _line_of(source, k)))
        i = _skip_trivia(source, end)


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

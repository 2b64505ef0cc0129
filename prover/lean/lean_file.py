"""A user's .lean file as proof-search problems, and the same file with the found proofs filled in.

`scan(source)` finds every `theorem`/`lemma` whose whole proof is `sorry` (`:= sorry`, `:= by sorry`, `by`
and `sorry` on different lines), skipping comments (line, nested block, doc), strings and char literals (by
the project's one Lean lexer, prover/lean/lexer.py), and qualifying each name by its enclosing `namespace`s. `fill(source, proofs)` replaces exactly the `:= ... sorry`
span of each proved declaration with `:= by` and the tactics; every other byte of the file is unchanged.
`context(source)` is the file's other declarations (defs, structures, instances, namespaces, `open`s) with
every theorem removed, for Lean to load before the statements (theorems may use the file's definitions).

Limits, refused or reported rather than guessed: a proof that is partly written (tactics before `sorry`),
`variable`s of a section, and `open ... in` prefixes are not carried into the statement; such a statement may
not elaborate and is then recorded as `invalid`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .lexer import LeanLexError, Token, tokens

MODIFIERS = ("private", "protected", "noncomputable", "nonrec", "unsafe", "partial")


@dataclass(frozen=True)
class FileTheorem:
    """A `theorem`/`lemma` of a file with a `:=`. `statement` is `theorem Qualified.name binders : type`
    (comments blanked, ready for Lean's `start`); `proof_span` is the `:= ...` text that `fill` replaces;
    `sorry`: the whole proof is `sorry` (`:= sorry` or `:= by sorry`)."""

    name: str  # qualified by the enclosing namespaces
    written_name: str  # as the file writes it
    namespaces: tuple[str, ...]  # open at the declaration
    statement: str
    keyword_start: int
    proof_span: tuple[int, int]
    line: int
    indent: int
    sorry: bool


LeanFileError = LeanLexError  # the file cannot be read as Lean; the message gives the line


def lex(source: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """Code tokens and comment spans, by the project's one Lean lexer (prover/lean/lexer.py)."""
    return tokens(source)


def _blank(source: str, spans: list[tuple[int, int]], lo: int, hi: int) -> str:
    """source[lo:hi] with comments replaced by spaces (newlines kept)."""
    chars = list(source[lo:hi])
    for a, b in spans:
        for k in range(max(a, lo), min(b, hi)):
            if chars[k - lo] != "\n":
                chars[k - lo] = " "
    return "".join(chars)


def _decls(tokens: list[Token]) -> list[int]:
    """Indices of the `theorem`/`lemma` keyword tokens."""
    return [k for k, t in enumerate(tokens) if t.text in ("theorem", "lemma") and t.depth == 0]


def _namespaces(tokens: list[Token]) -> dict[int, list[str]]:
    """For each token index, the namespaces open there (sections are unnamed scopes that `end` closes too).
    One pass; scope commands start a line."""
    stack: list[tuple[str, str]] = []
    out: dict[int, list[str]] = {}
    for k, t in enumerate(tokens):
        out[k] = [name for kind, name in stack if kind == "namespace"]
        if t.col != 0 and (k == 0 or tokens[k - 1].line == t.line):
            continue
        nxt = tokens[k + 1].text if k + 1 < len(tokens) else ""
        nxt_same_line = k + 1 < len(tokens) and tokens[k + 1].line == t.line
        if t.text == "namespace" and nxt_same_line:
            stack.append(("namespace", nxt))
        elif t.text == "section":
            stack.append(("section", nxt if nxt_same_line else ""))
        elif t.text == "end" and t.depth == 0 and t.col == 0 and stack:
            stack.pop()
    return out


def _command_start(tokens: list[Token], k: int) -> int:
    """Index of the first token of the command whose keyword is tokens[k] (attributes and modifiers before it)."""
    j = k
    while j > 0:
        prev = tokens[j - 1]
        if prev.text in MODIFIERS:
            j -= 1
        elif prev.text == "]" and prev.depth == 0:
            m = j - 1  # skip back over `@[ ... ]`
            while m > 0 and not (tokens[m].text == "[" and tokens[m].depth == 0):
                m -= 1
            if m > 0 and tokens[m - 1].text == "@":
                j = m - 1
            else:
                break
        else:
            break
    return j


def _next_command(tokens: list[Token], k: int) -> int:
    """Index of the first token after tokens[k] that starts a line at column 0 outside brackets."""
    for j in range(k + 1, len(tokens)):
        if tokens[j].col == 0 and tokens[j].depth == 0:
            return j
    return len(tokens)


def theorems(source: str) -> list[FileTheorem]:
    """Every theorem/lemma with a `:=` at its top level, in file order."""
    tokens, skipped = lex(source)
    out: list[FileTheorem] = []
    scopes = _namespaces(tokens)
    for k in _decls(tokens):
        if k + 1 >= len(tokens):
            continue
        end = _next_command(tokens, k)
        assign = next((j for j in range(k + 2, end) if tokens[j].text == ":=" and tokens[j].depth == 0), None)
        if assign is None:
            continue
        body = [t.text for t in tokens[assign + 1:end]]
        kw, name_tok = tokens[k], tokens[k + 1]
        ns = scopes[k]
        name = name_tok.text.removeprefix("_root_.") if name_tok.text.startswith("_root_.") else \
            ".".join([*ns, name_tok.text])
        head = _blank(source, skipped, name_tok.end, tokens[assign].start)
        statement = f"theorem {name}{' '.join(head.split()) and ' ' + ' '.join(head.split())}"
        last = tokens[end - 1]
        line_start = source.rfind("\n", 0, kw.start) + 1
        out.append(FileTheorem(name=name, written_name=name_tok.text, namespaces=tuple(ns), statement=statement,
                               keyword_start=kw.start, proof_span=(tokens[assign].start, last.end), line=kw.line,
                               indent=len(source[line_start:kw.start]) - len(source[line_start:kw.start].lstrip()),
                               sorry=body in (["sorry"], ["by", "sorry"])))
    return out


def scan(source: str) -> list[FileTheorem]:
    """Every theorem/lemma whose whole proof is `sorry`, in file order."""
    return [t for t in theorems(source) if t.sorry]


def fill(source: str, proofs: dict[str, list[str]]) -> str:
    """The source with `:= by` + tactics in place of the sorry of each theorem named in `proofs`."""
    pieces, pos = [], 0
    for thm in scan(source):
        tactics = proofs.get(thm.name)
        if not tactics:
            continue
        a, b = thm.proof_span
        pad = " " * (thm.indent + 2)
        body = "\n".join(pad + line for tac in tactics for line in tac.strip("\n").split("\n"))
        pieces += [source[pos:a], ":= by\n", body]
        pos = b
    pieces.append(source[pos:])
    return "".join(pieces)


def context(source: str) -> str:
    """The file without its imports and without any theorem/lemma: what its statements may depend on.
    Empty when nothing but theorems (and comments) is left."""
    tokens, skipped = lex(source)
    cut: list[tuple[int, int]] = []
    for k in _decls(tokens):
        a = tokens[_command_start(tokens, k)].start
        end = _next_command(tokens, k)
        cut.append((a, tokens[end].start if end < len(tokens) else len(source)))
    for k, t in enumerate(tokens):
        if t.text == "import" and t.col == 0:
            line_end = source.find("\n", t.start)
            cut.append((t.start, len(source) if line_end == -1 else line_end))
    text = _blank(source, skipped + cut, 0, len(source))
    kept = [t for t in tokens if not any(a <= t.start < b for a, b in cut)]
    if not any(t.text not in ("namespace", "section", "end", "open") and t.col == 0 for t in kept):
        return ""  # only scopes and opens are left: nothing a statement could depend on
    lines = [ln.rstrip() for ln in text.splitlines()]
    return "\n".join(ln for i, ln in enumerate(lines) if ln or (i and lines[i - 1])).strip("\n") + "\n"

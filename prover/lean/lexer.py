"""One Lean 4 lexer for the Python side: the header parser of `check` and the sorry scanner of `prove FILE.lean`.

It follows Lean's own rules (`Lean.Parser.Basic`), so that what Python thinks a file says is what Lean parses:
- whitespace is space, `\\n` and `\\r\\n`; a tab or an isolated `\\r` is an error (Lean rejects both);
- a `--` comment ends only at `\\n`; `/- -/` comments nest; `/--` and `/-!` open doc comments, which are part
  of a command (a declaration's docstring, a module doc), not whitespace: `skip_trivia` stops at them unless
  asked to treat them as comments;
- identifiers are dotted names whose components are Lean identifiers or «quoted»; a trailing dot is not part of
  a name;
- string literals (with `\\` escapes) and char literals hold no code.

Invariant: no function here changes the text; positions are offsets into the string given (a `str`, as read by
`check_file.read_source`: bytes decoded as strict UTF-8, no newline translation).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass


class LeanLexError(ValueError):
    """The text cannot be read as Lean (a tab, an isolated carriage return, an unterminated comment or string);
    the message starts with the line."""


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    line: int  # 1-based
    col: int  # 0-based, in characters
    depth: int  # bracket depth before the token


def is_id_start(c: str) -> bool:
    return c == "_" or (c.isalpha() and c not in "λΠΣ")


def is_id_rest(c: str) -> bool:
    return is_id_start(c) or c.isdigit() or c in "'!?" or "\u2080" <= c <= "\u209c" or "\u1d62" <= c <= "\u1d6a"


def line_of(src: str, i: int) -> int:
    return src.count("\n", 0, i) + 1


def _block_comment_end(src: str, i: int) -> int:
    """End of the (nested) block comment opened at `i`."""
    n, depth, j = len(src), 1, i + 2
    while depth:
        if j >= n:
            raise LeanLexError(f"line {line_of(src, i)}: unterminated block comment")
        if src.startswith("/-", j):
            depth, j = depth + 1, j + 2
        elif src.startswith("-/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return j


def skip_trivia(src: str, i: int, comments: list[tuple[int, int]] | None = None,
                doc_comments: bool = False) -> int:
    """Index of the next token at or after `i`, skipping what Lean's `whitespace` skips (and doc comments too
    when `doc_comments`). Each comment's span is appended to `comments` when given."""
    n = len(src)
    while i < n:
        c = src[i]
        if c in " \n":
            i += 1
        elif c == "\r":
            if not src.startswith("\r\n", i):
                raise LeanLexError(f"line {line_of(src, i)}: isolated carriage return (Lean rejects it)")
            i += 2
        elif c == "\t":
            raise LeanLexError(f"line {line_of(src, i)}: tab character (Lean rejects tabs)")
        elif src.startswith("--", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            if comments is not None:
                comments.append((i, j))
            i = j
        elif src.startswith("/-", i) and (doc_comments or not src.startswith(("/--", "/-!"), i)):
            j = _block_comment_end(src, i)
            if comments is not None:
                comments.append((i, j))
            i = j
        else:
            return i
    return i


def word_end(src: str, i: int) -> int:
    """End of the identifier (a dotted name, components possibly in «») starting at `i`, or `i` if none."""
    n, j = len(src), i
    while True:
        if j < n and src[j] == "«":
            k = src.find("»", j + 1)
            if k < 0:
                return i
            j = k + 1
        elif j < n and is_id_start(src[j]):
            j += 1
            while j < n and is_id_rest(src[j]):
                j += 1
        else:
            return i if j == i else j - 1  # a trailing dot is not part of the name
        if j < n and src[j] == "." and j + 1 < n and (src[j + 1] == "«" or is_id_start(src[j + 1])):
            j += 1
            continue
        return j


def _string_end(src: str, i: int) -> int:
    j, n = i + 1, len(src)
    while j < n and src[j] != '"':
        j += 2 if src[j] == "\\" else 1
    if j >= n:
        raise LeanLexError(f"line {line_of(src, i)}: unterminated string")
    return j + 1


_CHAR_LITERAL = re.compile(r"'(\\.[^']*|[^\\'\n])'")


def tokens(src: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """Code tokens (identifiers, string and char literals, `:=`, single characters), and the spans of comments
    (doc comments included). No token comes from inside a comment or a literal."""
    out: list[Token] = []
    comments: list[tuple[int, int]] = []
    starts = [0, *(m.end() for m in re.finditer("\n", src))]
    n, depth = len(src), 0
    i = skip_trivia(src, 0, comments, doc_comments=True)
    while i < n:
        line = bisect.bisect_right(starts, i)
        col = i - starts[line - 1]
        c = src[i]
        if c == '"':
            j = _string_end(src, i)
        elif c == "'" and (m := _CHAR_LITERAL.match(src, i)):
            j = m.end()  # a char literal ('a', '\n'); a prime after a name is part of the name
        elif (j := word_end(src, i)) > i:
            pass
        elif c.isdigit():
            j = i + 1
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1  # a numeral, e.g. 42, 0x1F, 1_000
        elif src.startswith(":=", i):
            j = i + 2
        else:
            j = i + 1
        if c in ")]}⟩⦄":
            depth = max(0, depth - 1)
        out.append(Token(i, j, src[i:j], line, col, depth))
        if c in "([{⟨⦃":
            depth += 1
        i = skip_trivia(src, j, comments, doc_comments=True)
    return out, comments


def tactic_steps(block: str) -> list[str]:
    """The top-level tactics of a tactic block (the text after `:= by`), in order, each as its own text.

    The block's column is its first token's. A step starts at each token that begins a line at that column,
    outside brackets; a line there that starts with `|` (an alternative of `induction … with`, `cases … with`,
    `match`) or `<;>` continues the step before, and so does every line indented deeper. A line left of the
    block's column ends the block (what follows is not part of it). Comments and string contents never start
    a step. Each step is cut from its first token to its last, and its continuation lines lose the block's
    indentation, so a step reads as if written at column 0 (the runner's format; `judge.proof_text` indents it
    back). Raises LeanLexError where Lean could not read the text (a tab, an unterminated comment or string)."""
    toks, _ = tokens(block)
    if not toks:
        return []
    col0 = toks[0].col
    spans: list[list[int]] = []  # [start, end] of each step in `block`
    for k, t in enumerate(toks):
        starts_line = k == 0 or toks[k - 1].line != t.line
        if starts_line and t.depth == 0 and t.col < col0:
            break
        if k == 0 or (starts_line and t.depth == 0 and t.col == col0 and t.text != "|"
                      and not block.startswith("<;>", t.start)):
            spans.append([t.start, t.end])
        else:
            spans[-1][1] = t.end
    pad = " " * col0
    return ["\n".join(line.removeprefix(pad) if i else line for i, line in enumerate(block[a:b].split("\n")))
            for a, b in spans]

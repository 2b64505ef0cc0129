"""The shared file formats' one implementation: JSONL rows in and out, and files replaced atomically.

Every JSONL file of the project (benchmarks, `results.jsonl`, autoform's `formalized.jsonl`, training pools
and proofs, memory files, trace blocks) is read by `read_jsonl` and written by `JsonlAppender` (rows added
as they are produced) or `write_jsonl` (a whole file at once); every file that must never be seen
half-written (manifests, reports, generated sources) goes through `atomic_write_text`.

Invariants:
- `read_jsonl` yields `(line number, object)` for each non-blank line; a line that is not a JSON object raises
  `error(f"{path}:{line}: ...")`, unless the caller asked to `skip_bad` (then it is logged with file:line
  and skipped). With `partial_tail_ok` a last line without a newline that does not parse (a write cut short
  by a kill) is skipped silently: that is what a crash-safe appender leaves at worst.
- `JsonlAppender.append` returns only after its rows are flushed and fsynced, so a kill loses no row it
  returned from; opening drops a cut-short last line first, so the next row is not glued onto it.
- `atomic_write_text`: readers see the old file or the new one, never a mix. The temporary file is unique
  per writer (several processes may write the same path) and lives beside the target (same file system).
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A data file is not what it should be; the message starts with `path:line:`."""


def read_jsonl(path: str | os.PathLike, error: type[Exception] = DataError, *, skip_bad: bool = False,
               partial_tail_ok: bool = False) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for each non-blank line of `path` (see the module's invariants)."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    # the text after the final "\n" is "" for a complete file, else a last line with no newline
    tail = len(lines) - 1 if lines[-1].strip() else None
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if partial_tail_ok and i == tail:
                continue  # a write cut short by a kill: the row never finished
            why = f"not valid JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else f"not UTF-8 ({e.reason})"
            _bad(error, skip_bad, f"{path}:{i + 1}: {why}")
            continue
        if not isinstance(row, dict):
            _bad(error, skip_bad, f"{path}:{i + 1}: a row must be a JSON object, got {type(row).__name__}")
            continue
        yield i + 1, row


def _bad(error: type[Exception], skip: bool, message: str) -> None:
    if not skip:
        raise error(message)
    log.warning("skipping a bad row: %s", message)


def read_jsonl_rows(path: str | os.PathLike, error: type[Exception] = DataError, **kw: Any) -> list[dict]:
    """The objects of `read_jsonl`, without line numbers; [] when there is no file."""
    if not Path(path).is_file():
        return []
    return [row for _, row in read_jsonl(path, error, **kw)]


def dumps_row(row: dict) -> str:
    """One JSONL line (no newline): UTF-8 text kept as is, not escaped."""
    return json.dumps(row, ensure_ascii=False)


def drop_partial_tail(path: str | os.PathLike) -> int:
    """Cut a last line that has no newline (a write interrupted by a kill). Returns the bytes dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos, keep = size, 0  # find the last newline, reading backwards in blocks
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            i = f.read(step).rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


class JsonlAppender:
    """Appends JSON rows to `path`, each call's rows flushed and fsynced before it returns (crash-safe).

    Opening an existing file keeps its rows (for `--resume`) but drops an incomplete last line first;
    `dropped_bytes` says how much went.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dropped_bytes = drop_partial_tail(self.path)
        if self.dropped_bytes:
            log.info("%s: dropped a cut-short last line (%d bytes) before appending", self.path, self.dropped_bytes)
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, *rows: dict) -> None:
        for r in rows:
            self._f.write(dumps_row(r) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` with `text` atomically (see the module's invariants); creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")  # unique: writers may race
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as f:  # the text exactly: no newline translation
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """`obj` as JSON (non-JSON values as their `str`), replaced atomically, with a final newline."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=str, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """A whole JSONL file at once, replaced atomically."""
    return atomic_write_text(path, "".join(dumps_row(r) + "\n" for r in rows))

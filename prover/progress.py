"""Progress bars that suit where they are written: redrawn in place on a terminal, whole lines elsewhere.

tqdm redraws its line with carriage returns. Into a pipe or a log file (CI, `> log`) that becomes thousands
of characters on one line. `progress_bar` returns a tqdm whose output, when the stream is not a terminal,
goes through `LineWriter`: the first status as a line, then at most one line every `interval` seconds
(PROVER_PROGRESS_INTERVAL, default 30), and the last status when the bar closes. On a terminal it is tqdm
as usual.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import IO, Any


def default_interval() -> float:
    from . import settings

    return settings.progress_interval()


def is_terminal(stream: IO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineWriter:
    """A file-like object for tqdm that turns its carriage-return redraws into newline-ended lines.

    Invariant: everything written to `stream` ends with a newline, and no "\\r" reaches it. A status is
    written when it is the first, when `interval` seconds passed since the last written one, when tqdm ends
    its line (a "\\n": a bar closing with `leave`), or when tqdm blanks it out (closing without `leave`):
    so a finished bar's final count is always there.
    """

    def __init__(self, stream: IO, interval: float | None = None):
        self.stream = stream
        self.interval = default_interval() if interval is None else interval
        self._pending = ""  # the newest status not yet written
        self._written = ""  # the last status written
        self._last = float("-inf")
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            for chunk in re.split(r"(\r|\n)", s.replace("\x1b[A", "")):  # (and tqdm's cursor-up)
                if chunk == "\n":
                    self._emit(time.monotonic())  # tqdm ends the line: a closing bar's final state
                elif chunk and chunk != "\r":
                    text = chunk.strip()
                    now = time.monotonic()
                    if not text:
                        self._emit(now)  # tqdm blanks the line out (a bar closing without `leave`)
                    else:
                        self._pending = text
                        if not self._written or now - self._last >= self.interval:
                            self._emit(now)
        return len(s)

    def _emit(self, now: float) -> None:
        if self._pending and self._pending != self._written:
            self.stream.write(self._pending + "\n")
            self.stream.flush()
            self._written = self._pending
        self._pending = ""
        self._last = now

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        with self._lock:
            self._emit(time.monotonic())


def quiet_library_bars(stream: IO | None = None) -> None:
    """Off a terminal, silence the bars of the libraries we call (transformers' "Loading weights", the hub's
    downloads): they redraw with carriage returns we cannot turn into lines."""
    if is_terminal(sys.stderr if stream is None else stream):
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def progress_bar(*args: Any, file: IO | None = None, interval: float | None = None, **kwargs: Any):
    """`tqdm(*args, **kwargs)` writing to `file` (default stderr): in place on a terminal, else as lines."""
    from tqdm import tqdm

    stream = sys.stderr if file is None else file
    if is_terminal(stream):
        return tqdm(*args, file=stream, **kwargs)
    writer = LineWriter(stream, interval)
    kwargs.pop("dynamic_ncols", None)  # no terminal to measure
    kwargs.setdefault("ncols", 100)
    kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), min(writer.interval, 1.0))
    bar = tqdm(*args, file=writer, **kwargs)
    close = bar.close

    def close_and_flush() -> None:
        close()
        writer.close()

    bar.close = close_and_flush  # type: ignore[method-assign]
    return bar

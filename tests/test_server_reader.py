"""The server's stdout reader thread: answers are taken only with the process's key, and a pipe closed under
it by a kill or restart ends the stream (None) instead of dying with "I/O operation on closed file"."""
from __future__ import annotations

import io
import queue
from types import SimpleNamespace

from prover.lean.server import LeanServer


def test_reader_keeps_keyed_answers_and_ends_on_a_closed_pipe():
    out = io.StringIO('PFX{"ok": true}\nplain line\nPFX{broken\n')
    answers: queue.Queue = queue.Queue()
    tail: list[str] = []
    LeanServer._read_stdout(SimpleNamespace(stdout=out), answers, tail, "PFX")
    assert answers.get_nowait() == {"ok": True}
    assert answers.get_nowait()["ok"] is False  # an unreadable answer is an error answer, not a crash
    assert answers.get_nowait() is None and tail == ["plain line"]

    closed = io.StringIO("PFX{}\n")
    closed.close()  # what _kill does to the pipe while the thread reads it
    LeanServer._read_stdout(SimpleNamespace(stdout=closed), answers, tail, "PFX")
    assert answers.get_nowait() is None

"""prover/io.py, the one JSONL reader, crash-safe appender and atomic write that every data file goes through."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from prover.io import (DataError, JsonlAppender, atomic_write_json, atomic_write_text, read_jsonl, read_jsonl_rows,
                       write_jsonl)


def test_reader_names_file_and_line_of_a_bad_row(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n{oops\n')
    with pytest.raises(DataError, match=rf"^{p}:4: not valid JSON"):
        list(read_jsonl(p))
    p.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"rows.jsonl:2: a row must be a JSON object, got list"):
        read_jsonl_rows(p, ValueError)
    p.write_text('{"a": 1}\n\n{"a": "é"}\n')
    assert list(read_jsonl(p)) == [(1, {"a": 1}), (3, {"a": "é"})]  # line numbers count blank lines
    assert read_jsonl_rows(tmp_path / "none.jsonl") == []


def test_reader_skips_only_what_it_is_told_to(tmp_path, caplog):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"a": 1}\n{bad\n{"a": 3}\n{"a": 4, "cut sho')  # a bad middle row, a last row cut by a kill
    with pytest.raises(DataError, match=":2:"):
        read_jsonl_rows(p, partial_tail_ok=True)  # a bad middle row is never a cut-short tail
    with caplog.at_level("WARNING"):
        assert read_jsonl_rows(p, skip_bad=True, partial_tail_ok=True) == [{"a": 1}, {"a": 3}]
    assert f"{p}:2: not valid JSON" in caplog.text and ":4:" not in caplog.text  # the tail goes silently
    p.write_text('{"a": 1}\n{bad tail but newline-terminated\n')
    with pytest.raises(DataError, match=":2:"):
        read_jsonl_rows(p, partial_tail_ok=True)  # a finished line that is bad is bad


def test_appender_fsyncs_each_append_and_drops_a_cut_tail_first(tmp_path, monkeypatch):
    p = tmp_path / "sub" / "out.jsonl"
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    with JsonlAppender(p) as w:
        w.append({"n": 1})
        w.append({"n": 2}, {"n": 3})
    assert len(synced) == 2 and read_jsonl_rows(p) == [{"n": 1}, {"n": 2}, {"n": 3}]
    with open(p, "a") as f:
        f.write('{"n": 4, "half')  # killed mid-write
    with JsonlAppender(p) as w:
        assert w.dropped_bytes == len('{"n": 4, "half')
        w.append({"n": 4})
    assert [r["n"] for r in read_jsonl_rows(p)] == [1, 2, 3, 4]


def test_a_killed_appender_loses_no_row_it_returned_from(tmp_path):
    p = tmp_path / "out.jsonl"
    code = ("import os, sys; from prover.io import JsonlAppender\n"
            "w = JsonlAppender(sys.argv[1])\n"
            "for i in range(50): w.append({'n': i})\n"
            "print('done', flush=True); os.kill(os.getpid(), 9)\n")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[1], env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.stdout.strip() == "done" and out.returncode == -9
    assert [r["n"] for r in read_jsonl_rows(p)] == list(range(50))


def test_atomic_write_keeps_the_old_file_when_writing_fails_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "m.json"
    atomic_write_json(p, {"v": 1})
    assert json.loads(p.read_text()) == {"v": 1}
    with pytest.raises(UnicodeEncodeError):  # fails inside the write, after the temporary file exists
        atomic_write_text(p, "x" * 100_000 + "\udc80")
    with pytest.raises(TypeError):
        write_jsonl(p, [{"ok": 1}, {"bad": {1, 2}}])  # a set is no JSON: nothing half-written replaces the file
    assert json.loads(p.read_text()) == {"v": 1} and sorted(x.name for x in tmp_path.iterdir()) == ["m.json"]


def test_concurrent_atomic_writers_never_mix(tmp_path):
    p = tmp_path / "src.lean"
    texts = [f"-- writer {i}\n" + "x" * 200_000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write_text, args=(p, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.read_text() in texts and [x.name for x in tmp_path.iterdir()] == ["src.lean"]

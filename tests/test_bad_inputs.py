"""Every bad input of every command fails within seconds, before Lean starts or a model loads, with a message
naming it (exit code 2); a valid input with nothing to prove exits 3. No Lean here: starting one fails the
test."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "data" / "minif2f_core" / "valid.jsonl"
PRELUDE = ROOT / "data" / "minif2f_core" / "prelude.lean"


@pytest.fixture
def tripwires(monkeypatch):
    """Starting a Lean server, a pool, or loading model weights raises, and is recorded."""
    import transformers

    from prover.lean.pool import LeanPool
    from prover.lean.server import LeanServer

    started: list[str] = []

    def trip(what):
        def f(*a, **k):
            started.append(what)
            raise AssertionError(f"{what} was started for a bad input")
        return f

    monkeypatch.setattr(LeanServer, "_spawn", trip("Lean"))
    monkeypatch.setattr(LeanPool, "start", trip("a Lean pool"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", trip("a model"))
    return started


def dead_url() -> str:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def files(tmp_path):
    lean = tmp_path / "Mine.lean"
    lean.write_text("theorem mine (a b : Nat) : a + b = b + a := by\n  sorry\n")
    orphan = tmp_path / "copied.jsonl"  # a benchmark copied without the prelude.lean beside it
    shutil.copy(VALID, orphan)
    done = tmp_path / "Done.lean"
    done.write_text("theorem done : 1 + 1 = 2 := by decide\n-- theorem later : False := sorry\n")
    return {"lean": str(lean), "orphan": str(orphan), "done": str(done), "tmp": tmp_path}


def cases(f) -> list[tuple[str, list[str], int, str]]:
    url = dead_url()
    out = ["--out", str(f["tmp"] / "run")]
    return [
        ("prove", [str(f["tmp"] / "Missing.lean"), *out], 2, "no such file: .*Missing.lean"),
        ("prove", ["--bench", f["orphan"], *out], 2, "use prelude definitions .* pass --prelude"),
        ("prove", [f["lean"], "--model", "/no/such/model", *out], 2, "no model folder at '/no/such/model'"),
        ("prove", [f["lean"], "--generator", "openai", "--model", url, *out], 2, f"model server {url} is not reachable"),
        ("prove", [f["lean"], "--budget", "max_expansion=3", *out], 2, "bad budget item 'max_expansion=3'"),
        ("prove", [f["lean"], "--generator", "hf+hammer", *out], 2, "unknown generator 'hammer'"),
        ("prove", [f["lean"], "--prelude", "nope.lean", *out], 2, "prelude file not found: nope.lean"),
        ("prove", [f["lean"], "--gen-opt", "temprature=0.3", *out], 2, "unknown --gen-opt temprature"),
        ("prove", ["hello world", *out], 2, "'hello world' is neither a .lean file"),
        ("prove", [f["done"], *out], 3, "has no theorem or lemma whose proof is `sorry`: nothing to prove"),
        ("train", ["--pool", f["orphan"], "--dir", str(f["tmp"] / "it")], 2, "use prelude definitions"),
        ("train", ["--model", "/no/such/model", "--dir", str(f["tmp"] / "it")], 2, "no model folder at"),
        ("train", ["--generator", "hf+hammer", "--dir", str(f["tmp"] / "it")], 2, "unknown generator 'hammer'"),
        ("train", ["--budget", "wall=3", "--dir", str(f["tmp"] / "it")], 2, "bad budget item 'wall=3'"),
        ("autoform", ["--input", str(f["tmp"] / "missing.jsonl")], 2, "input file not found"),
        ("autoform", ["--input", "Show that 1 + 1 = 2.", "--model", "/no/such/model"], 2, "no model folder at"),
        ("autoform", ["--input", "Show that 1 + 1 = 2.", "--model", url], 2, f"model server {url} is not reachable"),
        ("autoform", ["--input", "Show that 1 + 1 = 2.", "--prelude", "nope.lean"], 2, "prelude file not found"),
    ]


def test_bad_inputs_fail_fast_with_a_message_naming_them_and_start_nothing(files, tripwires, capsys, monkeypatch):
    import re

    from autoform.__main__ import main as autoform_main
    from prover.__main__ import main as prover_main
    from prover.train.__main__ import main as train_main

    monkeypatch.chdir(files["tmp"])
    mains = {"prove": lambda a: prover_main(["prove", *a]), "train": train_main, "autoform": autoform_main}
    for cmd, argv, code, message in cases(files):
        t0 = time.monotonic()
        rc = mains[cmd](argv)
        took = time.monotonic() - t0
        err = capsys.readouterr().err
        assert rc == code, (cmd, argv, err)
        assert re.search(message, err), (cmd, argv, err)
        assert len(err.strip().splitlines()) == 1, err  # one line, the reason
        assert took < 20, (cmd, argv, took)
    assert tripwires == []
    assert not (files["tmp"] / "it").exists() or not any((files["tmp"] / "it").rglob("results.jsonl"))
    # the control: the same command with good inputs does reach Lean (so the tripwire works)
    monkeypatch.setenv("PROVER_LEAN_SOCKET", str(files["tmp"] / "no-daemon.sock"))
    with pytest.raises(AssertionError, match="Lean was started"):
        prover_main(["prove", files["lean"], "--generator", "fixed", "--out", str(files["tmp"] / "ok")])
    assert tripwires == ["Lean"]

"""One expert-iteration round end to end (tiny model, 3-problem pool, tiny budget), and a killed round resuming."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.search import Budget
from prover.train import iteration as it
from fakes import tiny_llama

pytestmark = pytest.mark.lean

POOL = [("p_comm", "theorem p_comm (a b : Nat) : a + b = b + a := by sorry"),
        ("p_lt", "theorem p_lt (n : Nat) (h : n < 3) : n < 5 := by sorry"),
        ("p_four", "theorem p_four : 2 + 2 = 4 := by sorry")]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer

    from prover.generate.models import default_model_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(default_model_path())
    path = tmp_path_factory.mktemp("tiny") / "model"
    tiny_llama(tok, bos_token_id=tok.bos_token_id).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def write_pool(path: Path) -> Path:
    path.write_text("".join(json.dumps({"name": n, "core_statement": s, "category": "toy"}) + "\n" for n, s in POOL))
    return path


def test_one_round_writes_every_artifact_and_a_killed_round_resumes(lean, tmp_path, tiny_model, monkeypatch):
    pool = write_pool(tmp_path / "pool.jsonl")
    cfg = it.IterationConfig(pool=pool, bench=pool, root=tmp_path / "iterations", model=str(tiny_model),
                             generator="hf+fixed", budget=Budget(max_expansions=2, samples_per_expansion=2,
                                                                 wall_seconds=30),
                             train_args=["--max-steps", "2", "--lr", "1e-3", "--batch-size", "2"],
                             gen_options={"max_new_tokens": 8}, progress=False)

    # kill the round in the middle of training: prove and collect are recorded, train is not
    import prover.train.launch as launch_mod

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(launch_mod, "launch", killed)
    with pytest.raises(KeyboardInterrupt):
        it.run_iteration(cfg, envs=[lean])
    d = tmp_path / "iterations" / "001"
    m = json.loads((d / "manifest.json").read_text())
    assert m["steps_done"] == ["prove", "collect"] and not m.get("finished")
    prove_rows = (d / "prove" / "results.jsonl").read_text()
    assert m["metrics"]["collect"]["proofs"] == 3  # the fixed tactics prove all three; Lean checked each
    monkeypatch.undo()

    m = it.run_iteration(cfg, envs=[lean])
    assert (d / "prove" / "results.jsonl").read_text() == prove_rows  # not redone
    assert m["steps_done"] == ["prove", "collect", "train", "evaluate"] and m["finished"]
    assert m["metrics"]["train"]["world_size"] == 1 and m["metrics"]["train"]["steps"] == 2
    assert {"prove", "collect", "train", "evaluate", "evaluate_before", "evaluate_after"} <= set(m["step_seconds"])
    assert "lean_start_seconds" not in m  # the caller's server: nothing started here
    for f in ("manifest.json", "report.md", "data/proofs.jsonl", "data/leandojo.json", "data/dataset",
              "train/model/config.json", "train/train_metrics.json", "eval_before/results.jsonl",
              "eval/results.jsonl"):
        assert (d / f).exists(), f
    ev = m["metrics"]["evaluate"]
    assert ev["before"]["total"] == 3 and ev["after"]["total"] == 3
    report = (d / "report.md").read_text()
    assert "before" in report and "after" in report and ("Accepted" in report or "Not accepted" in report)
    assert "| train |" in report and "| evaluate: new model |" in report  # wall time per step
    # the next call starts round 002 from the accepted model (or the same input model if not accepted)
    assert it.iteration_dirs(tmp_path / "iterations") == [d]
    from prover.generate.models import default_model_path

    expected = str((d / "train" / "model").resolve()) if ev["accepted"] else str(default_model_path())
    assert it.current_model(tmp_path / "iterations", None) == expected


def test_a_round_starts_one_lean_for_every_step_and_closes_it(tmp_path, monkeypatch):
    """No real Lean: the steps that need one (prove, collect, both evaluations) get the same server, started once
    with the pool's and the benchmark's preludes (each once), and the round closes it."""
    import prover.run.local as local

    started, closed = [], []

    class Env:
        def close(self):
            closed.append(self)

    def start(n, preludes, imports):
        started.append((n, list(preludes)))
        return [Env() for _ in range(n)]

    monkeypatch.setattr(local, "start_lean_servers", start)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub, text in (("a", "def x := 1"), ("b", "def x := 1")):
        (tmp_path / sub / "prelude.lean").write_text(text)
    cfg = it.IterationConfig(pool=tmp_path / "a" / "pool.jsonl", bench=tmp_path / "b" / "bench.jsonl")
    lean = it.SharedLean(cfg)
    first = lean.envs()
    assert lean.envs() is first and lean.envs()[0] is first[0]
    assert started == [(1, ["def x := 1"])]  # the same prelude text beside both files: added once
    lean.close()
    assert closed == first
    (tmp_path / "b" / "prelude.lean").write_text("def y := 2")
    assert it.round_preludes(cfg) == ["def x := 1", "def y := 2"]
    given = it.SharedLean(cfg, envs=[Env()])
    given.envs()
    given.close()
    assert len(started) == 1 and len(closed) == 1  # the caller's servers are neither started nor closed here

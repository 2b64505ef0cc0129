"""`python -m prover prove` end to end on the toy environment: output files, resume, baseline, Ray."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import ToyEnv, toy_generator, weak_generator
from prover.run.bench import BenchError, load_bench
from prover.run.results import read_results
from prover.run.runner import RunConfig, RunError, run
from prover.search import Budget


def write_bench(path: Path, ns: dict[str, int | str]) -> Path:
    with path.open("w") as f:
        for name, n in ns.items():
            f.write(json.dumps({"name": name, "core_statement": f"theorem {name} : {n} := by\n  sorry",
                                "category": "even" if n in (0, 2) else "odd", "prelude": []}) + "\n")
    return path


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return write_bench(tmp_path / "toy.jsonl", {"t0": 0, "t1": 1, "t2": 2, "t5": 5, "bad": "x + ?"})


def test_run_writes_every_output_and_counts_only_checked_proofs(tmp_path, bench):
    cfg = RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False,
                    budget=Budget(max_expansions=20), baseline=True)
    out = run(cfg, envs=[ToyEnv()], generator=toy_generator(), baseline_generator=weak_generator())
    run_dir = tmp_path / "run"
    for f in ("results.jsonl", "proofs.lean", "report.md", "pass_vs_budget.png", "manifest.json",
              "baseline/results.jsonl"):
        assert (run_dir / f).is_file(), f
    rows = read_results(run_dir / "results.jsonl")
    assert {n for n, r in rows.items() if r.status == "proved"} == {"t0", "t1", "t2", "t5"}
    assert rows["bad"].status == "invalid" and "statement rejected" in rows["bad"].error
    assert rows["t5"].proof == "dec\ndec\ndec\ndec\ndec\nzero" and rows["t5"].verified
    assert all(r.tactic_calls > 0 for n, r in rows.items() if n not in ("t0", "bad"))
    base = read_results(run_dir / "baseline" / "results.jsonl")
    assert {n for n, r in base.items() if r.proved} == {"t0"}
    proofs = (run_dir / "proofs.lean").read_text()
    assert proofs.count("theorem ") == 4 and "theorem t5 : 5 := by\n  dec" in proofs
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["generator"] == "scripted" and manifest["budget"]["max_expansions"] == 20
    assert manifest["data"]["sha256"]
    report = (run_dir / "report.md").read_text()
    assert "80.0" in report and "20.0" in report  # 4/5 proved vs the baseline's 1/5
    assert len(out["rows"]) == 5


def test_resume_skips_finished_theorems_and_refuses_a_changed_configuration(tmp_path, bench):
    cfg = RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False, limit=2)
    env = ToyEnv()
    run(cfg, envs=[env], generator=toy_generator())
    calls_first = env.calls
    with pytest.raises(RunError, match="--resume"):
        run(RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False),
            envs=[env], generator=toy_generator())
    cfg2 = RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False, resume=True)
    # a run killed mid-write leaves half a line: resume drops it and redoes that theorem
    with (tmp_path / "run" / "results.jsonl").open("a") as f:
        f.write('{"name": "t2", "status": "pro')
    env2 = ToyEnv()
    run(cfg2, envs=[env2], generator=toy_generator())
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert set(rows) == {"t0", "t1", "t2", "t5", "bad"}
    started = [s for s in env2.states if len(s) == 1]
    assert calls_first > 0 and {s[0] for s in started} >= {2, 5} and 1 not in {s[0] for s in env2.states[:1]}
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line) for line in lines)
    with pytest.raises(RunError, match=r"settings differ .*budget.max_expansions: 32 -> 3"):
        run(RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False, resume=True,
                      budget=Budget(max_expansions=3)), envs=[env2], generator=toy_generator())


def test_two_workers_share_one_generator_through_the_batcher(tmp_path):
    bench = write_bench(tmp_path / "b.jsonl", {f"t{i}": 6 for i in range(6)})
    gen = toy_generator()
    run(RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False, workers=2),
        envs=[ToyEnv(), ToyEnv()], generator=gen)
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert all(r.proved for r in rows.values()) and len(rows) == 6


def test_bad_benchmarks_name_the_problem(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"name": "a", "core_statement": "theorem a : 1"}\nnot json\n')
    with pytest.raises(BenchError, match=r"b.jsonl:2: not valid JSON"):
        load_bench(p)
    p.write_text('{"name": "a"}\n')
    with pytest.raises(BenchError, match="no statement"):
        load_bench(p)
    with pytest.raises(BenchError, match="not found"):
        load_bench(tmp_path / "missing.jsonl")


def test_ray_actors_search_and_the_driver_writes_results(tmp_path, bench):
    import ray

    cfg = RunConfig(bench=bench, out=tmp_path / "run", generator="scripted", progress=False, workers=2,
                    ray_address="local", ray_actors=2, env_factory="fakes:ToyEnv",
                    generator_factory="fakes:toy_generator")
    try:
        run(cfg, generator=toy_generator())
    finally:
        ray.shutdown()
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert {n for n, r in rows.items() if r.proved} == {"t0", "t1", "t2", "t5"}
    import os

    workers = {r.extra["ray_worker"] for r in rows.values()}
    assert len(workers) == 2 and all(not w.endswith(f":{os.getpid()}") for w in workers)  # two actor processes

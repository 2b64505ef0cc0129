"""The typed configs (prover/config.py): every command's flags come from its dataclass, `--config FILE`
fills it and flags override the file, bad files name the bad key, and `--resume` refuses a run whose
settings (generator options, prelude text, imports, ...) differ, naming each difference. No Lean: the toy
environment and a local OpenAI-style server stand in."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import ToyEnv
from prover.config import ConfigError, ConfigParser, config_diff, parse_kv, parse_value
from prover.run.runner import RunConfig, RunError, run
from prover.search import Budget
from test_generators import FakeOpenAIServer

SCRIPT = {f"⊢ {n}\n": [[("dec", -0.2)]] for n in range(1, 6)} | {"⊢ 0\n": [[("zero", -0.1)]]}


def prove_config(argv: list[str]) -> RunConfig:
    from prover.__main__ import prove_parser

    return prove_parser().parse_config(argv)[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------ flags and files
def test_prove_flags_keep_their_historical_names_and_defaults():
    cfg = prove_config([])
    assert (cfg.generator, cfg.workers, cfg.budget, cfg.imports, cfg.progress, cfg.resume) == \
        ("hf+fixed", 1, Budget(), ("Lean",), True, False)
    cfg = prove_config(["F.lean", "--resume", "--generator", "hf+structural+fixed", "--gen-opt", "temperature=0.8",
                        "--gen-opt", "mode=beam", "--gen-opt", "few_shot=true", "--budget", "max_expansions=4",
                        "--prelude", "a.lean", "--prelude", "b.lean", "--name", "t1", "--import", "Mathlib",
                        "--workers", "2", "--no-progress", "--ray-address", "auto", "--limit", "3"])
    assert cfg.input == "F.lean" and cfg.resume and cfg.generator == "hf+structural+fixed"
    assert cfg.gen_options == {"temperature": 0.8, "mode": "beam", "few_shot": True}
    assert cfg.budget == Budget(max_expansions=4) and cfg.workers == 2 and cfg.limit == 3
    assert [str(p) for p in cfg.preludes] == ["a.lean", "b.lean"] and list(cfg.names) == ["t1"]
    assert list(cfg.imports) == ["Mathlib"] and cfg.progress is False and cfg.ray_address == "auto"
    # a bare on/off flag before the positional does not eat it
    assert prove_config(["--resume", "G.lean"]).input == "G.lean"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_config_file_fills_the_config_and_flags_override_it(tmp_path, suffix):
    values = {"bench": "b.jsonl", "generator": "fixed", "workers": 4, "gen_opt": {"temperature": 0.5, "dtype": "bfloat16"},
              "budget": {"max_expansions": 9}, "prelude": ["p.lean"], "progress": False, "imports": ["Lean"]}
    if suffix == ".yaml":
        import yaml

        f = write(tmp_path / f"run{suffix}", yaml.safe_dump(values))
    else:
        f = write(tmp_path / f"run{suffix}", json.dumps(values))
    cfg = prove_config(["--config", str(f)])
    assert str(cfg.bench) == "b.jsonl" and cfg.generator == "fixed" and cfg.workers == 4
    assert cfg.gen_options == {"temperature": 0.5, "dtype": "bfloat16"} and cfg.budget == Budget(max_expansions=9)
    assert [str(p) for p in cfg.preludes] == ["p.lean"] and cfg.progress is False
    # flags win, also when a flag gives the field's default; a list flag replaces the file's list, a
    # --gen-opt overrides its key only
    cfg = prove_config(["--workers", "1", "--config", str(f), "--prelude", "q.lean", "--gen-opt", "temperature=0.9",
                        "--budget", "max_expansions=2", "--progress"])
    assert cfg.workers == 1 and [str(p) for p in cfg.preludes] == ["q.lean"] and cfg.progress is True
    assert cfg.gen_options == {"temperature": 0.9, "dtype": "bfloat16"} and cfg.budget == Budget(max_expansions=2)
    assert cfg.generator == "fixed"  # not given as a flag: the file's


def test_bad_config_files_are_errors_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'temprature'.*known keys: .*gen_options"):
        prove_config(["--config", str(write(tmp_path / "a.yaml", "generator: fixed\ntemprature: 0.8\n"))])
    with pytest.raises(ConfigError, match=r"key 'workers': expected an integer, got 'many'"):
        prove_config(["--config", str(write(tmp_path / "b.json", '{"workers": "many"}'))])
    with pytest.raises(ConfigError, match=r"key 'budget': bad budget item 'wall=3'"):
        prove_config(["--config", str(write(tmp_path / "c.yaml", "budget: {wall: 3}\n"))])
    with pytest.raises(ConfigError, match=r"c2.yaml: not valid YAML"):
        prove_config(["--config", str(write(tmp_path / "c2.yaml", "a: [1\n"))])
    with pytest.raises(ConfigError, match=r"expected a mapping"):
        prove_config(["--config", str(write(tmp_path / "d.json", "[1, 2]"))])
    with pytest.raises(ConfigError, match=r"config file not found: .*missing.yaml"):
        prove_config(["--config", str(tmp_path / "missing.yaml")])
    with pytest.raises(ConfigError, match=r"bad --gen-opt item 'temperature': expected KEY=VALUE"):
        prove_config(["--gen-opt", "temperature"])


def test_the_command_line_reports_a_bad_config_file_as_bad_input(tmp_path, capsys):
    from prover.__main__ import main

    rc = main(["prove", "--config", str(write(tmp_path / "a.yaml", "workerz: 2\n"))])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown key 'workerz'" in err and len(err.strip().splitlines()) == 1


def test_help_lists_every_setting_with_its_help(capsys):
    from prover.__main__ import prove_parser
    from prover.config import cli_fields

    text = prove_parser().format_help()
    for f in cli_fields(RunConfig):
        flag = f.name if f.metadata.get("positional") else (f.metadata.get("aliases") or
                                                            [f"--{f.name.replace('_', '-')}"])[0]
        assert flag in text, flag
        assert f.metadata["help"].split()[0] in text
    for old in ("--gen-opt", "--prelude", "--import", "--name", "--no-progress", "--ray-address", "--config"):
        assert old in text
    assert "(default: hf+fixed)" in " ".join(text.split()) and "exit codes:" in text


def test_one_key_value_parser():
    assert parse_kv(["temperature=0.8", "mode = beam", "few_shot=TRUE", "seed=3", "stop=none"]) == \
        {"temperature": 0.8, "mode": "beam", "few_shot": True, "seed": 3, "stop": None}
    assert parse_kv("a=1,b=x", sep=",") == {"a": 1, "b": "x"}
    assert parse_value("1e-4") == 1e-4 and parse_value("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="bad --gen-opt item '=3'"):
        parse_kv(["=3"])
    assert config_diff({"a": {"x": 1, "y": 2}, "w": 1}, {"a": {"x": 1, "y": 3}, "w": 2}, ignore=["w"]) == \
        [("a.y", 2, 3)]


# ------------------------------------------------------------------------------------ resume identity
def bench_with_prelude(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    write(d / "prelude.lean", "def double (n : Nat) : Nat := 2 * n\n")
    return write(d / "b.jsonl", "".join(json.dumps({"name": k, "core_statement": f"theorem {k} : {n}"}) + "\n"
                                        for k, n in {"a": 1, "b": 2, "c": 3}.items()))


class NoLean(ToyEnv):
    def start(self, *a, **k):
        raise AssertionError("a refused --resume must not reach Lean")


def test_resume_refuses_a_changed_temperature_prelude_or_import_and_names_the_difference(tmp_path):
    b = bench_with_prelude(tmp_path)
    srv = FakeOpenAIServer(SCRIPT)
    try:
        opts = {"temperature": 1.0, "max_retries": 0, "timeout": 5}
        cfg = RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=srv.url, gen_options=opts,
                        progress=False, budget=Budget(max_expansions=10), limit=2)
        run(cfg, envs=[ToyEnv()])
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["config"]["gen_options"]["temperature"] == 1.0 and manifest["config"]["imports"] == ["Lean"]
        assert manifest["preludes"][0]["sha256"] and manifest["config"]["budget"]["max_expansions"] == 10

        import dataclasses

        same = dataclasses.replace(cfg, resume=True)
        with pytest.raises(RunError, match=r"gen_options.temperature: 1.0 -> 0.8"):
            run(dataclasses.replace(same, gen_options={**opts, "temperature": 0.8}), envs=[NoLean()])
        with pytest.raises(RunError, match=r"gen_options.mode: <unset> -> 'beam'"):
            run(dataclasses.replace(same, gen_options={**opts, "mode": "beam"}), envs=[NoLean()])
        with pytest.raises(RunError, match=r"imports: \['Lean'\] -> \['Lean', 'Std'\]"):
            run(dataclasses.replace(same, imports=("Lean", "Std")), envs=[NoLean()])
        (b.parent / "prelude.lean").write_text("def double (n : Nat) : Nat := n + n\n")
        with pytest.raises(RunError, match=r"prelude_sha256: \['[0-9a-f]{64}'\] -> \['[0-9a-f]{64}'\]"):
            run(same, envs=[NoLean()])
        # several differences: every one is named
        with pytest.raises(RunError) as e:
            run(dataclasses.replace(same, gen_options={**opts, "temperature": 0.8}, imports=("Std",)),
                envs=[NoLean()])
        assert all(k in str(e.value) for k in ("gen_options.temperature", "imports", "prelude_sha256"))
        (b.parent / "prelude.lean").write_text("def double (n : Nat) : Nat := 2 * n\n")
        # what may change: workers, progress, the server's address, timeouts, how many theorems
        env = ToyEnv()
        run(dataclasses.replace(same, workers=1, limit=None, gen_options={**opts, "timeout": 9}), envs=[env])
        assert env.states and len(json.loads((tmp_path / "run" / "manifest.json").read_text())["preludes"]) == 1
    finally:
        srv.close()


def test_the_resume_check_through_the_command_line_runs_before_lean(tmp_path, monkeypatch, capsys):
    from prover.__main__ import main
    from prover.lean.pool import LeanPool
    from prover.lean.server import LeanServer

    b = bench_with_prelude(tmp_path)
    run(RunConfig(bench=b, out=tmp_path / "run", generator="fixed", progress=False,
                  budget=Budget(max_expansions=2)), envs=[ToyEnv()])

    def no_lean(*a, **k):
        raise AssertionError("Lean was started")

    monkeypatch.setattr(LeanServer, "_spawn", no_lean)
    monkeypatch.setattr(LeanPool, "start", no_lean)
    monkeypatch.setenv("PROVER_LEAN_SOCKET", str(tmp_path / "no-daemon.sock"))
    cfg_file = write(tmp_path / "run.yaml", f"bench: {b}\nout: {tmp_path / 'run'}\ngenerator: fixed\n"
                                            "budget: {max_expansions: 2}\nresume: true\n")
    rc = main(["prove", "--config", str(cfg_file), "--import", "Std", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "imports: ['Lean'] -> ['Std']" in err, err
    rc = main(["prove", "--config", str(cfg_file), "--budget", "max_expansions=3"])
    err = capsys.readouterr().err
    assert rc == 2 and "budget.max_expansions: 2 -> 3" in err, err


# ------------------------------------------------------------------------------------ environment settings
def test_environment_settings_are_read_when_called_and_bad_values_name_the_variable(monkeypatch):
    from prover import settings
    from prover.lean.backend import BackendError, cache_root, lean_threads

    monkeypatch.setenv("PROVER_LEAN_MAX_REQUEST_BYTES", "1000")
    assert settings.lean_max_request_bytes() == 1000  # after import: read now, not when the module loaded
    monkeypatch.delenv("PROVER_LEAN_MAX_REQUEST_BYTES")
    assert settings.lean_max_request_bytes() == 256 * 1024
    monkeypatch.setenv("PROVER_CACHE", "/somewhere/else")
    assert cache_root() == Path("/somewhere/else")
    monkeypatch.setenv("PROVER_LEAN_START_TIMEOUT", "soon")
    with pytest.raises(settings.SettingError, match="PROVER_LEAN_START_TIMEOUT='soon': expected a number"):
        settings.lean_start_timeout()
    monkeypatch.setenv("PROVER_LEAN_THREADS", "0")
    with pytest.raises(BackendError, match="PROVER_LEAN_THREADS must be at least 1"):
        lean_threads()
    monkeypatch.setenv("PROVER_LEAN_OS_SANDBOX", "maybe")
    with pytest.raises(ValueError, match="PROVER_LEAN_OS_SANDBOX='maybe'"):
        settings.os_sandbox()
    # every variable the code reads is in the module's table
    import re

    root = Path(__file__).resolve().parents[1]
    read = set()
    for path in [*root.glob("prover/**/*.py"), *root.glob("autoform/*.py"), *root.glob("scripts/*.py")]:
        read |= set(re.findall(r"\b(PROVER_[A-Z_]+)\b", path.read_text()))
    doc = settings.__doc__
    assert {v for v in read if v != "PROVER_TEST_DAEMON"} <= set(settings.SETTINGS) and \
        all(f"`{v}`" in doc for v in settings.SETTINGS)
    # ... and read there only
    direct = [str(p.relative_to(root)) for p in [*root.glob("prover/**/*.py"), *root.glob("autoform/*.py"),
                                                  *root.glob("scripts/*.py")]
              if p.name != "settings.py" and re.search(r"environ(\.get)?\(?\[?\s*[\"'](PROVER_|OPENAI_API_KEY)",
                                                       p.read_text())]
    assert direct == []


# ------------------------------------------------------------------------------------ the other commands
def test_formalize_and_train_flags_and_files(tmp_path):
    from autoform.pipeline import FormalizeConfig
    from autoform.run import RunConfig as FormalizeRun
    from prover.train.iteration import IterationConfig

    ap = ConfigParser([FormalizeRun, FormalizeConfig])
    f = write(tmp_path / "f.yaml", "input: problems.jsonl\nk: 4\nrepair-rounds: 1\ngen_opt: {dtype: bfloat16}\n")
    run_cfg, settings = ap.parse_config(["--config", str(f), "--k", "2", "--no-flags", "--few-shot", "1"])
    assert run_cfg.input == "problems.jsonl" and run_cfg.gen_options == {"dtype": "bfloat16"}
    assert (settings.k, settings.repair_rounds, settings.flags, settings.few_shot) == (2, 1, False, 1)
    with pytest.raises(ConfigError, match="required: --input"):
        ap.parse_config(["--k", "2"])
    ap = ConfigParser(IterationConfig)
    (it,) = ap.parse_config(["--dir", "its", "--train-arg", "--epochs 3 --lr 5e-5", "--train-arg", "--max-steps 2",
                             "--gen-opt", "dtype=bfloat16", "--budget", "max_expansions=8", "--force"])
    assert str(it.root) == "its" and list(it.train_args) == ["--epochs", "3", "--lr", "5e-5", "--max-steps", "2"]
    assert it.gen_options == {"dtype": "bfloat16"} and it.budget.max_expansions == 8 and it.force
    f = write(tmp_path / "t.json", json.dumps({"dir": "x", "train_args": ["--epochs", "1"], "nproc": 2,
                                               "eval_budget": "max_expansions=3"}))
    (it,) = ap.parse_config(["--config", str(f), "--nproc", "1"])
    assert (str(it.root), list(it.train_args), it.nproc, it.eval_budget.max_expansions) == ("x", ["--epochs", "1"], 1, 3)


def test_formalize_resume_refuses_changed_settings_naming_them(tmp_path):
    import dataclasses

    from autoform.run import RunConfig as FormalizeRun
    from autoform.run import RunError as FormalizeError
    from autoform.run import run as formalize
    from autoform.run import run_identity
    from prover.run.manifest import write_manifest

    src = write(tmp_path / "in.jsonl", json.dumps({"name": "p1", "informal_statement": "Show that 2 + 3 = 5."}) + "\n")
    prelude = write(tmp_path / "prelude.lean", "def two : Nat := 2\n")
    cfg = FormalizeRun(input=str(src), out=tmp_path / "run", prelude=prelude, gen_options={"temperature": 1.0},
                       progress=False)
    # the state a first run leaves: a row and the manifest recording its identity
    (tmp_path / "run").mkdir()
    write(tmp_path / "run" / "formalized.jsonl", json.dumps({"name": "p1", "status": "formalized"}) + "\n")
    write_manifest(tmp_path / "run", {"extra": {"autoform": run_identity(cfg)}})
    resume = dataclasses.replace(cfg, resume=True)
    with pytest.raises(FormalizeError, match=r"gen_options.temperature: 1.0 -> 0.7"):
        formalize(dataclasses.replace(resume, gen_options={"temperature": 0.7}), env=object(), sampler=object())
    prelude.write_text("def two : Nat := 1 + 1\n")
    with pytest.raises(FormalizeError, match=r"prelude_sha256: '[0-9a-f]{64}' -> '[0-9a-f]{64}'"):
        formalize(resume, env=object(), sampler=object())


def test_an_unfinished_training_round_refuses_other_settings(tmp_path):
    import dataclasses

    from prover.config import config_dict
    from prover.run.manifest import sha256_file
    from prover.train import iteration as it

    pool = write(tmp_path / "pool.jsonl", json.dumps({"name": "a", "core_statement": "theorem a : 1"}) + "\n")
    cfg = it.IterationConfig(pool=pool, bench=pool, root=tmp_path / "its", train_args=["--epochs", "3"],
                             gen_options={"temperature": 1.0})
    m = {"config": config_dict(cfg), "pool": {"sha256": sha256_file(pool)}, "data": {"sha256": sha256_file(pool)}}
    it._check_same_round(dataclasses.replace(cfg, workers=2, nproc=2, force=True), m, tmp_path / "001")
    with pytest.raises(ValueError, match=r"gen_options.temperature: 1.0 -> 0.5; train_args: \['--epochs', '3'\] -> "
                                         r"\['--epochs', '1'\]"):
        it._check_same_round(dataclasses.replace(cfg, train_args=["--epochs", "1"], gen_options={"temperature": 0.5}),
                             m, tmp_path / "001")


def test_resume_compares_an_adapter_and_a_memory_by_content_not_path(tmp_path):
    """Files named by generator options: a moved one is the same run, an edited one is refused by name."""
    import dataclasses

    b = bench_with_prelude(tmp_path)
    mem = write(tmp_path / "mem.jsonl", json.dumps({"state_before": "⊢ 1 = 1", "tactic": "rfl"}) + "\n")
    cfg = RunConfig(bench=b, out=tmp_path / "run", generator="memory+fixed", gen_options={"memory": str(mem)},
                    progress=False, budget=Budget(max_expansions=2), limit=1)
    run(cfg, envs=[ToyEnv()])
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["option_files"]["memory"][0] and len(manifest["option_files"]["memory"][0]) == 64
    (tmp_path / "elsewhere").mkdir()
    moved = write(tmp_path / "elsewhere" / "mem.jsonl", mem.read_text())
    run(dataclasses.replace(cfg, resume=True, gen_options={"memory": str(moved)}), envs=[ToyEnv()])  # same run
    moved.write_text(mem.read_text() + json.dumps({"state_before": "⊢ 2 = 2", "tactic": "rfl"}) + "\n")
    with pytest.raises(RunError, match=r"option_files_sha256.memory"):
        run(dataclasses.replace(cfg, resume=True, gen_options={"memory": str(moved)}), envs=[NoLean()])


def test_a_wrong_adapter_folder_is_refused_before_anything_loads(tmp_path):
    from prover.run.runner import check_generator_spec

    with pytest.raises(RunError, match=r"adapter=.*nothing: no adapter_config.json there"):
        check_generator_spec("hf+fixed", {"adapter": str(tmp_path / "nothing")})

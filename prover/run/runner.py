"""`python -m prover prove`: best-first search over every theorem of a benchmark, with honest results.

Flow: read the benchmark -> write the manifest -> build the generator once -> start Lean servers (a local
pool, or Ray actors with their own pools) -> search theorems in parallel, appending each result to
`results.jsonl` as it finishes -> `proofs.lean`, `report.md`, `pass_vs_budget.png`. `--resume` skips the
theorems already in `results.jsonl`; `--baseline` runs the fixed-tactic generator over the same theorems
into `baseline/` for the report's comparison row.

Only the verdict of the judge (`prover/lean/judge.py`, a from-scratch `check` of the final text) makes a
theorem "proved".
Every input (benchmark, preludes, model folder or server, generator names and options) is checked by
`preflight` before Lean starts or a model loads. A theorem whose search raised gets a machinery outcome
(prover/outcome.py), never a verdict; `--resume` retries those. `exit_status` turns the rows into the
command's exit code.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..generate.base import TacticGenerator
from ..io import atomic_write_text
from ..outcome import Outcome
from ..search import Budget, ProofEnv
from ..lean.backend import lean_version as _lean_version
from .bench import Problem, load_bench
from .local import (LocalProver, build_generator, close_envs, crashed_result, prove_problem, share_cpu_with_lean,
                    start_lean_servers)
from .manifest import (FILE_OPTIONS, TRANSPORT_OPTIONS, build_manifest, data_info, option_files_info, prelude_info,
                       read_manifest, resume_differences, write_manifest)
from .results import RESULTS_NAME, ResultsWriter, TheoremResult, finished_names, read_results
from ..config import help_meta as _help

BASELINE_GENERATOR = "fixed"

log = logging.getLogger(__name__)


class RunError(ValueError):
    pass



@dataclass
class RunConfig:
    """The settings of `python -m prover prove`: its flags and `--config FILE` keys are these fields
    (prover/config.py), and the manifest records them all. `--resume` refuses a run whose settings differ
    in anything but RESUME_MAY_CHANGE."""

    input: str | None = field(default=None, metadata=_help(
        "a .lean file (every theorem/lemma whose proof is `sorry` is a problem), or one statement",
        positional=True))
    bench: Path | None = field(default=None, metadata=_help(
        "JSONL rows with `name` and `core_statement` (or `statement`)"))
    out: Path | None = field(default=None, metadata=_help("run directory (default: runs/prove-<input name>)"))
    generator: str = field(default="hf+fixed", metadata=_help(
        "tactic generator: hf, openai, fixed, structural, memory, or a sum such as hf+structural+fixed"))
    # a model folder, "default", or a server URL for the openai generator
    model: str | None = field(default=None, metadata=_help(
        "hf: a local model folder (default: the bundled SmolLM2-135M-Instruct); "
        "openai: the server's base URL, e.g. http://localhost:8000/v1"))
    budget: Budget = field(default_factory=Budget, metadata=_help(
        "per-theorem budget as key=value,... (a mapping in a config file): " + ", ".join(
            f"{k}={v}" for k, v in Budget().to_dict().items()), parse=Budget.parse))
    workers: int = field(default=1, metadata=_help("theorems searched at once (one Lean server each)"))
    resume: bool = field(default=False, metadata=_help("keep finished theorems of --out and do the rest"))
    baseline: bool = field(default=False, metadata=_help(
        "also run the fixed-tactic baseline (into OUT/baseline) for the report's comparison"))
    ray_address: str | None = field(default=None, metadata=_help(
        "spread theorems over a Ray cluster: auto, ray://HOST:10001, or local"))
    ray_actors: int | None = field(default=None, metadata=_help("Ray actors (default: one per node)"))
    limit: int | None = field(default=None, metadata=_help("only the first N theorems"))
    names: Sequence[str] = field(default=(), metadata=_help("only this theorem (repeatable)", repeat=True,
                                                            aliases=["--name"]))
    # default: `prelude.lean` beside the benchmark, if there is one
    preludes: Sequence[Path] = field(default=(), metadata=_help(
        "trusted .lean definitions (repeatable; default: prelude.lean beside the benchmark)", repeat=True,
        aliases=["--prelude"]))
    imports: tuple[str, ...] = field(default=("Lean",), metadata=_help(
        "module to import (repeatable; e.g. Mathlib with a native toolchain)", repeat=True, aliases=["--import"]))
    gen_options: dict[str, Any] = field(default_factory=dict, metadata=_help(
        "generator option (repeatable), e.g. temperature=0.8, max_new_tokens=64, mode=beam, dtype=bfloat16",
        kv=True, aliases=["--gen-opt"]))
    progress: bool = field(default=True, metadata=_help("show a progress bar"))
    # Set by the program, not by flags or files:
    # "module:callable" factories used instead of Lean servers / the named generator inside Ray actors
    # (tests; embedding code). Locally, pass objects to `run` instead.
    env_factory: str | None = field(default=None, metadata={"cli": False})
    generator_factory: str | None = field(default=None, metadata={"cli": False})
    argv: Sequence[str] = field(default=(), metadata={"cli": False})
    # what the user gave when `bench` was made from it (a .lean file, a statement)
    source: str | None = field(default=None, metadata={"cli": False})

    def prelude_files(self) -> list[Path]:
        if self.preludes:
            return [Path(p) for p in self.preludes]
        beside = Path(self.bench).parent / "prelude.lean"
        return [beside] if beside.is_file() else []


# ------------------------------------------------------------------------------------------- the run
def _progress(total: int, initial_proved: int, enabled: bool, desc: str):
    from ..progress import progress_bar

    return progress_bar(total=total, desc=desc, unit="thm", disable=not enabled, dynamic_ncols=True,
                        postfix={"proved": initial_proved}, file=sys.stderr)


# Settings a resumed run may change: how it runs, not what it computes. Everything else in the config (and the
# content of the benchmark, preludes and model) must match the run it continues.
RESUME_MAY_CHANGE = (
    "workers", "progress", "resume", "ray_address", "ray_actors",  # parallelism, display, addresses
    "out", "input", "bench", "preludes", "model",  # paths and URLs: compared by content (data/prelude/model_sha256)
    "limit", "names", "baseline",  # which theorems (and passes) this invocation does
    *(f"gen_options.{k}" for k in TRANSPORT_OPTIONS),
    *(f"gen_options.{k}" for k in FILE_OPTIONS),  # paths: compared by content (option_files_sha256)
)


def pass_config(cfg: RunConfig, generator_spec: str | None = None) -> dict:
    """The config recorded for one pass: the run's, or the baseline's (its generator, no options)."""
    from ..config import config_dict

    d = config_dict(cfg)
    if generator_spec is not None:
        d.update(generator=generator_spec, gen_options={}, model=None)
    return d


def _check_resume(out: Path, manifest: dict, resume: bool) -> None:
    """Refuse to write into `out` unless it holds no results, or `resume` continues the same configuration
    (prover.run.manifest.resume_differences, except RESUME_MAY_CHANGE). The message names every difference."""
    old = read_manifest(out)
    has_rows = (out / RESULTS_NAME).is_file() and (out / RESULTS_NAME).stat().st_size > 0
    if not has_rows or old is None:
        return
    if not resume:
        raise RunError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
    diffs = resume_differences(old, manifest, RESUME_MAY_CHANGE)
    if diffs:
        raise RunError(f"--resume: the settings differ from the run in {out} (its value -> this one): "
                       f"{'; '.join(diffs)}; use another --out for a different configuration")


def run_one_pass(cfg: RunConfig, out: Path, generator_spec: str, problems: list[Problem],
                 make_prover: Callable[[TacticGenerator], Any], generator: TacticGenerator | None,
                 model_path: str | None, baseline: bool = False) -> list[TheoremResult]:
    """One generator over the problems into `out` (`baseline`: the baseline pass); returns every row of
    `out/results.jsonl`."""
    manifest = build_manifest(bench_path=cfg.bench, budget=cfg.budget.to_dict(), generator=generator_spec,
                              model_path=model_path, argv=list(cfg.argv), lean_version=_lean_version(),
                              extra={"workers": cfg.workers, "ray_address": cfg.ray_address,
                                     "theorems": len(problems), "source": cfg.source},
                              config=pass_config(cfg, BASELINE_GENERATOR if baseline else None),
                              preludes=cfg.prelude_files())
    _check_resume(out, manifest, cfg.resume)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    done = finished_names(out / RESULTS_NAME) if cfg.resume else set()
    if not cfg.resume and (out / RESULTS_NAME).exists():
        (out / RESULTS_NAME).unlink()
    todo = [p for p in problems if p.name not in done]
    previous = [r for r in read_results(out / RESULTS_NAME).values()] if done else []
    proved = sum(r.proved for r in previous if r.name in {p.name for p in problems})
    if cfg.resume and (out / RESULTS_NAME).is_file():
        retry = [r.name for r in read_results(out / RESULTS_NAME).values()
                 if r.machinery_failure and r.name in {p.name for p in todo}]
        log.info("resume: %d theorems already finished in %s, %d to go%s", len(done), out, len(todo),
                 f" ({len(retry)} retried after machinery failures)" if retry else "")
    if todo:
        prover = make_prover(generator)
        bar = _progress(len(todo), proved, cfg.progress, f"prove[{generator_spec}]")
        attempted = 0
        try:
            with ResultsWriter(out / RESULTS_NAME) as writer:
                for row in prover.prove_all(todo):
                    writer.write(row)
                    attempted += 1
                    proved += row.proved
                    bar.set_postfix(proved=f"{proved}/{attempted + len(done)}", refresh=False)
                    bar.update(1)
        finally:
            bar.close()
            prover.close()
    names = {p.name for p in problems}
    return [r for r in read_results(out / RESULTS_NAME).values() if r.name in names]


def write_proofs_file(out: Path, rows: Sequence[TheoremResult], preludes: Sequence[Path]) -> Path:
    """Every verified proof in one file that `python -m prover check --prelude ...` re-checks."""
    lines = ["-- Proofs found by `python -m prover prove`; every one passed Lean's kernel check on its own.",
             "-- Re-check: python -m prover check proofs.lean" +
             "".join(f" --prelude {p}" for p in preludes), ""]
    for r in sorted(rows, key=lambda r: r.name):
        if r.proved and r.verified and r.proof_text:
            lines += [r.proof_text.rstrip("\n"), ""]
    return atomic_write_text(out / "proofs.lean", "\n".join(lines))


@dataclass
class Plan:
    """What `preflight` found: the problems to search, the prelude files and texts, the model folder."""

    problems: list[Problem]
    prelude_files: list[Path]
    preludes: list[str]
    model_path: str | None


def preflight(cfg: RunConfig, generator_given: bool = False, probe_server: bool = True,
              check_out: bool = True) -> Plan:
    """Check every input before Lean starts or a model loads, so a bad one fails in seconds with a message
    naming it (RunError, BenchError or ModelNotFound, all ValueError/OSError): the benchmark and its rows,
    theorem names, preludes (present, and present when rows need one), the generator's names and options,
    the model folder (hf) or the server's URL and that it answers (openai), and (with `check_out`) that
    `--out` holds no other run unless `--resume` continues the same one."""
    if cfg.bench is None or cfg.out is None:
        raise RunError("a run needs a benchmark (--bench) and a run directory (--out)")
    if cfg.workers < 1:
        raise RunError(f"--workers must be at least 1, got {cfg.workers}")
    problems = load_bench(cfg.bench)
    if cfg.names:
        unknown = set(cfg.names) - {p.name for p in problems}
        if unknown:
            raise RunError(f"unknown theorem names: {', '.join(sorted(unknown))}")
        problems = [p for p in problems if p.name in set(cfg.names)]
    if cfg.limit is not None:
        problems = problems[:cfg.limit]
    prelude_files = cfg.prelude_files()
    for p in prelude_files:
        if not p.is_file():
            raise RunError(f"prelude file not found: {p}")
    needs = sorted({n for p in problems for n in p.preludes})
    if needs and not prelude_files:
        raise RunError(f"theorems of {cfg.bench} use prelude definitions {needs} but no prelude file was "
                       f"found beside it; pass --prelude FILE")
    preludes = [p.read_text() for p in prelude_files]
    out = Path(cfg.out)
    for d, spec in ((out, None), (out / "baseline", BASELINE_GENERATOR)):
        if check_out and (d == out or cfg.baseline):  # a refused --resume costs seconds, not Lean's start-up
            config = pass_config(cfg, spec)
            _check_resume(d, {"data": data_info(cfg.bench), "generator": spec or cfg.generator,
                              "budget": cfg.budget.to_dict(), "config": config,
                              "preludes": prelude_info(prelude_files),
                              "option_files": option_files_info(config.get("gen_options"))}, cfg.resume)
    if generator_given:
        model_path = cfg.model if cfg.model and "://" not in cfg.model else None
        return Plan(problems, prelude_files, preludes, model_path)
    parts = check_generator_spec(cfg.generator, cfg.gen_options)
    model_path = None
    if "hf" in parts:
        from ..generate.models import resolve_model

        model_path = str(resolve_model(cfg.model))
    elif cfg.model and "://" not in cfg.model:
        model_path = cfg.model
    if "openai" in parts and probe_server:
        probe_model_server(cfg.model, cfg.gen_options)
    return Plan(problems, prelude_files, preludes, model_path)


_NOT_OPTIONS = {"self", "model_path", "base_url", "tokenizer", "source", "name"}  # given by the run, not --gen-opt


def check_generator_spec(spec: str, options: dict[str, Any]) -> list[str]:
    """The parts of a generator spec ("hf+fixed"), after checking each name and that every option is one the
    model-backed parts accept. Nothing is loaded."""
    import inspect

    from ..generate.factory import KNOWN

    parts = [s.strip().lower() for s in (spec or "").split("+")]
    if not spec or any(not n for n in parts):
        raise RunError(f"empty generator spec {spec!r}; known generators: {', '.join(KNOWN)}")
    unknown = [n for n in parts if n not in KNOWN]
    if unknown:
        raise RunError(f"unknown generator {unknown[0]!r} in --generator {spec!r}; known: {', '.join(KNOWN)}")
    if "memory" in parts:  # its options name files: check they are there now, not after Lean's start-up
        from ..generate.memory import memory_path

        for path in str(options.get("memory") or "").split(","):
            if path.strip() and not memory_path(path).exists():
                raise RunError(f"--gen-opt memory: no such file or folder: {path.strip()}")
    if "hf" in parts and options.get("adapter"):  # a LoRA folder as `make warm-start` writes it, checked now
        adapter = Path(str(options["adapter"])).expanduser()
        if not (adapter / "adapter_config.json").is_file():
            raise RunError(f"--gen-opt adapter={options['adapter']}: no adapter_config.json there (a LoRA adapter "
                           f"folder, as `make warm-start` writes, is expected)")
    if options:
        from ..generate import factory

        accepted: set[str] = set(getattr(factory, "MEMORY_OPTIONS", ())) if "memory" in parts else set()
        for name in parts:
            if name == "hf":
                from ..generate.hf import HFGenerator as cls
            elif name == "openai":
                from ..generate.openai_api import OpenAIGenerator as cls
            else:
                continue
            sig = inspect.signature(cls.__init__)
            if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
                return parts
            accepted |= {n for n, p in sig.parameters.items()
                         if n not in _NOT_OPTIONS and p.kind is not p.VAR_POSITIONAL}
        bad = sorted(set(options) - accepted)
        if bad:
            raise RunError(f"unknown --gen-opt {', '.join(bad)} for generator {spec!r}"
                           + (f"; accepted: {', '.join(sorted(accepted))}" if accepted else
                              " (it takes no options)"))
    return parts


def probe_model_server(url: str | None, options: dict[str, Any] | None = None, timeout: float = 10.0) -> None:
    """Raise RunError naming the URL unless an OpenAI-compatible server answers `GET /models` there."""
    import json
    import urllib.error
    import urllib.request

    from ..generate.openai_api import normalize_base_url

    if not url or not url.startswith(("http://", "https://")):
        raise RunError(f"generator 'openai' needs the server's URL as --model, e.g. http://localhost:8000/v1 "
                       f"(got {url!r})")
    base = normalize_base_url(url)
    req = urllib.request.Request(base + "/models")
    key = (options or {}).get("api_key")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            return  # it answers; the key is the generator's business
        raise RunError(f"model server {base} answered GET /models with HTTP {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise RunError(f"model server {base} is not reachable ({reason}); start it, or check --model") from None


def exit_status(rows: Sequence[TheoremResult]) -> tuple[int, str]:
    """The exit code of `prove` for the rows of a run, and a one-line reason.

    0: every theorem proved. 1: some theorem was attempted and not proved (failed, out of budget, or a
    machinery failure among real attempts). 3: nothing could be attempted (no theorem, every statement
    refused by Lean) or every attempt was a machinery failure (Lean crashed, the model server was down).
    (2 is bad input, raised before anything runs.)
    """
    n = len(rows)
    proved = sum(r.proved for r in rows)
    machinery = [r for r in rows if r.machinery_failure]
    invalid = sum(r.outcome is Outcome.INVALID for r in rows)
    if n == 0:
        return 3, "nothing to prove: no theorem to attempt"
    if proved == n:
        return 0, f"all {n} theorems proved"
    if proved == 0 and len(machinery) + invalid == n:
        if machinery:
            kinds = ", ".join(sorted({r.status for r in machinery}))
            return 3, (f"no theorem was really attempted: {len(machinery)} machinery failures ({kinds}); "
                       f"first: {(machinery[0].error or '').splitlines()[0][:200]}; fix it and rerun with --resume")
        return 3, f"nothing could be attempted: Lean refused all {n} statements"
    note = f"; {len(machinery)} machinery failures, retried by --resume" if machinery else ""
    return 1, f"{proved}/{n} theorems proved{note}"


def run(cfg: RunConfig, envs: Sequence[ProofEnv] | None = None,
        generator: TacticGenerator | None = None, baseline_generator: TacticGenerator | None = None) -> dict:
    """The whole command. `envs`/`generator` let tests (and embedding code) bring their own."""
    from .report import PLOT_NAME, summary_table, write_report

    plan = preflight(cfg, generator_given=generator is not None)
    problems, prelude_files, preludes, model_path = plan.problems, plan.prelude_files, plan.preludes, plan.model_path
    out = Path(cfg.out)

    if "hf" in cfg.generator.split("+") and generator is None:
        share_cpu_with_lean(cfg.workers if not cfg.ray_address else 0)
    # The model loads here, after every input was checked and before paying for Lean's start-up.
    if generator is None:
        from ..progress import quiet_library_bars

        quiet_library_bars()
    gen = generator or build_generator(cfg.generator, model_path or cfg.model, cfg.gen_options)
    base_gen = None
    if cfg.baseline:
        base_gen = baseline_generator or build_generator(BASELINE_GENERATOR, None, {})

    t0 = time.monotonic()
    started: list[Any] = []  # what this run started, and so must stop
    if cfg.ray_address:
        from .ray_runner import RayPool

        ray_pool = RayPool(cfg, preludes)
        started.append(ray_pool)
        make = lambda g: ray_pool.prover(g.name)  # noqa: E731
    else:
        if envs is None:
            log.info("starting %d Lean server(s) (about a minute on the embedded backend; "
                     "`make daemon-start` keeps one warm)...", cfg.workers)
            envs = start_lean_servers(cfg.workers, preludes, cfg.imports)
            started.extend(envs)
        make = lambda g: LocalProver(envs, g, cfg.budget)  # noqa: E731
    start_seconds = time.monotonic() - t0
    try:
        rows = run_one_pass(cfg, out, gen.name, problems, make, gen, model_path)
        base_rows = None
        if base_gen is not None:
            base_rows = run_one_pass(cfg, out / "baseline", base_gen.name, problems, make, base_gen, None,
                                     baseline=True)
            write_proofs_file(out / "baseline", base_rows, prelude_files)
    finally:
        close_envs(started)
    manifest = read_manifest(out) or {}
    manifest.setdefault("extra", {})["lean_start_seconds"] = round(start_seconds, 1)
    manifest["generator_stats"] = {"calls": gen.stats.calls, "prompts": gen.stats.prompts,
                                   "candidates": gen.stats.candidates, "seconds": round(gen.stats.seconds, 2),
                                   "tokens_generated": gen.stats.tokens_generated}
    from datetime import datetime, timezone

    manifest["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest["wall_seconds"] = round(time.monotonic() - t0, 1)
    write_manifest(out, manifest)
    write_proofs_file(out, rows, prelude_files)
    report = write_report(out, rows, manifest=manifest, baseline_rows=base_rows)  # draws the plot too
    plot = out / PLOT_NAME if (out / PLOT_NAME).is_file() else "(not drawn: see the report)"
    table = summary_table(rows, base_rows)
    print(table)
    print(f"results: {out / RESULTS_NAME}\nreport:  {report}\nplot:    {plot}\nproofs:  {out / 'proofs.lean'}")
    return {"rows": rows, "baseline_rows": base_rows, "report": report, "out": out}


__all__ = ["RunConfig", "RunError", "LocalProver", "Plan", "preflight", "exit_status", "prove_problem", "run",
           "write_proofs_file", "load_bench", "start_lean_servers", "build_generator", "close_envs",
           "crashed_result"]

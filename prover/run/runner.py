"""`python -m prover prove`: best-first search over every theorem of a benchmark, with honest results.

Flow: read the benchmark -> write the manifest -> build the generator once -> start Lean servers (a local
pool, or Ray actors with their own pools) -> search theorems in parallel, appending each result to
`results.jsonl` as it finishes -> `proofs.lean`, `report.md`, `pass_vs_budget.png`. `--resume` skips the
theorems already in `results.jsonl`; `--baseline` runs the fixed-tactic generator over the same theorems
into `baseline/` for the report's comparison row.

Only the verdict of `verify_proof` (a from-scratch `check` of the final text) makes a theorem "proved".
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..generate.base import TacticGenerator
from ..search import BestFirstSearch, Budget, ProofEnv
from .bench import Problem, load_bench
from .manifest import build_manifest, read_manifest, write_manifest
from .results import RESULTS_NAME, ResultsWriter, TheoremResult, finished_names, read_results

ROOT = Path(__file__).resolve().parents[2]
BASELINE_GENERATOR = "fixed"


class RunError(ValueError):
    pass


@dataclass
class RunConfig:
    bench: Path
    out: Path
    generator: str = "hf+fixed"
    model: str | None = None  # a model folder, "default", or a server URL for the openai generator
    budget: Budget = field(default_factory=Budget)
    workers: int = 1  # theorems searched at once on this machine (one Lean server each)
    resume: bool = False
    baseline: bool = False
    ray_address: str | None = None  # "auto", "ray://host:10001", or "local" to start a local cluster
    ray_actors: int | None = None  # default: one per node of the cluster
    # "module:callable" factories used instead of Lean servers / the named generator inside Ray actors
    # (tests; embedding code). Locally, pass objects to `run` instead.
    env_factory: str | None = None
    generator_factory: str | None = None
    limit: int | None = None  # only the first N theorems
    names: Sequence[str] = ()  # only these theorems
    preludes: Sequence[Path] = ()  # default: `prelude.lean` beside the benchmark, if there is one
    imports: tuple[str, ...] = ("Lean",)
    gen_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    argv: Sequence[str] = ()

    def prelude_files(self) -> list[Path]:
        if self.preludes:
            return [Path(p) for p in self.preludes]
        beside = Path(self.bench).parent / "prelude.lean"
        return [beside] if beside.is_file() else []


# ---------------------------------------------------------------------------------------------- one theorem
def prove_problem(env: ProofEnv, generator: TacticGenerator, problem: Problem, budget: Budget) -> TheoremResult:
    """Search one theorem; the result row of `results.jsonl`."""
    restarts_before = getattr(env, "restarts", 0)
    res = BestFirstSearch(env, generator, budget).search(problem.statement, problem.name)
    extra: dict[str, Any] = {"stop_reason": res.stop_reason, "slowest_tactic": res.slowest_tactic}
    if res.rejected:
        extra["rejected_proofs"] = res.rejected
    if res.hazards:
        extra["hazard_states"] = res.hazards
    if res.proof_sources:
        extra["proof_sources"] = res.proof_sources
    if res.closed_by_closer:
        extra["closed_by_closer"] = res.closed_by_closer
    restarts = getattr(env, "restarts", 0) - restarts_before
    if isinstance(restarts, int) and restarts > 0:
        extra["lean_restarts"] = restarts
    return TheoremResult(
        name=problem.name, category=problem.category, status=res.status,
        proof="\n".join(res.proof) if res.proof else None, proof_text=res.proof_text, verified=res.verified,
        generator=generator.name, expansions=res.expansions, expansions_to_proof=res.expansions_to_proof,
        tactic_calls=res.tactic_calls, nodes=res.nodes, lean_seconds=round(res.lean_seconds, 3),
        model_seconds=round(res.model_seconds, 3), wall_seconds=round(res.wall_seconds, 3),
        seconds_to_proof=None if res.seconds_to_proof is None else round(res.seconds_to_proof, 3),
        error=res.error, extra=extra)


def crashed_result(problem: Problem, generator: str, err: BaseException) -> TheoremResult:
    """A theorem whose search raised (a bug or a dead backend): recorded, and the run goes on."""
    return TheoremResult(name=problem.name, category=problem.category, status="error", generator=generator,
                         error=f"{type(err).__name__}: {err}")


# --------------------------------------------------------------------------------------- local execution
class LocalProver:
    """Searches theorems on this machine: one thread per Lean server, one shared generator.

    With several workers the generator is wrapped in a BatchingGenerator, so concurrent searches' requests
    reach the model as one batch.
    """

    def __init__(self, envs: Sequence[ProofEnv], generator: TacticGenerator, budget: Budget):
        if not envs:
            raise ValueError("LocalProver needs at least one Lean server")
        self.envs, self.budget = list(envs), budget
        self.generator = generator
        self._batcher = None
        if len(self.envs) > 1:
            from ..generate.batching import BatchingGenerator

            self.generator = self._batcher = BatchingGenerator(generator, max_batch=4 * len(self.envs))
        self._free: list[ProofEnv] = list(self.envs)
        self._cv = threading.Condition()

    def _borrow(self) -> ProofEnv:
        with self._cv:
            while not self._free:
                self._cv.wait()
            return self._free.pop()

    def _give_back(self, env: ProofEnv) -> None:
        clear = getattr(env, "clear", None)
        if clear is not None:
            try:
                clear()
            except Exception:  # a failed clear costs memory only; a broken server restarts on its next request
                pass
        with self._cv:
            self._free.append(env)
            self._cv.notify()

    def prove(self, problem: Problem) -> TheoremResult:
        env = self._borrow()
        try:
            return prove_problem(env, self.generator, problem, self.budget)
        except Exception as e:  # noqa: BLE001 - one theorem's crash must not end the run
            return crashed_result(problem, self.generator.name, e)
        finally:
            self._give_back(env)

    def prove_all(self, problems: Iterable[Problem]) -> Iterable[TheoremResult]:
        """Results in completion order."""
        with ThreadPoolExecutor(len(self.envs)) as ex:
            futures = [ex.submit(self.prove, p) for p in problems]
            for fut in as_completed(futures):
                yield fut.result()

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()  # stops its thread; the wrapped generator stays usable


def start_lean_servers(n: int, preludes: Sequence[str], imports: tuple[str, ...]) -> list[Any]:
    """n warm servers: a running daemon with the same preludes serves when n == 1, else a local pool."""
    from ..lean import LeanPool, open_server

    if n == 1:
        return [open_server(preludes=list(preludes), imports=imports, request_timeout=300)]
    pool = LeanPool(n, preludes=list(preludes), imports=imports, request_timeout=300)
    pool.start()
    return pool.servers


def build_generator(spec: str, model: str | None, options: dict[str, Any]) -> TacticGenerator:
    from ..generate.factory import build_generator as build

    return build(spec, model=model, options=options)


# ------------------------------------------------------------------------------------------- the run
def _progress(total: int, initial_proved: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="thm", disable=not enabled, dynamic_ncols=True,
                postfix={"proved": initial_proved}, file=sys.stderr)


def _check_resume(out: Path, manifest: dict, resume: bool) -> None:
    old = read_manifest(out)
    has_rows = (out / RESULTS_NAME).is_file() and (out / RESULTS_NAME).stat().st_size > 0
    if not has_rows or old is None:
        return
    if not resume:
        raise RunError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
    for key, get in (("data", lambda m: (m.get("data") or {}).get("sha256")), ("generator", lambda m: m.get("generator")),
                     ("budget", lambda m: m.get("budget")), ("model", lambda m: (m.get("model") or {}).get("sha256"))):
        if get(old) != get(manifest):
            raise RunError(f"--resume: the {key} differs from the run in {out} ({get(old)!r} != {get(manifest)!r}); "
                           "use another --out for a different configuration")


def _lean_version() -> str:
    try:
        from ..lean import find_backend

        backend = find_backend().name
    except Exception:  # noqa: BLE001 - the manifest records what it can
        backend = "unknown"
    toolchain = (ROOT / "lean_project" / "lean-toolchain").read_text().strip()
    return f"{backend} backend, {toolchain}" if backend == "embedded" else f"{backend} backend"


def run_one_pass(cfg: RunConfig, out: Path, generator_spec: str, problems: list[Problem],
                 make_prover: Callable[[TacticGenerator], Any], generator: TacticGenerator | None,
                 model_path: str | None) -> list[TheoremResult]:
    """One generator over the problems into `out`; returns every row of `out/results.jsonl`."""
    manifest = build_manifest(bench_path=cfg.bench, budget=cfg.budget.to_dict(), generator=generator_spec,
                              model_path=model_path, argv=list(cfg.argv), lean_version=_lean_version(),
                              extra={"workers": cfg.workers, "ray_address": cfg.ray_address,
                                     "theorems": len(problems)})
    _check_resume(out, manifest, cfg.resume)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    done = finished_names(out / RESULTS_NAME) if cfg.resume else set()
    if not cfg.resume and (out / RESULTS_NAME).exists():
        (out / RESULTS_NAME).unlink()
    todo = [p for p in problems if p.name not in done]
    previous = [r for r in read_results(out / RESULTS_NAME).values()] if done else []
    proved = sum(r.proved for r in previous if r.name in {p.name for p in problems})
    if done:
        print(f"resume: {len(done)} theorems already finished in {out}, {len(todo)} to go", file=sys.stderr)
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
    path = out / "proofs.lean"
    path.write_text("\n".join(lines))
    return path


def run(cfg: RunConfig, envs: Sequence[ProofEnv] | None = None,
        generator: TacticGenerator | None = None, baseline_generator: TacticGenerator | None = None) -> dict:
    """The whole command. `envs`/`generator` let tests (and embedding code) bring their own."""
    from .report import plot_pass_vs_budget, summary_table, write_report

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
        raise RunError(f"theorems use prelude definitions {needs} but no prelude file was found; pass --prelude")
    preludes = [p.read_text() for p in prelude_files]
    out = Path(cfg.out)

    model_path = None
    if generator is None and "hf" in cfg.generator.split("+"):
        from ..generate.models import resolve_model

        model_path = str(resolve_model(cfg.model))
    elif cfg.model and "://" not in cfg.model:
        model_path = cfg.model

    if "hf" in cfg.generator.split("+") and generator is None:
        _share_cpu_with_lean(cfg.workers if not cfg.ray_address else 0)
    # Fail on configuration errors before paying for Lean's start-up.
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
            print(f"starting {cfg.workers} Lean server(s) (minutes on the embedded backend; "
                  "`make daemon-start` keeps one warm)...", file=sys.stderr)
            envs = start_lean_servers(cfg.workers, preludes, cfg.imports)
            started.extend(envs)
        make = lambda g: LocalProver(envs, g, cfg.budget)  # noqa: E731
    start_seconds = time.monotonic() - t0
    try:
        rows = run_one_pass(cfg, out, gen.name, problems, make, gen, model_path)
        base_rows = None
        if base_gen is not None:
            base_rows = run_one_pass(cfg, out / "baseline", base_gen.name, problems, make, base_gen, None)
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
    report = write_report(out, rows, manifest=manifest, baseline_rows=base_rows)
    plot = plot_pass_vs_budget(out, rows, base_rows)
    table = summary_table(rows, base_rows)
    print(table)
    print(f"results: {out / RESULTS_NAME}\nreport:  {report}\nplot:    {plot}\nproofs:  {out / 'proofs.lean'}")
    return {"rows": rows, "baseline_rows": base_rows, "report": report, "out": out}


def _share_cpu_with_lean(lean_processes: int) -> None:
    """On a CPU, leave one core per Lean server: torch's default of all cores fights Lean for them, and on
    2 cores one generation took 38-86 s with 2 threads against 7.6 s with 1 (scripts/bench_generate.py)."""
    import os

    import torch

    if not torch.cuda.is_available() and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - lean_processes))


def close_envs(envs: Sequence[Any]) -> None:
    for e in envs:
        close = getattr(e, "close", None)
        if close:
            close()


__all__ = ["RunConfig", "RunError", "LocalProver", "prove_problem", "run", "write_proofs_file", "load_bench"]

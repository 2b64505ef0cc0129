"""One round of expert iteration: prove -> collect -> train -> evaluate, each step recorded so a killed round
resumes at the first unfinished step without redoing or losing work.

    iterations/NNN/
      manifest.json      input model + hash, pool/bench hashes, Lean version, budgets, git, steps done, metrics
      prove/             the prover's run over the training pool (results.jsonl resumes theorem by theorem)
      data/              verified proofs (proofs.jsonl), the datasets dataset, leandojo.json (merged over rounds),
                         memory.jsonl (the retrieval learner's pairs: the previous round's plus this round's)
      train/             ZeRO-3 checkpoints, train_metrics.json, model/ (the consolidated Hugging Face folder)
      eval_before/       the benchmark with the input model (first round only; later rounds reuse the last eval)
      eval/              the benchmark with the new model
      report.md          before/after: pass rate, expansions to proof, proofs gained and lost; accepted or not

One Lean server (with the preludes of the pool and of the benchmark) serves the whole round: it starts when a
step first needs it (the embedded backend takes minutes to start) and is closed when the round ends; it idles
while the trainer runs in its own processes. The manifest records the wall seconds of every step and of Lean's
start-up, and report.md shows them.

With a "memory" generator (generate/memory.py) the round also learns without gradients: collect appends the
round's verified (state, tactic) pairs to the memory (seconds), this round's evaluation and the next round's
prover use it. A generator without "hf" skips the train step. Memory only grows (its pairs are facts Lean
checked), so it carries over whether or not the round is accepted.

The new model becomes the current one (`iterations/current_model`) only if it is better on the benchmark
(`compare_evals`: more proved; else as many with fewer mean expansions to proof; else as many, same expansions, and
less mean wall time to proof), or when `--force` is given; report.md names the criterion that decided. The pool's
search may have a larger budget (`--budget`, exploration) than the benchmark's (`--eval-budget`, comparable with
`make prove`); the report states both.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import config_diff, config_dict, describe_diff
from ..config import help_meta as _help
from ..io import atomic_write_text, write_jsonl
from ..run.bench import load_bench
from ..run.manifest import TRANSPORT_OPTIONS, build_manifest, model_fingerprint, read_manifest, sha256_file, write_manifest
from ..run.results import TheoremResult, read_results
from ..run.runner import RunConfig, run
from ..search import Budget
from .collect import collect, load_proofs, save

log = logging.getLogger(__name__)

STEPS = ("prove", "collect", "train", "evaluate")
MEMORY = "memory.jsonl"  # in a round's data/: the memory learner's pairs after that round
CURRENT = "current_model"  # a text file in the iterations folder: the path of the accepted model


ROOT = Path(__file__).resolve().parents[2]



@dataclass
class IterationConfig:
    """The settings of `python -m prover.train` (its flags and `--config FILE` keys, prover/config.py); the
    round's manifest records them, and the prove and evaluate steps refuse to resume with other settings."""

    pool: Path = field(default=ROOT / "data" / "train_pool" / "pool_plus.jsonl", metadata=_help(
        "training pool: JSONL theorems the prover tries, whose verified proofs become training data"))
    bench: Path = field(default=ROOT / "data" / "minif2f_core" / "valid.jsonl", metadata=_help(
        "benchmark that decides whether the new model is taken"))
    root: Path = field(default=Path("iterations"), metadata=_help("where iterations/NNN/ live",
                                                                  aliases=["--dir"]))
    model: str | None = field(default=None, metadata=_help(
        "input model (default: the current accepted one, else the bundled one)"))
    generator: str = field(default="hf+fixed", metadata=_help("tactic generator for proving and evaluating"))
    budget: Budget = field(default_factory=Budget, metadata=_help(
        "prove/eval budget, key=value,... (a mapping in a config file)", parse=Budget.parse))
    eval_budget: Budget | None = field(default=None, metadata=_help(
        "the benchmark's budget, if not --budget", parse=Budget.parse))
    nproc: int = field(default=1, metadata=_help("training processes on this machine"))
    force: bool = field(default=False, metadata=_help("take the new model even if the benchmark says no"))
    workers: int = field(default=1, metadata=_help("theorems searched at once (one Lean server each)"))
    # extra trainer flags, e.g. ("--max-steps", "20", "--lr", "1e-4")
    train_args: Sequence[str] = field(default=(), metadata=_help(
        'extra trainer flags (repeatable; each split on spaces: --train-arg "--epochs 3 --lr 5e-5")',
        repeat=True, split=True, aliases=["--train-arg"]))
    gen_options: dict[str, Any] = field(default_factory=dict, metadata=_help(
        "generator option for proving and evaluating (repeatable), as for `python -m prover prove` "
        "(e.g. dtype=bfloat16, temperature=0.8)", kv=True, aliases=["--gen-opt"]))
    progress: bool = field(default=True, metadata=_help("show progress bars"))


# What an unfinished round may be resumed with differently: how it runs and whether it forces acceptance. The
# pool and benchmark are compared by content; the input model is the one the round started with.
RESUME_MAY_CHANGE = ("workers", "progress", "nproc", "root", "force", "pool", "bench", "model",
                     *(f"gen_options.{k}" for k in TRANSPORT_OPTIONS))


def _check_same_round(cfg: IterationConfig, m: dict, d: Path) -> None:
    """Refuse to continue round `d` with other settings than it started with, naming each difference."""
    old = {**m["config"], "pool_sha256": (m.get("pool") or {}).get("sha256"),
           "bench_sha256": (m.get("data") or {}).get("sha256")}
    new = {**config_dict(cfg), "pool_sha256": sha256_file(cfg.pool), "bench_sha256": sha256_file(cfg.bench)}
    diffs = config_diff(old, new, ignore=RESUME_MAY_CHANGE)
    if diffs:
        raise ValueError(f"iteration {d.name} is unfinished and was started with other settings (its value -> "
                         f"this one): {describe_diff(diffs)}; rerun with those, or use another --dir")


def iteration_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("[0-9][0-9][0-9]") if p.is_dir())


def current_model(root: Path, given: str | None) -> str:
    if given:
        return given
    f = root / CURRENT
    if f.is_file() and f.read_text().strip():
        return f.read_text().strip()
    from ..generate.models import default_model_path

    return str(default_model_path())


def uses_memory(cfg: IterationConfig) -> bool:
    return "memory" in [p.strip().lower() for p in cfg.generator.split("+")]


def memory_before(root: Path, d: Path) -> Path | None:
    """The memory a round starts from: the last earlier round's `data/memory.jsonl` (None in the first)."""
    for p in reversed([p for p in iteration_dirs(root) if p.name < d.name]):
        if (p / "data" / MEMORY).is_file():
            return p / "data" / MEMORY
    return None


def gen_options_with_memory(cfg: IterationConfig, memory: Path | None) -> dict[str, Any]:
    """The generator options with `memory` joined to any memory the caller gave (e.g. a traced corpus)."""
    opts = dict(cfg.gen_options)
    if uses_memory(cfg):
        given = [p for p in str(opts.get("memory") or "").split(",") if p.strip()]
        opts["memory"] = ",".join(given + ([str(memory)] if memory else [])) or None
    return opts


def _manifest(d: Path) -> dict:
    return read_manifest(d) or {}


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _pass(rows: Sequence[TheoremResult]) -> dict:
    proved = [r for r in rows if r.proved]
    return {"proved": len(proved), "total": len(rows), "pass_rate": len(proved) / max(1, len(rows)),
            "mean_expansions_to_proof": _mean([r.expansions_to_proof for r in proved if r.expansions_to_proof]),
            "mean_seconds_to_proof": _mean([r.seconds_to_proof for r in proved if r.seconds_to_proof is not None]),
            "proved_names": sorted(r.name for r in proved)}


def compare_evals(before: dict, after: dict) -> tuple[bool, str]:
    """Whether `after` (an `_pass` dict) beats `before`, and the criterion that decided, in this order: theorems
    proved; then (as many proved) mean expansions to proof; then (those equal too) mean wall seconds to proof.
    A mean missing on either side (no proofs, or an evaluation from before the field existed) decides nothing."""
    if after["proved"] != before["proved"]:
        return after["proved"] > before["proved"], (
            f"theorems proved ({before['proved']} -> {after['proved']})")
    for key, what in (("mean_expansions_to_proof", "mean expansions to proof"),
                      ("mean_seconds_to_proof", "mean wall seconds to proof")):
        b, a = before.get(key), after.get(key)
        if a is not None and b is not None and a != b:
            return a < b, f"as many proved; {what} ({b:.2f} -> {a:.2f})"
    missing = [what for key, what in (("mean_expansions_to_proof", "expansions"), ("mean_seconds_to_proof",
               "wall seconds")) if before.get(key) is None or after.get(key) is None]
    return False, ("no difference (as many proved, same mean expansions and wall seconds to proof)" if not missing
                   else f"no difference (as many proved; mean {' and '.join(missing)} to proof not recorded on "
                        f"both sides, so not compared)")


def run_iteration(cfg: IterationConfig, envs: Sequence[Any] | None = None) -> dict:
    """Run (or resume) the next round; returns its manifest. `envs` lets tests share a Lean server."""
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    dirs = iteration_dirs(root)
    if dirs and _manifest(dirs[-1]).get("finished"):
        d = root / f"{int(dirs[-1].name) + 1:03d}"
    else:
        d = dirs[-1] if dirs else root / "001"
    d.mkdir(parents=True, exist_ok=True)
    m = _manifest(d)
    if not m:
        model = current_model(root, cfg.model)
        base = build_manifest(bench_path=cfg.bench, budget=asdict(cfg.budget), generator=cfg.generator,
                              model_path=model, argv=list(sys.argv), lean_version=None, config=config_dict(cfg))
        m = {**base, "iteration": int(d.name), "input_model": model, "pool": {"path": str(cfg.pool),
             "sha256": sha256_file(cfg.pool)}, "eval_budget": asdict(cfg.eval_budget or cfg.budget),
             "nproc": cfg.nproc, "gen_options": dict(cfg.gen_options), "train_args": list(cfg.train_args),
             "steps_done": [], "metrics": {}}
        write_manifest(d, m)
    elif "config" in m:
        _check_same_round(cfg, m, d)
    model = m["input_model"]
    log.info("iteration %s: input model %s; steps done: %s", d.name, model, m['steps_done'] or 'none')
    lean = SharedLean(cfg, envs)
    m.setdefault("step_seconds", {})

    def done(step: str, t0: float, lean_before: float, **metrics: Any) -> None:
        m["steps_done"].append(step)
        m["metrics"][step] = metrics
        # this step's own time: Lean's start-up (once per round) is recorded apart
        m["step_seconds"][step] = round(time.monotonic() - t0 - (lean.start_seconds - lean_before), 1)
        if lean.start_seconds:
            m["lean_start_seconds"] = round(lean.start_seconds, 1)
        write_manifest(d, m)

    try:
        _steps(cfg, root, d, m, model, lean, done)
    finally:
        lean.close()
    m["finished"] = True
    write_manifest(d, m)
    print((d / "report.md").read_text())
    return m


def _steps(cfg: IterationConfig, root: Path, d: Path, m: dict, model: str, lean: "SharedLean", done) -> None:
    pool = [p for p in load_bench(cfg.pool)]
    if "prove" not in m["steps_done"]:
        t0, l0 = time.monotonic(), lean.start_seconds
        out = run(RunConfig(bench=cfg.pool, out=d / "prove", generator=cfg.generator, model=model,
                            budget=cfg.budget, resume=True, workers=cfg.workers,
                            gen_options=gen_options_with_memory(cfg, memory_before(root, d)),
                            progress=cfg.progress, argv=list(sys.argv)), envs=lean.envs())
        done("prove", t0, l0, **{k: v for k, v in _pass(out["rows"]).items() if k != "proved_names"})

    if "collect" not in m["steps_done"]:
        t0, l0 = time.monotonic(), lean.start_seconds
        rows = list(read_results(d / "prove" / "results.jsonl").values())
        prev = [p for p in iteration_dirs(root) if p.name < d.name]
        earlier = load_proofs(prev[-1] / "data" / "proofs.jsonl") if prev else []
        kept, rejected = collect(lean.envs()[0], pool, rows, source=d.name, earlier=earlier)
        info = save(kept, d / "data")
        write_jsonl(d / "data" / "rejected.jsonl", (asdict(r) for r in rejected))
        if uses_memory(cfg):
            info.update(update_memory(memory_before(root, d), d / "data" / "proofs.jsonl", d / "data" / MEMORY))
        done("collect", t0, l0, **info, rejected=len(rejected))

    if "train" not in m["steps_done"]:
        t0, l0 = time.monotonic(), lean.start_seconds
        if m["metrics"]["collect"]["examples"] == 0:
            done("train", t0, l0, skipped="no training examples")
        elif "hf" not in [p.strip().lower() for p in cfg.generator.split("+")]:
            done("train", t0, l0, skipped=f"generator {cfg.generator!r} has no model to train")
        else:
            from .launch import launch

            launch(["--model", model, "--data", str(d / "data" / "dataset"), "--out", str(d / "train"),
                    *cfg.train_args], nproc=cfg.nproc)
            metrics = json.loads((d / "train" / "train_metrics.json").read_text())
            done("train", t0, l0, **{k: metrics.get(k) for k in ("world_size", "steps", "tokens_per_second",
                                                           "wall_seconds", "final_loss", "eval_loss")})

    if "evaluate" not in m["steps_done"]:
        t0, l0 = time.monotonic(), lean.start_seconds
        new_model = d / "train" / "model"
        new_memory = d / "data" / MEMORY if uses_memory(cfg) and (d / "data" / MEMORY).is_file() else None
        before = _previous_eval(root, d, memory=new_memory is not None)
        if before is None:
            tb, lb = time.monotonic(), lean.start_seconds
            before = _eval(cfg, model, d / "eval_before", lean.envs(), memory_before(root, d))
            m["step_seconds"]["evaluate_before"] = round(time.monotonic() - tb - (lean.start_seconds - lb), 1)
        if new_model.is_dir() or new_memory is not None:
            ta, la = time.monotonic(), lean.start_seconds
            after = _eval(cfg, str(new_model) if new_model.is_dir() else model, d / "eval", lean.envs(),
                          new_memory)
            m["step_seconds"]["evaluate_after"] = round(time.monotonic() - ta - (lean.start_seconds - la), 1)
        else:
            after = before
        gained = sorted(set(after["proved_names"]) - set(before["proved_names"]))
        lost = sorted(set(before["proved_names"]) - set(after["proved_names"]))
        better, criterion = compare_evals(before, after)
        accepted = new_model.is_dir() and (better or cfg.force)
        if accepted:
            atomic_write_text(root / CURRENT, str(new_model.resolve()) + "\n")  # never a half-written pointer
        done("evaluate", t0, l0, before=before, after=after, gained=gained, lost=lost, accepted=accepted,
             better=better, criterion=criterion, forced=cfg.force and not better, output_model=model_fingerprint(new_model) if new_model.is_dir()
             else None)
        _write_report(d, m)


def round_preludes(cfg: IterationConfig) -> list[str]:
    """The preludes beside the pool and beside the benchmark (once each: the bundled two are the same file)."""
    texts: list[str] = []
    for data in (cfg.pool, cfg.bench):
        f = Path(data).parent / "prelude.lean"
        if f.is_file() and f.read_text() not in texts:
            texts.append(f.read_text())
    return texts


class SharedLean:
    """The round's Lean server(s): the caller's `envs`, or `cfg.workers` servers started on first use and closed
    by `close()`. Every step borrows the same ones, so a round pays Lean's start-up once."""

    def __init__(self, cfg: IterationConfig, envs: Sequence[Any] | None = None):
        self.cfg = cfg
        self._envs: list[Any] | None = list(envs) if envs else None
        self._own = False
        self.start_seconds = 0.0

    def envs(self) -> list[Any]:
        if self._envs is None:
            from ..run.local import start_lean_servers

            log.info("starting %d Lean server(s) for the round (about a minute on the embedded backend)...",
                     self.cfg.workers)
            t0 = time.monotonic()
            self._envs = start_lean_servers(self.cfg.workers, round_preludes(self.cfg), ("Lean",))
            self._own = True
            self.start_seconds = time.monotonic() - t0
        return self._envs

    def close(self) -> None:
        if self._own and self._envs:
            from ..run.local import close_envs

            close_envs(self._envs)
        if self._own:
            self._envs, self._own = None, False


def _eval(cfg: IterationConfig, model: str, out: Path, envs: Sequence[Any] | None,
          memory: Path | None = None) -> dict:
    res = run(RunConfig(bench=cfg.bench, out=out, generator=cfg.generator, model=model,
                        budget=cfg.eval_budget or cfg.budget, resume=True, workers=cfg.workers,
                        gen_options=gen_options_with_memory(cfg, memory), progress=cfg.progress,
                        argv=list(sys.argv)), envs=envs)
    return _pass(res["rows"])


def update_memory(before: Path | None, proofs: Path, out: Path) -> dict:
    """The memory learner's update: `before`'s pairs and proofs plus every step of the verified proofs and the
    proofs themselves, saved to `out`."""
    from ..generate.memory import MemoryGenerator, load_memory

    t0 = time.monotonic()
    mem = MemoryGenerator.from_path(before)
    n_before = len(mem)
    pairs, whole = load_memory(proofs) if proofs.is_file() else ([], [])
    added, added_proofs = mem.add(pairs), mem.add_proofs(whole)
    mem.save(out)
    return {"memory_pairs": len(mem), "memory_added": added, "memory_before": n_before,
            "memory_proofs": len(mem.proofs), "memory_proofs_added": added_proofs,
            "memory_seconds": round(time.monotonic() - t0, 2)}


def _previous_eval(root: Path, d: Path, memory: bool = False) -> dict | None:
    """The last finished round's evaluation of the model (and memory) this round starts from (same benchmark
    budget). Memory always carries over, so with memory that round's "after" is this round's "before"."""
    for p in reversed([p for p in iteration_dirs(root) if p.name < d.name]):
        ev = _manifest(p).get("metrics", {}).get("evaluate")
        if ev:
            return ev["after"] if ev.get("accepted") or memory else ev["before"]
    return None


def wall_of(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def _write_report(d: Path, m: dict) -> None:
    ev, mt = m["metrics"]["evaluate"], m["metrics"]
    b, a = ev["before"], ev["after"]

    def fmt(x: dict) -> str:
        e, t = x["mean_expansions_to_proof"], x.get("mean_seconds_to_proof")
        return (f"{x['proved']}/{x['total']} ({100 * x['pass_rate']:.1f}%) | {'–' if e is None else f'{e:.2f}'} | "
                f"{'–' if t is None else f'{t:.2f}'}")

    def budget(b: dict | None) -> str:  # the sizes, and any other field set away from Budget's defaults
        default, always = asdict(Budget()), ("max_expansions", "samples_per_expansion", "wall_seconds")
        return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in (b or {}).items()
                        if k in always or default.get(k, object()) != v) or "–"

    tr = mt.get("train", {})
    if tr.get("skipped"):
        train_line = f"- Train: skipped ({tr['skipped']})"
    else:
        tps, fl, el = tr.get("tokens_per_second"), tr.get("final_loss"), tr.get("eval_loss")
        train_line = (f"- Train: {tr.get('steps')} steps on {tr.get('world_size')} process(es), "
                      f"{'–' if tps is None else f'{tps:.1f}'} tokens/s, final loss "
                      f"{'–' if fl is None else f'{fl:.4f}'}, loss of the new model on the first examples "
                      f"{'–' if el is None else f'{el:.4f}'}")
    secs = m.get("step_seconds", {})

    def wall(step: str) -> str:
        x = secs.get(step)
        return "–" if x is None else wall_of(x)

    timing = ["| step | wall time |", "|---|---|"]
    if m.get("lean_start_seconds"):
        timing.append(f"| Lean start-up (once per round) | {wall_of(m['lean_start_seconds'])} |")
    for step in ("prove", "collect", "train", "evaluate_before", "evaluate_after", "evaluate"):
        if step in secs:
            label = {"evaluate": "evaluate (total)", "evaluate_before": "evaluate: input model",
                     "evaluate_after": "evaluate: new model"}.get(step, step)
            timing.append(f"| {label} | {wall(step)} |")
    lines = [f"# Expert iteration {d.name}", "",
             f"Input model: `{m['input_model']}`", "",
             f"Budgets: the pool's search `{budget(m.get('budget'))}`; the benchmark's `{budget(m.get('eval_budget'))}`"
             + (" (the same)" if m.get("budget") == m.get("eval_budget") else ""), "",
             f"- Prove (training pool): {mt['prove']['proved']}/{mt['prove']['total']} proved",
             f"- Collect: {mt['collect']['proofs']} verified proofs, {mt['collect']['examples']} (state, tactic) "
             f"examples, {mt['collect']['rejected']} rejected",
             train_line, *([f"- Memory: {mt['collect']['memory_pairs']} (state, tactic) pairs "
                             f"(+{mt['collect']['memory_added']} this round)"
                             + (f" and {mt['collect']['memory_proofs']} whole proofs "
                                f"(+{mt['collect']['memory_proofs_added']})"
                                if "memory_proofs" in mt["collect"] else "")
                             + ", used by the evaluation after"]
                            if "memory_pairs" in mt["collect"] else []), "",
             "| benchmark | proved (pass rate) | mean expansions to proof | mean wall seconds to proof |",
             "|---|---|---|---|",
             f"| before | {fmt(b)} |", f"| after | {fmt(a)} |", "",
             f"Gained: {', '.join(ev['gained']) or '–'}. Lost: {', '.join(ev['lost']) or '–'}.", "",
             *([f"Decided by: {ev['criterion']} ({'better' if ev.get('better') else 'not better'})", ""]
               if ev.get("criterion") else []),
             f"**{'Accepted' if ev['accepted'] else 'Not accepted'}**" +
             (" (forced)" if ev.get("forced") else "") +
             (": the new model is now the current one." if ev["accepted"] else
              ": the input model stays current (pass `--force` to take the new one anyway)."), "",
             "Wall time per step (a resumed step counts only its last run):", "", *timing]
    atomic_write_text(d / "report.md", "\n".join(lines) + "\n")

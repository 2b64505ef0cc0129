"""One round of expert iteration: prove -> collect -> train -> evaluate, each step recorded so a killed round
resumes at the first unfinished step without redoing or losing work.

    iterations/NNN/
      manifest.json      input model + hash, pool/bench hashes, Lean version, budgets, git, steps done, metrics
      prove/             the prover's run over the training pool (results.jsonl resumes theorem by theorem)
      data/              verified proofs (proofs.jsonl), the datasets dataset, leandojo.json (merged over rounds)
      train/             ZeRO-3 checkpoints, train_metrics.json, model/ (the consolidated Hugging Face folder)
      eval_before/       the benchmark with the input model (first round only; later rounds reuse the last eval)
      eval/              the benchmark with the new model
      report.md          before/after: pass rate, expansions to proof, proofs gained and lost; accepted or not

The new model becomes the current one (`iterations/current_model`) only if it proves more benchmark theorems,
or as many with fewer expansions, or when `--force` is given.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..run.bench import load_bench
from ..run.manifest import build_manifest, model_fingerprint, sha256_file
from ..run.results import TheoremResult, read_results
from ..run.runner import RunConfig, run
from ..search import Budget
from .collect import collect, load_proofs, save

STEPS = ("prove", "collect", "train", "evaluate")
CURRENT = "current_model"  # a text file in the iterations folder: the path of the accepted model


@dataclass
class IterationConfig:
    pool: Path
    bench: Path
    root: Path = Path("iterations")
    model: str | None = None  # default: the current accepted model, else the bundled one
    generator: str = "hf+fixed"
    budget: Budget = field(default_factory=Budget)
    eval_budget: Budget | None = None  # default: `budget`
    nproc: int = 1
    force: bool = False
    workers: int = 1
    train_args: Sequence[str] = ()  # extra trainer flags, e.g. ("--max-steps", "20", "--lr", "1e-4")
    gen_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


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


def _manifest(d: Path) -> dict:
    f = d / "manifest.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _write_manifest(d: Path, m: dict) -> None:
    tmp = d / "manifest.json.tmp"
    tmp.write_text(json.dumps(m, indent=2, default=str) + "\n")
    tmp.replace(d / "manifest.json")


def _pass(rows: Sequence[TheoremResult]) -> dict:
    proved = [r for r in rows if r.proved]
    exp = [r.expansions_to_proof for r in proved if r.expansions_to_proof]
    return {"proved": len(proved), "total": len(rows), "pass_rate": len(proved) / max(1, len(rows)),
            "mean_expansions_to_proof": sum(exp) / len(exp) if exp else None,
            "proved_names": sorted(r.name for r in proved)}


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
                              model_path=model, argv=list(sys.argv), lean_version=None)
        m = {**base, "iteration": int(d.name), "input_model": model, "pool": {"path": str(cfg.pool),
             "sha256": sha256_file(cfg.pool)}, "eval_budget": asdict(cfg.eval_budget or cfg.budget),
             "nproc": cfg.nproc, "steps_done": [], "metrics": {}}
        _write_manifest(d, m)
    model = m["input_model"]
    print(f"iteration {d.name}: input model {model}; steps done: {m['steps_done'] or 'none'}", file=sys.stderr)

    def done(step: str, **metrics: Any) -> None:
        m["steps_done"].append(step)
        m["metrics"][step] = metrics
        _write_manifest(d, m)

    pool = [p for p in load_bench(cfg.pool)]
    if "prove" not in m["steps_done"]:
        out = run(RunConfig(bench=cfg.pool, out=d / "prove", generator=cfg.generator, model=model,
                            budget=cfg.budget, resume=True, workers=cfg.workers, gen_options=cfg.gen_options,
                            progress=cfg.progress, argv=list(sys.argv)), envs=envs)
        done("prove", **{k: v for k, v in _pass(out["rows"]).items() if k != "proved_names"})

    if "collect" not in m["steps_done"]:
        rows = list(read_results(d / "prove" / "results.jsonl").values())
        prev = [p for p in iteration_dirs(root) if p.name < d.name]
        earlier = load_proofs(prev[-1] / "data" / "proofs.jsonl") if prev else []
        env, own = _one_env(envs, cfg)
        try:
            kept, rejected = collect(env, pool, rows, source=d.name, earlier=earlier)
        finally:
            if own:
                env.close()
        info = save(kept, d / "data")
        (d / "data" / "rejected.jsonl").write_text("".join(json.dumps(asdict(r)) + "\n" for r in rejected))
        done("collect", **info, rejected=len(rejected))

    if "train" not in m["steps_done"]:
        if m["metrics"]["collect"]["examples"] == 0:
            done("train", skipped="no training examples")
        else:
            from .launch import launch

            launch(["--model", model, "--data", str(d / "data" / "dataset"), "--out", str(d / "train"),
                    *cfg.train_args], nproc=cfg.nproc)
            metrics = json.loads((d / "train" / "train_metrics.json").read_text())
            done("train", **{k: metrics.get(k) for k in ("world_size", "steps", "tokens_per_second",
                                                           "wall_seconds", "final_loss", "eval_loss")})

    if "evaluate" not in m["steps_done"]:
        new_model = d / "train" / "model"
        before = _previous_eval(root, d)
        if before is None:
            before = _eval(cfg, model, d / "eval_before", envs)
        after = _eval(cfg, str(new_model), d / "eval", envs) if new_model.is_dir() else before
        gained = sorted(set(after["proved_names"]) - set(before["proved_names"]))
        lost = sorted(set(before["proved_names"]) - set(after["proved_names"]))
        better = after["proved"] > before["proved"] or (
            after["proved"] == before["proved"] and before["mean_expansions_to_proof"] is not None and
            after["mean_expansions_to_proof"] is not None and
            after["mean_expansions_to_proof"] < before["mean_expansions_to_proof"])
        accepted = new_model.is_dir() and (better or cfg.force)
        if accepted:
            (root / CURRENT).write_text(str(new_model.resolve()) + "\n")
        done("evaluate", before=before, after=after, gained=gained, lost=lost, accepted=accepted,
             forced=cfg.force and not better, output_model=model_fingerprint(new_model) if new_model.is_dir()
             else None)
        _write_report(d, m)
    m["finished"] = True
    _write_manifest(d, m)
    print((d / "report.md").read_text())
    return m


def _one_env(envs: Sequence[Any] | None, cfg: IterationConfig) -> tuple[Any, bool]:
    if envs:
        return envs[0], False
    from ..run.runner import start_lean_servers

    prelude = Path(cfg.pool).parent / "prelude.lean"
    return start_lean_servers(1, [prelude.read_text()] if prelude.is_file() else [], ("Lean",))[0], True


def _eval(cfg: IterationConfig, model: str, out: Path, envs: Sequence[Any] | None) -> dict:
    res = run(RunConfig(bench=cfg.bench, out=out, generator=cfg.generator, model=model,
                        budget=cfg.eval_budget or cfg.budget, resume=True, workers=cfg.workers,
                        gen_options=cfg.gen_options, progress=cfg.progress, argv=list(sys.argv)), envs=envs)
    return _pass(res["rows"])


def _previous_eval(root: Path, d: Path) -> dict | None:
    """The last finished round's evaluation of the model this round starts from (same benchmark budget)."""
    for p in reversed([p for p in iteration_dirs(root) if p.name < d.name]):
        ev = _manifest(p).get("metrics", {}).get("evaluate")
        if ev:
            return ev["after"] if ev.get("accepted") else ev["before"]
    return None


def _write_report(d: Path, m: dict) -> None:
    ev, mt = m["metrics"]["evaluate"], m["metrics"]
    b, a = ev["before"], ev["after"]

    def fmt(x: dict) -> str:
        e = x["mean_expansions_to_proof"]
        return f"{x['proved']}/{x['total']} ({100 * x['pass_rate']:.1f}%) | {'–' if e is None else f'{e:.2f}'}"

    tr = mt.get("train", {})
    lines = [f"# Expert iteration {d.name}", "",
             f"Input model: `{m['input_model']}`", "",
             f"- Prove (training pool): {mt['prove']['proved']}/{mt['prove']['total']} proved",
             f"- Collect: {mt['collect']['proofs']} verified proofs, {mt['collect']['examples']} (state, tactic) "
             f"examples, {mt['collect']['rejected']} rejected",
             f"- Train: {json.dumps(tr)}", "",
             "| benchmark | proved (pass rate) | mean expansions to proof |", "|---|---|---|",
             f"| before | {fmt(b)} |", f"| after | {fmt(a)} |", "",
             f"Gained: {', '.join(ev['gained']) or '–'}. Lost: {', '.join(ev['lost']) or '–'}.", "",
             f"**{'Accepted' if ev['accepted'] else 'Not accepted'}**" +
             (" (forced)" if ev.get("forced") else "") +
             (": the new model is now the current one." if ev["accepted"] else
              ": the input model stays current (pass `--force` to take the new one anyway).")]
    (d / "report.md").write_text("\n".join(lines) + "\n")

"""Which local model writes tactics Lean accepts: the probe that picks the default model.

For each model, on the first `--goals` problems of a benchmark (default: the bundled valid split), the root goal
as Lean pretty-prints it after `start` is given to `HFGenerator` (the `hf` generator's completion prompt, with its
few-shot prefix unless `--no-few-shot`; sampling, `--samples` per goal, deduplicated as the search sees them),
and every distinct tactic is run once on that root state by ONE Lean server. Printed per model:

- parsed: tactics Lean's parser took (they may still fail); accepted: tactics Lean ran without error (the proof state may or may not have changed), of all distinct ones;
- closing: tactics that closed every goal; "new" = closing tactics that are not one of the fixed hammer tactics
  (prover/generate/fixed.py), i.e. what the model adds over the hammer;
- goals with an accepted / closing tactic;
- tokens/s: generated tokens over the generator's wall time (prompt encoding, sampling and scoring included);
- RSS: the process's resident memory after the model generated, minus before it was loaded (MB).

A tactic Lean could not judge (the server crashed or timed out) is counted apart ("lost"), never as rejected.
The root states are started once and shared by all models. Needs `make setup` (the Lean install) and the
model folders; wrap it in /work/bin/lean-slot where Lean servers are rationed.

    python scripts/probe_models.py --model SmolLM2-135M-Instruct --model Qwen2.5-Coder-0.5B-Instruct \\
        [--goals 50] [--samples 4] [--bench data/minif2f_core/valid.jsonl] [--out runs/probe/probe.jsonl]

A `--model` is a bundled model's name (a folder under $PROVER_CACHE/models) or any model folder.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from prover.generate import GoalRequest  # noqa: E402
from prover.generate.fixed import DEFAULT_TACTICS  # noqa: E402
from prover.generate.hf import FEW_SHOT_EXAMPLES, HFGenerator  # noqa: E402
from prover.generate.models import ModelNotFound, model_dir, resolve_model  # noqa: E402
from prover.lean import LeanError, LeanServer  # noqa: E402
from prover.run.bench import load_bench  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from bench_generate import crude_goal  # noqa: E402

PRELUDE = ROOT / "data" / "minif2f_core" / "prelude.lean"
HAMMER = {" ".join(t.split()) for t in DEFAULT_TACTICS}
EXAMPLE_TACTICS = {" ".join(t.split()) for _, t in FEW_SHOT_EXAMPLES}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def model_path(spec: str) -> Path:
    bundled = model_dir(spec)
    return bundled if (bundled / "config.json").is_file() else resolve_model(spec)


def load_problems(bench: Path, n: int):
    return load_bench(bench)[:n]


def start_roots(srv: LeanServer, problems) -> dict:
    """theorem name -> its root proof state (problems whose statement does not elaborate are left out)."""
    roots = {}
    for prob in problems:
        try:
            roots[prob.name] = srv.start(prob.statement, timeout=60)
        except LeanError as e:
            print(f"probe: {prob.name}: start failed ({e}); skipped", file=sys.stderr)
    return roots


def sample(spec: str, problems, goals: dict, args, progress=None) -> tuple[dict, list[dict]]:
    """The model's distinct tactics for each problem's root goal, and its speed and memory. `progress(row,
    samples)` is called after each goal with the figures so far (a slow model's partial run stays usable)."""
    path = model_path(spec)
    gc.collect()
    before = rss_mb()
    t_load = time.time()
    gen = HFGenerator(path, dtype=args.dtype, few_shot=not args.no_few_shot, max_new_tokens=args.max_new_tokens,
                      seed=args.seed, batch_size=args.samples)
    t_load = time.time() - t_load
    samples = []

    def figures() -> dict:
        s = gen.stats
        return {"model": Path(spec).name, "path": str(path), "load_s": round(t_load, 1), "gen_s": round(s.seconds, 1),
                "tokens": s.tokens_generated, "tokens_per_s": round(s.tokens_generated / max(s.seconds, 1e-9), 1),
                "rss_mb": round(rss_mb() - before), "sampled_goals": s.prompts}
    for prob in problems:
        if prob.name not in goals:
            continue
        cands = gen.generate([GoalRequest(tuple(goals[prob.name]), theorem=prob.name, statement=prob.statement)],
                             args.samples)[0]
        samples += [{"model": Path(spec).name, "theorem": prob.name, "tactic": c.tactic,
                     "logprob": round(c.logprob, 3)} for c in cands]
        if progress:
            progress(figures(), samples)
    row = figures()
    del gen
    gc.collect()
    return row, samples


def judge(srv: LeanServer, roots: dict, problems, prompted: dict, row: dict, samples: list[dict], args, log) -> dict:
    """Run every sampled tactic once on its root state; count Lean's verdicts into `row`. The goals counted are
    the first `row["sampled_goals"]` problems that Lean started (a goal with no tactic counts as a miss)."""
    c = Counter()
    sampled = [p.name for p in problems if p.name in prompted]  # in the order they were sampled
    ok_goals, closed_goals = set(), set()
    goals = {n for n in sampled[:row.get("sampled_goals", len(sampled))] if n in roots}
    t_lean = time.time()
    for smp in samples:
        state = roots.get(smp["theorem"])
        if state is None or smp["theorem"] not in goals:
            continue
        out = srv.run_tac(state, smp["tactic"], timeout=args.tactic_timeout)
        key = " ".join(smp["tactic"].split())
        c["tactics"] += 1
        c["copies"] += key in EXAMPLE_TACTICS
        c["parsed"] += not out.lost and not (out.error or "").startswith("parse error")
        verdict = "lost" if out.lost else "error" if out.state is None else \
            "closed" if out.state.complete else "accepted"
        if out.lost:
            c["lost"] += 1
        elif out.state is not None:
            c["accepted"] += 1
            ok_goals.add(smp["theorem"])
            if out.state.complete:
                c["closing"] += 1
                c["new_closing"] += key not in HAMMER
                closed_goals.add(smp["theorem"])
        log.write(json.dumps({**smp, "verdict": verdict, "error": (out.error or "")[:200]},
                             ensure_ascii=False) + "\n")
    return {**row, **c, "goals": len(goals), "goals_accepted": len(ok_goals),
            "goals_closed": len(closed_goals), "lean_s": round(time.time() - t_lean, 1)}


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"


def table(rows: list[dict]) -> str:
    head = ("model", "parsed", "accepted", "closing", "new closing", "example copies", "goals w/ accepted",
            "goals closed", "tokens/s", "s/goal", "RSS MB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = r.get("tactics", 0)
        lines.append("| " + " | ".join(map(str, (
            r["model"], pct(r.get("parsed", 0), t), pct(r.get("accepted", 0), t), pct(r.get("closing", 0), t), r.get("new_closing", 0),
            r.get("copies", 0), pct(r.get("goals_accepted", 0), r.get("goals", 0)),
            pct(r.get("goals_closed", 0), r.get("goals", 0)), r["tokens_per_s"],
            r.get("s_per_goal", round(r["gen_s"] / max(r.get("goals", 1), 1), 1)), r["rss_mb"]))) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="a bundled model's name or a model folder")
    ap.add_argument("--bench", type=Path, default=ROOT / "data" / "minif2f_core" / "valid.jsonl")
    ap.add_argument("--goals", type=int, default=50)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--no-few-shot", action="store_true", help="the bare prompt, as `hf` without few_shot=1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier beside Lean)")
    ap.add_argument("--tactic-timeout", type=float, default=20.0)
    ap.add_argument("--sample-only", action="store_true",
                    help="sample without Lean, from goals built from the statements (binders as hypotheses, as "
                         "scripts/bench_generate.py does); write them to OUT.samples.json for --judge")
    ap.add_argument("--judge", type=Path, action="append",
                    help="judge the samples a --sample-only run wrote (Lean only; repeatable: several models' files "
                         "are judged on the goals all of them reached)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "probe" / "probe.jsonl",
                    help="every sampled tactic and Lean's verdict, one JSON row each; the table goes beside it")
    args = ap.parse_args(argv)
    if args.goals < 1 or args.samples < 1:
        ap.error("--goals and --samples must be at least 1")
    if not args.model and not args.judge:
        ap.error("give at least one --model (or --judge FILE)")
    try:  # fail on a missing model before Lean starts
        paths = {m: model_path(m) for m in args.model}
    except ModelNotFound as e:
        ap.error(str(e))
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    saved = args.out.with_suffix(".samples.json")
    if args.judge:
        # several files (one per model, sampled side by side) are judged on the goals all of them reached
        datas = [json.loads(f.read_text()) for f in args.judge]
        data = datas[0]
        args.bench = Path(data["bench"])
        runs = [run for d in datas for run in d["runs"]]
        common = min(row["sampled_goals"] for row, _ in runs)
        for row, _ in runs:
            row["s_per_goal"] = round(row["gen_s"] / max(row["sampled_goals"], 1), 1)
            row["sampled_goals"] = common
        problems, goals, how = load_problems(args.bench, data["goals"])[:common], data["prompt_goals"], data["how"]
    else:
        problems, runs, how = load_problems(args.bench, args.goals), [], \
            f"{args.samples} samples each, {'bare prompt' if args.no_few_shot else 'few-shot prompt'}, " \
            f"{args.dtype}, {args.threads} thread(s)"
    t0 = time.time()
    if args.sample_only:
        goals = {p.name: [crude_goal(p.statement)] for p in problems}

        def save(current=None) -> None:
            saved.write_text(json.dumps({"bench": str(args.bench), "goals": args.goals, "prompt_goals": goals,
                                         "how": how + ", prompts from crude goals",
                                         "runs": runs + ([list(current)] if current else [])}, ensure_ascii=False))

        for m in args.model:
            print(f"probe: {m} ({paths[m]}) ...", flush=True)
            runs.append(sample(m, problems, goals, args, progress=lambda row, smp: save((row, smp))))
            save()
            print(json.dumps(runs[-1][0]), flush=True)
        print(f"probe: samples in {saved}; judge them with --judge {saved}")
        return 0
    rows = []
    with LeanServer(preludes=[PRELUDE], name="probe", progress=False) as srv, open(args.out, "w") as log:
        srv.ensure_started()
        roots = start_roots(srv, problems)
        print(f"probe: Lean up and {len(roots)} root goals started in {time.time() - t0:.0f} s", flush=True)
        lean_goals = {name: list(st.goals) for name, st in roots.items()}
        if args.judge:
            same = sum(goals.get(n) == g for n, g in lean_goals.items())
            how += f" ({same}/{len(roots)} identical to Lean's root goal)"
        else:
            goals = lean_goals
        for m in ([] if args.judge else args.model):  # sample with Lean's goals, then judge
            print(f"probe: {m} ({paths[m]}) ...", flush=True)
            runs.append(sample(m, problems, goals, args))
        for row, samples in runs:
            rows.append(judge(srv, roots, problems, goals, row, samples, args, log))
            print(json.dumps(rows[-1]), flush=True)
    text = f"{rows[0]['goals'] if rows else 0} goals of {args.bench.name}, {how}\n\n" + table(rows)
    print("\n" + text)
    args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

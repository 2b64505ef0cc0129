"""Which local model writes tactics Lean accepts: the probe that picks the default model.

For each model, on the first `--goals` problems of a benchmark (default: the bundled valid split), the root goal
as Lean pretty-prints it after `start` is given to `HFGenerator` (the `hf` generator's completion prompt, with its
few-shot prefix unless `--no-few-shot`; sampling, `--samples` per goal, deduplicated as the search sees them),
and every distinct tactic is run once on that root state by ONE Lean server. Printed per model:

- accepted: tactics Lean ran without error (the proof state may or may not have changed), of all distinct ones;
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
from prover.generate.models import model_dir, resolve_model  # noqa: E402
from prover.lean import LeanError, LeanServer  # noqa: E402
from prover.run.bench import load_bench  # noqa: E402

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


def start_roots(srv: LeanServer, bench: Path, n: int):
    roots = []
    for prob in load_bench(bench)[:n]:
        try:
            state = srv.start(prob.statement, timeout=60)
        except LeanError as e:
            print(f"probe: {prob.name}: start failed ({e}); skipped", file=sys.stderr)
            continue
        roots.append((prob, state))
    return roots


def probe(spec: str, roots, srv: LeanServer, args, log) -> dict:
    path = model_path(spec)
    gc.collect()
    before = rss_mb()
    t_load = time.time()
    gen = HFGenerator(path, dtype=args.dtype, few_shot=not args.no_few_shot, max_new_tokens=args.max_new_tokens,
                      seed=args.seed, batch_size=args.samples)
    t_load = time.time() - t_load
    c = Counter()
    t_lean = 0.0
    for prob, state in roots:
        cands = gen.generate([GoalRequest(state.goals, theorem=prob.name, statement=prob.statement)],
                             args.samples)[0]
        ok_goal = closed_goal = False
        for cand in cands:
            t0 = time.time()
            out = srv.run_tac(state, cand.tactic, timeout=args.tactic_timeout)
            t_lean += time.time() - t0
            key = " ".join(cand.tactic.split())
            c["tactics"] += 1
            c["copies"] += key in EXAMPLE_TACTICS
            verdict = "lost" if out.lost else "error" if out.state is None else \
                "closed" if out.state.complete else "accepted"
            if out.lost:
                c["lost"] += 1
            elif out.state is not None:
                c["accepted"] += 1
                ok_goal = True
                if out.state.complete:
                    c["closing"] += 1
                    c["new_closing"] += key not in HAMMER
                    closed_goal = True
            log.write(json.dumps({"model": Path(spec).name, "theorem": prob.name, "tactic": cand.tactic,
                                  "logprob": round(cand.logprob, 3), "verdict": verdict,
                                  "error": (out.error or "")[:200]}, ensure_ascii=False) + "\n")
        c["goals"] += 1
        c["goals_accepted"] += ok_goal
        c["goals_closed"] += closed_goal
    s = gen.stats
    row = {"model": Path(spec).name, "path": str(path), **c, "load_s": round(t_load, 1), "gen_s": round(s.seconds, 1),
           "tokens": s.tokens_generated, "tokens_per_s": round(s.tokens_generated / max(s.seconds, 1e-9), 1),
           "rss_mb": round(rss_mb() - before), "lean_s": round(t_lean, 1)}
    del gen
    gc.collect()
    return row


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"


def table(rows: list[dict]) -> str:
    head = ("model", "accepted", "closing", "new closing", "example copies", "goals w/ accepted",
            "goals closed", "tokens/s", "RSS MB", "gen s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = r.get("tactics", 0)
        lines.append("| " + " | ".join(map(str, (
            r["model"], pct(r.get("accepted", 0), t), pct(r.get("closing", 0), t), r.get("new_closing", 0),
            r.get("copies", 0), pct(r.get("goals_accepted", 0), r.get("goals", 0)),
            pct(r.get("goals_closed", 0), r.get("goals", 0)), r["tokens_per_s"], r["rss_mb"], r["gen_s"]))) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="a bundled model's name or a model folder")
    ap.add_argument("--bench", type=Path, default=ROOT / "data" / "minif2f_core" / "valid.jsonl")
    ap.add_argument("--goals", type=int, default=50)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--no-few-shot", action="store_true", help="the bare prompt, as `hf` without few_shot=1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier beside Lean)")
    ap.add_argument("--tactic-timeout", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "probe" / "probe.jsonl",
                    help="every sampled tactic and Lean's verdict, one JSON row each; the table goes beside it")
    args = ap.parse_args(argv)
    if args.goals < 1 or args.samples < 1:
        ap.error("--goals and --samples must be at least 1")
    paths = {m: model_path(m) for m in args.model}  # fail on a missing model before Lean starts
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.time()
    with LeanServer(preludes=[PRELUDE], name="probe", progress=False) as srv, open(args.out, "w") as log:
        srv.ensure_started()
        roots = start_roots(srv, args.bench, args.goals)
        print(f"probe: Lean up and {len(roots)} root goals started in {time.time() - t0:.0f} s")
        for m in args.model:
            print(f"probe: {m} ({paths[m]}) ...", flush=True)
            rows.append(probe(m, roots, srv, args, log))
            print(json.dumps(rows[-1]), flush=True)
    text = (f"{len(roots)} goals of {args.bench.name}, {args.samples} samples each, "
            f"{'bare prompt' if args.no_few_shot else 'few-shot prompt'}, {args.dtype}, {args.threads} thread(s)\n\n"
            + table(rows))
    print("\n" + text)
    args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

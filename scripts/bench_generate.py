"""Throughput and sample quality of HFGenerator with the default model, without Lean.

Goals are built crudely from `core_statement` (binders become hypothesis lines, the type after the last
top-level `:` becomes `⊢ goal`); Lean would pretty-print them a little differently (e.g. `Nat` as `ℕ` only with
Mathlib, instance binders as `inst✝ : ...`), which is fine for a throughput figure.

    python scripts/bench_generate.py [--theorems 8] [--samples 8] [--threads 1] [--quick]
"""
from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from prover.config import ConfigError, ConfigParser  # noqa: E402
from prover.generate import GoalRequest  # noqa: E402
from prover.generate.hf import HFGenerator  # noqa: E402
from prover.io import read_jsonl_rows  # noqa: E402

OPEN, CLOSE = "({[⦃", ")}]⦄"
TACTIC_WORDS = {
    "omega", "simp", "simp_all", "decide", "intro", "intros", "induction", "cases", "rcases", "obtain", "rfl",
    "exact", "apply", "refine", "rw", "rewrite", "norm_num", "linarith", "nlinarith", "constructor", "use",
    "have", "show", "calc", "unfold", "specialize", "subst", "contradiction", "trivial", "aesop", "ring",
    "field_simp", "positivity", "interval_cases", "by_contra", "exfalso", "left", "right", "ext", "funext",
    "split", "exists", "native_decide", "norm_cast", "push_cast", "assumption", "let", "match", "fun", "by",
    "nth_rewrite", "conv", "repeat", "first", "try", "all_goals", "any_goals", "·", "case", "next", "grind",
    "bv_decide", "simpa", "exact?", "apply?", "gcongr", "symm", "congr", "generalize", "revert", "clear",
}


def crude_goal(core_statement: str) -> str:
    """`theorem name (x : T) (h : P) : Q := by sorry` -> "x : T\\nh : P\\n⊢ Q" (approximate)."""
    s = core_statement.split(":= by")[0].strip()
    s = s.split(None, 2)[2] if s.startswith(("theorem", "lemma")) else s  # drop keyword and name
    hyps, i = [], 0
    while True:
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s) or s[i] not in OPEN:
            break
        depth, j = 0, i
        while j < len(s):
            if s[j] in OPEN:
                depth += 1
            elif s[j] in CLOSE:
                depth -= 1
                if depth == 0:
                    break
            j += 1
        inner = " ".join(s[i + 1:j].split())
        hyps.append(inner if s[i] != "[" else f"inst✝ : {inner}")
        i = j + 1
    rest = s[i:].strip()
    goal = rest[1:].strip() if rest.startswith(":") else rest
    return "\n".join(hyps + ["⊢ " + " ".join(goal.split())])


def looks_like_tactic(t: str) -> bool:
    return t.split()[0] in TACTIC_WORDS if t.split() else False


def run(gen: HFGenerator, reqs: list[GoalRequest], per_call: int, n: int) -> dict:
    before = (gen.stats.prompts, gen.stats.candidates, gen.stats.tokens_generated, gen.stats.seconds)
    outs = []
    t0 = time.perf_counter()
    for k in range(0, len(reqs), per_call):
        outs += gen.generate(reqs[k:k + per_call], n)
    wall = time.perf_counter() - t0
    s = gen.stats
    prompts, cands, toks = (s.prompts - before[0], s.candidates - before[1], s.tokens_generated - before[2])
    return {"wall": wall, "prompts_s": prompts / wall, "tactics_s": cands / wall, "tok_s": toks / wall,
            "s_per_req": wall / prompts, "cands": cands, "outs": outs}


@dataclass
class BenchGenerateConfig:
    """The benchmark's settings: its flags and `--config FILE` keys (prover/config.py)."""

    data: Path = field(default=ROOT / "data" / "minif2f_core" / "valid.jsonl", metadata={"help": "benchmark rows"})
    theorems: int = field(default=8, metadata={"help": "first N theorems"})
    samples: int = field(default=8, metadata={"help": "samples per goal"})
    threads: int = field(default=0, metadata={"help": "torch threads (0: leave as is)"})
    batch_sizes: str = field(default="16,64", metadata={"help": "rows (prompts x samples) per forward pass"})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda (default: cuda if there is one)"})
    dtype: str = field(default="auto", metadata={"help": "auto (fp32 on CPU, bf16 on CUDA), float32, bfloat16"})
    quick: bool = field(default=False, metadata={"help": "one configuration only"})


def main(argv: list[str] | None = None) -> int:
    try:
        (args,) = ConfigParser(BenchGenerateConfig, description=__doc__.splitlines()[0]).parse_config(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = read_jsonl_rows(args.data)[:args.theorems]
    reqs = [GoalRequest((crude_goal(r["core_statement"]),), theorem=r["name"]) for r in rows]
    print(f"{len(reqs)} theorems, {args.samples} samples each; torch threads {torch.get_num_threads()}")
    print("example goal:\n" + reqs[0].goals[0] + "\n")

    t0 = time.perf_counter()
    gen = HFGenerator(device=args.device, dtype=args.dtype, batch_size=16, seed=0)
    print(f"model loaded in {time.perf_counter() - t0:.1f} s on {gen.device} ({gen.model.dtype})")
    gen.generate(reqs[:1], 2)  # warm-up

    print(f"{'req/call':>8} {'rows/fwd':>8} {'prompts/s':>10} {'tactics/s':>10} {'gen tok/s':>10} {'s/request':>10}")
    configs = [(8, 64)] if args.quick else [(pc, bs) for bs in map(int, args.batch_sizes.split(","))
                                           for pc in (1, 4, 8)]
    last = None
    for per_call, bs in configs:
        gen.batch_size = bs
        r = run(gen, reqs, per_call, args.samples)
        print(f"{per_call:>8} {bs:>8} {r['prompts_s']:>10.2f} {r['tactics_s']:>10.2f} {r['tok_s']:>10.1f} "
              f"{r['s_per_req']:>10.2f}")
        last = r
    print(f"time split: generate {gen.stats.extra['generate_seconds']:.1f} s, "
          f"exact scoring {gen.stats.extra['score_seconds']:.1f} s")

    def show(outs, label):
        cands = [c for o in outs for c in o]
        frac = sum(looks_like_tactic(c.tactic) for c in cands) / max(1, len(cands))
        print(f"\n{label}: {frac:.0%} of {len(cands)} distinct candidates start with a Lean tactic keyword; "
              f"examples (best first per theorem):")
        shown = 0
        for j in range(args.samples):
            for req, o in zip(reqs, outs):
                if j < len(o) and shown < 10:
                    c = o[j]
                    print(f"  {req.theorem:<28} {c.logprob:8.2f}  {c.tactic[:100]!r}")
                    shown += 1
        return frac

    show(last["outs"], "zero-shot")
    fs = HFGenerator(model=gen.model, tokenizer=gen.tokenizer, batch_size=64, seed=0, few_shot=True)
    r = run(fs, reqs, len(reqs), args.samples)
    print(f"\nfew-shot: {r['prompts_s']:.2f} prompts/s, {r['tactics_s']:.2f} tactics/s, {r['tok_s']:.1f} tok/s")
    show(r["outs"], "few-shot")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Warm start: LoRA supervised fine-tuning of the generator's causal LM on known (state, tactic) pairs.

    python -m prover.train.warm_start --out DIR [--model default] [--traced traced] [--proofs GLOB,...]
                                      [--max-steps 300] [--max-minutes 60] [--lr 2e-4] [--seed 0] ...

Data (read in sorted file order, so the pair order is a pure function of the files' content):
- `--traced`: the tracer's LeanDojo exports (`leandojo.json` under a folder; "traced" is `data/traced/`);
- `--proofs`: verified proofs (`proofs.jsonl` as `prover.train.collect.save` writes them; globs allowed; the
  default takes every round of `iterations/`). Files that do not exist match nothing: their absence is
  recorded, not an error; a file that exists and cannot be read is.
Each step becomes `prompt.format_example(goals, tactic)`: the prompt the `hf` generator builds at inference
(without its few-shot prefix). Exact duplicates and tactics containing `sorry` are dropped. A held-out slice
is chosen by theorem (all steps of a theorem on one side), by the sha256 of its key: deterministic, and
independent of which other files are present.

Training: one process, plain torch (LoRA's few MB of trainable weights need no ZeRO sharding), with the
trainer's encoding (loss on the completion and its end token only), length-grouped batch order
(`trainer.RankStream`, seeded) and learning-rate schedule (`trainer.lr_at`); bf16 autocast on CPU by default.
It stops at `max_steps` or when `max_minutes` have passed, whichever comes first; the schedule is planned for
`max_steps` either way, so `stop_at_step` (in the manifest's `reproduce` command) replays a run the clock cut.

Output in `--out` (the adapter folder the generator loads with `--gen-opt adapter=DIR`):
`adapter_config.json`, `adapter_model.safetensors` (peft) and `manifest.json`: data files with sha256 and
pair counts, the base model's fingerprint, the hyper-parameters, held-out loss before and after, tokens/s,
wall time, the adapter's sha256, and the command (and the exact `reproduce` command).
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Sequence

from ..generate.prompt import format_example
from ..io import atomic_write_json, read_jsonl_rows
from ..config import help_meta as _help

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MANIFEST = "manifest.json"
log = logging.getLogger(__name__)



@dataclass
class WarmStartConfig:
    """The warm start's settings (flags and `--config FILE` keys), copied into the manifest."""

    out_dir: str = field(metadata=_help("adapter folder to write", aliases=["--out"]))
    model_path: str = field(default="default", metadata=_help(
        "base model folder ('default': the generator's default model)", aliases=["--model"]))
    traced: str = field(default="traced", metadata=_help(
        "traced corpora: folders/files, comma-separated ('traced' = data/traced/; '' for none)"))
    proofs: str = field(default="iterations/*/data/proofs.jsonl", metadata=_help(
        "verified proofs (proofs.jsonl), comma-separated globs ('' for none)"))
    holdout: float = field(default=0.1, metadata=_help("share of theorems held out for the loss before/after"))
    max_holdout: int = field(default=64, metadata=_help(
        "about this many held-out pairs at most (whole theorems: the last one may add a few)"))
    max_steps: int = field(default=300, metadata=_help("optimizer steps (the schedule's length)"))
    max_minutes: float = field(default=60.0, metadata=_help("stop after this many minutes of training (0: no limit)"))
    stop_at_step: int = field(default=0, metadata=_help("> 0: stop after this step (replays a run the clock cut)"))
    lr: float = field(default=2e-4, metadata=_help("peak learning rate"))
    warmup_steps: int = field(default=10, metadata=_help("linear warm-up steps"))
    min_lr_ratio: float = field(default=0.1, metadata=_help("cosine decay to lr * min_lr_ratio"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    batch_size: int = field(default=4, metadata=_help("micro-batch"))
    grad_accum: int = field(default=1, metadata=_help("micro-batches per optimizer step"))
    max_len: int = field(default=512, metadata=_help("tokens per example (the prompt is cut from its left)"))
    lora_r: int = field(default=8, metadata=_help("LoRA rank"))
    lora_alpha: int = field(default=16, metadata=_help("LoRA alpha"))
    lora_dropout: float = field(default=0.05, metadata=_help("LoRA dropout"))
    # the attention projections of Llama/Qwen-style models: ~1M weights (~4 MB) for SmolLM2-135M or Qwen2.5-0.5B
    target_modules: str = field(default="q_proj,k_proj,v_proj,o_proj", metadata=_help(
        "modules LoRA wraps: comma-separated names, or 'all-linear'"))
    precision: Literal["bf16", "fp32"] = field(default="bf16", metadata=_help(
        "bf16: autocast (weights stay fp32); fp32: plain"))
    seed: int = field(default=0, metadata=_help("random seed (LoRA init, dropout, batch order)"))
    threads: int = field(default=0, metadata=_help("torch threads (0: torch's default)"))
    progress: bool = field(default=True, metadata=_help("show a progress bar"))
    argv: list = field(default_factory=list, metadata={"cli": False})  # the command line, for the manifest


# ---- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    goals: tuple[str, ...]
    tactic: str
    theorem: str  # the key of the held-out split: every step of one theorem falls on one side


def _goals(state: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(state, str):  # LeanDojo exports join the goals with a blank line
        return tuple(g for g in state.split("\n\n") if g.strip()) if state.strip() != "no goals" else ()
    return tuple(state)


def read_examples(path: Path) -> list[Example]:
    """The (goals, tactic) steps of one file: a LeanDojo JSON export (a list of theorems with `traced_tactics`)
    or a `proofs.jsonl` of verified proofs (rows with `theorem` and `steps`). ValueError names a bad file."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            rows = data if isinstance(data, list) else [data]
            steps = [(str(r.get("full_name") or r.get("theorem") or ""), r["traced_tactics"]) for r in rows]
        else:
            steps = [(str(r["theorem"]), r["steps"]) for r in read_jsonl_rows(path)]
        out = []
        for name, sts in steps:
            for st in sts:
                goals, tactic = _goals(st["state_before"]), str(st["tactic"])
                if goals and tactic.strip() and "sorry" not in tactic:
                    out.append(Example(goals, tactic, f"{path.parent.name}/{name}"))
        return out
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"{path}: not a LeanDojo export or proofs.jsonl ({type(e).__name__}: {e})") from None


def data_files(traced: str, proofs: str, root: Path = ROOT) -> list[Path]:
    """The files named by `--traced` and `--proofs`, sorted and deduplicated (relative paths from `root`)."""
    files: set[Path] = set()
    for spec in (s.strip() for s in traced.split(",") if s.strip()):
        p = root / "data" / "traced" if spec == "traced" else Path(spec)
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            files.update(x for x in p.rglob("leandojo.json") if x.is_file())
        elif p.is_file():
            files.add(p)
        else:
            raise ValueError(f"--traced {spec!r}: no such file or folder ({p})")
    for spec in (s.strip() for s in proofs.split(",") if s.strip()):
        pattern = spec if Path(spec).is_absolute() else str(root / spec)
        for m in glob.glob(pattern):
            p = Path(m)
            files.update(p.rglob("proofs.jsonl") if p.is_dir() else [p])
    return sorted(files)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_data(files: Sequence[Path], holdout: float, max_holdout: int) -> tuple[list[Example], list[Example],
                                                                                 list[dict]]:
    """(train, held-out, per-file records). Duplicates (same goals and tactic) are kept once, first file wins."""
    seen: set[tuple] = set()
    kept: list[Example] = []
    records = []
    for f in files:
        exs = read_examples(f)
        new = 0
        for e in exs:
            key = (e.goals, e.tactic.strip())
            if key not in seen:
                seen.add(key)
                kept.append(e)
                new += 1
        records.append({"path": _rel(f), "sha256": sha256_file(f), "pairs": len(exs), "pairs_kept": new})
    if not kept:
        raise ValueError("no (state, tactic) pairs in " + (", ".join(_rel(f) for f in files) or "no files"))
    # held out: whole theorems, in the order of their keys' hashes, until the share is reached
    theorems = sorted({e.theorem for e in kept}, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    want = min(max_holdout, max(1, round(holdout * len(kept)))) if holdout > 0 and len(theorems) > 1 else 0
    held: set[str] = set()
    n = 0
    for t in theorems[:-1]:  # never hold everything out
        if n >= want:
            break
        held.add(t)
        n += sum(e.theorem == t for e in kept)
    train = [e for e in kept if e.theorem not in held]
    evals = [e for e in kept if e.theorem in held]  # may pass max_holdout by the last theorem's other steps
    return train, evals, records


def _rel(p: Path) -> str:
    try:
        return p.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(p)


# ---- training --------------------------------------------------------------------------------------------


def _encode(tokenizer, examples: Iterable[Example], max_len: int) -> list[dict]:
    from .trainer import encode_pair

    return [encode_pair(tokenizer, *format_example(e.goals, e.tactic), max_len) for e in examples]


def _lora_config(cfg: WarmStartConfig):
    from peft import LoraConfig

    targets = cfg.target_modules if cfg.target_modules == "all-linear" else \
        [t.strip() for t in cfg.target_modules.split(",") if t.strip()]
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def warm_start(cfg: WarmStartConfig) -> dict:
    """Train a LoRA adapter and write it with its manifest into `cfg.out_dir`; returns the manifest."""
    import contextlib

    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..generate.models import resolve_model
    from ..run.manifest import model_fingerprint
    from .trainer import RankStream, dataset_loss, lr_at

    t_start = time.time()
    if cfg.max_steps < 1:
        raise ValueError(f"--max-steps must be at least 1 (got {cfg.max_steps})")
    if not 0 <= cfg.holdout < 1:
        raise ValueError(f"--holdout must be in [0, 1) (got {cfg.holdout})")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    base = resolve_model(cfg.model_path)
    files = data_files(cfg.traced, cfg.proofs)
    train_ex, eval_ex, records = load_data(files, cfg.holdout, cfg.max_holdout)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError(f"{base}: the tokenizer has neither a pad nor an end-of-sequence token")
    train_enc = _encode(tokenizer, train_ex, cfg.max_len)
    eval_enc = _encode(tokenizer, eval_ex, cfg.max_len)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, _lora_config(cfg))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if cfg.precision == "bf16" \
        else contextlib.nullcontext

    def held_out_loss() -> float | None:
        if not eval_enc:
            return None
        with autocast():
            return dataset_loss(model, eval_enc, pad_id, cfg.batch_size)

    loss_before = held_out_loss()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=cfg.weight_decay)
    stream = RankStream(train_enc, cfg.batch_size, 1, 0, cfg.seed, pad_id)
    total = cfg.max_steps
    last = min(total, cfg.stop_at_step) if cfg.stop_at_step > 0 else total

    from ..progress import progress_bar

    bar = progress_bar(total=last, desc="warm-start", unit="step", disable=not cfg.progress, dynamic_ncols=True)
    model.train()
    losses: list[float] = []
    tokens = 0
    stopped_by = "max_steps" if last == total else "stop_at_step"
    t_loop = time.time()
    step = 0
    for step in range(last):
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, total, cfg)
        step_loss = 0.0
        for k in range(cfg.grad_accum):
            batch = stream[step * cfg.grad_accum + k]
            tokens += int(batch["attention_mask"].sum())
            with autocast():
                loss = model(**batch).loss
            (loss / cfg.grad_accum).backward()
            step_loss += float(loss.detach()) / cfg.grad_accum
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        elapsed = time.time() - t_loop
        bar.set_postfix(loss=f"{step_loss:.4f}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}")
        bar.update(1)
        if cfg.max_minutes > 0 and elapsed > cfg.max_minutes * 60 and step + 1 < last:
            stopped_by = "max_minutes"
            break
    bar.close()
    steps_done = step + 1
    loop_wall = time.time() - t_loop
    loss_after = held_out_loss()

    model.save_pretrained(out, safe_serialization=True)  # adapter_config.json + adapter_model.safetensors
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model-card template; the manifest says it all
    command = cfg.argv or ["python", "-m", "prover.train.warm_start", "--out", cfg.out_dir]
    # the clock is not reproducible, the step count is: a replay stops at the same step whatever the machine
    reproduce = list(command) + (["--max-minutes", "0", "--stop-at-step", str(steps_done)]
                                 if stopped_by == "max_minutes" else [])
    manifest = {
        "kind": "lora-warm-start",
        "base_model": model_fingerprint(base),
        "adapter_sha256": sha256_file(out / "adapter_model.safetensors"),
        "data": {"files": records, "pairs_train": len(train_ex), "pairs_held_out": len(eval_ex),
                 "theorems_train": len({e.theorem for e in train_ex}),
                 "theorems_held_out": len({e.theorem for e in eval_ex}),
                 "prompt_format": "prover.generate.prompt.format_example (no few-shot prefix)"},
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "argv"},
        "params_trainable": trainable, "params_total": total_params,
        "steps": steps_done, "steps_planned": total, "stopped_by": stopped_by,
        "loss_held_out_before": loss_before, "loss_held_out_after": loss_after,
        "train_loss_first": losses[0] if losses else None, "train_loss_last": losses[-1] if losses else None,
        "train_losses": [round(x, 5) for x in losses],
        "tokens": tokens, "tokens_per_second": tokens / loop_wall if loop_wall > 0 else None,
        "train_loop_seconds": loop_wall, "wall_seconds": time.time() - t_start,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "platform": platform.platform()},
        "command": shlex.join(command), "reproduce": shlex.join(reproduce),
        "load_with": f"--generator hf --gen-opt adapter={cfg.out_dir}",
    }
    atomic_write_json(out / MANIFEST, manifest, indent=1)
    fmt = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
    print(f"[warm-start] {len(train_ex)} train / {len(eval_ex)} held-out pairs, {steps_done} steps "
          f"({stopped_by}), held-out loss {fmt(loss_before)} -> {fmt(loss_after)}, "
          f"{manifest['tokens_per_second']:.1f} tokens/s, {manifest['wall_seconds']:.0f}s; adapter {out}",
          flush=True)
    return manifest


# ---- CLI -------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    from ..config import ConfigError, ConfigParser

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = ConfigParser(WarmStartConfig, prog="python -m prover.train.warm_start",
                           description=__doc__.split("\n\n")[0]).parse_config(argv)[0]
        cfg.argv = ["python", "-m", "prover.train.warm_start", *argv]
        warm_start(cfg)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()
    sys.exit(main())

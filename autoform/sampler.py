"""Text completions for formalization, from the same backends as the prover's tactic generators.

`sample(prompts, n)` returns, per prompt, the distinct completions of `n` samples (each cut at the first stop
string), with the number of times each was drawn and its log-probability. The local backend reuses
`HFGenerator`'s batched sampling, shared prompt cache and exact teacher-forced scoring, with its own stopping
rule; the server backend reuses `OpenAIGenerator`'s client, retries and error messages.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

from prover.generate.base import GeneratorStats
from prover.generate.hf import HFGenerator
from prover.generate.openai_api import OpenAIGenerator

DEFAULT_STOP = ("\n",)


@dataclass(frozen=True)
class Sample:
    text: str
    logprob: float  # natural log, sum over the completion's tokens (0.0 where the backend gives none)
    count: int = 1  # how many of the n samples produced this text


class TextSampler(Protocol):
    name: str
    stats: GeneratorStats

    def sample(self, prompts: Sequence[str], n: int, stop: Sequence[str] = DEFAULT_STOP) -> list[list[Sample]]: ...

    def count_tokens(self, text: str) -> int: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string, without trailing blanks (so `a ` and `a` count as one sample)."""
    cut = min((i for i in (text.find(s) for s in stop) if i != -1), default=len(text))
    return text[:cut].rstrip()


def _merge(texts: Sequence[str], logprobs: Sequence[float]) -> list[Sample]:
    """Distinct texts, most frequent first (then most likely)."""
    seen: dict[str, list] = {}
    for t, lp in zip(texts, logprobs):
        if not t.strip():
            continue
        if t in seen:
            seen[t][1] += 1
        else:
            seen[t] = [lp, 1]
    return sorted((Sample(t, lp, c) for t, (lp, c) in seen.items()), key=lambda s: (-s.count, -s.logprob))


class _StopAtStrings:
    """Stopping criterion: a row is done once its generated text contains one of the stop strings."""

    def __init__(self, tokenizer, prompt_len: int, stop: Sequence[str]):
        self.tokenizer, self.prompt_len, self.stop = tokenizer, prompt_len, tuple(stop)

    def __call__(self, input_ids: torch.LongTensor, scores=None, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:].tolist(), skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], dtype=torch.bool,
                            device=input_ids.device)


class HFSampler(HFGenerator):
    """A local Hugging Face causal LM (`build_sampler` picks formalization's default). Long prompts keep their
    last tokens."""

    name = "hf"

    def __init__(self, model_path=None, *, max_new_tokens: int = 128, max_prompt_tokens: int = 1536, **kw):
        kw.pop("mode", None)
        kw.pop("few_shot", None)
        super().__init__(model_path, max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens,
                         mode="sample", **kw)
        self._stop: tuple[str, ...] = DEFAULT_STOP

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def _stopping(self, prompt_len: int):
        return _StopAtStrings(self.tokenizer, prompt_len, self._stop)

    @torch.inference_mode()
    def sample(self, prompts: Sequence[str], n: int, stop: Sequence[str] = DEFAULT_STOP) -> list[list[Sample]]:
        if not prompts or n <= 0:
            return [[] for _ in prompts]
        with self._lock:
            t0 = time.perf_counter()
            self._calls += 1
            self._stop = tuple(stop)
            ids = [self._encode(p)[-self.max_prompt_tokens:] for p in prompts]
            out: list[list[Sample]] = []
            per_call = max(1, self.batch_size // n)
            devices = [self.model.device] if self.model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed * 1_000_003 + self._calls)
                for start in range(0, len(ids), per_call):
                    chunk = ids[start:start + per_call]
                    prefix = self._prefix(chunk)
                    raw, k = self._generate_chunk(prefix, n)
                    self.stats.tokens_generated += k
                    texts = [[cut_at_stop(t, stop) for t in row] for row in raw]
                    rows = [(j, self._encode(t)) for j, row in enumerate(texts) for t in row if t.strip()]
                    scores = iter(self._score_rows(prefix, rows) if rows else [])
                    for row in texts:
                        kept = [t for t in row if t.strip()]
                        out.append(_merge(kept, [min(0.0, next(scores)) for _ in kept]))
            self.stats.calls += 1
            self.stats.prompts += len(prompts)
            self.stats.candidates += sum(len(s) for s in out)
            self.stats.seconds += time.perf_counter() - t0
            return out


class OpenAISampler(OpenAIGenerator):
    """An OpenAI-compatible `/v1/completions` server (vLLM, SGLang): all prompts of a call in one request."""

    def __init__(self, base_url: str, model: str | None = None, max_tokens: int = 128, **kw):
        super().__init__(base_url, model=model, max_tokens=max_tokens, **kw)

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + 1  # no tokenizer at hand: a conservative estimate (about 3.5 chars a token)

    def sample(self, prompts: Sequence[str], n: int, stop: Sequence[str] = DEFAULT_STOP) -> list[list[Sample]]:
        if not prompts or n <= 0:
            return [[] for _ in prompts]
        t0 = time.perf_counter()
        model = self.resolve_model()
        out: list[list[Sample]] = []
        for start in range(0, len(prompts), self.prompts_per_request):
            chunk = list(prompts[start:start + self.prompts_per_request])
            try:
                resp = self.client.completions.create(
                    model=model, prompt=chunk, n=n, logprobs=1, max_tokens=self.max_tokens,
                    temperature=self.temperature, top_p=self.top_p, stop=list(stop),
                    extra_body=self.extra_body or None)
            except Exception as e:
                raise self._wrap(e, f"POST /completions ({len(chunk)} prompts, n={n})") from e
            per: list[tuple[list[str], list[float]]] = [([], []) for _ in chunk]
            choices = getattr(resp, "choices", None) or []
            if len(choices) != len(chunk) * n:
                raise self._error(f"{len(choices)} choices for {len(chunk)} prompts x n={n}")
            for ch in choices:
                lp = getattr(ch, "logprobs", None)
                token_lps = [x for x in (getattr(lp, "token_logprobs", None) or []) if x is not None]
                texts, lps = per[ch.index // n]
                texts.append(cut_at_stop(ch.text or "", stop))
                lps.append(min(0.0, float(sum(token_lps))))
            usage = getattr(resp, "usage", None)
            self.stats.tokens_generated += int(getattr(usage, "completion_tokens", 0) or 0)
            self.stats.extra["http_requests"] += 1
            out.extend(_merge(t, lp) for t, lp in per)
        self.stats.calls += 1
        self.stats.prompts += len(prompts)
        self.stats.seconds += time.perf_counter() - t0
        return out


def build_sampler(model: str | None, options: dict | None = None) -> TextSampler:
    """An `OpenAISampler` for an http(s) URL, else an `HFSampler` for a local folder (None: formalization's
    bundled default, `FORMALIZE_MODEL_NAME`)."""
    options = dict(options or {})
    # measured on 12 valid problems with the bundled 135M model: temperature 1.0 gave 0/12 statements that
    # elaborate, 0.3 gave 3/12 (it stays in the prompt's format); raise it for more varied samples
    options.setdefault("temperature", 0.3)
    if model and model.startswith(("http://", "https://")):
        return OpenAISampler(model, **options)
    if not model or model == "default":
        from prover.generate.models import FORMALIZE_MODEL_NAME, default_model_path

        model = str(default_model_path(FORMALIZE_MODEL_NAME))  # formalization's default (models.py says why)
    return HFSampler(model, **options)

"""A generator backed by an OpenAI-compatible completions server (vLLM, SGLang, TGI, llama.cpp's server...).

One HTTP call carries many prompts: `/v1/completions` with `prompt=[p0, p1, ...]` and `n` samples each; the
server answers `len(prompts) * n` choices whose `index` is `prompt_idx * n + sample_idx` (vLLM and SGLang
batch them on the GPU). Each choice is cut to one tactic with `clean_tactic`, and its log-probability is
the sum of the log-probabilities of the tokens up to the one where the kept tactic ends (the rambling after
it, and a stop sequence's token, are not counted).

Start a server with, e.g.:

    vllm serve <model dir> --port 8000        # then build_generator("openai", model="http://localhost:8000/v1")
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence
from urllib.parse import urlparse

from .. import settings
from .base import Candidate, GeneratorStats, GoalRequest, dedupe_sorted
from .prompt import GOAL_TAG, STEP_TAG, clean_tactic, format_prompt

DEFAULT_STOP = ("\n\n", GOAL_TAG)


class GeneratorError(RuntimeError):
    """A generator backend failed (server unreachable, an error status after retries, a malformed answer)."""


def normalize_base_url(url: str) -> str:
    """`http://host:port` -> `http://host:port/v1`; a URL with a path is kept (minus a trailing slash)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an http(s) URL: {url!r} (expected e.g. http://localhost:8000/v1)")
    url = url.rstrip("/")
    if parsed.path in ("", "/"):
        url += "/v1"
    return url


def kept_end(text: str) -> int:
    """Offset in `text` just past the last character that `clean_tactic(text)` keeps.

    Mirrors `clean_tactic`: cut at the first tag, skip leading newlines, keep the first line and the deeper
    indented lines after it, drop trailing whitespace. Then `clean_tactic(text[:kept_end(text)]) ==
    clean_tactic(text)`.
    """
    cut = len(text)
    for tag in (GOAL_TAG, STEP_TAG):
        i = text.find(tag)
        if i != -1:
            cut = min(cut, i)
    t = text[:cut]
    start = len(t) - len(t.lstrip("\n"))
    lines = t[start:].split("\n")
    indent = len(lines[0]) - len(lines[0].lstrip())
    pos = start + len(lines[0])
    for line in lines[1:]:
        if not line.strip() or len(line) - len(line.lstrip()) <= indent:
            break
        pos += 1 + len(line)
    return len(text[:pos].rstrip())


def _token_offsets(tokens: list, offsets: list | None) -> list[int]:
    """Offsets of the tokens relative to the completion's start. The server's `text_offset` is used when it
    is consistent (some servers count from the prompt's start, hence the shift); otherwise the running sum
    of the token strings' lengths."""
    if offsets is not None and len(offsets) == len(tokens) and all(isinstance(o, int) for o in offsets) \
            and all(a <= b for a, b in zip(offsets, offsets[1:])):
        return [o - offsets[0] for o in offsets] if offsets else []
    out, pos = [], 0
    for tok in tokens:
        out.append(pos)
        pos += len(tok) if isinstance(tok, str) else 0
    return out


def parse_choice(text: str, logprobs: Any) -> tuple[str, float, int, bool]:
    """(tactic, logprob, n_tokens, reaches_end) for one choice. `reaches_end`: nothing follows the kept
    tactic in the text (so a completion cut by `max_tokens` may have cut the tactic)."""
    tactic = clean_tactic(text)
    end = kept_end(text)
    tokens = list(_get(logprobs, "tokens") or [])
    token_logprobs = list(_get(logprobs, "token_logprobs") or [])
    if len(tokens) != len(token_logprobs):
        raise ValueError(f"logprobs has {len(tokens)} tokens but {len(token_logprobs)} token_logprobs")
    if text.strip() and not tokens:
        raise ValueError("choice has text but no token logprobs (does the server support logprobs?)")
    offsets = _token_offsets(tokens, _get(logprobs, "text_offset"))
    total, n = 0.0, 0
    for off, lp in zip(offsets, token_logprobs):
        if off >= end:
            break
        total += float(lp) if lp is not None else 0.0
        n += 1
    rest = text[end:]
    return tactic, min(total, 0.0), n, not any(sep in rest for sep in ("\n", GOAL_TAG, STEP_TAG))


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


class OpenAIGenerator:
    """Tactics from an OpenAI-compatible `/v1/completions` endpoint.

    `base_url`: e.g. `http://localhost:8000/v1` (a bare `http://host:port` gets `/v1`). `model`: the served
    model's name; None asks `GET /v1/models` (on first use) and takes the first. Up to
    `prompts_per_request` prompts go in one HTTP call, and up to `parallel_requests` calls are in flight at
    once. Retries (connection errors, 408/429/5xx) are the `openai` client's, `max_retries` of them with
    back-off; what still fails raises `GeneratorError` naming the URL. A completion stopped by `max_tokens`
    whose tactic runs to the end of the text is dropped (the tactic may be cut), counted in
    `stats.extra["dropped_truncated"]`. `extra_body` is merged into the request (e.g. vLLM's `top_k`).
    """

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, max_tokens: int = 64,
                 temperature: float = 1.0, top_p: float = 0.95, timeout: float = 60, max_retries: int = 2,
                 prompts_per_request: int = 16, parallel_requests: int = 4, stop: Sequence[str] = DEFAULT_STOP,
                 extra_body: dict | None = None, source: str = "model", name: str = "openai"):
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.api_key = api_key if api_key is not None else settings.openai_api_key()
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.prompts_per_request = max(1, int(prompts_per_request))
        self.parallel_requests = max(1, int(parallel_requests))
        self.stop = list(stop)
        self.extra_body = dict(extra_body or {})
        self.source = source
        self.name = name
        self.stats = GeneratorStats(extra={"http_requests": 0, "dropped_truncated": 0, "base_url": self.base_url})
        self._client = None
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------------------

    def __getstate__(self) -> dict:  # picklable (e.g. for Ray): the HTTP client is rebuilt on first use
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _error(self, what: str) -> GeneratorError:
        return GeneratorError(f"OpenAI-compatible server at {self.base_url}: {what}")

    def _wrap(self, e: Exception, doing: str) -> GeneratorError:
        import openai

        if isinstance(e, GeneratorError):
            return e
        if isinstance(e, openai.APITimeoutError):
            return self._error(f"{doing} timed out after {self.timeout:g} s (and {self.max_retries} retries)")
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__ or e
            return self._error(f"{doing}: cannot connect ({type(cause).__name__}: {cause}) "
                               f"after {self.max_retries} retries; is the server running?")
        if isinstance(e, openai.APIStatusError):
            body = (e.response.text if e.response is not None else "")[:500]
            retried = e.status_code in (408, 409, 429) or e.status_code >= 500
            after = f" after {self.max_retries} retries" if retried else ""
            return self._error(f"{doing}: HTTP {e.status_code}{after}: {body or e.message}")
        return self._error(f"{doing}: malformed answer ({type(e).__name__}: {e})")

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout,
                                             max_retries=self.max_retries)
            return self._client

    def resolve_model(self) -> str:
        """The model name to send: the given one, or the first that `GET /v1/models` lists."""
        if self.model is not None:
            return self.model
        client = self.client
        with self._lock:
            if self.model is None:
                try:
                    models = [m.id for m in client.models.list().data]
                except Exception as e:
                    raise self._wrap(e, "GET /models") from e
                if not models:
                    raise self._error("GET /models lists no model")
                self.model = models[0]
        return self.model

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- generation ------------------------------------------------------------------------------------

    def _complete(self, prompts: list[str], n: int) -> tuple[list[list[Candidate]], int, int]:
        """One HTTP call: candidates per prompt (not yet deduplicated), tokens generated, dropped."""
        model = self.resolve_model()
        try:
            resp = self.client.completions.create(
                model=model, prompt=prompts, n=n, logprobs=1, max_tokens=self.max_tokens,
                temperature=self.temperature, top_p=self.top_p, stop=self.stop,
                extra_body=self.extra_body or None)
        except Exception as e:
            raise self._wrap(e, f"POST /completions ({len(prompts)} prompts, n={n})") from e
        with self._lock:
            self.stats.extra["http_requests"] += 1
        try:
            choices = _get(resp, "choices")
            if not isinstance(choices, list):
                raise ValueError(f"no 'choices' list in {str(resp)[:200]!r}")
            if len(choices) != len(prompts) * n:
                raise ValueError(f"{len(choices)} choices for {len(prompts)} prompts x n={n}; does the server "
                                 "accept a list of prompts and n > 1?")
            out: list[list[Candidate]] = [[] for _ in prompts]
            seen: set[int] = set()
            tokens, dropped = 0, 0
            for ch in choices:
                idx, text = _get(ch, "index"), _get(ch, "text")
                if not isinstance(idx, int) or not 0 <= idx < len(choices) or idx in seen:
                    raise ValueError(f"bad or repeated choice index {idx!r}")
                if not isinstance(text, str):
                    raise ValueError(f"choice {idx} has no text")
                seen.add(idx)
                lp = _get(ch, "logprobs")
                tokens += len(_get(lp, "tokens") or [])
                tactic, logprob, n_tok, reaches_end = parse_choice(text, lp)
                if not tactic:
                    continue
                if _get(ch, "finish_reason") == "length" and reaches_end:
                    dropped += 1
                    continue
                out[idx // n].append(Candidate(tactic=tactic, logprob=logprob, n_tokens=n_tok, source=self.source))
            usage = _get(resp, "usage")
            completion_tokens = _get(usage, "completion_tokens")
            if isinstance(completion_tokens, int):
                tokens = completion_tokens
        except (AttributeError, TypeError, KeyError, ValueError) as e:
            raise self._error(f"malformed answer to POST /completions: {e}") from e
        return out, tokens, dropped

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        requests = list(requests)
        if not requests or num_samples <= 0:
            return [[] for _ in requests]
        prompts = [format_prompt(r.goals) for r in requests]
        step = self.prompts_per_request
        chunks = [prompts[i:i + step] for i in range(0, len(prompts), step)]
        if len(chunks) == 1 or self.parallel_requests == 1:
            results = [self._complete(c, num_samples) for c in chunks]
        else:
            self.resolve_model()  # once, before the threads
            with ThreadPoolExecutor(max_workers=min(self.parallel_requests, len(chunks))) as pool:
                results = list(pool.map(lambda c: self._complete(c, num_samples), chunks))
        raw = [cands for part, _, _ in results for cands in part]
        out = [dedupe_sorted(c, num_samples) for c in raw]
        with self._lock:
            self.stats.record_call(out, time.perf_counter() - t0)
            self.stats.tokens_generated += sum(t for _, t, _ in results)
            self.stats.extra["dropped_truncated"] += sum(d for _, _, d in results)
        return out

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.base_url!r}, model={self.model!r})"

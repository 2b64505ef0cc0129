"""A tactic generator backed by a local Hugging Face causal LM (default: SmolLM2-135M-Instruct).

`HFGenerator.generate(requests, n)`:
1. builds one prompt per request with `format_prompt(goals)` (optionally after a few-shot prefix), truncated to
   `max_prompt_tokens` (drop trailing goals, then hypotheses from the middle of the main goal, then tokens
   from the left; the prompt always ends with "[PROOFSTEP]\\n");
2. samples `n` completions per prompt (`mode="sample"`, temperature/top-p, with its own top-p processor:
   transformers' sorts the whole vocabulary every step, which on CPU cost as much as the model) or runs beam
   search with `n` beams (`mode="beam"`), several prompts per forward pass with left padding; a completion stops
   at a line that starts at or left of the first line's indentation, a blank line, a tag, or an end token;
3. cuts each completion with `clean_tactic`;
4. scores each distinct tactic EXACTLY: the sum of the token log-probs of `tactic + "\\n"` given the prompt at
   temperature 1, from a teacher-forced batched forward pass. Priorities are therefore comparable between
   sampling and beam search and do not depend on the sampling temperature; `n_tokens` is the number of tokens
   of `tactic + "\\n"`.
Each prompt goes through the model once per call: its key/value cache is copied for the samples (or beams) and
for the scoring pass.

`whole_proof=1` (`--gen-opt whole_proof=1`): at the root (a request with an empty `history` and a statement) it
also samples `proof_samples` (default `n`) whole proofs from `format_proof_prompt(statement)` (after
`PROOF_EXAMPLES` with `few_shot`), up to `proof_tokens` new tokens each, stopping once the tactic block has
ended (`proof_done`); each is split into steps (`prompt.split_proof`, by the Lean lexer) and becomes one path
candidate (`Candidate.steps`, source "model-proof") scored exactly like a tactic: the sum of the token
log-probs of the cut block + "\n". Such a sum over a whole proof is far below one tactic's, so the root's `n`
slots are shared: up to ceil(n/2) go to the best distinct proofs, the rest to the best tactics.

`adapter=DIR` (`--gen-opt adapter=DIR`): a LoRA adapter folder (`make warm-start`) merged into the base model's
weights at load time (`merge_adapter`), so the fine-tuned model samples at the base model's speed.

One instance may be shared by several search threads: `generate` holds a lock. Results are deterministic given
`seed` (each call reseeds from `seed` and a call counter).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence

import torch

from .base import Candidate, GeneratorStats, GoalRequest, dedupe_sorted
from .prompt import (FENCE, GOAL_TAG, STEP_TAG, clean_proof, clean_tactic, format_proof_example, format_proof_prompt,
                     format_prompt, split_proof)

# Hand-written examples in core Lean 4 (no Mathlib), prepended to every prompt when `few_shot=True`.
# They show an untrained model what a [GOAL]/[PROOFSTEP] pair looks like; a fine-tuned model does not need them.
FEW_SHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("x y : Nat\nh₀ : x + y = 10\nh₁ : x - y = 2\n⊢ x = 6", "omega"),
    ("⊢ 2 ^ 10 % 7 = 2", "decide"),
    ("⊢ ∀ (n : Nat), n + 0 = n", "intro n\n  simp"),
    ("n : Nat\n⊢ 2 * (List.range (n + 1)).sum = n * (n + 1)",
     "induction n with\n  | zero => rfl\n  | succ k ih => simp [List.range_succ] at *; omega"),
)


def few_shot_prefix(examples: Sequence[tuple[str, str]] = FEW_SHOT_EXAMPLES) -> str:
    """The examples as consecutive training-format pairs, each followed by a blank line."""
    return "".join(format_prompt([goal]) + tactic + "\n\n" for goal, tactic in examples)


# The same, as whole theorems for the whole-proof prompt (`whole_proof` with `few_shot`).
PROOF_EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("theorem ex₁ (x y : Nat) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6", ("omega",)),
    ("theorem ex₂ : 2 ^ 10 % 7 = 2", ("decide",)),
    ("theorem ex₃ : ∀ (n : Nat), n + 0 = n", ("intro n", "simp")),
    ("theorem ex₄ (n : Nat) : 2 * (List.range (n + 1)).sum = n * (n + 1)",
     ("induction n with\n| zero => rfl\n| succ k ih => simp [List.range_succ] at *; omega",)),
)


def proof_few_shot_prefix(examples: Sequence[tuple[str, Sequence[str]]] = PROOF_EXAMPLES) -> str:
    """The examples as whole-proof training pairs, each followed by a blank line."""
    return "".join("".join(format_proof_example(stmt, tactics)) + "\n" for stmt, tactics in examples)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def completion_done(text: str) -> bool:
    """True once `clean_tactic(text)` can no longer change: the tactic's last line has been followed by a line at
    or left of the first line's indentation, by a blank line, or by a tag."""
    if GOAL_TAG in text or STEP_TAG in text:
        return True
    lines = text.lstrip("\n").split("\n")
    if len(lines) < 2:
        return False
    first = _indent(lines[0])
    for line in lines[1:-1]:  # complete lines
        if not line.strip() or _indent(line) <= first:
            return True
    last = lines[-1]  # still being written: decided only once it has a visible character
    return bool(last.strip()) and _indent(last) <= first


def proof_done(text: str) -> bool:
    """True once `clean_proof(text)` can no longer change: a tag or a code fence has come, or a line left of
    the first line's column has begun (with a visible character)."""
    if GOAL_TAG in text or STEP_TAG in text or FENCE in text:
        return True
    lines = text.lstrip("\n").split("\n")
    if len(lines) < 2:
        return False
    first = _indent(lines[0])
    return any(line.strip() and _indent(line) < first for line in lines[1:])


class _StopAtTacticEnd:
    """A stopping criterion (per row): the generated text is one complete tactic (`done`: `completion_done`;
    `proof_done` for whole proofs). Stateless, so it also works for beam search, which calls it on reordered
    candidate rows. Only rows that generated a token with a newline or a "[" (`break_mask`) are decoded."""

    def __init__(self, tokenizer, prompt_len: int, break_mask: torch.Tensor, done=completion_done):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.break_mask = break_mask
        self.done = done

    def __call__(self, input_ids: torch.LongTensor, scores=None, **kwargs) -> torch.BoolTensor:
        gen = input_ids[:, self.prompt_len:]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if gen.shape[1] == 0:
            return done
        has_nl = self.break_mask.to(gen.device)[gen].any(dim=1)
        rows = has_nl.nonzero().flatten().tolist()
        if rows:
            texts = self.tokenizer.batch_decode(gen[rows].tolist(), skip_special_tokens=True)
            for r, text in zip(rows, texts):
                if self.done(text):
                    done[r] = True
        return done


class _TemperatureTopP:
    """Temperature and nucleus (top-p) filtering as one logits processor, without sorting the vocabulary.

    transformers' top-p warper sorts all 49k logits of every row at every step, which on CPU cost as much as
    the model's forward pass. Here the nucleus is found among the `k` most likely tokens (topk); a row whose
    top `k` do not reach `top_p` falls back to a full sort. Same semantics: keep the most likely tokens until
    their total probability reaches `top_p` (at least one)."""

    def __init__(self, temperature: float, top_p: float, k: int = 256):
        self.temperature = temperature
        self.top_p = top_p
        self.k = k

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        if self.temperature != 1.0:
            scores = scores / self.temperature
        if self.top_p >= 1.0:
            return scores
        probs = torch.softmax(scores.float(), dim=-1)
        k = min(self.k, scores.shape[-1])
        top, idx = probs.topk(k, dim=-1)
        short = top.sum(-1) < self.top_p
        if bool(short.any()):  # the nucleus is wider than k for these rows: sort them whole
            full, full_idx = probs[short].sort(dim=-1, descending=True)
            keep_full = (full.cumsum(-1) - full) < self.top_p
            out_short = torch.full_like(scores[short], float("-inf"))
            out_short.scatter_(1, full_idx, torch.where(keep_full, scores[short].gather(1, full_idx),
                                                        torch.full_like(full, float("-inf"), dtype=scores.dtype)))
        keep = (top.cumsum(-1) - top) < self.top_p
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, idx, torch.where(keep, scores.gather(1, idx), torch.full_like(scores[:, :1], float("-inf"))))
        if bool(short.any()):
            out[short] = out_short
        return out


def _resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return table[dtype]


def merge_adapter(model, adapter: str | Path):
    """`model` with the LoRA adapter folder `adapter` (peft: adapter_config.json + adapter_model.safetensors, as
    `prover.train.warm_start` writes) merged into its weights, so generation costs what the base model costs.
    The model is modified in place. Raises FileNotFoundError naming a folder that holds no adapter."""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"adapter={adapter}: no adapter_config.json there (a LoRA adapter folder, as "
                                f"`make warm-start` writes, is expected)")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(path)).merge_and_unload()


class HFGenerator:
    """TacticGenerator over a local Hugging Face causal LM (see the module docstring)."""

    name = "hf"

    def __init__(self, model_path: str | Path | None = None, *, device: str | None = None, dtype: str = "auto",
                 max_new_tokens: int = 48, temperature: float = 1.0, top_p: float = 0.95, mode: str = "sample",
                 batch_size: int = 16, max_prompt_tokens: int = 1024, seed: int = 0, few_shot: bool = False,
                 adapter: str | Path | None = None, whole_proof: bool = False, proof_samples: int | None = None,
                 proof_tokens: int = 256, model=None, tokenizer=None):
        from transformers import AutoTokenizer

        if mode not in ("sample", "beam"):
            raise ValueError(f"mode must be 'sample' or 'beam', not {mode!r}")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.mode = mode
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.batch_size = max(1, batch_size)
        self.max_prompt_tokens = max_prompt_tokens
        self.seed = seed
        self.few_shot = few_shot
        self.prefix = few_shot_prefix() if few_shot else ""
        self.whole_proof = bool(whole_proof)
        self.proof_samples = None if proof_samples is None else max(1, int(proof_samples))
        self.proof_tokens = max(1, int(proof_tokens))
        self.proof_prefix = proof_few_shot_prefix() if few_shot else ""
        self.stats = GeneratorStats()
        self._lock = threading.Lock()
        self._calls = 0

        if model is None:
            from transformers import AutoModelForCausalLM

            from .models import resolve_model

            path = resolve_model(None if model_path is None else str(model_path))
            model_path = path
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
            want = _resolve_dtype(dtype, self.device)
            # an adapter is merged in fp32, then the merged weights are cast: no bf16 rounding of the sum
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32 if adapter else want)
            if adapter:
                model = merge_adapter(model, adapter)
            model = model.to(self.device, want)
        else:  # preloaded: move or cast only when asked to
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with a preloaded model")
            if adapter:
                model = merge_adapter(model, adapter)
            if device is not None:
                model = model.to(self.device)
            if dtype != "auto":
                model = model.to(_resolve_dtype(dtype, self.device))
            self.device = str(model.device)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_path = str(model_path) if model_path is not None else getattr(model, "name_or_path", "")
        self.adapter = str(adapter) if adapter else None

        tok = tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        # Any special token (end of turn, end of text, ...) ends a tactic.
        self.stop_ids = sorted({i for i in (tok.all_special_ids or []) if i is not None} | {tok.eos_token_id})
        vocab = max(len(tok), model.get_output_embeddings().weight.shape[0])
        nl = torch.zeros(vocab, dtype=torch.bool)
        pieces = tok.batch_decode([[i] for i in range(len(tok))])
        nl[[i for i, p in enumerate(pieces) if "\n" in p or "[" in p]] = True  # could end a tactic
        self._break_mask = nl
        head = len(self._encode(self.prefix + GOAL_TAG + "\n")) + len(self._encode("\n" + STEP_TAG + "\n"))
        if max_prompt_tokens < head + 8:
            raise ValueError(f"max_prompt_tokens={max_prompt_tokens} leaves no room for the goal "
                             f"(the tags{' and few-shot prefix' if few_shot else ''} take {head} tokens)")

    # ---- prompts -------------------------------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _prompt_text(self, goals: Sequence[str]) -> str:
        return self.prefix + format_prompt(goals)

    def prompt_ids(self, goals: Sequence[str]) -> tuple[list[int], bool]:
        """Token ids of the prompt for these goals, at most `max_prompt_tokens`, and whether it was truncated.

        Too long: drop goals from the end (the main goal comes first), then hypotheses from the middle of the main
        goal's context (kept: the first and the last ones, nearest the target, with a `⋯` line between), and if
        the target alone is still too long, keep its last tokens."""
        limit = self.max_prompt_tokens
        ids = self._encode(self._prompt_text(goals))
        if len(ids) <= limit:
            return ids, False
        goals = list(goals)
        while len(goals) > 1:
            goals.pop()
            ids = self._encode(self._prompt_text(goals))
            if len(ids) <= limit:
                return ids, True
        lines = goals[0].split("\n")
        t = next((i for i, line in enumerate(lines) if line.startswith("⊢")), len(lines) - 1)
        hyps, target = lines[:t], lines[t:]

        def build(k: int) -> str:  # keep k hypotheses: the first k//2 and the last k - k//2
            kept = hyps[:k // 2] + ["⋯"] + (hyps[len(hyps) - (k - k // 2):] if k - k // 2 else [])
            return "\n".join(kept + target)

        lo, hi = -1, len(hyps) - 1  # largest k that fits, by bisection (-1: none fits)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(self._encode(self._prompt_text([build(mid)]))) <= limit:
                lo = mid
            else:
                hi = mid - 1
        if lo >= 0:
            return self._encode(self._prompt_text([build(lo)])), True
        head = self._encode(self.prefix + GOAL_TAG + "\n")
        tail = self._encode("\n" + STEP_TAG + "\n")
        body = self._encode("\n".join(target))
        return head + body[len(body) - (limit - len(head) - len(tail)):] + tail, True

    def _left_pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
                mask[i, width - len(s):] = 1
        return ids.to(self.model.device), mask.to(self.model.device)

    # ---- generation ----------------------------------------------------------------------------------------
    # Each chunk of prompts is run through the model once (all tokens but the last, left-padded); its key/value
    # cache is then copied for the n samples or beams of every prompt, and again for scoring. So a prompt costs
    # one forward pass however many samples are drawn and tactics scored.

    def _prefix(self, prompts: Sequence[Sequence[int]]):
        """KV cache of every prompt but its last token (left-padded to a common width), that width's ids and
        mask, and the last tokens."""
        ids, mask = self._left_pad([p[:-1] for p in prompts])
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        last = torch.tensor([p[-1] for p in prompts], dtype=torch.long, device=ids.device)
        return kv, ids, mask, last

    def _cache(self, kv, rows: torch.Tensor):
        """A fresh cache holding the prefix rows `rows` (generation and scoring append to it in place)."""
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(k[rows], v[rows]) for k, v in kv], config=self.model.config)

    def _generate_chunk(self, prefix, n: int, max_new_tokens: int | None = None,
                        stopping=None) -> tuple[list[list[str]], int]:
        """Raw completions (n per prompt) and the number of generated tokens (at most `max_new_tokens`, default
        the generator's; `stopping(prompt_len)` makes the stopping criterion, default `_stopping`)."""
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        kv, pids, pmask, last = prefix
        ids = torch.cat([pids, last[:, None]], dim=1)
        mask = torch.cat([pmask, torch.ones_like(pmask[:, :1])], dim=1)
        # generate() repeats the inputs n times (samples or beams) but not a cache passed in: repeat it here
        cache = self._cache(kv, torch.arange(len(last), device=ids.device).repeat_interleave(n))
        common = dict(max_new_tokens=max_new_tokens or self.max_new_tokens, num_return_sequences=n,
                      pad_token_id=self.pad_id, eos_token_id=self.stop_ids, bos_token_id=None, use_cache=True)
        if self.mode == "beam":
            cfg = GenerationConfig(do_sample=False, num_beams=n, early_stopping=True, length_penalty=1.0,
                                   **common)
        else:
            cfg = GenerationConfig(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, **common)
        extra = {} if self.mode == "beam" else \
            {"logits_processor": LogitsProcessorList([_TemperatureTopP(self.temperature, self.top_p)])}
        stop = StoppingCriteriaList([(stopping or self._stopping)(ids.shape[1])])
        out = self.model.generate(input_ids=ids, attention_mask=mask, cache=cache,
                                  generation_config=cfg, stopping_criteria=stop, **extra)
        gen = out[:, ids.shape[1]:]
        n_tokens = int((gen != self.pad_id).sum())
        texts = self.tokenizer.batch_decode(gen.tolist(), skip_special_tokens=True)
        return [texts[i * n:(i + 1) * n] for i in range(len(last))], n_tokens

    def _stopping(self, prompt_len: int):
        """When a generated row is finished: here, once it holds one whole tactic (subclasses stop elsewhere)."""
        return _StopAtTacticEnd(self.tokenizer, prompt_len, self._break_mask)

    def _score_rows(self, prefix, rows: Sequence[tuple[int, list[int]]]) -> list[float]:
        """log p(cont | prompt b) for each (b, cont), b indexing the prefix's prompts: a teacher-forced pass over
        [last prompt token] + cont (right-padded) on top of a copy of the prompt's cache."""
        kv, _, pmask, last = prefix
        dev = pmask.device
        plen = pmask.sum(-1)  # real prompt tokens before the last one
        out: list[float] = []
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            b = torch.tensor([r[0] for r in part], dtype=torch.long, device=dev)
            width = 1 + max(len(r[1]) for r in part)
            x = torch.full((len(part), width), self.pad_id, dtype=torch.long, device=dev)
            xm = torch.zeros((len(part), width), dtype=torch.long, device=dev)
            for i, (_, cont) in enumerate(part):
                x[i, 1:1 + len(cont)] = torch.tensor(cont, dtype=torch.long, device=dev)
                xm[i, :1 + len(cont)] = 1
            x[:, 0] = last[b]
            mask = torch.cat([pmask[b], xm], dim=1)
            pos = plen[b][:, None] + torch.arange(width, device=dev)[None, :]
            logits = self.model(input_ids=x, attention_mask=mask, position_ids=pos, cache=self._cache(kv, b),
                                use_cache=True, logits_to_keep=width).logits[:, :-1].float()
            logp = logits.gather(-1, x[:, 1:, None])[..., 0] - torch.logsumexp(logits, dim=-1)
            logp = logp * xm[:, 1:]
            out.extend(float(v) for v in logp.sum(-1))
        return out

    @torch.inference_mode()
    def score(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
        """Sum of log p(continuation | prompt) at temperature 1 for each (prompt ids, continuation ids)."""
        prompts: dict[tuple[int, ...], int] = {}
        for p, _ in pairs:
            prompts.setdefault(tuple(p), len(prompts))
        plist = list(prompts)
        out = [0.0] * len(pairs)
        for start in range(0, len(plist), self.batch_size):
            chunk = plist[start:start + self.batch_size]
            idx = [i for i, (p, _) in enumerate(pairs) if start <= prompts[tuple(p)] < start + len(chunk)]
            scores = self._score_rows(self._prefix(chunk), [(prompts[tuple(pairs[i][0])] - start, pairs[i][1])
                                                            for i in idx])
            for i, v in zip(idx, scores):
                out[i] = v
        return out

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        if not requests or num_samples <= 0:
            return [[] for _ in requests]
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            self._calls += 1
            prompts, truncated = [], 0
            for r in requests:
                ids, cut = self.prompt_ids(r.goals)
                prompts.append(ids)
                truncated += cut
            per_call = max(1, self.batch_size // num_samples)
            # sampling with more samples than batch_size: split one prompt's samples over several calls
            splits = [num_samples] if self.mode == "beam" or num_samples <= self.batch_size else \
                [min(self.batch_size, num_samples - k) for k in range(0, num_samples, self.batch_size)]
            result: list[list[Candidate]] = []
            gen_tokens = scored = 0
            t_gen = 0.0
            devices = [self.model.device] if self.model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed * 1_000_003 + self._calls)
                for start in range(0, len(prompts), per_call):
                    t1 = time.perf_counter()
                    chunk = prompts[start:start + per_call]
                    prefix = self._prefix(chunk)
                    raw: list[list[str]] = [[] for _ in chunk]
                    for n in splits:
                        texts, k = self._generate_chunk(prefix, n)
                        gen_tokens += k
                        for j, t in enumerate(texts):
                            raw[j].extend(t)
                    t2 = time.perf_counter()
                    t_gen += t2 - t1
                    tactics = [list(dict.fromkeys(t for t in map(clean_tactic, texts) if t)) for texts in raw]
                    rows = [(j, self._encode(tac + "\n")) for j, tacs in enumerate(tactics) for tac in tacs]
                    scores = iter(self._score_rows(prefix, rows)) if rows else iter(())
                    lens = iter(len(r[1]) for r in rows)
                    scored += len(rows)
                    for tacs in tactics:
                        cands = [Candidate(tac, min(0.0, next(scores)), n_tokens=next(lens), source="model")
                                 for tac in tacs]
                        result.append(dedupe_sorted(cands, limit=num_samples))
                roots = [i for i, r in enumerate(requests) if self.whole_proof and not r.history and r.statement]
                if roots:
                    t1 = time.perf_counter()
                    proofs, k = self._sample_proofs([requests[i].statement for i in roots],
                                                    self.proof_samples or num_samples)
                    gen_tokens += k
                    t_gen += time.perf_counter() - t1
                    share = (num_samples + 1) // 2
                    for i, cands in zip(roots, proofs):
                        kept = dedupe_sorted(cands, limit=share)
                        result[i] = dedupe_sorted(kept + result[i][:num_samples - len(kept)], limit=num_samples)
            t3 = time.perf_counter()
            s = self.stats
            s.record_call(result, t3 - t0)
            s.tokens_generated += gen_tokens
            s.extra["generate_seconds"] = s.extra.get("generate_seconds", 0.0) + t_gen
            s.extra["score_seconds"] = s.extra.get("score_seconds", 0.0) + (t3 - t0 - t_gen)
            s.extra["truncated_prompts"] = s.extra.get("truncated_prompts", 0) + truncated
            s.extra["scored"] = s.extra.get("scored", 0) + scored
            return result

    def _proof_stopping(self, prompt_len: int):
        return _StopAtTacticEnd(self.tokenizer, prompt_len, self._break_mask, done=proof_done)

    def _sample_proofs(self, statements: Sequence[str], n: int) -> tuple[list[list[Candidate]], int]:
        """`n` sampled whole proofs per statement as path candidates (steps split by the Lean lexer, scored
        exactly: log p(block + "\n" | prompt)), and the number of generated tokens. Long prompts keep their
        last tokens (the statement, nearest the proof). Called under the lock and the seeded RNG."""
        prompts = [self._encode(self.proof_prefix + format_proof_prompt(st))[-self.max_prompt_tokens:]
                   for st in statements]
        per_call = max(1, self.batch_size // n)
        splits = [n] if self.mode == "beam" else [min(self.batch_size, n - k) for k in range(0, n, self.batch_size)]
        out: list[list[Candidate]] = []
        gen_tokens = 0
        s = self.stats.extra
        for start in range(0, len(prompts), per_call):
            chunk = prompts[start:start + per_call]
            prefix = self._prefix(chunk)
            raw: list[list[str]] = [[] for _ in chunk]
            for m in splits:
                texts, k = self._generate_chunk(prefix, m, self.proof_tokens, self._proof_stopping)
                gen_tokens += k
                for j, t in enumerate(texts):
                    raw[j].extend(t)
            paths = []  # per prompt: {block text: steps}, first sample first
            for texts in raw:
                found: dict[str, list[str]] = {}
                for t in texts:
                    steps = split_proof(t)
                    if steps:
                        found.setdefault(clean_proof(t), steps)
                    else:
                        s["unsplittable_proofs"] = s.get("unsplittable_proofs", 0) + 1
                paths.append(found)
            rows = [(j, self._encode(block + "\n")) for j, found in enumerate(paths) for block in found]
            scores = iter(self._score_rows(prefix, rows)) if rows else iter(())
            lens = iter(len(r[1]) for r in rows)
            s["scored"] = s.get("scored", 0) + len(rows)
            for found in paths:
                out.append(dedupe_sorted([Candidate(steps[0], min(0.0, next(scores)), n_tokens=next(lens),
                                                    source="model-proof", steps=tuple(steps[1:]))
                                          for steps in found.values()]))
        s["proof_prompts"] = s.get("proof_prompts", 0) + len(prompts)
        s["proof_candidates"] = s.get("proof_candidates", 0) + sum(len(c) for c in out)
        return out, gen_tokens

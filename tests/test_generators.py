"""Generators that need no model: fixed, mix, cross-thread batching, the factory, and the OpenAI-compatible
client against a real (scripted) HTTP server that speaks the vLLM/OpenAI completions schema."""
from __future__ import annotations

import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prover.generate import (DEFAULT_TACTICS, BatchingGenerator, Candidate, FixedGenerator, GeneratorError,
                             GeneratorStats, GoalRequest, MixGenerator, OpenAIGenerator, TacticGenerator,
                             build_generator, clean_tactic, format_prompt)
from prover.generate.openai_api import kept_end


def req(goal: str, theorem: str = "t") -> GoalRequest:
    return GoalRequest(goals=(goal,), theorem=theorem)


def assert_contract(out, requests, n: int | None = None) -> None:
    """The invariant of prover/generate/base.py on one answer (`n`: the bound, None for rule-based lists)."""
    assert isinstance(out, list) and len(out) == len(requests)
    for cands in out:
        assert isinstance(cands, list) and all(isinstance(c, Candidate) for c in cands)
        if n is not None:
            assert len(cands) <= n
        keys = [c.key for c in cands]  # a path: every step whitespace-normalised
        assert all(all(k) for k in keys) and len(set(keys)) == len(keys), keys
        lps = [c.logprob for c in cands]
        assert lps == sorted(lps, reverse=True)
        assert all(math.isfinite(lp) and lp <= 0 for lp in lps)
        assert all(isinstance(c.source, str) and c.source for c in cands)


# --------------------------------------------------------------------------------------------- fixed / mix


def test_fixed_default_is_core_lean_and_uniform():
    assert 8 <= len(DEFAULT_TACTICS) <= 10
    mathlib_only = {"norm_num", "linarith", "nlinarith", "positivity", "ring", "field_simp", "aesop", "polyrith"}
    assert not mathlib_only & set(DEFAULT_TACTICS)
    gen = FixedGenerator()
    assert isinstance(gen, TacticGenerator) and gen.name == "fixed"
    requests = [req("x = x"), req("1 + 1 = 2")]
    out = gen.generate(requests, 1)  # whole list regardless of num_samples
    assert_contract(out, requests)
    for cands in out:
        assert [c.tactic for c in cands] == list(DEFAULT_TACTICS)  # ties keep the given order
        assert all(c.source == "fixed" and c.logprob == pytest.approx(math.log(1 / len(DEFAULT_TACTICS)))
                   for c in cands)
    assert out[0] is not out[1]
    assert (gen.stats.calls, gen.stats.prompts, gen.stats.candidates) == (1, 2, 2 * len(DEFAULT_TACTICS))


def test_fixed_priors_duplicates_and_errors():
    gen = FixedGenerator([("rfl", 0.2), ("omega", 0.5), ("simp", 0.3), ("omega", 0.9)], name="prior")
    (cands,) = gen.generate([req("g")], 8)
    assert [c.tactic for c in cands] == ["omega", "simp", "rfl"]
    assert [c.logprob for c in cands] == pytest.approx([math.log(0.5), math.log(0.3), math.log(0.2)])
    assert gen.name == "prior"
    assert FixedGenerator(["a", "b"]).generate([req("g")], 1)[0][0].logprob == pytest.approx(math.log(0.5))
    with pytest.raises(ValueError):
        FixedGenerator([])
    with pytest.raises(ValueError):
        FixedGenerator([("omega", 1.5)])


class ScriptedGenerator:
    """A model stand-in: answers per goal from a script, keeps stats, records calls."""

    def __init__(self, script: dict[str, list[tuple[str, float]]], name: str = "fake", delay: float = 0.0,
                 error: Exception | None = None):
        self.script, self.name, self.delay, self.error = script, name, delay, error
        self.stats = GeneratorStats()
        self.calls: list[tuple[list[GoalRequest], int]] = []
        self._lock = threading.Lock()

    def generate(self, requests, num_samples):
        with self._lock:
            self.calls.append((list(requests), num_samples))
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        out = [[Candidate(t, lp, 1) for t, lp in self.script.get(r.goals[0], [])][:num_samples] for r in requests]
        with self._lock:
            self.stats.calls += 1
            self.stats.prompts += len(requests)
            self.stats.candidates += sum(map(len, out))
            self.stats.tokens_generated += sum(map(len, out))
        return out


def test_mix_merges_per_request_keeping_the_best():
    model = ScriptedGenerator({"a": [("omega", -0.1), ("simp [h]", -1.0)], "b": [("exact h", -3.0)]})
    fixed = FixedGenerator(["omega", "simp"])  # log(1/2) = -0.69
    mix = MixGenerator([model, fixed])
    assert mix.name == "fake+fixed" and isinstance(mix, TacticGenerator)
    requests = [req("a"), req("b")]
    out = mix.generate(requests, 4)
    assert_contract(out, requests)
    assert [(c.tactic, c.source) for c in out[0]] == [("omega", "model"), ("simp", "fixed"), ("simp [h]", "model")]
    assert [c.tactic for c in out[1]] == ["omega", "simp", "exact h"]
    assert model.calls[0][0] == requests  # every part sees the same requests
    s = mix.stats
    assert (s.calls, s.prompts, s.candidates, s.tokens_generated) == (1, 2, 6, 3)
    assert s.extra["parts"]["fake"]["candidates"] == 3 and s.extra["parts"]["fixed"]["candidates"] == 4
    assert MixGenerator([fixed], name="x").name == "x"


# --------------------------------------------------------------------------------------------- batching


def _echo_script(goals):
    return {g: [(f"{g}:t1", -0.5), (f"{g}:t2", -1.5)] for g in goals}


def _run_threads(fn, k):
    barrier = threading.Barrier(k)
    results, errors = [None] * k, [None] * k

    def work(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:
            errors[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_batching_merges_concurrent_calls_and_hands_out_slices():
    goals = {i: [f"g{i}-{j}" for j in range(i + 1)] for i in range(4)}  # 1, 2, 3, 4 requests
    inner = ScriptedGenerator(_echo_script([g for gs in goals.values() for g in gs]), name="inner", delay=0.2)
    with BatchingGenerator(inner, max_batch=32, max_wait_s=0.2) as gen:
        assert gen.name == "inner" and isinstance(gen, TacticGenerator)
        results, errors = _run_threads(lambda i: gen.generate([req(g) for g in goals[i]], 2), 4)
        assert errors == [None] * 4
        assert 1 <= len(inner.calls) <= 2
        assert sum(len(r) for r, _ in inner.calls) == 10
        for i in range(4):
            assert [[c.tactic for c in cands] for cands in results[i]] == [[f"{g}:t1", f"{g}:t2"] for g in goals[i]]
        s = gen.stats
        assert s.extra["batches"] == len(inner.calls) and s.extra["callers"] == 4
        assert s.extra["mean_batch_size"] == pytest.approx(10 / len(inner.calls))
        assert s.calls == inner.stats.calls
        assert gen.generate([], 2) == []


def test_batching_exception_reaches_every_caller_and_thread_survives():
    inner = ScriptedGenerator({}, delay=0.1, error=ValueError("model exploded"))
    gen = BatchingGenerator(inner, max_wait_s=0.1)
    try:
        results, errors = _run_threads(lambda i: gen.generate([req(f"g{i}")], 1), 3)
        assert all(isinstance(e, ValueError) and "model exploded" in str(e) for e in errors)
        inner.error = None
        inner.script = _echo_script(["ok"])
        assert gen.generate([req("ok")], 1)[0][0].tactic == "ok:t1"
    finally:
        gen.close()
    with pytest.raises(RuntimeError, match="closed"):
        gen.generate([req("ok")], 1)


def test_batching_groups_by_num_samples_and_respects_max_batch():
    inner = ScriptedGenerator(_echo_script([f"g{i}" for i in range(6)]), delay=0.05)
    with BatchingGenerator(inner, max_batch=4, max_wait_s=0.2) as gen:
        n_of = {0: 1, 1: 2, 2: 1, 3: 2, 4: 1, 5: 2}
        results, errors = _run_threads(lambda i: gen.generate([req(f"g{i}"), req(f"g{i}")], n_of[i]), 6)
        assert errors == [None] * 6
        for reqs, n in inner.calls:
            assert len(reqs) <= 4
            assert {n_of[int(r.goals[0][1:])] for r in reqs} == {n}
        for i in range(6):
            assert [len(c) for c in results[i]] == [n_of[i]] * 2
            assert results[i][0][0].tactic == f"g{i}:t1"


# --------------------------------------------------------------------------------------------- factory


def test_factory():
    assert isinstance(build_generator("fixed"), FixedGenerator)
    assert build_generator("fixed", fixed_tactics=["rfl"]).generate([req("g")], 1)[0][0].tactic == "rfl"
    mix = build_generator("openai+fixed", model="http://127.0.0.1:9/v1", options={"max_tokens": 32})
    assert isinstance(mix, MixGenerator) and mix.name == "openai+fixed"
    assert isinstance(mix.parts[0], OpenAIGenerator) and mix.parts[0].max_tokens == 32
    assert build_generator("openai", model="http://h:8000").base_url == "http://h:8000/v1"
    with pytest.raises(ValueError, match="URL"):
        build_generator("openai", model="/models/prover")
    with pytest.raises(ValueError, match="fixed, hf, openai"):
        build_generator("fixed+vllm")
    with pytest.raises(ValueError):
        build_generator("")


def test_factory_hf_is_lazy_and_gets_model_and_options(monkeypatch):
    seen = {}

    class FakeHF(ScriptedGenerator):
        def __init__(self, model_path=None, **options):
            super().__init__({}, name="hf")
            seen.update(model_path=model_path, options=options)

    fake = types.ModuleType("prover.generate.hf")
    fake.HFGenerator = FakeHF
    monkeypatch.setitem(sys.modules, "prover.generate.hf", fake)
    gen = build_generator("hf+fixed", model="some/model", options={"batch_size": 8})
    assert gen.name == "hf+fixed"
    assert seen == {"model_path": "some/model", "options": {"batch_size": 8}}


# --------------------------------------------------------------------------------------------- OpenAI


class FakeOpenAIServer:
    """A minimal OpenAI-compatible server (the vLLM flavour of /v1/completions) on 127.0.0.1.

    `script` maps a goal (found in the prompt) to samples; sample j of a prompt is script[goal][j % len], a
    list of (token, logprob). Like vLLM, generation stops after the token that completes a stop string (the
    text is cut before the stop string, the token stays in logprobs), or after max_tokens tokens
    (finish_reason "length"), or when the sample's tokens run out (end of sequence).
    """

    def __init__(self, script: dict[str, list[list[tuple[str, float]]]], models=("fake-prover-7b",)):
        self.script, self.models = script, list(models)
        self.bodies: list[dict] = []
        self.fail_status: int | None = None
        self.mode = "ok"  # "ok" | "first_prompt_only" | "not_json"
        self.offset_from_prompt = False  # OpenAI's original API counts text_offset from the prompt's start
        self.die_on_post: int | None = None  # the process kills itself (SIGKILL) on this POST, mid-request
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, obj=None, raw=None):
                data = raw if raw is not None else json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if raw is None else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path != "/v1/models":
                    return self._send(404, {"object": "error", "message": "not found", "type": "NotFoundError",
                                            "code": 404})
                self._send(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "vllm", "root": m,
                     "parent": None, "max_model_len": 4096} for m in outer.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                outer.posts += 1
                if outer.die_on_post is not None and outer.posts >= outer.die_on_post:
                    os.kill(os.getpid(), signal.SIGKILL)  # only in a server process of its own (test_outcomes)
                if self.path != "/v1/completions":
                    return self._send(404, {"object": "error", "message": "not found", "type": "NotFoundError",
                                            "code": 404})
                if outer.fail_status:
                    return self._send(outer.fail_status, {"object": "error", "message": "CUDA out of memory",
                                                          "type": "InternalServerError", "param": None,
                                                          "code": outer.fail_status})
                if outer.mode == "not_json":
                    return self._send(200, raw=b"<html>gateway says hi</html>")
                self._send(200, outer.complete(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _sample(self, prompt: str, j: int) -> list[tuple[str, float]]:
        for goal, samples in self.script.items():
            if goal in prompt:
                return samples[j % len(samples)]
        return [("sorry", -9.0)]

    def complete(self, body: dict) -> dict:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if self.mode == "first_prompt_only":
            prompts = prompts[:1]
        n, max_tokens, stop = body.get("n", 1), body.get("max_tokens", 16), body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        choices, total = [], 0
        for p, prompt in enumerate(prompts):
            for j in range(n):
                text, toks, finish = "", [], "stop"
                for tok, lp in self._sample(prompt, j):
                    if len(toks) == max_tokens:
                        finish = "length"
                        break
                    toks.append((tok, lp))
                    text += tok
                    hits = [text.find(s) for s in stop if s in text]
                    if hits:
                        text = text[:min(hits)]
                        break
                offsets, pos = [], len(prompt) if self.offset_from_prompt else 0
                for tok, _ in toks:
                    offsets.append(pos)
                    pos += len(tok)
                total += len(toks)
                choices.append({"index": p * n + j, "text": text, "finish_reason": finish, "stop_reason": None,
                                "logprobs": {"text_offset": offsets, "token_logprobs": [lp for _, lp in toks],
                                             "tokens": [t for t, _ in toks],
                                             "top_logprobs": [{t: lp} for t, lp in toks]}})
        return {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": body["model"],
                "choices": choices,
                "usage": {"prompt_tokens": 10 * len(prompts), "completion_tokens": total,
                          "total_tokens": 10 * len(prompts) + total}}


SCRIPT = {
    "x + 0 = x": [
        [("om", -0.1), ("ega", -0.2), ("\n\n", -0.3), ("rub", -5.0), ("bish", -5.0)],  # kept: om, ega
        [("simp", -1.0), ("\n", -0.5), ("[GOAL]", -2.0)],  # kept: simp
        [("om", -0.4), ("ega", -0.4)],  # duplicate "omega", worse: dropped by dedupe
        [(" cases", -0.5), (" h", -0.5), (" with", -0.1), ("\n", -0.1), ("  |", -0.2), (" inl", -0.1),
         (" =>", -0.1), (" rfl", -0.1), ("\n", -0.1), ("exact", -3.0)],  # two-line tactic, then a new line
    ],
    "a ∧ b": [
        [("constructor\n", -0.7), ("x", -4.0)],  # the token where the tactic ends also holds the newline
        [("exact", -0.1), (" ⟨", -0.2), ("ha", -0.3), (",", -0.1), (" hb", -0.1), ("⟩", -0.1)],
        [("simp", -0.1), (" [", -0.1), ("foo", -0.1), (",", -0.1), (" bar]", -0.1)],  # max_tokens=3 cuts it
    ],
}


@pytest.fixture
def server():
    srv = FakeOpenAIServer(SCRIPT)
    yield srv
    srv.close()


def test_openai_batches_prompts_and_scores_kept_tokens(server):
    gen = OpenAIGenerator(server.url, max_tokens=3 + 7, max_retries=0)
    assert gen.name == "openai" and isinstance(gen, TacticGenerator)
    requests = [req("x + 0 = x"), GoalRequest(goals=("ha : a\nhb : b\n⊢ a ∧ b",))]
    out = gen.generate(requests, 4)
    assert_contract(out, requests, 4)
    assert len(server.bodies) == 1  # one HTTP call for both prompts
    body = server.bodies[0]
    assert body["prompt"] == [format_prompt(r.goals) for r in requests]
    assert body["model"] == "fake-prover-7b"  # asked GET /v1/models
    assert body["n"] == 4 and body["logprobs"] == 1 and body["max_tokens"] == 10
    assert body["stop"] == ["\n\n", "[GOAL]"] and body["temperature"] == 1.0 and body["top_p"] == 0.95
    got = {c.tactic: (c.logprob, c.n_tokens, c.source) for c in out[0]}
    assert set(got) == {"omega", "simp", "cases h with\n | inl => rfl"}
    assert got["omega"] == (pytest.approx(-0.3), 2, "model")  # not the stop token, not "rubbish"
    assert got["simp"][:2] == (pytest.approx(-1.0), 1)
    assert got["cases h with\n | inl => rfl"][:2] == (pytest.approx(-1.7), 8)  # not the "\n" nor "exact"
    assert [c.tactic for c in out[0]] == ["omega", "simp", "cases h with\n | inl => rfl"]
    got = {c.tactic: (c.logprob, c.n_tokens) for c in out[1]}
    assert got == {"simp [foo, bar]": (pytest.approx(-0.5), 5), "constructor": (pytest.approx(-0.7), 1),
                   "exact ⟨ha, hb⟩": (pytest.approx(-0.9), 6)}
    s = gen.stats
    assert (s.calls, s.prompts, s.candidates) == (1, 2, 6)
    assert s.extra["http_requests"] == 1 and s.extra["dropped_truncated"] == 0
    assert s.tokens_generated == sum(len(ch["logprobs"]["tokens"]) for ch in server.complete(body)["choices"])


def test_openai_limits_drops_truncated_and_splits_requests(server):
    server.offset_from_prompt = True  # text_offset counted from the prompt's start, as OpenAI's own API does
    gen = OpenAIGenerator(server.url, model="served-name", max_tokens=3, prompts_per_request=2, max_retries=0)
    requests = [req("x + 0 = x"), req("a ∧ b"), req("a ∧ b")]
    out = gen.generate(requests, 2)
    assert_contract(out, requests, 2)
    assert len(server.bodies) == 2 and sorted(len(b["prompt"]) for b in server.bodies) == [1, 2]
    assert {b["model"] for b in server.bodies} == {"served-name"}
    assert [(c.tactic, c.n_tokens) for c in out[0]] == [("omega", 2), ("simp", 1)]
    assert out[0][0].logprob == pytest.approx(-0.3)
    # "exact ⟨ha" and "simp [foo" are cut by max_tokens=3 (finish_reason "length"): dropped
    assert [[c.tactic for c in cands] for cands in out[1:]] == [["constructor"], ["constructor"]]
    assert gen.stats.extra["dropped_truncated"] == 2
    out = gen.generate([req("a ∧ b")], 3)
    assert [c.tactic for c in out[0]] == ["constructor"]
    assert gen.stats.extra["dropped_truncated"] == 4


def test_openai_server_errors_name_the_url(server):
    server.fail_status = 500
    gen = OpenAIGenerator(server.url, model="m", max_retries=1)
    with pytest.raises(GeneratorError) as e:
        gen.generate([req("x + 0 = x")], 2)
    assert server.url in str(e.value) and "500" in str(e.value) and "CUDA out of memory" in str(e.value)
    assert len(server.bodies) == 2  # one retry
    server.fail_status = None
    server.mode = "first_prompt_only"  # e.g. a server that ignores the prompt list
    with pytest.raises(GeneratorError, match="prompt"):
        gen.generate([req("x + 0 = x"), req("a ∧ b")], 2)
    server.mode = "not_json"
    with pytest.raises(GeneratorError, match="malformed") as e:
        gen.generate([req("x + 0 = x")], 2)
    assert server.url in str(e.value)


def test_openai_connection_refused_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    for model in ("m", None):  # POST /completions, and GET /models when the model is not given
        gen = OpenAIGenerator(url, model=model, max_retries=0, timeout=5)
        with pytest.raises(GeneratorError) as e:
            gen.generate([req("g")], 2)
        assert url in str(e.value) and "connect" in str(e.value)


def test_openai_generator_pickles_without_its_client(server):
    import pickle

    gen = OpenAIGenerator(server.url, max_retries=0)
    gen.generate([req("a ∧ b")], 1)
    clone = pickle.loads(pickle.dumps(gen))
    assert clone.model == "fake-prover-7b" and clone.generate([req("a ∧ b")], 1)[0]


def test_kept_end_matches_clean_tactic():
    rng = random.Random(0)
    pieces = ["omega", "simp", " ", "  ", "\n", "\n\n", "[GOAL]", "[PROOFSTEP]", "·", "x", "\t", "| inl =>"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        end = kept_end(text)
        assert clean_tactic(text[:end]) == clean_tactic(text), repr(text)
        assert end == 0 or not text[end - 1].isspace(), repr(text)
        assert (end == 0) == (clean_tactic(text) == ""), repr(text)

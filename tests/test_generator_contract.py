"""The generator contract (prover/generate/base.py), checked in one place for every generator: fixed, mix,
batching, hf (a tiny random model with the real tokenizer), openai (against the local scripted HTTP peer),
structural and memory. Also the boundary "generators never judge": no generator module loads the Lean client
(the Lean lexer, pure text, which splits a sampled proof into steps, is allowed).

The contract: `generate(requests, n)` returns one list per request, in request order; each list holds at
most `n` candidates (rule-based generators may return their whole list), with distinct paths (each step
whitespace normalised; a single tactic is a path of one step), sorted by logprob descending, each logprob a
finite natural-log probability <= 0; one call is counted in `stats` (calls +1, prompts + len(requests),
candidates + what was returned)."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

from prover.generate import (BatchingGenerator, Candidate, FixedGenerator, GeneratorStats, GoalRequest,
                             OpenAIGenerator, TacticGenerator, build_generator)
from prover.generate.memory import MemoryGenerator, Pair, Proof
from prover.generate.structural import StructuralGenerator
from fakes import tiny_llama
from test_generators import SCRIPT, FakeOpenAIServer, assert_contract

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = [
    GoalRequest(("x : Nat\n⊢ x + 0 = x",), theorem="t1"),
    GoalRequest(("a b : Prop\nha : a\nhb : b\n⊢ a ∧ b",), theorem="t2"),
    GoalRequest(("n : Nat\nh : n % 7 = 3\n⊢ (2 * n + 1) % 7 = 0", "⊢ True"), theorem="t3"),
    GoalRequest((), theorem="t4"),  # no goals left: a generator must still answer (maybe with nothing)
]
PAIRS = [Pair("n : Nat\nh : n % 7 = 3\n⊢ (2 * n + 1) % 7 = 0", "rw [Nat.add_mod, h.symm]"),
         Pair("y : Nat\n⊢ y + 0 = y", "simp"), Pair("y : Nat\n⊢ y + 0 = y", "omega"),
         Pair("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "exact ⟨hp, hq⟩")]
PROOFS = [Proof("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", ("constructor", "· exact hp", "· exact hq")),
          Proof("y : Nat\n⊢ y + 0 = y", ("simp",))]  # a one-step proof is the same candidate as its pair


# ------------------------------------------------------------------------------------------- the generators
@pytest.fixture(scope="module")
def peer():
    srv = FakeOpenAIServer(SCRIPT)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def tiny_hf():
    import torch
    from transformers import AutoTokenizer

    from prover.generate.hf import HFGenerator
    from prover.generate.models import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    torch.manual_seed(0)
    cfg = dict(max_position_embeddings=4096, initializer_range=0.5, bos_token_id=tok.bos_token_id)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # next to a Lean server on 2 cores, one thread is steady
    yield lambda: HFGenerator(model=tiny_llama(tok, **cfg).eval(), tokenizer=tok, max_new_tokens=8, batch_size=8)
    torch.set_num_threads(before)


# name -> (how to build it from the fixtures, bound on each list (None: the whole rule list), deterministic)
GENERATORS = {
    "fixed": (lambda fx: FixedGenerator(), None, True),
    "structural": (lambda fx: StructuralGenerator(), None, True),
    "memory": (lambda fx: MemoryGenerator(PAIRS, k=4, proofs=PROOFS), "n", True),
    "mix": (lambda fx: build_generator("structural+memory+fixed"), None, True),
    "batching": (lambda fx: BatchingGenerator(MemoryGenerator(PAIRS, k=4), max_batch=8), "n", True),
    "openai": (lambda fx: OpenAIGenerator(fx["peer"].url, max_tokens=10, max_retries=0), "n", True),
    "hf": (lambda fx: fx["tiny_hf"](), "n", False),  # sampling: answers differ between calls
}


@pytest.fixture(params=sorted(GENERATORS))
def generator(request):
    build, bound, deterministic = GENERATORS[request.param]
    needs = {"openai": "peer", "hf": "tiny_hf"}.get(request.param)  # only these pay for a server or a model
    fx = {needs: request.getfixturevalue(needs)} if needs else {}
    gen = build(fx)
    if request.param == "mix":  # the memory part needs pairs to say anything
        gen.parts[1].add(PAIRS)
    yield gen, bound, deterministic
    close = getattr(gen, "close", None)
    if callable(close):
        close()


@pytest.mark.parametrize("n", [1, 3])
def test_every_generator_keeps_the_contract(generator, n):
    gen, bound, deterministic = generator
    assert isinstance(gen, TacticGenerator) and isinstance(gen.name, str) and gen.name
    assert isinstance(gen.stats, GeneratorStats)
    before = copy.copy(gen.stats)  # most generators update one stats object in place
    out = gen.generate(REQUESTS, n)
    assert_contract(out, REQUESTS, n if bound else None)
    after = gen.stats
    assert after.calls == before.calls + 1
    assert after.prompts == before.prompts + len(REQUESTS)
    assert after.candidates == before.candidates + sum(len(c) for c in out)
    assert any(out), "a generator that never proposes anything tests nothing"
    assert gen.generate([], n) == []
    if deterministic:  # request order is answer order: the reversed batch gets the reversed answers
        again = gen.generate(REQUESTS[::-1], n)
        assert [[(c.tactic, round(c.logprob, 6)) for c in cands] for cands in again[::-1]] == \
            [[(c.tactic, round(c.logprob, 6)) for c in cands] for cands in out]


def test_the_contract_check_catches_each_broken_rule():
    ok = [[Candidate("simp", -0.1), Candidate("omega", -0.5)]]
    assert_contract(ok, REQUESTS[:1], 2)
    broken = {
        "one list per request": [ok[0], ok[0]],
        "at most n": [ok[0] + [Candidate("rfl", -0.9)]],
        "distinct": [[Candidate("simp", -0.1), Candidate(" simp ", -0.5)]],
        "distinct paths": [[Candidate("intro n", -0.1, steps=("simp",)),
                            Candidate("intro  n", -0.5, steps=(" simp",))]],
        "no empty step": [[Candidate("intro n", -0.1, steps=("",))]],
        "sorted": [[Candidate("omega", -0.5), Candidate("simp", -0.1)]],
        "logprob <= 0": [[Candidate("simp", 0.3)]],
        "finite": [[Candidate("simp", float("nan"))]],
    }
    for rule, out in broken.items():
        with pytest.raises(AssertionError):
            assert_contract(out, REQUESTS[:1], 2)
            pytest.fail(f"not caught: {rule}")


def test_generators_never_judge_no_generator_module_loads_the_lean_client():
    code = ("import pkgutil, importlib, sys, prover.generate as g\n"
            "for m in pkgutil.iter_modules(g.__path__): importlib.import_module('prover.generate.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k.startswith(('prover.lean', 'prover.search', 'prover.run'))\n"
            "             and k not in ('prover.lean', 'prover.lean.lexer')))")  # the lexer reads text, runs nothing
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

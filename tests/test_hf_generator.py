"""HFGenerator on CPU: a tiny random Llama with the real SmolLM2 tokenizer for the mechanics (fast), and one
generation with the real default model. Needs the converted model folder (`make setup`); no Lean, no network."""
from __future__ import annotations

import os
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from prover.generate import GoalRequest, TacticGenerator, clean_tactic, format_prompt
from prover.generate.hf import HFGenerator, completion_done, few_shot_prefix
from prover.generate.models import ModelNotFound, default_model_path, resolve_model
from test_generators import assert_contract

SHORT = ("n : Nat\n⊢ n + 0 = n",)
MEDIUM = ("a b c : Nat\nh₀ : a < b\nh₁ : b < c\n⊢ a < c",)
LONG = ("\n".join([f"x{i} : Nat" for i in range(12)] + [f"h{i} : x{i} ≤ x{i + 1} + {i}" for i in range(11)]
                  + ["⊢ x0 ≤ x11 + 100"]),
        "case right\nm : Nat\n⊢ m = m")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """torch with 2 threads on 2 cores next to a busy Lean server ran 5-10x slower (threads waiting for each
    other); one thread is steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model_path())


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      initializer_range=0.5, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(cfg).eval()


def tiny(tiny_model, tokenizer, **kw) -> HFGenerator:
    kw.setdefault("max_new_tokens", 8)
    return HFGenerator(model=tiny_model, tokenizer=tokenizer, **kw)


def single_logprob(model, tokenizer, goals, tactic: str, prefix: str = "") -> float:
    """Independent reference: one unpadded sequence, plain forward, sum of the continuation's log-probs."""
    p = tokenizer(prefix + format_prompt(goals), add_special_tokens=False)["input_ids"]
    c = tokenizer(tactic + "\n", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits.float()[0], dim=-1)
    return float(sum(logp[len(p) + j - 1, t] for j, t in enumerate(c)))


def check_invariants(out, requests, n):
    """The generator contract (test_generators.assert_contract) and what a model adds: every prompt gets a
    candidate, tactics are stripped, token counts known."""
    assert_contract(out, requests, n)
    for cands in out:
        assert cands
        assert all(c.tactic == c.tactic.strip() for c in cands)
        assert all(c.n_tokens > 0 and c.source == "model" for c in cands)


def scripted_continuations(tokenizer, input_ids, n: int, texts) -> torch.Tensor:
    """What `model.generate` returns when each prompt's n samples are exactly `texts[:n]` (padded)."""
    conts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts[:n]]
    width = max(len(c) for c in conts)
    rows = [c + [tokenizer.pad_token_id] * (width - len(c)) for c in conts]
    tail = torch.tensor(rows).repeat(input_ids.shape[0], 1)
    return torch.cat([input_ids.repeat_interleave(n, dim=0), tail], dim=1)


def test_protocol_and_invariants(tiny_model, tokenizer):
    gen = tiny(tiny_model, tokenizer, batch_size=8)  # 2 prompts per forward with 4 samples: several chunks
    assert isinstance(gen, TacticGenerator) and gen.name == "hf"
    reqs = [GoalRequest(SHORT), GoalRequest(LONG), GoalRequest(MEDIUM)]
    out = gen.generate(reqs, 4)
    check_invariants(out, reqs, 4)
    assert gen.generate([], 4) == []
    few = tiny(tiny_model, tokenizer, batch_size=4)  # 6 samples over two generate() passes of 4 and 2
    check_invariants(few.generate(reqs[:2], 6), reqs[:2], 6)
    greedy = tiny(tiny_model, tokenizer, mode="beam")
    check_invariants(greedy.generate(reqs[:2], 1), reqs[:2], 1)


def test_logprob_exact_when_batched_with_other_lengths(tiny_model, tokenizer):
    """Left padding with wrong position ids or masks would change these numbers."""
    gen = tiny(tiny_model, tokenizer, batch_size=16)
    reqs = [GoalRequest(SHORT), GoalRequest(LONG), GoalRequest(MEDIUM)]
    out = gen.generate(reqs, 5)  # 3 prompts of very different lengths in one forward pass
    assert gen.stats.extra["scored"] >= 3
    for r, cands in zip(reqs, out):
        for c in cands:
            ref = single_logprob(tiny_model, tokenizer, r.goals, c.tactic)
            assert c.logprob == pytest.approx(ref, abs=1e-4)
            assert c.n_tokens == len(tokenizer(c.tactic + "\n", add_special_tokens=False)["input_ids"])
    # score() directly, on hand-picked pairs batched together
    pairs = [(gen.prompt_ids(g)[0], tokenizer(t + "\n", add_special_tokens=False)["input_ids"])
             for g, t in [(SHORT, "omega"), (LONG, "intro n\n  simp"), (MEDIUM, "exact Nat.lt_trans h₀ h₁")]]
    for (g, t), s in zip([(SHORT, "omega"), (LONG, "intro n\n  simp"), (MEDIUM, "exact Nat.lt_trans h₀ h₁")],
                         gen.score(pairs)):
        assert s == pytest.approx(single_logprob(tiny_model, tokenizer, g, t), abs=1e-4)


def test_batched_generation_matches_single(tiny_model, tokenizer):
    """Beam search is deterministic: a prompt's tactics do not depend on what it was batched with."""
    reqs = [GoalRequest(SHORT), GoalRequest(LONG), GoalRequest(MEDIUM)]
    batched = tiny(tiny_model, tokenizer, mode="beam", batch_size=16).generate(reqs, 3)
    single = [tiny(tiny_model, tokenizer, mode="beam", batch_size=16).generate([r], 3)[0] for r in reqs]
    for b, s in zip(batched, single):
        assert [c.tactic for c in b] == [c.tactic for c in s]
        assert [c.logprob for c in b] == pytest.approx([c.logprob for c in s], abs=1e-4)


def test_beam_mode(tiny_model, tokenizer):
    reqs = [GoalRequest(SHORT), GoalRequest(MEDIUM)]
    gen = tiny(tiny_model, tokenizer, mode="beam", batch_size=8)
    out = gen.generate(reqs, 4)
    check_invariants(out, reqs, 4)
    assert [[c.tactic for c in o] for o in gen.generate(reqs, 4)] == [[c.tactic for c in o] for o in out]
    for r, cands in zip(reqs, out):
        c = cands[0]
        assert c.logprob == pytest.approx(single_logprob(tiny_model, tokenizer, r.goals, c.tactic), abs=1e-4)


def test_deterministic_given_seed(tiny_model, tokenizer):
    reqs = [GoalRequest(SHORT), GoalRequest(MEDIUM)]
    a = tiny(tiny_model, tokenizer, seed=7).generate(reqs, 4)
    b = tiny(tiny_model, tokenizer, seed=7).generate(reqs, 4)
    assert a == b
    g = tiny(tiny_model, tokenizer, seed=7)
    g.generate(reqs, 4)
    assert g.generate(reqs, 4) != a  # the next call draws fresh samples


def test_multiline_completions_are_cleaned(tiny_model, tokenizer, monkeypatch):
    """Scripted raw completions go through clean-up, de-duplication and exact scoring."""
    raw = ["intro n\n  simp\nomega", "omega\n\nsimp", "  rfl\nexact h", "omega [GOAL] junk", "\n\n",
           "induction n with\n  | zero => rfl\n  | succ k ih => simp\n[PROOFSTEP]"]
    gen = tiny(tiny_model, tokenizer, batch_size=16)

    def scripted(input_ids, attention_mask, generation_config, stopping_criteria, **kw):
        return scripted_continuations(tokenizer, input_ids, generation_config.num_return_sequences, raw)

    monkeypatch.setattr(gen.model, "generate", scripted)
    out = gen.generate([GoalRequest(SHORT)], len(raw))[0]
    want = {"intro n\n  simp", "omega", "rfl", "induction n with\n  | zero => rfl\n  | succ k ih => simp"}
    assert {c.tactic for c in out} == want
    check_invariants([out], [1], len(raw))
    for c in out:
        assert c.logprob == pytest.approx(single_logprob(tiny_model, tokenizer, SHORT, c.tactic), abs=1e-4)


def test_stop_rule_agrees_with_clean_tactic():
    cases = {"omega": False, "omega\n": False, "omega\nsimp": True, "intro n\n  simp": False,
             "intro n\n  simp\n": False, "intro n\n  simp\n\n": True, "intro n\n  ": False, "x [GOAL]": True,
             "\nomega\n": False, "  rfl\n  exact": True, "  rfl\n    exact h\n  x": True}
    for text, done in cases.items():
        assert completion_done(text) is done, text
        if done:  # nothing generated afterwards can change the tactic
            for more in ("more", "\n  more", "  more\n"):
                assert clean_tactic(text + more) == clean_tactic(text), (text, more)


def test_stopping_criterion_per_row(tiny_model, tokenizer):
    from prover.generate.hf import _StopAtTacticEnd

    gen = tiny(tiny_model, tokenizer)
    prompt = gen.prompt_ids(SHORT)[0]
    texts = ["omega", "omega\nsimp", "intro n\n  simp", "intro n\n  simp\n\n", "rfl [GOAL]"]
    rows = [prompt + tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, rows))
    ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
    stop = _StopAtTacticEnd(tokenizer, len(prompt), gen._break_mask)
    assert stop(ids, None).tolist() == [False, True, False, True, True]


def test_stats_counters(tiny_model, tokenizer):
    gen = tiny(tiny_model, tokenizer, batch_size=8)
    a = gen.generate([GoalRequest(SHORT), GoalRequest(MEDIUM)], 3)
    b = gen.generate([GoalRequest(LONG)], 5)
    s = gen.stats
    assert (s.calls, s.prompts) == (2, 3)
    assert s.candidates == sum(map(len, a)) + sum(map(len, b))
    assert s.seconds > 0
    assert 0 < s.tokens_generated <= (2 * 3 + 5) * gen.max_new_tokens
    assert s.extra["scored"] >= s.candidates


def test_long_goal_truncation(tiny_model, tokenizer):
    gen = tiny(tiny_model, tokenizer, max_prompt_tokens=128)
    hyps = [f"h{i} : x{i} + {i} * y ≤ z{i} ∧ z{i} < {i * 17} + y" for i in range(300)]
    goal = "\n".join(["x y z : Nat"] + hyps + ["⊢ x + y + z ≤ 1000"])
    for goals in ([goal], [goal, "case two\n⊢ True"], [SHORT[0], goal]):
        ids, cut = gen.prompt_ids(goals)
        text = tokenizer.decode(ids)
        assert cut and len(ids) <= 128
        assert text.startswith("[GOAL]\n") and text.endswith("\n[PROOFSTEP]\n")
        assert ("⊢ x + y + z ≤ 1000" in text) or goals[0] == SHORT[0]
    ids, _ = gen.prompt_ids([goal])
    text = tokenizer.decode(ids)
    assert "x y z : Nat" in text and "⋯" in text and hyps[-1] in text  # first and last hypotheses kept
    # a target that alone is too long: its last tokens are kept
    huge = "⊢ " + " + ".join(f"a{i}" for i in range(400)) + " = 0"
    ids, cut = gen.prompt_ids([huge])
    assert cut and len(ids) <= 128 and tokenizer.decode(ids).endswith("a399 = 0\n[PROOFSTEP]\n")
    assert gen.prompt_ids(SHORT) == (tokenizer(format_prompt(SHORT), add_special_tokens=False)["input_ids"], False)
    out = gen.generate([GoalRequest((goal,)), GoalRequest(SHORT)], 2)
    check_invariants(out, [1, 2], 2)
    assert gen.stats.extra["truncated_prompts"] == 1


def test_few_shot_prefix(tiny_model, tokenizer):
    gen = tiny(tiny_model, tokenizer, few_shot=True)
    ids, _ = gen.prompt_ids(SHORT)
    text = tokenizer.decode(ids)
    assert text == few_shot_prefix() + format_prompt(SHORT)
    assert "[PROOFSTEP]\nomega\n" in text and "[PROOFSTEP]\nintro n\n  simp\n" in text
    c = gen.generate([GoalRequest(SHORT)], 2)[0][0]
    assert c.logprob == pytest.approx(
        single_logprob(tiny_model, tokenizer, SHORT, c.tactic, prefix=few_shot_prefix()), abs=1e-4)


# ------------------------------------------------------------------------------------------- whole proofs
STATEMENT = "theorem t (n : Nat) : n + 0 = n := by sorry"
RAW_PROOFS = [
    "  intro n\n  induction n with\n  | zero => rfl\n  | succ k ih =>\n    simp\n    omega\n"
    "theorem next : True := trivial",
    "  omega\n```\njunk",
    "  simp -- a comment, not a step\n\n  rfl [GOAL] junk",
    "\tomega",  # a tab: Lean could not read it, so neither does the splitter
]
SPLIT = {("intro n", "induction n with\n| zero => rfl\n| succ k ih =>\n  simp\n  omega"), ("omega",), ("simp", "rfl")}


def test_a_sampled_proof_is_split_into_steps_by_the_lean_lexer():
    from prover.generate.prompt import split_proof

    assert {tuple(split_proof(t)) for t in RAW_PROOFS} == SPLIT | {()}


def test_proof_stop_rule_agrees_with_clean_proof():
    from prover.generate.hf import proof_done
    from prover.generate.prompt import clean_proof

    cases = {"  omega": False, "  omega\n": False, "  intro n\n  simp\n": False, "  intro n\n\n  simp": False,
             "  induction n with\n  | zero => rfl\n": False, "  omega\ntheorem": True, "  omega\n```": True,
             "  rfl [GOAL]": True, "  omega\n\nx": True}
    for text, done in cases.items():
        assert proof_done(text) is done, text
        if done:  # nothing generated afterwards can change the block
            for more in ("more", "\n  more", "  more\n"):
                assert clean_proof(text + more) == clean_proof(text), (text, more)


def test_whole_proof_at_the_root_gives_path_candidates_scored_exactly(tiny_model, tokenizer, monkeypatch):
    from prover.generate.prompt import clean_proof, format_proof_prompt, split_proof

    gen = tiny(tiny_model, tokenizer, batch_size=16, whole_proof=True, proof_tokens=64)
    real = gen.model.generate

    def scripted(input_ids, attention_mask, generation_config, stopping_criteria, **kw):
        if generation_config.max_new_tokens != 64:  # a step prompt: sample as usual
            return real(input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config,
                        stopping_criteria=stopping_criteria, **kw)
        return scripted_continuations(tokenizer, input_ids, generation_config.num_return_sequences, RAW_PROOFS)

    monkeypatch.setattr(gen.model, "generate", scripted)
    requests = [GoalRequest(SHORT, statement=STATEMENT), GoalRequest(SHORT, statement=STATEMENT, history=("skip",)),
                GoalRequest(SHORT)]
    root, inner, bare = gen.generate(requests, 4)
    assert_contract([root, inner, bare], requests, 4)
    paths = [c for c in root if c.source == "model-proof"]
    assert len(paths) == 2 and {c.path for c in paths} < SPLIT  # ceil(4 / 2) slots: the two likeliest proofs
    assert len(root) == 4 and all(c.source == "model" for c in root if c not in paths)
    assert all(c.source == "model" for c in inner + bare)  # only the root, and only with a statement
    assert gen.stats.extra["proof_prompts"] == 1 and gen.stats.extra["unsplittable_proofs"] == 1
    by_path = {tuple(split_proof(t)): clean_proof(t) for t in RAW_PROOFS[:3]}
    p = tokenizer(format_proof_prompt(STATEMENT), add_special_tokens=False)["input_ids"]
    for c in paths:  # exact: log p(block + "\n" | the whole-proof prompt), as for a single tactic
        cont = tokenizer(by_path[c.path] + "\n", add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = torch.log_softmax(tiny_model(input_ids=torch.tensor([p + cont])).logits.float()[0], dim=-1)
        assert c.logprob == pytest.approx(float(sum(logp[len(p) + j - 1, t] for j, t in enumerate(cont))), abs=1e-4)
        assert c.n_tokens == len(cont)


def test_shared_between_threads(tiny_model, tokenizer):
    gen = tiny(tiny_model, tokenizer, batch_size=8)
    results, errors = {}, []

    def work(i):
        try:
            results[i] = gen.generate([GoalRequest(SHORT), GoalRequest(MEDIUM)], 2)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert gen.stats.calls == 4 and gen.stats.prompts == 8


def test_resolve_model(tmp_path):
    assert resolve_model(None) == resolve_model("default") == default_model_path()
    assert resolve_model(str(default_model_path())) == default_model_path()
    with pytest.raises(ModelNotFound, match="local"):
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ModelNotFound, match="config.json"):
        resolve_model(tmp_path)


def test_real_default_model():
    t0 = time.perf_counter()
    gen = HFGenerator(max_new_tokens=32, seed=0)
    loaded = time.perf_counter()
    assert gen.tokenizer.eos_token == "<|im_end|>"
    reqs = [GoalRequest(("n : Nat\n⊢ n + 0 = n",))]
    out = gen.generate(reqs, 4)
    check_invariants(out, reqs, 4)
    print(f"real model: load {loaded - t0:.1f} s, generate {time.perf_counter() - loaded:.1f} s:",
          [c.tactic for c in out[0]])
    c = out[0][0]
    assert c.logprob == pytest.approx(single_logprob(gen.model, gen.tokenizer, reqs[0].goals, c.tactic), abs=1e-3)

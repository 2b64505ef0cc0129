"""Autoformalization without Lean: input reading, statement parsing, few-shot retrieval, prompt budget, sampler."""
from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

from autoform.examples import Example, ExampleIndex, load_examples
from autoform.problems import InputError, read_problems
from autoform.prompt import INSTRUCTION, build_prompt, extract_statement
from autoform.statement import StatementError, normal_form, parse_statement
from fakes import tiny_llama


def words(text: str) -> int:  # a stand-in tokenizer: one token per whitespace-separated word
    return len(text.split())


@pytest.fixture(scope="module")
def index():
    return ExampleIndex(load_examples())  # the real bundled MiniLM embeddings


def test_parse_statement_splits_binders_and_conclusion():
    s = parse_statement("theorem foo (x y : Nat) (h₀ : x + y = 10) {z : Int} : x = 6 ∨ (∀ a : Nat, a ≥ 0) := by\n"
                        "  sorry")
    assert (s.name, s.binders, s.conclusion) == ("foo", "(x y : Nat) (h₀ : x + y = 10) {z : Int}",
                                                 "x = 6 ∨ (∀ a : Nat, a ≥ 0)")
    assert s.proposition() == "∀ (x y : Nat) (h₀ : x + y = 10) {z : Int}, x = 6 ∨ (∀ a : Nat, a ≥ 0)"
    assert parse_statement("theorem t : 1 + 1 = 2").proposition() == "1 + 1 = 2"
    # the theorem's name, spacing and comments do not matter to the normal form
    assert normal_form(parse_statement("theorem a (n : Nat) :\n  n = n -- why\n")) == \
        normal_form(parse_statement("theorem b (n : Nat) : n = n"))
    for bad in ("def f : Nat := 1", "theorem t (x : Nat) x = x", "theorem t (x : Nat : x = x",
                "theorem t : 1 = 1 := by simp"):
        with pytest.raises(StatementError):
            parse_statement(bad)


def test_extract_statement_from_completions():
    assert extract_statement("foo", " (x : Nat) (h : x = 2) : x + 1 = 3 := by sorry\nProblem: next") == \
        "theorem foo (x : Nat) (h : x = 2) : x + 1 = 3"
    assert extract_statement("foo", " : 2 + 2 = 4 ") == "theorem foo : 2 + 2 = 4"
    assert extract_statement("foo", " : 2 + 2 = 4 := rfl") == "theorem foo : 2 + 2 = 4"
    assert extract_statement("foo", " is a nice problem") is None
    assert extract_statement("foo", "") is None


def test_read_problems_from_jsonl_text_file_and_command_line(tmp_path):
    rows = tmp_path / "p.jsonl"
    rows.write_text(json.dumps({"name": "two plus two", "informal_statement": "Show 2+2=4.",
                                "core_statement": "theorem x : 2 + 2 = 4 := by sorry"}) + "\n"
                    + json.dumps({"problem": "Show 3 > 1."}) + "\n")
    ps = read_problems(str(rows))
    assert [p.name for p in ps][0] == "two_plus_two" and ps[0].reference.startswith("theorem x")
    assert ps[1].reference is None and ps[1].text == "Show 3 > 1."
    txt = tmp_path / "p.txt"
    txt.write_text("First problem.\nStill the first.\n\n\nSecond problem.\n")
    assert [p.text for p in read_problems(str(txt))] == ["First problem.\nStill the first.", "Second problem."]
    assert read_problems("Prove that 1 = 1.")[0].text == "Prove that 1 = 1."
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"informal_statement": "ok"}\n{"name": "x"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: no informal statement"):
        read_problems(str(bad))
    bad.write_text('{"informal_statement": "ok"\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: not valid JSON"):
        read_problems(str(bad))
    with pytest.raises(InputError, match="not found"):
        read_problems(str(tmp_path / "missing.jsonl"))


def test_retrieval_finds_similar_problems_and_never_the_problem_itself(index, valid_rows):
    row = next(r for r in valid_rows if r["name"] == "mathd_algebra_10")
    near = index.nearest(row["informal_statement"], 4, exclude_name=row["name"])
    assert len(near) == 4
    assert all(e.name != row["name"] and e.informal != row["informal_statement"].strip() for e in near)
    # the same text under another name is also left out (it would hand the model the answer)
    near2 = index.nearest(row["informal_statement"], 50, exclude_name=None)
    assert all(e.informal.strip() != row["informal_statement"].strip() for e in near2)
    # retrieval is by meaning: a reworded problem finds its own pair first
    reworded = index.nearest("Compute how far apart 120 percent of thirty and 130 percent of twenty are.", 1)
    assert reworded[0].name == "mathd_algebra_10", reworded


def test_prompt_respects_the_token_budget_and_excludes_the_problem(index, valid_rows):
    row = valid_rows[5]
    exs = index.nearest(row["informal_statement"], 8, exclude_name=row["name"])
    full, used_full = build_prompt(row["informal_statement"], row["name"], exs, words, 100_000)
    assert used_full == 8
    assert row["core_statement"].split(":=")[0].strip() not in full  # the answer is not in the prompt
    assert full.endswith(f"Lean 4: theorem {row['name']}")
    budget = words(full) // 2
    half, used = build_prompt(row["informal_statement"], row["name"], exs, words, budget)
    assert 0 < used < 8 and words(half) <= budget
    # the most similar example sits last, nearest the problem
    assert half.rindex(exs[0].statement) > half.rindex(exs[used - 1].statement) or used == 1
    # the problem alone over budget: its text is cut, no examples, still within budget
    tiny, used0 = build_prompt("word " * 500, "p", exs, words, 60)
    assert used0 == 0 and words(tiny) <= 60 and tiny.startswith(INSTRUCTION) and tiny.endswith("theorem p")
    # a repair prompt carries the failed attempt and Lean's error
    rep, _ = build_prompt("Show 1 = 1.", "p", exs[:1], words, 10_000, failed="theorem p : 1 = one",
                          error="unknown identifier 'one'")
    assert "theorem p : 1 = one" in rep and "unknown identifier 'one'" in rep and rep.endswith("theorem p")


def test_examples_skip_rows_without_informal_text(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"name": "a", "informal_statement": None, "core_statement": "theorem a : True"}) + "\n"
                 + json.dumps({"name": "b", "informal_statement": "B.", "core_statement": "theorem b : True := by sorry"})
                 + "\n")
    assert load_examples([f]) == [Example("b", "B.", "theorem b : True")]


def test_hf_sampler_with_a_tiny_model_stops_at_the_stop_string_and_scores():
    import torch
    from transformers import AutoTokenizer

    from autoform.sampler import HFSampler
    from prover.generate.models import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    torch.manual_seed(0)
    model = tiny_llama(tok, max_position_embeddings=4096, initializer_range=0.5, bos_token_id=tok.bos_token_id)
    s = HFSampler(model=model.eval(), tokenizer=tok, max_new_tokens=24, batch_size=8)
    out = s.sample(["Problem: a\nLean 4: theorem a", "Problem: bb bb\nLean 4: theorem b"], 5, stop=("e",))
    assert len(out) == 2
    for samples in out:
        assert 1 <= sum(x.count for x in samples) <= 5
        assert all("e" not in x.text and x.logprob <= 0 for x in samples)
        assert len({x.text for x in samples}) == len(samples)
    assert s.count_tokens("theorem a") == len(tok("theorem a", add_special_tokens=False)["input_ids"])


def test_openai_sampler_sends_all_prompts_with_n_and_stop_and_merges_repeats():
    from test_generators import FakeOpenAIServer

    from autoform.prompt import STATEMENT_STOP
    from autoform.sampler import OpenAISampler, build_sampler

    script = {"theorem one": [[(" : 1", -0.5), (" = 1", -0.25), (" := by", -0.1), (" sorry", -0.1)],
                              [(" : 1 = 1", -0.75)],  # the same text again: one sample, counted twice
                              [(" : 2", -1.0), (" = 2\n", -1.0), ("Problem:", -3.0)]],
              "theorem two": [[(" (n : Nat)", -1.0), (" : n = n", -1.0)]]}
    srv = FakeOpenAIServer(script)
    try:
        s = build_sampler(srv.url)
        assert isinstance(s, OpenAISampler) and s.temperature == 0.3
        out = s.sample(["Problem: a\nLean 4: theorem one", "Problem: b\nLean 4: theorem two"], 3, STATEMENT_STOP)
        assert len(srv.bodies) == 1 and srv.bodies[0]["n"] == 3 and srv.bodies[0]["stop"] == list(STATEMENT_STOP)
        one = {x.text: x for x in out[0]}
        assert set(one) == {" : 1 = 1", " : 2 = 2"}
        assert one[" : 1 = 1"].count == 2 and out[0][0].text == " : 1 = 1"  # most frequent first
        assert one[" : 2 = 2"].logprob == pytest.approx(-2.0)
        assert [x.text for x in out[1]] == [" (n : Nat) : n = n"] and out[1][0].count == 3
    finally:
        srv.close()


def test_formalization_defaults_to_its_own_bundled_model(monkeypatch, tmp_path):
    """No --model: the formalizer loads FORMALIZE_MODEL_NAME (chosen by measurement), not the prover's default;
    a folder or a URL given is used as given."""
    import autoform.sampler as sampler
    from prover.generate import models

    (tmp_path / models.FORMALIZE_MODEL_NAME).mkdir()
    (tmp_path / models.FORMALIZE_MODEL_NAME / "config.json").write_text("{}")
    monkeypatch.setattr(models, "model_dir", lambda name: tmp_path / name)
    monkeypatch.setattr(sampler, "HFSampler", lambda model, **kw: ("hf", model))
    assert sampler.build_sampler(None) == ("hf", str(tmp_path / models.FORMALIZE_MODEL_NAME))
    assert sampler.build_sampler("some/folder") == ("hf", "some/folder")
    assert models.FORMALIZE_MODEL_NAME != models.DEFAULT_MODEL_NAME

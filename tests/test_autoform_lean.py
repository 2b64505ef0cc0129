"""Autoformalization with the real Lean server: choice, repair, flags, grouping, equivalence, whole runs."""
from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

from autoform.equivalence import EquivalenceProver
from autoform.examples import Example, ExampleIndex
from autoform.pipeline import FormalizeConfig, Formalizer
from autoform.problems import InformalProblem
from autoform.run import RunConfig, run
from autoform.sampler import Sample
from autoform.statement import parse_statement
from prover.generate.base import GeneratorStats
from fakes import tiny_llama

pytestmark = pytest.mark.lean

EXAMPLES = [Example("ex_add", "Show that 1 + 1 = 2.", "theorem ex_add : 1 + 1 = 2"),
            Example("ex_lt", "If a < b then a + 1 <= b.", "theorem ex_lt (a b : Nat) (h : a < b) : a + 1 ≤ b")]


def bag_of_words(texts):
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, hash(w) % 64] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class ScriptedSampler:
    """Answers each prompt from a script: problem name -> list of answers, one list per call for that problem
    (each answer a list of completions). Records every prompt."""

    name = "scripted"

    def __init__(self, script: dict[str, list[list[str]]]):
        self.script = {k: list(v) for k, v in script.items()}
        self.prompts: list[str] = []
        self.stats = GeneratorStats()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def sample(self, prompts, n, stop=("\n",)):
        out = []
        for p in prompts:
            self.prompts.append(p)
            name = p.rsplit("theorem ", 1)[1].strip()
            texts = self.script[name].pop(0) if self.script[name] else []
            out.append([Sample(t, -1.0 * (i + 1), 1) for i, t in enumerate(texts)])
        return out


@pytest.fixture(scope="module")
def index():
    return ExampleIndex(EXAMPLES, embed=bag_of_words)


def formalize(lean, index, script, problems, **cfg):
    sampler = ScriptedSampler(script)
    rows = Formalizer(lean, sampler, index, FormalizeConfig(**cfg)).formalize(problems)
    return rows, sampler


def test_good_candidate_is_chosen_and_proven_equivalent_to_a_reworded_reference(lean, index):
    p = InformalProblem("comm", "Show that a + b = b + a for natural numbers a and b.",
                        reference="theorem comm_ref (x y : Nat) : y + x = x + y := by sorry")
    rows, _ = formalize(lean, index, {"comm": [[" (a b : Nat) : a + b = b + c := by sorry",
                                                " (a b : Nat) : a + b = b + a := by sorry"]]}, [p])
    r = rows[0]
    assert r["status"] == "formalized"
    assert r["core_statement"] == "theorem comm (a b : Nat) : a + b = b + a := by\n  sorry"
    bad = next(c for c in r["candidates"] if "b + c" in c["statement"])
    assert not bad["elaborates"] and "c" in bad["error"]
    eq = r["reference_equivalence"]
    assert eq["proven"] and eq["method"] == "lean"
    assert eq["forward"]["premise_needed"] and eq["backward"]["premise_needed"]
    assert r["repair_rounds_used"] == 0


def test_repair_feeds_lean_error_back(lean, index):
    p = InformalProblem("zero_add", "Show that n + 0 = n.")
    rows, sampler = formalize(lean, index, {"zero_add": [[" (n : Nat) : n + 0 = m"],
                                                         [" (n : Nat) : n + 0 = n"]]}, [p],
                              repair_rounds=2, repair_width=1)
    r = rows[0]
    failed = r["candidates"][0]
    assert not failed["elaborates"] and failed["error"]
    assert len(sampler.prompts) == 2
    repair_prompt = sampler.prompts[1]
    assert "theorem zero_add (n : Nat) : n + 0 = m" in repair_prompt
    assert "Lean error: " + " ".join(failed["error"].split())[:100] in repair_prompt
    assert r["status"] == "formalized" and r["chosen"]["origin"] == "repair-1" and r["repair_rounds_used"] == 1


def test_vacuous_statement_is_flagged_and_never_chosen(lean, index):
    p = InformalProblem("five", "Twice the sum 0 + 1 + ... + n is n(n+1).")
    good = " (n : Nat) : 2 * (List.range (n + 1)).sum = n * (n + 1)"
    rows, _ = formalize(lean, index, {"five": [[" (x : Nat) (h : 1 = 2) : x = 5",
                                                " (x : Nat) (h : 1 = 2) : x = 5",  # drawn twice: the biggest group
                                                good, " : 2 + 2 = 4", " : 2 + 2 = 5",
                                                " : 2 + 2 = 5"]]}, [p])
    r = rows[0]
    flags = {c["statement"]: c["flags"] for c in r["candidates"]}
    assert "vacuous" in flags["theorem five (x : Nat) (h : 1 = 2) : x = 5"]
    assert "trivial" in flags["theorem five : 2 + 2 = 4"]
    assert flags["theorem five" + good] == []
    assert flags["theorem five : 2 + 2 = 5"] == ["refuted"]  # false, however often it was drawn
    # the non-trivial, non-vacuous statement wins the tie with the trivial one
    assert r["chosen"]["statement"] == "theorem five" + good
    assert r["vacuous"] == 1 and r["trivial"] == 1 and r["refuted"] == 1


def test_a_copied_example_is_flagged_and_never_chosen(lean, index):
    p = InformalProblem("sq", "If a < b then a + 1 <= b, for natural numbers.")
    rows, _ = formalize(lean, index, {"sq": [[" (a b : Nat) (h : a < b) : a + 1 ≤ b",  # = the example ex_lt
                                              " (a b : Nat) (h : a < b) : a + 1 ≤ b",
                                              " (x y : Nat) (h₀ : x < y) : x + 1 ≤ y"]]}, [p])
    r = rows[0]
    copied = next(c for c in r["candidates"] if c["statement"].startswith("theorem sq (a b"))
    assert "ex_lt" in r["examples"] and "copied_example" in copied["flags"] and copied["count"] == 2
    assert r["chosen"]["statement"] == "theorem sq (x y : Nat) (h₀ : x < y) : x + 1 ≤ y"


def test_alpha_equivalent_candidates_are_grouped_and_true_but_different_ones_are_not(lean, index):
    p = InformalProblem("lt", "If a < b then a + 1 <= b.")
    rows, _ = formalize(lean, index, {"lt": [[" (a b : Nat) (h : a < b) : a ≤ b",
                                              " (a b : Nat) (h : a < b) : a + 1 ≤ b",
                                              " (x y : Nat) (hxy : x < y) : x + 1 ≤ y"]]}, [p])
    r = rows[0]
    groups = [sorted(r["candidates"][i]["statement"] for i in g) for g in r["groups"]]
    assert ["theorem lt (a b : Nat) (h : a < b) : a + 1 ≤ b", "theorem lt (x y : Nat) (hxy : x < y) : x + 1 ≤ y"] \
        in groups
    assert ["theorem lt (a b : Nat) (h : a < b) : a ≤ b"] in groups  # true too, but a different claim
    assert r["chosen"]["group_samples"] == 2


def test_true_statements_are_not_called_equivalent_without_using_each_other(lean):
    prover = EquivalenceProver(lean)
    a, b = parse_statement("theorem a : 3 + 3 = 6"), parse_statement("theorem b : 2 ^ 10 % 7 = 2")
    eq = prover.equivalent(a, b)
    assert not eq.proven and eq.forward.premise_needed is False
    hyp = parse_statement("theorem h (x y : Nat) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6")
    reordered = parse_statement("theorem r (a b : Nat) (h₁ : a - b = 2) (h₀ : a + b = 10) : a = 6")
    assert prover.equivalent(hyp, reordered).proven
    wrong = parse_statement("theorem w (a b : Nat) (h₁ : a - b = 2) (h₀ : a + b = 10) : a = 7")
    assert not prover.equivalent(hyp, wrong).proven


def test_untrusted_statement_cannot_run_code(lean, index):
    p = InformalProblem("evil", "Anything.")
    rows, _ = formalize(lean, index, {"evil": [[" (h : IO.FS.writeFile \"/tmp/pwned\" \"x\" = pure ()) : True"]]}, [p], repair_rounds=0)
    c = rows[0]["candidates"][0]
    assert not c["elaborates"] and "not allowed" in c["error"]
    assert rows[0]["status"] == "no_statement" and not os.path.exists("/tmp/pwned")


def test_run_writes_every_output_resumes_and_feeds_the_prover(lean, index, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [
        {"name": "p1", "informal_statement": "Show that 2 + 3 = 5.", "core_statement": "theorem p1 : 2 + 3 = 5 := by sorry"},
        {"name": "p2", "informal_statement": "Show that x + 0 = x.", "core_statement": "theorem p2 (y : Nat) : y + 0 = y"},
        {"name": "p3", "informal_statement": "Something unformalizable."}]))
    script = {"p1": [[" : 2 + 3 = 5"]], "p2": [[" (x : Nat) : x + 0 = x"]], "p3": [["no statement here"]]}
    out = tmp_path / "run"
    cfg = RunConfig(input=str(src), out=out, settings=FormalizeConfig(repair_rounds=0), batch=2, progress=False,
                    limit=2)
    res = run(cfg, env=lean, sampler=ScriptedSampler(script), index=index)
    assert [r["name"] for r in res["rows"]] == ["p1", "p2"]
    with pytest.raises(ValueError, match="--resume"):
        run(cfg, env=lean, sampler=ScriptedSampler(script), index=index)
    cfg.limit, cfg.resume = None, True
    sampler = ScriptedSampler(script)
    res = run(cfg, env=lean, sampler=sampler, index=index)
    assert len(sampler.prompts) == 1 and "p3" in sampler.prompts[0]  # p1 and p2 were not redone
    for f in ("formalized.jsonl", "Formalized.lean", "report.md", "manifest.json", "prelude.lean"):
        assert (out / f).is_file(), f
    s = res["summary"]
    assert (s["problems"], s["typechecked"], s["with_reference"], s["equivalent_to_reference"]) == (3, 2, 2, 2)
    assert "2/3 (66.7%)" in (out / "report.md").read_text()
    lean_file = (out / "Formalized.lean").read_text()
    assert "theorem p1 : 2 + 3 = 5 := by\n  sorry" in lean_file and "p3" not in lean_file
    # the statements elaborate as a file, with the sorry-free check honest about `sorry`
    chk = lean.check(lean_file.replace("sorry", "decide"))
    assert [d.name for d in chk.declarations if d.ok] == ["p1"]  # `decide` closes p1 only (p2 has a variable)
    # formalized.jsonl is a --bench input for the prover; the unformalized row is skipped
    from prover.generate.fixed import FixedGenerator
    from prover.run.runner import RunConfig as ProveConfig
    from prover.run.runner import run as prove
    from prover.search import Budget

    proved = prove(ProveConfig(bench=out / "formalized.jsonl", out=tmp_path / "prove", generator="fixed",
                               budget=Budget(max_expansions=2, wall_seconds=20), progress=False),
                   envs=[lean], generator=FixedGenerator())
    assert sorted(r.name for r in proved["rows"] if r.proved) == ["p1", "p2"]


def test_end_to_end_with_a_tiny_random_model(lean, tmp_path):
    """The real path: bundled MiniLM retrieval, a local HF model (tiny and random: its statements are noise),
    Lean's verdicts, every output file."""
    import torch
    from transformers import AutoTokenizer

    from autoform.sampler import HFSampler
    from prover.generate.models import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    torch.manual_seed(0)
    model = tiny_llama(tok, max_position_embeddings=4096, bos_token_id=tok.bos_token_id)
    sampler = HFSampler(model=model.eval(), tokenizer=tok, max_new_tokens=16, batch_size=8)
    src = tmp_path / "two.jsonl"
    rows = [json.loads(line) for line in open("data/minif2f_core/valid.jsonl")][:2]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "e2e"
    res = run(RunConfig(input=str(src), out=out, settings=FormalizeConfig(k=3, repair_rounds=1, repair_width=1,
                                                                          back_translate=True),
                        progress=False), env=lean, sampler=sampler)
    assert [r["name"] for r in res["rows"]] == [r["name"] for r in rows]
    for r in res["rows"]:
        assert r["candidates"] and r["examples"]
        assert r["name"] not in r["examples"]  # never its own example
        assert all(c["elaborates"] or c["error"] for c in r["candidates"])
    for f in ("formalized.jsonl", "Formalized.lean", "report.md", "manifest.json"):
        assert (out / f).is_file(), f
    m = json.loads((out / "manifest.json").read_text())
    assert m["summary"]["problems"] == 2 and m["extra"]["autoform"]["settings"]["k"] == 3

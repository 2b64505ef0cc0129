"""Proof search against the real Lean server (the session's shared one): what `make prove` relies on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import GoalScriptGenerator, tiny_llama
from prover.generate import build_generator
from prover.generate.fixed import FixedGenerator
from prover.run.results import read_results
from prover.run.runner import RunConfig, run
from prover.search import BestFirstSearch, Budget

pytestmark = pytest.mark.lean
ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "data" / "minif2f_core" / "valid.jsonl"


def write_bench(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_fixed_tactics_prove_easy_valid_problems_and_the_proofs_recheck(lean, valid_rows, tmp_path, prelude):
    easy = ["mathd_algebra_10", "mathd_numbertheory_461", "amc12a_2009_p2"]  # grind; simp_all, decide; grind
    hard = "amc12a_2008_p15"  # `simp_all` leads to 2 ^ (4032064 + 2 ^ 2008), where `omega` crashes Lean
    rows = [r for r in valid_rows if r["name"] in {*easy, hard}]
    restarts = lean.restarts
    bench = write_bench(tmp_path / "b.jsonl", rows)
    (tmp_path / "prelude.lean").write_text(prelude)
    out = run(RunConfig(bench=bench, out=tmp_path / "run", generator="fixed", progress=False,
                        budget=Budget(max_expansions=4, wall_seconds=60, tactic_timeout=30)),
              envs=[lean], generator=FixedGenerator())
    res = {r.name: r for r in out["rows"]}
    assert {n for n, r in res.items() if r.proved} == set(easy)
    assert res[hard].status in ("failed", "budget") and res[hard].proof is None
    assert res[hard].extra.get("hazard_states", 0) >= 1 and lean.restarts == restarts  # no crash, no restart
    # proofs.lean, as one file, passes the kernel again
    text = (tmp_path / "run" / "proofs.lean").read_text()
    check = lean.check(text)
    assert check.all_ok and {d.name for d in check.declarations if d.sound} >= set(easy)


def test_a_multi_step_induction_is_found_by_search(lean):
    stmt = "theorem rep_sum (n : Nat) : (List.replicate n 1).sum = n := by sorry"
    gen = GoalScriptGenerator([
        ("case zero", [("rfl", -0.1)]),
        ("1 + ", [("omega", -0.1)]),
        ("List.replicate (n✝ + 1)", [("omega", -0.1), ("simp [List.replicate_succ]", -0.5)]),
        ("⊢ (List.replicate n 1).sum = n", [("omega", -0.1), ("exact Nat.le_refl _", -0.2), ("induction n", -1.0)]),
    ])
    res = BestFirstSearch(lean, gen, Budget(max_expansions=10)).search(stmt, "rep_sum")
    assert res.status == "proved" and res.verified
    assert res.proof == ["induction n", "rfl", "simp [List.replicate_succ]", "omega"]
    assert res.tactic_calls >= 6  # the failing candidates were really tried first
    assert lean.check(res.proof_text, statement=stmt, name="rep_sum").decl("rep_sum").sound


def test_escape_hatches_from_a_generator_are_never_reported(lean):
    stmt = "theorem false_thing : (2 : Nat) + 2 = 5 := by sorry"
    evil = [("sorry", -0.01), ("native_decide", -0.02), ("decide +native", -0.03), ("admit", -0.04),
            ("exact sorry", -0.05), ("simp_all", -0.1), ("omega", -0.2)]
    gen = GoalScriptGenerator([("", evil)])
    res = BestFirstSearch(lean, gen, Budget(max_expansions=3)).search(stmt, "false_thing")
    assert res.status == "failed" and res.proof is None and not res.verified


def test_resume_after_an_interrupted_run_with_real_lean(lean, valid_rows, tmp_path, prelude):
    names = ["mathd_algebra_10", "mathd_numbertheory_101", "amc12a_2009_p2"]
    bench = write_bench(tmp_path / "b.jsonl", [r for r in valid_rows if r["name"] in names])
    (tmp_path / "prelude.lean").write_text(prelude)
    budget = Budget(max_expansions=2, wall_seconds=60)
    run(RunConfig(bench=bench, out=tmp_path / "run", generator="fixed", progress=False, budget=budget, limit=1),
        envs=[lean], generator=FixedGenerator())
    first = read_results(tmp_path / "run" / "results.jsonl")
    assert len(first) == 1
    gen = FixedGenerator()
    run(RunConfig(bench=bench, out=tmp_path / "run", generator="fixed", progress=False, budget=budget,
                  resume=True), envs=[lean], generator=gen)
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert set(rows) == set(names) and all(r.proved for r in rows.values())
    assert gen.stats.prompts == 2  # only the two unfinished theorems were searched


def test_openai_generator_against_a_local_compatible_server_proves_a_theorem(lean, tmp_path):
    from test_generators import FakeOpenAIServer

    srv = FakeOpenAIServer({"⊢ a + b = b + a": [[("exact", -0.3), (" foo", -0.2)], [("om", -0.1), ("ega", -0.1)]]})
    try:
        gen = build_generator("openai", model=srv.url)
        res = BestFirstSearch(lean, gen, Budget(max_expansions=2, samples_per_expansion=2)).search(
            "theorem comm (a b : Nat) : a + b = b + a", "comm")
    finally:
        srv.close()
    assert res.status == "proved" and res.proof == ["omega"] and res.verified
    assert srv.bodies and srv.bodies[0]["n"] == 2 and "[GOAL]" in srv.bodies[0]["prompt"][0]


def test_a_tiny_model_trained_in_the_test_drives_the_hf_generator_to_a_proof(lean):
    """No download: a 2-layer Llama with the bundled tokenizer learns `omega` after [PROOFSTEP] in a few
    steps, then proves a theorem through HFGenerator, best-first search and Lean's check."""
    import torch
    from transformers import AutoTokenizer

    from prover.generate import format_example
    from prover.generate.hf import HFGenerator
    from prover.generate.models import default_model_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(default_model_path())
    model = tiny_llama(tok)
    goals = ["a b : Nat\n⊢ a + b = b + a", "x : Nat\nh : x < 3\n⊢ x < 5", "n : Nat\n⊢ n * 2 = n + n"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    for _ in range(60):
        for g in goals:
            prompt, completion = format_example([g], "omega")
            p = tok(prompt, add_special_tokens=False).input_ids
            c = tok(completion, add_special_tokens=False).input_ids + [tok.eos_token_id]
            ids = torch.tensor([p + c])
            labels = torch.tensor([[-100] * len(p) + c])
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    model.eval()
    gen = HFGenerator(model=model, tokenizer=tok, max_new_tokens=8, temperature=0.7)
    res = BestFirstSearch(lean, gen, Budget(max_expansions=3, samples_per_expansion=4)).search(
        "theorem add_comm' (p q : Nat) : p + q = q + p", "add_comm'")
    assert res.status == "proved" and res.proof == ["omega"] and res.verified, (loss.item(), res)
    assert gen.stats.calls >= 1 and res.model_seconds > 0

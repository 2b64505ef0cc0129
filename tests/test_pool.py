"""The pool builder's rules (prover/train/pool.py) without Lean: statement cleaning, the dedupe keys, the
valid-split and miniF2F-name exclusions, and `build_pool` end to end with a fake Lean verdict."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.train.pool import (Exclusions, Refused, Verdict, build_pool, clean_statement, competition_key,
                               goal_key, minif2f_like, signature_of, statement_key, traced_name)

ROOT = Path(__file__).resolve().parents[1]


def test_clean_statement_strips_attributes_docstrings_modifiers_and_arms():
    s = "/-- doc -/\n@[simp, grind =] private theorem Foo.bar {p : Nat} : 0 ≤ p ↔ True"
    assert clean_statement(s) == "{p : Nat} : 0 ≤ p ↔ True"
    assert clean_statement("example (a b : Nat) : a + b = b + a") == "(a b : Nat) : a + b = b + a"
    arms = "theorem rev {s : List Nat} : s.length = s.length\n  | .nil | .single _ => rfl\n  | .sandwich _ h => by"
    assert clean_statement(arms) == "{s : List Nat} : s.length = s.length"


@pytest.mark.parametrize("text, reason", [
    ("theorem g {n i : Nat} (h : i < n) :\n    (f n)[i]'(by", "proof term inside the statement"),
    ("unsafe theorem u : True", "unsafe"),
    ("theorem t.{u} {α : Sort u} (a : α) : a = a", "explicit universe parameters"),
    ("def f : Nat", "not a theorem or example"),
    ("theorem s : (sorry : Prop)", "sorry in the statement"),
    ("theorem p (n : Nat) : Nat.Prime n ∨ True", "needs the miniF2F prelude"),
    ("theorem q (n : Nat) : n.factorial > 0", "needs the miniF2F prelude"),
])
def test_clean_statement_refuses(text, reason):
    with pytest.raises(Refused) as e:
        clean_statement(text, ["Nat.Prime", "Nat.factorial"])
    assert e.value.reason == reason


def test_statement_key_ignores_whitespace_binder_names_and_spelling():
    a = statement_key("(x y : ℕ) (h : x < y) : ∀ z, x + z < y + z")
    b = statement_key("(a  b : Nat)\n  (hab : a<b) :\n ∀ w, a + w < b + w")
    assert a == b
    assert statement_key("(f : Nat -> Nat) : ∃ n, f n = n") == statement_key("(g : ℕ → ℕ) : ∃ m, g m = m")
    # a different statement keeps a different key: the free constant and the operator matter
    assert a != statement_key("(x y : Nat) (h : x < y) : ∀ z, x * z < y * z")
    assert statement_key("(x : Nat) : x = Nat.succ x") != statement_key("(x : Nat) : x = Nat.pred x")


def test_goal_key_ignores_hypothesis_names_but_not_their_types():
    # Lean's goals after `intros` for `(n : Nat) : ¬ 7 ∣ (2^n + 1)`, `(k : Nat) : ...` and `: ∀ n : Nat, ...`
    assert goal_key("n : Nat\n⊢ ¬7 ∣ 2 ^ n + 1") == goal_key("k : Nat\n⊢ ¬7 ∣ 2 ^ k + 1") == \
        goal_key("n✝ : Nat\n⊢ ¬7 ∣ 2 ^ n✝ + 1")
    assert goal_key("x y : Int\nhx : 0 < x\n⊢ False") == goal_key("a b : Int\nh₀ : 0 < a\n⊢ False")
    assert goal_key("x y : Int\nhx : 0 < x\n⊢ False") != goal_key("a b : Int\nh₀ : 0 < b\n⊢ False")
    assert goal_key("n : Nat\n⊢ ¬7 ∣ 2 ^ n + 1") != goal_key("n : Int\n⊢ ¬7 ∣ 2 ^ n + 1")


def test_names_miniF2F_patterns_and_contest_keys():
    assert competition_key("cf_imo1964_p1b") == competition_key("imo_1964_p1_2") == ("imo", 1964, 1)
    assert competition_key("aimeII_2001_p3") == ("aimeii", 2001, 3)
    assert competition_key("fm_aime_all_2001_I_1") == ("aimei", 2001, 1)
    assert competition_key("aimeI_2001_p1") == ("aimei", 2001, 1)
    assert competition_key("amc12a_2008_p4") != competition_key("amc12b_2008_p4")
    assert competition_key("pb_putnam_1965_a2") is None and competition_key("tr_tpil_Foo_L3") is None
    for n in ("mathd_algebra_48", "amc12a_2019_p21", "aime_1983_p1", "imo_1959_p1", "induction_sum_odd",
              "x_numbertheory_2dvd4expn", "algebra_2rootsintpoly_am10tap11eqasqpam110"):
        assert minif2f_like(n), n
    for n in ("cf_imo1964_p1b", "tr_hel_HumanEval41_L17", "pb_putnam_1965_a2", "fm_omni_theorem_3073",
              "tr_tpil_Induction_and_recursion_L12"):
        assert not minif2f_like(n), n


VALID = [{"name": "imo_1964_p1_2", "core_statement": "theorem imo_1964_p1_2 (n : Nat) : ¬ 7 ∣ 2 ^ n + 1 := by\n  sorry"},
         {"name": "mathd_algebra_10", "core_statement": "theorem mathd_algebra_10 : 2 + 3 = 5 := by sorry"}]


def test_exclusions_by_name_contest_and_statement():
    ex = Exclusions.from_rows(VALID)
    assert ex.why(["mathd_algebra_10"], "k", None) == "valid split: same name"
    assert ex.why(["cf_imo1964_p1b"], "k", None) == "valid split: same contest problem"
    assert ex.why(["x"], statement_key("(m : ℕ) : ¬ 7 ∣ 2 ^ m + 1"), None) == "valid split: same statement"
    assert ex.why(["amc12b_2020_p2"], "k", None) == "miniF2F-like name"
    assert ex.why(["tr_fpl_x"], statement_key("(m : Nat) : m = m"), None) is None


def fake_verdict(statement: str) -> Verdict:
    """A stand-in for Lean: refuses unknown names, else the goal `binders ⊢ type` with parentheses dropped
    (as Lean's printer drops redundant ones)."""
    if "Local." in statement:
        return Verdict(error="unknown identifier 'Local.f'")
    sig = signature_of(statement.split(" ", 2)[2] if statement.startswith("theorem ") else statement)
    binders, _, ty = sig.rpartition(" : ")
    hyps = [g.strip("() ") for g in binders.split(") (") if g.strip()]
    return Verdict(goal="\n".join(hyps + [f"⊢ {ty.replace('(', '').replace(')', '')}"]))


def decl(name, statement, **kw):
    return {"corpus": "c", "file_path": "/work/shared/corpora/c/F.lean", "name": name, "full_name": name,
            "kind": kw.pop("kind", "theorem"), "line": kw.pop("line", 1), "ok": kw.pop("ok", True),
            "sound": kw.pop("sound", True), "reason": kw.pop("reason", None), "num_tactics": 1,
            "statement": statement, **kw}


def test_build_pool_keeps_first_refuses_and_counts():
    shipped = [{"name": "cf_imo1964_p1b", "source": "compfiles", "core_statement":
                "theorem cf_imo1964_p1b (n : Nat) : ¬ 7 ∣ (2^n + 1) := by sorry", "provenance": {}},
               {"name": "cf_ok", "source": "compfiles", "core_statement": "theorem cf_ok (a : Nat) : a + 0 = a := by sorry"}]
    decls = [decl("dup_of_shipped", "theorem dup_of_shipped (b : Nat) : b + 0 = b"),
             decl("fresh", "@[simp] theorem fresh (x : Nat) : x * 1 = x"),
             decl("fresh_again", "theorem fresh_again (y : ℕ) : y * 1 = y"),
             decl("same_goal_other_parens", "theorem same_goal_other_parens (z : Nat) : (z * 1) = z"),
             decl("local", "theorem local (x : Nat) : Local.f x = x"),
             decl("unproved", "theorem unproved (x : Nat) : x = 0", sound=False, reason="sorry"),
             decl("valid_copy", "theorem valid_copy (k : Nat) : ¬ 7 ∣ 2 ^ k + 1"),
             decl("mathd_algebra_999", "theorem mathd_algebra_999 : 1 = 1"),
             decl("_example_L9", "example (p : Prop) (hp : p) : p ∨ False", kind="example", line=9)]
    meta = {"licence": "MIT (LICENSE)", "url": "https://example.org/c", "commit": "abc"}
    rows, s = build_pool(shipped, [("c", decls, meta)], VALID, fake_verdict)
    assert [r["name"] for r in rows] == ["cf_ok", "tr_c_F_fresh", "tr_c_F_L9"]
    assert s.shipped_refused == {"valid split: same contest problem": 1}
    assert s.refused["c"] == {"duplicate statement": 3, "Lean: unknown name (file-local or not in core)": 1,
                              "corpus proof not sound on our Lean (sorry)": 1, "valid split: same statement": 1,
                              "miniF2F-like name": 1}
    new = rows[1]
    assert new["core_statement"] == "theorem tr_c_F_fresh (x : Nat) : x * 1 = x := by sorry"
    assert (new["source"], new["license"], new["provenance"]["path"], new["provenance"]["source_name"],
            new["provenance"]["commit"]) == ("c", "MIT", "c/F.lean", "fresh", "abc")
    assert s.per_corpus["c"]["kept"] == 2 and s.per_corpus["c"]["theorems"] == 9


def test_traced_names_are_ascii_and_name_examples_by_line():
    d = {"file_path": "/work/shared/corpora/tpil/blocks.jsonl#TPiL/Axioms.lean:466", "full_name": "UProd.mem_swap₁",
         "kind": "theorem", "line": 39}
    assert traced_name("theorem_proving_in_lean4", d) == "tr_tpil_Axioms_466_UProd_mem_swap1"
    assert traced_name("fp-lean", {"file_path": "x/Cat.lean", "full_name": "_example_L115", "kind": "example",
                                   "line": 115}) == "tr_fpl_Cat_L115"


def test_shipped_pool_plus_is_disjoint_from_the_valid_split():
    """The shipped file itself obeys the rules (names, contests, statements), and every row is a bench row."""
    from prover.io import read_jsonl_rows
    from prover.run.bench import load_bench

    path = ROOT / "data" / "train_pool" / "pool_plus.jsonl"
    rows = read_jsonl_rows(path)
    ex = Exclusions.from_rows(read_jsonl_rows(ROOT / "data" / "minif2f_core" / "valid.jsonl"))
    keys = set()
    for r in rows:
        key = statement_key(signature_of(r["core_statement"]))
        assert ex.why([r["name"], (r.get("provenance") or {}).get("source_name")], key, None) is None, r["name"]
        assert key not in keys, r["name"]
        keys.add(key)
        assert r.get("source") and r.get("license") and r.get("provenance"), r["name"]
    assert len(load_bench(path)) == len(rows) > 126
    summary = json.loads(path.with_suffix(".summary.json").read_text())
    assert summary["rows"] == len(rows)


def test_as_proposition_quantifies_the_binders_and_asks_for_prop():
    from prover.train.pool import as_proposition

    assert as_proposition("(x : Nat) {y : Nat} [h : Inhabited Nat] : x = y") == \
        "(∀ (x : Nat) {y : Nat} [h : Inhabited Nat], x = y : Prop)"
    assert as_proposition(": 2 + 2 = 4") == "(2 + 2 = 4 : Prop)"
    assert as_proposition("(l : List Nat) : 0 :: l ≠ []") == "(∀ (l : List Nat), 0 :: l ≠ [] : Prop)"

"""Reading a user's .lean file for `prove FILE.lean`: which declarations are sorry theorems, their qualified
names and statements, and the filled-in file (every other byte unchanged). No Lean here."""
from __future__ import annotations

import pytest

from prover.run.inputs import InputError, NothingToProve, from_lean_file, from_statement, kind_of
from prover.lean.lean_file import LeanFileError, context, fill, scan

SOURCE = '''import Lean
/- a block /- nested: theorem fake1 : False := sorry -/ still a comment -/
-- theorem fake2 : False := sorry
def double (n : Nat) : Nat := n + n

/-- doc with "a string" and sorry -/
theorem add_comm' (a b : Nat) : a + b = b + a := by
  sorry

theorem done_one : 1 + 1 = 2 := by decide

namespace Foo
def s : String := "theorem fake3 : False := sorry"
@[simp] theorem dbl (n : Nat) : double n = n + n := sorry
theorem halfway (n : Nat) : n = n := by
  skip
  sorry
namespace Bar
private theorem deep (x : Nat) -- a comment in the signature: sorry
    (h : x = 1) : x + 0 = 1 := by sorry
end Bar
end Foo
theorem _root_.Nat.mine (c : Char) (h : c = 'a') : c = 'a' := sorry
theorem with_default (n : Nat := 3) : n = n := sorry
'''


def test_scan_finds_exactly_the_sorry_theorems_with_qualified_names():
    found = {t.name: t for t in scan(SOURCE)}
    assert list(found) == ["add_comm'", "Foo.dbl", "Foo.Bar.deep", "Nat.mine", "with_default"]
    assert found["add_comm'"].statement == "theorem add_comm' (a b : Nat) : a + b = b + a"
    assert found["Foo.dbl"].statement == "theorem Foo.dbl (n : Nat) : double n = n + n"
    # the comment inside the signature is blanked, the statement keeps one line
    assert found["Foo.Bar.deep"].statement == "theorem Foo.Bar.deep (x : Nat) (h : x = 1) : x + 0 = 1"
    assert found["Nat.mine"].statement == "theorem Nat.mine (c : Char) (h : c = 'a') : c = 'a'"
    assert found["with_default"].statement == "theorem with_default (n : Nat := 3) : n = n"
    a, b = found["add_comm'"].proof_span
    assert SOURCE[a:b] == ":= by\n  sorry"


def test_fill_replaces_only_the_sorry_spans():
    out = fill(SOURCE, {"add_comm'": ["omega"], "Foo.Bar.deep": ["subst h", "rfl"], "unknown": ["rfl"]})
    assert "theorem add_comm' (a b : Nat) : a + b = b + a := by\n  omega\n\ntheorem done_one" in out
    assert "(h : x = 1) : x + 0 = 1 := by\n  subst h\n  rfl\nend Bar" in out
    # everything else byte for byte: undo the two replacements and get the source back
    back = out.replace(":= by\n  omega", ":= by\n  sorry", 1).replace(":= by\n  subst h\n  rfl", ":= by sorry")
    assert back == SOURCE
    assert fill(SOURCE, {}) == SOURCE


def test_context_keeps_the_definitions_and_drops_every_theorem():
    ctx = context(SOURCE)
    assert "def double (n : Nat) : Nat := n + n" in ctx
    assert 'def s : String := "theorem fake3 : False := sorry"' in ctx  # a string stays whole
    assert "theorem" not in ctx.replace("theorem fake3", "") and "import" not in ctx
    assert ctx.count("namespace") == 2 and ctx.count("end ") == 2
    assert context("theorem a : 1 = 1 := rfl\nnamespace X\ntheorem b : 2 = 2 := sorry\nend X\n") == ""


def test_bad_files_and_inputs_are_refused_with_the_reason(tmp_path):
    with pytest.raises(LeanFileError, match="line 2: unterminated block comment"):
        scan("theorem a : True := trivial\n/- never closed\n")
    with pytest.raises(LeanFileError, match="unterminated string"):
        scan('def s := "open\n')
    (tmp_path / "None.lean").write_text("theorem a : True := trivial\n")
    with pytest.raises(NothingToProve):
        from_lean_file(tmp_path / "None.lean", tmp_path / "run")
    (tmp_path / "Twice.lean").write_text("theorem a : True := sorry\ntheorem a : True := sorry\n")
    with pytest.raises(InputError, match="Twice.lean:2: theorem a is declared twice"):
        from_lean_file(tmp_path / "Twice.lean", tmp_path / "run")
    assert kind_of("A.lean") == "file" and kind_of("b.jsonl") == "bench"
    assert kind_of("theorem foo (a b : Nat) : a + b = b + a") == "statement" and kind_of("1 + 1 = 2") == "statement"
    with pytest.raises(InputError, match="neither"):
        kind_of("prove this please")
    src = from_statement("2 + 2 = 4", tmp_path / "s")
    assert src.names == ("goal",) and '"theorem goal : 2 + 2 = 4"' in src.bench.read_text()
    with pytest.raises(InputError, match="carries a proof"):
        from_statement("theorem x : 1 = 1 := by rfl", tmp_path / "s2")


def test_one_lexer_reads_files_as_lean_does(tmp_path):
    """The sorry scanner and check's header parser share prover/lean/lexer.py: a `--` comment ends only at
    `\\n`, a tab is refused as Lean refuses it, and a CRLF file is filled with every other byte kept."""
    from prover.lean.check_file import strip_imports
    from prover.lean.lexer import tokens

    src = "import Lean\n-- theorem hidden : False := sorry\ntheorem t : 0x1F = 31 := sorry\n"
    assert [t.name for t in scan(src)] == ["t"]
    assert "0x1F" in [tok.text for tok in tokens(src)[0]]
    assert strip_imports(src).startswith(" " * len("import Lean") + "\n")
    with pytest.raises(LeanFileError, match="line 2: tab"):
        scan("theorem a : True := sorry\n\ttheorem b : True := sorry\n")
    crlf = "theorem a : 1 = 1 := sorry\r\n\r\ndef keep := 1\r\n"
    (tmp_path / "Crlf.lean").write_bytes(crlf.encode())
    from_lean_file(tmp_path / "Crlf.lean", tmp_path / "run")
    filled = fill(crlf, {"a": ["rfl"]})
    assert filled.endswith("\r\n\r\ndef keep := 1\r\n") and "rfl" in filled


def test_tactic_steps_splits_a_block_at_its_column_and_keeps_multi_line_steps_whole():
    from prover.lean.lexer import LeanLexError, tactic_steps

    block = ("  intro n\n  induction n with\n  | zero => simp\n  | succ k ih =>\n    simp [f, -- a comment\n"
             "      ih]\n    omega\n  constructor\n  <;> simp\n  · exact (foo\n  bar)\n  -- a comment line\n"
             "  /- a block\ncomment -/\n  rfl\ntheorem next : True := by trivial\n")
    assert tactic_steps(block) == [
        "intro n", "induction n with\n| zero => simp\n| succ k ih =>\n  simp [f, -- a comment\n    ih]\n  omega",
        "constructor\n<;> simp", "· exact (foo\nbar)", "rfl"]  # a line left of the block ends it
    runner = ["intro n", "induction n with\n  | zero => rfl\n  | succ k ih => omega", "cases h with\n| inl a => simp"]
    assert tactic_steps("\n".join(runner)) == runner  # the runner's format (column 0) splits back as it was joined
    assert tactic_steps("  -- nothing\n") == []
    with pytest.raises(LeanLexError, match="tab"):
        tactic_steps("\tomega")

"""Client-side logic that needs no Lean: statement normalisation, import handling, answer parsing."""
import pytest

from prover.lean.check_file import FileError, strip_imports
from prover.lean.dojo import as_theorem, proof_text
from prover.lean.protocol import CheckResult, normalize_statement
from prover.lean.server import server_source


def test_normalize_strips_sorry_proof_and_lemma():
    assert normalize_statement("theorem a (x : Nat) : x = x := by\n  sorry") == "theorem a (x : Nat) : x = x"
    assert normalize_statement("lemma b : 1 = 1 := sorry") == "theorem b : 1 = 1"
    assert normalize_statement("  ∀ n : Nat, n = n  ") == "∀ n : Nat, n = n"


@pytest.mark.parametrize("bad", ["", "   ", "theorem c : 1 = 1 := by rfl", "theorem d : True := ⟨⟩"])
def test_normalize_rejects_empty_and_real_proofs(bad):
    with pytest.raises(ValueError):
        normalize_statement(bad)


def test_strip_imports_keeps_line_numbers_and_rejects_unknown_modules():
    src = "import Lean\nimport Std.Data\n\ntheorem t : True := trivial\n"
    out = strip_imports(src)
    assert out.splitlines()[3] == "theorem t : True := trivial"
    assert "import" not in out
    with pytest.raises(FileError, match="Mathlib"):
        strip_imports("import Mathlib\ntheorem t : True := trivial\n")


def test_check_result_parsing_and_lookup():
    res = CheckResult.from_json({"ok": True, "all_ok": False, "declarations": [
        {"name": "Foo.t", "ok": True, "complete": False, "sound": False,
         "messages": [{"severity": "warning", "line": 1, "column": 0, "text": "declaration uses 'sorry'"}]}]})
    d = res.decl("t")
    assert d.name == "Foo.t" and not d.complete and not d.sound and d.messages[0].severity == "warning"
    with pytest.raises(KeyError):
        res.decl("missing")


def test_server_source_has_imports_options_and_entry_point():
    src = server_source(("Lean", "Std"))
    lines = src.splitlines()
    assert lines[:2] == ["import Lean", "import Std"]
    assert "set_option autoImplicit false" in lines
    assert lines[-1] == "#eval LeanServer.serve"
    assert src.count("import Lean") == 1


def test_proof_text_names_bare_propositions():
    assert as_theorem("∀ n : Nat, n = n") == "theorem dojo_theorem : ∀ n : Nat, n = n"
    assert proof_text("theorem t : 1 = 1 := by sorry", ["rfl"]) == "theorem t : 1 = 1 := by\n  rfl\n"

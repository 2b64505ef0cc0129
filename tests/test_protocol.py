"""Client-side logic that needs no Lean: statement normalisation, import handling, strict answer parsing, the
constants shared with the Lean file."""
import pytest

from prover.lean.check_file import FileError, lean_text, read_source, strip_imports
from prover.lean.dojo import as_theorem, proof_text
from prover.lean.backend import SERVER_SOURCE
from prover.lean.protocol import (ANSWER_TAG, COMMANDS, DEFAULT_HEARTBEATS, CheckResult, ErrorAnswer, LeanError,
                                  LeanTimeout, PingRequest, ProtocolError, lean_wire_block, normalize_statement,
                                  parse_answer, parse_request, with_wire_block)
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
    assert out.split("\n")[3] == "theorem t : True := trivial"
    assert "import" not in out
    with pytest.raises(FileError, match="Mathlib"):
        strip_imports("import Mathlib\ntheorem t : True := trivial\n")


SEPARATORS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[hex(ord(c)) for c in SEPARATORS])
def test_strip_imports_changes_only_header_characters(sep):
    """Same length, and every character outside the header's tokens unchanged: Lean's lines and columns are
    the file's. Characters Python counts as line breaks but Lean does not stay where they are."""
    src = (f"-- header comment{sep}import Mathlib\r\nimport Lean  /- /- nested -/ -/\nimport Std.Data\n"
           f'def s : String := "a{sep}b"\n-- note{sep}theorem hidden : 1 = 2 := sorry\n')
    out = strip_imports(src)
    assert len(out) == len(src)
    diff = [i for i, (a, b) in enumerate(zip(src, out)) if a != b]
    assert "".join(src[i] for i in diff) == "importLeanimportStd.Data"
    assert all(out[i] == " " for i in diff)
    assert out.endswith(f'def s : String := "a{sep}b"\n-- note{sep}theorem hidden : 1 = 2 := sorry\n')


def test_header_is_read_like_lean():
    # `-- /-` is a line comment: no block comment starts, and a string's `import` line is not the header's
    src = '-- /-\nimport Lean\ndef s : String := "\nimport Lean\n"\n'
    assert strip_imports(src) == '-- /-\n           \ndef s : String := "\nimport Lean\n"\n'
    # a doc comment is a command: the header ended before it, so the import after it is Lean's to reject
    src = "/-! doc -/\nimport Lean\n"
    assert strip_imports(src) == src
    # an import after a declaration is not in the header: left for Lean to reject
    src = "import Lean\ntheorem t : True := trivial\nimport Std\n"
    assert strip_imports(src).endswith("theorem t : True := trivial\nimport Std\n")
    out = strip_imports("module\n\npublic import Lean\nmeta import all Std.Tactic\ndef x := 1\n")
    assert out == " " * 6 + "\n\n" + " " * 18 + "\n" + " " * 26 + "\ndef x := 1\n"
    assert strip_imports("/- a /- b -/ c -/ import Lean.Elab\n") == "/- a /- b -/ c -/" + " " * 17 + "\n"
    with pytest.raises(FileError, match="prelude"):
        strip_imports("prelude\nimport Init.Core\n")
    with pytest.raises(FileError, match="tab"):
        strip_imports("import Lean\n\timport Std\n")
    with pytest.raises(FileError, match="carriage return"):
        strip_imports("import Lean\rimport Std\n")
    with pytest.raises(FileError, match="unterminated"):
        strip_imports("/- open\nimport Lean\n")


def test_only_crlf_is_normalised_as_lean_does():
    src = 'def s := "a\r\nb\rc\u2028d"\r\n'
    assert lean_text(src) == 'def s := "a\nb\rc\u2028d"\n'


def test_read_source_is_byte_exact(tmp_path):
    raw = "import Lean\r\ntheorem t : True := trivial\r-- x\u2028y\x85\n".encode()
    (tmp_path / "f.lean").write_bytes(raw)
    assert read_source(tmp_path / "f.lean").encode() == raw
    (tmp_path / "g.lean").write_bytes(b"theorem t : True := trivial -- \xff\n")
    with pytest.raises(FileError, match="not UTF-8"):
        read_source(tmp_path / "g.lean")


def test_check_result_parsing_and_lookup():
    res = CheckResult.from_json({"ok": True, "all_ok": False, "parse_messages": [], "expected_found": True,
                                 "declarations": [
        {"name": "Foo.t", "ok": True, "complete": False, "sound": False, "unsound_reason": "it uses `sorry`",
         "audit_error": None, "ms": 12, "line": 3, "kind": "theorem", "later_field": [1],
         "messages": [{"severity": "warning", "line": 1, "column": 0, "text": "declaration uses 'sorry'"}]}]})
    d = res.decl("t")
    assert d.name == "Foo.t" and not d.complete and not d.sound and d.messages[0].severity == "warning"
    # every field Lean sends reaches the caller: declared ones typed, unknown ones in `extra`
    assert (d.unsound_reason, d.audit_error, d.ms, d.line, d.kind) == ("it uses `sorry`", None, 12, 3, "theorem")
    assert d.extra == {"later_field": [1]}
    with pytest.raises(KeyError):
        res.decl("missing")


def test_strict_parsing_names_the_command_and_the_field():
    with pytest.raises(ProtocolError, match="answer to `check`.declarations\\[0\\]: missing boolean field `sound`"):
        parse_answer("check", {"ok": True, "all_ok": True, "parse_messages": [], "expected_found": True,
                               "declarations": [{"name": "t", "ok": True, "complete": True, "messages": []}]})
    with pytest.raises(ProtocolError, match="answer to `start`: missing natural-number field `state`"):
        parse_answer("start", {"ok": True, "state": -1, "goals": [], "complete": True})
    with pytest.raises(ProtocolError, match="answer to `stats`: missing boolean field `ok`"):
        parse_answer("stats", {"requests": 1})
    with pytest.raises(ProtocolError, match="^tactic: missing string field `tactic`$"):
        parse_request('{"id": 1, "cmd": "tactic", "state": 0}')
    with pytest.raises(ProtocolError, match="unknown command `ping`"):
        parse_request('{"cmd": "ping"}')  # a daemon command is not the Lean server's
    assert isinstance(parse_request('{"cmd": "ping"}', daemon=True)[1], PingRequest)
    err = parse_answer("tactic", {"id": 3, "ok": False, "error": "lost", "error_type": "LeanTimeout"})
    assert isinstance(err, ErrorAnswer) and err.lost == "LeanTimeout" and isinstance(err.exception(), LeanTimeout)
    assert isinstance(parse_answer("start", {"ok": False, "error": "no"}).exception(), LeanError)


def test_the_lean_file_carries_the_current_wire_block():
    """The constants and the command set come from protocol.py: the running source is made from it, and the
    checked-in copy (what an editor sees) must equal it (`python scripts/lean_wire.py --write` rewrites it)."""
    text = SERVER_SOURCE.read_text()
    assert with_wire_block(text) == text, "stale WIRE block: run python scripts/lean_wire.py --write"
    block = lean_wire_block()
    assert f'def answerTag : String := "{ANSWER_TAG}"' in block
    assert f"def defaultHeartbeats : Nat := {DEFAULT_HEARTBEATS}" in block
    assert all(f"  | {c}" in block for c in COMMANDS)
    assert block in server_source()
    # no second copy of the constants in the Lean file outside the block
    outside = text.replace(block, "")
    assert ANSWER_TAG not in outside.replace("`@@LS@@ KEY `", "") and str(DEFAULT_HEARTBEATS) not in outside
    # the dispatch is one exhaustive match over the generated type
    assert "WireCmd.ofName?" in outside and 'cmd == "' not in outside


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

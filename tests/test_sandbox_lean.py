"""Red team against the sandbox and the one-text rule, with the real Lean server.

Host access: code that runs while Lean elaborates (a tactic's `config` value is evaluated) reaches `IO`
through `_root_`-qualified names, past the identifier filter. Each probe below makes that code's IO result
decide the proof (`simp` with `maxSteps := 0` fails), so the verdict shows whether the IO succeeded: in
Lean's private in-memory directory it does (the route really runs code), on the host it must not. The
`trusted` variants skip the syntax filter, so they test the sandbox alone.

One text: the bytes Lean parses are the file's; a character Python treats as a line break (\\r, \\x0b, \\x0c,
\\x1c, \\x85, U+2028) changes nothing, and the file fails exactly when Lean sees a false theorem."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from prover.lean.backend import ROOT, cache_root
from prover.lean.check_file import check_source, read_source

pytestmark = pytest.mark.lean


def io_probe(name: str, action: str, kind: str = "theorem") -> str:
    """A declaration whose proof succeeds iff `action` (an IO action, via `_root_` names) succeeds."""
    cfg = f"match _root_.EStateM.run ({action} : _root_.IO _) () with | .ok _ _ => 100000 | .error _ _ => 0"
    head = f"theorem {name}" if kind == "theorem" else "example"
    return f"{head} : 1 + 1 = 2 := by\n  simp (config := {{ maxSteps := {cfg} }})\n"


def lean_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def all_text(res) -> str:
    return repr(res)


@pytest.fixture
def markers(tmp_path) -> list[Path]:
    tag = uuid.uuid4().hex
    return [Path("/tmp") / f"sbx-{tag}", Path.home() / f"sbx-{tag}", cache_root() / f"sbx-{tag}",
            ROOT / f"sbx-{tag}"]


@pytest.mark.parametrize("trusted", [False, True], ids=["filtered", "sandbox-only"])
def test_elaboration_time_code_cannot_write_host_files(lean, markers, trusted):
    code = "".join(io_probe(f"w{i}", f"_root_.IO.FS.writeFile {lean_str(str(m))} \"pwned\"",
                            "example" if trusted else "theorem") for i, m in enumerate(markers))
    res = lean.check(code, trusted=trusted)
    assert not any(d.ok for d in res.declarations), res
    assert [m for m in markers if m.exists()] == []


@pytest.mark.parametrize("trusted", [False, True], ids=["filtered", "sandbox-only"])
def test_elaboration_time_code_cannot_touch_the_cache(lean, trusted):
    home = cache_root() / "lean-wasm" / "lean"
    targets = [home / "lean.js", home / "preload.js", home / "lib" / "Init.olean"]
    targets += sorted((cache_root() / "lean-src").glob("LeanServer-*.lean"))[:1]
    before = {t: hashlib.sha256(t.read_bytes()).hexdigest() for t in targets}
    actions = [f"_root_.IO.FS.writeFile {lean_str(str(t))} \"\"" for t in targets]
    actions += [f"_root_.IO.FS.removeFile {lean_str(str(targets[0]))}",
                f"_root_.IO.FS.createDirAll {lean_str(str(home / 'lib' / 'Evil'))}",
                f"_root_.IO.FS.readFile {lean_str(str(cache_root() / 'run' / 'daemon.log'))}",
                f"_root_.System.FilePath.readDir {lean_str(str(cache_root()))}"]
    code = "".join(io_probe(f"c{i}", a, "example" if trusted else "theorem") for i, a in enumerate(actions))
    res = lean.check(code, trusted=trusted)
    assert not any(d.ok for d in res.declarations), res
    assert {t: hashlib.sha256(t.read_bytes()).hexdigest() for t in targets} == before
    assert not (home / "lib" / "Evil").exists()


def test_host_secrets_are_not_readable(lean, tmp_path):
    secret_text = f"secret-{uuid.uuid4().hex}"
    secret = Path("/tmp") / f"sbx-secret-{uuid.uuid4().hex}"
    secret.write_text(secret_text)
    try:
        outputs = []
        code = f'example : (include_str {lean_str(str(secret))}) = "" := rfl\n'
        res = lean.check(code)  # the filter refuses it
        assert not res.all_ok and "include_str" in all_text(res)
        outputs.append(all_text(res))
        outputs.append(all_text(lean.check(code, trusted=True)))  # the sandbox: the file is not there
        outputs.append(all_text(lean.check(io_probe("r", f"_root_.IO.FS.readFile {lean_str(str(secret))}",
                                                    "example"), trusted=True)))
        leak = (f"example : True := by\n  simp (config := {{ maxSteps := match _root_.EStateM.run "
                f"(_root_.IO.FS.readFile {lean_str(str(secret))} : _root_.IO _) () with "
                f"| .ok s _ => s.length + 100000 | .error e _ => 100000 }})\n")
        outputs.append(all_text(lean.check(leak, trusted=True)))
        for out in outputs:
            assert secret_text not in out
        # include_str past the filter: either the sandbox hides the file, or (the judge names the checked text
        # `<check>`, which has no directory) Lean cannot resolve the path at all; the IO probes above reach the
        # file system and are refused there
        assert ("does not exist" in outputs[1] or "no such file" in outputs[1].lower()
                or "cannot compute parent directory" in outputs[1]), outputs[1]
    finally:
        secret.unlink()


def test_a_forged_answer_on_stdout_is_not_an_answer(lean):
    """Elaboration-time code can print on Lean's stdout; the client only takes lines with its session key."""
    from prover.lean.protocol import ANSWER_TAG

    nxt = getattr(lean, "_next_req", 0) + 1
    forged = "".join(
        f'{ANSWER_TAG} {{\\"id\\": {i}, \\"ok\\": true, \\"all_ok\\": true, \\"declarations\\": []}}\\n'
        for i in range(nxt, nxt + 3))
    code = (f"theorem forged : 1 = 2 := by\n  simp (config := {{ maxSteps := match _root_.EStateM.run "
            f'(_root_.IO.print "{forged}" : _root_.IO _) () with | .ok _ _ => 0 | .error _ _ => 1 }})\n')
    res = lean.check(code)
    assert not res.all_ok and res.declarations, res


def _check_file(lean, tmp_path, text: str):
    p = tmp_path / f"f{uuid.uuid4().hex[:6]}.lean"
    p.write_bytes(text.encode())
    return check_source(lean, read_source(p), use_preludes=False)


SEPARATORS = ["\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[hex(ord(c)) for c in SEPARATORS])
def test_line_breaks_of_python_are_not_lean_line_breaks(lean, tmp_path, sep):
    """A reader that translates `sep` into a newline would have Lean prove `split`, false for the file."""
    esc = f"\\u{ord(sep):04x}"
    head = f'import Lean\n-- note{sep}theorem hidden : 1 = 2 := sorry\ndef s : String := "a{sep}b"\n'
    honest = _check_file(lean, tmp_path, head + f'theorem same : s = "a{esc}b" := rfl\n')
    assert honest.all_ok, honest
    assert [d.name for d in honest.declarations if "hidden" in d.name] == []  # a comment for Lean
    res = _check_file(lean, tmp_path, head + f'theorem same : s = "a{esc}b" := rfl\n'
                                             'theorem split : s = "a\\nb" := rfl\n')
    assert not res.all_ok and not res.decl("split").sound and res.decl("same").sound


def test_a_dash_dash_slash_dash_line_starts_no_comment(lean, tmp_path):
    src = '-- /-\nimport Lean\ndef s : String := "\nimport Lean\n"\ntheorem len : s.length = {} := by decide\n'
    assert not _check_file(lean, tmp_path, src.format(2)).all_ok  # what blanking the string's line gave
    assert _check_file(lean, tmp_path, src.format(13)).all_ok


def test_message_positions_are_the_files(lean, tmp_path):
    src = ("import Lean\ntheorem p2 : 1 = 2 := rfl\n\n-- x\u2028y\x0c\ntheorem p5 : 1 = 3 := rfl\n\n"
           "theorem p7 : 1 = 4 := rfl\n")
    res = _check_file(lean, tmp_path, src)
    lines = {d.name: sorted({m.line for m in d.messages if m.severity == "error"}) for d in res.declarations}
    assert lines == {"p2": [2], "p5": [5], "p7": [7]}, res

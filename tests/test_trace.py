"""Tracing: normalisation (no Lean), and a real trace on the shared server checked for tactics, states,
premises, statuses, and the dataset and LeanDojo JSON it exports."""
from __future__ import annotations

import json

import pytest

from prover.trace import export
from prover.trace.source import load_units, normalise
from prover.trace.tracer import trace_units

SMALL = """\
theorem tr_subst (n : Nat) (h : n = 1) : n + 1 = 2 := by
  subst h
  rfl

example (p q : Prop) (hp : p) (hq : q) : p ∧ q := by
  constructor
  · exact hp
  · exact hq

theorem tr_rw (xs : List Nat) : (xs ++ []).length = xs.length := by
  rw [List.append_nil]

theorem tr_bad (a : Nat) : a = a + 1 := by omega

theorem tr_noop (a : Nat) : a = a := by
  skip
  rfl

#eval 1
"""


def test_normalise_keeps_lines_and_drops_the_module_system():
    src = "module\n\npublic import Std.Data.HashMap\nimport all Init.Data.List.Basic -- why\n\n" \
          "@[expose] public section\npublic def f (n : Nat) : Nat := n\nend\n"
    imports, body, notes = normalise(src)
    assert imports == ["Std.Data.HashMap", "Init.Data.List.Basic"]
    assert body.count("\n") == src.count("\n")  # reported lines stay the original file's
    lines = body.split("\n")
    assert lines[5] == "section" and lines[6] == "def f (n : Nat) : Nat := n"
    assert any("module" in n for n in notes) and any("import all" in n for n in notes)


def test_project_imports_become_a_prefix_and_unknown_ones_are_reported(tmp_path):
    (tmp_path / "lakefile.toml").write_text("")
    (tmp_path / "A.lean").write_text("def aa := 1\n")
    (tmp_path / "B.lean").write_text("import A\nimport Nowhere.Module\ntheorem b : aa = 1 := rfl\n")
    units = {u.path.rsplit("/", 1)[-1]: u for u in load_units([tmp_path], lib_has=lambda m: m == "Std")}
    assert "def aa" in units["B.lean"].prefix and units["B.lean"].missing_imports == ["Nowhere.Module"]
    assert units["B.lean"].deps == [str(tmp_path / "A.lean")]
    with pytest.raises(FileNotFoundError):
        load_units([tmp_path / "missing"])


@pytest.mark.lean
def test_trace_small_file(lean, tmp_path):
    f = tmp_path / "Small.lean"
    f.write_text(SMALL)
    (tf,) = trace_units(lean, load_units([f]))
    decls = {d.name: d for d in tf.decls}
    sub = decls["tr_subst"]
    assert [t.tactic for t in sub.tactics] == ["subst h", "rfl"]
    assert "h : n = 1" in sub.tactics[0].state_before and sub.tactics[0].state_after == "⊢ 1 + 1 = 2"
    assert sub.tactics[1].state_after == "no goals" and sub.exportable and sub.sound
    assert sub.statement() == "theorem tr_subst (n : Nat) (h : n = 1) : n + 1 = 2"
    ex = decls["command#2"]
    # the `·` wrappers are skipped, the tactics inside them are kept
    assert [t.tactic for t in ex.tactics] == ["constructor", "exact hp", "exact hq"]
    assert ex.tactics[0].state_after.count("⊢") == 2
    (rw,) = decls["tr_rw"].tactics
    assert rw.tactic == "rw [List.append_nil]"
    assert [(p.full_name, p.module) for p in rw.premises] == [("List.append_nil", "Init.Data.List.Basic")]
    ann, prov = rw.annotated(tf.code.encode(), tf.path)
    assert ann == "rw [<a>List.append_nil</a>]" and prov[0]["def_path"] == "Init/Data/List/Basic.lean"
    assert not decls["tr_bad"].ok and not decls["tr_bad"].exportable and decls["tr_bad"].reason
    assert [t.tactic for t in decls["tr_noop"].tactics] == ["rfl"]  # `skip` changes nothing
    evals = [d for d in tf.decls if d.refused]
    assert len(evals) == 1 and "#eval" in evals[0].refused

    summary = export.write(tmp_path / "out", [tf])
    assert summary["total"]["proofs_exported"] == 4 and summary["total"]["tactics_traced"] == 7
    thms = json.loads((tmp_path / "out" / "leandojo.json").read_text())
    assert {t["full_name"] for t in thms} == {"tr_subst", "_example_L5", "tr_rw", "tr_noop"}
    t0 = next(t for t in thms if t["full_name"] == "tr_rw")["traced_tactics"][0]
    assert t0["annotated_tactic"][0] == "rw [<a>List.append_nil</a>]" and t0["state_after"] == "no goals"
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "out" / "dataset"))
    assert ds["tactics"].num_rows == 7 and ds["declarations"].num_rows == 5
    assert ds["tactics"][0]["tactic"] == "subst h"
    statuses = [json.loads(x) for x in (tmp_path / "out" / "files.jsonl").read_text().splitlines()]
    assert statuses[0]["status"] == "errors" and statuses[0]["exported"] == 4


@pytest.mark.lean
def test_trace_blocks_build_on_each_other(lean, tmp_path):
    rows = [{"file": "Ch.lean", "line": 3, "info": "", "code": "def twice (n : Nat) : Nat := n + n"},
            {"file": "Ch.lean", "line": 9, "info": "+error", "code": "theorem nope : False := by simp"},
            {"file": "Ch.lean", "line": 12, "info": "",
             "code": "theorem twice_eq (n : Nat) : twice n = 2 * n := by\n  unfold twice\n  omega"}]
    f = tmp_path / "blocks.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (unit,) = load_units([f])
    (tf,) = trace_units(lean, [unit])
    d = next(d for d in tf.decls if d.name == "twice_eq")
    assert d.exportable and [t.tactic for t in d.tactics] == ["unfold twice", "omega"]
    assert unit.source_line(d.line) == ("Ch.lean", 12)  # reported at the block's own line
    assert "nope" not in tf.code  # `+error` blocks are skipped


def test_cli_reports_bad_input(tmp_path, capsys):
    from prover.__main__ import main

    assert main(["trace", str(tmp_path / "nope.lean"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["trace", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no .lean files" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["trace", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1: not valid JSON" in capsys.readouterr().err


def test_chunks_cut_only_between_commands():
    from prover.trace.tracer import chunk_spans

    code = ("namespace N\n\n" + "def a := 1\n\n" * 3 + "/- a comment\n\ndef inComment := 1\n-/\n\n"
            "mutual\n\ndef ev : Nat → Bool\n  | 0 => true\n  | n+1 => od n\n\ndef od : Nat → Bool\n  | 0 => false\n"
            "  | n+1 => ev n\n\nend\n\n#guard_msgs in\n\n#eval 1\n\ntheorem t : True := by\n\n  trivial\n\nend N\n")
    spans = chunk_spans(code, max_lines=1)
    lines = code.split("\n")
    assert spans[0][0] == 0 and spans[-1][1] == len(lines)
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))  # contiguous, nothing lost
    starts = [lines[a] for a, _ in spans[1:]]
    assert "def inComment := 1" not in starts and "def od : Nat → Bool" not in starts and "end" not in starts
    assert "#eval 1" not in starts and "  trivial" not in starts
    assert "mutual" in starts and "theorem t : True := by" in starts
    assert chunk_spans(code) == [(0, len(lines))]  # short texts are one request


class _HangsOn:
    """A stand-in server whose `trace` times out on texts containing a marker; answers nothing otherwise."""

    def __init__(self, marker: str):
        self.marker, self.prefixes = marker, []

    def trace(self, code, prefix="", **kw):
        from prover.lean.protocol import LeanTimeout

        self.prefixes.append(prefix)
        if self.marker in code:
            raise LeanTimeout("trace ran past 1 s; Lean was restarted")
        return {"declarations": [], "prefix_failed": 0}


def test_a_hung_chunk_costs_only_its_lines_and_leaves_the_prefix():
    from prover.trace.source import TraceUnit
    from prover.trace.tracer import trace_unit

    code = "def a := 1\n\ndef b := 2\n\ndef hang := 3\n\ndef c := 4\n"
    srv = _HangsOn("hang")
    tf = trace_unit(srv, TraceUnit("x.lean", code), max_lines=2)
    assert tf.failed_chunks == ["lines 5-6: timeout"] and tf.status == "errors"
    assert "def b" in srv.prefixes[-1] and "hang" not in srv.prefixes[-1]
    assert export.summarise([tf])["total"]["failures"] == {"chunk: timeout": 1}


@pytest.mark.lean
def test_chunked_trace_matches_one_request(lean, tmp_path):
    """Chunks see the text before them (namespaces, definitions) and report whole-file offsets and lines."""
    code = "namespace Q\n\ndef dbl (n : Nat) : Nat := n + n\n\n" + SMALL.replace("#eval 1\n", "") + \
        "theorem dbl_eq (n : Nat) : dbl n = 2 * n := by\n  unfold dbl\n  omega\n\nend Q\n"
    f = tmp_path / "C.lean"
    f.write_text(code)
    (unit,) = load_units([f])
    (whole,) = trace_units(lean, [unit], max_lines=10_000)
    (chunked,) = trace_units(lean, [unit], max_lines=4)
    assert not chunked.failed_chunks

    def view(tf):
        return [(d.full_name, d.line, d.start, d.ok, [(t.tactic, t.start, t.line, t.state_before, t.state_after,
                                                       [p.full_name for p in t.premises]) for t in d.tactics])
                for d in tf.decls]

    assert view(chunked) == view(whole)
    d = next(d for d in chunked.decls if d.name == "dbl_eq")
    assert d.full_name == "Q.dbl_eq" and d.exportable and [t.tactic for t in d.tactics] == ["unfold dbl", "omega"]

"""Write traced files out: a `datasets` dataset, a LeanDojo-format JSON export, per-file and per-declaration
status, and a summary.

    OUT/dataset/            DatasetDict(tactics=one row per traced tactic, declarations=one row per declaration)
    OUT/leandojo.json       [{file_path, full_name, theorem_statement, start, end, traced_tactics: [{tactic,
                            annotated_tactic: [text with <a>premise</a>, [provenance]], state_before, state_after}]}]
    OUT/files.jsonl         per file (or block group): status, error, counts, notes
    OUT/declarations.jsonl  per declaration: ok, complete, sound, failure reason, first error, tactic count
    OUT/summary.json        the counts below, per corpus and in total

Only sound declarations (see `tracer`) reach `dataset/tactics` and `leandojo.json`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..io import atomic_write_json, write_jsonl
from .tracer import TracedDecl, TracedFile

DECL_KINDS = {"theorem", "example", "definition", "instance", "abbrev", "structure", "inductive", "classInductive",
              "opaque", "axiom"}


def _is_decl(d: TracedDecl) -> bool:
    return d.kind.rsplit(".", 1)[-1] in DECL_KINDS or (bool(d.refused) and not d.name.startswith("command#"))


def theorem_json(tf: TracedFile, d: TracedDecl, meta: dict[str, Any]) -> dict[str, Any]:
    code = tf.code.encode()
    return {
        "url": meta.get("url"), "commit": meta.get("commit"), "corpus": tf.corpus, "file_path": tf.path,
        "full_name": d.full_name, "theorem_statement": d.statement(), "start": [d.line, 0], "end": [d.end_line, 0],
        "traced_tactics": [
            {"tactic": t.tactic, "annotated_tactic": list(t.annotated(code, tf.path)), "state_before": t.state_before,
             "state_after": t.state_after, "pos": [t.line, t.column], "end_pos": [t.end_line, t.end_column]}
            for t in d.tactics],
    }


def summarise(files: list[TracedFile]) -> dict[str, Any]:
    """Per corpus: files, declarations (elaborated), tactic proofs, exported proofs, tactics, failures by reason."""
    out: dict[str, Any] = {}
    for corpus in sorted({f.corpus for f in files}) + ["total"]:
        fs = [f for f in files if corpus == "total" or f.corpus == corpus]
        decls = [d for f in fs for d in f.decls if _is_decl(d)]
        reasons = Counter(d.reason for d in decls if d.reason)
        reasons.update(f"file: {f.status}" for f in fs if f.status not in ("ok", "errors"))
        reasons.update(f"chunk: {c.rsplit(': ', 1)[1]}" for f in fs if f.status in ("ok", "errors")
                       for c in f.failed_chunks)
        out[corpus] = {
            "files": len(fs), "files_ok": sum(f.status == "ok" for f in fs), "declarations": len(decls),
            "declarations_elaborated": sum(d.ok and not d.refused for d in decls),
            "tactic_proofs": sum(d.is_proof for d in decls),
            "proofs_exported": sum(d.exportable for d in decls),
            "tactics_traced": sum(len(d.tactics) for d in decls if d.exportable),
            "tactics_seen": sum(len(d.tactics) for d in decls),
            "failures": dict(reasons.most_common()),
        }
    return out


def table(summary: dict[str, Any]) -> str:
    cols = ["files", "files_ok", "declarations", "declarations_elaborated", "tactic_proofs", "proofs_exported",
            "tactics_traced"]
    heads = ["corpus", "files", "ok", "decls", "elaborated", "tac.proofs", "exported", "tactics"]
    rows = [[c, *(str(v[k]) for k in cols)] for c, v in summary.items()]
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    for c, v in summary.items():
        if v["failures"]:
            lines.append(f"{c} failures: " + ", ".join(f"{k} {n}" for k, n in v["failures"].items()))
    return "\n".join(lines)


def _features():
    from datasets import Features, Value

    premise = {"full_name": Value("string"), "module": Value("string"), "def_path": Value("string"),
               "start": Value("int64"), "end": Value("int64")}
    tactics = Features({
        "corpus": Value("string"), "file_path": Value("string"), "full_name": Value("string"),
        "index": Value("int32"), "tactic": Value("string"), "annotated_tactic": Value("string"),
        "kind": Value("string"), "state_before": Value("string"), "state_after": Value("string"),
        "line": Value("int32"), "column": Value("int32"), "end_line": Value("int32"), "end_column": Value("int32"),
        "premises": [premise]})
    decls = Features({
        "corpus": Value("string"), "file_path": Value("string"), "name": Value("string"),
        "full_name": Value("string"), "kind": Value("string"), "line": Value("int32"), "ok": Value("bool"),
        "complete": Value("bool"), "sound": Value("bool"), "exported": Value("bool"), "reason": Value("string"),
        "first_error": Value("string"), "num_tactics": Value("int32"), "statement": Value("string")})
    return tactics, decls


def _decl_row(f: TracedFile, d: TracedDecl) -> dict[str, Any]:
    file, line = f.path, d.line
    return {"corpus": f.corpus, "file_path": file, "name": d.name, "full_name": d.full_name,
            "kind": d.kind.rsplit(".", 1)[-1], "line": line, "ok": d.ok,
            "complete": bool(d.complete) if d.complete is not None else None,
            "sound": bool(d.sound) if d.sound is not None else None, "exported": d.exportable,
            "reason": d.reason, "first_error": (d.refused or (d.errors[0] if d.errors else None)),
            "num_tactics": len(d.tactics), "statement": d.statement() if d.is_proof else None}


def write(out: Path, files: list[TracedFile], meta: dict[str, dict[str, Any]] | None = None,
          dataset: bool = True) -> dict[str, Any]:
    """Write everything under `out`; returns the summary. `meta` maps a corpus to {url, commit, licence}."""
    meta = meta or {}
    out.mkdir(parents=True, exist_ok=True)
    theorems, tac_rows, decl_rows, file_rows = [], [], [], []
    for f in files:
        decls = [d for d in f.decls if _is_decl(d)]
        file_rows.append({"path": f.path, "corpus": f.corpus, "status": f.status, "error": f.error,
                          "notes": f.notes, "missing_imports": f.missing_imports,
                          "prefix_failed": f.prefix_failed, "failed_chunks": f.failed_chunks,
                          "declarations": len(decls),
                          "elaborated": sum(d.ok for d in decls), "exported": sum(d.exportable for d in decls),
                          "seconds": round(f.seconds, 2)})
        code = f.code.encode()
        for d in decls:
            row = _decl_row(f, d)
            decl_rows.append(row)
            if not d.exportable:
                continue
            theorems.append(theorem_json(f, d, meta.get(f.corpus, {})))
            for i, t in enumerate(d.tactics):
                ann, _ = t.annotated(code, f.path)
                tac_rows.append({
                    "corpus": f.corpus, "file_path": f.path, "full_name": d.full_name, "index": i,
                    "tactic": t.tactic, "annotated_tactic": ann, "kind": t.kind, "state_before": t.state_before,
                    "state_after": t.state_after, "line": t.line, "column": t.column, "end_line": t.end_line,
                    "end_column": t.end_column,
                    "premises": [{"full_name": p.full_name, "module": p.module, "def_path": p.def_path(f.path),
                                  "start": p.start, "end": p.end} for p in t.premises]})
    write_jsonl(out / "files.jsonl", file_rows)
    write_jsonl(out / "declarations.jsonl", decl_rows)
    atomic_write_json(out / "leandojo.json", theorems, indent=1)
    if dataset:
        from datasets import Dataset, DatasetDict

        ft, fdl = _features()
        DatasetDict({"tactics": Dataset.from_list(tac_rows, features=ft),
                     "declarations": Dataset.from_list(decl_rows, features=fdl)}).save_to_disk(str(out / "dataset"))
    summary = summarise(files)
    atomic_write_json(out / "summary.json", summary, indent=1)
    return summary

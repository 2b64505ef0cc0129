"""What a formalization run hands a person: `report.md`, `Formalized.lean`, and the closing summary table."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prover.io import atomic_write_text


def _pct(a: int, b: int | None) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else "–"


def _cell(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def summary_table(s: dict) -> str:
    lines = ["| measure | value |", "|---|---|",
             f"| problems | {s['problems']} |",
             f"| type-checked (a statement Lean accepts was chosen) | {_pct(s['typechecked'], s['problems'])} |",
             f"| proven equivalent to the reference | {_pct(s['equivalent_to_reference'], s['with_reference'])} |",
             f"| candidates that elaborate | {_pct(s['candidates_elaborated'], s['candidates'])} |",
             f"| chosen statements flagged trivial | {s['chosen_trivial']} |",
             f"| candidates flagged trivial / vacuous / refuted / copied an example | {s['candidates_trivial']} / "
             f"{s['candidates_vacuous']} / {s.get('candidates_refuted', 0)} / {s.get('candidates_copied_example', 0)} |",
             f"| chosen after a repair round | {s['rescued_by_repair']} |",
             f"| repair rounds used (all problems) | {s['repair_rounds_used']} |",
             f"| seconds per problem | {s['seconds_per_problem']:.1f} |"]
    if s.get("back_translation_similarity") is not None:
        lines.append(f"| back-translation similarity (mean cosine) | {s['back_translation_similarity']:.3f} |")
    return "\n".join(lines)


def write_report(path: Path, rows: Sequence[dict], manifest: dict) -> None:
    s = manifest["summary"]
    model = (manifest.get("model") or {}).get("path") or manifest.get("extra", {}).get("autoform", {}).get("model")
    settings = manifest.get("extra", {}).get("autoform", {}).get("settings", {})
    lines = ["# Formalization report", "",
             f"Model: `{model}`. Lean: {manifest.get('lean_version')}. Settings: "
             + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".", "",
             summary_table(s), "",
             "A statement is *type-checked* when Lean elaborates it with `autoImplicit false`; *equivalent* when Lean "
             "proved the chosen statement and the reference imply each other (both proofs kernel-checked). "
             "*Trivial*: a cheap tactic proves it at once (a flag, not a rejection). *Vacuous*: its hypotheses "
             "prove `False` (never chosen). *Refuted*: Lean proved its negation (never "
             "chosen). *Copied an example*: the statement of one of its prompt's examples (never chosen).", "",
             "## Problems", "",
             "| problem | status | chosen statement | flags | group samples | equivalent to reference | repairs |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ch = r.get("chosen") or {}
        eq = r.get("reference_equivalence")
        eq_s = "–" if eq is None else ("yes" if eq.get("proven") else "not shown")
        lines.append(f"| {r['name']} | {r['status']} | `{_cell(ch.get('statement', '–'))}` | "
                     f"{', '.join(ch.get('flags', [])) or '–'} | {ch.get('group_samples', '–')} | {eq_s} | "
                     f"{r['repair_rounds_used']} |")
    failed = [r for r in rows if r["status"] != "formalized"][:10]
    if failed:
        lines += ["", "## Why some problems got no statement (first Lean errors)", ""]
        for r in failed:
            errs = [c["error"] for c in r["candidates"] if c["error"]]
            lines.append(f"- {r['name']}: {_cell(errs[0][:200]) if errs else 'no candidates'}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_lean_file(path: Path, rows: Sequence[dict]) -> None:
    """Every chosen statement with `sorry`: `python -m prover check Formalized.lean --prelude prelude.lean`
    elaborates them all (each reported incomplete, since the proofs are `sorry`)."""
    body = ["-- Statements chosen by `python -m autoform`; proofs are left to `python -m prover prove`.", ""]
    for r in rows:
        if r["status"] == "formalized":
            body += [f"-- {r['name']}", r["core_statement"], ""]
    atomic_write_text(path, "\n".join(body))

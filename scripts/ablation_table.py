"""Print an ablation table from finished prove runs: pass rate, time, and what each row adds over the first.

    python scripts/ablation_table.py "hammer=runs/a/baseline" "+ structural=runs/a" "+ memory=runs/b/eval"

Each argument is LABEL=RUN_DIR (a folder with results.jsonl). Columns: proved/total, pass rate, points over
the first row, theorems gained/lost against the first row, total and mean per-theorem wall seconds, mean
expansions to proof, and which generator proposed the proof steps (the `proof_sources` of each row).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.io import read_jsonl_rows  # noqa: E402


def load(run: Path) -> dict[str, dict]:
    f = run / "results.jsonl"
    if not f.is_file():
        raise SystemExit(f"error: no results.jsonl in {run}")
    return {d["name"]: d for d in read_jsonl_rows(f, skip_bad=True, partial_tail_ok=True)}  # later rows win


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    a = ap.parse_args(argv)
    rows = []
    for spec in a.runs:
        label, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit(f"error: {spec!r} is not LABEL=RUN_DIR")
        rows.append((label, load(Path(path))))
    first = {n for n, r in rows[0][1].items() if r["status"] == "proved"}
    print("| run | proved | pass rate | Δ points | gained / lost vs first | wall s (sum) | wall s / thm "
          "| mean exp. to proof | proof steps by source |")
    print("|---|---|---|---|---|---|---|---|---|")
    base_rate = None
    for label, res in rows:
        proved = {n for n, r in res.items() if r["status"] == "proved"}
        rate = 100 * len(proved) / max(1, len(res))
        base_rate = rate if base_rate is None else base_rate
        wall = sum(r.get("wall_seconds") or 0 for r in res.values())
        exp = [r["expansions_to_proof"] for r in res.values() if r["status"] == "proved" and r.get("expansions_to_proof")]
        src = Counter(s for r in res.values() if r["status"] == "proved"
                      for s in (r.get("proof_sources") or (r.get("extra") or {}).get("proof_sources") or []))
        print(f"| {label} | {len(proved)}/{len(res)} | {rate:.1f}% | {rate - base_rate:+.1f} | "
              f"+{len(proved - first)} / -{len(first - proved)} | {wall:.0f} | {wall / max(1, len(res)):.1f} | "
              f"{(sum(exp) / len(exp)) if exp else float('nan'):.2f} | "
              f"{', '.join(f'{k} {v}' for k, v in src.most_common()) or '–'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the bigger training pool: the shipped pool plus the traced corpora's standalone theorem statements
(rules in prover/train/pool.py), checked by one Lean server; prints a summary and writes it beside the pool.

    python scripts/build_pool.py [--out data/train_pool/pool_plus.jsonl]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.io import read_jsonl_rows, write_jsonl  # noqa: E402
from prover.train.pool import Verdict, as_proposition, build_pool, load_corpora, prelude_names, signature_of  # noqa: E402

DATA = ROOT / "data"


def lean_verdict(server):
    """`statement -> Verdict` on one server: `start`, then `intros` (its goal is the dedupe key's input)."""
    from prover.lean import LeanError, LeanInfraError

    calls = [0]

    def verdict(statement: str) -> Verdict:
        calls[0] += 1
        if calls[0] % 200 == 0:
            server.clear()  # proof states are not needed after their key is taken
        try:
            st = server.start(statement, timeout=60)
        except LeanError as e:
            return Verdict(error=str(e))
        except LeanInfraError as e:
            return Verdict(error=f"no verdict: {type(e).__name__}: {e}")
        except ValueError as e:  # normalize_statement: a proof where a statement belongs
            return Verdict(error=f"parse error: {e}")
        try:
            server.start(as_proposition(signature_of(statement)), timeout=60)
        except (LeanError, LeanInfraError) as e:
            return Verdict(error=f"not a proposition: {e}")
        res = server.run_tac(st, "intros")
        goals = res.state.goals if res.state is not None else st.goals
        return Verdict(goal=goals[0] if goals else "")

    return verdict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=Path, default=DATA / "train_pool" / "train_pool.jsonl")
    ap.add_argument("--valid", type=Path, default=DATA / "minif2f_core" / "valid.jsonl")
    ap.add_argument("--traced", type=Path, default=DATA / "traced")
    ap.add_argument("--prelude", type=Path, default=DATA / "minif2f_core" / "prelude.lean")
    ap.add_argument("--out", type=Path, default=DATA / "train_pool" / "pool_plus.jsonl")
    ap.add_argument("--refused", type=Path, help="also write every refused declaration (reason, Lean's error)")
    args = ap.parse_args()

    from prover.lean import open_server

    t0 = time.monotonic()
    prelude = args.prelude.read_text()
    server = open_server(preludes=[prelude], use_daemon=False)
    t_lean = time.monotonic() - t0
    try:
        rows, summary = build_pool(read_jsonl_rows(args.pool), load_corpora(args.traced),
                                   read_jsonl_rows(args.valid), lean_verdict(server), prelude_names(prelude))
    finally:
        server.close()
    secs = time.monotonic() - t0
    write_jsonl(args.out, rows)
    if args.refused:
        write_jsonl(args.refused, summary.refusals)
    info = {"out": str(args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out),
            "rows": len(rows), "seconds": round(secs, 1), "lean_start_seconds": round(t_lean, 1),
            **summary.to_json()}
    args.out.with_suffix(".summary.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(rows)} rows ({summary.shipped_kept} shipped, {len(rows) - summary.shipped_kept} "
          f"traced) in {secs:.0f} s (Lean start-up {t_lean:.0f} s)")
    if summary.shipped_refused:
        print("shipped rows left out:", dict(summary.shipped_refused))
    for corpus, c in sorted(summary.per_corpus.items()):
        ref = summary.refused.get(corpus, {})
        print(f"- {corpus}: {c.get('kept', 0)} kept of {c.get('theorems', 0)} theorem statements; refused: "
              + ", ".join(f"{r} {n}" for r, n in ref.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

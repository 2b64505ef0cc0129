"""Check that every statement of a benchmark JSONL elaborates in Lean (with the bundled prelude).

    python scripts/check_statements.py data/minif2f_core/valid.jsonl
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.io import read_jsonl_rows  # noqa: E402
from prover.progress import progress_bar  # noqa: E402

from prover.lean import LeanError, LeanInfraError, open_server  # noqa: E402

PRELUDE = Path(__file__).resolve().parents[1] / "data" / "minif2f_core" / "prelude.lean"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("--field", default="core_statement")
    args = ap.parse_args()
    rows = read_jsonl_rows(args.bench)
    server = open_server(preludes=[PRELUDE.read_text()])
    failed = []
    for row in progress_bar(rows, desc="statements", unit="stmt"):
        try:
            server.start(row[args.field])
        except LeanError as e:
            failed.append((row["name"], str(e)))
        except LeanInfraError as e:  # not a verdict on the statement, but it was not checked either
            failed.append((row["name"], f"no verdict, Lean failed: {type(e).__name__}: {e}"))
    server.close()
    for name, err in failed:
        print(f"FAILED {name}: {err[:300]}")
    print(f"{len(rows) - len(failed)}/{len(rows)} statements elaborate")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

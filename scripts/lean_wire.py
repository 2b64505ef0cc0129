"""Keep the WIRE block of lean_project/LeanServer.lean equal to prover/lean/protocol.py's constants.

    python scripts/lean_wire.py --check   # exit 1 if the block is stale
    python scripts/lean_wire.py --write   # regenerate it

The running server does not depend on this (its source is made with the block regenerated); the checked-in copy
is what an editor and `lake build` see.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.lean.protocol import LEAN_FILE, with_wire_block  # noqa: E402


def main(argv: list[str]) -> int:
    path = ROOT / LEAN_FILE
    text = path.read_text()
    new = with_wire_block(text)
    if argv == ["--write"]:
        if new != text:
            path.write_text(new)
        print(f"{LEAN_FILE}: WIRE block {'rewritten' if new != text else 'up to date'}")
        return 0
    if argv == ["--check"]:
        print(f"{LEAN_FILE}: WIRE block " + ("stale: run python scripts/lean_wire.py --write" if new != text
                                             else "up to date"))
        return int(new != text)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

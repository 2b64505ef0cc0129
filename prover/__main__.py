"""`python -m prover`: the prover's command line.

    python -m prover check FILE.lean [--json] [--prelude FILE]   # one result per theorem; exit 1 if any fails
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path


def cmd_check(args: argparse.Namespace) -> int:
    from .lean import BackendError, LeanError, open_server
    from .lean.check_file import FileError, check_source, read_source

    server = None
    try:
        source = read_source(args.file)
        preludes = [Path(p).read_text() for p in args.prelude]
        if not preludes:  # a check without preludes runs in the imports-only environment: any daemon will do
            from .lean.daemon import find_daemon

            server = find_daemon(None)
        if server is None:
            server = open_server(preludes=preludes, request_timeout=args.timeout)
        result = check_source(server, source, use_preludes=bool(preludes), timeout=args.timeout)
    except (FileError, BackendError, LeanError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.close()
    decls = [d for d in result.declarations if d.name and not d.name.startswith("command#") or not d.ok]
    failed = not result.all_ok
    if args.json:
        for d in decls:
            print(json.dumps({"name": d.name, "ok": d.ok, "complete": d.complete, "sound": d.sound,
                              "messages": [asdict(m) for m in d.messages]}, ensure_ascii=False))
        for m in result.parse_messages:
            print(json.dumps({"name": None, "ok": False, "complete": False, "sound": False,
                              "messages": [asdict(m)]}, ensure_ascii=False))
    else:
        for d in decls:
            verdict = "sound" if d.sound else ("incomplete" if d.ok and not d.complete else "FAILED")
            if d.ok and d.complete and not d.sound:
                verdict = "UNSOUND" + (f" (axioms: {', '.join(d.bad_axioms)})" if d.bad_axioms else "")
            print(f"{d.name}: {verdict}")
            for m in d.messages:
                if m.severity != "info":
                    print(f"  {args.file}:{m.line}:{m.column}: {m.severity}: {m.text}")
        for m in result.parse_messages:
            print(f"  {args.file}:{m.line}:{m.column}: parse {m.severity}: {m.text}")
        n_ok = sum(d.sound for d in decls)
        print(f"{n_ok}/{len(decls)} declarations sound")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover", description="Lean 4 proof search and checking")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check every declaration of a .lean file with Lean's kernel")
    p.add_argument("file", help="a .lean file (imports limited to what the backend has)")
    p.add_argument("--json", action="store_true", help="one JSON object per declaration")
    p.add_argument("--prelude", action="append", default=[], help="trusted .lean definitions to load first")
    p.add_argument("--timeout", type=float, default=600, help="wall-clock limit for the check, seconds")
    p.set_defaults(fn=cmd_check)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m prover`: the prover's command line.

    python -m prover check FILE.lean [--json] [--prelude FILE]   # one result per theorem; exit 1 if any fails
    python -m prover prove --bench FILE.jsonl [--model PATH|URL] [--generator hf+fixed] [--budget k=v,...]
                           [--out DIR] [--workers N] [--resume] [--baseline] [--ray-address ADDR]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .search.budget import Budget


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
    decls = [d for d in result.declarations if d.name and not d.name.startswith("command#") or not d.sound]
    failed = not result.all_ok
    if args.json:
        for d in decls:
            print(json.dumps({"name": d.name, "ok": d.ok, "complete": d.complete, "sound": d.sound,
                              "unsound_reason": d.unsound_reason, "audit_error": d.audit_error,
                              "messages": [asdict(m) for m in d.messages]}, ensure_ascii=False))
        for m in result.parse_messages:
            print(json.dumps({"name": None, "ok": False, "complete": False, "sound": False,
                              "messages": [asdict(m)]}, ensure_ascii=False))
    else:
        for d in decls:
            verdict = "sound" if d.sound else ("incomplete" if d.ok and not d.complete else "FAILED")
            if d.ok and d.complete and not d.sound:
                verdict = "UNSOUND" + (f" (axioms: {', '.join(d.bad_axioms)})" if d.bad_axioms else "")
            if d.unsound_reason and not d.sound:
                verdict += f": {d.unsound_reason}"
            print(f"{d.name}: {verdict}")
            for m in d.messages:
                if m.severity != "info":
                    print(f"  {args.file}:{m.line}:{m.column}: {m.severity}: {m.text}")
        for m in result.parse_messages:
            print(f"  {args.file}:{m.line}:{m.column}: parse {m.severity}: {m.text}")
        if result.audit_error:
            print(f"  judge error: {result.audit_error}")
        n_ok = sum(d.sound for d in decls)
        print(f"{n_ok}/{len(decls)} declarations sound")
    return 1 if failed else 0


def _parse_value(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def cmd_prove(args: argparse.Namespace) -> int:
    from .lean import BackendError, LeanError
    from .run.bench import BenchError
    from .run.runner import RunConfig, RunError, run

    try:
        budget = Budget.parse(args.budget)
        opts = {}
        for item in args.gen_opt:
            key, sep, val = item.partition("=")
            if not sep or not key:
                raise RunError(f"bad --gen-opt {item!r}: expected KEY=VALUE")
            opts[key.strip()] = _parse_value(val.strip())
        out = Path(args.out) if args.out else Path("runs") / f"prove-{Path(args.bench).stem}"
        cfg = RunConfig(bench=Path(args.bench), out=out, generator=args.generator, model=args.model,
                        budget=budget, workers=args.workers, resume=args.resume, baseline=args.baseline,
                        ray_address=args.ray_address, ray_actors=args.ray_actors, limit=args.limit,
                        names=args.name, preludes=[Path(p) for p in args.prelude],
                        imports=tuple(args.imports) or ("Lean",), gen_options=opts,
                        progress=not args.no_progress, argv=sys.argv)
        run(cfg)
    except (RunError, BenchError, BackendError, LeanError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished theorems are in results.jsonl; rerun with --resume", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover", description="Lean 4 proof search and checking")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check every declaration of a .lean file with Lean's kernel")
    p.add_argument("file", help="a .lean file (imports limited to what the backend has)")
    p.add_argument("--json", action="store_true", help="one JSON object per declaration")
    p.add_argument("--prelude", action="append", default=[], help="trusted .lean definitions to load first")
    p.add_argument("--timeout", type=float, default=600, help="wall-clock limit for the check, seconds")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("prove", help="best-first proof search over a benchmark (JSONL)",
                       description="Best-first proof search over a benchmark. Every reported proof is re-checked "
                       "from its text by Lean's kernel.")
    p.add_argument("--bench", required=True, help="JSONL rows with `name` and `core_statement` (or `statement`)")
    p.add_argument("--out", default=None, help="run directory (default: runs/prove-<bench name>)")
    p.add_argument("--generator", default="hf+fixed",
                   help="tactic generator: hf, openai, fixed, or a sum such as hf+fixed (default)")
    p.add_argument("--model", default=None,
                   help="hf: a local model folder (default: the bundled SmolLM2-135M-Instruct); "
                   "openai: the server's base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--budget", default=None,
                   help="per-theorem budget as key=value,...: " + ", ".join(
                       f"{k}={v}" for k, v in Budget().to_dict().items()))
    p.add_argument("--workers", type=int, default=1, help="theorems searched at once (one Lean server each)")
    p.add_argument("--resume", action="store_true", help="keep finished theorems of --out and do the rest")
    p.add_argument("--baseline", action="store_true",
                   help="also run the fixed-tactic baseline (into OUT/baseline) for the report's comparison")
    p.add_argument("--ray-address", default=None,
                   help="spread theorems over a Ray cluster: auto, ray://HOST:10001, or local")
    p.add_argument("--ray-actors", type=int, default=None, help="Ray actors (default: one per node)")
    p.add_argument("--limit", type=int, default=None, help="only the first N theorems")
    p.add_argument("--name", action="append", default=[], help="only this theorem (repeatable)")
    p.add_argument("--prelude", action="append", default=[],
                   help="trusted .lean definitions (default: prelude.lean beside the benchmark)")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   help="modules to import (default: Lean; e.g. Mathlib with a native toolchain)")
    p.add_argument("--gen-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="generator option, e.g. temperature=0.8, max_new_tokens=64, mode=beam")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_prove)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

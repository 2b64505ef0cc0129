"""`python -m prover`: the prover's command line.

    python -m prover check FILE.lean [--json] [--prelude FILE]   # one result per theorem; exit 1 if any fails
    python -m prover prove FILE.lean | "theorem ..." | --bench FILE.jsonl [--model PATH|URL]
                           [--generator hf+fixed] [--budget k=v,...] [--out DIR] [--workers N] [--resume]
                           [--baseline] [--ray-address ADDR]
    # exit 0 all proved, 1 some not, 2 bad input, 3 nothing attemptable / only machinery failures
    python -m prover trace PATH... --out DIR [--prelude F] [--trusted]   # tactics, states, premises -> dataset
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .search.budget import Budget


def cmd_check(args: argparse.Namespace) -> int:
    from .lean import BackendError, LeanError, LeanInfraError, open_server
    from .lean.check_file import FileError, check_source, read_source

    server = None
    try:
        source = read_source(args.file)
        preludes = [read_source(p) for p in args.prelude]
        if not preludes:  # a check without preludes runs in the imports-only environment: any daemon will do
            from .lean.daemon import find_daemon

            server = find_daemon(None)
        if server is None:
            server = open_server(preludes=preludes, request_timeout=args.timeout)
        result = check_source(server, source, use_preludes=bool(preludes), timeout=args.timeout)
    except (FileError, BackendError, LeanError, LeanInfraError, OSError) as e:
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
                              "messages": [m.to_json() for m in d.messages]}, ensure_ascii=False))
        for m in result.parse_messages:
            print(json.dumps({"name": None, "ok": False, "complete": False, "sound": False,
                              "messages": [m.to_json()]}, ensure_ascii=False))
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


def parse_gen_options(items: list[str]) -> dict:
    """`--gen-opt KEY=VALUE` items as a dict (numbers and true/false/none converted)."""
    opts = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad --gen-opt {item!r}: expected KEY=VALUE")
        opts[key.strip()] = _parse_value(val.strip())
    return opts


PROVE_EXIT_CODES = """exit codes:
  0  every theorem proved (each proof re-checked from its text by Lean's kernel)
  1  some theorem not proved (search exhausted, out of budget, statement refused, or a machinery failure
     among real attempts; --resume retries the machinery failures)
  2  bad input (file, prelude, model, server URL, budget key, generator name or option), found before
     Lean starts or a model loads
  3  nothing could be attempted: no sorry theorem in the file, every statement refused by Lean, or every
     attempt a machinery failure (Lean crashed or timed out, model server unreachable)
  130 interrupted (finished theorems are kept; rerun with --resume)
the last line on stderr gives the reason."""


def cmd_prove(args: argparse.Namespace) -> int:
    from .lean import BackendError, LeanError, LeanInfraError
    from .run.bench import BenchError
    from .run.inputs import (InputError, NothingToProve, default_out, from_lean_file, from_statement, kind_of,
                             write_filled)
    from .run.runner import RunConfig, RunError, exit_status, preflight, run, start_lean_servers

    def fail(code: int, why: str) -> int:
        print(f"prove: {why}", file=sys.stderr)
        return code

    try:
        if args.input and args.bench:
            raise InputError("give either an INPUT (.lean file or statement) or --bench, not both")
        if not args.input and not args.bench:
            raise InputError("nothing to prove: give a .lean file, a statement in quotes, or --bench FILE.jsonl")
        arg = args.input or args.bench
        kind = "bench" if args.bench else kind_of(arg)
        budget = Budget.parse(args.budget)
        opts = parse_gen_options(args.gen_opt)
        out = Path(args.out) if args.out else default_out(arg, kind)
        preludes = [Path(p) for p in args.prelude]
        for p in preludes:
            if not p.is_file():
                raise InputError(f"prelude file not found: {p}")
        source = None
        if kind == "file":
            source = from_lean_file(Path(arg), out)
            bench = source.bench
            if source.context is not None and args.ray_address:
                preludes.append(source.context)  # Ray actors load it as a trusted prelude
        elif kind == "statement":
            bench = from_statement(arg, out).bench
        else:
            bench = Path(arg)
        cfg = RunConfig(bench=bench, out=out, generator=args.generator, model=args.model,
                        budget=budget, workers=args.workers, resume=args.resume, baseline=args.baseline,
                        ray_address=args.ray_address, ray_actors=args.ray_actors, limit=args.limit,
                        names=args.name, preludes=preludes,
                        imports=tuple(args.imports) or ("Lean",), gen_options=opts,
                        progress=not args.no_progress, argv=sys.argv,
                        source=None if kind == "bench" else arg)
        if source is None:
            res = run(cfg)
        else:  # our own servers, kept open after the run to re-check the filled-in file
            plan = preflight(cfg)
            if not cfg.ray_address:
                print(f"starting {cfg.workers} Lean server(s) (about a minute on the embedded backend; "
                      "`make daemon-start` keeps one warm)...", file=sys.stderr)
            envs = None if cfg.ray_address else start_lean_servers(
                cfg.workers, plan.preludes, cfg.imports, use_daemon=source.context is None)
            try:
                if source.context is not None and envs:
                    _load_context(envs, source.context, source.lean_file)
                res = run(cfg, envs=envs)
                filled, n = write_filled(source.lean_file, res["rows"])
                print(f"filled:  {filled} ({n}/{len(source.names)} sorry proofs filled in)")
                _recheck_filled(envs[0] if envs else None, filled, [Path(p) for p in args.prelude],
                                source.context is not None)
            finally:
                for e in envs or ():
                    e.close()
    except NothingToProve as e:
        return fail(3, str(e))
    except (InputError, RunError, BenchError, BackendError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (LeanError, LeanInfraError) as e:  # Lean would not start, or refused a prelude
        return fail(3, f"Lean failed before any theorem was attempted: {type(e).__name__}: {e}")
    except KeyboardInterrupt:
        print("interrupted: finished theorems are in results.jsonl; rerun with --resume", file=sys.stderr)
        return 130
    code, why = exit_status(res["rows"])
    return fail(code, why)


def _load_context(envs, context: Path, lean_file: Path) -> None:
    """Load the file's own definitions into every server, after Lean's untrusted-input check passed them
    (the file may come from anywhere: `#eval`, `axiom`, `unsafe` ... are refused as in `prover check`)."""
    from .run.inputs import InputError

    text = context.read_text(encoding="utf-8")
    res = envs[0].check(text, use_preludes=True)
    if not res.all_ok:
        bad = [f"{d.name}: {'; '.join(d.errors[:1]) or 'not sound'}" for d in res.declarations if not d.sound]
        bad += [m.text for m in res.parse_messages[:2]]
        raise InputError(f"{lean_file}: its definitions ({context}) were refused by Lean: {'; '.join(bad[:3])}")
    for env in envs:
        env.add(text)


def _recheck_filled(server, path: Path, preludes: list[Path], has_context: bool) -> None:
    """Check the written file as `python -m prover check` would, on the run's server when it can: a server
    that loaded the file's own definitions as a prelude would see them twice, so then only say how."""
    cmd = f"python -m prover check {path}" + "".join(f" --prelude {p}" for p in preludes)
    if server is None or (has_context and preludes):
        print(f"check:   {cmd}")
        return
    from .lean.check_file import check_source

    try:
        res = check_source(server, path.read_text(encoding="utf-8"), use_preludes=not has_context)
    except Exception as e:  # noqa: BLE001 - the proofs are already verified one by one; this is a courtesy
        print(f"check:   could not re-check {path} ({type(e).__name__}: {e}); run {cmd}")
        return
    decls = [d for d in res.declarations if d.name and not d.name.startswith("command#")]
    sound = sum(d.sound for d in decls)
    rest = [d.name for d in decls if not d.sound]
    print(f"check:   {path}: {sound}/{len(decls)} declarations sound"
          + (f"; not sound: {', '.join(rest)}" if rest else "")
          + ("; parse errors: " + "; ".join(m.text for m in res.parse_messages[:2]) if res.parse_messages else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prover", description="Lean 4 proof search and checking")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check every declaration of a .lean file with Lean's kernel",
                       epilog="exit codes: 0 every theorem sound, 1 some theorem fails, 2 bad input or Lean "
                       "could not run")
    p.add_argument("file", help="a .lean file (imports limited to what the backend has)")
    p.add_argument("--json", action="store_true", help="one JSON object per declaration")
    p.add_argument("--prelude", action="append", default=[], help="trusted .lean definitions to load first")
    p.add_argument("--timeout", type=float, default=600, help="wall-clock limit for the check, seconds")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("prove", help="best-first proof search: a .lean file's sorries, one statement, or a benchmark",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PROVE_EXIT_CODES,
                       description="Best-first proof search. Every reported proof is re-checked from its text by "
                       "Lean's kernel.\n\n  python -m prover prove FILE.lean        # every sorry theorem; writes "
                       "FILE.proved.lean\n  python -m prover prove \"theorem foo (a b : Nat) : a + b = b + a\"\n"
                       "  python -m prover prove --bench FILE.jsonl")
    p.add_argument("input", nargs="?", default=None,
                   help="a .lean file (every theorem/lemma whose proof is `sorry` is a problem), or one statement")
    p.add_argument("--bench", default=None, help="JSONL rows with `name` and `core_statement` (or `statement`)")
    p.add_argument("--out", default=None, help="run directory (default: runs/prove-<input name>)")
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
    from .trace import cli as trace_cli

    p = sub.add_parser("trace", help="trace Lean files into a dataset of tactics, states and premises",
                       description="Elaborate files with info trees and export every tactic of every sound proof "
                       "(state before/after, premises) as a `datasets` dataset and LeanDojo-format JSON.")
    trace_cli.add_arguments(p)
    p.set_defaults(fn=trace_cli.run)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

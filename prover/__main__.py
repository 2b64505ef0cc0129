"""`python -m prover`: the prover's command line.

    python -m prover check FILE.lean [--json] [--prelude FILE]   # one result per theorem; exit 1 if any fails
    python -m prover prove FILE.lean | "theorem ..." | --bench FILE.jsonl [--model PATH|URL]
                           [--generator hf+fixed] [--budget k=v,...] [--out DIR] [--workers N] [--resume]
                           [--baseline] [--ray-address ADDR] [--gen-opt KEY=VALUE ...] [--config FILE.yaml]
    # exit 0 all proved, 1 some not, 2 bad input, 3 nothing attemptable / only machinery failures
    python -m prover trace PATH... --out DIR [--prelude F] [--trusted]   # tactics, states, premises -> dataset
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



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


def prove_parser() -> argparse.ArgumentParser:
    """The `prove` command line, derived from RunConfig's fields (prover/config.py)."""
    from .config import ConfigParser
    from .run.runner import RunConfig

    return ConfigParser(RunConfig, prog="python -m prover prove", epilog=PROVE_EXIT_CODES,
                        description="Best-first proof search. Every reported proof is re-checked from its text by "
                        "Lean's kernel.\n\n  python -m prover prove FILE.lean        # every sorry theorem; writes "
                        "FILE.proved.lean\n  python -m prover prove \"theorem foo (a b : Nat) : a + b = b + a\"\n"
                        "  python -m prover prove --bench FILE.jsonl\n  python -m prover prove --config run.yaml "
                        "[flags overriding it]")


def cmd_prove(argv: list[str]) -> int:
    import dataclasses

    from .lean import BackendError, LeanError, LeanInfraError
    from .run.bench import BenchError
    from .run.inputs import (InputError, NothingToProve, default_out, from_lean_file, from_statement, kind_of,
                             write_filled)
    from .run.runner import RunError, exit_status, preflight, run, start_lean_servers

    def fail(code: int, why: str) -> int:
        print(f"prove: {why}", file=sys.stderr)
        return code

    try:
        (given,) = prove_parser().parse_config(argv)
        if given.input and given.bench:
            raise InputError("give either an INPUT (.lean file or statement) or --bench, not both")
        if not given.input and not given.bench:
            raise InputError("nothing to prove: give a .lean file, a statement in quotes, or --bench FILE.jsonl")
        arg = given.input or str(given.bench)
        kind = "bench" if given.bench else kind_of(arg)
        out = Path(given.out) if given.out else default_out(arg, kind)
        user_preludes = [Path(p) for p in given.preludes]
        preludes = list(user_preludes)
        for p in preludes:
            if not p.is_file():
                raise InputError(f"prelude file not found: {p}")
        source = None
        if kind == "file":
            source = from_lean_file(Path(arg), out)
            bench = source.bench
            if source.context is not None and given.ray_address:
                preludes.append(source.context)  # Ray actors load it as a trusted prelude
        elif kind == "statement":
            bench = from_statement(arg, out).bench
        else:
            bench = Path(arg)
        cfg = dataclasses.replace(given, bench=bench, out=out, preludes=preludes,
                                  imports=tuple(given.imports) or ("Lean",), argv=sys.argv,
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
                _recheck_filled(envs[0] if envs else None, filled, user_preludes, source.context is not None)
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
    # `prove` parses its own arguments (prove_parser(), from RunConfig); listed here for --help
    sub.add_parser("prove", add_help=False,
                   help="best-first proof search: a .lean file's sorries, one statement, or a benchmark")
    from .trace import cli as trace_cli

    p = sub.add_parser("trace", help="trace Lean files into a dataset of tactics, states and premises",
                       description="Elaborate files with info trees and export every tactic of every sound proof "
                       "(state before/after, premises) as a `datasets` dataset and LeanDojo-format JSON.")
    trace_cli.add_arguments(p)
    p.set_defaults(fn=trace_cli.run)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["prove"]:
        return cmd_prove(argv[1:])
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()  # PROVER_LOG_LEVEL
    sys.exit(main())

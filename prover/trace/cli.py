"""`python -m prover trace PATH... --out DIR`: trace files, folders or JSONL block files into a dataset."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help=".lean files, folders of them, or JSONL files of code blocks")
    p.add_argument("--out", required=True, help="output folder (dataset/, leandojo.json, files.jsonl, ...)")
    p.add_argument("--prelude", action="append", default=[], help="trusted .lean definitions to load first")
    p.add_argument("--trusted", action="store_true",
                   help="your own code: skip the untrusted-input filter (commands such as #eval then run)")
    p.add_argument("--blocks", choices=["accumulate", "standalone"], default="accumulate",
                   help="JSONL blocks: a file's blocks build on each other (default) or each stands alone")
    p.add_argument("--corpus", default="", help="a name for these inputs in the output (default: none)")
    p.add_argument("--heartbeats", type=int, default=None, help="per-command maxHeartbeats, thousands")
    p.add_argument("--timeout", type=float, default=600, help="wall-clock limit per file, seconds")
    p.add_argument("--no-dataset", action="store_true", help="write the JSON export only")


def library_has(module: str) -> bool:
    """Whether the backend's library has this module (checked for the embedded build; trusted otherwise)."""
    from ..lean.backend import BackendError, embedded_backend, find_backend

    try:
        backend = find_backend()
    except BackendError:
        return True
    if backend.name != "embedded":
        return True
    lib = Path(embedded_backend().env["LEAN_PATH"])
    return (lib / (module.replace(".", "/") + ".olean")).exists()


def open_tracer(preludes: list[str], imports: tuple[str, ...], timeout: float, trusted: bool):
    """A daemon with this configuration when tracing untrusted input, else a fresh server. Without preludes of
    our own any daemon that imports only `Lean` will do (`make daemon-start`'s has the miniF2F prelude): `run`
    then traces in its pristine environment, so the daemon's prelude cannot clash with the traced files."""
    from ..lean import LeanServer
    from ..lean.daemon import find_daemon

    if not trusted:
        remote = find_daemon(preludes or (None if imports == ("Lean",) else []), imports)
        if remote is not None:
            return remote
    srv = LeanServer(preludes=preludes, imports=imports, request_timeout=timeout)
    srv.ensure_started()
    return srv


def run(args: argparse.Namespace) -> int:
    from ..lean import BackendError, LeanError
    from . import export
    from .source import load_units
    from .tracer import trace_units

    try:
        units = load_units(args.paths, library_has, corpus=args.corpus, blocks=args.blocks)
        preludes = [Path(p).read_text() for p in args.prelude]
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not units:
        print("error: no .lean files or blocks found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    imports = tuple(dict.fromkeys(["Lean", *(m for u in units for m in u.imports)]))
    server = None
    try:
        server = open_tracer(preludes, imports, args.timeout, args.trusted)

        def progress(tf) -> None:
            n = sum(len(d.tactics) for d in tf.decls if d.exportable)
            print(f"{tf.status:>15}  {n:4d} tactics  {tf.seconds:6.1f}s  {tf.path}", file=sys.stderr, flush=True)

        files = trace_units(server, units, trusted=args.trusted, heartbeats=args.heartbeats, timeout=args.timeout,
                            progress=progress, use_preludes=bool(preludes))
    except (BackendError, LeanError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.close()
    summary = export.write(Path(args.out), files, dataset=not args.no_dataset)
    print(export.table(summary))
    return 0

"""`make trace-corpora`: trace the core-only corpora in ../shared/corpora into data/traced/.

Each corpus goes to data/traced/<name>/ (leandojo.json, files.jsonl, declarations.jsonl, summary.json, and its
PROVENANCE.txt and licence lines copied from the source); data/traced/summary.json and README.md hold the counts
for all. One Lean server (imports: the union of what the corpora import and this build has) traces everything,
untrusted: refused commands are skipped and counted.

    python scripts/trace_corpora.py [--corpora DIR] [--out data/traced] [--only NAME ...] [--dataset]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prover.trace import export  # noqa: E402
from prover.trace.cli import library_has  # noqa: E402
from prover.trace.source import load_units  # noqa: E402
from prover.trace.tracer import trace_units  # noqa: E402

# name -> (paths under the corpora folder, options for load_units, licence files to copy)
CORPORA = {
    "software-foundations-lean4": (["software-foundations-lean4"], {}, ["LICENSE"]),
    "human-eval-lean-ecd6bad": (["human-eval-lean/at-ecd6bad/HumanEvalLean"], {}, ["human-eval-lean/at-ecd6bad/LICENSE"]),
    "human-eval-lean-HEAD": (["human-eval-lean/at-HEAD/HumanEvalLean"], {}, ["human-eval-lean/at-HEAD/LICENSE"]),
    "theorem_proving_in_lean4": (["theorem_proving_in_lean4/blocks.jsonl"], {"blocks": "standalone"}, ["LICENSE"]),
    "lean-reference-manual": (["lean-reference-manual/blocks.jsonl"], {"blocks": "accumulate"}, ["LICENSE"]),
    "fp-lean": (["fp-lean/examples/Examples"], {"drop_imports": ("ExampleSupport", "SubVerso.Examples")},
                ["LICENSE-ASSETS"]),
    "verina": (["verina/tasks"], {}, ["LICENSE"]),
    "lean4-metaprogramming-book": (["lean4-metaprogramming-book/lean"], {}, ["LICENSE"]),
}
PROVENANCE_DIR = {"human-eval-lean-ecd6bad": "human-eval-lean", "human-eval-lean-HEAD": "human-eval-lean"}


def provenance(corpora: Path, name: str) -> tuple[str, dict]:
    folder = corpora / PROVENANCE_DIR.get(name, name)
    text = (folder / "PROVENANCE.txt").read_text()
    meta = {}
    for line in text.splitlines():
        if line.startswith("repo:"):
            meta["url"] = line.split(":", 1)[1].strip()
        elif line.startswith("commit:") and "commit" not in meta:
            meta["commit"] = line.split(":", 1)[1].strip().split()[0]
        elif line.startswith("licence:"):
            meta["licence"] = line.split(":", 1)[1].strip()
    if name.startswith("human-eval-lean-"):
        meta["commit"] = {"human-eval-lean-ecd6bad": "ecd6bada1f22da17e476403da1ac8fbaf03af476",
                          "human-eval-lean-HEAD": "ebb161b8692fdf5059424f73d9d7389f389dd1a6"}[name]
    return text, meta


def readme(summary: dict) -> str:
    """data/traced/README.md: what is here, where it came from under which licence, and the counts."""
    lines = ["# Traced corpora", "",
             "Made by `make trace-corpora` (scripts/trace_corpora.py) on the embedded Lean 4.28.0-pre, untrusted mode.",
             "Each folder: `leandojo.json` (sound proofs only, LeanDojo's traced-theorem shape), `files.jsonl`,",
             "`declarations.jsonl` (status and failure reason of every declaration), `summary.json`, and the",
             "source's PROVENANCE.txt and licence file, which go with anything derived from it. `--dataset` also",
             "writes a `datasets` dataset per folder (left out of the repository for size; rebuild it with",
             "`make trace-corpora TRACE_ARGS=--dataset`).", "",
             "Files are traced in chunks of about 150 lines of whole commands, each chunk one request with the text",
             "before it as a silent prefix (answers over ~64 KB were cut off by Node's stdout pipe before the",
             "preload fix; see prover/trace/tracer.py); a chunk that runs past the limit (60 s) is counted as `chunk: timeout`",
             "and its declarations are missing from the counts.", "",
             "| corpus | licence | files | declarations | elaborated | tactic proofs | exported proofs | tactics |",
             "|---|---|---|---|---|---|---|---|"]
    for name, v in summary.items():
        if name == "total":
            continue
        lines.append(f"| {name} | {v.get('licence') or ''} | {v['files']} | {v['declarations']} | "
                     f"{v['declarations_elaborated']} | {v['tactic_proofs']} | {v['proofs_exported']} | "
                     f"{v['tactics_traced']} |")
    t = summary.get("total", {})
    if t:
        lines.append(f"| total | | {t['files']} | {t['declarations']} | {t['declarations_elaborated']} | "
                     f"{t['tactic_proofs']} | {t['proofs_exported']} | {t['tactics_traced']} |")
    lines += ["", "Failures by reason (declarations; `file:` rows are whole files):", ""]
    for name, v in summary.items():
        if v.get("failures"):
            lines.append(f"- {name}: " + ", ".join(f"{k} {n}" for k, n in v["failures"].items()))
    notes = [f"- {name}: {v['note']}" for name, v in summary.items() if v.get("note")]
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", "Sources (repository @ commit):", ""]
    for name, v in summary.items():
        if v.get("url"):
            lines.append(f"- {name}: {v['url']} @ {v.get('commit')}")
    lines += ["", "fp-lean content: *Functional Programming in Lean* by David Thrane Christiansen (Microsoft, 2023, "
              "CC BY 4.0; later changes Lean FRO), https://github.com/leanprover/fp-lean; traced, not modified "
              "beyond removing its SubVerso wrapper lines.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    found = [d / "shared" / "corpora" for d in ROOT.parents if (d / "shared" / "corpora").is_dir()]
    ap.add_argument("--corpora", default=str(found[0] if found else ROOT.parent / "shared" / "corpora"),
                    help="the corpora folder (default: the nearest shared/corpora above this checkout)")
    ap.add_argument("--out", default=str(ROOT / "data" / "traced"))
    ap.add_argument("--only", action="append", default=[], help="trace only this corpus (repeatable)")
    ap.add_argument("--dataset", action="store_true", help="also write each corpus's `datasets` dataset")
    ap.add_argument("--timeout", type=float, default=60,
                    help="per chunk of about 150 lines, seconds (a hung chunk costs this plus a restart)")
    args = ap.parse_args(argv)
    corpora, out = Path(args.corpora), Path(args.out)
    if not corpora.is_dir():
        print(f"error: no corpora folder at {corpora} (pass --corpora)", file=sys.stderr)
        return 2
    names = args.only or list(CORPORA)
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        print(f"error: unknown corpus {unknown}; known: {', '.join(CORPORA)}", file=sys.stderr)
        return 2
    def lib_has(m: str) -> bool:  # Lake would add its whole library to the server's 2 GiB heap: report instead
        return m.split(".")[0] != "Lake" and library_has(m)

    units = {}
    for n in names:
        paths, opts, _ = CORPORA[n]
        units[n] = load_units([corpora / p for p in paths], lib_has, corpus=n, **opts)
    imports = tuple(dict.fromkeys(["Lean", *(m for us in units.values() for u in us for m in u.imports)]))
    print(f"{sum(map(len, units.values()))} units; server imports: {', '.join(imports)}", flush=True)

    from prover.lean import LeanServer

    summary: dict = {}
    t0 = time.monotonic()
    with LeanServer(imports=imports, request_timeout=args.timeout, name="trace-corpora", progress=False) as srv:
        print(f"Lean ready in {time.monotonic() - t0:.0f} s", flush=True)
        for n in names:
            t1 = time.monotonic()
            files = trace_units(srv, units[n], timeout=args.timeout,
                                progress=lambda tf: print(f"  {tf.status:>15} {tf.seconds:6.1f}s {tf.path} {' '.join(tf.failed_chunks)}",
                                                          flush=True))
            text, meta = provenance(corpora, n)
            d = out / n
            if d.exists():
                shutil.rmtree(d)
            s = export.write(d, files, {n: meta}, dataset=args.dataset)
            (d / "PROVENANCE.txt").write_text(text)
            for lic in CORPORA[n][2]:
                src = corpora / PROVENANCE_DIR.get(n, n) / Path(lic).name if "/" not in lic else corpora / lic
                if src.exists():
                    shutil.copy(src, d / src.name)
            summary[n] = {**s[n], "seconds": round(time.monotonic() - t1, 1), "licence": meta.get("licence"),
                          "url": meta.get("url"), "commit": meta.get("commit")}
            (d / "corpus.json").write_text(json.dumps(summary[n], indent=1))
            print(export.table({n: s[n]}), flush=True)
            print(f"  {time.monotonic() - t1:.0f} s", flush=True)
            srv.clear()
    old = write_index(out)
    print(export.table({k: {**v, "failures": v.get("failures", {})} for k, v in old.items()}))
    return 0


def write_index(out: Path) -> dict:
    """summary.json and README.md over every corpus traced into `out` so far (a run with --only adds to
    earlier ones)."""
    keys = ["files", "files_ok", "declarations", "declarations_elaborated", "tactic_proofs", "proofs_exported",
            "tactics_traced"]
    old = {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/corpus.json"))}
    old["total"] = {k: sum(v[k] for v in old.values()) for k in keys}
    (out / "summary.json").write_text(json.dumps(old, indent=1))
    (out / "README.md").write_text(readme(old))
    return old


if __name__ == "__main__":
    sys.exit(main())

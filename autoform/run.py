"""`python -m autoform`: formalize problems into a run directory, resumably.

    OUT/formalized.jsonl   one row per problem, fsynced as each batch finishes (a valid `prove --bench` input)
    OUT/Formalized.lean    every chosen statement with `sorry`, re-checkable by Lean
    OUT/prelude.lean       the definitions the statements may use (so `prove --bench OUT/formalized.jsonl` finds it)
    OUT/report.md          type-check rate, equivalence to references, flags, repair rounds, time per problem
    OUT/manifest.json      input hash, model, Lean version, settings, machine
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from prover.config import config_diff, describe_diff
from prover.config import help_meta as _help
from prover.io import JsonlAppender, read_jsonl_rows
from prover.run.manifest import TRANSPORT_OPTIONS, build_manifest, read_manifest, sha256_file, write_manifest

from .pipeline import FormalizeConfig, Formalizer
from .problems import InformalProblem, read_problems

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRELUDE = ROOT / "data" / "minif2f_core" / "prelude.lean"
ROWS = "formalized.jsonl"
# What a resumed run may change (everything else of the config, the input's and prelude's content, the model
# and the FormalizeConfig settings must match): where and how it runs, how many problems this invocation does.
RESUME_MAY_CHANGE = ("out", "resume", "progress", "limit", "batch", "prelude",  # prelude: by content
                     *(f"gen_options.{k}" for k in TRANSPORT_OPTIONS))


class RunError(ValueError):
    pass



@dataclass
class RunConfig:
    """The settings of `python -m autoform` with `settings` (FormalizeConfig): its flags and `--config FILE`
    keys (prover/config.py), recorded in the manifest."""

    input: str = field(metadata=_help("a .jsonl file (rows with informal_statement), a text file (one problem per "
                                      "paragraph), or the problem itself"))
    out: Path = field(default=Path("runs/formalize"), metadata=_help("run directory"))
    model: str | None = field(default=None, metadata=_help(
        "local model folder (default: the bundled Qwen2.5-Coder-0.5B-Instruct) or the URL of an OpenAI-compatible server, e.g. "
        "http://localhost:8000/v1"))
    settings: FormalizeConfig = field(default_factory=FormalizeConfig, metadata={"cli": False})
    batch: int = field(default=4, metadata=_help("problems whose prompts go to the model together"))
    limit: int | None = field(default=None, metadata=_help("only the first N problems"))
    resume: bool = field(default=False, metadata=_help("keep the finished problems of --out and do the rest"))
    prelude: Path | None = field(default=DEFAULT_PRELUDE, metadata=_help(
        "definitions the statements may use (default: the miniF2F prelude)"))
    gen_options: dict[str, Any] = field(default_factory=dict, metadata=_help(
        "model option (repeatable): dtype, temperature, top_p, max_new_tokens, batch_size, device, ...",
        kv=True, aliases=["--gen-opt"]))
    progress: bool = field(default=True, metadata=_help("show a progress bar"))
    argv: Sequence[str] = field(default=(), metadata={"cli": False})


def run_identity(cfg: RunConfig) -> dict:
    """What `--resume` compares (except RESUME_MAY_CHANGE): the config, its FormalizeConfig settings, and the
    content of the input and the prelude."""
    from prover.config import config_dict
    from prover.run.manifest import redact

    ident = redact(config_dict(cfg))
    ident.update(input=_input_identity(cfg.input), model=str(cfg.model or "default"),
                 settings=asdict(cfg.settings),
                 prelude_sha256=sha256_file(cfg.prelude) if cfg.prelude and Path(cfg.prelude).is_file() else None)
    return ident


def read_rows(path: Path) -> list[dict]:
    """The rows of `formalized.jsonl` ([] before the first batch); a line cut short by a kill is skipped."""
    return read_jsonl_rows(path, RunError, partial_tail_ok=True)


def _input_identity(spec: str) -> dict:
    p = Path(spec)
    if p.is_file():
        return {"path": str(p), "sha256": sha256_file(p)}
    import hashlib

    return {"text_sha256": hashlib.sha256(spec.encode()).hexdigest()}


def run(cfg: RunConfig, env=None, sampler=None, index=None) -> dict:
    """The whole command; `env`, `sampler` and `index` let tests (and embedding code) bring their own."""
    problems = read_problems(cfg.input)
    if cfg.limit is not None:
        problems = problems[:cfg.limit]
    out = Path(cfg.out)
    rows_path = out / ROWS
    identity = run_identity(cfg)
    old = read_manifest(out)
    if rows_path.is_file() and rows_path.stat().st_size:
        if not cfg.resume:
            raise RunError(f"{out} already holds results; pass --resume to continue it, or choose another --out")
        if old is not None:
            before = old.get("extra", {}).get("autoform", {})
            if "gen_options" not in before:  # a manifest from before whole configs were recorded
                before, identity_now = ({k: before.get(k) for k in ("input", "model", "settings")},
                                        {k: identity[k] for k in ("input", "model", "settings")})
            else:
                identity_now = identity
            diffs = config_diff(before, identity_now, ignore=RESUME_MAY_CHANGE)
            if diffs:
                raise RunError(f"cannot resume {out}: the settings differ from the run it holds (its value -> this "
                               f"one): {describe_diff(diffs)}; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    done = {r["name"] for r in read_rows(rows_path)}
    todo = [p for p in problems if p.name not in done]

    own_env = env is None
    preludes = [cfg.prelude.read_text()] if cfg.prelude and cfg.prelude.is_file() else []
    if cfg.prelude and cfg.prelude.is_file():
        shutil.copyfile(cfg.prelude, out / "prelude.lean")
    source = Path(cfg.input)
    if not source.is_file():  # a problem given as text: keep it beside the results
        source = out / "input.txt"
        source.write_text(cfg.input.strip() + "\n", encoding="utf-8")
    manifest = build_manifest(bench_path=source,
                              budget={}, generator="hf" if sampler is None else getattr(sampler, "name", "?"),
                              model_path=None if str(cfg.model or "").startswith("http") else
                              (cfg.model or _default_model()),
                              argv=list(cfg.argv), lean_version=_lean_version(), extra={"autoform": identity},
                              config=identity)
    t_start = time.monotonic()
    try:
        if todo:
            if env is None:
                from prover.lean import open_server

                env = open_server(preludes=preludes)
            if sampler is None:
                from prover.run.local import share_cpu_with_lean

                from .sampler import build_sampler

                share_cpu_with_lean(1)  # torch on every core fights Lean (and anything else) for them
                from prover.progress import quiet_library_bars

                quiet_library_bars()

                sampler = build_sampler(cfg.model, cfg.gen_options)
            if index is None:
                from .examples import ExampleIndex, load_examples

                index = ExampleIndex(load_examples())
            formalizer = Formalizer(env, sampler, index, cfg.settings)
            write_manifest(out, manifest)
            _loop(formalizer, todo, rows_path, cfg, len(done))
    finally:
        if own_env and env is not None:
            env.close()
    rows = read_rows(rows_path)
    by_name = {r["name"]: r for r in rows}
    rows = [by_name[p.name] for p in problems if p.name in by_name]
    manifest["wall_seconds_this_session"] = round(time.monotonic() - t_start, 1)
    manifest["summary"] = summarize(rows)
    write_manifest(out, manifest)
    from .report import write_lean_file, write_report

    write_lean_file(out / "Formalized.lean", rows)
    write_report(out / "report.md", rows, manifest)
    return {"rows": rows, "summary": manifest["summary"], "out": out}


def _lean_version() -> str | None:
    from prover.lean.backend import lean_version as version

    return version()


def _default_model() -> str | None:
    try:
        from prover.generate.models import FORMALIZE_MODEL_NAME, default_model_path

        return str(default_model_path(FORMALIZE_MODEL_NAME))
    except FileNotFoundError:
        return None


def _loop(formalizer: Formalizer, todo: list[InformalProblem], rows_path: Path, cfg: RunConfig,
          already: int) -> None:
    from prover.progress import progress_bar

    bar = progress_bar(total=len(todo) + already, initial=already, desc="formalize", unit="problem",
                       disable=not cfg.progress, file=sys.stderr, dynamic_ncols=True)
    ok = typed = 0
    with JsonlAppender(rows_path) as f:  # drops a line cut short by a kill before appending
        for start in range(0, len(todo), max(1, cfg.batch)):
            rows = formalizer.formalize(todo[start:start + cfg.batch])
            f.append(*rows)
            typed += sum(r["status"] == "formalized" for r in rows)
            ok += sum(bool((r.get("reference_equivalence") or {}).get("proven")) for r in rows)
            bar.set_postfix(typechecked=typed, equivalent=ok)
            bar.update(len(rows))
    bar.close()


def summarize(rows: Sequence[dict]) -> dict:
    n = len(rows)
    formalized = [r for r in rows if r["status"] == "formalized"]
    with_ref = [r for r in formalized if r.get("reference_statement")]
    refs_total = sum(1 for r in rows if r.get("reference_statement"))
    equiv = [r for r in with_ref if (r.get("reference_equivalence") or {}).get("proven")]
    cands = [c for r in rows for c in r["candidates"]]
    secs = [r["seconds"].get("total", 0.0) for r in rows]
    sims = [r["back_translation"]["similarity"] for r in formalized if r.get("back_translation")]
    return {
        "problems": n,
        "typechecked": len(formalized),
        "typecheck_rate": len(formalized) / n if n else 0.0,
        "with_reference": refs_total,
        "equivalent_to_reference": len(equiv),
        "equivalence_rate": len(equiv) / refs_total if refs_total else None,
        "candidates": len(cands),
        "candidates_elaborated": sum(c["elaborates"] for c in cands),
        "chosen_trivial": sum("trivial" in (r["chosen"] or {}).get("flags", []) for r in formalized),
        "candidates_trivial": sum("trivial" in c["flags"] for c in cands),
        "candidates_vacuous": sum("vacuous" in c["flags"] for c in cands),
        "candidates_copied_example": sum("copied_example" in c["flags"] for c in cands),
        "candidates_refuted": sum("refuted" in c["flags"] for c in cands),
        "rescued_by_repair": sum((r["chosen"] or {}).get("origin", "").startswith("repair") for r in formalized),
        "repair_rounds_used": sum(r["repair_rounds_used"] for r in rows),
        "seconds_per_problem": sum(secs) / n if n else 0.0,
        "back_translation_similarity": sum(sims) / len(sims) if sims else None,
    }

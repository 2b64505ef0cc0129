"""`python -m autoform`: natural-language problems -> Lean 4 statements, checked by Lean and for faithfulness.

    python -m autoform --input FILE.jsonl|FILE.txt|"problem text" [--model PATH|URL] [--k 8] [--out DIR]
                       [--repair-rounds 2] [--few-shot 4] [--resume] [--limit N] [--back-translate]

Exit codes: 0 the run finished (report.md gives the type-check and equivalence rates), 2 bad input (found
before Lean starts or a model loads).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .pipeline import FormalizeConfig


def _options(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"bad --gen-opt {item!r}: expected key=value")
        for conv in (int, float):
            try:
                out[key] = conv(val)
                break
            except ValueError:
                continue
        else:
            out[key] = val
    return out


def check_inputs(spec: str, model: str | None, options: dict) -> None:
    """The problems can be read, the model folder exists (or the server answers) and the options are ones
    the sampler takes: seconds, where finding out after Lean's start-up costs minutes. Raises ValueError."""
    from prover.run.runner import check_generator_spec, probe_model_server

    from .problems import read_problems

    read_problems(spec)
    server = bool(model and model.startswith(("http://", "https://")))
    check_generator_spec("openai" if server else "hf", {k: v for k, v in options.items()
                                                        if k not in ("max_prompt_tokens",)})
    if server:
        probe_model_server(model, options)
    else:
        from prover.generate.models import resolve_model

        resolve_model(model)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autoform", description=__doc__.splitlines()[0],
                                 epilog="exit codes: 0 the run finished, 2 bad input (checked before Lean starts)")
    ap.add_argument("--input", required=True, help="a .jsonl file (rows with informal_statement), a text file "
                    "(one problem per paragraph), or the problem itself")
    ap.add_argument("--model", default=None, help="local model folder (default: the bundled model) or the URL "
                    "of an OpenAI-compatible server, e.g. http://localhost:8000/v1")
    ap.add_argument("--out", default="runs/formalize")
    d = FormalizeConfig()
    ap.add_argument("--k", type=int, default=d.k, help="samples per problem")
    ap.add_argument("--repair-rounds", type=int, default=d.repair_rounds)
    ap.add_argument("--repair-width", type=int, default=d.repair_width, help="failed attempts repaired per round")
    ap.add_argument("--few-shot", type=int, default=d.few_shot, help="examples in the prompt")
    ap.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens)
    ap.add_argument("--no-flags", action="store_true", help="skip the trivial/vacuous checks")
    ap.add_argument("--back-translate", action="store_true", help="statement -> text similarity score")
    ap.add_argument("--batch", type=int, default=4, help="problems sent to the model together")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--prelude", default=None, help="definitions the statements may use (default: the miniF2F prelude)")
    ap.add_argument("--gen-opt", action="append", default=[], help="model option key=value (dtype, temperature, "
                    "top_p, max_new_tokens, batch_size, device, ...)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    from .problems import InputError
    from .report import summary_table
    from .run import DEFAULT_PRELUDE, RunConfig, RunError, run

    try:
        if a.k < 1 or a.repair_rounds < 0 or a.few_shot < 0:
            raise ValueError("--k must be at least 1; --repair-rounds and --few-shot at least 0")
        prelude = Path(a.prelude) if a.prelude else DEFAULT_PRELUDE
        if a.prelude and not prelude.is_file():
            raise ValueError(f"prelude file not found: {prelude}")
        check_inputs(a.input, a.model, _options(a.gen_opt))  # before Lean starts or a model loads
        settings = FormalizeConfig(k=a.k, repair_rounds=a.repair_rounds, repair_width=a.repair_width,
                                   few_shot=a.few_shot, max_prompt_tokens=a.max_prompt_tokens,
                                   flags=not a.no_flags, back_translate=a.back_translate)
        res = run(RunConfig(input=a.input, out=Path(a.out), model=a.model, settings=settings, batch=a.batch,
                            limit=a.limit, resume=a.resume, prelude=prelude, gen_options=_options(a.gen_opt),
                            progress=not a.no_progress, argv=sys.argv))
    except (InputError, RunError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary_table(res["summary"]))
    print(f"\nresults: {res['out'] / 'formalized.jsonl'}; report: {res['out'] / 'report.md'}")
    return 0


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()  # PROVER_LOG_LEVEL
    sys.exit(main())

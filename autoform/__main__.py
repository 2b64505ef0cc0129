"""`python -m autoform`: natural-language problems -> Lean 4 statements, checked by Lean and for faithfulness.

    python -m autoform --input FILE.jsonl|FILE.txt|"problem text" [--model PATH|URL] [--k 8] [--out DIR]
                       [--repair-rounds 2] [--few-shot 4] [--resume] [--limit N] [--back-translate]
                       [--gen-opt KEY=VALUE ...] [--config FILE.yaml]

Exit codes: 0 the run finished (report.md gives the type-check and equivalence rates), 2 bad input (found
before Lean starts or a model loads).
"""
from __future__ import annotations

import sys
from pathlib import Path

from .pipeline import FormalizeConfig


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
    import dataclasses

    from prover.config import ConfigParser

    from .problems import InputError
    from .report import summary_table
    from .run import RunConfig, RunError, run

    try:
        ap = ConfigParser([RunConfig, FormalizeConfig], prog="python -m autoform", description=__doc__.splitlines()[0],
                          epilog="exit codes: 0 the run finished, 2 bad input (checked before Lean starts)")
        cfg, settings = ap.parse_config(argv)
        if settings.k < 1 or settings.repair_rounds < 0 or settings.few_shot < 0:
            raise ValueError("--k must be at least 1; --repair-rounds and --few-shot at least 0")
        if cfg.prelude and not Path(cfg.prelude).is_file():
            raise ValueError(f"prelude file not found: {cfg.prelude}")
        check_inputs(cfg.input, cfg.model, cfg.gen_options)  # before Lean starts or a model loads
        res = run(dataclasses.replace(cfg, settings=settings, prelude=Path(cfg.prelude) if cfg.prelude else None,
                                      argv=sys.argv))
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

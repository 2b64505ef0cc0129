"""`python -m prover.train`: one round of expert iteration (see prover/train/iteration.py).

    python -m prover.train --pool FILE --bench FILE --dir DIR [--model PATH] [--budget ...] [--nproc N] [--force]
                           [--gen-opt KEY=VALUE ...] [--train-arg "--epochs 3 --lr 5e-5" ...] [--config FILE]

Exit codes: 0 the round finished (report.md says whether the new model was accepted), 2 bad input (found
before Lean starts or a model loads), 130 interrupted (rerunning resumes at the first unfinished step).
"""
from __future__ import annotations

import sys
from pathlib import Path

from .iteration import IterationConfig, run_iteration

ROOT = Path(__file__).resolve().parents[2]


def preflight_iteration(cfg: IterationConfig) -> None:
    """Every input of the round checked before Lean starts or a model loads (seconds, not a 3.5-minute Lean
    start-up): pool and benchmark rows and their preludes, the input model, generator names and options, the
    budget (parsed already) and process counts. Raises ValueError/OSError naming the bad input."""
    from ..run.runner import RunConfig, preflight
    from .iteration import current_model

    if cfg.nproc < 1 or cfg.workers < 1:
        raise ValueError(f"--nproc and --workers must be at least 1 (got {cfg.nproc}, {cfg.workers})")
    model = current_model(Path(cfg.root), cfg.model)
    for data, what in ((cfg.pool, "--pool"), (cfg.bench, "--bench")):
        if not Path(data).is_file():
            raise ValueError(f"{what} file not found: {data}")
        preflight(RunConfig(bench=Path(data), out=Path(cfg.root), generator=cfg.generator, model=model,
                            budget=cfg.budget, workers=cfg.workers, gen_options=cfg.gen_options),
                  check_out=False, probe_server=data == cfg.pool)


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigParser

    try:
        ap = ConfigParser(IterationConfig, prog="python -m prover.train", description=__doc__.splitlines()[0],
                          epilog="exit codes: 0 the round finished (report.md says whether the new model "
                          "was accepted), 2 bad input (checked before Lean starts), 130 interrupted "
                          "(rerun to resume)")
        (cfg,) = ap.parse_config(argv)
        preflight_iteration(cfg)
        run_iteration(cfg)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from prover.logs import setup_logging

    setup_logging()  # PROVER_LOG_LEVEL
    sys.exit(main())

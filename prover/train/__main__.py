"""`python -m prover.train`: one round of expert iteration (see prover/train/iteration.py).

    python -m prover.train --pool FILE --bench FILE --dir DIR [--model PATH] [--budget ...] [--nproc N] [--force]
                           [--gen-opt KEY=VALUE ...] [--train-arg "--epochs 3 --lr 5e-5" ...]

Exit codes: 0 the round finished (report.md says whether the new model was accepted), 2 bad input (found
before Lean starts or a model loads), 130 interrupted (rerunning resumes at the first unfinished step).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..__main__ import _parse_value
from ..search import Budget
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
    ap = argparse.ArgumentParser(prog="python -m prover.train", description=__doc__.splitlines()[0],
                                 epilog="exit codes: 0 the round finished (report.md says whether the new model "
                                 "was accepted), 2 bad input (checked before Lean starts), 130 interrupted "
                                 "(rerun to resume)")
    ap.add_argument("--pool", default=str(ROOT / "data" / "train_pool" / "train_pool.jsonl"))
    ap.add_argument("--bench", default=str(ROOT / "data" / "minif2f_core" / "valid.jsonl"))
    ap.add_argument("--dir", default="iterations", help="where iterations/NNN/ live")
    ap.add_argument("--model", default=None, help="input model (default: the current accepted one)")
    ap.add_argument("--generator", default="hf+fixed")
    ap.add_argument("--budget", default=None, help="prove/eval budget, key=value,...")
    ap.add_argument("--nproc", type=int, default=1, help="training processes on this machine")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="take the new model even if the benchmark says no")
    ap.add_argument("--gen-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="generator option for proving and evaluating, as for `python -m prover prove` "
                         "(e.g. dtype=bfloat16, temperature=0.8)")
    ap.add_argument("--train-arg", action="append", default=[], help="extra trainer flag (repeatable)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    try:
        gen_options = {}
        for item in a.gen_opt:
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"bad --gen-opt {item!r}: expected KEY=VALUE")
            gen_options[key.strip()] = _parse_value(val.strip())
        cfg = IterationConfig(pool=Path(a.pool), bench=Path(a.bench), root=Path(a.dir), model=a.model,
                              generator=a.generator, budget=Budget.parse(a.budget), nproc=a.nproc,
                              workers=a.workers, force=a.force,
                              train_args=[x for arg in a.train_arg for x in arg.split()],
                              gen_options=gen_options, progress=not a.no_progress)
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

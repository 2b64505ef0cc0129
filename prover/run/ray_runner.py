"""Proof search spread over a Ray cluster: one actor per machine, each with its own Lean servers and one
model instance shared by its worker threads (the same LocalProver that runs without Ray).

The driver keeps a bounded number of theorems in flight and writes each result as it arrives, so an
interrupted run resumes like a local one. `--ray-address local` starts a private local cluster (tests, a
laptop); `auto` or `ray://head:10001` joins an existing one. A model given by path must exist at that path
on every node (a shared file system), or serve it once with vLLM and use `--generator openai`.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..search import Budget
from .bench import Problem
from .local import LocalProver, build_generator, crashed_result, start_lean_servers
from .results import TheoremResult

ROOT = Path(__file__).resolve().parents[2]


def _load(spec: str) -> Any:
    mod, _, attr = spec.partition(":")
    return getattr(importlib.import_module(mod), attr)


class ProverActor:
    """Lives on one node. Generators are built on first use and kept, so the main run and the baseline share
    the actor's Lean servers."""

    def __init__(self, budget: dict, workers: int, preludes: list[str], imports: tuple[str, ...],
                 model: str | None, gen_options: dict, env_factory: str | None, generator_factory: str | None):
        self.budget = Budget(**budget)
        self.model, self.gen_options, self.generator_factory = model, gen_options, generator_factory
        if env_factory:
            self.envs = [_load(env_factory)() for _ in range(workers)]
        else:
            self.envs = start_lean_servers(workers, preludes, tuple(imports))
        self.provers: dict[str, Any] = {}

    def _prover(self, spec: str):
        if spec not in self.provers:
            gen = _load(self.generator_factory)(spec) if self.generator_factory else \
                build_generator(spec, self.model, self.gen_options if spec != "fixed" else {})
            self.provers[spec] = LocalProver(self.envs, gen, self.budget)
        return self.provers[spec]

    def prove(self, problem: dict, spec: str) -> dict:
        import os
        import socket

        row = self._prover(spec).prove(Problem(**problem)).to_dict()
        row["ray_worker"] = f"{socket.gethostname()}:{os.getpid()}"  # where it ran, for the record
        return row


class RayPool:
    def __init__(self, cfg: Any, preludes: Sequence[str]):
        import ray

        if not ray.is_initialized():
            runtime_env = {"env_vars": {"PYTHONPATH": ":".join([str(ROOT), *_extra_paths()])}}
            if cfg.ray_address == "local":
                ray.init(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
            else:
                ray.init(address=cfg.ray_address, log_to_driver=False, runtime_env=runtime_env)
        self._ray = ray
        n = cfg.ray_actors or max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
        # Threads inside one actor share its model; `num_cpus=0` lets one actor per node start on a busy node.
        actor_cls = ray.remote(ProverActor).options(max_concurrency=cfg.workers, num_cpus=0)
        model = cfg.model
        if "hf" in cfg.generator.split("+") and not cfg.generator_factory:
            from ..generate.models import resolve_model

            model = str(resolve_model(cfg.model))
        self.actors = [actor_cls.remote(asdict(cfg.budget), cfg.workers, list(preludes), tuple(cfg.imports),
                                        model, dict(cfg.gen_options), cfg.env_factory, cfg.generator_factory)
                       for _ in range(n)]
        self.in_flight = 2 * cfg.workers * n

    def prover(self, spec: str) -> "RayProver":
        return RayProver(self, spec)

    def close(self) -> None:
        for a in self.actors:
            self._ray.kill(a)
        self.actors = []


class RayProver:
    def __init__(self, pool: RayPool, spec: str):
        self.pool, self.spec = pool, spec

    def prove_all(self, problems: Iterable[Problem]) -> Iterable[TheoremResult]:
        ray, actors = self.pool._ray, self.pool.actors
        queue = list(problems)
        pending: dict[Any, Problem] = {}
        i = 0
        while queue or pending:
            while queue and len(pending) < self.pool.in_flight:
                p = queue.pop(0)
                ref = actors[i % len(actors)].prove.remote(asdict(p), self.spec)
                pending[ref] = p
                i += 1
            ready, _ = ray.wait(list(pending), num_returns=1)
            p = pending.pop(ready[0])
            try:
                yield TheoremResult.from_dict(ray.get(ready[0]))
            except ray.exceptions.RayError as e:  # the actor died: record the theorem, keep going
                yield crashed_result(p, self.spec, e)

    def close(self) -> None:
        pass


def _extra_paths() -> list[str]:
    import sys

    # Test helpers and user plug-ins named by `env_factory` must import on the workers too.
    return [p for p in sys.path if p and Path(p).is_dir() and str(ROOT) in str(Path(p).resolve())]

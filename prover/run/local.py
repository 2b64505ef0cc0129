"""Searching theorems on this machine: one theorem (`prove_problem`), a thread per Lean server sharing one
generator (`LocalProver`), and the pieces both the local run and each Ray actor (ray_runner.py) need: starting
Lean servers, building the generator, turning a search that raised into a machinery outcome.

A theorem whose search raised gets a machinery outcome (prover/outcome.py), never a verdict.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterable, Sequence

from ..generate.base import TacticGenerator
from ..outcome import outcome_of_exception
from ..search import BestFirstSearch, Budget, ProofEnv
from .bench import Problem
from .results import TheoremResult

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- one theorem
def prove_problem(env: ProofEnv, generator: TacticGenerator, problem: Problem, budget: Budget) -> TheoremResult:
    """Search one theorem; the result row of `results.jsonl`."""
    restarts_before = getattr(env, "restarts", 0)
    res = BestFirstSearch(env, generator, budget).search(problem.statement, problem.name)
    extra: dict[str, Any] = {"stop_reason": res.stop_reason, "slowest_tactic": res.slowest_tactic}
    if res.rejected:
        extra["rejected_proofs"] = res.rejected
    if res.hazards:
        extra["hazard_states"] = res.hazards
    if getattr(res, "lost_tactics", 0):
        extra["lean_lost_tactics"] = res.lost_tactics
    if res.proof_sources:
        extra["proof_sources"] = res.proof_sources
    if res.closed_by_closer:
        extra["closed_by_closer"] = res.closed_by_closer
    restarts = getattr(env, "restarts", 0) - restarts_before
    if isinstance(restarts, int) and restarts > 0:
        extra["lean_restarts"] = restarts
    return TheoremResult(
        name=problem.name, category=problem.category, status=res.status,
        proof="\n".join(res.proof) if res.proof else None, proof_text=res.proof_text, verified=res.verified,
        generator=generator.name, expansions=res.expansions, expansions_to_proof=res.expansions_to_proof,
        tactic_calls=res.tactic_calls, nodes=res.nodes, lean_seconds=round(res.lean_seconds, 3),
        model_seconds=round(res.model_seconds, 3), wall_seconds=round(res.wall_seconds, 3),
        seconds_to_proof=None if res.seconds_to_proof is None else round(res.seconds_to_proof, 3),
        error=res.error, extra=extra)


def crashed_result(problem: Problem, generator: str, err: BaseException) -> TheoremResult:
    """A theorem whose search raised (Lean crashed or hung, the model server failed, a bug): a machinery
    outcome, never a verdict; the run goes on and `--resume` retries it."""
    return TheoremResult(name=problem.name, category=problem.category, status=outcome_of_exception(err).value,
                         generator=generator, error=f"{type(err).__name__}: {err}")


# --------------------------------------------------------------------------------------- local execution
class LocalProver:
    """Searches theorems on this machine: one thread per Lean server, one shared generator.

    With several workers the generator is wrapped in a BatchingGenerator, so concurrent searches' requests
    reach the model as one batch.
    """

    def __init__(self, envs: Sequence[ProofEnv], generator: TacticGenerator, budget: Budget):
        if not envs:
            raise ValueError("LocalProver needs at least one Lean server")
        self.envs, self.budget = list(envs), budget
        self.generator = generator
        self._batcher = None
        if len(self.envs) > 1:
            from ..generate.batching import BatchingGenerator

            self.generator = self._batcher = BatchingGenerator(generator, max_batch=4 * len(self.envs))
        self._free: list[ProofEnv] = list(self.envs)
        self._cv = threading.Condition()

    def _borrow(self) -> ProofEnv:
        with self._cv:
            while not self._free:
                self._cv.wait()
            return self._free.pop()

    def _give_back(self, env: ProofEnv) -> None:
        clear = getattr(env, "clear", None)
        if clear is not None:
            try:
                clear()
            except Exception as e:  # noqa: BLE001 - a failed clear costs memory only; a broken server
                log.debug("clearing a Lean server's states failed (%s: %s)", type(e).__name__, e)  # restarts later
        with self._cv:
            self._free.append(env)
            self._cv.notify()

    def prove(self, problem: Problem) -> TheoremResult:
        env = self._borrow()
        try:
            return prove_problem(env, self.generator, problem, self.budget)
        except Exception as e:  # noqa: BLE001 - one theorem's crash must not end the run
            return crashed_result(problem, self.generator.name, e)
        finally:
            self._give_back(env)

    def prove_all(self, problems: Iterable[Problem]) -> Iterable[TheoremResult]:
        """Results in completion order."""
        with ThreadPoolExecutor(len(self.envs)) as ex:
            futures = [ex.submit(self.prove, p) for p in problems]
            for fut in as_completed(futures):
                yield fut.result()

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()  # stops its thread; the wrapped generator stays usable


def start_lean_servers(n: int, preludes: Sequence[str], imports: tuple[str, ...],
                       use_daemon: bool = True) -> list[Any]:
    """n warm servers: a running daemon with the same preludes serves when n == 1 (and `use_daemon`), else
    a local pool. Local servers keep a warm spare when memory allows (`PROVER_LEAN_SPARE`, see
    prover/lean/spare.py), so a hung tactic costs a swap, not a start-up. Local servers warm up `exact?` too
    (`warm_up="full"`, prover/lean/server.py): each theorem has a wall-clock budget, and the first theorem
    would otherwise pay the 5-11 s of `exact?`'s first call."""
    from ..lean import LeanPool, open_server

    if n == 1:
        return [open_server(preludes=list(preludes), imports=imports, request_timeout=300, spare=None,
                            use_daemon=use_daemon, warm_up="full")]
    pool = LeanPool(n, preludes=list(preludes), imports=imports, request_timeout=300, warm_up="full")
    pool.start()
    return pool.servers


def build_generator(spec: str, model: str | None, options: dict[str, Any]) -> TacticGenerator:
    from ..generate.factory import build_generator as build

    return build(spec, model=model, options=options)


def share_cpu_with_lean(lean_processes: int) -> None:
    """On a CPU, leave one core per Lean server: torch's default of all cores fights Lean for them, and on
    2 cores one generation took 38-86 s with 2 threads against 7.6 s with 1 (scripts/bench_generate.py)."""
    import os

    import torch

    if not torch.cuda.is_available() and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - lean_processes))


def close_envs(envs: Sequence[Any]) -> None:
    for e in envs:
        close = getattr(e, "close", None)
        if close:
            close()

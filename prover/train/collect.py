"""Collect: turn the proofs a prove run found into training examples, trusting nothing but Lean.

For every theorem of a run's `results.jsonl` that is marked proved:
1. soundness gate: the proof text must start with the pool's own statement (text identity), and Lean's `check`
   must accept it from scratch (kernel, no `sorry`, no `native_decide`/extra axioms, statement unchanged);
2. keep the shortest proof per theorem (fewest tactics, then fewest characters) across this and earlier rounds;
3. replay the tactics in Lean to get the goal state before every tactic, and make one (state, tactic) example
   per step in the generator's prompt format (`prover.generate.prompt.format_example`).

The examples are saved as a Hugging Face `datasets` dataset on disk (columns `prompt`, `completion`, `theorem`,
`step`) and as a LeanDojo-style JSON export (`traced_tactics` with `state_before`/`state_after`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..generate.prompt import format_example
from ..io import atomic_write_json, read_jsonl_rows, write_jsonl
from ..lean.judge import theorem_name, verify_proof
from ..lean.protocol import LeanError, LeanInfraError, normalize_statement
from ..run.bench import Problem
from ..run.results import TheoremResult


def split_tactics(proof: str) -> list[str]:
    """Inverse of the runner's `"\\n".join(tactics)`: a line that starts with whitespace continues a tactic."""
    tactics: list[str] = []
    for line in proof.split("\n"):
        if not line.strip():
            continue
        if line[0].isspace() and tactics:
            tactics[-1] += "\n" + line
        else:
            tactics.append(line)
    return tactics


@dataclass(frozen=True)
class Step:
    state_before: tuple[str, ...]
    tactic: str
    state_after: tuple[str, ...]


@dataclass
class VerifiedProof:
    theorem: str
    statement: str
    tactics: list[str]
    steps: list[Step] = field(default_factory=list)
    source: str = ""  # the run it came from

    @property
    def size(self) -> tuple[int, int]:
        return len(self.tactics), sum(len(t) for t in self.tactics)


@dataclass
class Rejection:
    theorem: str
    why: str


def gate(env: Any, problem: Problem, row: TheoremResult) -> str | None:
    """None if the row's proof is sound for exactly the pool's statement, else why not."""
    if not row.proved or not row.proof:
        return "not proved"
    tactics = split_tactics(row.proof)
    if row.proof_text is not None and normalize_statement(row.proof_text.split(":= by", 1)[0] + ":= by sorry") \
            != normalize_statement(problem.statement):
        return "the proof's statement differs from the pool's"
    ok, _, why = verify_proof(env, problem.statement, tactics)
    if not ok:
        return f"Lean refused the proof: {why}"
    if theorem_name(problem.statement) not in (None, problem.name):
        return f"statement declares {theorem_name(problem.statement)!r}, the pool row is {problem.name!r}"
    return None


def replay(env: Any, statement: str, tactics: Sequence[str]) -> list[Step]:
    """The goal states before and after every tactic (raises LeanError if the proof does not replay)."""
    state = env.start(statement)
    steps = []
    for tac in tactics:
        out = env.run_tac(state, tac)
        if out.state is None:
            raise LeanError(f"replay failed at {tac!r}: {out.error}")
        steps.append(Step(tuple(state.goals), tac, tuple(out.state.goals)))
        state = out.state
    if state.goals:
        raise LeanError("replay ended with goals left")
    return steps


def collect(env: Any, problems: Iterable[Problem], rows: Iterable[TheoremResult], source: str = "",
            earlier: Iterable[VerifiedProof] = ()) -> tuple[list[VerifiedProof], list[Rejection]]:
    """Gate, dedupe (shortest proof per theorem, earlier rounds included) and replay."""
    by_name = {p.name: p for p in problems}
    best: dict[str, VerifiedProof] = {vp.theorem: vp for vp in earlier}
    rejected: list[Rejection] = []
    for row in rows:
        if not row.proved:
            continue
        problem = by_name.get(row.name)
        if problem is None:
            rejected.append(Rejection(row.name, "not in the pool"))
            continue
        why = gate(env, problem, row)
        if why:
            rejected.append(Rejection(row.name, why))
            continue
        vp = VerifiedProof(row.name, problem.statement, split_tactics(row.proof or ""), source=source)
        if row.name not in best or vp.size < best[row.name].size:
            best[row.name] = vp
    for vp in best.values():
        if not vp.steps:
            try:
                vp.steps = replay(env, vp.statement, vp.tactics)
            except LeanError as e:
                rejected.append(Rejection(vp.theorem, f"replay: {e}"))
            except LeanInfraError as e:  # no verdict on the proof; it is left out of this round's data
                rejected.append(Rejection(vp.theorem, f"replay lost to {type(e).__name__}: {e}"))
    kept = [vp for vp in best.values() if vp.steps]
    return sorted(kept, key=lambda v: v.theorem), rejected


def examples(proofs: Iterable[VerifiedProof]) -> list[dict[str, Any]]:
    rows = []
    for vp in proofs:
        for i, st in enumerate(vp.steps):
            prompt, completion = format_example(st.state_before, st.tactic)
            rows.append({"prompt": prompt, "completion": completion, "theorem": vp.theorem, "step": i})
    return rows


def save(proofs: Sequence[VerifiedProof], out_dir: Path) -> dict[str, Any]:
    """`out_dir/dataset` (datasets.save_to_disk), `out_dir/leandojo.json`, `out_dir/proofs.jsonl`."""
    from datasets import Dataset

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = examples(proofs)
    ds = Dataset.from_dict({k: [r[k] for r in rows] for k in ("prompt", "completion", "theorem", "step")})
    ds.save_to_disk(str(out_dir / "dataset"))
    dojo = [{"full_name": vp.theorem, "statement": vp.statement,
             "traced_tactics": [{"tactic": s.tactic, "state_before": "\n\n".join(s.state_before),
                                 "state_after": "\n\n".join(s.state_after) or "no goals"} for s in vp.steps]}
            for vp in proofs]
    atomic_write_json(out_dir / "leandojo.json", dojo, indent=1)
    write_jsonl(out_dir / "proofs.jsonl", (asdict(vp) for vp in proofs))
    return {"proofs": len(proofs), "examples": len(rows)}


def load_proofs(path: Path) -> list[VerifiedProof]:
    """Proofs saved by an earlier round (`proofs.jsonl`), to merge with this round's."""
    out = []
    for d in read_jsonl_rows(path):
        d["steps"] = [Step(tuple(s["state_before"]), s["tactic"], tuple(s["state_after"])) for s in d["steps"]]
        out.append(VerifiedProof(**d))
    return out

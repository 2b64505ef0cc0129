"""Collect: turn the proofs a prove run found into training examples, trusting nothing but Lean.

For every theorem of a run's `results.jsonl` that is marked proved:
1. soundness gate: the proof text must start with the pool's own statement (text identity), and Lean's `check`
   must accept it from scratch (kernel, no `sorry`, no `native_decide`/extra axioms, statement unchanged);
2. keep the shortest proof per theorem (fewest tactics, then fewest characters) across this and earlier rounds;
3. trace the proof with the tracer (`prover.trace`, the server's `trace` command, as for the traced corpora):
   the goals before and after every original tactic, its text and premises; make one (state, tactic) example
   per traced tactic in the generator's prompt format (`prover.generate.prompt.format_example`).

The examples are saved as a Hugging Face `datasets` dataset on disk (columns `prompt`, `completion`, `theorem`,
`step`) and as a LeanDojo-style JSON export in the traced corpora's shape (`prover.trace.export.theorem_json`:
`traced_tactics` with `tactic`, `annotated_tactic`, `state_before`, `state_after`, positions).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..generate.prompt import format_example
from ..io import atomic_write_json, read_jsonl_rows, write_jsonl
from ..lean.judge import proof_text, theorem_name, verify_proof
from ..lean.lexer import LeanLexError, tactic_steps
from ..lean.protocol import LeanCrash, LeanError, LeanInfraError, LeanTimeout, normalize_statement
from ..run.bench import Problem
from ..run.results import TheoremResult


def split_tactics(proof: str) -> list[str]:
    """Inverse of the runner's `"\\n".join(tactics)`, by the project's one Lean lexer (`tactic_steps`): a line
    at column 0 starts a tactic unless it starts with `|` or `<;>` (an `induction … with` alternative at the
    column of its `induction`, as a split whole proof has it); deeper lines continue one. A proof the lexer
    cannot read (a tab: Lean cannot either) stays one tactic, which the check then refuses."""
    try:
        return tactic_steps(proof)
    except LeanLexError:
        return [proof] if proof.strip() else []


@dataclass(frozen=True)
class Step:
    state_before: tuple[str, ...]
    tactic: str
    state_after: tuple[str, ...]
    annotated: str = ""                          # the tactic with `<a>…</a>` around each premise
    premises: tuple[tuple[str, str], ...] = ()   # (full name, declaring module)
    pos: tuple[int, int] = (0, 0)                # (line, column) in the traced proof text
    end_pos: tuple[int, int] = (0, 0)


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


def replay(env: Any, statement: str, tactics: Sequence[str], path: str = "") -> list[Step]:
    """Trace the proof (`statement := by` + tactics): a step per original tactic that changed the goals,
    nested ones included (inside `·`, `case`, `induction … with`). Raises LeanError if Lean does not accept
    the proof as sound, LeanTimeout/LeanCrash if Lean failed (no verdict on the proof)."""
    from ..trace.source import TraceUnit
    from ..trace.tracer import trace_unit

    if not hasattr(env, "trace"):  # an environment without the tracer: tactic by tactic, top-level steps only
        return _replay_stepwise(env, statement, tactics)
    tf = trace_unit(env, TraceUnit(path or "proof.lean", proof_text(statement, list(tactics))))
    if tf.status in ("timeout", "crash"):
        raise (LeanTimeout if tf.status == "timeout" else LeanCrash)(tf.error or tf.status)
    if tf.status == "server-error":
        raise LeanError(f"trace failed: {tf.error}")
    name = theorem_name(statement)
    decls = [d for d in tf.decls if d.kind.endswith(("theorem", "example"))]
    decl = next((d for d in decls if name and d.full_name == name), decls[-1] if decls else None)
    if decl is None:
        raise LeanError("trace found no theorem in the proof text")
    if not decl.exportable:
        raise LeanError(f"trace: {decl.reason or 'no tactic traced'}"
                        + (f": {decl.errors[0][:200]}" if decl.errors else ""))
    code = tf.code.encode()
    return [Step(tuple(t.goals_before), t.tactic, tuple(t.goals_after), t.annotated(code, tf.path)[0],
                 tuple((p.full_name, p.module) for p in t.premises), (t.line, t.column), (t.end_line, t.end_column))
            for t in decl.tactics]


def _replay_stepwise(env: Any, statement: str, tactics: Sequence[str]) -> list[Step]:
    state = env.start(statement)
    steps = []
    for tac in tactics:
        out = env.run_tac(state, tac)
        if out.state is None:
            raise LeanError(f"replay failed at {tac!r}: {out.error}")
        steps.append(Step(tuple(state.goals), tac, tuple(out.state.goals), tac))
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
                vp.steps = replay(env, vp.statement, vp.tactics, path=f"{source or 'collect'}/{vp.theorem}.lean")
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
    dojo = [leandojo_theorem(vp) for vp in proofs]
    atomic_write_json(out_dir / "leandojo.json", dojo, indent=1)
    write_jsonl(out_dir / "proofs.jsonl", (asdict(vp) for vp in proofs))
    return {"proofs": len(proofs), "examples": len(rows)}


def leandojo_theorem(vp: VerifiedProof) -> dict[str, Any]:
    """One proof in the traced corpora's LeanDojo shape (`prover.trace.export.theorem_json`)."""
    from ..trace.tracer import pp_state

    return {
        "url": None, "commit": None, "corpus": vp.source, "file_path": f"{vp.source or 'collect'}/{vp.theorem}.lean",
        "full_name": vp.theorem, "theorem_statement": normalize_statement(vp.statement),
        "start": [1, 0], "end": [1 + sum(t.count("\n") + 1 for t in vp.tactics), 0],
        "traced_tactics": [
            {"tactic": s.tactic,
             "annotated_tactic": [s.annotated or s.tactic,
                                  [{"full_name": n, "def_path": m.replace(".", "/") + ".lean" if m else "",
                                    "def_pos": None, "def_end_pos": None, "module": m} for n, m in s.premises]],
             "state_before": pp_state(list(s.state_before)), "state_after": pp_state(list(s.state_after)),
             "pos": list(s.pos), "end_pos": list(s.end_pos)}
            for s in vp.steps],
    }


def load_proofs(path: Path) -> list[VerifiedProof]:
    """Proofs saved by an earlier round (`proofs.jsonl`), to merge with this round's."""
    out = []
    if not path.is_file():
        return out
    for d in read_jsonl_rows(path):
        d["steps"] = [Step(tuple(s["state_before"]), s["tactic"], tuple(s["state_after"]), s.get("annotated", ""),
                           tuple(tuple(p) for p in s.get("premises", ())), tuple(s.get("pos", (0, 0))),
                           tuple(s.get("end_pos", (0, 0)))) for s in d["steps"]]
        out.append(VerifiedProof(**d))
    return out

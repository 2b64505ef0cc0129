"""Formalize a batch of problems: sample -> Lean check -> repair -> flag -> group -> select -> compare.

For each problem:
1. `k` samples from a few-shot prompt (nearest examples from data/, never the problem itself);
2. each distinct statement is elaborated by Lean; while a problem has none that elaborates, its best failed
   attempts go back to the model with Lean's first error (`repair_rounds` rounds at most);
3. statements that elaborate get flags: `vacuous` (hypotheses prove False; never chosen), `refuted` (Lean
   proved its negation; never chosen), `copied_example`
   (a prompt example's statement up to its name, which small models love to copy; never chosen), `trivial`
   (closed by a cheap tactic at once; kept, but loses ties);
4. the rest are grouped by Lean-proved equivalence; the chosen statement represents the group with the most
   samples behind it (self-consistency), non-trivial first on ties, then the most likely;
5. with a reference statement, Lean tries to prove the chosen one equivalent to it, both directions;
6. optionally the chosen statement is translated back to text and compared with the problem (embeddings).
A batch's prompts go to the model together; Lean work is sequential on one server.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from .equivalence import EquivalenceProver, group_statements
from .examples import ExampleIndex
from .lean_check import check_statement
from .problems import InformalProblem
from .prompt import STATEMENT_STOP, build_prompt, extract_statement
from .sampler import TextSampler
from .statement import StatementError, normal_form, parse_statement
from prover.config import help_meta as _help

PRELUDE_NAMES = {"Nat.Prime": r"\b(Nat\.)?Prime\b|\.Prime\b", "Nat.factorial": r"\bfactorial\b|\w!",
                 "Nat.choose": r"\bchoose\b", "Nat.digits": r"\bdigits\b"}
# vacuous: its hypotheses contradict each other; refuted: Lean proved its negation; copied_example: the
# statement of a prompt example, verbatim
NEVER_CHOSEN = {"vacuous", "refuted", "copied_example"}



@dataclass
class FormalizeConfig:
    """How each problem is formalized; flags of `python -m autoform` (prover/config.py) and recorded in the
    manifest, so `--resume` refuses other settings."""

    k: int = field(default=8, metadata=_help("samples per problem"))
    repair_rounds: int = field(default=2, metadata=_help("re-prompts with Lean's error while nothing elaborates"))
    repair_width: int = field(default=2, metadata=_help("failed attempts repaired per round"))
    repair_samples: int = field(default=2, metadata=_help("samples per repair prompt"))
    few_shot: int = field(default=3, metadata=_help(
        "examples in the prompt (fewer if the token budget runs out)"))
    # the prompt's KV cache is copied per sample and step: long prompts are slow
    max_prompt_tokens: int = field(default=768, metadata=_help("prompt length limit, tokens"))
    flags: bool = field(default=True, metadata=_help("the trivial/vacuous checks (--no-flags skips them)"))
    max_lean_checks: int = field(default=12, metadata=_help("equivalence searches spent on grouping per problem"))
    back_translate: bool = field(default=False, metadata=_help("statement -> text similarity score"))


@dataclass
class CandidateRecord:
    statement: str | None  # the header `theorem name ... : ...`, None when the completion held none
    completion: str
    origin: str  # "sample" or "repair-<round>"
    count: int
    logprob: float
    elaborates: bool = False
    error: str = ""
    flags: list[str] = field(default_factory=list)
    group: int | None = None


@dataclass
class _Work:
    problem: InformalProblem
    examples: list[str]
    example_forms: set[str] = field(default_factory=set)  # normal forms of the prompt's example statements
    nearest: list = field(default_factory=list)  # retrieved once, reused by the repair prompts
    candidates: list[CandidateRecord] = field(default_factory=list)
    repairs_used: int = 0
    t_model: float = 0.0
    t_lean: float = 0.0

    def ok(self) -> list[CandidateRecord]:
        return [c for c in self.candidates if c.elaborates]


def prelude_names(statement: str) -> list[str]:
    return [n for n, pat in PRELUDE_NAMES.items() if re.search(pat, statement)]


class Formalizer:
    def __init__(self, env, sampler: TextSampler, index: ExampleIndex, cfg: FormalizeConfig = FormalizeConfig()):
        self.env, self.sampler, self.index, self.cfg = env, sampler, index, cfg
        self.equiv = EquivalenceProver(env)

    # ---- model ------------------------------------------------------------------------------------------
    def _prompt(self, w: _Work, failed: str | None = None, error: str | None = None) -> str:
        if failed is None:
            w.nearest = self.index.nearest(w.problem.text, self.cfg.few_shot, exclude_name=w.problem.name)
        exs = w.nearest
        prompt, used = build_prompt(w.problem.text, w.problem.name, exs, self.sampler.count_tokens,
                                    self.cfg.max_prompt_tokens, failed, error)
        if failed is None:
            w.examples = [e.name for e in exs[:used]]
            w.example_forms = {normal_form(parse_statement(e.statement)) for e in exs[:used]}
        return prompt

    def _sample(self, works: Sequence[_Work], prompts: Sequence[str], n: int, origin: str) -> None:
        t0 = time.monotonic()
        outs = self.sampler.sample(list(prompts), n, STATEMENT_STOP)
        distinct = list({id(w): w for w in works}.values())
        for w in distinct:  # a batch's model time, shared out evenly
            w.t_model += (time.monotonic() - t0) / len(distinct)
        for w, samples in zip(works, outs):
            known = {c.statement: c for c in w.candidates}
            for s in samples:
                stmt = extract_statement(w.problem.name, s.text)
                if stmt is not None and stmt in known:
                    known[stmt].count += s.count
                    continue
                rec = CandidateRecord(stmt, s.text, origin, s.count, s.logprob)
                w.candidates.append(rec)
                if stmt is not None:
                    known[stmt] = rec

    # ---- Lean -------------------------------------------------------------------------------------------
    def _check_new(self, w: _Work) -> None:
        t0 = time.monotonic()
        for c in w.candidates:
            if c.elaborates or c.error:
                continue
            if c.statement is None:
                c.error = "no statement in the completion"
                continue
            try:
                form = normal_form(parse_statement(c.statement))
            except StatementError as e:
                c.error = str(e)
                continue
            v = check_statement(self.env, c.statement, flags=self.cfg.flags)
            c.elaborates, c.error, c.flags = v.elaborates, v.error, v.flags
            if form in w.example_forms:  # a small model's favourite answer: another problem's statement
                c.flags.append("copied_example")
        w.t_lean += time.monotonic() - t0

    # ---- the whole batch ----------------------------------------------------------------------------------
    def formalize(self, problems: Sequence[InformalProblem]) -> list[dict]:
        t0 = time.monotonic()
        works = [_Work(p, []) for p in problems]
        self._sample(works, [self._prompt(w) for w in works], self.cfg.k, "sample")
        for w in works:
            self._check_new(w)
        for rnd in range(1, self.cfg.repair_rounds + 1):
            todo = [w for w in works if not w.ok()]
            if not todo:
                break
            pw, pp = [], []
            for w in todo:
                failed = sorted((c for c in w.candidates if not c.elaborates),
                                key=lambda c: (-c.count, -c.logprob))[:self.cfg.repair_width]
                for c in failed:
                    attempt = c.statement or f"theorem {w.problem.name} {c.completion.splitlines()[0] if c.completion else ''}"
                    pw.append(w)
                    pp.append(self._prompt(w, attempt, c.error))
                w.repairs_used = rnd
            self._sample(pw, pp, self.cfg.repair_samples, f"repair-{rnd}")
            for w in todo:
                self._check_new(w)
        rows = [self._select(w) for w in works]
        if self.cfg.back_translate:
            self._back_translate(rows)
        if hasattr(self.env, "clear"):
            self.env.clear()  # this batch's proof states are done with; free the server's memory
        per = (time.monotonic() - t0) / max(1, len(works))
        for r in rows:
            r["seconds"]["total"] = round(per, 2)
        return rows

    def _select(self, w: _Work) -> dict:
        t0 = time.monotonic()
        p = w.problem
        usable = sorted((c for c in w.ok() if not set(c.flags) & NEVER_CHOSEN), key=lambda c: (-c.count, -c.logprob))
        stmts = [parse_statement(c.statement) for c in usable]
        groups = group_statements(self.equiv, stmts, self.cfg.max_lean_checks) if stmts else []
        for gi, g in enumerate(groups):
            for m in g.members:
                usable[m].group = gi

        def rank(g) -> tuple:
            members = [usable[m] for m in g.members]
            return (-sum(c.count for c in members), "trivial" in members[0].flags, -members[0].logprob)

        row: dict = {"name": p.name, "informal_statement": p.text, "status": "no_statement",
                     "core_statement": None, "prelude": [], "chosen": None, "reference_statement": p.reference,
                     "reference_equivalence": None, "candidates": None, "groups": None,
                     "repair_rounds_used": w.repairs_used, "examples": w.examples,
                     "samples": sum(c.count for c in w.candidates),
                     "elaborated": len(w.ok()), "vacuous": sum("vacuous" in c.flags for c in w.candidates),
                     "trivial": sum("trivial" in c.flags for c in w.candidates),
                     "copied_example": sum("copied_example" in c.flags for c in w.candidates),
                     "refuted": sum("refuted" in c.flags for c in w.candidates)}
        if groups:
            best = min(groups, key=rank)
            chosen = usable[best.rep]
            stmt = parse_statement(chosen.statement)
            row.update(status="formalized", core_statement=stmt.with_sorry,
                       prelude=prelude_names(chosen.statement),
                       chosen={"statement": chosen.statement, "group": chosen.group,
                               "group_samples": sum(usable[m].count for m in best.members),
                               "flags": chosen.flags, "origin": chosen.origin})
            if p.reference:
                try:
                    ref = parse_statement(p.reference)
                    row["reference_equivalence"] = self.equiv.equivalent(stmt, ref).to_json()
                except StatementError as e:
                    row["reference_equivalence"] = {"proven": False, "error": f"reference: {e}"}
        row["candidates"] = [asdict(c) for c in w.candidates]
        row["groups"] = [[w.candidates.index(usable[m]) for m in g.members] for g in groups]
        w.t_lean += time.monotonic() - t0
        row["seconds"] = {"model": round(w.t_model, 2), "lean": round(w.t_lean, 2)}
        return row

    def _back_translate(self, rows: list[dict]) -> None:
        """Chosen statement -> text with the same model (reversed few-shot pairs), scored by cosine similarity
        of embeddings with the problem's own text. A hint for a reader, not a proof of anything."""
        todo = [r for r in rows if r["status"] == "formalized"]
        if not todo:
            return
        prompts = []
        for r in todo:
            exs = self.index.nearest(r["informal_statement"], 2, exclude_name=r["name"])
            shots = "".join(f"Lean 4: {e.statement}\nIn words: {' '.join(e.informal.split())}\n\n" for e in exs)
            prompts.append("Explain each Lean 4 theorem in plain words.\n\n" + shots +
                           f"Lean 4: {r['chosen']['statement']}\nIn words:")
        outs = self.sampler.sample(prompts, 1, ("\n",))
        texts = [o[0].text.strip() if o else "" for o in outs]
        a = self.index.embed(texts)
        b = self.index.embed([r["informal_statement"] for r in todo])
        for r, t, sim in zip(todo, texts, np.sum(a * b, axis=1)):
            r["back_translation"] = {"text": t, "similarity": round(float(sim), 4)}


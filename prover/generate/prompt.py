"""The prompt format shared by every model generator, the trainer and the data collector.

It follows the step-prover convention (ReProver, InternLM-StepProver, BFS-Prover, Lean-GitHub):

    [GOAL]
    <pretty-printed goals, main goal first, separated by a blank line>
    [PROOFSTEP]
    <tactic>

The model sees the text up to and including "[PROOFSTEP]\n" and must continue with one tactic and then a
newline (or its end-of-sequence token). Keep this the only place the format is defined: training data is
built with `format_example`, so a model fine-tuned here generates with `format_prompt`.

Whole proofs (DeepSeek-Prover / Kimina style, `HFGenerator(whole_proof=True)`) are asked for as Lean code: the
statement up to `:= by` and a newline (`format_proof_prompt`); the model continues with the tactic block,
indented, and a line left of the block's first line ends it. `clean_proof` cuts a raw completion to that
block; `prover.lean.lexer.tactic_steps` splits it into steps.
"""
from __future__ import annotations

import re
from typing import Sequence

from ..lean.lexer import LeanLexError, tactic_steps

GOAL_TAG = "[GOAL]"
STEP_TAG = "[PROOFSTEP]"


def format_goals(goals: Sequence[str]) -> str:
    return "\n\n".join(goals) if goals else "no goals"


def format_prompt(goals: Sequence[str]) -> str:
    return f"{GOAL_TAG}\n{format_goals(goals)}\n{STEP_TAG}\n"


def format_example(goals: Sequence[str], tactic: str) -> tuple[str, str]:
    """A training pair (prompt, completion); the loss goes on the completion only."""
    return format_prompt(goals), tactic.strip() + "\n"


def clean_tactic(text: str) -> str:
    """Cut a raw completion down to one tactic.

    The tactic is the first line plus the lines indented deeper than it that follow (a tactic may continue on indented
    lines: `induction n with` cases, `·` blocks, `calc` steps). A line that starts at column 0, a blank
    line, or a tag ends it, so a rambling completion costs one tactic, not a garbled one.
    """
    for tag in (GOAL_TAG, STEP_TAG):
        i = text.find(tag)
        if i != -1:
            text = text[:i]
    lines = text.strip("\n").split("\n")
    indent = len(lines[0]) - len(lines[0].lstrip())
    kept = [lines[0][indent:]]
    for line in lines[1:]:
        if not line.strip() or len(line) - len(line.lstrip()) <= indent:
            break
        kept.append(line[indent:])
    return "\n".join(kept).strip()


# The same suffix `prover.lean.protocol.normalize_statement` strips (generators do not load the Lean client).
_SORRY_SUFFIX = re.compile(r"\s*:=\s*(by\s+)?(sorry|admit)\s*$", re.S)
FENCE = "```"


def format_proof_prompt(statement: str) -> str:
    """The whole-proof prompt: the theorem statement (without its `:= by sorry`), then `:= by` and a newline."""
    return _SORRY_SUFFIX.sub("", statement.strip()).strip() + " := by\n"


def format_proof_example(statement: str, tactics: Sequence[str]) -> tuple[str, str]:
    """A whole-proof training pair (prompt, completion): the tactics indented two spaces, as
    `prover.lean.judge.proof_text` writes them."""
    return format_proof_prompt(statement), "".join("  " + line + "\n" for tac in tactics
                                                   for line in tac.strip("\n").split("\n"))


def clean_proof(text: str) -> str:
    """Cut a raw whole-proof completion down to its tactic block: up to a tag or a code fence, and up to the
    first line (after the first) that starts left of the first line's column. Blank lines stay (the block
    may go on after one); `tactic_steps` splits what is left."""
    for tag in (GOAL_TAG, STEP_TAG, FENCE):
        i = text.find(tag)
        if i != -1:
            text = text[:i]
    lines = text.strip("\n").split("\n")
    indent = len(lines[0]) - len(lines[0].lstrip())
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def split_proof(text: str) -> list[str]:
    """A raw whole-proof completion as its steps: `clean_proof`, then the project's one Lean lexer splits the
    block (`prover.lean.lexer.tactic_steps`: `induction … with | … => …` stays one step). [] if the lexer
    cannot read it (a tab, an unterminated comment or string: Lean could not either)."""
    try:
        return [st for st in tactic_steps(clean_proof(text)) if st.strip()]
    except LeanLexError:
        return []

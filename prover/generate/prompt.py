"""The prompt format shared by every model generator, the trainer and the data collector.

It follows the step-prover convention (ReProver, InternLM-StepProver, BFS-Prover, Lean-GitHub):

    [GOAL]
    <pretty-printed goals, main goal first, separated by a blank line>
    [PROOFSTEP]
    <tactic>

The model sees the text up to and including "[PROOFSTEP]\n" and must continue with one tactic and then a
newline (or its end-of-sequence token). Keep this the only place the format is defined: training data is
built with `format_example`, so a model fine-tuned here generates with `format_prompt`.
"""
from __future__ import annotations

from typing import Sequence

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

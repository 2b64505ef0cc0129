"""Tactic generators: one interface (`base.TacticGenerator`), several backends chosen by name."""
from .base import Candidate, GeneratorStats, GoalRequest, TacticGenerator, dedupe_sorted
from .prompt import clean_tactic, format_example, format_prompt

__all__ = ["Candidate", "GeneratorStats", "GoalRequest", "TacticGenerator", "dedupe_sorted", "clean_tactic",
           "format_example", "format_prompt"]

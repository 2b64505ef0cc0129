"""Tactic generators: one interface (`base.TacticGenerator`), several backends chosen by name."""
from .base import Candidate, GeneratorStats, GoalRequest, TacticGenerator, dedupe_sorted
from .batching import BatchingGenerator
from .factory import build_generator
from .fixed import DEFAULT_TACTICS, FixedGenerator
from .mix import MixGenerator
from .openai_api import GeneratorError, OpenAIGenerator
from .prompt import clean_tactic, format_example, format_prompt

__all__ = ["Candidate", "GeneratorStats", "GoalRequest", "TacticGenerator", "dedupe_sorted", "clean_tactic",
           "format_example", "format_prompt", "BatchingGenerator", "build_generator", "DEFAULT_TACTICS",
           "FixedGenerator", "MixGenerator", "GeneratorError", "OpenAIGenerator"]

"""Test doubles: a toy proof environment, a scripted tactic generator, a character-level tokenizer.

The toy environment's goals are natural numbers written as `⊢ n`; a statement `theorem t : n` starts at n.
Tactics: `dec` (n -> n-1), `half` (n -> n/2, even n only), `split` (n -> two goals n-1 and 0, the main goal
first), `zero` (closes the goal 0), `same` (no progress), anything else is an error. `check` replays the
tactics from the statement, so it accepts exactly the scripts that really close the goal.
"""
from __future__ import annotations

from prover.generate.base import Candidate, GeneratorStats, GoalRequest
from prover.lean.protocol import (CheckResult, DeclResult, LeanError, ProofState, TacticResult,
                                  normalize_statement)


class ToyEnv:
    def __init__(self, lie_in_check: bool = False):
        self.states: list[tuple[int, ...]] = []
        self.lie_in_check = lie_in_check
        self.calls = 0
        self.checks: list[str] = []

    @staticmethod
    def _pp(goals: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(f"⊢ {g}" for g in goals)

    def _new(self, goals: tuple[int, ...]) -> ProofState:
        self.states.append(goals)
        return ProofState(len(self.states) - 1, self._pp(goals))

    def start(self, statement: str, heartbeats=None, timeout=None) -> ProofState:
        try:
            n = int(normalize_statement(statement).split(":", 1)[1].strip())
        except (IndexError, ValueError):
            raise LeanError(f"cannot parse {statement!r}") from None
        return self._new((n,))

    @staticmethod
    def step(goals: tuple[int, ...], tactic: str) -> tuple[int, ...] | None:
        g, rest = goals[0], goals[1:]
        if tactic == "dec" and g > 0:
            return (g - 1, *rest)
        if tactic == "half" and g > 0 and g % 2 == 0:
            return (g // 2, *rest)
        if tactic == "split" and g > 0:
            return (g - 1, 0, *rest)
        if tactic == "zero" and g == 0:
            return rest
        if tactic == "same":
            return goals
        return None

    def run_tac(self, state, tactic: str, heartbeats=None, timeout=None) -> TacticResult:
        self.calls += 1
        sid = state.id if isinstance(state, ProofState) else state
        goals = self.states[sid]
        new = self.step(goals, tactic.strip())
        if new is None:
            return TacticResult(None, f"tactic {tactic!r} failed")
        return TacticResult(self._new(new))

    def check(self, code: str, statement=None, name=None, **kw) -> CheckResult:
        self.checks.append(code)
        head, _, body = code.partition(":= by\n")
        goals = (int(head.split(":", 1)[1].strip()),)
        for tac in body.split("\n"):
            if tac.strip():
                new = self.step(goals, tac.strip()) if goals else None
                if new is None:
                    goals = (-1,)
                    break
                goals = new
        sound = goals == () and not self.lie_in_check
        return CheckResult(sound, (DeclResult(name or "t", sound, sound, sound, statement_matches=True),))


class ScriptedGenerator:
    """Proposes, for a goal list whose main goal is `⊢ n`, the tactics `table[n]` (or `default`); a tuple of
    tactics in the table is a path candidate (`Candidate.steps`). Every request is kept in `requests`."""

    name = "scripted"

    def __init__(self, table: dict[int, list[tuple[str, float]]] | None = None,
                 default: list[tuple[str, float]] | None = None):
        self.table = table or {}
        self.default = default or []
        self.stats = GeneratorStats()
        self.batches: list[int] = []
        self.requests: list[GoalRequest] = []

    def generate(self, requests: list[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        self.stats.calls += 1
        self.batches.append(len(requests))
        self.requests += requests
        out = []
        for r in requests:
            main = int(r.goals[0].removeprefix("⊢ ")) if r.goals else None
            cands = [Candidate(t, lp, 1) if isinstance(t, str) else Candidate(t[0], lp, len(t), steps=tuple(t[1:]))
                     for t, lp in self.table.get(main, self.default)]
            out.append(sorted(cands, key=lambda c: -c.logprob)[:num_samples])
        return out


def toy_generator(spec: str = "scripted") -> ScriptedGenerator:
    """A generator that proves every toy theorem `n` by `dec`s and `zero` (used across processes by Ray)."""
    gen = ScriptedGenerator({0: [("zero", -0.1)]}, default=[("dec", -0.2), ("bogus", -0.1)])
    gen.name = spec
    return gen


def weak_generator(spec: str = "weak") -> ScriptedGenerator:
    """Only `zero`: proves the toy theorem 0 and nothing else (a baseline to compare with)."""
    gen = ScriptedGenerator({0: [("zero", -0.1)]})
    gen.name = spec
    return gen


class GoalScriptGenerator:
    """For real Lean goals: proposes the tactics of the first rule whose text occurs in the main goal."""

    def __init__(self, rules: list[tuple[str, list[tuple[str, float]]]], name: str = "goal-script"):
        self.rules, self.name = rules, name
        self.stats = GeneratorStats()
        self.seen: list[str] = []

    def generate(self, requests: list[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        self.stats.calls += 1
        out = []
        for r in requests:
            main = r.goals[0] if r.goals else ""
            self.seen.append(main)
            tactics = next((tacs for pat, tacs in self.rules if pat in main), [])
            out.append(sorted((Candidate(t, lp, 1) for t, lp in tactics), key=lambda c: -c.logprob))
        return out


def gone(pid: int) -> bool:
    """No such process, or a zombie (dead; a container's init may not reap it at once)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def char_tokenizer(texts):
    """A character-level tokenizer (no download): every character of `texts` is a token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted({c for t in texts for c in t})
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def tiny_llama(tok, **config):
    """A randomly initialised 2-layer, 32-wide Llama for `tok`'s vocabulary (no download); `config` adds or
    overrides LlamaConfig fields. Seed torch before calling for a reproducible model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    base = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return LlamaForCausalLM(LlamaConfig(**{**base, **config}))

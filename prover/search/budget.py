"""How much search one theorem may spend. Any limit reached ends its search with status "budget"."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..lean.protocol import DEFAULT_HEARTBEATS


@dataclass(frozen=True)
class Budget:
    max_expansions: int = 32  # nodes expanded (one generator call per node, batched)
    samples_per_expansion: int = 8  # model samples per node (fixed tactics come on top)
    wall_seconds: float = 60.0  # per theorem, model and Lean together
    lean_seconds: float | None = None  # per theorem, time spent waiting for Lean (None: no separate limit)
    tactic_heartbeats: int = DEFAULT_HEARTBEATS  # Lean's maxHeartbeats (in thousands) for one tactic
    tactic_timeout: float = 30.0  # wall-clock seconds for one tactic before Lean is restarted
    max_depth: int = 24  # tactics on a path
    expand_batch: int = 1  # open nodes expanded per generator call (more = bigger model batches)
    length_alpha: float = 0.0  # priority = cum. log-prob / depth**alpha (0: ReProver, 0.5-1: BFS-Prover-like)
    closers_first: int = 0  # 1: try best_first.CLOSERS on a node before the generator; one that closes it skips it

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def parse(cls, spec: "str | dict | Budget | None", base: "Budget | None" = None) -> "Budget":
        """`"max_expansions=64,wall_seconds=120"` (or the same as a mapping, as a config file gives it) over
        `base` (or the defaults); unknown keys are an error."""
        from ..config import parse_kv

        if isinstance(spec, Budget):
            return spec
        values = (base or cls()).to_dict()
        known = {f.name for f in fields(cls)}
        if isinstance(spec, dict):
            items = {str(k): str(v) for k, v in spec.items()}
        else:
            items = {}
            for part in (spec or "").split(","):
                try:
                    items.update(parse_kv([part], what="budget", convert=str))
                except ValueError:
                    raise ValueError(f"bad budget item {part!r}: expected key=value with key in {sorted(known)}") \
                        from None
        for key, val in items.items():
            if key not in known:
                raise ValueError(f"bad budget item {key + '=' + val!r}: expected key=value with key in {sorted(known)}")
            cur = values[key]
            try:
                if val.strip().lower() == "none":
                    values[key] = None
                elif isinstance(cur, int) and not isinstance(cur, bool) and key != "lean_seconds":
                    values[key] = int(val)
                else:
                    values[key] = float(val)
            except ValueError:
                raise ValueError(f"bad value in budget item {key + '=' + val!r}") from None
        return cls(**values)

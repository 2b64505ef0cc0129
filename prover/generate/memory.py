"""A retrieval learner (Tactician-style): propose the tactics that worked on the most similar known goals.

Memory is a list of (state, tactic) pairs: proofs the project verified (`prover.train.collect` replays them
into steps) and traced corpora. A query goal and every stored goal become bags of tokens in which the names
of locals are replaced by their role (`V:Nat` for a variable of type Nat, hypothesis names dropped), so a
goal that differs only in its names looks the same. Similarity is the cosine of TF-IDF vectors (an inverted
index: cheap for 10^5 pairs); a candidate's logprob is log(similarity). Before proposing a stored tactic,
the names of the stored goal's locals in it are rewritten to the current goal's locals with the most similar
types (`adapt_tactic`).

It also keeps whole verified proofs (`Proof`: the tactics of a proof, in order, keyed by its root goal) in an
index of their own. At a root request (`GoalRequest.history` empty) it proposes the proofs of the most similar
stored roots as path candidates (`Candidate.steps`, source "memory-proof"), scored by the same similarity; the
stored root's local names are mapped to the current root's once (`name_mapping`) and that one mapping is
applied to every step, so a hypothesis keeps one name through the whole proof.

Learning is appending pairs (`add`) and proofs (`add_proofs`) and saving them (`save`): seconds, no gradient.
Files read by `load_pairs` / `load_whole_proofs` (both read every format; `load_memory` reads a file once for both):
- JSONL rows `{"state_before": str | [str], "tactic": str}` (a traced corpus, e.g. `data/traced/*.jsonl`;
  a string state holds the goals separated by blank lines): pairs only;
- JSONL rows of `collect.save`'s `proofs.jsonl` (`{"tactics": [...], "steps": [{"state_before": [...],
  "tactic": ...}]}`): a pair per step, and the proof (its `tactics`, the top-level steps; the root is the first
  step's state);
- LeanDojo-style JSON (`[{"traced_tactics": [{"state_before", "tactic", "pos", "end_pos"}]}]`, as
  `collect.save` writes): a pair per traced tactic, and the proof of its top-level tactics (those not inside
  an earlier one's span);
- JSONL rows `{"root": str, "tactics": [str]}` (proofs as `save` writes them);
- a folder: every `*.jsonl` / `*.json` below it.
Invariant of `generate`: at most `num_samples` distinct candidates (paths) per request, best similarity first,
logprob <= 0.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..io import read_jsonl, write_jsonl
from .base import Candidate, GeneratorStats, GoalRequest, dedupe_sorted
from .goals import IDENT, Goal, parse_goal

ROOT = Path(__file__).resolve().parents[2]
TRACED = ROOT / "data" / "traced"  # the tracer's output (JSONL of {state_before, tactic}); `memory=traced`
_TOKEN = re.compile(rf"{IDENT}|\d+|[^\s\w]")
_IDENT_ONLY = re.compile(rf"^{IDENT}$")
MIN_SIMILARITY = 0.05  # below this a stored goal is not a neighbour


class MemoryError_(ValueError):
    """A memory file that cannot be read: names the file and the problem."""


@dataclass(frozen=True)
class Pair:
    state: str  # the main goal (pretty-printed) the tactic was applied to
    tactic: str
    source: str = ""


@dataclass(frozen=True)
class Proof:
    root: str  # the main goal (pretty-printed) of the theorem, before the first tactic
    tactics: tuple[str, ...]  # the proof's top-level tactics, in order
    source: str = ""


def _roles(goal: Goal) -> dict[str, str]:
    """Every local's replacement token: `V:<type>` for data, `H` for a hypothesis (a proof of a Prop)."""
    roles: dict[str, str] = {}
    for name, typ in goal.named():
        t = " ".join(typ.split())
        roles[name] = "H" if re.search(r"[=<>≤≥∣∧∨¬↔∀∃≠∈]", t) or t == "True" or t == "False" else f"V:{t}"
    return roles


def tokens(text: str, roles: dict[str, str]) -> list[str]:
    out = []
    for tok in _TOKEN.findall(text):
        if tok in roles:
            out.append(roles[tok])
        elif tok.isdigit():
            out += ["NUM", tok]  # different numerals still share the class token
        else:
            out.append(tok)
    return out


def goal_features(state: str) -> tuple[Goal, list[str]]:
    """The parsed goal and its name-free tokens: the target's (marked `⊢`) and the hypothesis types'."""
    goal = parse_goal(state)
    roles = _roles(goal)
    feats = ["⊢" + t for t in tokens(goal.target, roles)]
    for _, typ in goal.named():
        feats += tokens(typ, roles)
    return goal, feats


def name_mapping(text: str, stored: Goal, current: Goal) -> dict[str, str]:
    """For each local of the stored goal that `text` uses, the current goal's local of the most similar type
    (same role first, then type-token overlap, then position); each current local is used once. Names with no
    counterpart are left out."""
    s_named, c_named = stored.named(), current.named()
    s_roles, c_roles = _roles(stored), _roles(current)
    used = {n.split(".")[0] for n in _TOKEN.findall(text) if n.split(".")[0] in dict(s_named)}
    mapping: dict[str, str] = {}
    if not used:
        return mapping
    taken: set[str] = set()
    c_index = {n: i for i, (n, _) in enumerate(c_named)}
    for i, (sname, stype) in enumerate(s_named):
        if sname not in used:
            continue
        st = Counter(tokens(stype, s_roles))
        best, best_key = None, None
        for cname, ctype in c_named:
            if cname in taken or (s_roles[sname] == "H") != (c_roles[cname] == "H"):
                continue
            ct = Counter(tokens(ctype, c_roles))
            overlap = sum((st & ct).values()) / max(1, sum((st | ct).values()))
            key = (s_roles[sname] == c_roles[cname], overlap, -abs(c_index[cname] - i))
            if best_key is None or key > best_key:
                best, best_key = cname, key
        if best is not None:
            mapping[sname] = best
            taken.add(best)
    return mapping


def rename_locals(tactic: str, mapping: dict[str, str]) -> str:
    """`tactic` with every identifier in `mapping` (also as the head of a projection: `h.symm`, `h.1`) renamed."""
    if not mapping:
        return tactic

    def rename(tok: str) -> str:
        head, dot, rest = tok.partition(".")  # `h.symm`, `h.1`: a local with a projection
        return mapping.get(tok) or (mapping[head] + dot + rest if head in mapping else tok)

    return "".join(rename(m.group(0)) if _IDENT_ONLY.match(m.group(0)) else m.group(0)
                   for m in re.finditer(rf"{IDENT}(?:\.\d+)*|[\s\S]", tactic))


def adapt_tactic(tactic: str, stored: Goal, current: Goal) -> str:
    """`tactic` with the stored goal's local names replaced by the current goal's locals of the most similar
    type (same role first, then type-token overlap, then position). Names with no counterpart stay."""
    return rename_locals(tactic, name_mapping(tactic, stored, current))


def _main_goal(state: str | Sequence[str]) -> str:
    if isinstance(state, str):
        return state.split("\n\n")[0]  # goals are separated by a blank line
    return state[0] if state else ""


def _pairs_from_obj(obj: dict, source: str) -> Iterable[Pair]:
    if "tactic" in obj and "state_before" in obj:
        yield Pair(_main_goal(obj["state_before"]), str(obj["tactic"]), source)
        return
    for key in ("steps", "traced_tactics"):
        for st in obj.get(key) or ():
            yield Pair(_main_goal(st["state_before"]), str(st["tactic"]), source)


def _top_level(steps: Sequence[dict]) -> list[dict]:
    """The steps not inside an earlier step's span (`pos`..`end_pos`, as the tracer writes them): a traced
    proof lists the tactics nested in `·`, `case`, `induction … with` after the one holding them."""
    out: list[dict] = []
    for st in steps:
        pos = tuple(st.get("pos") or (0, 0))
        if not any(tuple(o.get("pos") or (0, 0)) <= pos < tuple(o.get("end_pos") or (0, 0)) for o in out):
            out.append(st)
    return out


def _proofs_from_obj(obj: dict, source: str) -> Iterable[Proof]:
    if "root" in obj and "tactics" in obj:
        yield Proof(_main_goal(obj["root"]), tuple(str(t) for t in obj["tactics"]), source)
        return
    for key in ("steps", "traced_tactics"):
        steps = obj.get(key) or ()
        if not steps:
            continue
        tactics = obj.get("tactics") if key == "steps" else None
        if not (isinstance(tactics, list) and tactics and all(isinstance(t, str) for t in tactics)):
            tactics = [st["tactic"] for st in _top_level(steps)]
        yield Proof(_main_goal(steps[0]["state_before"]), tuple(str(t) for t in tactics), source)
        return


def traced_pairs(path: str | Path = TRACED) -> list[Pair]:
    """The traced corpora's pairs (`data/traced/` by default); none if the tracer has not written them."""
    return load_pairs(path) if Path(path).exists() else []


def memory_path(spec: str | Path) -> Path:
    """The file or folder a memory spec names: the name "traced" stands for `data/traced/` (TRACED)."""
    return TRACED if str(spec).strip() == "traced" else Path(str(spec).strip())


def load_memory(path: str | Path) -> tuple[list[Pair], list[Proof]]:
    """Every (state, tactic) pair and every whole proof in a file or folder (formats in the module docstring);
    the name "traced" stands for `data/traced/` (see `traced_pairs`)."""
    if str(path) == "traced" and not TRACED.exists():
        return [], []
    path = memory_path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file())
        both = [load_memory(f) for f in files]
        return [pr for ps, _ in both for pr in ps], [pf for _, pfs in both for pf in pfs]
    if not path.is_file():
        raise MemoryError_(f"memory file not found: {path}")
    pairs: list[Pair] = []
    proofs: list[Proof] = []
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            objs: Iterable[dict] = data if isinstance(data, list) else [data]
        else:
            objs = (row for _, row in read_jsonl(path, MemoryError_))
        for obj in objs:
            pairs += _pairs_from_obj(obj, path.name)
            proofs += _proofs_from_obj(obj, path.name)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise MemoryError_(f"{path}: not a memory file ({type(e).__name__}: {e})") from None
    return ([p for p in pairs if p.state.strip() and p.tactic.strip() and "sorry" not in p.tactic],
            [p for p in proofs if p.root.strip() and p.tactics and all(t.strip() and "sorry" not in t
                                                                        for t in p.tactics)])


def load_pairs(path: str | Path) -> list[Pair]:
    """Every (state, tactic) pair in a file or folder (formats in the module docstring); the name "traced"
    stands for `data/traced/` (see `traced_pairs`)."""
    return load_memory(path)[0]


def load_whole_proofs(path: str | Path) -> list[Proof]:
    """Every whole proof in a file or folder (formats in the module docstring)."""
    return load_memory(path)[1]


class _Index:
    """TF-IDF vectors of name-free goal tokens, with an inverted index: the nearest stored goals to a query."""

    def __init__(self) -> None:
        self.goals: list[Goal] = []
        self._tf: list[Counter] = []
        self._df: Counter = Counter()
        self._index: dict[str, list[int]] = defaultdict(list)
        self._norms: list[float] | None = None

    def __len__(self) -> int:
        return len(self.goals)

    def add(self, state: str) -> None:
        goal, feats = goal_features(state)
        i = len(self.goals)
        self.goals.append(goal)
        tf = Counter(feats)
        self._tf.append(tf)
        for t in tf:
            self._df[t] += 1
            self._index[t].append(i)
        self._norms = None

    def _idf(self, t: str) -> float:
        return math.log((1 + len(self.goals)) / (1 + self._df.get(t, 0))) + 1.0

    def _norm(self, i: int) -> float:
        if self._norms is None or len(self._norms) != len(self.goals):
            self._norms = [math.sqrt(sum((c * self._idf(t)) ** 2 for t, c in tf.items())) or 1.0
                           for tf in self._tf]
        return self._norms[i]

    def neighbours(self, state: str, k: int) -> list[tuple[float, int]]:
        """(cosine similarity, index) of the `k` most similar stored goals, best first."""
        if not self.goals:
            return []
        _, feats = goal_features(state)
        q = Counter(feats)
        qw = {t: c * self._idf(t) for t, c in q.items() if t in self._df}
        qn = math.sqrt(sum((c * self._idf(t)) ** 2 for t, c in q.items())) or 1.0
        dots: dict[int, float] = defaultdict(float)
        for t, w in qw.items():
            idf = self._idf(t)
            for i in self._index[t]:
                dots[i] += w * self._tf[i][t] * idf
        scored = sorted(((d / (qn * self._norm(i)), i) for i, d in dots.items()), key=lambda x: (-x[0], x[1]))
        return [(min(1.0, s), i) for s, i in scored[:k] if s >= MIN_SIMILARITY]


class MemoryGenerator:
    """Nearest stored goals by TF-IDF cosine over name-free goal tokens; their tactics, adapted; at the root,
    also the proofs of the nearest stored roots, as paths."""

    def __init__(self, pairs: Iterable[Pair] = (), k: int = 8, name: str = "memory", proofs: Iterable[Proof] = ()):
        self.name, self.k = name, k
        self.stats = GeneratorStats()
        self.pairs: list[Pair] = []
        self.proofs: list[Proof] = []
        self._pair_index = _Index()
        self._proof_index = _Index()
        self._seen: set[tuple[str, str]] = set()
        self._seen_proofs: set[tuple[str, ...]] = set()
        self.add(pairs)
        self.add_proofs(proofs)

    @classmethod
    def from_path(cls, path: str | Path | Sequence[str | Path] | None, k: int = 8) -> "MemoryGenerator":
        """A memory over the pairs and proofs of `path` (a file, a folder, several joined by ","; None: empty)."""
        paths = [] if path is None else [p for p in str(path).split(",") if p.strip()] \
            if isinstance(path, (str, Path)) else list(path)
        loaded = [load_memory(p) for p in paths]
        return cls([pr for ps, _ in loaded for pr in ps], k=k, proofs=[pf for _, pfs in loaded for pf in pfs])

    def __len__(self) -> int:
        return len(self.pairs)

    def add(self, pairs: Iterable[Pair]) -> int:
        """Learn: index the new (state, tactic) pairs (exact duplicates are skipped); returns how many."""
        n = 0
        for p in pairs:
            key = (" ".join(p.state.split()), " ".join(p.tactic.split()))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.pairs.append(p)
            self._pair_index.add(p.state)
            n += 1
        return n

    def add_proofs(self, proofs: Iterable[Proof]) -> int:
        """Learn whole proofs, indexed by their root goal (exact duplicates are skipped); returns how many."""
        n = 0
        for p in proofs:
            key = (" ".join(p.root.split()), *(" ".join(t.split()) for t in p.tactics))
            if key in self._seen_proofs or not p.tactics:
                continue
            self._seen_proofs.add(key)
            self.proofs.append(p)
            self._proof_index.add(p.root)
            n += 1
        return n

    def save(self, path: str | Path) -> None:
        """The pairs as JSONL (`{"state_before", "tactic", "source"}`), then the proofs (`{"root", "tactics",
        "source"}`), which `load_memory` reads back."""
        write_jsonl(path, [*({"state_before": p.state, "tactic": p.tactic, "source": p.source} for p in self.pairs),
                           *({"root": p.root, "tactics": list(p.tactics), "source": p.source} for p in self.proofs)])

    def neighbours(self, state: str, k: int | None = None) -> list[tuple[float, int]]:
        """(cosine similarity, pair index) of the `k` most similar stored goals, best first."""
        return self._pair_index.neighbours(state, k or self.k)

    def propose(self, goals: Sequence[str], n: int, root: bool = False) -> list[Candidate]:
        """Adapted tactics of the nearest stored goals; with `root`, also the adapted proofs of the nearest
        stored roots (one name mapping per proof, applied to every step)."""
        if not goals:
            return []
        current = parse_goal(goals[0])
        cands = []
        for sim, i in self.neighbours(goals[0], max(self.k, n)):
            tac = adapt_tactic(self.pairs[i].tactic, self._pair_index.goals[i], current)
            cands.append(Candidate(tactic=tac, logprob=math.log(max(sim, 1e-6)), n_tokens=0, source="memory"))
        if root:
            for sim, j in self._proof_index.neighbours(goals[0], max(self.k, n)):
                proof = self.proofs[j]
                mapping = name_mapping("\n".join(proof.tactics), self._proof_index.goals[j], current)
                steps = [rename_locals(t, mapping) for t in proof.tactics]
                cands.append(Candidate(tactic=steps[0], logprob=math.log(max(sim, 1e-6)), n_tokens=0,
                                       source="memory-proof", steps=tuple(steps[1:])))
        return dedupe_sorted(cands, n)

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        out = [self.propose(r.goals, num_samples, root=not r.history) for r in requests]
        self.stats.record_call(out, time.perf_counter() - t0)
        return out

    def __repr__(self) -> str:
        return f"MemoryGenerator({len(self.pairs)} pairs, {len(self.proofs)} proofs, k={self.k}, name={self.name!r})"

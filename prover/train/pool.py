"""The training pool of expert iteration, made bigger: the shipped pool plus theorem statements of the traced
corpora (data/traced/<corpus>/declarations.jsonl) that stand alone as core-Lean problems.

`scripts/build_pool.py` (`make pool`) runs `build_pool`; the pieces here are pure text functions (tested without
Lean) and one Lean-backed check, passed in as a callable so tests can fake it.

A traced declaration becomes a pool row only if, in this order (the first failing rule is its refusal reason):
- it is a `theorem`/`lemma`/`example` with a statement, and its corpus's own proof was sound on our Lean (so every
  new row has a known proof: no false or unfinished statements, no `sorry` proofs);
- its text is a plain signature (`clean_statement`): no `unsafe`, no explicit universe parameters, no proof term
  inside the type (the tracer cuts the statement at the first `by`, which leaves `(by` fragments unbalanced), no
  `sorry`, no name of the miniF2F prelude (the row would need it);
- Lean elaborates it alone, in the server's base environment (`import Lean`, `autoImplicit false`), through the
  untrusted filter of `start` (no file-local definitions, `variable`s or `open`s survive this), and its type is a
  proposition (`as_proposition`: books have `example : Nat := by ...`);
- its name is not a miniF2F name, nor a valid-split problem's (`minif2f_like`, `competition_key`), and its
  statement is none of the valid split's (`statement_key`, and Lean's goal after `intros`, `goal_key`);
- it is not a duplicate (same keys) of an earlier row: the shipped pool first, then the corpora in name order.

The same valid-split rules apply to the shipped pool's rows (it once held imo_1964_p1_2 as `cf_imo1964_p1b`).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..generate.goals import fresh_name
from ..io import read_jsonl_rows

# Identifier characters for renaming binders: letters, digits (subscripts are \w), _, ', and Lean's ✝.
_ID = r"[\w'✝]"
_IDENT = re.compile(rf"(?<![\w'✝.]){_ID}+(?!{_ID})")
OPEN, CLOSE = "([{⦃⟨", ")]}⦄⟩"
_REPLACE = [("ℕ", "Nat"), ("ℤ", "Int"), ("ℚ", "Rat"), ("ℝ", "Real"), ("<->", "↔"), ("->", "→"), ("λ", "fun"),
            ("=>", "↦"), ("!=", "≠"), (">=", "≥"), ("<=", "≤"), ("Π", "∀")]
_KEYWORDS = {"fun", "let", "have", "show", "from", "if", "then", "else", "match", "with", "Type", "Prop", "Sort"}

# miniF2F's own naming scheme (both splits): mathd_algebra_48, amc12a_2019_p21, aime_1983_p1, aimeI_2000_p7,
# imo_1964_p1_2, imosl_2007_p6, algebra_2rootsint..., numbertheory_..., induction_... . A row whose name (or its
# source's name) follows it is skipped: the test split is not shipped, so names are the only guard there.
MINIF2F_NAME = re.compile(r"(?:^|_)(mathd_(?:algebra|numbertheory)_\d+|(?:amc12[ab]?|amc10[ab]?|aime(?:I|II)?|imo)_"
                          r"\d{4}_p\d+|imosl_\d{4}_|(?:algebra|numbertheory|induction)_[a-z0-9]+)")
# A competition problem in any spelling: imo_1964_p1_2, cf_imo1964_p1b, aimeII_2001_p3, fm_aime_all_2001_I_1.
_COMPETITION = re.compile(r"(?:^|_)(imo|usamo|amc12[ab]?|amc10[ab]?|aime(?:i{1,2}|_all)?)_?(\d{4})_?(i{1,2})?_?p?(\d+)",
                          re.IGNORECASE)


def competition_key(name: str) -> tuple[str, int, int] | None:
    """(contest, year, problem) a name denotes, e.g. `cf_imo1964_p1b` and `imo_1964_p1_2` -> ("imo", 1964, 1);
    AIME I/II and AMC 12A/B stay apart. None for names that name no contest problem."""
    m = _COMPETITION.search(name)
    if not m:
        return None
    contest, year, part, num = m.group(1).lower(), int(m.group(2)), (m.group(3) or "").lower(), int(m.group(4))
    if contest.startswith("aime"):
        contest = "aime" + (part or contest[4:].replace("_all", ""))
    return contest, year, num


def minif2f_like(*names: str | None) -> bool:
    return any(n and MINIF2F_NAME.search(n) for n in names)


def strip_comments(text: str) -> str:
    """Drop `/- ... -/` (nested, docstrings too) and `-- ...` comments."""
    out, i, depth = [], 0, 0
    while i < len(text):
        if text.startswith("/-", i):
            depth, i = depth + 1, i + 2
        elif depth and text.startswith("-/", i):
            depth, i = depth - 1, i + 2
        elif depth:
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _match_close(text: str, i: int) -> int:
    """Index just past the bracket that closes the one at `i`, or -1 if unbalanced."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] in OPEN:
            depth += 1
        elif text[j] in CLOSE:
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


def balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += c in OPEN
        depth -= c in CLOSE
        if depth < 0:
            return False
    return depth == 0


def _top_level(text: str, pattern: str) -> int:
    """Index of the first match of `pattern` outside brackets, or -1."""
    depth = 0
    rx = re.compile(pattern)
    for j, c in enumerate(text):
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
        elif depth == 0 and rx.match(text, j):
            return j
    return -1


class Refused(ValueError):
    """A statement that cannot be a standalone pool problem; `reason` is the summary's bucket."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def clean_statement(text: str, prelude_names: Iterable[str] = ()) -> str:
    """The signature (`binders : type`) of a traced theorem/example statement; raises `Refused`."""
    t = strip_comments(text).strip()
    while t.startswith("@["):
        end = _match_close(t, 1)
        if end < 0:
            raise Refused("unbalanced attribute")
        t = t[end:].strip()
    while True:
        m = re.match(r"(private|protected|noncomputable|nonrec|partial|unsafe)\b\s*", t)
        if not m:
            break
        if m.group(1) == "unsafe":
            raise Refused("unsafe")
        t = t[m.end():]
    m = re.match(r"(theorem|lemma)\s+(\S+)\s*|example\b\s*", t)
    if not m:
        raise Refused("not a theorem or example")
    if m.group(2) and ".{" in m.group(2):
        raise Refused("explicit universe parameters")
    sig = t[m.end():]
    arms = _top_level(sig, r"\n\s*\|")  # equation-compiler arms after the type: the type is the statement
    if arms >= 0:
        sig = sig[:arms]
    sig = sig.strip()
    if not balanced(sig):
        raise Refused("proof term inside the statement", "unbalanced brackets (cut at an inner `by`)")
    if _top_level(sig, r":=") >= 0 or re.search(r"\bby\s*$", sig):
        raise Refused("proof term inside the statement")
    if re.search(r"(?<![\w.])(sorry|admit)(?![\w'])", sig):
        raise Refused("sorry in the statement")
    if _top_level(sig, r":") < 0:
        raise Refused("no type")
    for n in prelude_names:
        if re.search(rf"(?<![\w.']){re.escape(n)}(?![\w'])", sig) or (
                "." in n and re.search(rf"\.{re.escape(n.split('.')[-1])}\b", sig)):
            raise Refused("needs the miniF2F prelude", n)
    return sig


def signature_of(statement: str) -> str:
    """`theorem NAME sig := by sorry` (or `example sig`) -> `sig`; for the keys of already clean rows."""
    t = re.sub(r":=\s*by\s+sorry\s*$|:=\s*sorry\s*$", "", strip_comments(statement).strip()).strip()
    m = re.match(r"(?:theorem|lemma)\s+\S+\s*|example\b\s*", t)
    return t[m.end():].strip() if m else t


def as_proposition(signature: str) -> str:
    """`(x : Nat) {y : Nat} : T` -> `(∀ (x : Nat) {y : Nat}, T : Prop)`: a term that elaborates only if the
    statement is a proposition (`start` elaborates any type; `theorem` with a non-Prop type fails later)."""
    colon = _top_level(signature, r":(?!=)")
    binders, ty = signature[:colon].strip(), signature[colon + 1:].strip()
    return f"(∀ {binders}, {ty} : Prop)" if binders else f"({ty} : Prop)"


def _bound_names(text: str) -> list[str]:
    """Binder names in order of appearance: the leading binder groups `(x y : T) {α} [inst : C α]` and the
    binders of ∀/∃/fun (`∀ x y : T,`, `∀ (x : T) (y : U),`, `fun x ↦`)."""
    names: list[str] = []

    def group_names(g: str) -> None:
        head = g.split(":", 1)[0] if ":" in g else g
        names.extend(x for x in _IDENT.findall(head) if x not in _KEYWORDS and x != "_")

    # leading groups
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] in "([{⦃":
            end = _match_close(text, i)
            if end < 0:
                break
            inner = text[i + 1:end - 1]
            if text[i] != "[" or ":" in inner:
                group_names(inner)
            i = end
        else:
            break
    # quantifiers
    for m in re.finditer(r"(∀|∃!|∃|fun|Σ|∑)\s*", text):
        rest = text[m.end():]
        j = 0
        while j < len(rest) and rest[j] in "([{⦃":
            end = _match_close(rest, j)
            if end < 0:
                break
            group_names(rest[j + 1:end - 1])
            j = end
            while j < len(rest) and rest[j].isspace():
                j += 1
        if j == 0:
            stop = re.search(r",|↦|=>", rest)
            group_names(rest[:stop.start()] if stop else "")
    return names


def _squash(text: str) -> str:
    for a, b in _REPLACE:
        text = text.replace(a, b)
    text = re.sub(r"\s+", " ", text).strip()
    # spaces matter only between two identifier characters
    return re.sub(rf"(?<!{_ID}) | (?!{_ID})", "", text)


def _rename(text: str, names: Sequence[str]) -> str:
    order: dict[str, str] = {}
    for n in names:
        order.setdefault(n, f"_v{len(order)}")
    return _IDENT.sub(lambda m: order.get(m.group(0), m.group(0)), text)


def statement_key(signature: str) -> str:
    """A key equal for signatures that differ only in whitespace, binder names, comments and ASCII/Unicode
    spellings (`->`/`→`, `ℕ`/`Nat`, `λ`/`fun`, `=>`/`↦`)."""
    sig = strip_comments(signature)
    for a, b in _REPLACE:
        sig = sig.replace(a, b)
    return _squash(_rename(sig, _bound_names(sig)))


def goal_key(goal: str) -> str:
    """A key of Lean's pretty-printed goal (`x y : Int\\nh : P x\\n⊢ Q`) after `intros`: hypothesis and bound
    names renamed in order, whitespace squashed. Equal for statements that differ in binder names, parentheses,
    notation Lean prints the same, and binders written before or after the colon."""
    hyps: list[str] = []
    for line in goal.splitlines():
        m = re.match(rf"({_ID}+(?: {_ID}+)*) : ", line)
        if m:
            hyps.extend(m.group(1).split())
    return _squash(_rename(goal, hyps + _bound_names(goal)))


# ---------------------------------------------------------------------------------------------- the builder

@dataclass
class Verdict:
    """What Lean said about one statement: `goal` (after `intros`) if it elaborates, else `error`."""

    goal: str | None = None
    error: str | None = None


def lean_reason(error: str) -> str:
    """The summary bucket of a Lean refusal."""
    e = error.lower()
    if e.startswith("not a proposition"):
        return "Lean: not a proposition"
    if "not allowed in untrusted input" in e:
        return "Lean: untrusted construct"
    if "unknown identifier" in e or "unknown constant" in e or "unknown namespace" in e:
        return "Lean: unknown name (file-local or not in core)"
    if "universe" in e:
        return "Lean: universe variables"
    if e.startswith("parse error") or "unexpected token" in e:
        return "Lean: parse error"
    if "failed to synthesize" in e:
        return "Lean: missing instance"
    if "unresolved placeholders" in e or "don't know how to synthesize" in e:
        return "Lean: unresolved placeholders"
    if e.startswith("no verdict"):
        return "Lean: no verdict (Lean failed)"
    return "Lean: elaboration error"


@dataclass
class Candidate:
    name: str
    signature: str
    row: dict


@dataclass
class Summary:
    per_corpus: dict[str, Counter] = field(default_factory=dict)  # corpus -> {"declarations", "kept", ...}
    refused: dict[str, Counter] = field(default_factory=dict)  # corpus -> reason -> count
    shipped_kept: int = 0
    shipped_refused: Counter = field(default_factory=Counter)
    refusals: list[dict] = field(default_factory=list)  # one per refused declaration: corpus, name, reason, error

    def refuse(self, corpus: str, reason: str, name: str | None = None, error: str | None = None) -> None:
        self.refused.setdefault(corpus, Counter())[reason] += 1
        self.refusals.append({"corpus": corpus, "name": name, "reason": reason, "error": error})

    def to_json(self) -> dict:
        return {"shipped_kept": self.shipped_kept, "shipped_refused": dict(self.shipped_refused),
                "per_corpus": {c: dict(v) for c, v in sorted(self.per_corpus.items())},
                "refused": {c: dict(v.most_common()) for c, v in sorted(self.refused.items())}}


CORPUS_PREFIX = {"fp-lean": "fpl", "human-eval-lean-HEAD": "hel", "human-eval-lean-ecd6bad": "hel",
                 "lean-reference-manual": "lrm", "lean4-metaprogramming-book": "mpb",
                 "software-foundations-lean4": "sfl", "theorem_proving_in_lean4": "tpil", "verina": "ver"}
CORPORA_ROOT = "/work/shared/corpora/"


def _ascii_name(s: str) -> str:
    s = s.translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", s)).strip("_")


def traced_name(corpus: str, decl: dict) -> str:
    """`tr_<corpus>_<file>_<name>`, ASCII; examples are named by their line."""
    path = str(decl.get("file_path") or "")
    stem = Path(path.split("#")[-1].split(":")[0]).stem
    block = path.rsplit(":", 1)[-1] if "#" in path and ":" in path.split("#")[-1] else ""
    full = decl.get("full_name") or decl.get("name") or ""
    base = f"L{decl.get('line')}" if decl.get("kind") == "example" or full.startswith("_example") else full
    parts = [CORPUS_PREFIX.get(corpus, _ascii_name(corpus)), stem, block, base]
    return "tr_" + _ascii_name("_".join(p for p in parts if p))


def licence_short(licence: str) -> str:
    return licence.split(" ", 1)[0].rstrip(".,;") if licence else "unknown"


def traced_candidates(corpus: str, decls: Iterable[dict], meta: dict, summary: Summary,
                      prelude_names: Sequence[str] = ()) -> list[Candidate]:
    """The declarations of one corpus that pass the text rules, as pool rows (not yet checked by Lean)."""
    out: list[Candidate] = []
    counts = summary.per_corpus.setdefault(corpus, Counter())
    for d in decls:
        if d.get("kind") not in ("theorem", "example", "lemma") or not d.get("statement"):
            continue
        counts["theorems"] += 1
        if not (d.get("ok") and d.get("sound")):
            summary.refuse(corpus, f"corpus proof not sound on our Lean ({d.get('reason') or 'unsound'})",
                           d.get("full_name"))
            continue
        try:
            sig = clean_statement(d["statement"], prelude_names)
        except Refused as e:
            summary.refuse(corpus, e.reason, d.get("full_name"), str(e))
            continue
        name = traced_name(corpus, d)
        path = str(d.get("file_path") or "")
        row = {"name": name, "source": corpus, "license": licence_short(meta.get("licence", "")),
               "informal_statement": None, "formal_statement_original": d["statement"],
               "core_statement": f"theorem {name} {sig} := by sorry", "prelude": [], "typechecked": True,
               "provenance": {"repo": meta.get("url"), "commit": meta.get("commit"),
                              "path": path[len(CORPORA_ROOT):] if path.startswith(CORPORA_ROOT) else path,
                              "line": d.get("line"), "source_name": d.get("full_name") or d.get("name"),
                              "corpus": corpus, "licence": meta.get("licence")},
               "source_meta": {"kind": d.get("kind"), "corpus_proof_tactics": d.get("num_tactics")}}
        out.append(Candidate(name, sig, row))
    return out


def _rename_decl(sig: str, name: str) -> str:
    return f"theorem {name} {sig}"


@dataclass
class Exclusions:
    """What the pool must never contain: the valid split's names, contest keys, statement keys, goal keys."""

    names: set[str] = field(default_factory=set)
    contests: set[tuple] = field(default_factory=set)
    statements: set[str] = field(default_factory=set)
    goals: set[str] = field(default_factory=set)

    @classmethod
    def from_rows(cls, rows: Iterable[dict], verdict: Callable[[str], Verdict] | None = None) -> "Exclusions":
        ex = cls()
        for r in rows:
            ex.names.add(r["name"])
            if (k := competition_key(r["name"])) is not None:
                ex.contests.add(k)
            stmt = r.get("core_statement") or r.get("statement") or r.get("formal_statement")
            if stmt:
                ex.statements.add(statement_key(signature_of(stmt)))
                if verdict is not None:
                    v = verdict(_rename_decl(signature_of(stmt), "_pool_valid"))
                    if v.goal is not None:
                        ex.goals.add(goal_key(v.goal))
        return ex

    def why(self, names: Sequence[str | None], skey: str, gkey: str | None) -> str | None:
        """The reason a row is excluded, or None."""
        ns = [n for n in names if n]
        if any(n in self.names for n in ns):
            return "valid split: same name"
        if any(competition_key(n) in self.contests for n in ns if competition_key(n)):
            return "valid split: same contest problem"
        if skey in self.statements or (gkey is not None and gkey in self.goals):
            return "valid split: same statement"
        if minif2f_like(*ns):
            return "miniF2F-like name"
        return None


@dataclass
class Seen:
    """Statement and goal keys already in the pool (dedupe; the first row wins)."""

    statements: set[str] = field(default_factory=set)
    goals: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    def duplicate(self, skey: str, gkey: str | None) -> bool:
        return skey in self.statements or (gkey is not None and gkey in self.goals)

    def add(self, name: str, skey: str, gkey: str | None) -> None:
        self.names.add(name)
        self.statements.add(skey)
        if gkey is not None:
            self.goals.add(gkey)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, ...: a theorem name no kept row has."""
    return fresh_name(name, taken, first=2)


def build_pool(shipped: Sequence[dict], corpora: Sequence[tuple[str, list[dict], dict]], valid: Sequence[dict],
               verdict: Callable[[str], Verdict], prelude_names: Sequence[str] = (),
               summary: Summary | None = None) -> tuple[list[dict], Summary]:
    """The pool: `shipped` rows (kept unless they hit the valid-split rules), then each corpus's new rows.
    `corpora`: (corpus name, its declarations, its corpus.json); `verdict(statement)` asks Lean."""
    summary = summary or Summary()
    ex = Exclusions.from_rows(valid, verdict)
    seen = Seen()
    rows: list[dict] = []
    for r in shipped:
        sig = signature_of(r["core_statement"])
        v = verdict(_rename_decl(sig, "_pool_shipped"))
        skey, gkey = statement_key(sig), (goal_key(v.goal) if v.goal is not None else None)
        src = (r.get("provenance") or {}).get("source_name")
        why = ex.why([r["name"], src], skey, gkey)
        if why is None and seen.duplicate(skey, gkey):
            why = "duplicate statement"
        if why:
            summary.shipped_refused[why] += 1
            continue
        seen.add(r["name"], skey, gkey)
        rows.append(r)
    summary.shipped_kept = len(rows)
    for corpus, decls, meta in corpora:
        counts = summary.per_corpus.setdefault(corpus, Counter())
        for c in traced_candidates(corpus, decls, meta, summary, prelude_names):
            skey = statement_key(c.signature)
            src = c.row["provenance"]["source_name"]
            why = ex.why([c.name, src], skey, None) or ("duplicate statement" if seen.duplicate(skey, None) else None)
            if why:  # cheap rules first: no Lean call for what the text already refuses
                summary.refuse(corpus, why, src)
                continue
            name = unique_name(c.name, seen.names)
            c.row["name"], c.row["core_statement"] = name, f"theorem {name} {c.signature} := by sorry"
            v = verdict(_rename_decl(c.signature, name))
            if v.goal is None:
                summary.refuse(corpus, lean_reason(v.error or ""), src, v.error)
                continue
            gkey = goal_key(v.goal)
            why = ex.why([], skey, gkey) or ("duplicate statement" if seen.duplicate(skey, gkey) else None)
            if why:
                summary.refuse(corpus, why, src)
                continue
            seen.add(name, skey, gkey)
            rows.append(c.row)
            counts["kept"] += 1
    return rows, summary


def load_corpora(traced: Path) -> list[tuple[str, list[dict], dict]]:
    out = []
    for d in sorted(p for p in traced.iterdir() if (p / "declarations.jsonl").is_file()):
        decls = read_jsonl_rows(d / "declarations.jsonl")
        meta = json.loads((d / "corpus.json").read_text()) if (d / "corpus.json").is_file() else {}
        out.append((d.name, decls, meta))
    return out


def prelude_names(prelude: str) -> list[str]:
    """The names a prelude file defines (`def Nat.Prime ...` -> `Nat.Prime`)."""
    return re.findall(r"^(?:noncomputable\s+)?(?:def|theorem|abbrev)\s+(\S+)", prelude, re.MULTILINE)

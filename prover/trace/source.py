"""Inputs to trace: `.lean` files, folders of them, and JSONL files of code blocks.

A unit is one text the server elaborates in one go, with an optional silent `prefix` (blocks or imported project
files it builds on). Normalisation keeps every line where it was (removed text becomes blank), so reported
line numbers are the original file's:
- the module system (`module`, `public`, `@[expose]`, `meta`, `import all`) is dropped: our server is not a
  module and sees only exported declarations anyway, so `import all` becomes a plain import;
- header imports are taken out of the text: library modules become server imports, modules that are other
  input files become the unit's prefix (their text, recursively), anything else is reported as missing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..io import read_jsonl_rows

_MODIFIERS = r"(?:section|def|theorem|lemma|abbrev|structure|inductive|class|instance|opaque|noncomputable|partial|" \
             r"private|protected|example|macro|syntax|notation|local|scoped|unsafe|meta|@\[|axiom|mutual|namespace|" \
             r"instance|deriving|elab|initialize|register|set_option|attribute|variable|universe|open|end)"
_PUBLIC = re.compile(r"(^|(?<=\s)|(?<=\]))public\s+(?=" + _MODIFIERS + r")", re.M)
_META = re.compile(r"(^|(?<=\s))meta\s+(?=(?:def|theorem|instance|structure|inductive|abbrev|partial|noncomputable))",
                   re.M)
_EXPOSE_ONLY = re.compile(r"@\[\s*expose\s*\]\s*")
_EXPOSE_IN_LIST = re.compile(r"(?<=@\[)\s*expose\s*,\s*|,\s*expose\s*(?=[,\]])")
_IMPORT = re.compile(r"^\s*(?:public\s+)?(?:meta\s+)?import\s+(?:all\s+)?(.+?)\s*$")
# fp-lean's SubVerso wrappers: lines that only wrap ordinary commands
_WRAPPERS = re.compile(r"^\s*(?:discarding|stop discarding|book declaration \{\{\{.*\}\}\}|stop book declaration)\s*$",
                       re.M)


@dataclass
class TraceUnit:
    """One text to trace. `path` names it in the output (a file, or `file.jsonl#block-N`)."""

    path: str
    code: str
    corpus: str = ""
    prefix: str = ""
    imports: list[str] = field(default_factory=list)      # library modules the server must import
    missing_imports: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)         # what normalisation changed
    deps: list[str] = field(default_factory=list)  # input files in `prefix`, dependencies first
    # joined blocks: (first line in `code`, the block's line in its source file, the source file)
    line_map: list[tuple[int, int, str]] = field(default_factory=list)

    def source_line(self, line: int) -> tuple[str, int]:
        """Where line `line` of `code` came from: (file, line)."""
        best = None
        for start, orig, fname in self.line_map:
            if start <= line:
                best = (fname, orig + line - start)
        return best or (self.path, line)


def _blank(text: str) -> str:
    return "\n" * text.count("\n")


def split_header(code: str) -> tuple[list[str], str]:
    """The imports of a file's header and the text with the header blanked out (line numbers kept)."""
    lines = code.split("\n")
    imports: list[str] = []
    in_comment = False
    for i, line in enumerate(lines):
        s = line.strip()
        if in_comment:
            if "-/" in s:
                in_comment = False
            continue
        if not s or s.startswith("--"):
            continue
        if s.startswith("/-"):
            in_comment = "-/" not in s[2:]
            continue
        if s in ("module", "prelude"):
            lines[i] = ""
            continue
        m = _IMPORT.match(line.split("--", 1)[0])
        if not m:
            break
        imports.extend(m.group(1).split())
        lines[i] = ""
    return imports, "\n".join(lines)


def normalise(code: str) -> tuple[list[str], str, list[str]]:
    """(imports, normalised text, notes on what changed)."""
    notes = []
    if re.search(r"^\s*module\s*$", code, re.M):
        notes.append("module system removed")
    if re.search(r"import\s+all\b", code):
        notes.append("`import all` made a plain import (private declarations stay invisible)")
    imports, body = split_header(code)
    body = _PUBLIC.sub("", body)
    body = _META.sub("", body)
    body = _EXPOSE_ONLY.sub("", body)
    body = _EXPOSE_IN_LIST.sub("", body)
    if _WRAPPERS.search(body):
        notes.append("SubVerso wrappers removed")
        body = _WRAPPERS.sub("", body)
    return imports, body, notes


def module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


class _Resolver:
    """Splits a file's imports into library modules, other input files (prefix) and missing ones."""

    def __init__(self, lib_has, project: dict[str, Path], drop: set[str] = frozenset()):
        self.lib_has, self.project, self.drop = lib_has, project, drop
        self._cache: dict[str, tuple[str, list[str], list[str], list[str]]] = {}

    def resolve(self, imports: list[str], seen: frozenset[str] = frozenset()
                ) -> tuple[str, list[str], list[str], list[str]]:
        """(prefix text, library imports, missing imports, input files in the prefix) for these imports,
        dependencies first."""
        prefix, lib, missing, deps = [], [], [], []
        for m in imports:
            if m in self.drop:
                continue
            if m in self.project and m not in seen:
                if m not in self._cache:
                    sub_imports, body, _ = normalise(self.project[m].read_text(errors="replace"))
                    p, l, mi, de = self.resolve(sub_imports, seen | {m})
                    self._cache[m] = (p + "\n" + body, l, mi, [*de, str(self.project[m])])
                p, l, mi, de = self._cache[m]
                prefix.append(p)
                lib += l
                missing += mi
                deps += de
            elif m in self.project:
                continue
            elif self.lib_has(m):
                lib.append(m)
            else:
                missing.append(m)
        return ("\n".join(prefix), list(dict.fromkeys(lib)), list(dict.fromkeys(missing)),
                list(dict.fromkeys(deps)))


def _project_root(path: Path) -> Path:
    """The folder modules are named from: the nearest one above with a lakefile, else the file's folder."""
    for d in [path.parent, *path.parents]:
        if (d / "lakefile.lean").exists() or (d / "lakefile.toml").exists():
            return d
    return path.parent


def load_units(paths: list[str | Path], lib_has=lambda m: True, corpus: str = "",
               blocks: str = "accumulate", drop_imports: tuple[str, ...] = ()) -> list[TraceUnit]:
    """Units for `.lean` files, folders (recursively) and JSONL block files ({file, line, info, code} rows,
    `+error` blocks skipped). `blocks="accumulate"`: a file's blocks build on each other and are traced as one
    text, in order; `"standalone"`: each block is its own unit. `drop_imports`: modules to ignore (support
    code whose wrappers normalisation removes, e.g. fp-lean's `ExampleSupport`)."""
    if blocks not in ("accumulate", "standalone"):
        raise ValueError(f"blocks must be 'accumulate' or 'standalone', not {blocks!r}")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*.lean") if ".lake" not in q.parts and q.name != "lakefile.lean")
            files += sorted(p.glob("*.jsonl")) if not any(p.rglob("*.lean")) else []
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    project: dict[str, Path] = {}
    for f in files:
        if f.suffix == ".lean":
            project.setdefault(module_name(f, _project_root(f)), f)
    resolver = _Resolver(lib_has, project, set(drop_imports))
    units: list[TraceUnit] = []
    for f in files:
        if f.suffix == ".jsonl":
            units += _block_units(f, resolver, corpus, blocks == "accumulate")
            continue
        if f.suffix != ".lean":
            raise ValueError(f"{f}: expected a .lean file, a folder or a .jsonl of code blocks")
        imports, body, notes = normalise(f.read_text(errors="replace"))
        prefix, lib, missing, deps = resolver.resolve(imports)
        units.append(TraceUnit(str(f), body, corpus, prefix, lib, missing, notes, deps))
    return units


def _block_units(path: Path, resolver: _Resolver, corpus: str, accumulate: bool) -> list[TraceUnit]:
    rows = read_jsonl_rows(path, ValueError)
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        if "code" not in r:
            raise ValueError(f"{path}: block rows need a `code` field")
        by_file.setdefault(r.get("file", ""), []).append(r)
    units = []
    for fname, rows_ in by_file.items():
        kept = [r for r in rows_ if "+error" not in (r.get("info") or "")]
        parts, imports, notes, line_map, line = [], [], [], [], 1
        for r in kept:
            imp, body, nts = normalise(r["code"])
            if not accumulate:
                prefix, lib, missing, deps = resolver.resolve(imp)
                units.append(TraceUnit(f"{path}#{fname}:{r.get('line', 0)}", body, corpus, prefix, lib, missing, nts,
                                       deps, [(1, int(r.get("line", 1)), fname)]))
                continue
            imports += imp
            notes += [n for n in nts if n not in notes]
            line_map.append((line, int(r.get("line", 1)), fname))
            parts.append(body)
            line += body.count("\n") + 2
        if accumulate and parts:
            prefix, lib, missing, deps = resolver.resolve(list(dict.fromkeys(imports)))
            skipped = len(rows_) - len(kept)
            if skipped:
                notes.append(f"{skipped} `+error` blocks skipped")
            units.append(TraceUnit(f"{path}#{fname}", "\n\n".join(parts) + "\n", corpus, prefix, lib, missing, notes,
                                   deps, line_map))
    return units

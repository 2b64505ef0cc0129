"""The report of a run: `report.md`, a terminal summary table, and `pass_vs_budget.png`.

Definitions used throughout (the report repeats them under its tables):
- pass rate = proved / all theorems of the run (a statement Lean refused, "invalid", and a machinery
  failure, "lean_crash"/"lean_timeout"/"model_error"/"error", count as not proved; the report counts the
  machinery failures apart, since they say nothing about the theorems, and `--resume` retries them);
- expansions/s = sum of expansions / sum of per-theorem wall seconds;
- Lean calls/s (Lean time) = sum of tactic_calls / sum of lean_seconds (Lean's own throughput);
- Lean calls/s (wall) = sum of tactic_calls / sum of per-theorem wall seconds;
- model / Lean / other share = sum of model_seconds, sum of lean_seconds and the rest, as shares of the
  sum of per-theorem wall seconds.
Per-theorem wall seconds overlap when theorems run concurrently, so the run's wall time (headline) is taken
from the manifest (`finished_at`) or else from when the last row of results.jsonl was written.
"""
from __future__ import annotations

import bisect
import os
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from ..io import atomic_write_text
from ..outcome import MACHINERY
from .manifest import read_manifest
from .results import RESULTS_NAME, TheoremResult, read_results

REPORT_NAME = "report.md"
PLOT_NAME = "pass_vs_budget.png"
BASELINE_DIR = "baseline"


# ---------------------------------------------------------------------------------------------- numbers


@dataclass
class RunStats:
    label: str
    generator: str
    n: int
    proved: int
    failed: int
    budget: int
    invalid: int  # statements Lean refused
    machinery: int  # attempts lost to a machinery failure (no verdict); by kind in `machinery_kinds`
    machinery_kinds: dict
    unverified: int  # proved rows whose proof the kernel did not re-check
    mean_expansions_to_proof: float | None
    sum_expansions: int
    sum_tactic_calls: int
    sum_wall: float
    sum_lean: float
    sum_model: float

    @property
    def pass_rate(self) -> float:
        """Percent of all theorems proved."""
        return 100.0 * self.proved / self.n if self.n else 0.0

    @property
    def expansions_per_s(self) -> float | None:
        return self.sum_expansions / self.sum_wall if self.sum_wall > 0 else None

    @property
    def lean_calls_per_lean_s(self) -> float | None:
        return self.sum_tactic_calls / self.sum_lean if self.sum_lean > 0 else None

    @property
    def lean_calls_per_wall_s(self) -> float | None:
        return self.sum_tactic_calls / self.sum_wall if self.sum_wall > 0 else None

    @property
    def model_share(self) -> float | None:
        return 100.0 * self.sum_model / self.sum_wall if self.sum_wall > 0 else None

    @property
    def lean_share(self) -> float | None:
        return 100.0 * self.sum_lean / self.sum_wall if self.sum_wall > 0 else None

    @property
    def other_share(self) -> float | None:
        if self.sum_wall <= 0:
            return None
        return max(0.0, 100.0 - (self.model_share or 0.0) - (self.lean_share or 0.0))


def _generator(rows: Sequence[TheoremResult]) -> str:
    gens = Counter(r.generator for r in rows if r.generator)
    return "+".join(sorted(gens)) if len(gens) > 1 else next(iter(gens), "")


def run_stats(rows: Sequence[TheoremResult], label: str = "main") -> RunStats:
    status = Counter(r.status for r in rows)
    proved = [r for r in rows if r.proved]
    etp = [r.expansions_to_proof for r in proved if r.expansions_to_proof is not None]
    return RunStats(
        label=label, generator=_generator(rows), n=len(rows), proved=status["proved"],
        failed=status["failed"], budget=status["budget"], invalid=status["invalid"],
        machinery=sum(status[o.value] for o in MACHINERY),
        machinery_kinds={o.value: status[o.value] for o in sorted(MACHINERY) if status[o.value]},
        unverified=sum(not r.verified for r in proved),
        mean_expansions_to_proof=statistics.fmean(etp) if etp else None,
        sum_expansions=sum(r.expansions for r in rows), sum_tactic_calls=sum(r.tactic_calls for r in rows),
        sum_wall=sum(r.wall_seconds for r in rows), sum_lean=sum(r.lean_seconds for r in rows),
        sum_model=sum(r.model_seconds for r in rows))


def category_counts(rows: Sequence[TheoremResult]) -> dict[str, tuple[int, int]]:
    """`{category: (proved, total)}`."""
    out: dict[str, list[int]] = {}
    for r in rows:
        c = out.setdefault(r.category, [0, 0])
        c[0] += r.proved
        c[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def pass_curve(rows: Sequence[TheoremResult], xs: Sequence[float],
               key: str | Callable[[TheoremResult], float | None]) -> list[float]:
    """Pass rate (% of all rows) at each budget x: a proved row counts for every x >= key(row).

    `key` is a field name ("expansions_to_proof", "seconds_to_proof") or a function of the row; a proved row
    whose key is None is not counted at any x. Non-decreasing in x by construction.
    """
    get = (lambda r: getattr(r, key)) if isinstance(key, str) else key
    costs = sorted(v for v in (get(r) for r in rows if r.proved) if v is not None)
    n = len(rows)
    if n == 0:
        return [0.0 for _ in xs]
    return [100.0 * bisect.bisect_right(costs, x) / n for x in xs]


def _expansions_key(r: TheoremResult) -> float | None:
    # a proved row without expansions_to_proof: its total expansions are an upper bound
    return r.expansions_to_proof if r.expansions_to_proof is not None else (r.expansions or None)


def _seconds_key(r: TheoremResult) -> float | None:
    return r.seconds_to_proof if r.seconds_to_proof is not None else (r.wall_seconds or None)


# ------------------------------------------------------------------------------------------- formatting


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}%"


def _pp(x: float) -> str:
    return f"{x:+.1f} pp"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _dur(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def _cell(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    return "`" * ticks


def _budget_str(budget: dict | None) -> str:
    if not budget:
        return "–"
    return ", ".join(f"{k}={v}" for k, v in budget.items())


def _parse_time(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        return datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    except ValueError:
        return None


def run_wall_seconds(run_dir: Path | None, manifest: dict | None) -> tuple[float | None, str]:
    """The run's wall time and where it came from: manifest `wall_seconds`, `finished_at` - `started_at`, or
    the mtime of results.jsonl - `started_at`."""
    manifest = manifest or {}
    if isinstance(manifest.get("wall_seconds"), (int, float)):
        return float(manifest["wall_seconds"]), "manifest"
    start = _parse_time(manifest.get("started_at"))
    end = _parse_time(manifest.get("finished_at"))
    if start is not None and end is not None:
        return (end - start).total_seconds(), "started_at → finished_at"
    if start is not None and run_dir is not None and (Path(run_dir) / RESULTS_NAME).is_file():
        mtime = (Path(run_dir) / RESULTS_NAME).stat().st_mtime
        return max(0.0, mtime - start.timestamp()), "started_at → last result written"
    return None, ""


def _headline_wall(run_dir: Path, manifest: dict, rows: Sequence[TheoremResult]) -> tuple[float | None, str]:
    wall, src = run_wall_seconds(run_dir, manifest)
    if wall is None and rows:
        return sum(r.wall_seconds for r in rows), "Σ per-theorem wall seconds; the manifest has no finished_at"
    return wall, src


# ---------------------------------------------------------------------------------------- terminal table


def summary_table(rows: Sequence[TheoremResult], baseline_rows: Sequence[TheoremResult] | None = None) -> str:
    """A plain-text table for the end of a run: one line per run, then the difference vs the baseline."""
    runs = [run_stats(rows, "main")]
    if baseline_rows is not None:
        runs.append(run_stats(baseline_rows, "baseline"))
    header = ["run", "generator", "proved", "pass", "failed", "budget", "invalid", "machinery", "exp->proof",
              "exp/s(wall)", "calls/s(Lean)", "calls/s(wall)", "model%", "Lean%"]
    table = [header]
    for s in runs:
        table.append([s.label, s.generator or "-", f"{s.proved}/{s.n}", _pct(s.pass_rate), str(s.failed),
                      str(s.budget), str(s.invalid), str(s.machinery), _num(s.mean_expansions_to_proof),
                      _num(s.expansions_per_s),
                      _num(s.lean_calls_per_lean_s), _num(s.lean_calls_per_wall_s), _pct(s.model_share),
                      _pct(s.lean_share)])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(runs) == 2:
        d = runs[0].pass_rate - runs[1].pass_rate
        lines.append(f"vs baseline: {_pp(d)} ({_pct(runs[0].pass_rate)} vs {_pct(runs[1].pass_rate)})")
    lines.append("exp/s and calls/s(wall) per second of per-theorem wall time; calls/s(Lean) per second "
                 "inside Lean; model%/Lean% of per-theorem wall time; machinery = attempts lost to Lean crashes "
                 "or timeouts, the model server or a bug (no verdict; --resume retries them)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the plot


def plot_pass_vs_budget(run_dir: Path, rows: Sequence[TheoremResult],
                        baseline_rows: Sequence[TheoremResult] | None = None, *,
                        max_expansions: int | None = None) -> Path:
    """Write `run_dir/pass_vs_budget.png`: pass rate against expansion budget and against seconds per
    theorem, one curve per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: list[tuple[str, Sequence[TheoremResult]]] = [("main", rows)]
    if baseline_rows is not None:
        runs.append(("baseline", baseline_rows))
    everything = [r for _, rs in runs for r in rs]

    exp_max = max_expansions or max([r.expansions for r in everything] +
                                    [_expansions_key(r) or 0 for r in everything if r.proved] + [1])
    exp_max = max(int(exp_max), 1)
    sec_vals = [v for v in (_seconds_key(r) for r in everything if r.proved) if v]
    sec_hi = max([r.wall_seconds for r in everything] + sec_vals + [1e-3])
    sec_lo = max(min(sec_vals + [sec_hi]) * 0.8, 1e-3)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = [
        (axes[0], _expansions_key, 1.0, float(exp_max), "expansion budget (nodes expanded per theorem)"),
        (axes[1], _seconds_key, sec_lo, float(sec_hi), "wall-clock budget per theorem (s)"),
    ]
    styles = {"main": dict(color="C0", lw=2.0), "baseline": dict(color="C1", lw=1.6, ls="--")}
    for ax, key, lo, hi, xlabel in panels:
        hi = max(hi, lo * 2)  # a degenerate run (nothing expanded) still gets a drawable axis
        for label, rs in runs:
            events = [v for v in (key(r) for r in rs if r.proved) if v is not None and lo <= v <= hi]
            xs = sorted({lo, hi, *events})
            ys = pass_curve(rs, xs, key)
            ax.plot(xs, ys, drawstyle="steps-post", label=f"{label} · {_generator(rs) or '?'} "
                    f"({ys[-1]:.1f}% of {len(rs)})", **styles[label])
        if hi / max(lo, 1e-9) > 30:
            from matplotlib.ticker import FuncFormatter, LogLocator

            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, 100)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("pass rate (%)")
        ax.grid(True, which="major", alpha=0.35)
        ax.legend(loc="upper left", fontsize=9)
    axes[0].set_title("pass rate vs expansion budget")
    axes[1].set_title("pass rate vs time per theorem")
    ns = ", ".join(f"{label}: {len(rs)}" for label, rs in runs)
    fig.suptitle(f"Proof search: pass rate vs budget (n = {len(rows)} theorems"
                 + (f"; {ns})" if baseline_rows is not None and len(baseline_rows) != len(rows) else ")"))
    fig.tight_layout()
    out = Path(run_dir) / PLOT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _budget_expansions(budget: dict | None) -> int | None:
    for k in ("expansions", "max_expansions", "expansion_budget"):
        v = (budget or {}).get(k)
        if isinstance(v, int) and v > 0:
            return v
    return None


# -------------------------------------------------------------------------------------------- report.md


def write_report(run_dir: Path, rows: list[TheoremResult], *, manifest: dict,
                 baseline_rows: list[TheoremResult] | None = None, plot: bool = True) -> Path:
    """Write `run_dir/report.md` (and, with `plot`, `pass_vs_budget.png`, linked from the report)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = manifest or {}
    main = run_stats(rows, "main")
    base = run_stats(baseline_rows, "baseline") if baseline_rows is not None else None
    runs = [main] + ([base] if base else [])
    wall, wall_src = _headline_wall(run_dir, manifest, rows)
    generator = manifest.get("generator") or main.generator or "?"
    data = manifest.get("data") or {}
    bench = Path(data["path"]).name if data.get("path") else "benchmark"
    source = (manifest.get("extra") or {}).get("source")
    if source:  # a .lean file or a statement: its benchmark is only the run's copy of the problems
        bench = Path(source).name if source.endswith(".lean") else source

    L: list[str] = [f"# Proof search report: {bench}", ""]
    head = (f"**Proved {main.proved}/{main.n} = {_pct(main.pass_rate)}** · wall time {_dur(wall)}"
            + (f" ({wall_src})" if wall_src else "")
            + f" · generator `{generator}` · budget: {_budget_str(manifest.get('budget'))}")
    L.append(head)
    if base:
        L += ["", f"Baseline (`{base.generator or '?'}`): {base.proved}/{base.n} = {_pct(base.pass_rate)} → "
                  f"**{_pp(main.pass_rate - base.pass_rate)}** vs baseline"]
    if main.machinery:
        kinds = ", ".join(f"{v} {k}" for k, v in main.machinery_kinds.items())
        L += ["", f"⚠ {main.machinery} theorem(s) got no verdict because the machinery failed ({kinds}); they "
                  "count as not proved above. Rerun with `--resume` to retry exactly those."]
    if main.unverified:
        L += ["", f"⚠ {main.unverified} proved theorem(s) were not re-checked by Lean's kernel (`verified` "
                  "false); they are counted as proved above."]
    L.append("")

    # runs table
    L += ["## Runs", "",
          "| Run | Generator | Pass rate | Proved | Failed | Budget-out | Invalid | Machinery failures "
          "| Mean expansions to proof "
          "| Expansions/s (wall) | Lean calls/s (Lean time) | Lean calls/s (wall) | Model time | Lean time "
          "| Other time | Σ theorem wall |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in runs:
        L.append(f"| {s.label} | `{_cell(s.generator or '?')}` | {_pct(s.pass_rate)} | {s.proved}/{s.n} | "
                 f"{s.failed} | {s.budget} | {s.invalid} | {s.machinery} | {_num(s.mean_expansions_to_proof)} | "
                 f"{_num(s.expansions_per_s)} | {_num(s.lean_calls_per_lean_s)} | "
                 f"{_num(s.lean_calls_per_wall_s)} | {_pct(s.model_share)} | {_pct(s.lean_share)} | "
                 f"{_pct(s.other_share)} | {_dur(s.sum_wall)} |")
    L += ["",
          "Pass rate = proved / all theorems (invalid statements and machinery failures count as not proved). "
          "Invalid: Lean refused the statement. Machinery failures: Lean crashed or timed out, the model server "
          "failed, or a bug; no verdict on those theorems. Mean expansions to proof: over proved "
          "theorems. Expansions/s and Lean calls/s (wall) = totals / Σ per-theorem wall seconds; Lean calls/s "
          "(Lean time) = Σ tactic_calls / Σ lean_seconds. Model / Lean / other time: shares of Σ per-theorem "
          "wall seconds.", ""]

    # per category
    cats_main = category_counts(rows)
    cats_base = category_counts(baseline_rows) if baseline_rows is not None else {}
    L += ["## By category", ""]
    if base:
        L += ["| Category | main | baseline | Δ |", "|---|---:|---:|---:|"]
    else:
        L += ["| Category | main |", "|---|---:|"]
    for cat in sorted(set(cats_main) | set(cats_base)):
        p, t = cats_main.get(cat, (0, 0))
        cell = f"{p}/{t} ({_pct(100.0 * p / t)})" if t else "–"
        if base:
            bp, bt = cats_base.get(cat, (0, 0))
            bcell = f"{bp}/{bt} ({_pct(100.0 * bp / bt)})" if bt else "–"
            delta = _pp(100.0 * p / t - 100.0 * bp / bt) if t and bt else "–"
            L.append(f"| {_cell(cat)} | {cell} | {bcell} | {delta} |")
        else:
            L.append(f"| {_cell(cat)} | {cell} |")
    L.append("")

    # vs baseline, theorem by theorem
    if base:
        mp = {r.name for r in rows if r.proved}
        bp_ = {r.name for r in baseline_rows if r.proved}
        common = {r.name for r in rows} & {r.name for r in baseline_rows}
        L += ["## Versus baseline", "",
              f"Pass rate difference: **{_pp(main.pass_rate - base.pass_rate)}** "
              f"({_pct(main.pass_rate)} vs {_pct(base.pass_rate)}).", ""]
        if len(common) != main.n or len(common) != base.n:
            L += [f"The runs share {len(common)} theorems (main {main.n}, baseline {base.n}); on those, main "
                  f"proves {len(mp & common)} and the baseline {len(bp_ & common)}.", ""]
        only_main = sorted((mp - bp_) & common)
        only_base = sorted((bp_ - mp) & common)
        L.append(f"- proved only by main ({len(only_main)}): " + (", ".join(f"`{n}`" for n in only_main) or "–"))
        L.append(f"- proved only by the baseline ({len(only_base)}): "
                 + (", ".join(f"`{n}`" for n in only_base) or "–"))
        L.append("")

    # plot
    if plot:
        try:
            p = plot_pass_vs_budget(run_dir, rows, baseline_rows,
                                    max_expansions=_budget_expansions(manifest.get("budget")))
            L += ["## Pass rate vs budget", "", f"![pass rate vs budget]({p.name})", ""]
        except Exception as e:  # a plotting problem must not cost the report
            L += ["## Pass rate vs budget", "", f"(plot failed: {type(e).__name__}: {_cell(e)})", ""]

    # proved theorems
    proved = sorted((r for r in rows if r.proved), key=lambda r: r.name)
    L += [f"## Proved theorems ({len(proved)})", ""]
    for r in proved:
        text = r.proof if r.proof is not None else (r.proof_text or "")
        cost = []
        if r.expansions_to_proof is not None:
            cost.append(f"{r.expansions_to_proof} expansions")
        if r.seconds_to_proof is not None:
            cost.append(f"{r.seconds_to_proof:.1f} s")
        if not r.verified:
            cost.append("NOT kernel-verified")
        fence = _fence(text)
        L += [f"<details><summary><code>{r.name}</code> ({r.category})"
              + (f" — {', '.join(cost)}" if cost else "") + "</summary>", "",
              f"{fence}lean", text.rstrip(), fence, "", "</details>", ""]

    # not proved
    unproved = sorted((r for r in rows if r.status in ("failed", "budget")), key=lambda r: r.name)
    if unproved:
        L += [f"<details><summary>Not proved ({len(unproved)}: {main.failed} search exhausted, "
              f"{main.budget} out of budget)</summary>", ""]
        L += [f"- `{r.name}` ({r.category}): {r.status}, {r.expansions} expansions, {r.wall_seconds:.1f} s"
              for r in unproved]
        L += ["", "</details>", ""]

    # statements Lean refused, then machinery failures: two different things, two tables
    for title, pick in (("Statements Lean refused", lambda r: r.status == "invalid"),
                        ("Machinery failures", lambda r: r.machinery_failure)):
        errors = sorted((r for r in rows if pick(r)), key=lambda r: r.name)
        L += [f"## {title} ({len(errors)})", ""]
        if errors:
            L += ["| Theorem | Category | Outcome | Error |", "|---|---|---|---|"]
            for r in errors:
                msg = (r.error or "").strip().splitlines()
                first = msg[0] if msg else "(no message)"
                if len(first) > 300:
                    first = first[:297] + "..."
                L.append(f"| `{_cell(r.name)}` | {_cell(r.category)} | {r.status} | {_cell(first)} |")
        else:
            L.append("None.")
        L.append("")

    # provenance
    L += ["## Run", ""] + _manifest_lines(manifest) + [""]

    return atomic_write_text(run_dir / REPORT_NAME, "\n".join(L))


def _manifest_lines(m: dict) -> list[str]:
    out = []
    git = m.get("git")
    if git:
        out.append(f"- commit: `{git.get('commit')}`" + (" (dirty tree)" if git.get("dirty") else ""))
    elif "git" in m:
        out.append("- commit: not a git checkout")
    out.append(f"- Lean: {m.get('lean_version') or '?'}")
    model = m.get("model")
    if model:
        sha = model.get("sha256")
        out.append(f"- model: `{model.get('path')}`" + (f" (sha256 `{sha[:16]}…`)" if sha else ""))
    data = m.get("data") or {}
    if data:
        bits = []
        if data.get("sha256"):
            bits.append(f"sha256 `{data['sha256'][:16]}…`")
        if data.get("rows") is not None:
            bits.append(f"{data['rows']} rows")
        out.append(f"- data: `{data.get('path')}`" + (f" ({', '.join(bits)})" if bits else ""))
    mach = m.get("machine") or {}
    if mach:
        gpus = ", ".join(mach.get("gpus") or []) or "no GPU"
        out.append(f"- machine: {mach.get('hostname')}, {mach.get('cpu_count')} CPUs, "
                   f"{mach.get('ram_gb')} GB RAM, {gpus}; Python {mach.get('python')}, torch {mach.get('torch')}, "
                   f"transformers {mach.get('transformers')}")
    if m.get("started_at"):
        out.append(f"- started: {m['started_at']}"
                   + (f", finished: {m['finished_at']}" if m.get("finished_at") else ""))
    if m.get("argv"):
        out.append("- command: `" + " ".join(str(a) for a in m["argv"]).replace("`", "'") + "`")
    return out


def report_run_dir(run_dir: str | os.PathLike) -> Path:
    """Read `run_dir` (results.jsonl, manifest.json, baseline/ if present) and write its report and plot."""
    run_dir = Path(run_dir)
    rows = list(read_results(run_dir / RESULTS_NAME).values())
    manifest = read_manifest(run_dir) or {}
    base_file = run_dir / BASELINE_DIR / RESULTS_NAME
    baseline = list(read_results(base_file).values()) if base_file.is_file() else None
    return write_report(run_dir, rows, manifest=manifest, baseline_rows=baseline)

"""The reporting side of a run: results file, manifest, report.md, the terminal table and the plot.
Synthetic rows only; no Lean."""
from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from prover.run.manifest import build_manifest, git_info, model_fingerprint, sha256_file, write_manifest
from prover.run.report import (PLOT_NAME, pass_curve, plot_pass_vs_budget, report_run_dir, summary_table,
                               write_report)
from prover.run.results import (ResultsWriter, TheoremResult, finished_names, iter_results, read_results)

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ["core", "reals_only_via_casts", "other_encoding"]


def make_rows(n: int, seed: int, p_proved: float, generator: str) -> list[TheoremResult]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        cat = CATEGORIES[i % len(CATEGORIES)]
        u = rnd.random()
        status = ("proved" if u < p_proved else "failed" if u < p_proved + 0.15
                  else "invalid" if u < p_proved + 0.2 else "lean_crash" if u < p_proved + 0.25 else "budget")
        noverdict = status in ("invalid", "lean_crash")
        exp = 0 if noverdict else rnd.randint(1, 64) if status != "budget" else 64
        wall = 0.0 if noverdict else rnd.uniform(0.5, 60.0)
        lean = wall * rnd.uniform(0.3, 0.6)
        model = wall * rnd.uniform(0.1, 0.3)
        proved = status == "proved"
        rows.append(TheoremResult(
            name=f"thm_{i:03d}", category=cat, status=status,
            proof=f"nlinarith [sq_nonneg (x - {i})]\n  simp" if proved else None,
            proof_text=f"theorem thm_{i:03d} : True := by\n  trivial" if proved else None,
            verified=proved, generator=generator, expansions=exp,
            expansions_to_proof=rnd.randint(1, exp) if proved else None,
            tactic_calls=exp * rnd.randint(4, 8), nodes=exp * 3, lean_seconds=lean, model_seconds=model,
            wall_seconds=wall, seconds_to_proof=rnd.uniform(0.1, wall) if proved else None,
            error="Lean error: unknown identifier 'foo' | at line 3" if noverdict else None))
    return rows


@pytest.fixture
def rows() -> list[TheoremResult]:
    return make_rows(40, seed=1, p_proved=0.55, generator="hf+fixed")


@pytest.fixture
def baseline_rows() -> list[TheoremResult]:
    return make_rows(40, seed=2, p_proved=0.3, generator="fixed")


def pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%"


# ------------------------------------------------------------------------------------------ results file


def test_writer_reader_round_trip(tmp_path, rows):
    path = tmp_path / "results.jsonl"
    rows[0].extra["new_field"] = {"a": 1}
    with ResultsWriter(path) as w:
        for r in rows[:20]:
            w.write(r)
    with ResultsWriter(path) as w:  # reopening appends (resume)
        for r in rows[20:]:
            w.write(r.to_dict())
    back = read_results(path)
    assert list(back) == [r.name for r in rows]
    assert all(back[r.name] == r for r in rows)
    assert back[rows[0].name].extra == {"new_field": {"a": 1}}
    assert json.loads(path.read_text().splitlines()[0])["new_field"] == {"a": 1}
    assert TheoremResult.from_json(rows[3].to_json()) == rows[3]
    with pytest.raises(ValueError):
        TheoremResult(name="x", category="core", status="solved")


def test_truncated_last_line_is_skipped_and_dropped_on_resume(tmp_path, rows):
    path = tmp_path / "results.jsonl"
    with ResultsWriter(path) as w:
        for r in rows[:5]:
            w.write(r)
    line = rows[5].to_json()
    with open(path, "a") as f:  # a run killed in the middle of writing row 6
        f.write(line[: len(line) // 2])
    assert list(read_results(path)) == [r.name for r in rows[:5]]
    assert finished_names(path) == {r.name for r in rows[:5]}
    with ResultsWriter(path) as w:  # --resume: the cut line goes, the new row is intact
        w.write(rows[5])
    lines = path.read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(ln) for ln in lines)
    assert list(read_results(path)) == [r.name for r in rows[:6]]


def test_bad_middle_line_warns(tmp_path, rows, caplog):
    path = tmp_path / "results.jsonl"
    path.write_text(rows[0].to_json() + "\n{not json\n" + rows[1].to_json() + "\n")
    with caplog.at_level("WARNING"):
        names = [r.name for r in iter_results(path)]
    assert names == [rows[0].name, rows[1].name]
    assert f"{path}:2: not valid JSON" in caplog.text  # the warning names the file and line


def test_finished_names(tmp_path, rows):
    path = tmp_path / "results.jsonl"
    assert finished_names(path) == set()
    with ResultsWriter(path) as w:
        for r in rows:
            w.write(r)
    assert {r.status for r in rows} == {"proved", "failed", "budget", "invalid", "lean_crash"}
    # a machinery failure is no verdict: --resume retries it, until a later row for the theorem is a verdict
    crashed = {r.name for r in rows if r.status == "lean_crash"}
    assert crashed and finished_names(path) == {r.name for r in rows} - crashed
    with ResultsWriter(path) as w:
        for name in crashed:
            w.write(TheoremResult(name=name, category="core", status="failed"))
    assert finished_names(path) == {r.name for r in rows}


# ---------------------------------------------------------------------------------------------- curves


def test_pass_curve(rows):
    n = len(rows)
    xs = list(range(1, 65))
    ys = pass_curve(rows, xs, "expansions_to_proof")
    assert all(a <= b for a, b in zip(ys, ys[1:]))
    for x, y in zip(xs, ys):
        expected = sum(r.status == "proved" and r.expansions_to_proof <= x for r in rows)
        assert y == pytest.approx(100.0 * expected / n)
    assert ys[-1] == pytest.approx(100.0 * sum(r.proved for r in rows) / n)
    assert pass_curve(rows, [0.5], "expansions_to_proof") == [0.0]
    secs = sorted(r.seconds_to_proof for r in rows if r.proved)
    ys2 = pass_curve(rows, secs, lambda r: r.seconds_to_proof)
    assert all(a <= b for a, b in zip(ys2, ys2[1:]))
    assert ys2[-1] == ys[-1]
    assert pass_curve([], [1, 2], "expansions_to_proof") == [0.0, 0.0]


# ---------------------------------------------------------------------------------------------- report


def _table_row(text: str, first_cell: str) -> str:
    hits = [ln for ln in text.splitlines() if ln.startswith(f"| {first_cell} |")]
    assert len(hits) == 1, (first_cell, hits)
    return hits[0]


def test_report_numbers(tmp_path, rows, baseline_rows):
    manifest = {"generator": "hf+fixed", "budget": {"expansions": 64, "seconds": 120},
                "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:12:03+00:00"}
    path = write_report(tmp_path, rows, manifest=manifest, baseline_rows=baseline_rows)
    assert path == tmp_path / "report.md"
    text = path.read_text()
    n, k = len(rows), sum(r.status == "proved" for r in rows)
    bn, bk = len(baseline_rows), sum(r.status == "proved" for r in baseline_rows)
    # headline
    assert f"{k}/{n} = {pct(k, n)}" in text.splitlines()[2]
    assert "12m 03s" in text and "hf+fixed" in text and "expansions=64" in text
    # runs table
    main_row, base_row = _table_row(text, "main"), _table_row(text, "baseline")
    assert f"| {pct(k, n)} | {k}/{n} |" in main_row
    assert f"| {pct(bk, bn)} | {bk}/{bn} |" in base_row
    for row, rs in ((main_row, rows), (base_row, baseline_rows)):
        cells = [c.strip() for c in row.strip("|").split("|")]
        counts = [sum(r.status == s for r in rs) for s in ("failed", "budget", "invalid", "lean_crash")]
        assert cells[4:8] == [str(c) for c in counts]
        etp = [r.expansions_to_proof for r in rs if r.status == "proved"]
        assert cells[8] == f"{sum(etp) / len(etp):.1f}"
        wall = sum(r.wall_seconds for r in rs)
        assert cells[9] == f"{sum(r.expansions for r in rs) / wall:.1f}"
        assert cells[10] == f"{sum(r.tactic_calls for r in rs) / sum(r.lean_seconds for r in rs):.1f}"
        assert cells[11] == f"{sum(r.tactic_calls for r in rs) / wall:.1f}"
        assert cells[12] == f"{100 * sum(r.model_seconds for r in rs) / wall:.1f}%"
        assert cells[13] == f"{100 * sum(r.lean_seconds for r in rs) / wall:.1f}%"
    # per category
    for cat in CATEGORIES:
        mc = [r for r in rows if r.category == cat]
        bc = [r for r in baseline_rows if r.category == cat]
        mp, bp = sum(r.proved for r in mc), sum(r.proved for r in bc)
        line = _table_row(text, cat)
        assert f"{mp}/{len(mc)} ({pct(mp, len(mc))})" in line
        assert f"{bp}/{len(bc)} ({pct(bp, len(bc))})" in line
        assert f"{100 * mp / len(mc) - 100 * bp / len(bc):+.1f} pp" in line
    # vs baseline
    diff = f"{100 * k / n - 100 * bk / bn:+.1f} pp"
    assert f"Pass rate difference: **{diff}**" in text
    only_main = sorted({r.name for r in rows if r.proved} - {r.name for r in baseline_rows if r.proved})
    assert f"proved only by main ({len(only_main)})" in text
    # proved theorems with proofs, collapsible; errors separately
    proved_sec = text.split("## Proved theorems")[1].split("## Statements Lean refused")[0]
    assert f"({k})" in proved_sec.splitlines()[0]
    assert proved_sec.count("<details>") - proved_sec.count("Not proved") == k
    for r in rows:
        if r.proved:
            assert f"<code>{r.name}</code>" in proved_sec and r.proof in proved_sec
    for title, status in (("Statements Lean refused", "invalid"), ("Machinery failures", "lean_crash")):
        sec = text.split(f"## {title}")[1].split("\n## ")[0]
        assert set(re.findall(r"`(thm_\d+)`", sec)) == {r.name for r in rows if r.status == status}
        assert "\\|" in sec  # the "|" in the message does not break the table
    n_crash = sum(r.status == "lean_crash" for r in rows)
    assert f"⚠ {n_crash} theorem(s) got no verdict because the machinery failed ({n_crash} lean_crash)" in text
    # plot written and linked
    assert f"]({PLOT_NAME})" in text and (tmp_path / PLOT_NAME).is_file()


def test_report_without_baseline(tmp_path, rows):
    text = write_report(tmp_path, rows, manifest={}, plot=False).read_text()
    assert "baseline" not in text.lower()
    n, k = len(rows), sum(r.proved for r in rows)
    assert f"{k}/{n} = {pct(k, n)}" in text


def test_summary_table(rows, baseline_rows):
    out = summary_table(rows, baseline_rows)
    n, k = len(rows), sum(r.proved for r in rows)
    bn, bk = len(baseline_rows), sum(r.proved for r in baseline_rows)
    main_line = next(ln for ln in out.splitlines() if ln.startswith("main "))
    base_line = next(ln for ln in out.splitlines() if ln.startswith("baseline "))
    assert f"{k}/{n}" in main_line and pct(k, n) in main_line
    assert f"{bk}/{bn}" in base_line and pct(bk, bn) in base_line
    assert f"{100 * k / n - 100 * bk / bn:+.1f} pp" in out
    assert "vs baseline" not in summary_table(rows)


def test_plot_is_a_png(tmp_path, rows, baseline_rows):
    path = plot_pass_vs_budget(tmp_path, rows, baseline_rows)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 800
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_report_run_dir(tmp_path, rows, baseline_rows):
    for d, rs in ((tmp_path, rows), (tmp_path / "baseline", baseline_rows)):
        with ResultsWriter(d / "results.jsonl") as w:
            for r in rs:
                w.write(r)
    write_manifest(tmp_path, {"generator": "hf+fixed", "budget": {"expansions": 64}})
    text = report_run_dir(tmp_path).read_text()
    assert "## Versus baseline" in text and (tmp_path / PLOT_NAME).stat().st_size > 20_000


# -------------------------------------------------------------------------------------------- manifest


def test_manifest(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"name": f"t{i}", "statement": "True"}) + "\n" for i in range(7)))
    head_before = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip()
    m = build_manifest(bench_path=bench, budget={"expansions": 64}, generator="fixed", model_path=None,
                       argv=["prove", "--bench", str(bench)], lean_version="4.28.0-pre", extra={"seed": 3})
    head_after = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
    assert m["data"]["sha256"] == hashlib.sha256(bench.read_bytes()).hexdigest() == sha256_file(bench)
    assert m["data"]["rows"] == 7
    assert m["git"]["commit"] in (head_before, head_after)  # others may commit meanwhile
    assert isinstance(m["git"]["dirty"], bool)
    assert m["lean_version"] == "4.28.0-pre" and m["budget"] == {"expansions": 64}
    assert m["generator"] == "fixed" and m["model"] is None and m["extra"] == {"seed": 3}
    mach = m["machine"]
    assert mach["cpu_count"] >= 1 and mach["ram_gb"] > 0 and isinstance(mach["gpus"], list)
    assert mach["torch"] and mach["transformers"] and mach["python"]
    assert m["started_at"].endswith("+00:00")
    path = write_manifest(tmp_path / "run", m)
    assert json.loads(path.read_text()) == json.loads(json.dumps(m))
    assert git_info(tmp_path) is None


def test_model_fingerprint(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    weights = model / "model.safetensors"
    with open(weights, "wb") as f:  # 20 MB, sparse: hashed by size + first and last MiB
        f.truncate(20_000_000)
    fp = model_fingerprint(model)
    assert fp["exists"] and fp["files"] == 2 and fp["bytes"] == 20_000_000 + len('{"model_type": "llama"}')
    assert model_fingerprint(model)["sha256"] == fp["sha256"]  # deterministic, nothing cached
    with open(weights, "r+b") as f:
        f.seek(19_999_999)
        f.write(b"\1")
    assert model_fingerprint(model)["sha256"] != fp["sha256"]
    h2 = model_fingerprint(model)["sha256"]
    (model / "config.json").write_text('{"model_type": "mistral"}')
    assert model_fingerprint(model)["sha256"] != h2
    assert model_fingerprint(tmp_path / "no-such-model")["sha256"] is None

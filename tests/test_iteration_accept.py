"""The acceptance rule of an expert-iteration round (`compare_evals`) and what report.md says about it and about
the two budgets; no Lean."""
from __future__ import annotations

from dataclasses import asdict

from prover.run.results import TheoremResult
from prover.search import Budget
from prover.train import iteration as it


def ev(proved: int, exp: float | None, secs: float | None, total: int = 10) -> dict:
    return {"proved": proved, "total": total, "pass_rate": proved / total, "mean_expansions_to_proof": exp,
            "mean_seconds_to_proof": secs, "proved_names": [f"t{i}" for i in range(proved)]}


def test_more_proved_wins_whatever_the_time():
    better, why = it.compare_evals(ev(3, 1.0, 1.0), ev(4, 5.0, 20.0))
    assert better and why.startswith("theorems proved (3 -> 4)")
    better, why = it.compare_evals(ev(4, 5.0, 20.0), ev(3, 1.0, 1.0))
    assert not better and why.startswith("theorems proved (4 -> 3)")


def test_as_many_proved_fewer_expansions_wins_before_time_is_looked_at():
    better, why = it.compare_evals(ev(4, 2.0, 1.0), ev(4, 1.5, 9.0))
    assert better and "mean expansions to proof (2.00 -> 1.50)" in why
    better, why = it.compare_evals(ev(4, 1.5, 9.0), ev(4, 2.0, 1.0))
    assert not better and "mean expansions" in why


def test_wall_seconds_break_a_tie_in_proved_and_expansions():
    better, why = it.compare_evals(ev(4, 1.0, 3.0), ev(4, 1.0, 2.5))
    assert better and "mean wall seconds to proof (3.00 -> 2.50)" in why
    better, why = it.compare_evals(ev(4, 1.0, 2.5), ev(4, 1.0, 3.0))
    assert not better and "wall seconds" in why


def test_nothing_to_compare_is_not_better():
    assert it.compare_evals(ev(3, 1.0, 2.0), ev(3, 1.0, 2.0)) == (
        False, "no difference (as many proved, same mean expansions and wall seconds to proof)")
    assert it.compare_evals(ev(0, None, None), ev(0, None, None)) == (
        False, "no difference (as many proved; mean expansions and wall seconds to proof not recorded on both "
               "sides, so not compared)")
    # an evaluation recorded before the wall-seconds field existed decides nothing on time, and says so
    old = ev(4, 1.0, None)
    del old["mean_seconds_to_proof"]
    assert it.compare_evals(old, ev(4, 1.0, 0.1)) == (
        False, "no difference (as many proved; mean wall seconds to proof not recorded on both sides, so not compared)")


def test_pass_means_over_proved_rows_only():
    rows = [TheoremResult("a", "", "proved", expansions_to_proof=2, seconds_to_proof=4.0),
            TheoremResult("b", "", "proved", expansions_to_proof=1, seconds_to_proof=1.0),
            TheoremResult("c", "", "failed", expansions=6, wall_seconds=25.0)]
    p = it._pass(rows)
    assert (p["proved"], p["mean_expansions_to_proof"], p["mean_seconds_to_proof"]) == (2, 1.5, 2.5)


def test_report_states_both_budgets_and_the_deciding_criterion(tmp_path):
    pool_b = Budget.parse("max_expansions=16,wall_seconds=60,closers_first=1")
    eval_b = Budget.parse("max_expansions=6,samples_per_expansion=4,wall_seconds=25,closers_first=1")
    before, after = ev(4, 1.0, 3.0), ev(4, 1.0, 2.5)
    better, why = it.compare_evals(before, after)
    m = {"input_model": "m", "budget": asdict(pool_b), "eval_budget": asdict(eval_b),
         "metrics": {"prove": {"proved": 5, "total": 9}, "collect": {"proofs": 5, "examples": 7, "rejected": 0},
                     "train": {"skipped": "no model"},
                     "evaluate": {"before": before, "after": after, "gained": [], "lost": [], "accepted": False,
                                  "better": better, "criterion": why}}}
    it._write_report(tmp_path, m)
    report = (tmp_path / "report.md").read_text()
    assert ("Budgets: the pool's search `max_expansions=16,samples_per_expansion=8,wall_seconds=60,closers_first=1`;"
            " the benchmark's `max_expansions=6,samples_per_expansion=4,wall_seconds=25,closers_first=1`") in report
    assert "Decided by: as many proved; mean wall seconds to proof (3.00 -> 2.50) (better)" in report
    assert "| before | 4/10 (40.0%) | 1.00 | 3.00 |" in report

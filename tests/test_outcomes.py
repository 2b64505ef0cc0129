"""Machinery failures are not verdicts: a model server that dies mid-run, a Lean that crashes, and what
`--resume`, the report and the exit code make of them. Toy environment and a local OpenAI-style server."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import ToyEnv, toy_generator
from prover.lean.protocol import LeanCrash, LeanError, LeanInfraError, LeanTimeout
from prover.outcome import Outcome, outcome_of_exception
from prover.run.results import TheoremResult, read_results
from prover.run.runner import RunConfig, exit_status, run
from prover.search import Budget
from test_generators import FakeOpenAIServer

# the toy goals `⊢ n` as a served model would answer them: `dec` until 0, then `zero`
SCRIPT = {f"⊢ {n}\n": [[("dec", -0.2)]] for n in range(1, 6)} | {"⊢ 0\n": [[("zero", -0.1)]]}


def bench(path: Path, ns: dict[str, int]) -> Path:
    path.write_text("".join(json.dumps({"name": k, "core_statement": f"theorem {k} : {n}"}) + "\n"
                            for k, n in ns.items()))
    return path


class DyingServerEnv(ToyEnv):
    """A toy Lean that shuts the model server down when theorem `kill_at` starts (the outage begins)."""

    def __init__(self, server: FakeOpenAIServer | None = None, kill_at: str | None = None):
        super().__init__()
        self.server, self.kill_at, self.started = server, kill_at, []

    def start(self, statement: str, heartbeats=None, timeout=None):
        name = statement.split()[1]
        self.started.append(name)
        if name == self.kill_at and self.server is not None:
            self.server.close()
        return super().start(statement, heartbeats, timeout)


def test_exceptions_infrastructure_is_not_lean_saying_no():
    assert not issubclass(LeanCrash, LeanError) and not issubclass(LeanTimeout, LeanError)
    assert issubclass(LeanCrash, LeanInfraError) and issubclass(LeanTimeout, LeanInfraError)
    assert outcome_of_exception(LeanTimeout("x")) is Outcome.LEAN_TIMEOUT
    assert outcome_of_exception(LeanCrash("x")) is Outcome.LEAN_CRASH
    assert outcome_of_exception(KeyError("x")) is Outcome.ERROR
    assert {o for o in Outcome if o.machinery} == {Outcome.LEAN_CRASH, Outcome.LEAN_TIMEOUT,
                                                    Outcome.MODEL_ERROR, Outcome.ERROR}


def test_model_server_dying_mid_run_marks_machinery_failures_and_resume_retries_exactly_them(tmp_path):
    b = bench(tmp_path / "b.jsonl", {"a": 1, "b": 2, "c": 3, "d": 1})
    opts = {"max_retries": 0, "timeout": 5}
    srv = FakeOpenAIServer(SCRIPT)
    env = DyingServerEnv(srv, kill_at="c")
    cfg = RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=srv.url, gen_options=opts,
                    progress=False, budget=Budget(max_expansions=10))
    out = run(cfg, envs=[env])
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert {n: r.status for n, r in rows.items()} == {"a": "proved", "b": "proved", "c": "model_error",
                                                      "d": "model_error"}
    assert "cannot connect" in rows["c"].error and srv.url in rows["c"].error
    assert exit_status(out["rows"])[0] == 1  # some proved, some not (here: no verdict)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "⚠ 2 theorem(s) got no verdict because the machinery failed (2 model_error)" in report
    assert "## Machinery failures (2)" in report and "## Statements Lean refused (0)" in report

    srv2 = FakeOpenAIServer(SCRIPT)  # the server is back (on another port)
    try:
        env2 = DyingServerEnv()
        run(RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=srv2.url, gen_options=opts,
                      progress=False, budget=Budget(max_expansions=10), resume=True), envs=[env2])
    finally:
        srv2.close()
    assert env2.started == ["c", "d"]  # exactly the machinery failures, and nothing already decided
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert all(r.status == "proved" and r.verified for r in rows.values()) and len(rows) == 4


# A model server in a process of its own: prints its URL, serves, and SIGKILLs itself on POST number argv[2].
_SERVE = ("import json, sys, time; sys.path.insert(0, sys.argv[3]); from test_generators import FakeOpenAIServer\n"
          "srv = FakeOpenAIServer(json.loads(sys.argv[1])); srv.die_on_post = int(sys.argv[2])\n"
          "print(srv.url, flush=True)\n"
          "while True: time.sleep(1)\n")


def test_model_server_process_killed_mid_request_and_resume_retries_exactly_those_theorems(tmp_path):
    """The outage as it happens to a real vLLM: the server process dies (SIGKILL) while a completion request
    is in flight, so the connection drops without an answer; later requests find nobody listening."""
    b = bench(tmp_path / "b.jsonl", {"a": 1, "b": 2, "c": 3, "d": 1})
    # POSTs per theorem (one per expansion): a 2, b 3, c 4, d 2. The 7th is c's second: it dies mid-c.
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, json.dumps(SCRIPT), "7", str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        env = DyingServerEnv()
        out = run(RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=url, progress=False,
                            gen_options={"max_retries": 0, "timeout": 10}, budget=Budget(max_expansions=10)),
                  envs=[env])
        assert proc.wait(timeout=30) == -signal.SIGKILL  # it died by itself, mid-request
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert {n: r.status for n, r in rows.items()} == {"a": "proved", "b": "proved", "c": "model_error",
                                                      "d": "model_error"}
    assert all(url in rows[n].error and "GeneratorError" in rows[n].error for n in "cd")
    assert "disconnected without sending a response" in rows["c"].error  # the request it died in
    # nobody listening any more: refused, or reset when the dying process's socket still took the connection
    assert "refused" in rows["d"].error or "reset by peer" in rows["d"].error, rows["d"].error
    assert env.started == ["a", "b", "c", "d"] and exit_status(out["rows"])[0] == 1

    srv = FakeOpenAIServer(SCRIPT)  # a new server comes up
    try:
        env2 = DyingServerEnv()
        run(RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=srv.url, progress=False,
                      gen_options={"max_retries": 0, "timeout": 10}, budget=Budget(max_expansions=10), resume=True),
            envs=[env2])
    finally:
        srv.close()
    assert env2.started == ["c", "d"]  # exactly the machinery failures
    rows = read_results(tmp_path / "run" / "results.jsonl")
    assert {n: r.status for n, r in rows.items()} == dict.fromkeys("abcd", "proved")


def test_model_server_down_from_the_start_fails_before_lean_starts(tmp_path):
    srv = FakeOpenAIServer(SCRIPT)
    url = srv.url
    srv.close()
    b = bench(tmp_path / "b.jsonl", {"a": 1})
    env = DyingServerEnv()
    with pytest.raises(ValueError, match=f"model server {url} is not reachable"):
        run(RunConfig(bench=b, out=tmp_path / "run", generator="openai", model=url, progress=False), envs=[env])
    assert env.started == [] and not (tmp_path / "run" / "results.jsonl").exists()


class CrashingEnv(ToyEnv):
    """A toy Lean that crashes (raises LeanCrash) when asked to start `crash_on`, or hangs on the re-check."""

    def __init__(self, crash_on=(), hang_on_check=False):
        super().__init__()
        self.crash_on, self.hang_on_check = set(crash_on), hang_on_check

    def start(self, statement, heartbeats=None, timeout=None):
        if statement.split()[1] in self.crash_on:
            raise LeanCrash("Lean exited during start-up")
        return super().start(statement, heartbeats, timeout)

    def check(self, code, statement=None, name=None, **kw):
        if self.hang_on_check:
            raise LeanTimeout("check ran past 120 s; Lean was restarted")
        return super().check(code, statement, name, **kw)


def test_a_lean_crash_is_never_a_rejection_and_exit_codes_follow_the_outcomes(tmp_path):
    b = bench(tmp_path / "b.jsonl", {"a": 1, "b": 2, "bad": "x +"})  # type: ignore[dict-item]
    out = run(RunConfig(bench=b, out=tmp_path / "r1", generator="scripted", progress=False),
              envs=[CrashingEnv(crash_on={"a"})], generator=toy_generator())
    rows = {r.name: r for r in out["rows"]}
    assert rows["a"].status == "lean_crash" and "statement rejected" not in (rows["a"].error or "")
    assert rows["bad"].status == "invalid" and "statement rejected" in rows["bad"].error
    assert rows["b"].status == "proved"
    assert exit_status(out["rows"])[0] == 1
    # a re-check that hangs is a timeout, not "the proof was refused"
    out = run(RunConfig(bench=b, out=tmp_path / "r2", generator="scripted", progress=False, names=["b"]),
              envs=[CrashingEnv(hang_on_check=True)], generator=toy_generator())
    assert [r.status for r in out["rows"]] == ["lean_timeout"] and not out["rows"][0].extra.get("rejected_proofs")
    code, why = exit_status(out["rows"])
    assert code == 3 and "machinery" in why and "lean_timeout" in why
    # all proved / nothing attemptable
    out = run(RunConfig(bench=b, out=tmp_path / "r3", generator="scripted", progress=False, names=["a", "b"]),
              envs=[ToyEnv()], generator=toy_generator())
    assert exit_status(out["rows"]) == (0, "all 2 theorems proved")
    out = run(RunConfig(bench=b, out=tmp_path / "r4", generator="scripted", progress=False, names=["bad"]),
              envs=[ToyEnv()], generator=toy_generator())
    assert exit_status(out["rows"])[0] == 3
    assert exit_status([])[0] == 3
    assert exit_status([TheoremResult("x", "", "failed"), TheoremResult("y", "", "proved")])[0] == 1

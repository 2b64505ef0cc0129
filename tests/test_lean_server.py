"""The proof-state server with real Lean: statements, tactics, checks, bad input and limits."""
from __future__ import annotations

import pytest

from prover.lean import LeanError

pytestmark = pytest.mark.lean


def test_every_valid_statement_elaborates(lean, valid_rows):
    failed = []
    for row in valid_rows:
        try:
            st = lean.start(row["core_statement"])
            assert st.goals and "⊢" in st.goals[0]
        except LeanError as e:
            failed.append((row["name"], str(e)[:200]))
    assert not failed, failed
    assert len(valid_rows) == 112


def test_start_introduces_binders_as_hypotheses(lean):
    st = lean.start("theorem t (x y : Nat) {z : Int} (h : x = 2) : x + 1 = 3 := by sorry")
    goal = st.goals[0]
    assert "x y : Nat" in goal and "z : Int" in goal and "h : x = 2" in goal
    assert goal.strip().endswith("⊢ x + 1 = 3")


@pytest.mark.parametrize("statement,tactic", [
    ("theorem n1 (n : Nat) : n + 0 = n", "simp"),
    ("theorem i1 (a b : Int) (h : a < b) : a + 1 ≤ b", "omega"),
    ("theorem q1 (q : Rat) : q + 0 = q", "exact Rat.add_zero q"),
    ("theorem q2 : (1 : Rat) / 2 + 1 / 2 = 1", "grind"),
    ("theorem l1 (xs : List Nat) : (xs ++ []).length = xs.length", "simp"),
    ("theorem d1 : 2 ^ 10 = 1024", "decide"),
])
def test_one_tactic_closes_goals_on_nat_int_rat_list(lean, statement, tactic):
    st = lean.start(statement)
    res = lean.run_tac(st, tactic)
    assert res.ok, res.error
    assert res.complete and res.state.goals == ()


def test_multi_step_proof_and_reexpanding_an_old_state(lean):
    root = lean.start("theorem m (n : Nat) : 0 + n = n")
    bad = lean.run_tac(root, "rfl")  # `0 + n = n` is not rfl for a variable n
    assert not bad.ok and bad.error
    step = lean.run_tac(root, "induction n with\n| zero => rfl\n| succ k ih => ?_")
    assert step.ok and len(step.state.goals) == 1 and "ih" in step.state.goals[0]
    done = lean.run_tac(step.state, "omega")
    assert done.complete
    # the root is still usable after its children were explored
    again = lean.run_tac(root, "simp")
    assert again.complete
    assert lean.tactics_of(done.state) == ("induction n with\n| zero => rfl\n| succ k ih => ?_", "omega")


def test_several_goals_tactic_acts_on_main_goal(lean):
    st = lean.start("theorem c (p q : Prop) (hp : p) (hq : q) : p ∧ q")
    split = lean.run_tac(st, "constructor")
    assert split.ok and len(split.state.goals) == 2
    first = lean.run_tac(split.state, "exact hp")
    assert first.ok and len(first.state.goals) == 1 and first.state.goals[0].strip().endswith("⊢ q")
    assert lean.run_tac(first.state, "exact hq").complete


def test_check_reports_per_declaration(lean):
    code = ("theorem good (x : Nat) : x + 0 = x := by simp\n"
            "theorem holey : 1 = 2 := by sorry\n"
            "theorem wrong : 2 + 2 = 5 := by decide\n")
    res = lean.check(code)
    assert not res.all_ok
    good, holey, wrong = (res.decl(n) for n in ("good", "holey", "wrong"))
    assert good.ok and good.complete and good.sound
    assert not holey.complete and not holey.sound  # `sorry` is refused before elaboration
    assert not wrong.ok and not wrong.sound and wrong.errors


def test_check_compares_the_statement(lean):
    stmt = "theorem s (x : Nat) : x + 0 = x"
    same = lean.check("theorem s (y : Nat) : y + 0 = y := by simp", statement=stmt, name="s")
    assert same.all_ok and same.decl("s").statement_matches is True
    changed = lean.check("theorem s (x : Nat) : x = x := by rfl", statement=stmt, name="s")
    assert not changed.all_ok and changed.decl("s").statement_matches is False and not changed.decl("s").sound


def test_add_extends_the_base_environment_and_checks_leave_it_alone(lean):
    lean.add("def myDouble (n : Nat) : Nat := 2 * n")
    st = lean.start("theorem dd : myDouble 3 = 6")
    assert lean.run_tac(st, "decide").complete
    res = lean.check("def onlyHere : Nat := 5\ntheorem uses : onlyHere = 5 := rfl")
    assert res.all_ok
    with pytest.raises(LeanError, match="onlyHere"):
        lean.start("theorem later : onlyHere = 5")


def test_prelude_definitions_are_available(lean):
    st = lean.start("theorem f5 : Nat.factorial 5 = 120")
    assert lean.run_tac(st, "decide").complete


def test_pristine_check_does_not_see_the_prelude(lean):
    res = lean.check("def Nat.factorial (n : Nat) : Nat := n\ntheorem k : Nat.factorial 3 = 3 := rfl",
                     use_preludes=False)
    assert res.all_ok, res


# ----------------------------------------------------------------------------- bad input
def test_malformed_json_gets_an_error_and_server_keeps_serving(lean):
    ans = lean.send_raw("{not json")
    assert ans["ok"] is False and "malformed JSON" in ans["error"]
    ans = lean.send_raw('{"id": 5, "cmd": "frobnicate"}')
    assert ans["ok"] is False and "unknown command" in ans["error"]
    assert lean.stats().requests > 0


def test_unknown_state_parse_error_unknown_identifier(lean):
    res = lean.run_tac(10**9, "rfl")
    assert not res.ok and "unknown proof state" in res.error
    st = lean.start("theorem pe : True")
    res = lean.run_tac(st, "exact (")
    assert not res.ok and "parse error" in res.error
    with pytest.raises(LeanError, match="Unknown identifier|unknown identifier"):
        lean.start("theorem ui : undefinedThing = 1")
    with pytest.raises(LeanError):
        lean.start("theorem auto (h : x = 1) : x = 1")  # autoImplicit is off: x is unknown
    res = lean.run_tac(st, "exact undefinedLemma")
    assert not res.ok and "undefinedLemma" in res.error
    assert lean.run_tac(st, "trivial").complete


def test_huge_input_is_answered(lean):
    from prover.settings import lean_max_request_bytes

    MAX_REQUEST_BYTES = lean_max_request_bytes()

    big = "theorem big : True := by\n" + "  skip\n" * 2000 + "  trivial\n"
    assert lean.check(big).decl("big").sound
    st = lean.start("theorem h2 : True")
    deep = lean.run_tac(st, "exact " + "(" * 300 + "trivial" + ")" * 300)
    assert deep.complete, deep.error
    # past the size limit: a clear error, the request never reaches Lean, the server keeps its states
    too_big = "theorem t : True := by\n" + "  skip\n" * (MAX_REQUEST_BYTES // 7 + 10) + "  trivial\n"
    with pytest.raises(LeanError, match="too large"):
        lean.check(too_big)
    res = lean.run_tac(st, "exact " + "(" * MAX_REQUEST_BYTES + "trivial")
    assert not res.ok and "too large" in res.error
    assert lean.run_tac(st, "trivial").complete


def test_looping_tactic_stops_at_the_heartbeat_limit(lean):
    st = lean.start("theorem loop (f : Nat → Nat) (h : ∀ x, f x = f (f x)) : f 0 = 0")
    res = lean.run_tac(st, "simp [h]", heartbeats=2000)
    assert not res.ok and res.error
    # `decide` on a large proposition, with the recursion limit raised: the kernel does the work and ignores
    # heartbeats, so the wall-clock limit kills Lean; the client restarts it and answers with an error
    big = lean.start("theorem manySquares : ∀ x, x < 100000 → x * x ≠ 2")
    restarts = lean.restarts
    res = lean.run_tac(big, "set_option maxRecDepth 100000 in decide", heartbeats=2000, timeout=20)
    assert not res.ok and res.error
    assert "LeanTimeout" in res.error or "heartbeats" in res.error
    if "LeanTimeout" in res.error:
        assert lean.run_tac(lean.start("theorem after0 : 1 + 1 = 2"), "decide").complete
        assert lean.restarts == restarts + 1
    ok = lean.run_tac(lean.start("theorem after : 1 + 1 = 2"), "decide")
    assert ok.complete

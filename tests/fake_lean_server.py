"""A stand-in for the Lean server process (tests of the client's process handling, no Lean needed).

Speaks the protocol of prover/lean/protocol.py with its classes (requests parsed strictly, answers built by the
answer types, the session prefix from `answer_prefix`), so it cannot drift from the real server's wire format:
`start` gives a state with the goal `⊢ <statement>`; `tactic` "hang" never answers, "done" closes the goal,
anything else adds itself to the goal text; `add` records a prelude, and goals show how many preludes this
process has (`[k]`); `clear` and `stats` answer; `check` and `trace` are refused. FAKE_LEAN_START_S delays
"ready" (a start-up). Like the real server, the first input line is the session key that prefixes every
answer, and it exits at the end of its input.
"""
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path, from any directory

from prover.lean.protocol import (AddRequest, CheckResult, ClearAnswer, ClearRequest, ErrorAnswer,  # noqa: E402
                                  ProtocolError, Ready, StartAnswer, StartRequest, Stats, StatsRequest,
                                  TacticAnswer, TacticRequest, answer_prefix, parse_request)

key = sys.stdin.readline().strip()
prefix = answer_prefix(key)
time.sleep(float(os.environ.get("FAKE_LEAN_START_S", "0")))
print(prefix + Ready(ready=True).to_line(), flush=True)
states: list[str] = []
preludes = 0
for line in sys.stdin:
    if not line.strip():
        continue
    rid = None
    try:
        rid, req = parse_request(line)
        if isinstance(req, StartRequest):
            states.append(f"⊢ {req.statement} [{preludes}]")
            ans = StartAnswer(state=len(states) - 1, goals=(states[-1],), complete=False)
        elif isinstance(req, TacticRequest):
            if req.tactic == "hang":
                time.sleep(3600)
            goal = states[req.state]
            states.append("" if req.tactic == "done" else f"{goal} {req.tactic}")
            goals = (states[-1],) if states[-1] else ()
            ans = TacticAnswer(state=len(states) - 1, goals=goals, complete=not goals, messages=())
        elif isinstance(req, AddRequest):
            preludes += 1
            ans = CheckResult(True, ())
        elif isinstance(req, ClearRequest):
            ans = ClearAnswer(cleared=len(states))
            states.clear()
        elif isinstance(req, StatsRequest):
            ans = Stats(states_created=len(states), live_states=len(states), requests=0, heartbeats=0, uptime_ms=0)
        else:
            ans = ErrorAnswer(error=f"the fake server does not do `{req.cmd}`")
    except ProtocolError as e:
        ans = ErrorAnswer(error=str(e))
    except IndexError:
        ans = ErrorAnswer(error=f"unknown proof state {req.state}")
    print(prefix + ans.to_line(rid), flush=True)

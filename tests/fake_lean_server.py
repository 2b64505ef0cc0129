"""A stand-in for the Lean server process (tests of the client's process handling, no Lean needed).

Speaks the JSON-lines protocol: `start` gives a state with the goal `⊢ <statement>`; `tactic` "hang" never
answers, "done" closes the goal, anything else adds itself to the goal text; `add` records a prelude, and
goals show how many preludes this process has (`[k]`); `clear` and `stats` answer. FAKE_LEAN_START_S delays
"ready" (a start-up). Like the real server, the first input line is the session key that prefixes every
answer (`@@LS@@ KEY {...}`), and it exits at the end of its input.
"""
import json
import os
import sys
import time

key = sys.stdin.readline().strip()
prefix = f"@@LS@@ {key} "
time.sleep(float(os.environ.get("FAKE_LEAN_START_S", "0")))
print(prefix + json.dumps({"ready": True}), flush=True)
states: list[str] = []
preludes = 0
for line in sys.stdin:
    req = json.loads(line)
    cmd, out = req.get("cmd"), {"id": req.get("id"), "ok": True}
    if cmd == "start":
        states.append(f"⊢ {req['statement']} [{preludes}]")
        out.update(state=len(states) - 1, goals=[states[-1]])
    elif cmd == "tactic":
        if req["tactic"] == "hang":
            time.sleep(3600)
        goal = states[req["state"]]
        states.append("" if req["tactic"] == "done" else f"{goal} {req['tactic']}")
        out.update(state=len(states) - 1, goals=[states[-1]] if states[-1] else [])
    elif cmd == "add":
        preludes += 1
        out.update(all_ok=True, declarations=[])
    elif cmd == "clear":
        states.clear()
    elif cmd == "stats":
        out.update(states_created=len(states), live_states=len(states), requests=0, heartbeats=0, uptime_ms=0)
    else:
        out = {"id": req.get("id"), "ok": False, "error": f"unknown command {cmd}"}
    print(prefix + json.dumps(out), flush=True)

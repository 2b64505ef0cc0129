"""Autoformalization: plain-language problems -> Lean 4 statements that Lean accepts, with evidence of faithfulness.

The path of one problem, by module: `problems` (read the input) -> `examples` (nearest few-shot pairs) ->
`prompt` (build the prompt, read the statement back) -> `sampler` (the model) -> `lean_check` (elaborate; flag
trivial/vacuous) -> `equivalence` (Lean-proved equivalence; grouping) -> `pipeline` (repair, select, compare
with the reference) -> `run` / `report` (files, resume, report). `python -m autoform` is the command.
"""

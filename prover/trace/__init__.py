"""Tracing Lean files into (state before, tactic, state after, premises) data, LeanDojo-style.

`source` reads and normalises inputs into units, `tracer` runs them through the server's `trace` command,
`export` writes the `datasets` dataset, the LeanDojo-format JSON and the summary.
"""
from .source import TraceUnit, load_units, normalise
from .tracer import TracedDecl, TracedFile, TracedTactic, trace_units

__all__ = ["TraceUnit", "load_units", "normalise", "TracedDecl", "TracedFile", "TracedTactic", "trace_units"]

"""`import lean_dojo` for LeanDojo clients (ReProver and its descendants), served by this project's Lean.

A shim with LeanDojo's interaction names (`Dojo`, `Theorem`, `LeanGitRepo`, `Pos`, `TacticState`, the results
and the `Dojo*Error`s); see `prover/lean/dojo.py` for what differs. Install the real LeanDojo and it takes
precedence only if it comes first on `sys.path`; this package does not pretend to trace repositories.

Invariant: the implementation is this project's, even when another package named `prover` (ReProver's own)
shadows ours on `sys.path`: then ours is loaded from its folder under the private name `lean_dojo._prover`.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

_OURS = Path(__file__).resolve().parents[1] / "prover"


def _implementation():
    try:
        spec = importlib.util.find_spec("prover")
    except (ImportError, ValueError):
        spec = None
    origin = Path(spec.origin).resolve().parent if spec is not None and spec.origin else None
    if origin == _OURS:
        return importlib.import_module("prover.lean.dojo")
    name = __name__ + "._prover"
    if name not in sys.modules:
        pkg = importlib.util.spec_from_file_location(name, _OURS / "__init__.py",
                                                     submodule_search_locations=[str(_OURS)])
        if pkg is None or pkg.loader is None:
            raise ImportError(f"lean_dojo: cannot load this project's prover package from {_OURS}")
        mod = importlib.util.module_from_spec(pkg)
        sys.modules[name] = mod
        pkg.loader.exec_module(mod)
    return importlib.import_module(name + ".lean.dojo")


_dojo = _implementation()

Dojo = _dojo.Dojo
Theorem = _dojo.Theorem
LeanGitRepo = _dojo.LeanGitRepo
Pos = _dojo.Pos
Goal = _dojo.Goal
TacticState = _dojo.TacticState
ProofFinished = _dojo.ProofFinished
ProofGivenUp = _dojo.ProofGivenUp
LeanError = _dojo.LeanError
TacticResult = _dojo.TacticResult
DojoError = _dojo.DojoError
DojoInitError = _dojo.DojoInitError
DojoCrashError = _dojo.DojoCrashError
DojoHardTimeoutError = _dojo.DojoHardTimeoutError
DojoTacticTimeoutError = _dojo.DojoTacticTimeoutError
TimeoutError = _dojo.TacticTimeout  # noqa: A001 -- LeanDojo 1.x's name; not in __all__, so `*` keeps the builtin

__all__ = ["Dojo", "Theorem", "LeanGitRepo", "Pos", "Goal", "TacticState", "ProofFinished", "ProofGivenUp",
           "LeanError", "TacticResult", "DojoError", "DojoInitError", "DojoCrashError", "DojoHardTimeoutError",
           "DojoTacticTimeoutError"]

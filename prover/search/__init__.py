"""Best-first proof search, policy only: the search graph (`tree`), its budget, and the search loop
(`best_first`). Judging a proof and the Lean crash hazards live in `prover.lean` (`judge`, `hazards`)."""
from .best_first import BestFirstSearch, ProofEnv, SearchResult
from .budget import Budget
from .tree import Edge, Node, SearchTree, Status

__all__ = ["BestFirstSearch", "ProofEnv", "SearchResult", "Budget", "Edge", "Node", "SearchTree", "Status"]

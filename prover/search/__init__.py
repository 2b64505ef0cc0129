"""Best-first proof search: the search graph (`tree`), its budget, and the search loop (`best_first`)."""
from .best_first import BestFirstSearch, ProofEnv, SearchResult, proof_text, theorem_name, verify_proof
from .budget import Budget
from .tree import Edge, Node, SearchTree, Status

__all__ = ["BestFirstSearch", "ProofEnv", "SearchResult", "proof_text", "theorem_name", "verify_proof", "Budget",
           "Edge", "Node", "SearchTree", "Status"]

"""The search graph of one theorem: proof states (nodes) joined by tactics (edges).

Invariants, kept by `SearchTree.add_edge` and `SearchTree.mark_expanded`:
- One node per distinct goal list (transposition): two tactic paths that reach the same pretty-printed goals
  share a node, so its subtree is searched once.
- A node is PROVED iff it has no goals, or one of its edges leads to a PROVED node; `proof_edge` is the first
  such edge, and it always points at a node that was proved earlier, so following proof edges from the root
  ends at a goal-free node (no cycles), even though the graph itself may have cycles.
- A node is FAILED iff it has been expanded and every edge leads to a FAILED node (a node with no working
  tactic fails at once). A node on a cycle of open nodes stays OPEN: we never claim a failure we did not see.
- `priority` is the best (length-normalised) cumulative log-probability over the paths found so far.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.Enum):
    OPEN = "open"
    PROVED = "proved"
    FAILED = "failed"


@dataclass(eq=False)
class Edge:
    tactic: str
    src: "Node"
    dst: "Node"
    logprob: float
    source: str = "model"


@dataclass(eq=False)
class Node:
    goals: tuple[str, ...]
    state_id: int  # the Lean server's id for this state (from the first path that reached it)
    depth: int  # tactics on the best path from the root
    cum_logprob: float  # sum of edge logprobs on that path
    priority: float
    status: Status = Status.OPEN
    expanded: bool = False
    out_edges: list[Edge] = field(default_factory=list)
    in_edges: list[Edge] = field(default_factory=list)
    proof_edge: Edge | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return self.goals

    @property
    def is_terminal(self) -> bool:
        return self.status is not Status.OPEN


def score(cum_logprob: float, depth: int, length_alpha: float) -> float:
    """Priority of a path: cumulative log-probability, divided by depth**alpha (BFS-Prover's length
    normalisation; alpha = 0 is plain cumulative log-probability, as in ReProver)."""
    if length_alpha == 0.0 or depth == 0:
        return cum_logprob
    return cum_logprob / (depth ** length_alpha)


class SearchTree:
    """Nodes by goal list, with status propagation and proof extraction."""

    def __init__(self, root_goals: tuple[str, ...], root_state_id: int, length_alpha: float = 0.0):
        self.length_alpha = length_alpha
        self.nodes: dict[tuple[str, ...], Node] = {}
        self.root = self._new_node(root_goals, root_state_id, depth=0, cum_logprob=0.0)

    def _new_node(self, goals: tuple[str, ...], state_id: int, depth: int, cum_logprob: float) -> Node:
        node = Node(goals, state_id, depth, cum_logprob, score(cum_logprob, depth, self.length_alpha))
        if not goals:
            node.status = Status.PROVED
        self.nodes[node.key] = node
        return node

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def proved(self) -> bool:
        return self.root.status is Status.PROVED

    @property
    def failed(self) -> bool:
        return self.root.status is Status.FAILED

    def get(self, goals: tuple[str, ...]) -> Node | None:
        return self.nodes.get(tuple(goals))

    def add_edge(self, src: Node, tactic: str, goals: tuple[str, ...], state_id: int, logprob: float,
                 source: str = "model") -> tuple[Edge, bool]:
        """Record that `tactic` turns `src` into the state `goals`; returns (edge, is_new_node)."""
        goals = tuple(goals)
        depth, cum = src.depth + 1, src.cum_logprob + logprob
        dst = self.nodes.get(goals)
        is_new = dst is None
        if dst is None:
            dst = self._new_node(goals, state_id, depth, cum)
        elif score(cum, depth, self.length_alpha) > dst.priority:
            # A better path to a known state: it is now more promising (descendants keep their old scores).
            dst.depth, dst.cum_logprob = depth, cum
            dst.priority = score(cum, depth, self.length_alpha)
        edge = Edge(tactic, src, dst, logprob, source)
        src.out_edges.append(edge)
        dst.in_edges.append(edge)
        if dst.status is Status.PROVED:
            self._propagate_proved(edge)
        return edge, is_new

    def mark_expanded(self, node: Node) -> None:
        """All candidate tactics of `node` have been tried; it fails if none of them leads anywhere open."""
        node.expanded = True
        self._maybe_fail(node)

    def _propagate_proved(self, edge: Edge) -> None:
        stack = [edge]
        while stack:
            e = stack.pop()
            node = e.src
            if node.status is Status.PROVED:
                continue
            node.status, node.proof_edge = Status.PROVED, e
            stack.extend(node.in_edges)

    def _maybe_fail(self, node: Node) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if n.status is not Status.OPEN or not n.expanded:
                continue
            if all(e.dst.status is Status.FAILED for e in n.out_edges):
                n.status = Status.FAILED
                stack.extend(e.src for e in n.in_edges)

    def proof(self) -> list[str] | None:
        """The tactics from the root to a goal-free state along proof edges, or None if not proved."""
        if not self.proved:
            return None
        tactics, node = [], self.root
        while node.goals:
            assert node.proof_edge is not None
            tactics.append(node.proof_edge.tactic)
            node = node.proof_edge.dst
        return tactics

    def proof_sources(self) -> list[str]:
        """The `source` of every edge of `proof()` (which generator proposed each step)."""
        out, node = [], self.root
        while self.proved and node.goals and node.proof_edge is not None:
            out.append(node.proof_edge.source)
            node = node.proof_edge.dst
        return out

    def open_frontier(self) -> list[Node]:
        """Open, unexpanded nodes, best priority first."""
        return sorted((n for n in self.nodes.values() if n.status is Status.OPEN and not n.expanded),
                      key=lambda n: -n.priority)

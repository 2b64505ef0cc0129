"""The search graph of one theorem: proof states (nodes) joined by tactics (edges).

Invariants, kept by `SearchTree.add_edge`, `mark_expanded` and `set_aside`, and checked by
`SearchTree.check_invariants` (after every expansion when the search runs in debug mode):
- One node per distinct goal list (transposition): two tactic paths that reach the same pretty-printed goals
  share a node, so its subtree is searched once. Every edge is in its source's `out_edges` and its
  destination's `in_edges`, and both ends are nodes of the tree.
- A node is PROVED iff it has no goals, or one of its edges leads to a PROVED node; `proof_edge` is the first
  such edge, and it always points at a node that was proved earlier, so following proof edges from the root
  ends at a goal-free node (no cycles), even though the graph itself may have cycles.
- A node is FAILED iff it has been fully expanded (every candidate tried, not `cut_short`) and every edge
  leads to a FAILED node (a node with no working tactic fails at once). A node on a cycle of open nodes stays
  OPEN, and so does one set aside when the budget ran out mid-expansion: we never claim a failure we did not see.
- `priority` is `score` of the best (length-normalised) cumulative log-probability over the paths found so
  far, and `depth` the length of that path; both change only together, when a strictly better path appears.
- The frontier (open, unexpanded nodes) is a heap with lazy deletion: every frontier node has an entry with
  its current priority (or was handed out by `pop_frontier` and awaits its expansion, or was popped at the
  depth cap and waits, off the heap, for a better path); entries of expanded, closed or re-prioritised nodes are skipped when popped. Ties
  go to the node created first, so `pop_frontier` returns nodes in exactly the order of `open_frontier`
  (a stable sort by priority), without sorting on every expansion.
"""
from __future__ import annotations

import enum
import heapq
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
    cut_short: bool = False  # set aside before every candidate was tried (budget): may never be FAILED
    order: int = 0  # creation index in its tree: ties in priority go to the older node
    out_edges: list[Edge] = field(default_factory=list)
    in_edges: list[Edge] = field(default_factory=list)
    proof_edge: Edge | None = None
    history: tuple[str, ...] = ()  # the tactics of the first path that reached it (the one `state_id` came from)

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
        self._heap: list[tuple[float, int, Node]] = []  # (-priority, order, node); see the frontier invariant
        self._capped: dict[int, Node] = {}  # frontier nodes popped at the depth cap, by id (off the heap)
        self._taken: dict[int, Node] = {}  # nodes handed out by pop_frontier, not yet expanded or set aside
        self.root = self._new_node(root_goals, root_state_id, depth=0, cum_logprob=0.0)

    def _new_node(self, goals: tuple[str, ...], state_id: int, depth: int, cum_logprob: float,
                  history: tuple[str, ...] = ()) -> Node:
        node = Node(goals, state_id, depth, cum_logprob, score(cum_logprob, depth, self.length_alpha),
                    order=len(self.nodes), history=history)
        if not goals:
            node.status = Status.PROVED
        self.nodes[node.key] = node
        self._push(node)
        return node

    def _push(self, node: Node) -> None:
        if node.status is Status.OPEN and not node.expanded:
            heapq.heappush(self._heap, (-node.priority, node.order, node))

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
            dst = self._new_node(goals, state_id, depth, cum, (*src.history, tactic))
        elif score(cum, depth, self.length_alpha) > dst.priority:
            # A better path to a known state: it is now more promising (descendants keep their old scores).
            dst.depth, dst.cum_logprob = depth, cum
            dst.priority = score(cum, depth, self.length_alpha)
            self._capped.pop(id(dst), None)
            self._push(dst)  # its old entry is stale now
        edge = Edge(tactic, src, dst, logprob, source)
        src.out_edges.append(edge)
        dst.in_edges.append(edge)
        if dst.status is Status.PROVED:
            self._propagate_proved(edge)
        return edge, is_new

    def mark_expanded(self, node: Node) -> None:
        """All candidate tactics of `node` have been tried; it fails if none of them leads anywhere open."""
        node.expanded = True
        self._taken.pop(id(node), None)
        self._maybe_fail(node)

    def set_aside(self, node: Node) -> None:
        """Take `node` out of the frontier without a verdict: not every candidate was tried (the budget ran
        out), so it must never be marked FAILED."""
        node.expanded = node.cut_short = True
        self._taken.pop(id(node), None)

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
            if n.status is not Status.OPEN or not n.expanded or n.cut_short:
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
        """Open, unexpanded nodes, best priority first (ties: oldest first). A full sort: the reference order
        of `pop_frontier`, for tests and inspection."""
        return sorted((n for n in self.nodes.values() if n.status is Status.OPEN and not n.expanded),
                      key=lambda n: -n.priority)

    def pop_frontier(self, k: int, max_depth: int | None = None) -> list[Node]:
        """The first `k` nodes of `open_frontier()` whose depth is below `max_depth`, taken off the heap (the
        caller expands or sets aside each). A node at the depth cap is dropped from the heap: its depth
        only changes with a strictly better priority, which pushes it again."""
        out: list[Node] = []
        while self._heap and len(out) < k:
            neg, _, node = heapq.heappop(self._heap)
            if node.status is not Status.OPEN or node.expanded or -neg != node.priority:
                continue  # a stale entry
            if max_depth is not None and node.depth >= max_depth:
                self._capped[id(node)] = node
                continue
            out.append(node)
            self._taken[id(node)] = node
        return out

    def check_invariants(self) -> None:
        """Raise AssertionError naming the first broken invariant of the module docstring. O(size of the
        tree): for debug mode and tests, not for every production step."""
        def bad(what: str, node: Node) -> AssertionError:
            return AssertionError(f"search tree invariant broken: {what} (node {node.goals!r})")

        assert self.nodes.get(self.root.key) is self.root and self.root.depth == 0, "root not in the tree"
        live = {id(n) for n in self.nodes.values()}
        for key, n in self.nodes.items():
            if n.key != key:
                raise bad("node stored under another goal list", n)
            for e in n.out_edges:
                if e.src is not n or id(e.dst) not in live or not any(x is e for x in e.dst.in_edges):
                    raise bad(f"out-edge {e.tactic!r} not mirrored in its destination", n)
            for e in n.in_edges:
                if e.dst is not n or id(e.src) not in live or not any(x is e for x in e.src.out_edges):
                    raise bad(f"in-edge {e.tactic!r} not mirrored in its source", n)
            if n.priority != score(n.cum_logprob, n.depth, self.length_alpha):
                raise bad("priority is not the score of its best path", n)
            proved_child = any(e.dst.status is Status.PROVED for e in n.out_edges)
            if (n.status is Status.PROVED) != (not n.goals or proved_child):
                raise bad(f"status {n.status.value} disagrees with its goals and edges", n)
            if n.status is Status.PROVED and n.goals:
                pe = n.proof_edge
                if pe is None or not any(e is pe for e in n.out_edges) or pe.dst.status is not Status.PROVED:
                    raise bad("proved without a proof edge to a proved node", n)
            all_failed = all(e.dst.status is Status.FAILED for e in n.out_edges)
            should_fail = n.expanded and not n.cut_short and all_failed and n.goals
            if (n.status is Status.FAILED) != bool(should_fail and not proved_child):
                raise bad(f"status {n.status.value} disagrees with expansion and children", n)
        # proof edges form no cycle: from every proved node they reach a goal-free node
        for n in self.nodes.values():
            seen, m = set(), n
            while m.status is Status.PROVED and m.goals:
                if id(m) in seen:
                    raise bad("proof edges form a cycle", n)
                seen.add(id(m))
                m = m.proof_edge.dst  # type: ignore[union-attr]
        entries = {(id(node), -neg) for neg, _, node in self._heap}
        for n in self.nodes.values():
            if n.status is Status.OPEN and not n.expanded and (id(n), n.priority) not in entries \
                    and id(n) not in self._capped and id(n) not in self._taken:
                raise bad("frontier node without a heap entry at its priority", n)

"""A pool of warm Lean servers: start N at once, lend one per task, keep them alive between tasks.

Proof states belong to the server that made them, so a task (one theorem's search) keeps the server it
borrowed until it is done. Servers start in parallel because each takes tens of seconds on the embedded
backend. One warm spare (spare.py; `spare=`, default `$PROVER_LEAN_SPARE` or `auto`) stands in for whichever
server crashes or is killed next; it starts after the pool's servers are up.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

from .server import LeanServer
from .spare import WarmSpare, spare_mode

log = logging.getLogger(__name__)


class LeanPool:
    """`with LeanPool(2, preludes=[...]) as pool: with pool.server() as srv: srv.start(...)`"""

    def __init__(self, size: int = 1, factory: Callable[[int], LeanServer] | None = None,
                 spare: "bool | str | None" = None, **server_kwargs: Any):
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        mode = spare_mode(spare)
        self.spare = WarmSpare(lambda: LeanServer(name="lean-spare", **{**server_kwargs, "progress": False}), mode) \
            if mode != "0" and factory is None else None
        make = factory or (lambda i: LeanServer(name=f"lean{i}", spare=self.spare or False, **server_kwargs))
        self.servers: list[LeanServer] = [make(i) for i in range(size)]
        self._free: queue.Queue[LeanServer] = queue.Queue()
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> "LeanPool":
        with self._lock:
            if self._started:
                return self
            with ThreadPoolExecutor(self.size) as ex:
                list(ex.map(lambda s: s.ensure_started(), self.servers))
            for s in self.servers:
                self._free.put(s)
            self._started = True
            if self.spare is not None:
                self.spare.fill()
        return self

    def __enter__(self) -> "LeanPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def server(self, timeout: float | None = None) -> Iterator[LeanServer]:
        """Borrow a server for one task; its proof states are cleared when it comes back."""
        self.start()
        srv = self._free.get(timeout=timeout)
        try:
            yield srv
        finally:
            try:
                if srv.alive:
                    srv.clear()
            except Exception as e:  # noqa: BLE001 - a failed clear only costs memory; a broken server restarts
                log.debug("clearing %s failed (%s: %s)", srv.name, type(e).__name__, e)
            self._free.put(srv)

    def map(self, fn: Callable[[LeanServer, Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """Run `fn(server, item)` over items with one thread per server; yields results as they finish."""
        from concurrent.futures import as_completed

        def task(item: Any) -> Any:
            with self.server() as srv:
                return fn(srv, item)

        with ThreadPoolExecutor(self.size) as ex:
            futures = [ex.submit(task, it) for it in items]
            for fut in as_completed(futures):
                yield fut.result()

    def close(self) -> None:
        if self.spare is not None:
            self.spare.close()
        for s in self.servers:
            s.close()

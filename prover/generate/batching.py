"""Cross-thread batching: several searches (one thread per theorem) share one model, and their calls to
`generate` made at about the same time become one call of the model with all their requests.

    gen = BatchingGenerator(HFGenerator(path), max_batch=32, max_wait_s=0.02)
    # threads call gen.generate(...) as usual; each gets exactly its own answers
    gen.close()
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Sequence

from .base import Candidate, GeneratorStats, GoalRequest, TacticGenerator


class _Call:
    __slots__ = ("requests", "n", "arrived", "done", "result", "error")

    def __init__(self, requests: list[GoalRequest], n: int):
        self.requests = requests
        self.n = n
        self.arrived = time.monotonic()
        self.done = threading.Event()
        self.result: list[list[Candidate]] | None = None
        self.error: BaseException | None = None


class BatchingGenerator:
    """Thread-safe wrapper that merges concurrent `generate` calls into one call of `inner`.

    A background thread takes the oldest waiting call, waits until `max_wait_s` after it arrived or until
    `max_batch` requests with the same `num_samples` are waiting, and calls `inner.generate` once with their
    requests concatenated (oldest first; a single call larger than `max_batch` is never split). Each caller
    gets its own slice; an exception from `inner` is raised in every caller of that batch. Calls with a
    different `num_samples` wait for a later batch. While `inner` is busy, new calls queue up, so under
    load batches fill without waiting.

    `name` is the inner's; `stats` is a copy of the inner's with `extra` adding `batches`,
    `mean_batch_size` (requests per inner call), `mean_callers_per_batch` and `callers`.
    """

    def __init__(self, inner: TacticGenerator, max_batch: int = 32, max_wait_s: float = 0.02):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.inner = inner
        self.name = inner.name
        self.max_batch = int(max_batch)
        self.max_wait_s = float(max_wait_s)
        self._cond = threading.Condition()
        self._queue: list[_Call] = []
        self._closed = False
        self._batches = 0
        self._batched_requests = 0
        self._batched_callers = 0
        self._callers = 0
        self._thread = threading.Thread(target=self._loop, name=f"batching-{self.name}", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> GeneratorStats:
        s = self.inner.stats
        with self._cond:
            b = self._batches
            extra = {"batches": b, "mean_batch_size": self._batched_requests / b if b else 0.0,
                     "mean_callers_per_batch": self._batched_callers / b if b else 0.0, "callers": self._callers}
        return dataclasses.replace(s, extra={**s.extra, **extra})

    def generate(self, requests: Sequence[GoalRequest], num_samples: int) -> list[list[Candidate]]:
        call = _Call(list(requests), num_samples)
        if not call.requests:
            return []
        with self._cond:
            if self._closed:
                raise RuntimeError(f"BatchingGenerator({self.name}) is closed")
            self._callers += 1
            self._queue.append(call)
            self._cond.notify_all()
        call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _take_batch(self) -> list[_Call] | None:
        """Wait for a batch and remove it from the queue (None once closed)."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            first = self._queue[0]
            deadline = first.arrived + self.max_wait_s
            while not self._closed:
                waiting = sum(len(c.requests) for c in self._queue if c.n == first.n)
                remaining = deadline - time.monotonic()
                if waiting >= self.max_batch or remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch, rest, total, full = [], [], 0, False
            for c in self._queue:
                if c.n == first.n and not full and (not batch or total + len(c.requests) <= self.max_batch):
                    batch.append(c)
                    total += len(c.requests)
                else:
                    full = full or c.n == first.n  # keep FIFO order within a num_samples group
                    rest.append(c)
            self._queue = rest
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                break
            union = [r for c in batch for r in c.requests]
            try:
                out = self.inner.generate(union, batch[0].n)
                if len(out) != len(union):
                    raise RuntimeError(f"generator {self.inner.name!r} returned {len(out)} answers for "
                                       f"{len(union)} requests")
                i = 0
                for c in batch:
                    c.result = list(out[i:i + len(c.requests)])
                    i += len(c.requests)
            except BaseException as e:  # every caller of the batch sees it; the thread keeps serving
                for c in batch:
                    c.error = e
            finally:
                with self._cond:
                    self._batches += 1
                    self._batched_requests += len(union)
                    self._batched_callers += len(batch)
                for c in batch:
                    c.done.set()
        with self._cond:  # closed: fail whatever still waits
            pending, self._queue = self._queue, []
        for c in pending:
            c.error = RuntimeError(f"BatchingGenerator({self.name}) was closed")
            c.done.set()

    def close(self, timeout: float | None = None) -> None:
        """Stop the background thread (a batch already running finishes first; queued calls fail)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> "BatchingGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BatchingGenerator({self.inner!r}, max_batch={self.max_batch}, max_wait_s={self.max_wait_s})"

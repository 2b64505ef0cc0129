"""A warm spare: one extra Lean server process kept started, so a crash or a wall-clock kill costs a swap
(milliseconds), not a start-up (tens of seconds).

`WarmSpare(make)` holds at most one started server made by `make()` (same backend, imports and preludes as the
servers it stands in for, warm-up done). `take()` hands it over and refills in a background thread; the taker
adopts its process (`LeanServer._adopt`). One spare may serve a whole pool.

Modes (`PROVER_LEAN_SPARE`, or the `spare=` argument of `LeanServer`, `LeanPool` and the daemon):
- `0`: no spare (one process per server; what a laptop with little memory wants).
- `1`: always keep a spare.
- `auto` (the default of pools, the daemon and `prover prove`): keep one when the machine has room, i.e. at
  refill time `MemAvailable` is at least `PROVER_LEAN_SPARE_MIN_FREE_MB` (default 6000: a server's ~3-4 GB
  plus headroom). A plain `LeanServer()` has no spare unless asked.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from .. import settings

if TYPE_CHECKING:
    from .server import LeanServer

log = logging.getLogger(__name__)
MODES = ("0", "1", "auto")


def spare_mode(value: "bool | str | None") -> str:
    """Normalise a spare setting; None means `$PROVER_LEAN_SPARE`, default `auto`."""
    if value is None:
        value = settings.lean_spare()
    if value is True:
        return "1"
    if value is False:
        return "0"
    v = str(value).strip().lower()
    v = {"on": "1", "true": "1", "yes": "1", "off": "0", "false": "0", "no": "0"}.get(v, v)
    if v not in MODES:
        raise ValueError(f"bad spare setting {value!r}: expected one of {', '.join(MODES)}")
    return v


def mem_available_mb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def room_for_spare() -> bool:
    need = settings.spare_min_free_mb()
    have = mem_available_mb()
    return have is None or have >= need


class WarmSpare:
    """At most one started spare server; refilled in the background after each `take`. Thread-safe."""

    def __init__(self, make: Callable[[], "LeanServer"], mode: str = "1"):
        self.make, self.mode = make, spare_mode(mode)
        self._ready: "LeanServer | None" = None
        self._filling: threading.Thread | None = None
        self._starting: "LeanServer | None" = None
        self._cond = threading.Condition()
        self._closed = False
        self.error: BaseException | None = None  # the last refill's failure (then take() returns None)
        self.skipped_for_memory = 0
        self.fills = 0
        self.fill_seconds: list[float] = []

    @property
    def enabled(self) -> bool:
        return self.mode != "0"

    @property
    def ready(self) -> bool:
        return self._ready is not None

    def fill(self) -> None:
        """Start a spare in the background unless one is ready or starting (or memory is short in `auto`)."""
        with self._cond:
            if self._closed or not self.enabled or self._ready is not None or self._filling is not None:
                return
            if self.mode == "auto" and not room_for_spare():
                self.skipped_for_memory += 1
                return
            self._filling = threading.Thread(target=self._fill, name="lean-spare", daemon=True)
            self._filling.start()

    def _fill(self) -> None:
        t0 = time.monotonic()
        srv = None
        try:
            srv = self._starting = self.make()
            srv.ensure_started()
        except BaseException as e:  # reported through take(); the live server then starts its own process
            self.error = e
            if srv is not None:
                srv.close()
            srv = None
            if not self._closed:  # (closing kills a spare that is still starting)
                log.warning("the warm spare did not start: %s", e)
        with self._cond:
            self._filling = self._starting = None
            if srv is not None:
                if self._closed:
                    srv.close()
                else:
                    self._ready, self.error = srv, None
                    self.fills += 1
                    self.fill_seconds.append(time.monotonic() - t0)
            self._cond.notify_all()

    def take(self, wait: float = 0.0) -> "LeanServer | None":
        """The ready spare (waiting up to `wait` s for one that is starting), or None; then refill."""
        deadline = time.monotonic() + wait
        with self._cond:
            while self._ready is None and self._filling is not None and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 1.0))
            srv, self._ready = self._ready, None
        if srv is not None and not srv.alive:  # died while waiting (killed from outside): useless
            srv.close()
            srv = None
        self.fill()
        return srv

    @property
    def pid(self) -> int | None:
        srv = self._ready
        return srv.pid if srv is not None else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            srv, self._ready = self._ready, None
            starting = self._starting
        if srv is not None:
            srv.close()
        if starting is not None:
            # Still starting: kill its process now (its start-up then fails and the refill thread cleans up).
            starting._kill()

"""Logging set-up for the command-line entry points (library modules only do `log = logging.getLogger(__name__)`).

Diagnostics (what is starting, what was retried, what went wrong but did not stop the run) go through
`logging`; what a command is for (summary tables, result paths, a check's verdicts) is printed. The level is
`PROVER_LOG_LEVEL` (DEBUG, INFO, WARNING, ...; default INFO), read when `setup_logging` is called.
"""
from __future__ import annotations

import logging
import sys

from . import settings

ENV_LEVEL = "PROVER_LOG_LEVEL"


class _Format(logging.Formatter):
    """INFO lines as plain text (they read like the messages they replaced); others name level and module."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)  # the message (and a traceback, if any)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()} {record.name}: {text}"


def setup_logging(level: str | int | None = None) -> None:
    """One stderr handler on the root logger (once per process; later calls only set the level). `level`
    overrides PROVER_LOG_LEVEL. A bad level name is an error naming it."""
    level = level if level is not None else settings.log_level()
    if isinstance(level, str):
        name = level.strip().upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(f"{ENV_LEVEL}={level!r} is not a logging level (DEBUG, INFO, WARNING, ERROR)")
        level = logging.getLevelName(name)
    root = logging.getLogger()
    if not any(getattr(h, "_prover", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Format())
        handler._prover = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "datasets", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

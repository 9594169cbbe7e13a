"""structlog set-up: one JSON object per line on stdout, or a console format.

Monerosim keeps each process's stdout as its log, so that is where the lines
go.  Stable keys: `timestamp` (Unix seconds from `time.time()`, simulated
under Shadow), `level`, `event` (a machine name such as ``transition``),
`message` (human text that carries the phrases Monerosim's scripts grep),
`agent_id`, then whatever context the step has bound.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import structlog

LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARNING": logging.WARNING, "WARN": logging.WARNING, "ERROR": logging.ERROR,
          "CRITICAL": logging.CRITICAL}

#: Keys first in every JSON line, in this order; the rest follow sorted.
_LEADING = ("timestamp", "level", "event", "message", "agent_id", "state")
#: Keys that must never reach a log line.
_SECRETS = frozenset({"password", "spend_key", "view_key", "seed", "mnemonic", "tx_key", "tx_metadata"})


def _add_timestamp(_logger: Any, _name: str, event: dict) -> dict:
    event.setdefault("timestamp", round(time.time(), 6))
    return event


def _drop_secrets(_logger: Any, _name: str, event: dict) -> dict:
    for key in _SECRETS.intersection(event):
        event[key] = "[redacted]"
    return event


def _order_keys(_logger: Any, _name: str, event: dict) -> dict:
    ordered = {k: event.pop(k) for k in _LEADING if k in event}
    ordered.update(sorted(event.items()))
    return ordered


def configure(level: str = "INFO", *, console: bool = False, stream: TextIO | None = None) -> None:
    """Route structlog to `stream` (stdout); JSON lines unless `console` is asked for."""
    out = stream or sys.stdout
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if console
                     else structlog.processors.JSONRenderer(sort_keys=False, default=str))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_timestamp,
            _drop_secrets,
            structlog.processors.format_exc_info,
            _order_keys,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # `transitions` logs one INFO line per callback through stdlib logging.
    logging.getLogger("transitions").setLevel(logging.WARNING)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)

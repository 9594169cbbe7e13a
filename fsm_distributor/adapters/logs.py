"""structlog set-up: one JSON object per line on stdout, or a console format.

Monerosim keeps each process's stdout as its log, so that is where the lines
go.  Stable keys: `timestamp` (Unix seconds from `time.time()`, simulated
under Shadow), `level`, `event` (a machine name such as ``transition``),
`message` (human text that carries the phrases Monerosim's scripts grep),
`agent_id`, then whatever context the step has bound.

Logging never ends the agent: a line that cannot be written (a full disk,
a closed pipe) makes the output fall back to stderr, then to nothing, and
the agent goes on paying and recording (`FallbackOutput`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Optional, Sequence, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARNING": logging.WARNING, "WARN": logging.WARNING, "ERROR": logging.ERROR,
          "CRITICAL": logging.CRITICAL}

#: Keys first in every JSON line, in this order; the rest follow sorted.
_LEADING = ("timestamp", "level", "event", "message", "agent_id", "state")
#: Keys that must never reach a log line.
_SECRETS = frozenset({"password", "spend_key", "view_key", "seed", "mnemonic", "tx_key", "tx_metadata"})


def _drop_secrets(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key in _SECRETS.intersection(event):
        event[key] = "[redacted]"
    return event


def _order_keys(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    ordered = {k: event.pop(k) for k in _LEADING if k in event}
    ordered.update(sorted(event.items()))
    return ordered


class FallbackOutput:
    """Writes each line to the first stream that still works: stdout, then stderr, then nowhere.

    A stream whose write or flush raises (OSError: ENOSPC, EPIPE, EIO; ValueError:
    closed) is given up for good, and the descriptor under it is pointed at
    /dev/null so that nothing else fails on it either (the interpreter's own
    flush of a dead stdout at exit, which would print a traceback and end
    with status 120).  The next stream gets one line saying what happened.
    """

    def __init__(self, streams: Sequence[TextIO]):
        self._streams = list(streams)
        self.failures: list[str] = []
        #: Keys every line carries (the CLI adds `agent_id`), for the line this output writes itself.
        self.context: dict[str, Any] = {}

    def write_line(self, line: str) -> None:
        while self._streams:
            stream = self._streams[0]
            try:
                stream.write(line + "\n")
                stream.flush()
                return
            except (OSError, ValueError) as exc:
                self._give_up(stream, exc)
                line = self._note(stream, exc) + "\n" + line

    def _give_up(self, stream: TextIO, exc: BaseException) -> None:
        self._streams.pop(0)
        self.failures.append(f"{_name(stream)}: {type(exc).__name__}: {exc}")
        _silence(stream)

    def _note(self, stream: TextIO, exc: BaseException) -> str:
        later = _name(self._streams[0]) if self._streams else "nowhere"
        return json.dumps({"timestamp": round(time.time(), 6), "level": "error", "event": "log_output_failed",
                           "message": f"Cannot write the log to {_name(stream)} ({type(exc).__name__}: {exc}); "
                                      f"logging to {later} from now on", **self.context, "failed": _name(stream)},
                          default=str)


def _name(stream: TextIO) -> str:
    return str(getattr(stream, "name", None) or type(stream).__name__)


def _silence(stream: TextIO) -> None:
    """Point the stream's descriptor at /dev/null; then drop what it still buffers."""
    try:
        fd: Optional[int] = stream.fileno()
    except (OSError, ValueError, AttributeError):
        fd = None
    if fd is not None:
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
        except OSError:
            pass
    try:
        stream.flush()  # into /dev/null now; what cannot be flushed is lost either way
    except (OSError, ValueError):
        pass


class SafeLogger:
    """structlog's PrintLogger, writing through a `FallbackOutput` (one write per line)."""

    def __init__(self, output: FallbackOutput):
        self._output = output

    def msg(self, message: str) -> None:
        self._output.write_line(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def configure(level: str = "INFO", *, console: bool = False, stream: TextIO | None = None,
              fallback: TextIO | None = None) -> FallbackOutput:
    """Route structlog to `stream` (stdout), else `fallback` (stderr); JSON lines unless `console`.

    Returns the output, whose `failures` say which streams were given up.
    """
    output = FallbackOutput([stream or sys.stdout, fallback or sys.stderr])
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if console
                     else structlog.processors.JSONRenderer(sort_keys=False, default=str))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt=None),  # Unix seconds from time.time(): Shadow's clock
            _drop_secrets,
            structlog.processors.format_exc_info,
            _order_keys,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level.upper(), logging.INFO)),
        logger_factory=lambda *_args: SafeLogger(output),
        cache_logger_on_first_use=False,
    )
    # `transitions` logs one INFO line per callback through stdlib logging.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    return output


def say(line: str) -> None:
    """One line on stderr before logging is set up (a refusal at start-up); never raises."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _silence(sys.stderr)


def get_logger(**context: Any) -> Any:
    return structlog.get_logger().bind(**context)

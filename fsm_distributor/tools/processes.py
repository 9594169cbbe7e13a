"""Stopping the processes a tool started, by their PIDs: SIGTERM, a wait, then SIGKILL."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from typing import Sequence

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL


def stop_processes(procs: Sequence[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every live process by PID, wait up to `timeout`, SIGKILL the rest."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in live:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM; sending SIGKILL", p.pid)
            p.kill()
            p.wait(10)

"""The agent as a child process, started the way Monerosim's wrapper starts it, read line by line.

Shared by the tests that run the real command line (tests/test_cli.py,
tests/test_startup.py).  Every line on stdout must be a JSON object with
the stable keys; every process is killed by its PID in the caller's `finally`.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "fsm_distributor"
REQUIRED_KEYS = ("timestamp", "level", "event", "message", "agent_id")


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MONEROSIM_SHARED_DIR", "SIMULATION_SEED", "MONEROSIM_LOG_LEVEL")}
    env.update(PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class AgentProcess:
    """A running agent whose stdout is read line by line, each line checked to be a JSON object."""

    def __init__(self, argv: list[str], *, env: dict, cwd: Path | str):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.events: list[dict] = []
        self._buf = b""
        self.stderr = ""

    def _take_lines(self) -> None:
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            event = json.loads(line)  # every stdout line must be JSON ...
            assert isinstance(event, dict), line  # ... and an object
            missing = [k for k in REQUIRED_KEYS if k not in event]
            assert not missing, f"{missing} missing in {line!r}"
            self.events.append(event)

    def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        """The first event (seen already or arriving within `timeout`) for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        checked = 0
        fd = self.proc.stdout.fileno()
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event within {timeout}s; got {self.events}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"agent exited ({self.proc.wait()}) before the event; "
                                         f"stderr: {self.proc.stderr.read().decode()}; got {self.events}")
                self._buf += chunk
                self._take_lines()

    def finish(self, timeout: float) -> int:
        """Wait for the exit, read what is left, check every line."""
        out, err = self.proc.communicate(timeout=timeout)
        self._buf += out
        if self._buf and not self._buf.endswith(b"\n"):
            raise AssertionError(f"unterminated last line {self._buf!r}")
        self._take_lines()
        self.stderr = err.decode()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=5)
        except (ValueError, subprocess.TimeoutExpired):
            pass

    def stop_when_idle(self, signum: int) -> tuple[int, float]:
        """Wait until the agent sleeps in Idle, send `signum`; return (status, seconds to exit)."""
        self.wait_for(idle_sleep)
        sent = time.monotonic()
        self.proc.send_signal(signum)
        status = self.finish(timeout=10)
        return status, time.monotonic() - sent

    def first(self, event_name: str) -> dict:
        return next(e for e in self.events if e["event"] == event_name)


def idle_sleep(event: dict) -> bool:
    return event["event"] == "transition" and event.get("to") == "Idle" and event.get("delay", 0) > 0


def module_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def assert_stopped_cleanly(agent: AgentProcess, status: int, took: float) -> None:
    assert status == 0, agent.stderr
    assert took < 1.0
    transitions = [e for e in agent.events if e["event"] == "transition"]
    assert transitions[-1]["to"] == "Stopped" and transitions[-1]["trigger"] == "shutdown"
    assert agent.events[-1]["event"] == "agent_stopped"
    assert agent.stderr == ""


def closed_port() -> int:
    """A loopback port picked by the kernel and closed again: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_argv(shared_dir, agent_id: str = "distributor", *extra: str) -> list[str]:
    """The dotted form Monerosim uses, cycling every second."""
    return module_cmd("fsm_distributor.cli", "--id", agent_id, "--shared-dir", str(shared_dir), "--log-level", "DEBUG",
                      "--attributes", "balance_check_interval", "1", "--attributes", "transaction_frequency", "1",
                      *extra)

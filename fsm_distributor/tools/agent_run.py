"""The agent as a child process, started exactly as Monerosim starts it, and its log lines read back.

Used by the sandbox, the regtest launcher's hint and the tests.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Mapping, Optional

from fsm_distributor.tools.processes import stop_processes

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout: fsm_distributor/tools/agent_run.py
#: The sandbox's agent attributes when no scenario gives any.
DEFAULT_ATTRIBUTES = {
    "transaction_frequency": "1",
    "min_transaction_amount": "0.1",
    "max_transaction_amount": "1.0",
    "miner_selection_strategy": "weighted",
    "transaction_priority": "1",
    "max_retries": "3",
    "recipient_selection": "random",
    "balance_check_interval": "2",
}


def agent_command(agent_id: str, shared_dir: Path, attributes: Mapping[str, str],
                  python: str = "python3") -> list[str]:
    """The argv Monerosim generates for a distributor entry (attributes sorted by key)."""
    argv = [python, "-m", "fsm_distributor", "--id", agent_id, "--shared-dir", str(shared_dir),
            "--log-level", "DEBUG"]
    for key in sorted(attributes):
        argv += ["--attributes", key, str(attributes[key])]
    return argv


def agent_env(shared_dir: Path, seed: int, base: Optional[Mapping[str, str]] = None) -> dict:
    """Monerosim's environment for an agent, with this checkout first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    path = [str(PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update(SIMULATION_SEED=str(seed), MONEROSIM_SHARED_DIR=str(shared_dir),
               PYTHONHASHSEED="0", PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(path))
    return env


class AgentProcess:
    """The agent as a child process; a thread copies its output to a log file and a queue."""

    def __init__(self, argv: list[str], env: dict, log_path: Path, cwd: Path):
        self.argv, self.env, self.log_path, self.cwd = argv, env, log_path, cwd
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.process: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None

    def start(self) -> None:
        # stderr joins stdout as in Monerosim's wrapper (`2>&1`)
        process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.process = process
        self._reader = threading.Thread(target=self._copy, args=(process,), daemon=True)
        self._reader.start()

    def _copy(self, process: subprocess.Popen) -> None:
        if process.stdout is None:  # never: stdout=PIPE
            return
        with open(self.log_path, "ab") as out:
            for raw in process.stdout:
                out.write(raw)
                out.flush()
                self.lines.put(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def _started(self) -> subprocess.Popen:
        if self.process is None:
            raise RuntimeError("the agent process has not been started")
        return self.process

    @property
    def pid(self) -> int:
        return self._started().pid

    def poll(self) -> Optional[int]:
        return self._started().poll()

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM (the agent should leave its step and exit 0), then SIGKILL."""
        if self.process is not None:
            stop_processes([self.process], timeout=timeout)
            if self._reader is not None:
                self._reader.join(5)
            return self.process.returncode
        return None


def parse_line(line: str) -> Optional[dict]:
    """A log line as a dict, or None for anything that is not a JSON object."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None

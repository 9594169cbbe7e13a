"""The agent on the test network, started as Monerosim starts it, and read as it runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Optional

from fsm_distributor.tools.sandbox import AgentProcess, agent_command, agent_env, parse_line, read_records

from .conftest import MINERS


class Agent:
    """One agent process: its JSON log lines (`log`), its records, and waits on them.

    `until` fails the test if the agent exits on its own (it never should),
    unless the test expects that (a crash hook).
    """

    def __init__(self, net, workdir: Path, agent_id: str, attributes: Mapping[str, str], *, seed: int = 7,
                 env: Optional[Mapping[str, str]] = None):
        self.net, self.id = net, agent_id
        self.log: list[dict] = []
        environ = agent_env(net.shared_dir, seed)
        environ.update(env or {})
        self.process = AgentProcess(agent_command(agent_id, net.shared_dir, attributes, python=sys.executable),
                                    environ, workdir / f"{agent_id}.log", workdir)
        self.started = time.monotonic()
        self.process.start()

    def read(self) -> None:
        while not self.process.lines.empty():
            obj = parse_line(self.process.lines.get_nowait())
            if obj:
                self.log.append(obj)

    def events(self, name: str) -> list[dict]:
        self.read()
        return [e for e in self.log if e.get("event") == name]

    @property
    def records(self) -> list[dict]:
        return [r for r in read_records(self.net.shared_dir) if r.get("distributor_id") == self.id]

    def until(self, predicate: Callable[[], object], timeout: float = 60.0, *, may_exit: bool = False) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if predicate():
                return True
            if self.process.poll() is not None:
                assert may_exit, f"the agent exited on its own ({self.process.poll()}): {self.tail()}"
                self.read()
                return bool(predicate())
            time.sleep(0.03)
        return False

    def wait_for(self, event: str, timeout: float = 60.0) -> dict:
        assert self.until(lambda: self.events(event), timeout), f"no {event} in {timeout}s: {self.tail()}"
        return self.events(event)[0]

    def exit_status(self, timeout: float = 60.0) -> int:
        """For a run expected to end by itself (the test-only crash hook)."""
        assert self.until(lambda: self.process.poll() is not None, timeout, may_exit=True), \
            f"still running after {timeout}s: {self.tail()}"
        return self.process.poll()

    def sigkill(self) -> bool:
        """Kill the agent by its PID at once, as Shadow or a crash may; True if it was running."""
        running = self.process.poll() is None
        if running:
            self.process.process.kill()
        self.process.process.wait(10)
        return running

    def stop(self) -> int:
        """SIGTERM (then SIGKILL if it hangs); the agent's exit status."""
        status = self.process.stop()
        self.read()
        return status

    def tail(self, n: int = 6) -> list:
        return [e.get("message") for e in self.log[-n:]]


def outgoing(net) -> dict[str, str]:
    """tx_hash -> miner, for every transaction the miners' wallets have sent (unconfirmed included)."""
    sent = {}
    for miner, _ in MINERS:
        wallet = net.wallet(miner)
        wallet.refresh()
        # out: confirmed; pending: own, unconfirmed; failed. ("pool" is *incoming* unconfirmed.)
        answer = wallet.call("get_transfers", {"out": True, "pending": True, "failed": True})
        for kind in ("out", "pending", "failed"):
            for tx in answer.get(kind, []):
                sent[tx["txid"]] = miner
    return sent

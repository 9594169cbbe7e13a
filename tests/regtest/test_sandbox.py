"""The main job stopped with Ctrl-C mid-run leaves nothing running (checked by PID)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import binaries_missing

pytestmark = pytest.mark.regtest

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_ctrl_c_of_the_sandbox_stops_daemon_wallets_and_agent(tmp_path):
    if binaries_missing():
        pytest.fail("needs monero")
    workdir = tmp_path / "sb"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "fsm_distributor", "sandbox", "--miners", "1", "--users", "2",
         "--transactions", "500", "--coinbase-blocks", "20", "--workdir", str(workdir), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        agent_log = workdir / "agent.log"
        # mid-run: the agent is up and has made its first transitions
        while time.monotonic() < deadline and not (agent_log.exists() and b'"transition"' in agent_log.read_bytes()):
            assert sandbox.poll() is None, sandbox.stdout.read()
            time.sleep(0.1)
        assert agent_log.exists() and b'"agent_started"' in agent_log.read_bytes(), "the agent never started"
        network = json.loads((workdir / "network.json").read_text())
        pids = [network["daemon_pid"]] + [w["pid"] for w in network["wallets"].values()]
        agent_pids = {json.loads(line).get("pid") for line in agent_log.read_text().splitlines()
                      if '"agent_started"' in line}
        pids += [p for p in agent_pids if p]
        assert all(alive(p) for p in pids)
        sandbox.send_signal(signal.SIGINT)
        status = sandbox.wait(60)
    finally:
        if sandbox.poll() is None:
            os.killpg(sandbox.pid, signal.SIGKILL)
            sandbox.wait(10)
    assert status == 130
    assert [p for p in pids if alive(p)] == [], "left running after Ctrl-C"

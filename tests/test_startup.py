"""Start-up of the real command line: one agent per id.

Each test runs the agent as Monerosim does (`python3 -m fsm_distributor.cli`)
over a shared directory whose registry names wallets on a loopback port
nothing listens on, so the agent runs its cycles without paying anyone.
Every process is stopped by its PID in a `finally`.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import pytest
from agent_processes import ROOT, AgentProcess, clean_env, module_cmd

from fsm_distributor.instance_lock import lock_path


def closed_port() -> int:
    """A loopback port picked by the kernel and closed again: connections to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shared(tmp_path):
    """A registry with one miner and two users, all wallets unreachable."""
    port = closed_port()
    agents = [{"id": "miner001", "ip_addr": "127.0.0.1", "wallet_rpc_port": port, "wallet": True,
               "attributes": {"is_miner": "true"}}]
    agents += [{"id": f"user00{i}", "ip_addr": "127.0.0.1", "wallet_rpc_port": port, "wallet": True,
                "attributes": {"can_receive_distributions": "true"}} for i in (1, 2)]
    (tmp_path / "agent_registry.json").write_text(json.dumps({"agents": agents}))
    (tmp_path / "miners.json").write_text(json.dumps({"miners": [{"agent_id": "miner001", "weight": 100}]}))
    return tmp_path


def agent_argv(shared, agent_id: str = "distributor", *extra: str) -> list[str]:
    return module_cmd("fsm_distributor.cli", "--id", agent_id, "--shared-dir", str(shared), "--log-level", "DEBUG",
                      "--attributes", "balance_check_interval", "1", "--attributes", "transaction_frequency", "1",
                      *extra)


def start(shared, agent_id: str = "distributor") -> AgentProcess:
    return AgentProcess(agent_argv(shared, agent_id), env=clean_env(PYTHONPATH=str(ROOT)), cwd=shared)


def started(agent: AgentProcess) -> dict:
    return agent.wait_for(lambda e: e["event"] == "agent_started")


def refused(shared, agent_id: str = "distributor") -> tuple[int, str, str]:
    proc = subprocess.Popen(agent_argv(shared, agent_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return proc.returncode, out.decode(), err.decode()


# ---------------------------------------------------------------- one agent per id


@pytest.mark.timeout(90)
def test_a_second_agent_with_the_same_id_exits_2_naming_id_lock_and_holder(shared):
    first = start(shared)
    others = []
    try:
        event = started(first)
        path = lock_path(shared, "distributor")
        assert event["lock"] == str(path) and event["pid"] == first.proc.pid
        # The first one really runs its cycles (selects the miner, finds it unreachable).
        first.wait_for(lambda e: e["event"] == "miner_cooldown")

        status, out, err = refused(shared)
        assert status == 2 and out == ""
        assert err == (f"fsm_distributor: refusing to start: another agent with id 'distributor' is running "
                       f"(pid {first.proc.pid} holds {path}); accepted: one agent per id\n")
        # ... and touched nothing of the first one's: its journal is its own, the lock still names it.
        assert path.read_text() == f"{first.proc.pid}\n"

        # Another id is another agent: it starts beside the first.
        others.append(start(shared, "distributor2"))
        assert started(others[-1])["lock"] == str(lock_path(shared, "distributor2"))

        # SIGKILL leaves no stale lock: the kernel drops it with the process.
        first.proc.kill()
        first.proc.wait(10)
        others.append(start(shared))
        assert started(others[-1])["pid"] == others[-1].proc.pid
        assert path.read_text() == f"{others[-1].proc.pid}\n"
        for agent in others:
            status, _ = agent.stop_when_idle(signal.SIGTERM)
            assert status == 0, agent.stderr
    finally:
        for agent in [first, *others]:
            agent.kill()


@pytest.mark.timeout(30)
def test_a_shared_dir_that_does_not_exist_is_refused_at_start_up(tmp_path):
    status, out, err = refused(tmp_path / "missing")
    assert status == 2 and out == ""
    lock = tmp_path / "missing" / "distributor_distributor.lock"
    assert err == (f"fsm_distributor: refusing to start: cannot create the agent lock {lock}: "
                   f"No such file or directory; accepted: an existing, writable shared directory\n")

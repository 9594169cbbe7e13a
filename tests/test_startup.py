"""Start-up of the real command line: one agent per id.

Each test runs the agent as Monerosim does (`python3 -m fsm_distributor.cli`)
over a shared directory whose registry names wallets on a loopback port
nothing listens on (conftest's `unreachable_registry`), so the agent runs its
cycles without paying anyone.
Every process is stopped by its PID in a `finally`.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
from agent_processes import ROOT, AgentProcess, agent_argv, clean_env

from fsm_distributor.instance_lock import lock_path


def start(shared_dir, agent_id: str = "distributor") -> AgentProcess:
    return AgentProcess(agent_argv(shared_dir, agent_id), env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)


def started(agent: AgentProcess) -> dict:
    return agent.wait_for(lambda e: e["event"] == "agent_started")


def refused(shared_dir, agent_id: str = "distributor") -> tuple[int, str, str]:
    proc = subprocess.Popen(agent_argv(shared_dir, agent_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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
def test_a_second_agent_with_the_same_id_exits_2_naming_id_lock_and_holder(unreachable_registry):
    first = start(unreachable_registry)
    others = []
    try:
        event = started(first)
        path = lock_path(unreachable_registry, "distributor")
        assert event["lock"] == str(path) and event["pid"] == first.proc.pid
        # The first one really runs its cycles (selects the miner, finds it unreachable).
        first.wait_for(lambda e: e["event"] == "miner_cooldown")

        status, out, err = refused(unreachable_registry)
        assert status == 2 and out == ""
        assert err == (f"fsm_distributor: refusing to start: another agent with id 'distributor' is running "
                       f"(pid {first.proc.pid} holds {path}); accepted: one agent per id\n")
        # ... and touched nothing of the first one's: its journal is its own, the lock still names it.
        assert path.read_text() == f"{first.proc.pid}\n"

        # Another id is another agent: it starts beside the first.
        others.append(start(unreachable_registry, "distributor2"))
        assert started(others[-1])["lock"] == str(lock_path(unreachable_registry, "distributor2"))

        # SIGKILL leaves no stale lock: the kernel drops it with the process.
        first.proc.kill()
        first.proc.wait(10)
        others.append(start(unreachable_registry))
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

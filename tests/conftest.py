import json
import os
import sys

import pytest
import structlog

sys.path.insert(0, os.path.dirname(__file__))

import agent_processes  # noqa: E402

from fsm_distributor.adapters import logs  # noqa: E402

# The agent's own JSON set-up, written nowhere: tests read logs with capture_logs().
logs.configure("DEBUG", stream=open(os.devnull, "w"))


@pytest.fixture(autouse=True)
def _fresh_log_context():
    """Each test starts without context bound by an earlier one."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def unreachable_registry(tmp_path):
    """A shared dir whose registry has one miner and two users, all wallets on a closed loopback port."""
    port = agent_processes.closed_port()
    agents = [{"id": "miner001", "ip_addr": "127.0.0.1", "wallet_rpc_port": port, "wallet": True,
               "attributes": {"is_miner": "true"}}]
    agents += [{"id": f"user00{i}", "ip_addr": "127.0.0.1", "wallet_rpc_port": port, "wallet": True,
                "attributes": {"can_receive_distributions": "true"}} for i in (1, 2)]
    (tmp_path / "agent_registry.json").write_text(json.dumps({"agents": agents}))
    (tmp_path / "miners.json").write_text(json.dumps({"miners": [{"agent_id": "miner001", "weight": 100}]}))
    return tmp_path

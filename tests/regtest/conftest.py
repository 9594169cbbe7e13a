"""One real regtest network for the whole regtest suite.

Starting monerod and a wallet-rpc per agent costs 1-3 CPU-seconds per wallet
on two cores, so the network is session-scoped: 2 miners (60/40) and 30 users,
enough for the funding tests.  Tests that need a network of another shape
(locked coinbase, bind failures) build their own tiny ones.  Modules run in an
order that keeps each one's assumptions true: the launcher's checks of a fresh
network first, then funding, crash and agent runs, each of which mines fresh
outputs for the miners before it starts (`fresh_outputs`).
"""

from __future__ import annotations

import shutil

import pytest

from fsm_distributor.tools.regtest import RegtestNetwork
from fsm_distributor.tools.sandbox import DEFAULT_ATTRIBUTES

MINERS = [("miner001", 60), ("miner002", 40)]
USERS = 30
ORDER = ("test_sandbox", "test_scenario_onchain", "test_network", "test_funding_onchain", "test_crash", "test_faults",
         "test_verification", "test_agent_onchain", "test_multisig_onchain", "test_schedule_onchain", "test_network_aware",
         "test_durability", "test_faketime")


def binaries_missing() -> bool:
    return shutil.which("monerod") is None or shutil.which("monero-wallet-rpc") is None


def _rank(item) -> int:
    for i, name in enumerate(ORDER):
        if f"/{name}.py" in item.nodeid or item.nodeid.startswith(f"{name}.py"):
            return i
    return -1


def pytest_collection_modifyitems(config, items):
    # stable sort: later modules spend the miners' outputs and pay the users
    items.sort(key=_rank)


@pytest.fixture(scope="session")
def network(tmp_path_factory):
    if binaries_missing():
        pytest.fail("needs monerod and monero-wallet-rpc: apt-get update && apt-get install -y monero")
    net = RegtestNetwork(tmp_path_factory.mktemp("regtest"), miners=MINERS, users=USERS,
                         coinbase_blocks=80, miners_receive=False, distributor_attributes=DEFAULT_ATTRIBUTES)
    net.start()
    yield net
    net.stop()
    # checked by PID: every monerod/wallet-rpc this network ever started is gone
    assert net.pids and not net.alive_pids(), f"left running after teardown: {net.alive_pids()}"


@pytest.fixture(scope="module")
def fresh_outputs(network):
    """60 new unlocked coinbase outputs for the miners, by weight (each send spends ~2, and change
    stays locked for 10 blocks): their blocks, then 60 more to a user so those unlock."""
    network.mine(60)
    network.mine(60, to_agent=network.users[-1].id)
    network.refresh([m for m, _ in MINERS])
    return network

"""Verification on the real chain: pool -> confirmed, and a double-spent transaction -> failed.

For the failure case another tool (this test) holds a signed, unrelayed sweep
of the very outputs the agent is about to spend; once the agent's payment is
recorded, the test drops it from the pool, broadcasts the sweep and mines it.
The sender's wallet keeps calling the payment "pending" (seen on 0.18); the
agent must still find out, from the miner's daemon (its inputs' key images are
spent in a block), that it failed.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from fsm_distributor.adapters.journal import read_journal
from fsm_distributor.tools.sandbox import read_records

from .agent import Agent
from .conftest import MINERS

pytestmark = pytest.mark.regtest

ATTRS = {"min_transaction_amount": "0.1", "max_transaction_amount": "0.3", "transaction_priority": "1",
         "initial_funding": "false", "transaction_frequency": "3600", "balance_check_interval": "1",
         "verification_interval": "1", "confirmations_required": "1"}


@pytest.fixture(scope="module")
def net(fresh_outputs):
    return fresh_outputs


def record(net, tx_hash: str) -> dict:
    return next(r for r in read_records(net.shared_dir) if r["tx_hash"] == tx_hash)


def intent(net, agent_id: str, tx_hash: str) -> dict:
    return read_journal(net.shared_dir / f"{agent_id}_distributor_journal.jsonl")[tx_hash].to_json()


def test_a_recorded_transaction_moves_from_pool_to_confirmed(net, tmp_path):
    agent = Agent(net, tmp_path, "verifier", ATTRS, seed=31)
    try:
        tx_hash = agent.wait_for("tx_recorded")["tx_hash"]
        assert record(net, tx_hash)["status"] == "relayed"
        time.sleep(2.5)  # a few verification rounds while it sits in the pool
        assert intent(net, agent.id, tx_hash)["status"] == "recorded"
        height = net.mine(1)
        confirmed = agent.wait_for("tx_confirmed")
        assert confirmed["tx_hash"] == tx_hash
        confirmed_record = record(net, tx_hash)
        assert confirmed_record["status"] == "confirmed" and confirmed_record["height"] == height - 1
        assert confirmed_record["confirmations"] >= 1
        assert intent(net, agent.id, tx_hash)["status"] == "confirmed"
    finally:
        assert agent.stop() == 0


def test_a_double_spent_transaction_is_detected_as_failed(net, tmp_path):
    daemon_url = f"http://127.0.0.1:{net.daemon_port}"
    net.refresh([m for m, _ in MINERS])
    # "Another tool": signed sweeps of every unlocked output, not relayed (they reserve nothing).
    conflicting = {m: net.wallet(m).call("sweep_all", {"address": net.address(m), "do_not_relay": True,
                                                        "get_tx_hex": True, "ring_size": 16}, timeout=120)
                   for m, _ in MINERS}
    agent = Agent(net, tmp_path, "victim", ATTRS, seed=31)
    try:
        sent = agent.wait_for("tx_recorded")
        tx_hash, miner = sent["tx_hash"], sent["miner"]
        net.daemon.call("flush_txpool", {"txids": [tx_hash]})
        for blob in conflicting[miner]["tx_blob_list"]:
            answer = requests.post(f"{daemon_url}/send_raw_transaction", json={"tx_as_hex": blob}, timeout=30).json()
            assert answer["status"] == "OK", answer
        net.mine(1)
        failed = agent.wait_for("tx_verification_failed")
        assert failed["tx_hash"] == tx_hash and "spent by another transaction" in failed["message"]
        assert failed["verdict"] == "inputs_spent", "the key images settle it at once, no waiting for blocks"
        assert record(net, tx_hash)["status"] == "failed"
        assert intent(net, agent.id, tx_hash)["status"] == "failed"
        net.wallet(miner).refresh()
        assert net.wallet(miner).get_transfer_by_txid(tx_hash)["type"] in ("pending", "failed"), \
            "the wallet alone would not have said 'failed' for sure"
    finally:
        assert agent.stop() == 0

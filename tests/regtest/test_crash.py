"""Exactly once across SIGKILL, on the real regtest network.

The agent is killed at each phase of a payment (a test-only hook makes it
SIGKILL itself there), and at random moments, then restarted.  Afterwards
the miners' wallets are asked for every transaction they sent: each must
be recorded exactly once in transactions.json, and no intent may be open.
"""

from __future__ import annotations

import json
import random
import signal
import time

import pytest

from fsm_distributor.adapters.journal import read_journal
from fsm_distributor.cli import CRASH_ENV
from fsm_distributor.tools.sandbox import read_records

from .agent import Agent, outgoing

pytestmark = pytest.mark.regtest

AGENT = "crasher"
BASE = {"min_transaction_amount": "0.1", "max_transaction_amount": "0.5", "transaction_priority": "1",
        "max_retries": "3", "balance_check_interval": "1", "verification_interval": "600",
        "initial_funding": "false", "miner_selection_strategy": "weighted"}
PHASES = ("after_build", "after_journal", "after_relay", "after_record")


@pytest.fixture(scope="module")
def net(fresh_outputs):
    """The session network; what other modules' tools sent before is set aside."""
    fresh_outputs.crash_baseline = set(outgoing(fresh_outputs))
    return fresh_outputs


def settle(net, workdir) -> Agent:
    """Run the agent without faults until it idles with nothing open, then stop it."""
    agent = Agent(net, workdir, AGENT, {**BASE, "transaction_frequency": "3600"}, seed=4242)
    try:
        # keep_waiting after the first cycle: recovery and one new payment are done
        assert agent.until(lambda: agent.events("transition") and
                           any(e.get("trigger") == "keep_waiting" for e in agent.events("transition")), 90), \
            f"the agent never settled: {agent.tail()}"
    finally:
        assert agent.stop() == 0
    return agent


def mine_records(net) -> list[dict]:
    return [r for r in read_records(net.shared_dir) if r.get("distributor_id") == AGENT]


def journal(net) -> list[dict]:
    return [i.to_json() for i in read_journal(net.shared_dir / f"{AGENT}_distributor_journal.jsonl").values()]


def assert_exactly_once(net) -> None:
    records = mine_records(net)
    keys = [(r["tx_hash"], r["recipient_id"]) for r in records]
    assert len(keys) == len(set(keys)), "a payment was recorded twice"
    intents = journal(net)
    assert [i for i in intents if i["status"] in ("built", "relayed")] == [], "an intent was left open"
    on_chain = {tx: m for tx, m in outgoing(net).items() if tx not in net.crash_baseline}
    recorded = {r["tx_hash"]: r for r in records}
    assert set(on_chain) == set(recorded), (
        f"paid but not recorded: {set(on_chain) - set(recorded)}; recorded but not paid: "
        f"{set(recorded) - set(on_chain)}")
    for tx_hash, miner in on_chain.items():
        assert recorded[tx_hash]["sender_id"] == miner
    paid = {i["tx_hash"] for i in intents if i["status"] in ("recorded", "confirmed")}
    assert paid == set(recorded)


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_at_each_phase_then_restart_pays_once_and_records_once(net, tmp_path, phase):
    before = set(outgoing(net))
    agent = Agent(net, tmp_path, AGENT, {**BASE, "transaction_frequency": "0"}, seed=4242, env={CRASH_ENV: phase})
    assert agent.exit_status() == -signal.SIGKILL
    crashed = journal(net)
    if phase == "after_build":
        assert set(outgoing(net)) == before, "a build alone must pay nobody"
    else:
        assert [i["status"] for i in crashed if i["status"] in ("built", "relayed")], "the crash left it open"
    settled = settle(net, tmp_path)
    if phase != "after_build":
        assert settled.events("recovering_intent")
    assert_exactly_once(net)
    net.mine(1)


def test_twenty_random_sigkills_never_pay_twice_nor_lose_a_record(net, tmp_path):
    rng = random.Random(20261125)
    kills = 0
    for _ in range(20):
        agent = Agent(net, tmp_path, AGENT, {**BASE, "transaction_frequency": "0"}, seed=4242)
        # Random moments of the payments, not of start-up (which takes 0.3 s idle, seconds under load):
        # from the journal's load on, a payment takes ~0.4 s.
        assert agent.until(lambda: agent.events("journal_loaded"), 60, may_exit=True), agent.tail()
        time.sleep(rng.uniform(0.0, 1.3))
        kills += agent.sigkill()
        if rng.random() < 0.3:
            net.mine(1)
    assert kills == 20
    settle(net, tmp_path)
    assert_exactly_once(net)
    assert len(mine_records(net)) >= 10, "the runs between kills must have paid something"

"""Scheduled payments on the real regtest network, with the agent killed twice mid-schedule.

The schedule (a file in the shared dir) holds a one-off from a named miner, a
recurring entry of 5 occurrences with a drawn amount, and a payment locked for
20 blocks.  The first run SIGKILLs itself after its 2nd journaled intent, the
second after its 1st relay (on chain, journal still `built`); the third runs
the rest, missed occurrences included.  Then each occurrence must be on chain
exactly once with its recorded amount, each record must carry its key, and the
locked payment's incoming transfer must show the requested unlock height in
the recipient's wallet, and stay locked until that height.
"""

from __future__ import annotations

import json
import signal

import pytest

from fsm_distributor.adapters.journal import parse_lines
from fsm_distributor.cli import CRASH_ENV
from fsm_distributor.core.amounts import parse_xmr

from .agent import Agent, outgoing
from .conftest import MINERS

pytestmark = pytest.mark.regtest

AGENT = "scheduler"
LOCK_BLOCKS = 20
ATTRIBUTES = {"schedule": f"{AGENT}_plan.json", "transaction_frequency": "off", "initial_funding": "false",
              "balance_check_interval": "1", "verification_interval": "600", "transaction_priority": "1"}


def plan(users):
    return [{"id": "one-off", "at": "2s", "to": users[0], "amount": "1.5", "from": "miner002"},
            {"id": "drip", "every": "2s", "start": "3s", "count": 5, "to": users[1], "amount": "0.1-0.3"},
            {"id": "locked", "at": "4s", "to": users[2], "amount": "0.7", "unlock_after_blocks": LOCK_BLOCKS}]


EXPECTED = {("one-off", 1), ("locked", 1)} | {("drip", n) for n in range(1, 6)}


@pytest.fixture(scope="module")
def run(fresh_outputs, tmp_path_factory):
    """Three runs of the agent over one schedule: two killed mid-schedule, the last one to the end."""
    net = fresh_outputs
    workdir = tmp_path_factory.mktemp("schedule")
    users = [u.id for u in net.users[:3]]
    (net.shared_dir / ATTRIBUTES["schedule"]).write_text(json.dumps(plan(users)))
    before = set(outgoing(net))
    statuses = []
    for crash in ("after_journal:2", "after_relay:1"):
        agent = Agent(net, workdir, AGENT, ATTRIBUTES, seed=1212, env={CRASH_ENV: crash})
        statuses.append(agent.exit_status(timeout=90))
    agent = Agent(net, workdir, AGENT, ATTRIBUTES, seed=1212)
    try:
        done = agent.until(lambda: {(r.get("schedule_id"), r.get("occurrence")) for r in agent.records} >= EXPECTED,
                           timeout=120)
        assert done, f"the schedule did not finish: {agent.tail(10)}"
    finally:
        statuses.append(agent.stop())
    net.mine(1)
    net.refresh(users + [m for m, _ in MINERS])
    return {"net": net, "agent": agent, "users": users, "statuses": statuses,
            "new": {tx: m for tx, m in outgoing(net).items() if tx not in before}}


def test_the_agent_was_killed_twice_mid_schedule_and_ended_cleanly(run):
    assert run["statuses"] == [-signal.SIGKILL, -signal.SIGKILL, 0]
    assert [e["kept"] for e in run["agent"].events("schedule_anchor")] == [True], "the third run kept the clock"
    journal = parse_lines((run["net"].shared_dir / f"{AGENT}_distributor_journal.jsonl").read_bytes())
    assert journal.anchor is not None
    assert [i for i in journal.intents.values() if i.status in ("built", "relayed")] == []


def test_each_occurrence_is_on_chain_exactly_once_and_recorded_with_its_key(run):
    records = run["agent"].records
    keys = [(r["schedule_id"], r["occurrence"]) for r in records]
    assert sorted(keys) == sorted(EXPECTED), "one record per occurrence"
    assert {r["tx_hash"] for r in records} == set(run["new"]), "every payment the miners made is one of them"
    assert len(run["new"]) == len(EXPECTED)
    by_key = {(r["schedule_id"], r["occurrence"]): r for r in records}
    assert by_key[("one-off", 1)]["sender_id"] == run["new"][by_key[("one-off", 1)]["tx_hash"]] == "miner002"


def test_each_recipient_received_the_recorded_amount(run):
    net, records = run["net"], run["agent"].records
    for record in records:
        received = net.wallet(record["recipient_id"]).get_transfer_by_txid(record["tx_hash"])
        assert received["type"] == "in" and received["amount"] == record["amount_atomic"], (record, received)
        if record["schedule_id"] == "drip":
            assert parse_xmr("0.1") <= record["amount_atomic"] <= parse_xmr("0.3")
    amounts = {r["schedule_id"]: r["amount_atomic"] for r in records}
    assert (amounts["one-off"], amounts["locked"]) == (parse_xmr("1.5"), parse_xmr("0.7"))


def test_the_time_locked_payment_shows_and_keeps_the_requested_unlock_height(run):
    net = run["net"]
    [record] = [r for r in run["agent"].records if r["schedule_id"] == "locked"]
    journal = parse_lines((net.shared_dir / f"{AGENT}_distributor_journal.jsonl").read_bytes())
    recipient = net.wallet(record["recipient_id"])
    incoming = recipient.get_transfer_by_txid(record["tx_hash"])
    assert incoming["unlock_time"] == record["unlock_time"] == journal.intents[record["tx_hash"]].unlock_time
    mined_at = incoming["height"]
    assert mined_at <= record["unlock_time"] - LOCK_BLOCKS + 2, "the lock counts from the height at build time"
    assert record["unlock_time"] - mined_at > 10, "longer than the default 10-block lock"
    outputs = lambda: [t for t in recipient.call("incoming_transfers", {"transfer_type": "all"})["transfers"]
                       if t["tx_hash"] == record["tx_hash"]]
    net.mine(record["unlock_time"] - 1 - net.height())
    recipient.refresh()
    assert [t["unlocked"] for t in outputs()] == [False], f"locked at height {net.height()}"
    net.mine(1)
    recipient.refresh()
    assert net.height() == record["unlock_time"]
    assert [t["unlocked"] for t in outputs()] == [True]

"""The agent under a clock that starts at 2000-01-01, as Shadow's does, on the real network.

libfaketime (Debian package `faketime`) is preloaded into the agent only
(`LD_PRELOAD`, `FAKETIME="@2000-01-01 00:00:00"`): its wall clock and its
monotonic clock both start in 2000 and run at the normal rate, while the
wallets and daemons keep the machine's time.  The agent must fund every user
and make payments as usual, with every timestamp it writes (log lines,
transactions.json, its journal, the funding status) from that clock, and
never see a clock step.
"""

from __future__ import annotations

import glob
import json
import time

import pytest

from fsm_distributor.adapters.journal import read_journal
from fsm_distributor.core.amounts import parse_xmr
from fsm_distributor.tools.sandbox import DEFAULT_ATTRIBUTES, find_problems, is_distribution, read_records, verify_records

from .agent import Agent

pytestmark = pytest.mark.regtest

EPOCH = 946684800  # 2000-01-01 00:00:00 UTC: where Shadow's simulated time starts
AGENT = "faketimer"
ATTRIBUTES = {**DEFAULT_ATTRIBUTES, "transaction_frequency": "0.3", "balance_check_interval": "1",
              "initial_funding": "true", "verification_interval": "600"}
PAYMENTS = 6


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("needs libfaketime: apt-get install -y faketime (scripts/bootstrap.sh does)")
    return found[0]


@pytest.fixture(scope="module")
def run(fresh_outputs, tmp_path_factory):
    net = fresh_outputs
    workdir = tmp_path_factory.mktemp("faketime")
    env = {"LD_PRELOAD": libfaketime(), "FAKETIME": "@2000-01-01 00:00:00", "TZ": "UTC"}
    started = time.monotonic()
    agent = Agent(net, workdir, AGENT, ATTRIBUTES, seed=2000, env=env)
    records = lambda: [r for r in read_records(net.shared_dir) if r.get("distributor_id") == AGENT]  # noqa: E731
    next_block = time.monotonic() + 2
    try:
        def done():
            nonlocal next_block
            if time.monotonic() >= next_block:  # change unlocks after 10 blocks: keep the chain moving
                net.mine(1)
                next_block = time.monotonic() + 2
            return agent.events("initial_funding_complete") and sum(map(is_distribution, records())) >= PAYMENTS
        finished = agent.until(done, timeout=240)
    finally:
        status = agent.stop()
    elapsed = time.monotonic() - started
    net.mine(2)
    mine = records()
    net.refresh(sorted({r[k] for r in mine for k in ("sender_id", "recipient_id")} & set(net.nodes)))
    txs, receipts = verify_records(net, mine)
    return {"net": net, "agent": agent, "finished": finished, "status": status, "elapsed": elapsed,
            "records": mine, "txs": txs, "receipts": receipts}


def in_fake_time(timestamp, run) -> bool:
    """From 2000-01-01 00:00:00, within the run's own length (plus slack for the start-up)."""
    return EPOCH <= timestamp <= EPOCH + run["elapsed"] + 30


def test_the_agent_funds_everyone_and_pays_under_a_clock_starting_in_2000(run):
    agent = run["agent"]
    assert run["finished"], agent.tail(12)
    assert run["status"] == 0, agent.tail(12)
    initial = [r for r in run["records"] if r.get("purpose") == "initial_funding"]
    assert sorted(r["recipient_id"] for r in initial) == sorted(u.id for u in run["net"].users)
    assert sum(map(is_distribution, run["records"])) >= PAYMENTS
    problems = find_problems(run["records"], run["txs"], run["receipts"],
                             parse_xmr(ATTRIBUTES["min_transaction_amount"]),
                             parse_xmr(ATTRIBUTES["max_transaction_amount"]),
                             [str(e.get("tx_hash")) for e in agent.events("tx_sent")])
    assert problems == [], agent.tail(12)


def test_every_timestamp_the_agent_writes_is_from_that_clock(run):
    agent = run["agent"]
    agent.read()
    assert agent.log and all(in_fake_time(e["timestamp"], run) for e in agent.log), \
        [e["timestamp"] for e in agent.log if not in_fake_time(e["timestamp"], run)][:5]
    assert all(in_fake_time(r["timestamp"], run) for r in run["records"])
    shared = run["net"].shared_dir
    intents = [i.to_json() for i in read_journal(shared / f"{AGENT}_distributor_journal.jsonl").values()]
    assert intents and all(in_fake_time(i["created_at"], run) and in_fake_time(i["updated_at"], run)
                           for i in intents)
    status = json.loads((shared / "initial_funding_status.json").read_text())
    assert status["completed"] is True and in_fake_time(status["last_updated"], run)


def test_the_faked_clocks_never_look_stepped(run):
    # libfaketime fakes the monotonic clock too; both advance together, as under Shadow.
    assert run["agent"].events("clock_jump") == []

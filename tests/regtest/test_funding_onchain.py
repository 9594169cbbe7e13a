"""Initial funding as Monerosim's distributor does it, checked on the real chain.

2 miners, 30 users marked can_receive_distributions, Monerosim's default
batch (8 recipients x 2 outputs x 5 XMR): every user must end up with
exactly two 5-XMR outputs, in at most 5 transactions, each recorded with
its own hash.  Timings are printed for docs/wallet-facts.md.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from fsm_distributor.cli import CRASH_ENV
from fsm_distributor.tools.sandbox import read_records

from .agent import Agent
from .conftest import MINERS, USERS

pytestmark = pytest.mark.regtest

XMR = 10**12
FUNDING = {"md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "5", "initial_funding": "true",
           "transaction_frequency": "3600", "balance_check_interval": "1", "verification_interval": "600",
           "transaction_priority": "1"}


@pytest.fixture(scope="module")
def net(fresh_outputs):
    return fresh_outputs


def run_until(net, workdir, agent_id, event, *, env=None, timeout=120.0):
    """Start the agent; return (seconds from spawn to `event` or None, its log, exit status).

    The agent is stopped (SIGTERM) once `event` is logged, or found dead (the crash hook).
    """
    agent = Agent(net, workdir, agent_id, FUNDING, seed=777, env=env)
    try:
        seen = agent.until(lambda: agent.events(event), timeout, may_exit=True)
        elapsed = time.monotonic() - agent.started if seen else None
    finally:
        status = agent.process.poll() if agent.process.poll() is not None else agent.stop()
    return elapsed, agent.log, status


def received_outputs(net) -> dict[str, Counter]:
    """user -> Counter(amount -> number of outputs) from each user's own wallet, after a block."""
    net.mine(1)
    net.refresh([u.id for u in net.users])
    out = {}
    for user in net.users:
        answer = net.wallet(user.id).call("incoming_transfers", {"transfer_type": "all"})
        out[user.id] = Counter(t["amount"] for t in answer.get("transfers", []))
    return out


def records_of(net, agent_id):
    return [r for r in read_records(net.shared_dir) if r.get("distributor_id") == agent_id]


def assert_each_user_got_two_fives(before, after, users):
    for user in users:
        assert after[user.id] - before[user.id] == Counter({5 * XMR: 2}), user.id


def test_thirty_users_funded_once_in_five_transactions(net, tmp_path):
    before = received_outputs(net)
    elapsed, log, status = run_until(net, tmp_path, "funder", "initial_funding_complete")
    assert status == 0 and elapsed is not None, [e.get("message") for e in log[-10:]]
    records = records_of(net, "funder")
    hashes = {r["tx_hash"] for r in records}
    assert sorted(r["recipient_id"] for r in records) == sorted(u.id for u in net.users)
    assert len(net.users) == USERS and len(hashes) <= 5, "ceil(30 / 7) transactions at most"
    assert all(r["num_outputs"] == 2 and r["amount_atomic"] == 10 * XMR for r in records)
    assert_each_user_got_two_fives(before, received_outputs(net), net.users)
    for tx_hash in hashes:  # each recorded hash is its own transaction of its sender
        sender = next(r["sender_id"] for r in records if r["tx_hash"] == tx_hash)
        tx = net.wallet(sender).get_transfer_by_txid(tx_hash)
        assert len(tx["destinations"]) <= 15
    fees = sum({r["tx_hash"]: r["fee"] for r in records}.values())
    status_file = json.loads((net.shared_dir / "initial_funding_status.json").read_text())
    assert status_file["completed"] is True and len(status_file["funded_recipients"]) == USERS
    # How fast is for bench/ (the suite times nothing); printed for docs/wallet-facts.md.
    print(f"\nfunded {USERS} users in {len(hashes)} transactions, {elapsed:.2f}s from spawn, "
          f"fee per recipient {fees / USERS / XMR:.6f} XMR")


def test_sigkill_mid_funding_then_restart_funds_everyone_exactly_once(net, tmp_path):
    before = received_outputs(net)
    _, _, status = run_until(net, tmp_path, "funder2", "never", env={CRASH_ENV: "after_relay:2"})
    assert status == -signal.SIGKILL
    partial = {r["recipient_id"] for r in records_of(net, "funder2")}
    assert len(partial) < USERS
    elapsed, log, status = run_until(net, tmp_path, "funder2", "initial_funding_complete")
    assert status == 0 and elapsed is not None
    assert any(e.get("event") == "recovering_intent" for e in log)
    records = records_of(net, "funder2")
    assert sorted(r["recipient_id"] for r in records) == sorted(u.id for u in net.users), "nobody twice or skipped"
    assert_each_user_got_two_fives(before, received_outputs(net), net.users)


def test_locked_coins_wait_then_funding_completes_after_unlock(net, tmp_path):
    miners = [m for m, _ in MINERS]
    net.refresh(miners)  # the wallets must know every unlocked output before sweeping them all
    for miner in miners:  # every unlocked output becomes change, locked for 10 blocks
        net.sweep(miner)
    # no block now: each block would also unlock a 60-block-old coinbase output
    net.refresh(miners)
    assert all(net.wallet(m).get_balance().unlocked == 0 for m in miners)
    agent = Agent(net, tmp_path, "funder3", FUNDING, seed=5)
    try:
        agent.until(lambda: False, timeout=6)
        waits = agent.events("balance_low")
        assert waits and "locked" in waits[0]["message"], "the log says why it waits"
        assert len(agent.events("transition")) < 6 * 12, "waiting is not a busy loop (balance_check_interval 1 s)"
        assert not agent.records
        net.mine(11)  # change unlocks after 10 blocks; the agent refreshes before judging
        # Big sweeps may need more than one block to be mined: a block every 2 s until done.
        for _ in range(20):
            if agent.until(lambda: agent.events("initial_funding_complete"), timeout=2):
                break
            net.mine(1)
        assert agent.events("initial_funding_complete"), agent.tail()
        assert len(agent.records) == USERS
    finally:
        assert agent.stop() == 0

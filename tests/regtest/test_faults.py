"""Faults on the real network: a recipient wallet down, a miner out of unlocked outputs.

The miner's case is the one seen on 0.18: after a burst of sends (here: one
sweep) a wallet holds most of its balance but nothing unlocked, and answers
-37 until 10 blocks pass and it is refreshed.  The agent must prefer the other
miner meanwhile, and come back to this one once it can pay.
"""

from __future__ import annotations

import pytest

from .agent import Agent

pytestmark = pytest.mark.regtest

XMR = 10**12
BASE = {"min_transaction_amount": "0.1", "max_transaction_amount": "0.3", "transaction_priority": "1",
        "max_retries": "3", "balance_check_interval": "1", "verification_interval": "600",
        "initial_funding": "false", "transaction_frequency": "0.2"}


@pytest.fixture(scope="module")
def net(fresh_outputs):
    return fresh_outputs


def test_recipient_wallet_down_is_skipped_and_the_cycle_goes_on(net, tmp_path):
    # Recipients that publish no address anywhere: the agent must ask their wallets, which are down.
    hidden = [n.id for n in net.users if not n.publish][:3]
    assert len(hidden) == 3
    for uid in hidden:
        net.stop_wallet(uid)
    run = Agent(net, tmp_path, "skipper", {**BASE, "recipient_selection": "round_robin"})
    try:
        # round robin in registry order reaches the three early on
        assert run.until(lambda: len(run.records) >= 12), run.tail()
        assert not {r["recipient_id"] for r in run.records} & set(hidden)
        skipped = {e.get("recipient") for e in run.events("recipient_unreachable")}
        assert set(hidden) <= skipped, "each unreachable recipient was tried and skipped"
        assert len({r["recipient_id"] for r in run.records[:12]}) == 12, "round robin: no repeats in a turn"
    finally:
        assert run.stop() == 0
        for uid in hidden:
            net.start_wallet(uid)


def give_outputs(net, miner: str, n: int = 24) -> None:
    """`n` fresh unlocked coinbase outputs for `miner`: its blocks, then 60 more to a user."""
    net.mine(n, to_agent=miner)
    net.mine(60, to_agent=net.users[-1].id)
    net.refresh([miner])


def exhaust(net, miner: str) -> None:
    """Spend every unlocked output of `miner` (to itself): most of the balance stays, locked as change."""
    net.refresh([miner])
    net.sweep(miner)
    net.refresh([miner])
    balance = net.wallet(miner).get_balance()
    assert balance.unlocked == 0 and balance.total > 1000 * XMR


def test_balance_strategy_picks_the_miner_with_the_highest_unlocked_balance(net, tmp_path):
    give_outputs(net, "miner002")
    exhaust(net, "miner001")  # miner001 has the larger weight (60) but nothing unlocked now
    run = Agent(net, tmp_path, "balancer", {**BASE, "miner_selection_strategy": "balance"})
    try:
        assert run.until(lambda: len(run.records) >= 5)
    finally:
        assert run.stop() == 0
    assert {r["sender_id"] for r in run.records} == {"miner002"}
    assert run.events("balance_low") == [], "the balance strategy never even tries the poorer miner"
    assert all(e.get("strategy") == "balance" for e in run.events("miner_selected"))


def test_miner_out_of_unlocked_outputs_is_avoided_then_used_again(net, tmp_path):
    give_outputs(net, "miner002")
    exhaust(net, "miner001")
    run = Agent(net, tmp_path, "weigher", {**BASE, "miner_selection_strategy": "weighted"})
    try:
        assert run.until(lambda: len(run.records) >= 6)
        assert {r["sender_id"] for r in run.records} == {"miner002"}, "the other miner pays meanwhile"
        low = [e for e in run.events("balance_low") if e.get("miner") == "miner001"]
        assert low and "locked" in low[0]["message"], "the log says miner001's coins are locked"
        transitions = len(run.events("transition"))
        assert transitions < 40 * len(run.records), "no busy loop"
        mark = len(run.records)
        net.mine(11)  # change unlocks after 10 blocks; the agent refreshes the wallet before judging
        assert run.until(lambda: any(r["sender_id"] == "miner001" for r in run.records[mark:]), timeout=60), \
            "miner001 is used again once it can pay"
    finally:
        assert run.stop() == 0

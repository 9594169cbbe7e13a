"""Initial funding and funding cycles (Monerosim's distributor's job), step by step over fakes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import XMR, make_world
from fsm_distributor.core import funding
from fsm_distributor.core.config import MAX_DESTINATIONS, load_config

MONEROSIM_DEFAULTS = {"initial_funding": "true", "md_n_recipients": "8", "md_out_per_tx": "2",
                      "md_output_amount": "5"}


def run_until(world, trigger: str, limit: int = 400):
    results = []
    for _ in range(limit):
        result = world.step()
        results.append(result)
        if result.trigger == trigger:
            return results
        world.clock.sleep(result.delay)
    raise AssertionError(f"{trigger} not fired in {limit} steps: {Counter(r.trigger for r in results)}")


def funded_outputs(world) -> Counter:
    """(recipient, amount) -> number of outputs actually sent by the miners' wallets."""
    addresses = {w.address: uid for uid, w in world.users.items()}
    out = Counter()
    for _, tx in world.wallets.all_sent():
        for address, amount in tx.destinations:
            out[(addresses[address], amount)] += 1
    return out


def test_thirty_users_funded_exactly_once_in_five_transactions():
    world = make_world(MONEROSIM_DEFAULTS, users=30, unlocked=1000 * XMR)
    run_until(world, "funding_complete")
    sent = [tx for _, tx in world.wallets.all_sent()]
    assert len(sent) == 5  # ceil(30 / 7): 7 recipients x 2 outputs = 14 destinations each
    assert all(len(tx.destinations) <= MAX_DESTINATIONS for tx in sent)
    assert funded_outputs(world) == Counter({(f"u{i}", 5 * XMR): 2 for i in range(1, 31)})
    for tx in sent:  # a recipient's outputs are side by side in one transaction
        addresses = [a for a, _ in tx.destinations]
        assert all(addresses.count(a) == 2 for a in addresses)
    records = world.ledger.records
    assert len(records) == 30 and len({r["tx_hash"] for r in records}) == 5
    assert all(r["num_outputs"] == 2 and r["amount_atomic"] == 10 * XMR for r in records)
    status = world.status_files()["initial_funding_status.json"]
    assert status["completed"] is True and status["funded_recipients"] == sorted(f"u{i}" for i in range(1, 31))
    assert set(status["funding_transactions"].values()) == {tx.tx_hash for tx in sent}


def test_batch_shrinks_to_the_miner_balance_and_fails_over():
    world = make_world(MONEROSIM_DEFAULTS, users=10, weights=(100, 0), unlocked=1000 * XMR)
    world.miners["m1"].unlocked = world.miners["m1"].total = 31 * XMR  # 3 recipients' worth + fees
    results = run_until(world, "funding_complete")
    first = world.miners["m1"].sent[0]
    assert len(first.destinations) == 6, "shrunk to 3 recipients x 2 outputs"
    assert ("CheckingBalance", "balance_low", "SelectingMiner") in [
        (r.source.value, r.trigger, r.dest.value) for r in results]
    assert len(world.miners["m2"].sent) >= 1, "the rest failed over to the other miner"
    assert funded_outputs(world) == Counter({(f"u{i}", 5 * XMR): 2 for i in range(1, 11)})


def test_locked_coins_wait_then_funding_completes_once_they_unlock():
    world = make_world(MONEROSIM_DEFAULTS, users=4, unlocked=1 * XMR)
    for wallet in world.miners.values():
        wallet.total = 500 * XMR
    results = run_until(world, "no_miner_available")
    assert results[-1].delay == 30.0 and world.wallets.all_sent() == []
    for wallet in world.miners.values():
        wallet.unlocked = 500 * XMR
    run_until(world, "funding_complete")
    assert len(funded_outputs(world)) == 4


def test_restart_mid_funding_neither_refunds_nor_skips():
    world = make_world(MONEROSIM_DEFAULTS, users=20, weights=(100,), unlocked=1000 * XMR)
    run_until(world, "recorded")
    run_until(world, "recorded")
    paid_before = set(r["recipient_id"] for r in world.ledger.records)
    assert len(paid_before) == 14
    world.restart()
    run_until(world, "funding_complete")
    assert funded_outputs(world) == Counter({(f"u{i}", 5 * XMR): 2 for i in range(1, 21)})
    assert len(world.ledger.records) == 20


def test_recipient_without_address_is_given_up_after_five_lookups():
    world = make_world(MONEROSIM_DEFAULTS, users=3, user_addresses="wallet", unlocked=1000 * XMR)
    world.users["u2"].down = True
    run_until(world, "funding_complete", limit=2000)
    assert "u2" in world.mem.permanently_failed
    assert world.users["u2"].calls.count("get_address") == funding.MAX_LOOKUP_FAILURES
    assert {r for r, _ in funded_outputs(world)} == {"u1", "u3"}
    assert world.status_files()["initial_funding_status.json"]["permanently_failed"] == ["u2"]


def test_funding_cycles_after_initial_funding_rotate_over_funded_recipients():
    world = make_world({**MONEROSIM_DEFAULTS, "md_n_recipients": "2", "md_funding_cycle_interval": "5m",
                        "verification_interval": "1h", "distribution_mode": "funding_cycle"}, users=4, weights=(100,), unlocked=1000 * XMR)
    assert world.config.distribution_mode == "funding_cycle"
    run_until(world, "funding_complete")
    initial = len(world.ledger.records)
    t_done = world.clock.now
    batches = []
    for _ in range(4):
        run_until(world, "recorded")
        batches.append([r["recipient_id"] for r in world.ledger.records[-2:]])
    assert initial == 4
    assert batches == [["u1", "u2"], ["u3", "u4"], ["u1", "u2"], ["u3", "u4"]]
    assert world.clock.now >= t_done + 4 * 300 - 1


@given(n=st.integers(1, 10_000), out=st.integers(1, MAX_DESTINATIONS), unlocked=st.integers(0, 10**15))
def test_a_planned_batch_always_fits_one_transaction_and_the_budget(n, out, unlocked):
    cfg = load_config({"md_n_recipients": str(n), "md_out_per_tx": str(out), "md_output_amount": "1.5"})
    k = funding.affordable(cfg, unlocked)
    dests = funding.destinations_for(cfg, [(f"r{i}", f"a{i}") for i in range(k)])
    assert len(dests) <= MAX_DESTINATIONS and k <= n
    assert sum(a for _, _, a in dests) + funding.batch_fee_reserve(cfg) <= max(unlocked, funding.batch_fee_reserve(cfg))
    if k == 0:
        assert unlocked < funding.cost_per_recipient(cfg) + funding.batch_fee_reserve(cfg) or n == 0


@pytest.mark.parametrize("attrs,mode", [({}, "payments"), ({"md_n_recipients": "8"}, "funding_cycle"),
                                        ({"md_n_recipients": "8", "transaction_frequency": "60"}, "payments"),
                                        ({"distribution_mode": "funding_cycle"}, "funding_cycle")])
def test_which_continuous_behaviour_applies(attrs, mode):
    assert load_config(attrs).distribution_mode == mode

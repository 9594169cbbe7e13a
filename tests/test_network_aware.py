"""issue 11, step by step over fakes: ReadingNetwork, the pool-aware priority, the throttles,
topup, sustainable and the fee sanity check, through every branch."""

from __future__ import annotations

from fractions import Fraction

import pytest
from structlog.testing import capture_logs

from fakes import XMR, make_world
from fsm_distributor.core.names import Status
from fsm_distributor.states import State

NETWORK_CALLS = {"get_info", "get_transaction_pool_stats", "get_fee_estimate", "get_last_block_header"}
POOL_AWARE = {"fee_strategy": "pool_aware", "transaction_frequency": "60", "verification_interval": "600"}


def path(results):
    return [(r.source.value, r.trigger, r.dest.value) for r in results]


def network_calls(daemon) -> list[str]:
    return [c for c in daemon.calls if c in NETWORK_CALLS]


def conditions(logs) -> list[dict]:
    return [e for e in logs if e["event"] == "network_conditions"]


def one_miner(attributes, **kwargs):
    world = make_world({**POOL_AWARE, **attributes}, weights=(100,), **kwargs)
    return world, world.miners["m1"], world.daemons["m1"]


# ---------------------------------------------------------------- the default: as before


def test_default_attributes_never_read_the_network_and_pay_as_before():
    world = make_world({"verification_interval": "600"}, weights=(100,))
    results = world.cycle()
    assert State.READING_NETWORK not in {r.dest for r in results}
    assert ("CheckingBalance", "balance_ok", "SelectingRecipient") in path(results)
    assert network_calls(world.daemons["m1"]) == [] and "get_height" not in world.miners["m1"].calls
    [record] = world.ledger.records
    assert record["priority"] == 1 and record["strategy"] == "uniform" and record["pool_kb"] is None


# ---------------------------------------------------------------- reading, once per block


def test_a_cycle_reads_the_daemon_and_logs_what_it_saw_and_decided():
    world, miner, daemon = one_miner({})
    with capture_logs() as logs:
        results = world.cycle()
    assert ("CheckingBalance", "read_network", "ReadingNetwork") in path(results)
    assert ("ReadingNetwork", "network_read", "SelectingRecipient") in path(results)
    # an empty pool: get_info says so, the pool statistics are not asked
    assert network_calls(daemon) == ["get_info", "get_fee_estimate", "get_last_block_header"]
    [line] = conditions(logs)
    assert line["height"] == 100 and line["pool_kb"] == 0 and line["pool_txs"] == 0
    assert line["fee_per_byte"] == 1_200_000 and line["reward"] == daemon.reward
    assert line["priority"] == 1 and line["decision"] == "pay" and line["daemon_calls"] == 3
    [record] = world.ledger.records
    assert record["pool_kb"] == 0 and record["fee_strategy"] == "pool_aware" and record["priority"] == 1


def test_stale_height_is_not_read_again_and_a_new_block_is():
    world, miner, daemon = one_miner({"transaction_frequency": "0"})
    world.cycle()
    calls = len(daemon.calls)
    daemon.fill(1000)  # the pool grows, but no block came: the view of this height stands
    with capture_logs() as logs:
        for _ in range(3):
            world.cycle()
    assert len(daemon.calls) == calls, "no daemon call within a block"
    assert [e["daemon_calls"] for e in conditions(logs)] == [0, 0, 0]
    assert [tx.priority for tx in miner.sent] == [1, 1, 1, 1]
    daemon.mine()  # a new block: its height is seen by the wallet, the daemon is read once more
    with capture_logs() as logs:
        world.cycle()
        world.cycle()
    assert [e["daemon_calls"] for e in conditions(logs)] == [4, 0]
    assert miner.sent[-1].priority == 3 and world.ledger.records[-1]["pool_kb"] == pytest.approx(1000)


def test_the_priority_crosses_each_threshold_up_and_back_down():
    world, miner, daemon = one_miner({"transaction_frequency": "0", "transaction_priority": "1"})
    seen = []
    for kb in (0, 299.9, 300, 899, 900, 2999, 3000, 5000, 2999, 899, 299, 0):
        daemon.mine()
        daemon.fill(kb)
        world.cycle()
        seen.append((kb, miner.sent[-1].priority, world.ledger.records[-1]["priority"]))
    assert [p for _, p, _ in seen] == [1, 1, 2, 2, 3, 3, 4, 4, 3, 2, 1, 1], seen
    assert all(sent == recorded for _, sent, recorded in seen)
    # what the pool held at each decision is in the record: the agent's own transactions count too
    assert world.ledger.records[2]["pool_kb"] >= 300


def test_a_configured_priority_is_the_floor():
    world, miner, daemon = one_miner({"transaction_priority": "3", "fee_thresholds_kb": "1,2,3"})
    world.cycle()
    assert miner.sent[-1].priority == 3


# ---------------------------------------------------------------- no daemon


def test_daemon_down_is_said_once_per_miner_and_the_agent_pays_as_configured():
    world, miner, daemon = one_miner({"transaction_frequency": "0", "max_pool_kb": "1"})
    daemon.down = True
    daemon.fill(5000)
    with capture_logs() as logs:
        for _ in range(3):
            daemon.height_now += 1  # new blocks: tried again each time, never more than once a block
            world.cycle()
            world.cycle()
    unknown = [e for e in logs if e["event"] == "network_unknown"]
    assert len(unknown) == 1 and unknown[0]["miner"] == "m1" and "Cannot read" in unknown[0]["message"]
    assert daemon.calls.count("get_info") == 3
    assert [tx.priority for tx in miner.sent] == [1] * 6, "the fixed priority and no pool throttle"
    assert all(e["pool_kb"] is None and e["decision"] == "pay" for e in conditions(logs))
    daemon.down = False
    daemon.mine()
    with capture_logs() as logs:
        world.cycle()
    assert [e["event"] for e in logs if e["event"].startswith("network_")][:2] == ["network_known",
                                                                                   "network_conditions"]
    assert conditions(logs)[0]["decision"] == "pool_full"


def test_a_miner_without_a_daemon_in_the_registry_is_said_once():
    world, miner, daemon = one_miner({"transaction_frequency": "0"})
    for entry in world.registry.agents:
        entry.pop("daemon_rpc_port", None)
    with capture_logs() as logs:
        for _ in range(2):
            daemon.height_now += 1
            world.cycle()
    assert [e["event"] for e in logs].count("network_unknown") == 1
    assert "no daemon_rpc_port" in next(e for e in logs if e["event"] == "network_unknown")["message"]
    assert network_calls(daemon) == [] and len(miner.sent) == 2


# ---------------------------------------------------------------- throttles


def test_a_full_pool_makes_single_payments_wait_and_a_drained_one_lets_them_go():
    world, miner, daemon = one_miner({"max_pool_kb": "500", "transaction_frequency": "0"})
    daemon.fill(501)
    with capture_logs() as logs:
        results = world.cycle()
    assert path(results)[-1] == ("ReadingNetwork", "pool_full", "Idle") and results[-1].delay == 30
    [line] = conditions(logs)
    assert line["decision"] == "pool_full" and line["pool_kb"] == pytest.approx(501) and "max_pool_kb 500" in \
        line["reason"]
    assert miner.sent == [] and world.ledger.records == []
    world.clock.sleep(results[-1].delay)
    daemon.mine()
    daemon.fill(500)  # at the limit is not above it
    results = world.cycle()
    assert path(results)[-1] == ("Recording", "recorded", "Idle") and len(miner.sent) == 1


def test_funding_batches_go_through_a_full_pool_at_the_stepped_up_priority():
    world = make_world({**POOL_AWARE, "initial_funding": "true", "max_pool_kb": "100",
                        "distribution_mode": "funding_cycle"}, users=4, weights=(100,))
    world.daemons["m1"].fill(950)
    results = world.steps_until("Recording")
    assert ("ReadingNetwork", "network_read", "PlanningBatch") in path(results)
    [tx] = world.miners["m1"].sent
    assert tx.priority == 3 and len(tx.destinations) == 8
    world.steps_until("Idle")
    assert {r["strategy"] for r in world.ledger.records} == {"funding"}


def test_too_many_unconfirmed_transactions_make_new_payments_wait_until_confirmed():
    world, miner, daemon = one_miner({"max_unconfirmed": "2", "transaction_frequency": "0",
                                      "verification_interval": "5"})
    world.cycle()
    world.cycle()
    with capture_logs() as logs:
        results = world.cycle()
    assert path(results)[-1] == ("ReadingNetwork", "unconfirmed_limit", "Idle")
    assert conditions(logs)[0]["unconfirmed"] == 2 and len(miner.sent) == 2
    miner.confirm_all(height=101)
    world.clock.sleep(results[-1].delay)
    world.steps_until("Verifying")
    world.step()  # verified
    assert world.mem.unconfirmed_count() == 0
    world.cycle()
    assert len(miner.sent) == 3


# ---------------------------------------------------------------- topup


def topup_world(**attributes):
    attrs = {"amount_strategy": "topup", "target_balance": "3", "min_transaction_amount": "0.1",
             "max_transaction_amount": "1", "transaction_frequency": "0", "verification_interval": "600",
             **attributes}
    world = make_world(attrs, users=1, weights=(100,))
    user = world.users["u1"]
    user.total = user.unlocked = 1 * XMR
    user.scanned = 100
    return world, world.miners["m1"], user


def paid(world, recipient="u1"):
    return sum(r["amount_atomic"] for r in world.ledger.records if r["recipient_id"] == recipient)


def test_topup_counts_its_own_payments_in_flight_and_never_overshoots():
    world, miner, user = topup_world()
    with capture_logs() as logs:
        world.cycle()
        world.cycle()
    assert [r["amount_atomic"] for r in world.ledger.records] == [XMR, XMR]
    topups = [e for e in logs if e["event"] == "topup"]
    assert [(e["balance"], e["in_flight"], e["held"]) for e in topups] == [(XMR, 0, XMR), (XMR, XMR, 2 * XMR)]
    with capture_logs() as logs:
        results = world.cycle()
    assert ("SelectingRecipient", "recipient_full", "SelectingRecipient") in path(results)
    assert path(results)[-1] == ("SelectingRecipient", "no_recipient", "Idle")
    full = next(e for e in logs if e["event"] == "recipient_full")
    assert full["held"] == 3 * XMR and full["in_flight"] == 2 * XMR
    # The block comes; until the wallet has scanned it, the payments count twice (never too little held).
    miner.confirm_all(height=101, confirmations=1)
    world.mem.verify_due_at = {h: 0.0 for h in world.mem.verify_due_at}
    world.steps_until("Verifying")
    world.step()
    assert all(i.status is Status.CONFIRMED and i.height == 101 for i in world.mem.intents.values())
    user.total = 3 * XMR  # what the wallet shows once it scanned block 101
    world.clock.sleep(30)
    world.cycle()
    assert paid(world) == 2 * XMR
    user.scanned = 102
    world.clock.sleep(30)
    with capture_logs() as logs:
        world.cycle()
    assert next(e for e in logs if e["event"] == "recipient_full")["in_flight"] == 0
    # The recipient spends 1.45 XMR: it is topped up again to the target, exactly.
    user.total = int(1.55 * XMR)
    world.clock.sleep(30)
    world.cycle()
    world.cycle()
    assert [r["amount_atomic"] for r in world.ledger.records][2:] == [XMR, int(0.45 * XMR)]
    assert user.total + sum(r["amount_atomic"] for r in world.ledger.records[2:]) == 3 * XMR


def test_a_wallet_refresh_between_its_two_answers_never_hides_a_payment():
    world, miner, user = topup_world(max_transaction_amount="2")
    world.cycle()  # held 1: pays 2
    assert paid(world) == 2 * XMR
    miner.confirm_all(height=101)
    world.mem.verify_due_at = {h: 0.0 for h in world.mem.verify_due_at}
    world.steps_until("Verifying")
    world.step()
    user.total = int(0.5 * XMR)  # the recipient spent; its wallet has not scanned block 101 yet
    answer = user.get_balance

    def balance_then_refresh():
        balance = answer()
        user.scanned, user.total = 102, user.total + 2 * XMR  # block 101 scanned just after answering
        return balance
    user.get_balance = balance_then_refresh
    world.clock.sleep(60)
    world.cycle()
    # asked height first (101: the payment in block 101 is not in the balance): held 0.5 + 2, pays 0.5
    assert [r["amount_atomic"] for r in world.ledger.records] == [2 * XMR, XMR // 2]
    assert user.total + XMR // 2 == 3 * XMR


def test_topup_without_the_recipients_wallet_counts_what_this_agent_paid():
    world, miner, user = topup_world()
    user.down = True
    for _ in range(4):
        world.cycle()
    assert [r["amount_atomic"] for r in world.ledger.records] == [XMR, XMR, XMR]
    assert paid(world) == 3 * XMR  # the target, from what this agent knows


def test_topup_skips_a_full_recipient_and_pays_the_next():
    world = make_world({"amount_strategy": "topup", "target_balance": "2", "recipient_selection": "round_robin",
                        "transaction_frequency": "0", "verification_interval": "600"}, users=2, weights=(100,))
    world.users["u1"].total = 2 * XMR
    results = world.cycle()
    assert ("SelectingRecipient", "recipient_full", "SelectingRecipient") in path(results)
    assert [r["recipient_id"] for r in world.ledger.records] == ["u2"]
    assert world.ledger.records[0]["amount_atomic"] == XMR and world.ledger.records[0]["strategy"] == "topup"


# ---------------------------------------------------------------- sustainable


def test_sustainable_scales_amounts_to_the_income_and_logs_the_rate():
    world, miner, daemon = one_miner({"amount_strategy": "sustainable", "min_transaction_amount": "0.01",
                                      "max_transaction_amount": "1", "transaction_frequency": "60"})
    daemon.reward = 2 * XMR  # per 120 s block: 60 XMR/h; half of it may be spent: 0.5 XMR per minute
    with capture_logs() as logs:
        world.steps_until("SelectingRecipient")
    payer = world.data
    [rate] = [e for e in logs if e["event"] == "spend_rate"]
    assert rate["income_per_hour"] == 60 * XMR and rate["allowed_per_hour"] == 30 * XMR
    assert rate["block_interval"] == 120 and rate["miner_share"] == 1
    budget, mean = Fraction(XMR, 2), Fraction(XMR // 100 + XMR, 2)  # the draw's mean becomes the budget
    assert payer.amount == int(Fraction(payer.cycle.amount) * budget / mean) != payer.cycle.amount
    assert conditions(logs)[0]["amount"] == payer.amount
    world.steps_until("Idle")
    assert world.ledger.records[0]["amount_atomic"] == payer.amount
    assert world.ledger.records[0]["strategy"] == "sustainable"


def test_sustainable_uses_the_observed_block_interval_and_the_payable_share():
    world = make_world({"amount_strategy": "sustainable", "transaction_frequency": "0",
                        "verification_interval": "600"}, weights=(60, 40))
    for entry in world.registry.agents:
        if entry["id"] == "m2":
            entry.pop("wallet_rpc_port")  # m2 cannot pay: only m1's 60 % of the blocks count
    daemon = world.daemons["m1"]
    daemon.block_seconds = 30
    world.cycle()
    daemon.mine(4)
    with capture_logs() as logs:
        world.cycle()
    [rate] = [e for e in logs if e["event"] == "spend_rate"]
    assert rate["block_interval"] == 30 and rate["miner_share"] == 0.6
    assert rate["income_per_hour"] == int(Fraction(daemon.reward) * Fraction(3, 5) * 3600 / 30)


def test_sustainable_waits_when_paying_would_spend_above_the_fraction():
    world, miner, daemon = one_miner({"amount_strategy": "sustainable", "transaction_frequency": "60",
                                      "min_transaction_amount": "0.1", "max_transaction_amount": "0.2"})
    daemon.reward = XMR // 5  # 0.1 XMR a minute earned, 0.05 may be spent: less than the smallest payment
    allowed = Fraction(XMR // 20, 60)
    start = world.clock.now
    waits = []
    with capture_logs() as logs:
        while world.clock.now - start < 3600:
            result = world.step()
            if result.trigger == "over_budget":
                waits.append(result.delay)
            world.clock.sleep(result.delay)
            spent = sum(r["amount_atomic"] + r["fee"] for r in world.ledger.records)
            # never more than the budget earned so far, plus one largest payment
            assert spent <= allowed * Fraction(world.clock.now - start) + XMR // 5
    assert waits and all(0 < w <= 30 for w in waits)
    assert all(r["amount_atomic"] == XMR // 10 for r in world.ledger.records)  # scaled down to the min
    # an hour earns 3 XMR of budget: 0.1 XMR payments, about 30 of them (not the 60 of the frequency)
    assert 28 <= len(world.ledger.records) <= 31
    assert {e["decision"] for e in conditions(logs)} == {"pay", "over_budget"}


def test_sustainable_without_a_daemon_pays_the_uniform_draw():
    world, miner, daemon = one_miner({"amount_strategy": "sustainable"})
    daemon.down = True
    with capture_logs() as logs:
        world.cycle()
    assert not [e for e in logs if e["event"] == "spend_rate"]
    assert len(miner.sent) == 1


# ---------------------------------------------------------------- fee sanity


def test_a_fee_above_the_fraction_is_dropped_before_relay_and_nothing_is_journaled():
    world, miner, daemon = one_miner({"min_transaction_amount": "0.1", "max_transaction_amount": "1"})
    miner.fee = 6 * XMR // 10  # more than half of any amount up to 1 XMR, and 1.2 XMR is above the max
    with capture_logs() as logs:
        results = world.cycle()
    assert path(results)[-1] == ("Building", "fee_refused", "Idle") and results[-1].delay == 30
    assert len(miner.builds) == 1 and miner.sent == [] and "relay_tx" not in miner.calls
    assert world.journal.writes == [] and world.ledger.records == [] and world.mem.intents == {}
    assert world.mem.busy_miners() == set() and world.mem.sent == 0
    [refused] = [e for e in logs if e["event"] == "fee_refused"]
    assert refused["fee"] == miner.fee and "nothing paid" in refused["message"]
    miner.fee = 2_605_200_000
    world.clock.sleep(results[-1].delay)
    results = world.cycle()
    assert ("SelectingMiner", "miner_selected", "CheckingBalance") in path(results), "the miner is not busy"
    assert len(miner.sent) == 1


def test_a_fee_above_the_fraction_raises_the_amount_within_the_max():
    world, miner, daemon = one_miner({"min_transaction_amount": "0.1", "max_transaction_amount": "2"})
    miner.fee = 4 * XMR // 10  # needs at least 0.8 XMR
    for _ in range(6):
        world.cycle()
    raised = [r for r in world.ledger.records if r["amount_atomic"] == 8 * XMR // 10]
    assert all(r["amount_atomic"] >= 8 * XMR // 10 for r in world.ledger.records)
    assert raised, "some draw below 0.8 XMR was raised to exactly 0.8"
    assert len(miner.sent) == 6 and len(miner.builds) == 6 + len(raised)


def test_topup_does_not_raise_an_amount_for_its_fee():
    world, miner, user = topup_world(max_transaction_amount="2")
    user.total = int(2.5 * XMR)  # needs 0.5 XMR; a fee of 0.3 would need 0.6
    miner.fee = 3 * XMR // 10
    results = world.cycle()
    assert path(results)[-1] == ("Building", "fee_refused", "Idle") and miner.sent == []

"""Drive the real machine one trigger at a time over fakes, through every branch."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

from fakes import XMR, make_world, rpc_error, transfer_error
from fsm_distributor.core.registry import RegistryError
from fsm_distributor.states import State

HAPPY = [
    ("Idle", "wake", "Discovering"),
    ("Discovering", "discovered", "SelectingMiner"),
    ("SelectingMiner", "miner_selected", "CheckingBalance"),
    ("CheckingBalance", "balance_ok", "SelectingRecipient"),
    ("SelectingRecipient", "recipient_selected", "Building"),
    ("Building", "built", "Journaling"),
    ("Journaling", "journaled", "Relaying"),
    ("Relaying", "relayed", "Recording"),
    ("Recording", "recorded", "Idle"),
]


def path(results):
    return [(r.source.value, r.trigger, r.dest.value) for r in results]


def run_cycle(world):
    return world.cycle()


def test_happy_path_one_step_at_a_time():
    world = make_world()
    assert world.distributor.current is State.IDLE
    with capture_logs() as logs:
        results = [world.step() for _ in HAPPY]
    assert path(results) == HAPPY
    [record] = world.ledger.records
    intent = world.mem.intents[record["tx_hash"]]
    sent = world.miners[intent.miner].sent
    assert [tx.tx_hash for tx in sent] == [record["tx_hash"]]
    assert record["sender_id"] == intent.miner
    assert record["recipient_id"] == intent.destinations[0].recipient
    assert record["amount_atomic"] == intent.amount == sent[0].destinations[0][1]
    assert record["amount"] == pytest.approx(record["amount_atomic"] / XMR)
    assert record["fee"] == world.miners[intent.miner].fee
    assert record["priority"] == 1 and record["attempts"] == 1
    assert record["timestamp"] == world.clock.now
    transitions = [e for e in logs if e["event"] == "transition"]
    assert [(e["from"], e["trigger"], e["to"]) for e in transitions] == HAPPY
    sent_log = next(e for e in logs if e["event"] == "tx_sent")
    assert f"Transaction sent successfully: {record['tx_hash']}" in sent_log["message"]
    assert "Sent transaction:" in sent_log["message"]


def test_idle_waits_for_transaction_frequency_after_a_success():
    world = make_world({"transaction_frequency": "60", "verification_interval": "600"})
    run_cycle(world)
    sent_at = world.mem.last_success_at
    result = world.step()
    assert (result.trigger, result.dest.value) == ("keep_waiting", "Idle")
    assert result.delay == pytest.approx(60.0)
    world.clock.sleep(result.delay)
    assert world.clock.now == pytest.approx(sent_at + 60)
    assert world.step().trigger == "wake"


def test_no_miners_goes_back_to_idle_and_waits():
    world = make_world(weights=())
    results = world.steps_until("Idle")
    assert path(results) == [("Idle", "wake", "Discovering"), ("Discovering", "no_miners", "Idle")]
    assert results[-1].delay == 30.0


def test_missing_registry_is_retried_later_not_fatal():
    world = make_world()
    world.registry.error = RegistryError("agent_registry.json: does not exist")
    with capture_logs() as logs:
        results = world.steps_until("Idle")
    assert results[-1].trigger == "registry_unavailable" and results[-1].delay == 30.0
    assert any("does not exist" in e["message"] for e in logs if e["event"] == "registry_unavailable")
    world.registry.error = None
    world.clock.sleep(results[-1].delay)
    assert [r.trigger for r in run_cycle(world)][-1] == "recorded"


def test_zero_weights_fall_back_to_random():
    world = make_world(weights=(0, 0))
    with capture_logs() as logs:
        results = run_cycle(world)
    assert ("SelectingMiner", "miner_selected", "CheckingBalance") in path(results)
    assert any(e["event"] == "zero_weights" for e in logs)


def test_weighted_selection_follows_weights():
    picks = {"m1": 0, "m2": 0}
    world = make_world({"transaction_frequency": "0"}, weights=(90, 10), unlocked=10**6 * XMR)
    for _ in range(300):
        run_cycle(world)
        picks[world.ledger.records[-1]["sender_id"]] += 1
    assert 240 <= picks["m1"] <= 295, picks


def test_insufficient_unlocked_balance_on_every_miner():
    world = make_world(unlocked=10**9)
    for wallet in world.miners.values():
        wallet.total = 500 * XMR  # plenty, but locked
    results = world.steps_until("Idle")
    triggers = [r.trigger for r in results]
    assert triggers.count("balance_low") == 2
    assert triggers[-1] == "no_miner_available" and results[-1].delay == 30.0
    for wallet in world.miners.values():
        assert "refresh" in wallet.calls, "a miner must be refreshed before it is judged unable to pay"
        assert "transfer" not in wallet.calls


def test_unreachable_miner_is_cooled_down_and_the_other_pays():
    world = make_world(weights=(100, 0))
    world.miners["m1"].down = True
    with capture_logs() as logs:
        results = run_cycle(world)
    assert ("CheckingBalance", "miner_unreachable", "SelectingMiner") in path(results)
    assert world.ledger.records[0]["sender_id"] == "m2"
    assert world.mem.cooldown_until["m1"] > world.clock.now
    assert any(e["event"] == "miner_cooldown" for e in logs)


def test_recipient_wallet_down_is_skipped_and_the_cycle_goes_on():
    world = make_world(users=2, user_addresses="wallet")
    world.users["u1"].down = True
    world.users["u2"].down = True
    world.registry.agents = [a for a in world.registry.agents if a["id"] != "distributor"]
    results = run_cycle(world)
    # Both users down and the other miner is eligible too: it ends at the other miner or no_recipient.
    skipped = [r for r in results if r.trigger == "recipient_unreachable"]
    assert skipped and all(r.source is r.dest is State.SELECTING_RECIPIENT for r in skipped)
    for record in world.ledger.records:
        assert record["recipient_id"] not in ("u1", "u2")


def test_recipient_without_registry_address_is_asked_through_its_wallet():
    world = make_world(users=1, user_addresses="wallet", weights=(100,))
    world.registry.agents = [a for a in world.registry.agents if a["id"] != "distributor"]
    run_cycle(world)
    [record] = world.ledger.records
    assert record["recipient_id"] == "u1"
    assert world.users["u1"].calls == ["get_address"]
    assert record["recipient_address"] == world.users["u1"].address
    run_cycle_after_wait(world)
    assert world.users["u1"].calls == ["get_address"], "the address is cached after the first look-up"


def run_cycle_after_wait(world):
    return world.cycle()  # sleeps through keep_waiting until the next send is due


def test_transient_errors_until_success():
    world = make_world(weights=(100,))
    miner = world.miners["m1"]
    miner.fail_next("transfer", transfer_error("transient"), transfer_error("daemon"))
    results = run_cycle(world)
    assert [r.trigger for r in results].count("retry") == 2
    retries = [r for r in results if r.trigger == "retry"]
    assert all(r.dest is State.BUILDING and r.delay > 0 for r in retries)
    assert retries[1].delay > retries[0].delay / 2  # back-off grows (equal jitter keeps >= half)
    [record] = world.ledger.records
    assert record["attempts"] == 3
    assert miner.calls.count("transfer") == 3


def test_retries_exhausted_gives_up_and_cools_the_miner_down():
    world = make_world({"max_retries": "3"}, weights=(100,))
    miner = world.miners["m1"]
    miner.fail_next("transfer", *(transfer_error("transient") for _ in range(3)))
    with capture_logs() as logs:
        results = run_cycle(world)
    assert path(results)[-1] == ("Retrying", "retry", "Idle")
    assert miner.calls.count("transfer") == 3 and miner.sent == []
    assert world.ledger.records == []
    assert world.mem.failed == 1 and world.mem.cooldown_until["m1"] > world.clock.now
    assert any(e["event"] == "tx_failed" and "Failed to send" in e["message"] for e in logs)


def test_bad_address_drops_the_recipient_without_retrying():
    world = make_world(users=2, weights=(100,))
    miner = world.miners["m1"]
    miner.fail_next("transfer", transfer_error("bad_address"))
    results = run_cycle(world)
    rejected = [r for r in results if r.trigger == "recipient_rejected"]
    assert len(rejected) == 1 and rejected[0].dest is State.SELECTING_RECIPIENT
    bad = next(r for r in world.mem.rejected_addresses)
    [record] = world.ledger.records
    assert record["recipient_id"] != bad
    assert miner.calls.count("transfer") == 2  # the rejected one, then the next recipient


def test_permanent_error_gives_up():
    world = make_world(weights=(100,))
    world.miners["m1"].fail_next("transfer", transfer_error("too_large"))
    results = run_cycle(world)
    assert path(results)[-1] == ("Retrying", "give_up", "Idle")
    assert results[-1].delay == 30.0
    assert world.miners["m1"].calls.count("transfer") == 1 and world.ledger.records == []


def test_locked_coins_switch_to_the_other_miner():
    world = make_world(weights=(100, 0))
    world.miners["m1"].fail_next("transfer", transfer_error("locked"))
    results = run_cycle(world)
    assert ("Retrying", "miner_locked", "SelectingMiner") in path(results)
    assert world.ledger.records[0]["sender_id"] == "m2"
    assert "m1" in world.mem.needs_refresh


def test_not_enough_money_switches_miner():
    world = make_world(weights=(100, 0))
    world.miners["m1"].fail_next("transfer", transfer_error("broke"))
    results = run_cycle(world)
    assert ("Retrying", "miner_broke", "SelectingMiner") in path(results)
    assert world.ledger.records[0]["sender_id"] == "m2"


def test_rejected_by_daemon_refreshes_and_builds_again():
    world = make_world(weights=(100,))
    miner = world.miners["m1"]
    miner.fail_next("transfer", rpc_error(-4, "transaction was rejected by daemon"))
    run_cycle(world)
    assert len(world.ledger.records) == 1
    assert miner.calls[-3:] == ["refresh", "transfer", "relay_tx"]


@pytest.mark.parametrize("stop_in", ["Discovering", "SelectingMiner", "CheckingBalance", "SelectingRecipient",
                                     "Building", "Retrying", "Journaling", "Idle"])
def test_stop_request_mid_cycle_enters_stopped_without_more_io(stop_in):
    world = make_world(weights=(100,))
    world.miners["m1"].fail_next("transfer", transfer_error("transient"))
    for _ in range(30):
        if world.distributor.current.value == stop_in:
            break
        world.step()
    assert world.distributor.current.value == stop_in
    calls_before = list(world.miners["m1"].calls)
    world.distributor.request_stop()
    result = world.step()
    assert (result.trigger, result.dest) == ("shutdown", State.STOPPED)
    assert world.distributor.stopped
    assert world.miners["m1"].calls == calls_before
    with pytest.raises(RuntimeError):
        world.step()


@pytest.mark.parametrize("stop_in", ["Relaying", "Recording"])
def test_stop_request_after_journaling_first_relays_and_records_the_payment(stop_in):
    world = make_world(weights=(100,))
    world.steps_until(stop_in)
    world.distributor.request_stop()
    results = [world.step() for _ in range(3 if stop_in == "Relaying" else 2)]
    assert results[-1].dest is State.STOPPED
    assert [r.trigger for r in results[:-1]] == (["relayed", "recorded"] if stop_in == "Relaying" else ["recorded"])
    [tx] = world.miners["m1"].sent
    assert [r["tx_hash"] for r in world.ledger.records] == [tx.tx_hash]
    assert world.mem.open_intents() == []


def test_ledger_failure_keeps_the_intent_open_and_records_it_later():
    world = make_world(weights=(100,))
    world.ledger.fail = 1
    results = run_cycle(world)
    assert path(results)[-1] == ("Recording", "record_deferred", "Idle")
    [intent] = world.mem.open_intents()
    assert intent.status == "relayed" and world.ledger.records == []
    world.clock.sleep(results[-1].delay)
    assert path([world.step(), world.step()]) == [("Idle", "recover", "Recovering"),
                                                 ("Recovering", "resume_record", "Recording")]
    assert world.step().trigger == "recorded"
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]
    assert world.mem.open_intents() == []
    assert world.journal.intents[intent.tx_hash].status == "recorded"


def test_unexpected_exception_in_an_action_is_a_fault_not_a_crash(monkeypatch):
    world = make_world()

    def broken(*_a, **_k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(world.registry, "read", broken)
    with capture_logs() as logs:
        results = world.steps_until("Idle")
    assert path(results)[-1] == ("Discovering", "fault", "Idle")
    assert any(e["event"] == "action_failed" and "boom" in e["message"] for e in logs)


def test_never_sends_to_itself_or_to_the_selected_miner():
    world = make_world({"transaction_frequency": "0"}, users=2)
    for _ in range(60):
        run_cycle(world)
    assert len(world.ledger.records) == 60
    for record in world.ledger.records:
        assert record["recipient_id"] not in ("distributor", record["sender_id"])


def test_round_robin_serves_recipients_in_turn():
    world = make_world({"transaction_frequency": "0", "recipient_selection": "round_robin"},
                       users=3, weights=(100,))
    for _ in range(6):
        run_cycle(world)
    # Eligible in registry order: u1, u2, u3 (the miner m1 and the distributor are excluded).
    assert [r["recipient_id"] for r in world.ledger.records] == ["u1", "u2", "u3"] * 2


def test_balance_strategy_picks_the_highest_unlocked_balance():
    world = make_world({"miner_selection_strategy": "balance"})
    world.miners["m1"].unlocked = world.miners["m1"].total = 5 * XMR
    world.miners["m2"].unlocked = 50 * XMR
    world.miners["m2"].total = 60 * XMR
    run_cycle(world)
    assert world.ledger.records[0]["sender_id"] == "m2"
    world.miners["m1"].unlocked = world.miners["m1"].total = 500 * XMR
    run_cycle_after_wait(world)
    assert world.ledger.records[1]["sender_id"] == "m1"


def test_amount_is_drawn_in_range_as_integer_atomic_units():
    # max_fee_fraction 0: a fee of 0.0026 XMR on 1-3 atomic units would be refused (issue 11's fee sanity).
    world = make_world({"transaction_frequency": "0", "min_transaction_amount": "0.000000000001",
                        "max_transaction_amount": "0.000000000003", "max_fee_fraction": "0"}, weights=(100,))
    seen = set()
    for _ in range(40):
        run_cycle(world)
        seen.add(world.ledger.records[-1]["amount_atomic"])
    assert seen == {1, 2, 3}
    assert all(type(r["amount_atomic"]) is int for r in world.ledger.records)


def test_amounts_above_int64_are_drawn_exactly_up_to_the_wallet_limit():
    # 10 million XMR is above int64 atomic units: numpy's default draw failed every cycle
    # ("high is out of bounds for int64"); up to 2**64 - 1 (the most a wallet takes) must work.
    world = make_world({"transaction_frequency": "0", "min_transaction_amount": "9300000",
                        "max_transaction_amount": "18446744.073709551615"}, weights=(100,), unlocked=2**64 - 1)
    for _ in range(5):
        world.miners["m1"].unlocked = world.miners["m1"].total = 2**64 - 1  # refilled: every draw is payable
        run_cycle(world)
    amounts = [r["amount_atomic"] for r in world.ledger.records]
    assert len(amounts) == 5 and len(set(amounts)) == 5
    assert all(type(a) is int and 9_300_000 * XMR <= a <= 2**64 - 1 for a in amounts)


def test_amounts_within_int64_are_drawn_as_they_always_were():
    """Same seed, same amounts: the int64 draw is untouched by the uint64 path."""
    world = make_world({"transaction_frequency": "0", "min_transaction_amount": "0.1",
                        "max_transaction_amount": "9223372.036854775807"}, weights=(100,), unlocked=2**63)
    reference = np.random.default_rng(7)
    draws = []
    for _ in range(3):
        world.step()  # Idle: the cycle's amount is drawn here, before the draws of miner and recipient
        draws.append(world.data.amount)  # the Cycle that Discovering took
        world.cycle()
    low, high = world.config.min_amount, world.config.max_amount
    assert draws[0] == int(reference.integers(low, high, endpoint=True))
    assert all(type(a) is int for a in draws) and len(set(draws)) == 3


def decisions(seed: int, cycles: int = 15):
    world = make_world({"transaction_frequency": "0"}, seed=seed, users=5)
    out = []
    for _ in range(cycles):
        run_cycle(world)
        r = world.ledger.records[-1]
        out.append((r["sender_id"], r["recipient_id"], r["amount_atomic"]))
    return out


def test_same_seed_same_decisions():
    assert decisions(11) == decisions(11)
    assert decisions(11) != decisions(12)

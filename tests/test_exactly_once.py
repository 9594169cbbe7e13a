"""Crash recovery and verification, step by step over fakes.

Each test starts from a journal as a crash at one phase would leave it and
checks that the payment ends up sent once and recorded once.  The same
scenarios run against the real wallet in tests/regtest/test_crash.py.
"""

from __future__ import annotations

from fakes import XMR, FakeJournal, make_world, rpc_error
from fsm_distributor.core.intent import Intent
from fsm_distributor.states import State


def path(results):
    return [(r.source.value, r.trigger, r.dest.value) for r in results]


def crashed_world(status: str, *, relayed_already: bool = False, mined: bool = False, recorded: bool = False):
    """A world whose journal holds one intent m1 -> u1 left at `status` by a crash."""
    world = make_world(weights=(100,), users=1, recovered=False, journal=FakeJournal())
    miner = world.miners["m1"]
    user = world.users["u1"]
    built = miner.transfer([(user.address, 2 * XMR)], priority=1, do_not_relay=True)
    miner.calls.clear()
    if relayed_already:
        miner.relay_tx(built.tx_metadata)
        miner.calls.clear()
    if mined:
        miner.confirm_all(height=90)
    intent = Intent(tx_hash=built.tx_hash, miner="m1", miner_endpoint=("127.0.0.1", 28001),
                    destinations=(("u1", user.address, 2 * XMR),), fee=built.fee, status=status,
                    tx_metadata=built.tx_metadata if status == "built" else "", priority=1)
    world.journal.intents[intent.tx_hash] = intent
    if recorded:
        world.ledger.records.append({"tx_hash": intent.tx_hash, "recipient_id": "u1", "sender_id": "m1"})
    return world, intent


def test_built_but_never_relayed_is_relayed_once_and_recorded():
    world, intent = crashed_world("built")
    results = world.steps_until("Idle")
    assert path(results) == [("Recovering", "resume_relay", "Relaying"), ("Relaying", "relayed", "Recording"),
                             ("Recording", "recorded", "Idle")]
    assert [tx.tx_hash for tx in world.miners["m1"].sent] == [intent.tx_hash]
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]
    assert world.journal.intents[intent.tx_hash].status == "recorded"
    assert world.journal.intents[intent.tx_hash].tx_metadata == "", "metadata is dropped once relayed"
    assert "transfer" not in world.miners["m1"].calls, "never transfer for an intent with a tx_hash"
    assert world.mem.open_intents() == [] and world.step().trigger != "recover"


def test_relayed_before_the_crash_is_relayed_again_harmlessly():
    world, intent = crashed_world("built", relayed_already=True)
    world.steps_until("Idle")
    assert len(world.miners["m1"].sent) == 1, "relaying the same metadata must not pay twice"
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]


def test_relay_rejected_but_wallet_knows_the_tx_counts_as_sent():
    # Mined meanwhile: relaying again is rejected, yet the wallet has it as "out".
    world, intent = crashed_world("built", relayed_already=True, mined=True)
    world.miners["m1"].fail_next("relay_tx", rpc_error(-4, "Failed to commit tx.", "relay_tx"))
    results = world.steps_until("Idle")
    assert ("Relaying", "relayed", "Recording") in path(results)
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]


def test_relay_rejected_and_unknown_to_the_wallet_is_failed_and_nothing_is_recorded():
    world, intent = crashed_world("built")
    world.miners["m1"].fail_next("relay_tx", rpc_error(-4, "Failed to commit tx.", "relay_tx"))
    results = world.steps_until("Idle")
    assert path(results)[-1] == ("Relaying", "relay_rejected", "Idle")
    assert world.journal.intents[intent.tx_hash].status == "failed"
    assert world.ledger.records == [] and world.miners["m1"].sent == []
    assert world.mem.open_intents() == [] and world.mem.busy_miners() == set()


def test_relayed_and_already_recorded_is_not_recorded_twice():
    world, intent = crashed_world("relayed", relayed_already=True, recorded=True)
    results = world.steps_until("Idle")
    assert path(results) == [("Recovering", "resume_record", "Recording"), ("Recording", "recorded", "Idle")]
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]
    assert world.journal.intents[intent.tx_hash].status == "recorded"


def test_wallet_down_during_recovery_keeps_the_intent_open_and_the_miner_busy():
    world, intent = crashed_world("built")
    world.miners["m1"].down = True
    results = world.steps_until("Idle")
    assert path(results)[-1] == ("Relaying", "relay_deferred", "Idle")
    assert world.mem.busy_miners() == {"m1"}
    # Meanwhile a new cycle must not build on m1 (it would pick the same inputs).
    world.miners["m1"].down = False
    world.mem.recovery_due_at = world.clock.now + 10_000
    results = world.cycle()
    assert ("SelectingMiner", "no_miner_available", "Idle") in path(results)
    assert "transfer" not in world.miners["m1"].calls
    world.clock.now = world.mem.recovery_due_at
    assert world.step().trigger == "recover"
    world.steps_until("Idle")
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]
    assert world.mem.relay_failures == {}, "the back-off count of a relayed intent is dropped"


def test_journal_write_failure_drops_the_build_and_pays_nothing():
    world = make_world(weights=(100,))
    world.journal.fail = 1
    results = world.cycle()
    assert path(results)[-1] == ("Journaling", "journal_failed", "Idle")
    assert world.miners["m1"].sent == [] and "relay_tx" not in world.miners["m1"].calls
    assert world.mem.intents == {}


def test_verification_follows_pool_to_confirmed_and_writes_the_status():
    world = make_world({"verification_interval": "10", "transaction_frequency": "1000"}, weights=(100,))
    world.cycle()
    [record] = world.ledger.records
    world.clock.sleep(10)
    assert path([world.step(), world.step()]) == [("Idle", "verify", "Verifying"), ("Verifying", "verified", "Idle")]
    assert world.journal.intents[record["tx_hash"]].status == "recorded", "still in the pool"
    world.miners["m1"].confirm_all(height=120, confirmations=1)
    world.clock.sleep(10)
    world.step(), world.step()
    assert world.journal.intents[record["tx_hash"]].status == "confirmed"
    assert record["status"] == "confirmed" and record["height"] == 120 and record["confirmations"] == 1
    assert world.mem.verify_due_at == {}


def test_first_step_is_recovery_from_the_journal():
    world = make_world(recovered=False)
    assert world.distributor.current is State.RECOVERING
    assert path([world.step()]) == [("Recovering", "recovered", "Idle")]

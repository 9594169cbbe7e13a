"""Failed means failed: verification verdicts, step by step over fakes.

A transaction is failed only when it can no longer confirm: its inputs spent
by another transaction, or absent from the daemon's pool and chain for
ABSENT_BLOCKS blocks (or, with no daemon to ask, failed in the wallet's own
words).  A wallet that forgets it is a reason to ask the daemon.  The same is
run against a real wallet-rpc restarted from an older wallet file in
tests/regtest/test_durability.py.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from fakes import make_world, rpc_error
from fsm_distributor.actions.shared import WATCH_FACTOR
from fsm_distributor.actions.verifying import ABSENT_BLOCKS

INTERVAL = 10
PAYING = {"verification_interval": str(INTERVAL), "transaction_frequency": "1000"}
FUNDING = {"verification_interval": str(INTERVAL), "initial_funding": "true", "md_n_recipients": "8",
           "md_out_per_tx": "2", "md_output_amount": "5", "distribution_mode": "funding_cycle",
           "md_funding_cycle_interval": "100000"}


def paid_once(attributes=PAYING, **kwargs):
    """A world that has sent and recorded one payment from m1."""
    world = make_world(attributes, weights=(100,), **kwargs)
    if attributes.get("initial_funding") == "true":
        world.steps_until("Recording")
        world.step()
    else:
        world.cycle()
    tx_hash = world.ledger.records[0]["tx_hash"]
    return world, tx_hash, world.miners["m1"], world.daemons["m1"]


def check(world, rounds: int = 1) -> list[str]:
    """`rounds` verification rounds, INTERVAL apart; the intent's status after each."""
    statuses = []
    tx_hash = world.ledger.records[0]["tx_hash"]
    for _ in range(rounds):
        world.clock.sleep(INTERVAL)
        world.steps_until("Verifying")
        assert world.step().trigger == "verified"
        statuses.append(world.journal.intents[tx_hash].status)
    return statuses


def statuses(world) -> dict[str, str]:
    return {r["tx_hash"]: r["status"] for r in world.ledger.records}


def test_a_tx_the_wallet_forgot_is_followed_through_the_daemon_until_confirmed():
    world, tx_hash, wallet, daemon = paid_once()
    wallet.forget(tx_hash)  # wallet-rpc restarted from an older wallet file: -8 from now on
    assert check(world, rounds=ABSENT_BLOCKS + 5) == ["recorded"] * (ABSENT_BLOCKS + 5), "in the pool: not failed"
    daemon.mine(3)
    assert check(world) == ["confirmed"]
    intent = world.journal.intents[tx_hash]
    assert (intent.height, intent.confirmations) == (daemon.blocks[tx_hash], 3)
    assert statuses(world) == {tx_hash: "confirmed"} and world.ledger.records[0]["height"] == daemon.blocks[tx_hash]


def test_a_funding_tx_the_wallet_forgot_pays_nobody_again_after_a_restart():
    world, tx_hash, wallet, daemon = paid_once(FUNDING, users=3)
    world.steps_until("Idle")
    assert {r["recipient_id"] for r in world.ledger.records} == {"u1", "u2", "u3"}
    wallet.forget(tx_hash)
    check(world, rounds=4)
    world.restart()
    world.steps_until("Idle")
    for _ in range(20):  # funding is complete: the machine only waits and verifies
        result = world.step()
        if result.trigger == "keep_waiting":
            world.clock.sleep(result.delay)
    assert [tx.tx_hash for tx in wallet.sent] == [tx_hash], "nobody funded twice"
    assert world.journal.intents[tx_hash].status == "recorded"
    daemon.mine(1)
    world.clock.sleep(INTERVAL)
    world.steps_until("Verifying"), world.step()
    assert world.journal.intents[tx_hash].status == "confirmed"


def test_wallet_failed_but_in_the_daemons_pool_is_not_failed():
    world, tx_hash, wallet, daemon = paid_once()
    wallet.tx_types[tx_hash]["type"] = "failed"
    assert check(world, rounds=3) == ["recorded"] * 3
    daemon.mine(1)
    assert check(world) == ["confirmed"]


def test_without_a_daemon_a_forgotten_tx_is_never_failed_but_a_wallet_failed_one_is():
    world, tx_hash, wallet, _ = paid_once()
    for agent in world.registry.agents:
        agent.pop("daemon_rpc_port", None)
    world.mem.snapshot = None  # read again
    wallet.forget(tx_hash)
    assert check(world, rounds=ABSENT_BLOCKS + 2)[-1] == "recorded"
    wallet.tx_types[tx_hash] = {"type": "failed", "height": 0}
    assert check(world) == ["failed"]
    assert world.journal.intents[tx_hash].verdict == "wallet_failed"


def test_a_double_spent_tx_is_failed_at_the_first_check_from_its_key_images():
    world, tx_hash, wallet, daemon = paid_once()
    assert world.journal.intents[tx_hash].key_images, "the build's key images are journaled"
    daemon.double_spend(tx_hash)  # the wallet goes on calling it pending (seen on 0.18)
    with capture_logs() as logs:
        assert check(world) == ["failed"]
    intent = world.journal.intents[tx_hash]
    assert intent.verdict == "inputs_spent" and "spent by another transaction" in intent.note
    assert statuses(world) == {tx_hash: "failed"}
    assert [e["event"] for e in logs if e["event"].startswith("tx_")] == ["tx_verification_failed"]
    assert tx_hash not in world.mem.watch_due_at, "a double spend is final: not watched"


def test_a_dropped_tx_is_failed_only_after_absent_blocks():
    world, tx_hash, wallet, daemon = paid_once()
    daemon.drop(tx_hash)  # flushed from the pool, inputs unspent
    seen = []
    for _ in range(ABSENT_BLOCKS + 1):
        seen += check(world)
        daemon.height_now += 1
    assert seen == ["recorded"] * ABSENT_BLOCKS + ["failed"]
    assert world.journal.intents[tx_hash].verdict == "absent"


def test_a_tx_back_in_the_pool_starts_the_absence_again():
    world, tx_hash, wallet, daemon = paid_once()
    daemon.drop(tx_hash)
    for _ in range(ABSENT_BLOCKS - 1):
        check(world)
        daemon.height_now += 1
    daemon.add_to_pool(tx_hash)  # rebroadcast
    check(world)
    daemon.drop(tx_hash)
    for _ in range(ABSENT_BLOCKS - 1):
        daemon.height_now += 1
        assert check(world) == ["recorded"]


def dropped_until_failed():
    """A payment dropped from the pool and absent long enough to be failed (and watched)."""
    world, tx_hash, wallet, daemon = paid_once()
    daemon.drop(tx_hash)
    for _ in range(ABSENT_BLOCKS + 1):
        check(world)
        daemon.height_now += 1
    assert world.journal.intents[tx_hash].status == "failed" and tx_hash in world.mem.watch_due_at
    return world, tx_hash, daemon


def watch_once(world) -> None:
    world.clock.sleep(WATCH_FACTOR * INTERVAL)
    world.steps_until("Verifying"), world.step()


def test_a_failed_tx_found_in_a_block_later_becomes_confirmed_with_a_line_naming_the_verdict():
    world, tx_hash, daemon = dropped_until_failed()
    daemon.add_to_pool(tx_hash)
    daemon.mine(2)
    with capture_logs() as logs:
        watch_once(world)
    intent = world.journal.intents[tx_hash]
    assert intent.status == "confirmed" and intent.confirmations == 2 and intent.verdict is None
    assert statuses(world) == {tx_hash: "confirmed"}
    [revived] = [e for e in logs if e["event"] == "tx_revived"]
    assert revived["earlier_verdict"] == "absent" and "neither in the pool" in revived["message"]
    assert tx_hash not in world.mem.watch_due_at


def test_a_watched_failure_whose_inputs_are_spent_elsewhere_is_settled_and_no_longer_watched():
    world, tx_hash, daemon = dropped_until_failed()
    daemon.double_spend(tx_hash)
    watch_once(world)
    assert world.journal.intents[tx_hash].verdict == "inputs_spent"
    assert tx_hash not in world.mem.watch_due_at


def test_another_wallet_opened_in_the_miners_wallet_rpc_is_reported_once():
    world, tx_hash, wallet, daemon = paid_once()
    assert world.journal.intents[tx_hash].sender_address == wallet.address
    wallet.forget(tx_hash)
    wallet.address = world.users["u2"].address  # someone opened another wallet file
    with capture_logs() as logs:
        check(world, rounds=3)
    changed = [e for e in logs if e["event"] == "wallet_changed"]
    assert len(changed) == 1 and changed[0]["miner"] == "m1" and changed[0]["address"] == wallet.address
    assert world.journal.intents[tx_hash].status == "recorded", "the daemon still has it in the pool"


def test_wallet_down_but_daemon_has_it_in_a_block_confirms():
    world, tx_hash, wallet, daemon = paid_once()
    wallet.down = True
    daemon.mine(1)
    assert check(world) == ["confirmed"]


@pytest.mark.parametrize("daemon_down", [False, True])
def test_a_tx_missing_while_the_daemon_cannot_say_stays_recorded(daemon_down):
    world, tx_hash, wallet, daemon = paid_once()
    wallet.forget(tx_hash)
    daemon.drop(tx_hash)
    daemon.down = daemon_down
    if daemon_down:
        daemon.height_now += 100
    for _ in range(3):
        check(world)
        daemon.height_now += 0 if daemon_down else 1
    assert world.journal.intents[tx_hash].status == "recorded"


def relay_world(mined_elsewhere: bool = False, in_pool: bool = False):
    """A journaled, unrelayed intent whose relay the wallet refuses, and which the wallet does not know."""
    world = make_world(PAYING, weights=(100,), recovered=False)
    wallet, daemon = world.miners["m1"], world.daemons["m1"]
    user = world.users["u1"]
    built = wallet.transfer([(user.address, 10**12)], priority=1, do_not_relay=True)
    from fsm_distributor.adapters.journal import Intent  # noqa: PLC0415
    intent = Intent(tx_hash=built.tx_hash, miner="m1", miner_endpoint=("127.0.0.1", 28001),
                    destinations=(("u1", user.address, 10**12),), fee=built.fee, status="built",
                    tx_metadata=built.tx_metadata, priority=1, key_images=built.key_images)
    world.journal.intents[intent.tx_hash] = intent
    if in_pool:
        daemon.add_to_pool(intent.tx_hash, built.key_images)
    if mined_elsewhere:
        daemon.images[intent.tx_hash] = built.key_images
        daemon.double_spend(intent.tx_hash)
    wallet.fail_next("relay_tx", rpc_error(-4, "Failed to commit tx.", "relay_tx"))
    return world, intent


def test_relay_refused_and_unknown_to_the_wallet_but_in_the_daemons_pool_counts_as_sent():
    world, intent = relay_world(in_pool=True)
    results = world.steps_until("Idle")
    assert [r.trigger for r in results] == ["resume_relay", "relayed", "recorded"]
    assert [r["tx_hash"] for r in world.ledger.records] == [intent.tx_hash]


def test_relay_refused_because_the_inputs_were_spent_elsewhere_fails_for_good():
    world, intent = relay_world(mined_elsewhere=True)
    results = world.steps_until("Idle")
    assert results[-1].trigger == "relay_rejected"
    failed = world.journal.intents[intent.tx_hash]
    assert failed.status == "failed" and failed.verdict == "inputs_spent"
    assert intent.tx_hash not in world.mem.watch_due_at and world.ledger.records == []


def test_relay_refused_and_known_to_nobody_fails_but_stays_watched():
    world, intent = relay_world()
    results = world.steps_until("Idle")
    assert results[-1].trigger == "relay_rejected"
    assert world.journal.intents[intent.tx_hash].verdict == "relay_rejected"
    assert intent.tx_hash in world.mem.watch_due_at

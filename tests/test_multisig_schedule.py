"""Scheduled payments from the multisig treasury (issues 12 and 13): in `multisig_mode payments` (or
`all`) a scheduled occurrence is a treasury spend like a single payment, with its key, priority and
time lock; an entry that names its miner is paid by that miner.  Each occurrence once, whatever
crashes, and never by a miner while it waits for the treasury."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from structlog.testing import capture_logs

from fakes import Crash, crash_at, restart_after_crash, run_treasury, treasury_paid, treasury_world
from fsm_distributor.core.multisig import Txset, TxsetStatus
from fsm_distributor.core.names import Purpose, Status

TREASURY = "distributor-multisig"
MINUTE = 60.0


def entries(*more):
    """Three occurrences 30 s apart from 20 minutes on, round robin; the ones in `more` beside them."""
    return [{"id": "tick", "every": "30s", "start": "20m", "count": 3, "to": "round_robin", "amount": "0.5"}, *more]


def scheduled_world(schedule, attrs=None):
    """A treasury world whose only payments are `schedule`'s: funded, then the clock at its 20th minute."""
    world = treasury_world({"schedule": json.dumps(schedule), "transaction_frequency": "off", **(attrs or {})})
    anchor = world.clock.now
    run_treasury(world, 60, until=lambda w: any(r["purpose"] == "treasury_funding" for r in w.ledger.records))
    assert world.mem.treasury.ready() is not None
    assert world.clock.now < anchor + 20 * MINUTE, "funded before the first occurrence is due"
    world.clock.sleep(anchor + 20 * MINUTE - world.clock.now)
    return world


def scheduled(world) -> list[dict]:
    return [r for r in world.ledger.records if r["purpose"] == Purpose.SCHEDULED]


def keys_paid(world) -> Counter:
    """(schedule_id, occurrence) of every set that left the treasury, by its journaled intent."""
    return Counter((world.journal.intents[h].schedule_id, world.journal.intents[h].occurrence)
                   for h, _ in treasury_paid(world))


def test_occurrences_are_treasury_spends_with_their_key_priority_and_time_lock():
    locked = {"id": "locked", "at": "20m", "to": "u2", "amount": "1.25", "unlock_after_blocks": 5, "priority": 3}
    world = scheduled_world(entries(locked))
    miners_sent = {m: len(w.sent) for m, w in world.miners.items()}
    with capture_logs() as logs:
        run_treasury(world, 200, until=lambda w: len(scheduled(w)) == 4)
    records = scheduled(world)
    assert sorted((r["schedule_id"], r["occurrence"]) for r in records) == [
        ("locked", 1), ("tick", 1), ("tick", 2), ("tick", 3)]
    assert all(r["sender_id"] == TREASURY and r["multisig"] == "2-of-3" and len(r["signers"]) == 2 for r in records)
    assert {m: len(w.sent) for m, w in world.miners.items()} == miners_sent, "no miner paid a scheduled payment"
    assert keys_paid(world) == Counter({(r["schedule_id"], r["occurrence"]): 1 for r in records})
    # the time-locked one: built on the treasury's signer at its height + 5 and with its entry's priority
    [lock] = [r for r in records if r["schedule_id"] == "locked"]
    intent = world.journal.intents[lock["tx_hash"]]
    [told] = [e for e in logs if e["event"] == "unlock_time"]
    assert intent.unlock_time == told["unlock_time"] == told["height"] + 5 and told["height"] > 0
    assert (intent.priority, intent.strategy, lock["amount_atomic"]) == (3, "schedule", 1_250_000_000_000)
    asked = [t for s in world.signers.values() for t in s.transfers]
    assert {"priority": 3, "unlock_time": intent.unlock_time} in asked
    assert sum(t["unlock_time"] == 0 for t in asked) == 3, "the others carry no time lock"
    ticks = [world.journal.intents[r["tx_hash"]] for r in records if r["schedule_id"] == "tick"]
    assert all(i.priority == world.config.priority and not i.unlock_time for i in ticks)
    assert [e["from_treasury"] for e in logs if e["event"] == "schedule_due"] == [True] * 4


def test_an_entry_that_names_its_miner_is_paid_by_that_miner_not_the_treasury():
    world = scheduled_world([{"id": "named", "at": "20m", "to": "u3", "amount": "2", "from": "m2"}])
    run_treasury(world, 60, until=lambda w: len(scheduled(w)) == 1)
    [record] = scheduled(world)
    assert (record["sender_id"], record.get("multisig")) == ("m2", None)
    assert not [r for r in world.ledger.records if r["sender_id"] == TREASURY]


def test_while_the_treasury_cannot_pay_an_occurrence_waits_and_no_miner_pays_it():
    world = treasury_world({"schedule": json.dumps([{"id": "early", "at": "10s", "to": "u1", "amount": "1"}]),
                            "transaction_frequency": "off"})
    for signer in world.signers.values():
        signer.down = True
    with capture_logs() as logs:
        run_treasury(world, 40)
    assert not scheduled(world) and not [r for r in world.ledger.records if r["purpose"] == Purpose.SCHEDULED]
    assert not any(tx for _, tx in world.wallets.all_sent()), "nothing was sent by anyone"
    assert [e for e in logs if e["event"] == "payment_waits_for_treasury" and e["reason"] == "not_ready"]
    for signer in world.signers.values():
        signer.down = False
    run_treasury(world, 200, until=lambda w: len(scheduled(w)) == 1)
    [record] = scheduled(world)
    assert (record["schedule_id"], record["occurrence"], record["sender_id"]) == ("early", 1, TREASURY)


@pytest.mark.parametrize("phase", ["after_txset_build", "after_txset_journal", "after_txset_sign",
                                   "after_signed_journal", "after_submit", "after_record"])
def test_a_crash_at_each_step_of_an_occurrences_spend_then_restart_pays_it_once(phase):
    world = scheduled_world(entries())
    crash_at(world, phase)
    with pytest.raises(Crash):
        run_treasury(world, 60)
    restart_after_crash(world)
    run_treasury(world, 300, until=lambda w: len(scheduled(w)) == 3)
    assert keys_paid(world) == Counter({("tick", 1): 1, ("tick", 2): 1, ("tick", 3): 1})
    assert Counter((r["schedule_id"], r["occurrence"]) for r in scheduled(world)) == keys_paid(world)
    assert not [i for i in world.journal.intents.values() if i.status in (Status.BUILT, Status.RELAYED)]
    # round robin in registry order over the agents with a wallet but this one and the signers: the
    # treasury pays, so the miners are recipients too (as for the treasury's single payments)
    assert [r["recipient_id"] for r in sorted(scheduled(world), key=lambda r: r["occurrence"])] == ["m1", "m2", "u1"]


def test_a_half_signed_occurrence_holds_its_key_it_is_finished_never_started_again():
    world = scheduled_world(entries())
    for _ in range(40):  # up to the set's first journal line (the builder's signature)
        if world.mem.treasury.open_txsets():
            break
        result = world.step()
        world.clock.sleep(result.delay)
    [open_set] = world.mem.treasury.open_txsets()
    assert (open_set.schedule_id, open_set.occurrence) == ("tick", 1)
    line = Txset.from_json(world.journal.multisig[open_set.key])
    assert (line.schedule_id, line.occurrence, line.status) == ("tick", 1, TxsetStatus.PARTIAL)
    world.signers["s2"].down = world.signers["s3"].down = True  # nobody can co-sign: the set stays open
    restart_after_crash(world)  # and the process restarts meanwhile: the set's line holds the key
    world.clock.sleep(5 * MINUTE)  # every occurrence is due meanwhile
    run_treasury(world, 30)
    assert world.signers["s1"].calls.count("transfer") == 1, "no second set for the open occurrence, nor another"
    assert [(t.schedule_id, t.occurrence) for t in world.mem.treasury.open_txsets()] == [("tick", 1)]
    world.signers["s2"].down = world.signers["s3"].down = False
    run_treasury(world, 300, until=lambda w: len(scheduled(w)) == 3)
    assert keys_paid(world) == Counter({("tick", 1): 1, ("tick", 2): 1, ("tick", 3): 1})
    finished = Txset.from_json(world.journal.multisig[open_set.key])  # the open set was finished, not replaced
    first = next(r for r in scheduled(world) if r["occurrence"] == 1)
    assert (finished.status, finished.tx_hash, finished.signed_by[0]) == (TxsetStatus.SIGNED, first["tx_hash"], "s1")


def test_a_lost_journal_does_not_pay_an_occurrence_the_treasury_paid_again():
    world = scheduled_world(entries())
    run_treasury(world, 200, until=lambda w: len(scheduled(w)) == 1)
    world.lose_journal("missing")  # the treasury is adopted from its info file, the payments from the records
    restart_after_crash(world)
    run_treasury(world, 300, until=lambda w: len(scheduled(w)) == 3)
    run_treasury(world, 60)  # and nothing more once all three are paid
    assert keys_paid(world) == Counter({("tick", 1): 1, ("tick", 2): 1, ("tick", 3): 1})
    assert len(scheduled(world)) == 3

"""Scheduled payments step by step over fakes: one-off, recurring, missed, restarts, waits, edits.

Every test drives the real machine; "on chain" is what the fake wallets relayed
(`SentTx`), and each sent transaction is traced back to its journaled intent's
occurrence key, so a key sent twice is a payment made twice.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from fakes import XMR, make_address, make_world
from fsm_distributor.adapters.schedule_file import ScheduleFile
from fsm_distributor.core.context import no_checkpoint
from fsm_distributor.core.names import Status
from fsm_distributor.machine import Distributor

PHASES = ("after_build", "after_journal", "after_relay", "after_record")


def entry(ident, **fields):
    return {"id": ident, "to": "u1", "amount": "1", **fields}


def world_with(entries, attrs=None, **kw):
    attributes = {"schedule": json.dumps(entries), "transaction_frequency": "off", "verification_interval": "600",
                  **(attrs or {})}
    return make_world(attributes, **kw)


def run_for(world, seconds, limit=3000):
    """Step, sleeping as each step asks (like the run loop), until `seconds` have passed."""
    end = world.clock.now + seconds
    results = []
    for _ in range(limit):
        if world.clock.now >= end:
            return results
        results.append(world.step())
        if results[-1].delay > 0:
            world.clock.sleep(results[-1].delay)
    raise AssertionError(f"{limit} steps did not take {seconds}s: {[r.trigger for r in results[-12:]]}")


class Crash(BaseException):
    """The process dies here: not an Exception, so the machine's fault handling cannot catch it."""


def crash_at(phase, nth=1):
    seen = []

    def checkpoint(name):
        if name == phase:
            seen.append(name)
            if len(seen) == nth:
                raise Crash(phase)
    return checkpoint


def with_checkpoint(world, checkpoint):
    world.distributor = Distributor(replace(world.distributor.deps, checkpoint=checkpoint), world.distributor.mem)


def restart(world):
    """A new process over the same wallets, journal and files: memory is lost, no crash hook."""
    world.distributor = Distributor(replace(world.distributor.deps, checkpoint=no_checkpoint))


def paid_keys(world) -> Counter:
    """(schedule_id, occurrence) of every transaction a wallet relayed, by its journaled intent."""
    keys = Counter()
    for _, tx in world.wallets.all_sent():
        intent = world.journal.intents[tx.tx_hash]
        keys[(intent.schedule_id, intent.occurrence)] += 1
    return keys


def scheduled_records(world):
    return [r for r in world.ledger.records if r.get("purpose") == "scheduled"]


def keys_of(records):
    return [(r["schedule_id"], r["occurrence"]) for r in records]


def events(logs, name):
    return [e for e in logs if e["event"] == name]


# ---------------------------------------------------------------- one-off and recurring


def test_a_one_off_is_paid_once_at_its_time_by_its_miner_with_its_key_in_the_record():
    world = world_with([entry("pay", at="30s", to="u2", amount="2.5", **{"from": "m2"})])
    start = world.clock.now
    first = world.step()
    assert (first.trigger, first.delay) == ("keep_waiting", 30.0)
    world.clock.sleep(first.delay)
    path = [(r.source.value, r.trigger, r.dest.value) for r in run_for(world, 1)]
    assert path[:2] == [("Idle", "scheduled", "Discovering"), ("Discovering", "discovered", "SelectingMiner")]
    assert ("Recording", "recorded", "Idle") in path
    run_for(world, 600)
    [record] = scheduled_records(world)
    assert (record["schedule_id"], record["occurrence"]) == ("pay", 1)
    assert (record["sender_id"], record["recipient_id"], record["amount_atomic"]) == ("m2", "u2", 2_500_000_000_000)
    assert record["timestamp"] == start + 30
    assert paid_keys(world) == Counter({("pay", 1): 1})
    assert world.miners["m1"].sent == [] and "unlock_time" not in record


def test_recurring_with_count_pays_each_occurrence_once_on_time_with_drawn_amounts():
    world = world_with([entry("tick", every="10s", count=4, amount="0.1-0.3")], seed=21)
    start = world.clock.now
    run_for(world, 120)
    records = scheduled_records(world)
    assert keys_of(records) == [("tick", n) for n in (1, 2, 3, 4)]
    assert [r["timestamp"] - start for r in records] == [10, 20, 30, 40]
    assert all(100_000_000_000 <= r["amount_atomic"] <= 300_000_000_000 for r in records)
    assert len({r["amount_atomic"] for r in records}) > 1, "a range is drawn per occurrence"
    assert paid_keys(world) == Counter({("tick", n): 1 for n in (1, 2, 3, 4)})
    again = world_with([entry("tick", every="10s", count=4, amount="0.1-0.3")], seed=21)
    run_for(again, 120)
    assert [r["amount_atomic"] for r in scheduled_records(again)] == [r["amount_atomic"] for r in records]


def test_recurring_with_until_stops_at_until():
    world = world_with([entry("tick", every="10s", start="5s", until="35s")])
    start = world.clock.now
    run_for(world, 200)
    assert [r["timestamp"] - start for r in scheduled_records(world)] == [5, 15, 25, 35]


def test_round_robin_rotates_per_entry_and_goes_on_after_a_restart():
    world = world_with([entry("rr", every="5s", count=6, to="round_robin")], weights=(100,))
    run_for(world, 12)
    restart(world)
    run_for(world, 60)
    assert [r["recipient_id"] for r in scheduled_records(world)] == ["u1", "u2", "u3", "u1", "u2", "u3"]


def test_a_time_locked_payment_asks_a_refreshed_height_and_keeps_its_unlock_time_and_priority():
    world = world_with([entry("lock", at="1s", to="u2", amount="3", unlock_after_blocks=20, priority=3)],
                       weights=(100,))
    miner = world.miners["m1"]
    run_for(world, 5)
    [tx] = miner.sent
    assert (tx.unlock_time, tx.priority) == (world.daemons["m1"].height_now + 20, 3)
    calls = miner.calls[miner.calls.index("transfer") - 2:miner.calls.index("transfer") + 1]
    assert calls == ["refresh", "get_height", "transfer"]
    [record] = scheduled_records(world)
    assert (record["unlock_time"], record["priority"]) == (120, 3)
    assert world.journal.intents[tx.tx_hash].unlock_time == 120


# ---------------------------------------------------------------- missed while down


def down_for(world, seconds):
    world.clock.sleep(seconds)
    restart(world)


def test_missed_occurrences_are_paid_at_the_restart_in_time_order():
    world = world_with([entry("a", every="10s", count=6), entry("b", at="25s", to="u2")], weights=(100,))
    start = world.clock.now
    down_for(world, 45)
    with capture_logs() as logs:
        run_for(world, 1)
    assert keys_of(scheduled_records(world)) == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4)]
    assert {r["timestamp"] for r in scheduled_records(world)} == {start + 45}
    assert [e["late"] for e in events(logs, "schedule_due")] == [35, 25, 20, 15, 5]
    run_for(world, 30)
    assert keys_of(scheduled_records(world))[5:] == [("a", 5), ("a", 6)]
    assert [r["timestamp"] - start for r in scheduled_records(world)][5:] == [50, 60], "the clock did not shift"
    assert paid_keys(world) == Counter(keys_of(scheduled_records(world)))


def test_missed_occurrences_with_skip_are_logged_as_skipped_and_later_ones_paid():
    world = world_with([entry("a", every="10s", count=6), entry("b", at="25s", to="u2")],
                       {"schedule_missed": "skip"}, weights=(100,))
    down_for(world, 45)
    with capture_logs() as logs:
        run_for(world, 30)
    assert keys_of(scheduled_records(world)) == [("a", 5), ("a", 6)]
    skipped = {e["schedule_id"]: (e["first"], e["last"], e["count"]) for e in events(logs, "schedule_skipped")}
    assert skipped == {"a": (1, 4, 4), "b": (1, 1, 1)}
    assert len(events(logs, "schedule_skipped")) == 2, "said once"


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize("phase", PHASES)
def test_a_restart_at_each_payment_phase_pays_every_occurrence_exactly_once(phase):
    world = world_with([entry("tick", every="10s", count=4)], weights=(100,))
    with_checkpoint(world, crash_at(phase, nth=2))
    with pytest.raises(Crash):
        run_for(world, 100)
    crashed = dict(world.journal.intents)
    if phase == "after_build":
        assert len(crashed) == 1, "the second build was never journaled"
    else:
        assert [(i.occurrence, i.status) for i in crashed.values()][-1][0] == 2
    restart(world)
    run_for(world, 100)
    assert paid_keys(world) == Counter({("tick", n): 1 for n in (1, 2, 3, 4)})
    assert keys_of(scheduled_records(world)) == [("tick", n) for n in (1, 2, 3, 4)]
    assert not world.mem.open_intents()
    assert all(i.status is Status.RECORDED for i in world.journal.intents.values())


def test_an_occurrence_in_flight_is_not_built_again_by_another_miner_while_its_relay_waits():
    world = world_with([entry("once", at="5s")], weights=(50, 50))
    with_checkpoint(world, crash_at("after_journal"))
    with pytest.raises(Crash):
        run_for(world, 10)
    [built] = world.journal.intents.values()
    world.miners[built.miner].down = True  # its wallet-rpc is gone for a while: recovery cannot relay
    restart(world)
    run_for(world, 120)
    assert world.wallets.all_sent() == [], "the other miner must not pay the occurrence meanwhile"
    world.miners[built.miner].down = False
    run_for(world, 120)
    assert paid_keys(world) == Counter({("once", 1): 1})


def test_a_lost_journal_does_not_pay_a_recorded_occurrence_again():
    world = world_with([entry("tick", every="10s", count=3)], weights=(100,))
    run_for(world, 15)
    world.lose_journal("missing")
    restart(world)
    run_for(world, 60)
    assert paid_keys(world) == Counter({("tick", n): 1 for n in (1, 2, 3)})


# ---------------------------------------------------------------- failures


def test_a_named_miner_without_unlocked_coins_makes_the_occurrence_wait_and_is_never_replaced():
    world = world_with([entry("pay", at="10s", amount="5", **{"from": "m2"})],
                       {"transaction_frequency": "60"}, weights=(50, 50))
    world.miners["m2"].unlocked = 0
    with capture_logs() as logs:
        run_for(world, 100)
    waits = events(logs, "schedule_waits_for_miner")
    assert len(waits) >= 3, "said at each due time"
    assert all(w["miner"] == "m2" and "0.000000000000 XMR unlocked" in w["reason"] for w in waits)
    assert scheduled_records(world) == []
    assert not [tx for tx in world.miners["m1"].sent if world.journal.intents[tx.tx_hash].schedule_id]
    assert [r for r in world.ledger.records if r["purpose"] == "distribution"], "single payments went on"
    world.miners["m2"].unlocked = 100 * XMR
    run_for(world, 40)
    [record] = scheduled_records(world)
    assert (record["sender_id"], record["schedule_id"]) == ("m2", "pay")


def test_unknown_miner_and_recipient_are_logged_at_each_due_time_and_retried():
    world = world_with([entry("ghost-miner", at="1s", **{"from": "m9"}), entry("ghost-user", at="1s", to="u9"),
                        entry("fine", at="2s", to="u2")], weights=(100,))
    with capture_logs() as logs:
        run_for(world, 200)
    assert len([w for w in events(logs, "schedule_waits_for_miner") if "not a miner" in w["reason"]]) >= 3
    assert len(events(logs, "schedule_recipient_unknown")) >= 3
    assert keys_of(scheduled_records(world)) == [("fine", 1)]
    world.registry.agents.append({"id": "u9", "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28109,
                                  "wallet_address": make_address("u9"), "attributes": {}})
    run_for(world, 40)
    assert keys_of(scheduled_records(world)) == [("fine", 1), ("ghost-user", 1)]


def test_a_failed_verdict_makes_the_occurrence_due_again():
    world = world_with([entry("pay", at="5s", amount="2")], {"verification_interval": "10"}, weights=(100,))
    run_for(world, 6)
    [first] = scheduled_records(world)
    world.daemons["m1"].double_spend(first["tx_hash"])
    with capture_logs() as logs:
        run_for(world, 40)
    assert events(logs, "tx_verification_failed")
    records = scheduled_records(world)
    assert [(r["occurrence"], r["status"]) for r in records] == [(1, "failed"), (1, "relayed")]
    assert records[1]["tx_hash"] != first["tx_hash"]


def test_a_revived_intent_is_not_paid_again():
    world = world_with([entry("pay", at="5s", amount="2")], {"verification_interval": "10"}, weights=(100,))
    miner, daemon = world.miners["m1"], world.daemons["m1"]
    run_for(world, 6)
    [first] = scheduled_records(world)
    daemon.drop(first["tx_hash"])
    miner.unlocked = 0  # the re-payment must wait: its miner has nothing unlocked
    for _ in range(3):  # absent for ABSENT_BLOCKS blocks: failed, watched
        daemon.height_now += 6
        run_for(world, 10)
    assert world.journal.intents[first["tx_hash"]].status is Status.FAILED
    daemon.put_in_block(first["tx_hash"], daemon.height_now, top=daemon.height_now + 1)
    with capture_logs() as logs:
        run_for(world, 60)
    [revived] = events(logs, "tx_revived")
    assert revived["paid_again"] == []
    miner.unlocked = 100 * XMR
    run_for(world, 100)
    assert paid_keys(world) == Counter({("pay", 1): 1})
    assert world.journal.intents[first["tx_hash"]].status is Status.CONFIRMED


# ---------------------------------------------------------------- the file edited at run time


class Editor:
    """Writes the schedule file; each write gets a later mtime (as an editor's save does)."""

    def __init__(self, path):
        self.path, self.mtime = path, 1_700_000_000 * 10**9

    def write(self, entries):
        self.path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
        self.mtime += 10**9
        os.utime(self.path, ns=(self.mtime, self.mtime))


def test_an_edit_at_run_time_valid_invalid_and_removing_an_entry(tmp_path):
    editor = Editor(tmp_path / "schedule.json")
    a = entry("a", every="10s", count=10)
    editor.write([a])
    world = make_world({"schedule": str(editor.path), "transaction_frequency": "off",
                        "verification_interval": "600"}, weights=(100,), schedule=ScheduleFile(editor.path))
    run_for(world, 25)
    assert keys_of(scheduled_records(world)) == [("a", 1), ("a", 2)]
    editor.write([a, entry("b", at="30s", to="u2")])  # valid: b added
    with capture_logs() as logs:
        run_for(world, 10)
    assert events(logs, "schedule_loaded")[0]["added"] == ["b"]
    assert keys_of(scheduled_records(world))[2:] == [("a", 3), ("b", 1)]
    editor.write([a, {**entry("b", at="30s"), "amount": "abc"}])  # invalid: the last good one stays
    with capture_logs() as logs:
        run_for(world, 20)
    [invalid] = events(logs, "schedule_invalid")
    assert "entry 'b' field amount='abc'" in invalid["message"] and "accepted: XMR" in invalid["message"]
    assert keys_of(scheduled_records(world))[4:] == [("a", 4), ("a", 5)]
    paid_before = dict(world.journal.intents)
    editor.write([entry("b", at="30s", to="u2")])  # a removed: its future occurrences stop
    with capture_logs() as logs:
        run_for(world, 60)
    assert events(logs, "schedule_loaded")[0]["removed"] == ["a"]
    assert keys_of(scheduled_records(world)) == [("a", n) for n in (1, 2, 3)] + [("b", 1)] + [
        ("a", 4), ("a", 5)], "nothing after the removal, nothing undone"
    assert world.journal.intents == paid_before


def test_the_schedule_file_is_looked_at_within_balance_check_interval(tmp_path):
    editor = Editor(tmp_path / "schedule.json")
    editor.write([])
    world = make_world({"schedule": str(editor.path), "transaction_frequency": "3600",
                        "verification_interval": "600"}, weights=(100,), schedule=ScheduleFile(editor.path))
    run_for(world, 5)  # the single payment at once, then a wait of at most 30 s, not 3600
    start = world.clock.now
    editor.write([entry("late", at="10s")])
    run_for(world, 40)
    [record] = scheduled_records(world)
    assert record["timestamp"] - start <= 30


# ---------------------------------------------------------------- with the rest of the machine


def test_transaction_frequency_off_makes_no_single_payment():
    world = make_world({"transaction_frequency": "off"})
    results = run_for(world, 300)
    assert world.wallets.all_sent() == []
    assert {r.delay for r in results if r.trigger == "keep_waiting"} == {30.0}


def test_scheduled_payments_leave_the_single_payments_clock_and_initial_funding_alone():
    world = world_with([entry("s", every="30s", count=3, to="u2")],
                       {"transaction_frequency": "60", "initial_funding": "true"}, weights=(100,))
    start = world.clock.now
    run_for(world, 130)
    singles = [r["timestamp"] - start for r in world.ledger.records if r["purpose"] == "distribution"]
    assert singles == [60, 120], "initial funding's relays set the clock; the scheduled ones (30, 60) do not"
    assert [r["timestamp"] - start for r in scheduled_records(world)] == [30, 60, 90]
    assert {r["recipient_id"] for r in world.ledger.records if r["purpose"] == "initial_funding"} == {"u1", "u2", "u3"}

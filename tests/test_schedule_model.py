"""The schedule as data (core.schedule): parsing and refusals, occurrence times, what is due."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fsm_distributor.core.amounts import parse_xmr
from fsm_distributor.core.config import ConfigError, load_config
from fsm_distributor.core.schedule import (Moment, ScheduleError, changes, loads, parse_schedule, plan)

XMR = 10**12
A = 946684800.0  # an anchor: the agent's first start


def entry(**fields):
    return {"id": "e", "to": "u1", "amount": "1", **fields}


def one(**fields):
    [parsed] = parse_schedule([entry(**fields)]).entries
    return parsed


def refused(data) -> ScheduleError:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(data)
    return info.value


# ---------------------------------------------------------------- parsing


def test_a_one_off_with_everything():
    e = one(at="5h", amount="25", **{"from": "m2"}, unlock_after_blocks=20, priority=3)
    assert (e.first, e.every, e.count, e.until) == (Moment(5 * 3600), 0.0, 1, None)
    assert (e.low, e.high, e.miner, e.unlock_after_blocks, e.priority) == (25 * XMR, 25 * XMR, "m2", 20, 3)
    assert e.time_of(1, A) == A + 18000 and e.time_of(2, A) is None


def test_a_recurring_entry_starts_one_interval_in_unless_told():
    e = one(every="10m", count=3, amount="0.1-0.3")
    assert [e.time_of(n, A) for n in (1, 2, 3, 4)] == [A + 600, A + 1200, A + 1800, None]
    assert (e.low, e.high) == (parse_xmr("0.1"), parse_xmr("0.3"))
    assert one(every="10s", start="0s", count=2).time_of(1, A) == A


def test_until_bounds_a_recurring_entry_inclusively_and_count_and_until_both_apply():
    e = one(every="10s", start="5s", until="35s")
    assert [e.time_of(n, A) for n in range(1, 6)] == [A + 5, A + 15, A + 25, A + 35, None]
    assert one(every="10s", until="35s", count=2).last_number(A) == 2
    assert one(every="10s").last_number(A) is None  # without end


def test_absolute_times_are_json_numbers_and_durations_are_strings():
    e = one(at=946688400)
    assert e.first == Moment(946688400.0, absolute=True)
    assert e.time_of(1, anchor=A + 99999) == 946688400.0  # the anchor does not move it
    recurring = one(every=60, start="1m", until=946684800 + 600)  # every/start: numbers are seconds
    assert recurring.last_number(A) == 10


def test_amounts_are_exact_atomic_units_whatever_the_json_number():
    assert one(at="1s", amount="0.000000000001").low == 1
    data = loads('[{"id": "e", "at": "1s", "to": "u1", "amount": 12345678.123456789012}]')
    assert parse_schedule(data).entries[0].low == 12345678123456789012


BAD = [
    (entry(at="5s", every="5s"), "'e'", "at/every", "both given"),
    (entry(), "'e'", "at/every", "neither given"),
    (entry(at="5s", count=3), "'e'", "count", "only with every"),
    (entry(at="soon"), "'e'", "at", "a duration after the agent's first start"),
    (entry(at=30), "'e'", "at", "for a duration write '30s'"),
    (entry(at=10**11), "'e'", "at", "to 4102444800 (2100-01-01)"),
    (entry(every="0s"), "'e'", "every", "greater than 0"),
    (entry(every="1s", count=0), "'e'", "count", "an integer 1-1000000000"),
    (entry(every="1s", count=2.5), "'e'", "count", "an integer"),
    (entry(at="1s", amount="-1"), "'e'", "amount", "negative"),
    (entry(at="1s", amount="0"), "'e'", "amount", "zero"),
    (entry(at="1s", amount="0.3-0.1"), "'e'", "amount", "low end is above"),
    (entry(at="1s", amount="1.0000000000001"), "'e'", "amount", "more than 12 decimal places"),
    (entry(at="1s", amount=None), "'e'", "amount", "missing"),
    (entry(at="1s", to=""), "'e'", "to", "an agent id, or random | round_robin"),
    (entry(at="1s", **{"from": "u1"}), "'e'", "to", "the miner itself"),
    (entry(at="1s", unlock_after_blocks=-1), "'e'", "unlock_after_blocks", "an integer 0-1000000"),
    (entry(at="1s", priority=5), "'e'", "priority", "an integer 0-4"),
    (entry(at="1s", amout="1"), "'e'", "amout", "unknown field"),
    ({"at": "1s", "to": "u1", "amount": "1"}, "#1", "id", "missing"),
    ("not an object", "#1", "(entry)", "a JSON object"),
]


@pytest.mark.parametrize("raw, who, field, words", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_entry_is_named_with_its_field_value_and_what_is_accepted(raw, who, field, words):
    err = refused([raw])
    assert (err.entry, err.field) == (who, field)
    assert words in str(err)
    assert "accepted: " in str(err) and "\n" not in str(err)


def test_ids_are_unique_and_the_document_is_an_array():
    err = refused([entry(at="1s"), entry(at="2s")])
    assert (err.entry, err.field, err.reason) == ("'e'", "id", "given twice")
    assert refused({"entries": []}).field == "schedule"


def test_the_schedule_attribute_inline_and_its_one_line_refusal():
    config = load_config({"schedule": json.dumps([entry(at="30s")])})
    assert config.schedule.inline.entries[0].id == "e" and not config.schedule.path
    assert load_config({"schedule": "plan.json"}).schedule.path == "plan.json"
    assert not load_config({}).schedule.configured
    with pytest.raises(ConfigError) as info:
        load_config({"schedule": json.dumps([{"id": "pay-1", "at": "1s", "to": "u1", "amount": "abc"}])})
    text = str(info.value)
    assert text.startswith("invalid schedule (inline) entry 'pay-1' field amount='abc' (")
    assert "accepted: XMR as a string ('2.5') or a range ('0.1-0.3')" in text
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config({"schedule": "[{"})


def test_transaction_frequency_takes_off_and_still_every_duration():
    assert load_config({"transaction_frequency": "off"}).transaction_frequency is None
    assert load_config({"transaction_frequency": "OFF"}).transaction_frequency is None
    assert load_config({"transaction_frequency": "2m"}).transaction_frequency == 120.0
    assert load_config({}).transaction_frequency == 60.0
    with pytest.raises(ConfigError) as info:
        load_config({"transaction_frequency": "never"})
    assert "a duration in seconds" in str(info.value) and "or off (no single payments)" in str(info.value)
    assert load_config({"schedule_missed": "skip"}).schedule_missed == "skip"
    with pytest.raises(ConfigError, match="run | skip"):
        load_config({"schedule_missed": "later"})


# ---------------------------------------------------------------- what is due


def schedule_of(*raw):
    return parse_schedule(list(raw))


def due_now(sched, now, taken=None, retry=None, started=A, skip=False):
    return plan(sched, anchor=A, started_at=started, now=now, taken=taken or {}, retry_at=retry or {},
                skip_missed=skip)


def test_nothing_is_due_before_its_time_and_the_plan_says_when():
    sched = schedule_of(entry(at="30s"))
    p = due_now(sched, A + 29.9)
    assert p.due is None and p.wake_at == A + 30
    assert due_now(sched, A + 30).due.key == ("e", 1)
    assert due_now(sched, A + 31, taken={"e": {1}}).due is None
    assert due_now(sched, A + 31, taken={"e": {1}}).wake_at is None  # finished


def test_each_entry_is_paid_in_order_and_entries_by_time():
    sched = schedule_of(entry(id="a", every="10s", count=4), entry(id="b", at="15s"))
    assert due_now(sched, A + 100).due.key == ("a", 1)
    assert due_now(sched, A + 100, taken={"a": {1}}).due.key == ("b", 1)  # b at 15 before a#2 at 20
    assert due_now(sched, A + 100, taken={"a": {1}, "b": {1}}).due.key == ("a", 2)
    # a failed occurrence (not taken) is due again before the later ones
    assert due_now(sched, A + 100, taken={"a": {1, 3}, "b": {1}}).due.key == ("a", 2)


def test_a_waiting_occurrence_holds_back_its_entry_only():
    sched = schedule_of(entry(id="a", every="10s", count=4), entry(id="b", at="15s"))
    p = due_now(sched, A + 100, retry={("a", 1): A + 130})
    assert p.due.key == ("b", 1)
    p = due_now(sched, A + 100, taken={"b": {1}}, retry={("a", 1): A + 130})
    assert p.due is None and p.wake_at == A + 130


def test_skip_missed_skips_what_fell_before_this_start_and_says_what():
    sched = schedule_of(entry(id="a", every="10s", count=10))
    p = due_now(sched, A + 45, started=A + 45, skip=True, taken={"a": {2}})
    assert p.due is None and p.wake_at == A + 50
    [missed] = p.skipped
    assert (missed.first, missed.last, missed.count) == (1, 4, 3)
    assert due_now(sched, A + 50, started=A + 45, skip=True).due.key == ("a", 5)
    assert due_now(sched, A + 45, started=A + 45).due.key == ("a", 1)  # run: paid, in order


def test_occurrence_numbers_at_or_after_a_moment_survive_float_rounding():
    e = one(every="0.1s", start="0.1s")
    for n in (1, 7, 10, 1000):
        at = e.time_of(n, A)
        assert e.first_at_or_after(at, A) == n
        assert e.first_at_or_after(at + 1e-6, A) == n + 1


def test_changes_name_added_removed_and_changed_entries():
    old = schedule_of(entry(id="a", at="1s"), entry(id="b", at="2s"))
    new = schedule_of(entry(id="b", at="3s"), entry(id="c", at="1s"))
    assert changes(old, new) == (["c"], ["a"], ["b"])


def test_json_numbers_are_read_exactly():
    assert loads("[1.1]") == [Decimal("1.1")]
    with pytest.raises(ValueError):
        loads("[NaN]")

"""Reading runs back from JSON log lines: counts, time per state, junk tolerance."""

from __future__ import annotations

import io
import json

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from fsm_distributor.adapters import logs

from fsm_distributor import states
from fsm_distributor.tools.trace import TraceStats, format_table, parse_lines, unknown_transitions


def tr(source: str, trigger: str, dest: str, stamp: object, **extra) -> str:
    record = {"event": "transition", "from": source, "to": dest, "trigger": trigger,
              "timestamp": stamp, "agent_id": "distributor", "level": "info",
              "message": f"{source} -> {dest} ({trigger})", **extra}
    return json.dumps(record)


def test_counts_and_times_of_a_clean_run():
    stats = parse_lines([
        json.dumps({"event": "started", "timestamp": 10.0}),
        tr("Idle", "wake", "Discovering", 12.5),
        tr("Discovering", "no_miners", "Idle", 13.0),
        tr("Idle", "wake", "Discovering", 20.0),
        tr("Discovering", "shutdown", "Stopped", 20.25),
        json.dumps({"event": "stopped", "timestamp": 21.0}),
    ])
    assert stats.counts == {("Idle", "wake", "Discovering"): 2,
                            ("Discovering", "no_miners", "Idle"): 1,
                            ("Discovering", "shutdown", "Stopped"): 1}
    # Idle from the first line (10.0) to 12.5, then 13.0 to 20.0; Stopped runs to the last line
    assert stats.seconds == {"Idle": 9.5, "Discovering": 0.75, "Stopped": 0.75}
    assert stats.lines == 6 and stats.skipped == () and stats.other_events == 2
    assert stats.out_of_sequence == 0


def test_foreign_and_broken_lines_are_skipped_and_numbered():
    stats = parse_lines([
        "2024-01-01 INFO Monerosim starting",              # 1 not JSON
        "",                                                 # 2 blank: not counted
        "   " + tr("Idle", "wake", "Discovering", 1.0) + "  \n",  # 3 padded: read
        "[1, 2, 3]",                                        # 4 JSON, not an object
        '{"event": "transition", "from": "Discovering"',    # 5 cut off
        json.dumps({"event": "transition", "from": "Discovering", "to": "Idle",
                    "timestamp": 2.0}),                     # 6 no trigger
        tr("Discovering", "no_miners", "Idle", "soon"),     # 7 timestamp not a number
        tr("Discovering", "no_miners", "Idle", True),       # 8 a boolean is no time
        json.dumps({"event": "balance", "miner": "m1"}),    # 9 another event: ignored
        tr("Discovering", "no_miners", "Idle", 3.0),        # 10 read
    ])
    assert stats.skipped == (1, 4, 5, 6, 7, 8)
    assert stats.other_events == 1
    assert stats.counts == {("Idle", "wake", "Discovering"): 1, ("Discovering", "no_miners", "Idle"): 1}
    assert stats.seconds == {"Idle": 0.0, "Discovering": 2.0}


def test_nan_and_infinite_timestamps_are_broken_lines():
    stats = parse_lines(['{"event": "transition", "from": "Idle", "to": "Discovering", '
                         '"trigger": "wake", "timestamp": NaN}',
                         tr("Idle", "wake", "Discovering", float("inf"))])
    assert stats.skipped == (1, 2) and stats.counts == {}


def test_a_transition_not_starting_where_the_last_ended_is_counted_out_of_sequence():
    stats = parse_lines([tr("Idle", "wake", "Discovering", 1.0),
                         tr("Relaying", "relayed", "Recording", 4.0),  # a line went missing
                         tr("Recording", "recorded", "Idle", 3.0)])      # and time went back
    assert stats.out_of_sequence == 2
    assert stats.seconds["Relaying"] == 3.0  # the gap is booked to the state the log says it left
    assert stats.seconds["Recording"] == 0.0  # never negative


def test_an_empty_or_junk_only_log_gives_empty_stats():
    assert parse_lines([]) == TraceStats()
    stats = parse_lines(["junk", json.dumps({"event": "started", "timestamp": 5})])
    assert stats.counts == {} and stats.seconds == {} and stats.skipped == (1,)


def test_transitions_missing_from_the_table_are_reported_not_fatal():
    stats = parse_lines([tr("Idle", "wake", "Discovering", 1.0),
                         tr("Discovering", "legacy_jump", "Relaying", 2.0),
                         tr("Relaying", "relayed", "Recording", 3.0)])
    assert unknown_transitions(stats) == {("Discovering", "legacy_jump", "Relaying"): 1}
    table = format_table(stats)
    rows = [line.split() for line in table.splitlines()]
    assert ["legacy_jump", "Discovering", "Relaying", "1", "(not", "in", "table)"] in rows
    assert ["relayed", "Relaying", "Recording", "1"] in rows
    assert f"2 of {len(states.TRANSITIONS)} table transitions fired; 1 logged transitions not in the table" in table


def test_table_lists_fired_edges_in_table_order_with_times_and_shares():
    stats = parse_lines([tr("Idle", "wake", "Discovering", 0.0),
                         tr("Discovering", "discovered", "SelectingMiner", 1.0),
                         tr("SelectingMiner", "no_miner_available", "Idle", 4.0),
                         json.dumps({"event": "tick", "timestamp": 4.0}),
                         "oops"])
    lines = format_table(stats).splitlines()
    assert lines[0].split() == ["trigger", "from", "to", "count"]
    # table order (wake, discovered, no_miner_available), not log order
    assert [line.split()[0] for line in lines[1:4]] == ["wake", "discovered", "no_miner_available"]
    assert [line.split() for line in lines[1:4]][2] == ["no_miner_available", "SelectingMiner", "Idle", "1"]
    times = [line.split() for line in lines[lines.index("") + 1:]]
    assert times[:4] == [["state", "time", "share"], ["Idle", "0.0", "s", "0.0%"],
                         ["Discovering", "1.0", "s", "25.0%"], ["SelectingMiner", "3.0", "s", "75.0%"]]
    assert lines[-1] == "5 lines read; 1 skipped (lines 5); 1 other events; 0 transitions out of sequence"


# --- random runs over the real table ---

@st.composite
def runs(draw):
    """A walk over the table with random durations, junk lines mixed in."""
    state, stamp = states.INITIAL, 1_000_000.0
    lines, counts, junk = [json.dumps({"event": "started", "timestamp": stamp})], {}, 0
    for _ in range(draw(st.integers(0, 30))):
        choices = [t for t in states.TRANSITIONS if t.source is state]
        if not choices:
            break
        t = draw(st.sampled_from(choices))
        stamp += draw(st.integers(0, 4000)) / 8  # exact in binary: sums stay exact
        lines.append(tr(t.source.value, t.trigger, t.dest.value, stamp))
        key = (t.source.value, t.trigger, t.dest.value)
        counts[key] = counts.get(key, 0) + 1
        state = t.dest
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["not json", "{", "[]", '"str"', "null"])))
            junk += 1
    stamp += 1.5
    lines.append(json.dumps({"event": "stopped", "timestamp": stamp}))
    return lines, counts, junk, stamp - 1_000_000.0


@settings(max_examples=200, deadline=None)
@given(runs())
def test_random_runs_are_counted_exactly(run):
    lines, counts, junk, span = run
    stats = parse_lines(lines)
    assert stats.counts == counts
    assert len(stats.skipped) == junk
    assert stats.out_of_sequence == 0 and not unknown_transitions(stats)
    if counts:  # every second of the run is booked to exactly one state
        assert sum(stats.seconds.values()) == span


def test_reads_the_lines_the_agents_own_logger_writes():
    """The contract with logs.py: what the machine logs per step is what a trace reads."""
    stream, saved = io.StringIO(), structlog.get_config()
    logs.configure("INFO", stream=stream)
    try:
        log = logs.get_logger(agent_id="distributor")
        for source, trigger, dest in (("Idle", "wake", "Discovering"), ("Discovering", "no_miners", "Idle")):
            log.info("transition", message=f"{source} -> {dest} ({trigger})",
                     **{"from": source, "to": dest, "trigger": trigger}, delay=0.0)
        log.info("balance_checked", message="not a transition")
    finally:
        structlog.configure(**saved)
    stats = parse_lines(stream.getvalue().splitlines())
    assert stats.counts == {("Idle", "wake", "Discovering"): 1, ("Discovering", "no_miners", "Idle"): 1}
    assert stats.skipped == () and stats.other_events == 1

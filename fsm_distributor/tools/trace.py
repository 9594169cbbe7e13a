"""Reading a run back from the agent's own JSON log lines.

The agent logs one ``{"event": "transition", "from", "to", "trigger",
"timestamp", ...}`` line per transition.  From a run's stdout (which may be
a Monerosim log with other lines mixed in) these pure functions count how
often each edge fired and how long the machine stayed in each state, so a
trace diagram can be drawn over the same table the machine runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fsm_distributor.states import TRANSITIONS, State, Transition

#: (source, trigger, dest) with state names as they appear in logs.
EdgeKey = tuple[str, str, str]


@dataclass(frozen=True)
class TraceStats:
    """What one log says about one run; names are the logged strings."""

    counts: dict[EdgeKey, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    lines: int = 0
    skipped: tuple[int, ...] = ()  # 1-based numbers of unreadable lines
    other_events: int = 0
    out_of_sequence: int = 0  # transitions not starting where the last one ended


def _number(value: object) -> float | None:
    """A finite timestamp, or None (JSON booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _transition(record: dict) -> tuple[EdgeKey, float] | None:
    """The edge and time of a well-formed transition record, else None."""
    source, dest, trigger = record.get("from"), record.get("to"), record.get("trigger")
    stamp = _number(record.get("timestamp"))
    if not (isinstance(source, str) and isinstance(dest, str) and isinstance(trigger, str)) \
            or not (source and dest and trigger) or stamp is None:
        return None
    return (source, trigger, dest), stamp


def parse_lines(lines: Iterable[str]) -> TraceStats:
    """Count transitions and time per state, reading past foreign or broken lines.

    A state's time runs from the transition entering it to the one leaving
    it; the first state starts at the log's first timestamp and the last one
    runs to its last timestamp, whatever event carried them.
    """
    counts: dict[EdgeKey, int] = {}
    seconds: dict[str, float] = {}
    skipped: list[int] = []
    other = out_of_sequence = number = 0
    first_stamp: float | None = None
    last_stamp: float | None = None
    current: str | None = None  # state the machine is in after the last transition
    entered = 0.0

    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            skipped.append(number)
            continue
        if not isinstance(record, dict):
            skipped.append(number)
            continue
        if record.get("event") != "transition":
            other += 1
            stamp = _number(record.get("timestamp"))
            if stamp is not None:
                first_stamp = stamp if first_stamp is None else first_stamp
                last_stamp = stamp
            continue
        parsed = _transition(record)
        if parsed is None:
            skipped.append(number)
            continue
        (source, trigger, dest), stamp = parsed
        first_stamp = stamp if first_stamp is None else first_stamp
        last_stamp = stamp
        if current is None:
            entered = first_stamp
        elif current != source or stamp < entered:
            out_of_sequence += 1
        seconds[source] = seconds.get(source, 0.0) + max(0.0, stamp - entered)
        counts[(source, trigger, dest)] = counts.get((source, trigger, dest), 0) + 1
        current, entered = dest, stamp

    if current is not None and last_stamp is not None:
        seconds[current] = seconds.get(current, 0.0) + max(0.0, last_stamp - entered)
    return TraceStats(counts, seconds, number, tuple(skipped), other, out_of_sequence)


def table_keys(transitions: Sequence[Transition] = TRANSITIONS) -> list[EdgeKey]:
    """The table's edges as log keys, in table order without repeats."""
    return list(dict.fromkeys((t.source.value, t.trigger, t.dest.value) for t in transitions))


def unknown_transitions(stats: TraceStats,
                        transitions: Sequence[Transition] = TRANSITIONS) -> dict[EdgeKey, int]:
    """Logged edges the table does not have (an older version's log, say)."""
    known = set(table_keys(transitions))
    return {key: n for key, n in stats.counts.items() if key not in known}


def format_seconds(value: float) -> str:
    """One fixed format, so trace diagrams of the same log are byte-identical."""
    return f"{value:.1f} s"


def format_table(stats: TraceStats, transitions: Sequence[Transition] = TRANSITIONS) -> str:
    """A plain-text report: fired edges, edges not in the table, time per state."""
    keys = table_keys(transitions)
    fired = [(key, stats.counts[key]) for key in keys if key in stats.counts]
    unknown = list(unknown_transitions(stats, transitions).items())
    rows = [("trigger", "from", "to", "count")]
    rows += [(trigger, source, dest, str(n)) for (source, trigger, dest), n in fired]
    rows += [(trigger, source, dest, f"{n} (not in table)") for (source, trigger, dest), n in unknown]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
           for row in rows]
    out.append(f"{len(fired)} of {len(keys)} table transitions fired; "
               f"{sum(n for _, n in unknown)} logged transitions not in the table")

    total = sum(stats.seconds.values())
    order = [s.value for s in State] + sorted(set(stats.seconds) - {s.value for s in State})
    width = max([len("state")] + [len(name) for name in stats.seconds])
    out += ["", f"{'state'.ljust(width)}  {'time':>12}  share"]
    for name in order:
        if name in stats.seconds:
            value = stats.seconds[name]
            share = f"{100 * value / total:5.1f}%" if total > 0 else "    -"
            out.append(f"{name.ljust(width)}  {format_seconds(value):>12}  {share}")

    lines_skipped = ", ".join(map(str, stats.skipped[:10])) + (", ..." if len(stats.skipped) > 10 else "")
    out += ["", f"{stats.lines} lines read; {len(stats.skipped)} skipped"
                + (f" (lines {lines_skipped})" if stats.skipped else "")
                + f"; {stats.other_events} other events; "
                f"{stats.out_of_sequence} transitions out of sequence"]
    return "\n".join(out) + "\n"

"""The schedule: scripted payments ("at 5h miner002 pays user017 25 XMR", "every 10m user003 gets 0.2 XMR").

Pure model: the entries, their validation, when each occurrence falls and
which one is due now.  Reading the file is an adapter's business
(`adapters/schedule_file.py`); paying an occurrence is the machine's, which
puts its key (entry id, occurrence number) into the intent, so an occurrence
is paid once: it counts as taken while an intent of that key is not failed.

Times are float seconds.  `at`, `until` (and `start`, always relative) are
either a duration after the agent's *first* start (the anchor, persisted in
the journal, so a restart does not shift them) or, given as a JSON number, an
absolute Unix time.  Occurrences are numbered from 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import AbstractSet, Any, Mapping, Optional

from fsm_distributor.core.amounts import AmountError, format_xmr, parse_xmr
from fsm_distributor.core.durations import MAX_DURATION, parse_duration

#: `to` values that pick among the eligible recipients instead of naming one.
ANYONE = ("random", "round_robin")
FIELDS = ("id", "at", "every", "count", "until", "start", "to", "amount", "from", "unlock_after_blocks", "priority")
#: Shadow's clock starts at 2000-01-01: an absolute time before it is a duration written as a number.
SHADOW_EPOCH = 946684800
#: 2100-01-01: the wait until an absolute time must stay far below what `time.sleep` takes (~9e9 s).
MAX_ABSOLUTE = 4102444800
MAX_COUNT = 10**9
#: unlock_time below 500,000,000 is a block height (Monero); a lock of more than this many blocks is a typo.
MAX_UNLOCK_BLOCKS = 1_000_000
MAX_ID_LENGTH = 128

#: An occurrence's identity: (entry id, occurrence number).
Key = tuple[str, int]

DURATION_ACCEPTED = "a duration ('30s', '10m', '2h', or a number of seconds)"
MOMENT_ACCEPTED = (f"a duration after the agent's first start as a string ('30s', '5h'), or an absolute Unix time "
                   f"as a number from {SHADOW_EPOCH} (2000-01-01, Shadow's epoch) to {MAX_ABSOLUTE} (2100-01-01)")
AMOUNT_ACCEPTED = ("XMR as a string ('2.5') or a range ('0.1-0.3'), each greater than 0, at most 12 decimals, "
                   "low <= high")


class ScheduleError(ValueError):
    """One thing wrong with a schedule: which entry (its id, or #position), which field, its value, and
    what is accepted.  `config.schedule_error` turns it into the start-up refusal."""

    def __init__(self, entry: str, field: str, value: object, accepted: str, reason: str = ""):
        self.entry, self.field, self.value, self.accepted, self.reason = entry, field, value, accepted, reason
        why = f" ({reason})" if reason else ""
        where = f"entry {entry} field {field}" if entry else field
        super().__init__(f"{where}={shown(value)!r}{why}; accepted: {accepted}")


def shown(value: object) -> str:
    """A value as a message quotes it: JSON numbers as written, long ones cut."""
    text = str(value) if isinstance(value, (str, Decimal, int, float)) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Moment:
    """A point in time: seconds after the anchor (the agent's first start), or an absolute Unix time."""

    seconds: float
    absolute: bool = False

    def resolve(self, anchor: float) -> float:
        return self.seconds if self.absolute else anchor + self.seconds

    def __str__(self) -> str:
        if not self.absolute:
            return f"+{duration_text(self.seconds)}"
        return f"@{self.seconds:.0f} ({datetime.fromtimestamp(self.seconds, tz=timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"


def duration_text(seconds: float) -> str:
    """600 -> '10m', 90 -> '90s': a duration as a person writes it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Entry:
    """One scheduled payment: a one-off (`every` 0, `count` 1) or a recurring one (`count` 0: no limit)."""

    id: str
    first: Moment
    to: str
    low: int
    high: int
    every: float = 0.0
    count: int = 1
    until: Optional[Moment] = None
    #: The miner that must pay it; "" lets the configured strategy choose.
    miner: str = ""
    unlock_after_blocks: int = 0
    #: None: the configured transaction_priority.
    priority: Optional[int] = None

    @property
    def recurring(self) -> bool:
        return self.every > 0

    def time_of(self, number: int, anchor: float) -> Optional[float]:
        """When occurrence `number` falls; None if the entry has no such occurrence."""
        last = self.last_number(anchor)
        if number < 1 or (last is not None and number > last):
            return None
        return self.first.resolve(anchor) + (number - 1) * self.every

    def last_number(self, anchor: float) -> Optional[int]:
        """The number of the last occurrence (0: none at all); None when it recurs without end."""
        if not self.recurring:
            return 1
        last: Optional[int] = self.count or None
        if self.until is not None:
            span = self.until.resolve(anchor) - self.first.resolve(anchor)
            by_until = 0 if span < 0 else int(span // self.every) + 1
            while by_until > 0 and self.first.resolve(anchor) + (by_until - 1) * self.every > self.until.resolve(anchor):
                by_until -= 1  # float rounding of the division
            last = by_until if last is None else min(last, by_until)
        return last

    def first_at_or_after(self, moment: float, anchor: float) -> int:
        """The number of the first occurrence at or after `moment` (it may lie past the last)."""
        first = self.first.resolve(anchor)
        if moment <= first:
            return 1
        if not self.recurring:
            return 2
        number = int((moment - first) // self.every) + 1
        while first + (number - 1) * self.every < moment:
            number += 1
        while number > 1 and first + (number - 2) * self.every >= moment:
            number -= 1
        return number

    def amount_text(self) -> str:
        low = format_xmr(self.low).rstrip("0").rstrip(".")
        return low if self.low == self.high else f"{low}-{format_xmr(self.high).rstrip('0').rstrip('.')}"

    def describe(self) -> str:
        """One line for logs and `schedule --check`."""
        if self.recurring:
            ends = [f"{self.count} times"] if self.count else []
            ends += [f"until {self.until}"] if self.until is not None else []
            when = f"every {duration_text(self.every)} from {self.first}" + (
                f", {', '.join(ends)}" if ends else ", without end")
        else:
            when = f"at {self.first}"
        extras = [f"from {self.miner}"] if self.miner else []
        extras += [f"locked {self.unlock_after_blocks} blocks"] if self.unlock_after_blocks else []
        extras += [f"priority {self.priority}"] if self.priority is not None else []
        return f"{when}: {self.amount_text()} XMR to {self.to}" + (f" ({', '.join(extras)})" if extras else "")


@dataclass(frozen=True)
class Schedule:
    entries: tuple[Entry, ...] = ()

    def by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}


NO_SCHEDULE = Schedule()


@dataclass(frozen=True)
class ScheduleSetting:
    """The `schedule` attribute: a file (its path as given: relative to the shared dir, or absolute)
    or a schedule given inline."""

    path: str = ""
    inline: Schedule = NO_SCHEDULE

    @property
    def configured(self) -> bool:
        return bool(self.path or self.inline.entries)

    def __str__(self) -> str:  # how the agent_started line shows it
        return f"file {self.path}" if self.path else f"inline, {len(self.inline.entries)} entries"


class FixedSchedule:
    """The ScheduleSource of an inline schedule (or none): it never changes."""

    def __init__(self, schedule: Schedule = NO_SCHEDULE):
        self.schedule = schedule

    def read(self) -> Schedule:
        return self.schedule


NO_SOURCE = FixedSchedule()


# ---------------------------------------------------------------- parsing


def loads(text: str) -> Any:
    """JSON text as a schedule reads it: numbers exact (Decimal), no NaN/Infinity. Raises ValueError."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def _no_constant(token: str) -> None:
    raise ValueError(f"{token} is not allowed")


def parse_schedule(data: Any) -> Schedule:
    """A parsed JSON document (numbers best parsed as Decimal) -> Schedule; ScheduleError naming the
    first thing wrong."""
    if not isinstance(data, list):
        raise ScheduleError("", "schedule", data, "a JSON array of entries (objects)",
                            f"a JSON {type(data).__name__}")
    entries: list[Entry] = []
    seen: set[str] = set()
    for position, raw in enumerate(data, start=1):
        entry = _entry(raw, position)
        if entry.id in seen:
            raise ScheduleError(repr(entry.id), "id", entry.id, "an id used by one entry only", "given twice")
        seen.add(entry.id)
        entries.append(entry)
    return Schedule(tuple(entries))


def _entry(raw: Any, position: int) -> Entry:
    label = f"#{position}"
    if not isinstance(raw, dict):
        raise ScheduleError(label, "(entry)", raw, "a JSON object with id, at or every, to and amount")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident.strip() or len(ident) > MAX_ID_LENGTH or \
            any(ord(c) < 32 for c in ident):
        raise ScheduleError(label, "id", ident, f"a non-empty string of at most {MAX_ID_LENGTH} characters, "
                            f"unique in the schedule", "missing" if ident is None else "")
    label = repr(ident)
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise ScheduleError(label, str(unknown[0]), raw[unknown[0]], "the fields " + ", ".join(FIELDS),
                            "unknown field")
    if ("at" in raw) == ("every" in raw):
        raise ScheduleError(label, "at/every", raw.get("at", raw.get("every")),
                            "exactly one of at (one payment) and every (recurring)",
                            "both given" if "at" in raw else "neither given")
    if "at" in raw:
        for name in ("count", "until", "start"):
            if name in raw:
                raise ScheduleError(label, name, raw[name], f"{name} only with every (at is one payment)")
        first, every, count, until = _moment(label, "at", raw["at"]), 0.0, 1, None
    else:
        every = _duration(label, "every", raw["every"], positive=True)
        first = Moment(_duration(label, "start", raw["start"]) if "start" in raw else every)
        count = _integer(label, "count", raw["count"], 1, MAX_COUNT) if "count" in raw else 0
        until = _moment(label, "until", raw["until"]) if "until" in raw else None
    to = _name(label, "to", raw.get("to"), "an agent id, or random | round_robin")
    low, high = _amount(label, raw.get("amount"))
    miner = _name(label, "from", raw["from"], "a miner's agent id") if "from" in raw else ""
    if miner and miner == to:
        raise ScheduleError(label, "to", to, "an agent other than the paying miner (from)", "the miner itself")
    unlock = _integer(label, "unlock_after_blocks", raw["unlock_after_blocks"], 0, MAX_UNLOCK_BLOCKS) \
        if "unlock_after_blocks" in raw else 0
    priority = _integer(label, "priority", raw["priority"], 0, 4) if "priority" in raw else None
    return Entry(ident, first, to, low, high, every, count, until, miner, unlock, priority)


def _name(label: str, field: str, value: Any, accepted: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(label, field, value, f"{accepted} (a non-empty string)",
                            "missing" if value is None else "")
    return value.strip()


def _number(value: Any) -> Optional[Decimal]:
    """A JSON number as an exact Decimal (None for anything else, booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return number if number.is_finite() else None


def _duration(label: str, field: str, value: Any, *, positive: bool = False) -> float:
    accepted = DURATION_ACCEPTED + (", greater than 0" if positive else "") + f", at most {MAX_DURATION} s"
    number = _number(value)
    try:
        seconds = float(number) if number is not None else parse_duration(value) if isinstance(value, str) else -1.0
    except ValueError:
        seconds = -1.0
    if seconds < 0 or seconds > MAX_DURATION or (positive and seconds == 0):
        raise ScheduleError(label, field, value, accepted)
    return seconds


def _moment(label: str, field: str, value: Any) -> Moment:
    number = _number(value)
    if number is not None:
        if not SHADOW_EPOCH <= number <= MAX_ABSOLUTE:
            hint = f"before 2000-01-01; for a duration write '{value}s'" if 0 <= number < SHADOW_EPOCH else ""
            raise ScheduleError(label, field, value, MOMENT_ACCEPTED, hint)
        return Moment(float(number), absolute=True)
    try:
        seconds = parse_duration(value) if isinstance(value, str) else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_DURATION:
        raise ScheduleError(label, field, value, MOMENT_ACCEPTED)
    return Moment(seconds)


def _integer(label: str, field: str, value: Any, low: int, high: int) -> int:
    number = _number(value)
    if number is None or number != number.to_integral_value() or not low <= number <= high:
        raise ScheduleError(label, field, value, f"an integer {low}-{high}")
    return int(number)


def _amount(label: str, value: Any) -> tuple[int, int]:
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ScheduleError(label, "amount", value, AMOUNT_ACCEPTED, "missing" if value is None else "")
    text = str(value).strip()
    low_text, dash, high_text = text.partition("-")
    if dash and not low_text.strip():
        raise ScheduleError(label, "amount", value, AMOUNT_ACCEPTED, "negative")
    try:
        low = parse_xmr(low_text)
        high = parse_xmr(high_text) if dash else low
    except AmountError as exc:
        raise ScheduleError(label, "amount", value, AMOUNT_ACCEPTED, str(exc)) from None
    if low == 0 or high == 0:
        raise ScheduleError(label, "amount", value, AMOUNT_ACCEPTED, "zero")
    if low > high:
        raise ScheduleError(label, "amount", value, AMOUNT_ACCEPTED, "the low end is above the high end")
    return low, high


def changes(old: Schedule, new: Schedule) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, changed) entry ids from `old` to `new`, for the line that says a re-read."""
    before, after = old.by_id(), new.by_id()
    return ([i for i in after if i not in before], [i for i in before if i not in after],
            [i for i in after if i in before and after[i] != before[i]])


# ---------------------------------------------------------------- what is due


@dataclass(frozen=True)
class Occurrence:
    entry: Entry
    number: int
    at: float

    @property
    def key(self) -> Key:
        return (self.entry.id, self.number)


@dataclass(frozen=True)
class Skipped:
    """Occurrences of one entry whose time lay before this start, not paid: skipped (schedule_missed skip)."""

    entry: Entry
    first: int
    last: int
    count: int


@dataclass(frozen=True)
class Plan:
    """What the schedule asks for now: the occurrence to pay (the earliest due), else when to look again."""

    due: Optional[Occurrence] = None
    wake_at: Optional[float] = None
    skipped: tuple[Skipped, ...] = ()


def plan(schedule: Schedule, *, anchor: float, started_at: float, now: float,
         taken: Mapping[str, AbstractSet[int]], retry_at: Mapping[Key, float], skip_missed: bool) -> Plan:
    """The earliest due occurrence not taken (paid or in flight) and not waiting for a retry.

    Each entry is paid in order: its candidate is its lowest occurrence not
    taken, so a failed one (its intent failed) is due again before later ones,
    and one that waits (its miner cannot pay) holds the entry's later ones back
    without holding back other entries.  The earliest ready one goes first (a
    retried occurrence is ready at its retry time, so one that keeps failing
    never starves the others), then the earliest due, then the entry written
    first.  With `skip_missed`, occurrences whose time lay before `started_at`
    (this process's start) and that were not taken are skipped.
    """
    best: Optional[tuple[float, float, int, Occurrence]] = None
    wake: Optional[float] = None
    skipped: list[Skipped] = []
    for order, entry in enumerate(schedule.entries):
        done = taken.get(entry.id, frozenset())
        number = 1
        if skip_missed:
            number = entry.first_at_or_after(started_at, anchor)
            missed = _missed(entry, done, number, anchor)
            if missed is not None:
                skipped.append(missed)
        while number in done:
            number += 1
        at = entry.time_of(number, anchor)
        if at is None:
            continue
        ready = max(at, retry_at.get((entry.id, number), -math.inf))
        if ready <= now:
            if best is None or (ready, at, order) < best[:3]:
                best = (ready, at, order, Occurrence(entry, number, at))
        elif wake is None or ready < wake:
            wake = ready
    return Plan(best[3] if best else None, wake, tuple(skipped))


def _missed(entry: Entry, done: AbstractSet[int], floor: int, anchor: float) -> Optional[Skipped]:
    last = floor - 1
    end = entry.last_number(anchor)
    if end is not None:
        last = min(last, end)
    if last < 1:
        return None
    count = last - sum(1 for n in done if 1 <= n <= last)
    if count <= 0:
        return None
    first = 1
    while first in done:
        first += 1
    final = last
    while final in done:
        final -= 1
    return Skipped(entry, first, final, count)

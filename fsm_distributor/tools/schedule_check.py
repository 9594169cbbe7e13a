"""`fsm-distributor schedule --check FILE`: validate a schedule and print its next occurrences, without an agent.

The file is checked exactly as the agent checks it at start-up (the same
parser, the same one-line refusal, exit status 2).  Times are shown after the
agent's first start (+30s, +5m), or as clock times with `--start` (a Unix
time) or `--journal` (an agent's journal, which keeps its first start).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from fsm_distributor.adapters.journal import parse_lines
from fsm_distributor.adapters.schedule_file import ScheduleFile, ScheduleFileError
from fsm_distributor.core.config import ConfigError, load_config, schedule_error
from fsm_distributor.core.schedule import Entry, Schedule, ScheduleError, duration_text

EXIT_INVALID = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fsm-distributor schedule", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", required=True, metavar="FILE",
                   help="the schedule: a JSON file, or an inline JSON array (as the `schedule` attribute takes)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--start", type=float, metavar="UNIX_TIME", help="the agent's first start: show clock times")
    when.add_argument("--journal", metavar="FILE", help="an agent's {id}_distributor_journal.jsonl: its first start")
    p.add_argument("--now", type=float, metavar="UNIX_TIME", help="with --start/--journal: show the occurrences "
                   "from this time on (default: the clock's time; a Shadow run's clock starts at 2000-01-01)")
    p.add_argument("--next", type=int, default=5, metavar="N", help="occurrences shown per entry (default 5)")
    return p


def load(spec: str) -> tuple[str, Schedule]:
    """(what was checked, the schedule); ConfigError (the agent's own start-up line) when it is invalid."""
    if spec.lstrip().startswith("["):
        return "inline", load_config({"schedule": spec}).schedule.inline
    path = Path(spec)
    try:
        return str(path), ScheduleFile(path).load()
    except ScheduleError as exc:
        raise schedule_error(exc, str(path)) from None
    except ScheduleFileError as exc:
        raise ConfigError("schedule", spec, "a readable JSON file", exc.problem) from None


def anchor_of(journal: str) -> Optional[float]:
    return parse_lines(Path(journal).read_bytes()).anchor


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def occurrences(entry: Entry, anchor: Optional[float], now: Optional[float], shown: int) -> list[str]:
    """Lines for the next `shown` occurrences of `entry` (those at or after `now` when the anchor is known)."""
    base = 0.0 if anchor is None else anchor
    last = entry.last_number(base)
    if last == 0:
        return ["    no occurrence (until lies before the first)"]
    first = entry.first_at_or_after(now, base) if anchor is not None and now is not None else 1
    past = first - 1 if last is None else min(first - 1, last)
    lines = [f"    #1-#{past} past" if past > 1 else "    #1 past"] if past else []
    number = first
    while number < first + shown:
        at = entry.time_of(number, base)
        if at is None:
            break
        offset = f"+{duration_text(at - base)}"
        if anchor is None:
            lines.append(f"    #{number:<4} {_clock(at) if entry.first.absolute else offset}")
        else:
            lines.append(f"    #{number:<4} {_clock(at)} ({offset})")
        number += 1
    if last is None:
        lines.append("    ... without end")
    elif last >= number:
        lines.append(f"    ... {last} occurrences in all")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        what, schedule = load(args.check)
    except ConfigError as exc:
        print(f"fsm-distributor schedule: {exc}", file=sys.stderr)
        return EXIT_INVALID
    anchor = args.start
    if args.journal:
        anchor = anchor_of(args.journal)
        if anchor is None:
            print(f"fsm-distributor schedule: {args.journal} keeps no schedule_anchor (the agent has not started "
                  f"with a schedule yet); times are shown after the first start", file=sys.stderr)
    now = (args.now if args.now is not None else time.time()) if anchor is not None else None
    print(f"{what}: valid, {len(schedule.entries)} entries"
          + ("" if anchor is not None else "; times after the agent's first start (--start T for clock times)"))
    for entry in schedule.entries:
        print(f"  {entry.id}: {entry.describe()}")
        for line in occurrences(entry, anchor, now, max(1, args.next)):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

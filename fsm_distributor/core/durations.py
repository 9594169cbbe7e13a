"""Durations as Monerosim writes them ('250', '30m', '2h'): one parser for the attributes and the schedule.

Its own module so that both `config` (the attributes) and `schedule` (whose
entries `config` validates) can use it without importing each other.
"""

from __future__ import annotations

import re
from decimal import Decimal

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'250', '3600s', '30m', '2h', '1d' -> seconds (Monerosim's duration forms)."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration")
    number, unit = match.groups()
    return float(Decimal(number) * _UNIT_SECONDS[unit.lower()])


#: Longest accepted duration: `time.sleep` overflows (and would crash the
#: running agent) a little above 9e9 s, so refuse absurd values at start-up.
MAX_DURATION = 10**9

"""The agent's clock: `time.time()`/`time.sleep()`, and steps of the wall clock noticed.

Deadlines (the next payment, cool-downs, checks) are wall-clock times, since
records carry wall-clock timestamps and Shadow simulates `time.time()`.  A
wall clock that is stepped (an operator, NTP at boot, a VM resumed) would
stretch a wait by the step or make everything due at once; `jumped()`
compares the wall clock's progress with the monotonic clock's since the
last call, so the machine can move its deadlines by the step
(`Context.shift_deadlines`).  Under Shadow both clocks are simulated and
advance together: no step is ever seen there.
"""

from __future__ import annotations

import time
from typing import Callable

#: Steps up to this many seconds go unreported (an NTP slew stays far below it between two steps).
JUMP_THRESHOLD = 5.0


class SystemClock:
    """`time.time()`/`time.sleep()`: under Shadow these are the simulated clock.

    The three functions can be given (tests step a fake wall clock)."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._wall, self._monotonic, self._sleep = wall, monotonic, sleep
        self._anchor = (wall(), monotonic())

    def time(self) -> float:
        return self._wall()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def jumped(self) -> float:
        """Seconds the wall clock moved beyond the monotonic clock since the last call (+ forward,
        - back), or 0.0 when that is within JUMP_THRESHOLD."""
        wall, monotonic = self._wall(), self._monotonic()
        step = (wall - self._anchor[0]) - (monotonic - self._anchor[1])
        self._anchor = (wall, monotonic)
        return step if abs(step) > JUMP_THRESHOLD else 0.0

"""A wall clock stepped back or forward: logged once, and the waits are re-anchored, not stretched.

The real `SystemClock` runs over a fake wall clock and a fake monotonic clock
that advance together when the agent sleeps, until a test steps the wall one.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from fakes import T0, make_world
from fsm_distributor.adapters.clock import JUMP_THRESHOLD, SystemClock
from fsm_distributor.machine import Distributor


class TwoClocks:
    """A wall clock that can be stepped and a monotonic one that cannot; sleeping advances both."""

    def __init__(self):
        self.wall, self.mono = T0, 1000.0

    def sleep(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def stepping_world(attributes: dict):
    world = make_world(attributes, recovered=False)
    clocks = TwoClocks()
    clock = SystemClock(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono, sleep=clocks.sleep)
    world.distributor = Distributor(replace(world.distributor.deps, clock=clock))
    world.clock = clock
    assert world.step().trigger == "recovered"
    return world, clocks


def pay_once(world) -> float:
    """One whole payment; returns the wait Idle asks for after it."""
    world.cycle()
    result = world.step()
    assert result.trigger == "keep_waiting"
    return result.delay


@pytest.mark.parametrize("step", [-3600.0, +3600.0], ids=["back_one_hour", "forward_one_hour"])
def test_a_stepped_wall_clock_is_logged_once_and_the_wait_keeps_its_length(step):
    world, clocks = stepping_world({"transaction_frequency": "60", "verification_interval": "600"})
    assert pay_once(world) == pytest.approx(60.0)
    clocks.sleep(20.0)
    clocks.wall += step  # stepped while the agent slept
    with capture_logs() as logs:
        result = world.step()
    # The remaining 40 s, not 3640 (stepped back) or 0 and a payment at once (forward).
    assert (result.trigger, result.delay) == ("keep_waiting", pytest.approx(40.0))
    [jump] = [e for e in logs if e["event"] == "clock_jump"]
    assert jump["jump"] == pytest.approx(step) and jump["log_level"] == "warning"
    assert f"{step:+.3f}s" in jump["message"]
    with capture_logs() as logs:
        clocks.sleep(result.delay)
        assert world.step().trigger == "wake"  # the next payment is due when it always was
    assert not [e for e in logs if e["event"] == "clock_jump"]  # said once


def test_every_stored_deadline_moves_with_the_step():
    world, clocks = stepping_world({"transaction_frequency": "60", "verification_interval": "600"})
    pay_once(world)
    ctx = world.mem
    ctx.cooldown_until["m2"] = clocks.wall + 100
    ctx.recovery_due_at = clocks.wall + 5
    ctx.funding_started_at = clocks.wall - 10
    ctx.next_funding_at = 0.0  # "due at once" stays so
    before = (ctx.last_success_at, dict(ctx.cooldown_until), dict(ctx.verify_due_at), ctx.recovery_due_at,
              ctx.funding_started_at)
    assert ctx.verify_due_at
    clocks.wall -= 3600
    world.step()
    assert ctx.last_success_at == before[0] - 3600
    assert ctx.cooldown_until == {k: t - 3600 for k, t in before[1].items()}
    assert ctx.verify_due_at == {k: t - 3600 for k, t in before[2].items()}
    assert (ctx.recovery_due_at, ctx.funding_started_at, ctx.next_funding_at) == (before[3] - 3600,
                                                                                before[4] - 3600, 0.0)


def test_a_forward_step_does_not_end_the_wait_for_initial_funding():
    """max_wait_time counts real waiting: a clock stepped 3 h forward must not time funding out."""
    world, clocks = stepping_world({"initial_funding": "true", "max_wait_time": "2h", "md_n_recipients": "2"})
    world.miners["m1"].unlocked = world.miners["m2"].unlocked = 0  # nothing can be funded yet
    for _ in range(6):
        world.step()
    assert world.mem.funding_started_at is not None
    clocks.wall += 3 * 3600
    with capture_logs() as logs:
        for _ in range(6):
            result = world.step()
            if result.delay:
                clocks.sleep(result.delay)
    assert not [e for e in logs if e["event"] == "funding_wait_exceeded"]
    assert [e["event"] for e in logs].count("clock_jump") == 1
    assert not world.mem.funding_done


def test_small_differences_and_a_clock_that_never_steps_say_nothing():
    clocks = TwoClocks()
    clock = SystemClock(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono, sleep=clocks.sleep)
    clocks.wall += JUMP_THRESHOLD  # not more than the threshold: scheduling noise, a slewing NTP
    assert clock.jumped() == 0.0
    for _ in range(100):  # slow drift never adds up: each call measures from the one before
        clocks.sleep(3600)
        clocks.wall += 0.5
        assert clock.jumped() == 0.0
    clocks.wall -= JUMP_THRESHOLD + 0.5
    assert clock.jumped() == pytest.approx(-(JUMP_THRESHOLD + 0.5))
    assert clock.jumped() == 0.0  # re-anchored: a step is reported once


def test_the_real_clocks_do_not_step_here():
    clock = SystemClock()
    clock.sleep(0.01)
    assert clock.jumped() == 0.0

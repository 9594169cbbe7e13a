"""The distributor machine: the `transitions` machine built from `states.TRANSITIONS`.

`Distributor.step()` performs exactly one transition: it runs the current
state's action (the I/O) *outside* the library's callbacks, then fires the
trigger the action returned and lets the table decide the destination.
`run()` is nothing but repeated steps with the waits the states ask for.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Optional

import structlog
from transitions import Machine

from fsm_distributor.actions import ACTIONS
from fsm_distributor.actions.retrying import retries_left
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.states import FINISH_BEFORE_STOP, INITIAL, TERMINAL, TRANSITIONS, State, triggers_from


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    source: State
    trigger: str
    dest: State
    delay: float = 0.0


class Distributor:
    """The model: holds the context and dependencies; `transitions` adds `state` and triggers.

    No method here may share a name with a trigger (the library would skip
    the trigger silently); a test checks it.
    """

    def __init__(self, deps: Deps, ctx: Optional[Context] = None):
        self.deps = deps
        self.ctx = ctx or Context()
        self.stop_requested = False
        self.machine = Machine(
            model=self,
            states=[s.value for s in State],
            initial=INITIAL.value,
            transitions=[_as_dict(t) for t in TRANSITIONS],
            auto_transitions=False,       # no to_<State>(): every move goes through the table
            ignore_invalid_triggers=False,
            send_event=False,
        )

    # -- conditions named in the table -----------------------------------------
    def retries_left(self) -> bool:
        return retries_left(self.deps, self.ctx)

    def batch_mode(self) -> bool:
        return self.ctx.batch

    # -- stepping ----------------------------------------------------------------
    @property
    def current(self) -> State:
        return State(self.state)

    @property
    def stopped(self) -> bool:
        return self.current in TERMINAL

    def request_stop(self) -> None:
        """Ask the machine to enter Stopped at its next step (signal-handler safe)."""
        self.stop_requested = True

    def step(self) -> StepResult:
        source = self.current
        if source in TERMINAL:
            raise RuntimeError(f"the machine is {source}: no step is possible")
        structlog.contextvars.bind_contextvars(state=source.value)
        self._follow_clock()
        stopping = self.stop_requested and source not in FINISH_BEFORE_STOP
        outcome = Outcome("shutdown") if stopping else self._act(source)
        if outcome.trigger not in triggers_from(source):
            self.deps.log.error("illegal_trigger", message=f"Action of {source} returned {outcome.trigger!r}, "
                                f"which the table does not allow there; abandoning the cycle")
            outcome = Outcome("fault", delay=self.deps.config.balance_check_interval)
        if not self.trigger(outcome.trigger):
            raise RuntimeError(f"{outcome.trigger!r} from {source} matched no transition")  # table bug
        dest = self.current
        structlog.contextvars.bind_contextvars(state=dest.value)
        self.deps.log.info("transition", message=f"{source} -> {dest} ({outcome.trigger})",
                           **{"from": source.value, "to": dest.value, "trigger": outcome.trigger},
                           delay=round(outcome.delay, 3))
        return StepResult(source, outcome.trigger, dest, outcome.delay)

    def _follow_clock(self) -> None:
        """A step of the wall clock since the last step moves the deadlines with it (clock.py)."""
        step = self.deps.clock.jumped()
        if step:
            self.ctx.shift_deadlines(step)
            self.deps.log.warning("clock_jump", message=f"The wall clock jumped {step:+.3f}s against the "
                                  f"monotonic clock; deadlines moved with it, waits keep their length",
                                  jump=round(step, 3))

    def _act(self, source: State) -> Outcome:
        try:
            return ACTIONS[source](self.deps, self.ctx)
        except Exception as exc:  # the agent must survive anything at run time
            self.deps.log.error("action_failed", message=f"Unexpected error in {source}: "
                                f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=8))
            return Outcome("fault", delay=self.deps.config.balance_check_interval)

    def run(self, sleep: Optional[Callable[[float], None]] = None, max_steps: Optional[int] = None) -> int:
        """Step until Stopped (or `max_steps`), sleeping as each step asks; returns steps taken."""
        pause = sleep or self.deps.clock.sleep
        steps = 0
        while not self.stopped and (max_steps is None or steps < max_steps):
            result = self.step()
            steps += 1
            if result.delay > 0 and not self.stopped and not self.stop_requested:
                pause(result.delay)
        return steps


def _as_dict(t) -> dict:
    spec = {"trigger": t.trigger, "source": t.source.value, "dest": t.dest.value}
    if t.condition:
        spec["conditions"] = t.condition
    if t.unless:
        spec["unless"] = t.unless
    return spec

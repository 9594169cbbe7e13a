"""The distributor machine: the `transitions` machine built from `states.TRANSITIONS`.

`Distributor.step()` performs exactly one transition: it runs the current
state's action (the I/O) *outside* the library's callbacks, then fires the
trigger the action returned and lets the table decide the destination.  The
outcome's data becomes the data of the state entered (`states.STATE_DATA`):
a transition whose data does not fit its destination is refused by the
library (a guard added to every transition into a state that takes data),
and the step becomes a `fault`.  `run()` is nothing but repeated steps with
the waits the states ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import structlog
from transitions import Machine

from fsm_distributor.actions import ACTIONS
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle, Payer, Payment
from fsm_distributor.core.multisig import Setup, Step, TreasuryPayer
from fsm_distributor.core.memory import Memory
from fsm_distributor.states import (FINISH_BEFORE_STOP, INITIAL, STATE_DATA, TERMINAL, TRANSITIONS, Outcome, State,
                                    Transition, Trigger)


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    source: State
    trigger: Trigger
    dest: State
    delay: float = 0.0


class Distributor:
    """The model: holds the context and dependencies; `transitions` adds `state` and triggers.

    No method here may share a name with a trigger (the library would skip
    the trigger silently); a test checks it.
    """

    state: State                     # set by transitions
    trigger: Callable[[str], bool]   # added by transitions: fire a trigger by name

    def __init__(self, deps: Deps, memory: Optional[Memory] = None):
        self.deps = deps
        self.mem = memory or Memory()
        #: The data the current state takes (STATE_DATA), handed over by the trigger that entered it.
        self.data: Any = None
        self._incoming: Any = None  # the data of the outcome being fired, for the guards
        self.stop_requested = False
        self.machine = Machine(
            model=self,
            states=State,
            initial=INITIAL,
            transitions=[self._as_dict(t) for t in TRANSITIONS],
            auto_transitions=False,       # no to_<State>(): every move goes through the table
            ignore_invalid_triggers=False,
            send_event=False,
        )

    # -- conditions named in the table: questions about the data being handed over --
    def retries_left(self) -> bool:
        """Building decided it when it made the attempt (`Payment.attempted`); read, not recomputed."""
        return isinstance(self._incoming, Payment) and self._incoming.retries_left

    def batch_mode(self) -> bool:
        return isinstance(self._incoming, Payer) and self._incoming.cycle.batch

    # -- multisig treasury (issue 13) --
    def from_treasury(self) -> bool:
        """Idle chose the treasury for this cycle (a Cycle), or the treasury is the payment's payer."""
        data = self._incoming
        if isinstance(data, Cycle):
            return data.from_treasury
        return isinstance(data, Payment) and isinstance(data.payer, TreasuryPayer)

    def keys_agreed(self) -> bool:
        """The key exchange is over: every signer answered an address."""
        return isinstance(self._incoming, Setup) and self._incoming.step is not Step.EXCHANGE

    def _fits(self, dest: State) -> Callable[[], bool]:
        expected = STATE_DATA[dest]
        return lambda: expected is None or isinstance(self._incoming, expected)

    def _as_dict(self, t: Transition) -> dict[str, Any]:
        conditions: list[Any] = [t.condition] if t.condition else []
        if STATE_DATA[t.dest] is not None:
            conditions.append(self._fits(t.dest))
        spec: dict[str, Any] = {"trigger": t.trigger.value, "source": t.source, "dest": t.dest}
        if conditions:
            spec["conditions"] = conditions
        if t.unless:
            spec["unless"] = t.unless
        return spec

    # -- stepping ----------------------------------------------------------------
    @property
    def current(self) -> State:
        return self.state

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
        outcome = Outcome(Trigger.SHUTDOWN) if stopping else self._act(source)
        if outcome.trigger.value not in self.machine.get_triggers(source):
            self.deps.log.error("illegal_trigger", message=f"Action of {source} returned {outcome.trigger}, "
                                f"which the table does not allow there; abandoning the cycle")
            outcome = self._fault()
        self._incoming = outcome.data
        if not self.trigger(outcome.trigger.value):
            self.deps.log.error("data_mismatch", message=f"{outcome.trigger} from {source} carried "
                                f"{type(outcome.data).__name__}, which no destination of it takes; "
                                f"abandoning the cycle")
            outcome = self._fault()
            self._incoming = None
            self.trigger(outcome.trigger.value)
        dest = self.current
        self.data = outcome.data if STATE_DATA[dest] is not None else None
        self._incoming = None
        structlog.contextvars.bind_contextvars(state=dest.value)
        self.deps.log.info("transition", message=f"{source} -> {dest} ({outcome.trigger})",
                           **{"from": source.value, "to": dest.value, "trigger": outcome.trigger},
                           delay=round(outcome.delay, 3))
        return StepResult(source, outcome.trigger, dest, outcome.delay)

    def _follow_clock(self) -> None:
        """A step of the wall clock since the last step moves the deadlines with it (clock.py)."""
        step = self.deps.clock.jumped()
        if step:
            self.mem.shift_deadlines(step)
            self.deps.log.warning("clock_jump", message=f"The wall clock jumped {step:+.3f}s against the "
                                  f"monotonic clock; deadlines moved with it, waits keep their length",
                                  jump=round(step, 3))

    def _act(self, source: State) -> Outcome:
        try:
            return ACTIONS[source](self.deps, self.mem, self.data)
        except Exception as exc:  # the agent must survive anything at run time
            self.deps.log.error("action_failed", message=f"Unexpected error in {source}: "
                                f"{type(exc).__name__}: {exc}", exc_info=True)
            return self._fault()

    def _fault(self) -> Outcome:
        return Outcome(Trigger.FAULT, delay=self.deps.config.balance_check_interval)

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

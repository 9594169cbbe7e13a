"""The transition table is data: check it is complete and consistent with the machine."""

from __future__ import annotations

import pytest
from transitions import MachineError

from fakes import make_world
from fsm_distributor.actions import ACTIONS
from fsm_distributor.states import Outcome
from fsm_distributor.machine import Distributor
from fsm_distributor.states import (CONCERNS, CONDITIONS, DESCRIPTIONS, FINISH_BEFORE_STOP, INITIAL, TERMINAL,
                                   TRANSITIONS, State)


def reachable_from(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for t in TRANSITIONS:
            if t.source is state and t.dest not in seen:
                seen.add(t.dest)
                todo.append(t.dest)
    return seen


def test_every_state_is_reachable_from_the_initial_state():
    assert reachable_from(INITIAL) == set(State)


@pytest.mark.parametrize("state", [s for s in State if s not in TERMINAL])
def test_every_state_can_stop_and_can_get_back_to_idle(state):
    direct = any(t.source is state and t.trigger == "shutdown" and t.dest is State.STOPPED for t in TRANSITIONS)
    assert direct == (state not in FINISH_BEFORE_STOP), "only a payment in flight finishes before stopping"
    assert State.STOPPED in reachable_from(state)
    assert State.IDLE in reachable_from(state)


def test_terminal_state_has_no_way_out():
    assert not [t for t in TRANSITIONS if t.source in TERMINAL]


def test_every_working_state_has_exactly_one_action_and_metadata():
    assert set(ACTIONS) == set(State) - TERMINAL
    assert set(CONCERNS) == set(DESCRIPTIONS) == set(State)


def test_conditions_exist_on_the_model_and_branches_are_complementary():
    for name in CONDITIONS:
        assert callable(getattr(Distributor, name, None)), name
    for t in TRANSITIONS:
        if t.condition or t.unless:
            twins = [o for o in TRANSITIONS if (o.source, o.trigger) == (t.source, t.trigger)]
            assert {o.condition for o in twins} - {None} == {o.unless for o in twins} - {None}, twins


def test_no_unconditional_duplicates():
    keys = [(t.source, t.trigger) for t in TRANSITIONS if not (t.condition or t.unless)]
    assert len(keys) == len(set(keys))


def test_no_model_attribute_shadows_a_trigger():
    # transitions silently skips a trigger whose name the model already uses.
    triggers = {t.trigger for t in TRANSITIONS}
    assert not triggers & set(dir(Distributor))
    world = make_world()  # already recovered: in Idle
    assert all(callable(getattr(world.distributor, trigger)) for trigger in triggers)
    world.distributor.verify()  # the trigger the library added really moves the state
    assert world.distributor.current is State.VERIFYING
    assert not hasattr(world.distributor, "to_Idle"), "auto transitions must be off"


def test_illegal_trigger_raises_and_nothing_happens():
    world = make_world()
    with pytest.raises(MachineError):
        world.distributor.relayed()
    assert world.distributor.current is State.IDLE


def test_action_returning_an_illegal_trigger_becomes_a_fault(monkeypatch):
    world = make_world()
    monkeypatch.setitem(ACTIONS, State.IDLE, lambda deps, ctx: Outcome("recorded"))
    result = world.step()
    assert (result.trigger, result.dest) == ("fault", State.IDLE)

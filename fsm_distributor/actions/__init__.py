"""One action per state: `(deps, memory, data) -> Outcome`, doing the state's I/O.

`data` is what the state takes (`states.STATE_DATA`), handed over by the
trigger that entered it.  The machine runs the action outside the
`transitions` callbacks and then fires the trigger it returned, so a failing
RPC never leaves a half-done transition.  `ACTIONS` must cover every
non-terminal state (tested).  Actions never import each other: what they
share is in `shared`.
"""

from typing import Any, Callable

from fsm_distributor.core.context import Deps
from fsm_distributor.core.memory import Memory

from fsm_distributor.actions.balance import check_balance
from fsm_distributor.actions.batch_planning import plan_batch
from fsm_distributor.actions.building import build
from fsm_distributor.actions.discovery import discover
from fsm_distributor.actions.idle import idle
from fsm_distributor.actions.journaling import write_intent
from fsm_distributor.actions.miner_selection import select_miner
from fsm_distributor.actions.network_reading import read_network
from fsm_distributor.actions.recipient_selection import select_recipient
from fsm_distributor.actions.recording import record
from fsm_distributor.actions.recovering import recover
from fsm_distributor.actions.relaying import relay
from fsm_distributor.actions.retrying import handle_failure
from fsm_distributor.actions.verifying import verify
from fsm_distributor.states import Outcome, State

Action = Callable[[Deps, Memory, Any], Outcome]

ACTIONS: dict[State, Action] = {
    State.RECOVERING: recover,
    State.IDLE: idle,
    State.DISCOVERING: discover,
    State.SELECTING_MINER: select_miner,
    State.CHECKING_BALANCE: check_balance,
    State.READING_NETWORK: read_network,
    State.SELECTING_RECIPIENT: select_recipient,
    State.PLANNING_BATCH: plan_batch,
    State.BUILDING: build,
    State.RETRYING: handle_failure,
    State.JOURNALING: write_intent,
    State.RELAYING: relay,
    State.RECORDING: record,
    State.VERIFYING: verify,
}

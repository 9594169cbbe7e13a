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
# multisig treasury (issue 13)
from fsm_distributor.actions.building_txset import build_txset
from fsm_distributor.actions.checking_treasury import check_treasury
from fsm_distributor.actions.exchanging_keys import exchange_keys
from fsm_distributor.actions.journaling_txset import write_txset
from fsm_distributor.actions.making_multisig import make_multisig
from fsm_distributor.actions.opening_signers import open_signers
from fsm_distributor.actions.preparing_multisig import prepare_multisig
from fsm_distributor.actions.signing_txset import sign_txset
from fsm_distributor.actions.submitting import submit
from fsm_distributor.actions.syncing_multisig import sync_multisig
from fsm_distributor.actions.tending_treasury import tend_treasury
from fsm_distributor.actions.treasury_balance import check_treasury_balance
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
    # multisig treasury (issue 13)
    State.OPENING_SIGNERS: open_signers,
    State.PREPARING_MULTISIG: prepare_multisig,
    State.MAKING_MULTISIG: make_multisig,
    State.EXCHANGING_KEYS: exchange_keys,
    State.CHECKING_TREASURY: check_treasury,
    State.TENDING_TREASURY: tend_treasury,
    State.CHECKING_TREASURY_BALANCE: check_treasury_balance,
    State.SYNCING_MULTISIG: sync_multisig,
    State.BUILDING_TXSET: build_txset,
    State.JOURNALING_TXSET: write_txset,
    State.SIGNING_TXSET: sign_txset,
    State.SUBMITTING: submit,
}

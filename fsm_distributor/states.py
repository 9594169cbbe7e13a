"""The distributor's states and its transition table.

Everything that decides where the machine can go lives in this file, as
plain data: the machine (`machine.py`), the diagrams (`diagram.py`) and the
table tests all read `TRANSITIONS` and nothing else.  To change behaviour,
change the table here, then regenerate `diagrams/` (``make diagrams``).

Each state has one action (see `actions/`) that does its I/O and returns the
trigger that leaves the state.  A trigger may lead to different states
depending on a *condition*: a model predicate named like a question
(``retries_left``) that the machine evaluates, so the branch is visible in
the table and in the diagram.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class State(str, enum.Enum):
    """The machine's states; the value is the name shown in logs and diagrams."""

    RECOVERING = "Recovering"
    IDLE = "Idle"
    DISCOVERING = "Discovering"
    SELECTING_MINER = "SelectingMiner"
    CHECKING_BALANCE = "CheckingBalance"
    SELECTING_RECIPIENT = "SelectingRecipient"
    PLANNING_BATCH = "PlanningBatch"
    BUILDING = "Building"
    JOURNALING = "Journaling"
    RELAYING = "Relaying"
    RETRYING = "Retrying"
    RECORDING = "Recording"
    VERIFYING = "Verifying"
    STOPPED = "Stopped"

    def __str__(self) -> str:  # so f-strings and logs show "Idle", not "State.IDLE"
        return self.value


INITIAL = State.RECOVERING
TERMINAL = frozenset({State.STOPPED})
#: States that run to their end even after SIGTERM: once a payment is journaled it may leave the
#: wallet, and a simulation is not restarted, so it is relayed and recorded before the agent stops.
FINISH_BEFORE_STOP = frozenset({State.RELAYING, State.RECORDING})

#: Which concern each state belongs to; diagrams group and colour by it.
CONCERNS: dict[State, str] = {
    State.RECOVERING: "recovery",
    State.IDLE: "waiting",
    State.DISCOVERING: "discovery",
    State.SELECTING_MINER: "selection",
    State.CHECKING_BALANCE: "selection",
    State.SELECTING_RECIPIENT: "selection",
    State.PLANNING_BATCH: "selection",
    State.BUILDING: "sending",
    State.JOURNALING: "sending",
    State.RELAYING: "sending",
    State.RECORDING: "sending",
    State.VERIFYING: "verification",
    State.RETRYING: "recovery",
    State.STOPPED: "terminal",
}

#: One line per state, for the README and for diagram tooltips.
DESCRIPTIONS: dict[State, str] = {
    State.RECOVERING: "finish open intents from the journal: relay built ones, record relayed ones",
    State.IDLE: "decide what is due: recovery, verification, a funding batch, or a payment "
                "(transaction_frequency after the last success); sleep until then",
    State.DISCOVERING: "read agent_registry.json and miners.json; join miners to their registry entries",
    State.SELECTING_MINER: "pick a miner (weighted | balance | random), skipping miners that failed this cycle",
    State.CHECKING_BALANCE: "the miner's unlocked balance must cover amount + fee reserve",
    State.SELECTING_RECIPIENT: "pick a recipient (random | round_robin) and resolve its address",
    State.PLANNING_BATCH: "funding: pick recipients not yet funded, outputs kept together, shrunk to the balance",
    State.BUILDING: "build and sign the transfer without relaying it (do_not_relay)",
    State.JOURNALING: "write the intent (recipient, amount, tx_hash, metadata) durably before it can pay",
    State.RELAYING: "relay_tx the journaled metadata (idempotent: same tx_hash, one transaction)",
    State.RETRYING: "classify the build error: back off and retry, switch miner, drop recipient or give up",
    State.RECORDING: "append the transaction to transactions.json once (by tx_hash), close the intent",
    State.VERIFYING: "follow recorded transactions until confirmed or failed",
    State.STOPPED: "terminal: SIGTERM/SIGINT was received",
}


@dataclass(frozen=True)
class Transition:
    """One edge: in `source`, `trigger` leads to `dest` when the condition holds.

    `condition` names a model predicate that must be true, `unless` one that
    must be false; at most one of them is set.  Transitions sharing a source
    and trigger are tried in table order.
    """

    source: State
    trigger: str
    dest: State
    condition: Optional[str] = None
    unless: Optional[str] = None
    note: str = ""


def _t(source: State, trigger: str, dest: State, note: str = "", *,
       condition: Optional[str] = None, unless: Optional[str] = None) -> Transition:
    return Transition(source, trigger, dest, condition, unless, note)


S = State

#: The single source of truth for the machine's behaviour.
TRANSITIONS: tuple[Transition, ...] = (
    _t(S.RECOVERING, "recovered", S.IDLE, "no open intent left to finish now"),
    _t(S.RECOVERING, "resume_relay", S.RELAYING, "an intent was built and journaled, maybe not relayed"),
    _t(S.RECOVERING, "resume_record", S.RECORDING, "an intent was relayed, maybe not recorded"),

    _t(S.IDLE, "keep_waiting", S.IDLE, "not due yet: sleep until the next thing is due"),
    _t(S.IDLE, "recover", S.RECOVERING, "open intents are due for another try"),
    _t(S.IDLE, "verify", S.VERIFYING, "recorded transactions are due for a check"),
    _t(S.IDLE, "wake", S.DISCOVERING, "a single payment is due (transaction_frequency)"),
    _t(S.IDLE, "fund", S.DISCOVERING, "a funding batch is due (initial funding, then md_funding_cycle_interval)"),

    _t(S.DISCOVERING, "discovered", S.SELECTING_MINER, "at least one miner has a wallet"),
    _t(S.DISCOVERING, "registry_unavailable", S.IDLE, "registry missing or unreadable: retry later"),
    _t(S.DISCOVERING, "no_miners", S.IDLE, "no miner with a reachable wallet entry"),

    _t(S.SELECTING_MINER, "miner_selected", S.CHECKING_BALANCE),
    _t(S.SELECTING_MINER, "no_miner_available", S.IDLE, "every miner failed, cools down or is busy: wait"),

    _t(S.CHECKING_BALANCE, "balance_ok", S.SELECTING_RECIPIENT, "unlocked >= amount + fee reserve",
       unless="batch_mode"),
    _t(S.CHECKING_BALANCE, "balance_ok", S.PLANNING_BATCH, "unlocked covers at least one recipient's outputs",
       condition="batch_mode"),
    _t(S.CHECKING_BALANCE, "balance_low", S.SELECTING_MINER, "exclude this miner for the cycle"),
    _t(S.CHECKING_BALANCE, "miner_unreachable", S.SELECTING_MINER, "wallet down: cool the miner down"),

    _t(S.SELECTING_RECIPIENT, "recipient_selected", S.BUILDING, "address resolved and valid"),
    _t(S.SELECTING_RECIPIENT, "recipient_unreachable", S.SELECTING_RECIPIENT,
       "no valid address: skip this recipient for the cycle"),
    _t(S.SELECTING_RECIPIENT, "no_recipient", S.IDLE, "no eligible recipient left"),

    _t(S.PLANNING_BATCH, "batch_planned", S.BUILDING, "<= 15 destinations, each recipient's outputs together"),
    _t(S.PLANNING_BATCH, "batch_unaffordable", S.SELECTING_MINER, "cannot fund even one recipient: next miner"),
    _t(S.PLANNING_BATCH, "nothing_to_fund", S.IDLE, "no address yet or all pending: wait"),
    _t(S.PLANNING_BATCH, "funding_complete", S.IDLE, "every eligible recipient funded once (or given up)"),

    _t(S.BUILDING, "built", S.JOURNALING, "signed, not relayed: nothing has left the wallet"),
    _t(S.BUILDING, "build_failed", S.RETRYING),

    _t(S.RETRYING, "retry", S.BUILDING, "transient error: back off, build again",
       condition="retries_left"),
    _t(S.RETRYING, "retry", S.IDLE, "max_retries attempts made: give up, cool the miner down",
       unless="retries_left"),
    _t(S.RETRYING, "miner_locked", S.SELECTING_MINER, "-37/-19/-16: coins locked, try another miner"),
    _t(S.RETRYING, "miner_broke", S.SELECTING_MINER, "-17: this miner cannot pay"),
    _t(S.RETRYING, "recipient_rejected", S.SELECTING_RECIPIENT,
       "bad address or amount: drop recipient (single payments; a batch gives up)"),
    _t(S.RETRYING, "give_up", S.IDLE, "permanent error: do not retry this request"),

    _t(S.JOURNALING, "journaled", S.RELAYING, "the intent is on disk (fsync + rename)"),
    _t(S.JOURNALING, "journal_failed", S.IDLE, "cannot persist: drop the build, nothing was paid"),

    _t(S.RELAYING, "relayed", S.RECORDING),
    _t(S.RELAYING, "relay_deferred", S.IDLE, "wallet unreachable: the intent stays open, recovery retries"),
    _t(S.RELAYING, "relay_rejected", S.IDLE, "inputs spent or tx invalid: intent failed, nothing paid"),

    _t(S.RECORDING, "recorded", S.IDLE, "in transactions.json; the intent is closed"),
    _t(S.RECORDING, "record_deferred", S.IDLE, "shared dir not writable: the intent stays open"),

    _t(S.VERIFYING, "verified", S.IDLE, "statuses, heights and confirmations written"),
) + tuple(
    _t(state, "fault", S.IDLE, "unexpected error in the action: logged, cycle abandoned")
    for state in State if state not in TERMINAL
) + tuple(
    _t(state, "shutdown", S.STOPPED, "SIGTERM/SIGINT")
    for state in State if state not in TERMINAL | FINISH_BEFORE_STOP
)

#: Predicates the table refers to; the machine must provide each of them.
CONDITIONS: frozenset[str] = frozenset(
    name for t in TRANSITIONS for name in (t.condition, t.unless) if name
)


def triggers_from(state: State) -> tuple[str, ...]:
    """The triggers that are legal in `state`, in table order, without repeats."""
    return tuple(dict.fromkeys(t.trigger for t in TRANSITIONS if t.source is state))

"""The distributor's states and its transition table.

Everything that decides where the machine can go lives in this file, as
plain data: the machine (`machine.py`), the diagrams (`diagram.py`) and the
table tests all read `TRANSITIONS` and nothing else.  To change behaviour,
change the table here, then regenerate `diagrams/` (``make diagrams``).

Each state has one action (see `actions/`) that does its I/O and returns an
`Outcome`: the trigger that leaves the state, and the data the next state
takes (`STATE_DATA`: one cycle's data travels with the triggers, see
`core.cycle`).  A trigger may lead to different states depending on a
*condition*: a predicate named like a question (``retries_left``) that the
machine evaluates on that data, so the branch is visible in the table and in
the diagram.  Triggers are the `Trigger` enum: a misspelt one is an
AttributeError where it is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from fsm_distributor.core.cycle import Built, Cycle, FailedBuild, Payer, Payment, Sender
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.multisig import Setup, SpendPlan, Txset
from fsm_distributor.core.names import Name


class State(Name):
    """The machine's states; the value is the name shown in logs and diagrams."""

    RECOVERING = "Recovering"
    IDLE = "Idle"
    DISCOVERING = "Discovering"
    SELECTING_MINER = "SelectingMiner"
    CHECKING_BALANCE = "CheckingBalance"
    READING_NETWORK = "ReadingNetwork"  # issue 11: network-aware distribution
    SELECTING_RECIPIENT = "SelectingRecipient"
    PLANNING_BATCH = "PlanningBatch"
    BUILDING = "Building"
    JOURNALING = "Journaling"
    RELAYING = "Relaying"
    RETRYING = "Retrying"
    RECORDING = "Recording"
    VERIFYING = "Verifying"
    # -- multisig treasury (issue 13): set-up rounds, upkeep, and a spend's signing steps ----------
    OPENING_SIGNERS = "OpeningSigners"
    PREPARING_MULTISIG = "PreparingMultisig"
    MAKING_MULTISIG = "MakingMultisig"
    EXCHANGING_KEYS = "ExchangingMultisigKeys"
    CHECKING_TREASURY = "CheckingTreasury"
    TENDING_TREASURY = "TendingTreasury"
    CHECKING_TREASURY_BALANCE = "CheckingTreasuryBalance"
    SYNCING_MULTISIG = "SyncingMultisig"
    BUILDING_TXSET = "BuildingTxset"
    JOURNALING_TXSET = "JournalingTxset"
    SIGNING_TXSET = "SigningTxset"
    SUBMITTING = "Submitting"
    STOPPED = "Stopped"


class Trigger(Name):
    """What an action returns to leave its state; the value is the name in logs and diagrams."""

    RECOVERED = "recovered"
    RESUME_RELAY = "resume_relay"
    RESUME_RECORD = "resume_record"
    KEEP_WAITING = "keep_waiting"
    RECOVER = "recover"
    VERIFY = "verify"
    WAKE = "wake"
    FUND = "fund"
    DISCOVERED = "discovered"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    NO_MINERS = "no_miners"
    MINER_SELECTED = "miner_selected"
    NO_MINER_AVAILABLE = "no_miner_available"
    BALANCE_OK = "balance_ok"
    BALANCE_LOW = "balance_low"
    MINER_UNREACHABLE = "miner_unreachable"
    RECIPIENT_SELECTED = "recipient_selected"
    RECIPIENT_UNREACHABLE = "recipient_unreachable"
    NO_RECIPIENT = "no_recipient"
    BATCH_PLANNED = "batch_planned"
    BATCH_UNAFFORDABLE = "batch_unaffordable"
    NOTHING_TO_FUND = "nothing_to_fund"
    FUNDING_COMPLETE = "funding_complete"
    BUILT = "built"
    BUILD_FAILED = "build_failed"
    RETRY = "retry"
    MINER_LOCKED = "miner_locked"
    MINER_BROKE = "miner_broke"
    RECIPIENT_REJECTED = "recipient_rejected"
    GIVE_UP = "give_up"
    JOURNALED = "journaled"
    JOURNAL_FAILED = "journal_failed"
    RELAYED = "relayed"
    RELAY_DEFERRED = "relay_deferred"
    RELAY_REJECTED = "relay_rejected"
    RECORDED = "recorded"
    RECORD_DEFERRED = "record_deferred"
    VERIFIED = "verified"
    # -- multisig treasury (issue 13) ---------------------------------------------------------------
    SET_UP_TREASURY = "set_up_treasury"
    TEND_TREASURY = "tend_treasury"
    SIGNERS_OPEN = "signers_open"
    MULTISIG_PREPARED = "multisig_prepared"
    MULTISIG_MADE = "multisig_made"
    KEYS_EXCHANGED = "keys_exchanged"
    TREASURY_READY = "treasury_ready"
    SIGNER_DOWN = "signer_down"
    SETUP_DISCARDED = "setup_discarded"
    TREASURY_LOW = "treasury_low"
    TREASURY_TENDED = "treasury_tended"
    MULTISIG_SYNCED = "multisig_synced"
    TXSET_BUILT = "txset_built"
    TXSET_REFUSED = "txset_refused"
    TXSET_JOURNALED = "txset_journaled"
    TXSET_COMPLETE = "txset_complete"
    TXSET_SIGNED = "txset_signed"
    TXSET_ABANDONED = "txset_abandoned"
    SUBMITTED = "submitted"
    SUBMIT_DEFERRED = "submit_deferred"
    SUBMIT_REJECTED = "submit_rejected"
    RESUME_SUBMIT = "resume_submit"
    RESUME_SIGNING = "resume_signing"
    # -- network-aware distribution (issue 11)
    READ_NETWORK = "read_network"
    NETWORK_READ = "network_read"
    POOL_FULL = "pool_full"
    UNCONFIRMED_LIMIT = "unconfirmed_limit"
    OVER_BUDGET = "over_budget"
    RECIPIENT_FULL = "recipient_full"
    FEE_REFUSED = "fee_refused"
    AMOUNT_RAISED = "amount_raised"
    FAULT = "fault"
    SHUTDOWN = "shutdown"
    # -- scheduled payments (issue 12) --
    SCHEDULED = "scheduled"


T = Trigger


@dataclass(frozen=True)
class Outcome:
    """What an action decided: the trigger to fire, how long to wait after it, and the data the
    next state takes (`STATE_DATA`; None for a state that takes none)."""

    trigger: Trigger
    delay: float = 0.0
    data: Any = None


INITIAL = State.RECOVERING
TERMINAL = frozenset({State.STOPPED})
#: States that run to their end even after SIGTERM: once a payment is journaled it may leave the
#: wallet, and a simulation is not restarted, so it is relayed and recorded before the agent stops
#: (a treasury spend journaled fully signed likewise: submitted, then recorded).
FINISH_BEFORE_STOP = frozenset({State.RELAYING, State.RECORDING, State.SUBMITTING})

#: The data each state's action takes (what the trigger into it carries); None: no data.  The machine
#: checks it at every step, so a state is never entered with another's data.
STATE_DATA: dict[State, Optional[type]] = {
    State.RECOVERING: None,
    State.IDLE: None,
    State.VERIFYING: None,
    State.DISCOVERING: Cycle,
    State.SELECTING_MINER: Cycle,
    State.CHECKING_BALANCE: Sender,
    State.READING_NETWORK: Payer,
    State.SELECTING_RECIPIENT: Payer,
    State.PLANNING_BATCH: Payer,
    State.BUILDING: Payment,
    State.RETRYING: FailedBuild,
    State.JOURNALING: Built,
    State.RELAYING: Intent,
    State.RECORDING: Intent,
    # -- multisig treasury (issue 13) --
    State.OPENING_SIGNERS: Setup,
    State.PREPARING_MULTISIG: Setup,
    State.MAKING_MULTISIG: Setup,
    State.EXCHANGING_KEYS: Setup,
    State.CHECKING_TREASURY: Setup,
    State.TENDING_TREASURY: None,
    State.CHECKING_TREASURY_BALANCE: Cycle,
    State.SYNCING_MULTISIG: Payment,
    State.BUILDING_TXSET: SpendPlan,
    State.JOURNALING_TXSET: Txset,
    State.SIGNING_TXSET: Txset,
    State.SUBMITTING: Intent,
    State.STOPPED: None,
}

#: Which concern each state belongs to; diagrams group and colour by it.
CONCERNS: dict[State, str] = {
    State.RECOVERING: "recovery",
    State.IDLE: "waiting",
    State.DISCOVERING: "discovery",
    State.SELECTING_MINER: "selection",
    State.CHECKING_BALANCE: "selection",
    State.READING_NETWORK: "selection",
    State.SELECTING_RECIPIENT: "selection",
    State.PLANNING_BATCH: "selection",
    State.BUILDING: "sending",
    State.JOURNALING: "sending",
    State.RELAYING: "sending",
    State.RECORDING: "sending",
    State.VERIFYING: "verification",
    State.RETRYING: "recovery",
    # -- multisig treasury (issue 13) --
    State.OPENING_SIGNERS: "treasury",
    State.PREPARING_MULTISIG: "treasury",
    State.MAKING_MULTISIG: "treasury",
    State.EXCHANGING_KEYS: "treasury",
    State.CHECKING_TREASURY: "treasury",
    State.TENDING_TREASURY: "treasury",
    State.CHECKING_TREASURY_BALANCE: "selection",
    State.SYNCING_MULTISIG: "multisig",
    State.BUILDING_TXSET: "multisig",
    State.JOURNALING_TXSET: "multisig",
    State.SIGNING_TXSET: "multisig",
    State.SUBMITTING: "multisig",
    State.STOPPED: "terminal",
}

#: One line per state, for the README and for diagram tooltips.
DESCRIPTIONS: dict[State, str] = {
    State.RECOVERING: "finish open intents from the journal: relay built ones, record relayed ones",
    State.IDLE: "decide what is due: recovery, verification, a scheduled payment (schedule), a funding batch, "
                "or a payment (transaction_frequency after the last success); sleep until then",
    State.DISCOVERING: "read agent_registry.json and miners.json; join miners to their registry entries",
    State.SELECTING_MINER: "pick a miner (weighted | balance | random), skipping miners that failed this cycle",
    State.CHECKING_BALANCE: "the miner's unlocked balance must cover amount + fee reserve",
    State.READING_NETWORK: "network-aware attributes: read the miner's monerod once per new block; fee priority "
                           "from the pool, throttles, sustainable amount",
    State.SELECTING_RECIPIENT: "pick a recipient (random | round_robin) and resolve its address",
    State.PLANNING_BATCH: "funding: pick recipients not yet funded, outputs kept together, shrunk to the balance",
    State.BUILDING: "build and sign the transfer without relaying it (do_not_relay)",
    State.JOURNALING: "write the intent (recipient, amount, tx_hash, metadata) durably before it can pay",
    State.RELAYING: "relay_tx the journaled metadata (idempotent: same tx_hash, one transaction)",
    State.RETRYING: "classify the build error: back off and retry, switch miner, drop recipient or give up",
    State.RECORDING: "append the transaction to transactions.json once (by tx_hash), close the intent",
    State.VERIFYING: "follow recorded transactions until confirmed or failed",
    # -- multisig treasury (issue 13) --
    State.OPENING_SIGNERS: "treasury set-up: create (or reopen) the treasury's wallet in each signer's wallet-rpc; "
                           "a wallet that went further than the journal knows is discarded",
    State.PREPARING_MULTISIG: "set-up round 0: prepare_multisig on each signer, each answer journaled",
    State.MAKING_MULTISIG: "set-up round 1: make_multisig (M, the others' round-0 infos) on each signer, journaled",
    State.EXCHANGING_KEYS: "set-up rounds 2..: exchange_multisig_keys with the others' last infos, journaled; "
                           "until every signer answers an address",
    State.CHECKING_TREASURY: "every signer multisig, ready, M-of-N, the same address; {id}_multisig_info.json",
    State.TENDING_TREASURY: "the treasury's balance: a funding batch from the miners when below "
                            "multisig_refill_below",
    State.CHECKING_TREASURY_BALANCE: "the treasury pays: its unlocked balance must cover amount + fee reserve",
    State.SYNCING_MULTISIG: "export_multisig_info from every signer, import into every signer (one round per "
                            "spend); M of them take part",
    State.BUILDING_TXSET: "transfer on one signer: a multisig txset (its signature), checked by describe_transfer",
    State.JOURNALING_TXSET: "write the (partially) signed txset durably; once M have signed, its intent (built)",
    State.SIGNING_TXSET: "sign_multisig on the next signer that has not signed (another if one refuses)",
    State.SUBMITTING: "submit_multisig the journaled fully signed set (idempotent: same tx_hash)",
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
    trigger: Trigger
    dest: State
    condition: Optional[str] = None
    unless: Optional[str] = None
    note: str = ""


def _t(source: State, trigger: Trigger, dest: State, note: str = "", *,
       condition: Optional[str] = None, unless: Optional[str] = None) -> Transition:
    return Transition(source, trigger, dest, condition, unless, note)


S = State

#: The single source of truth for the machine's behaviour.
TRANSITIONS: tuple[Transition, ...] = (
    _t(S.RECOVERING, T.RECOVERED, S.IDLE, "no open intent left to finish now"),
    _t(S.RECOVERING, T.RESUME_RELAY, S.RELAYING, "an intent was built and journaled, maybe not relayed"),
    _t(S.RECOVERING, T.RESUME_RECORD, S.RECORDING, "an intent was relayed, maybe not recorded"),

    _t(S.IDLE, T.KEEP_WAITING, S.IDLE, "not due yet: sleep until the next thing is due"),
    _t(S.IDLE, T.RECOVER, S.RECOVERING, "open intents are due for another try"),
    _t(S.IDLE, T.VERIFY, S.VERIFYING, "recorded transactions are due for a check"),
    _t(S.IDLE, T.WAKE, S.DISCOVERING, "a single payment is due (transaction_frequency)"),
    _t(S.IDLE, T.FUND, S.DISCOVERING, "a funding batch is due (initial funding, then md_funding_cycle_interval)"),

    _t(S.DISCOVERING, T.DISCOVERED, S.SELECTING_MINER, "at least one miner has a wallet", unless="from_treasury"),
    _t(S.DISCOVERING, T.DISCOVERED, S.CHECKING_TREASURY_BALANCE, "multisig: the treasury pays this cycle",
       condition="from_treasury"),
    _t(S.DISCOVERING, T.REGISTRY_UNAVAILABLE, S.IDLE, "registry missing or unreadable: retry later"),
    _t(S.DISCOVERING, T.NO_MINERS, S.IDLE, "no miner with a reachable wallet entry"),

    _t(S.SELECTING_MINER, T.MINER_SELECTED, S.CHECKING_BALANCE),
    _t(S.SELECTING_MINER, T.NO_MINER_AVAILABLE, S.IDLE, "every miner failed, cools down or is busy: wait"),

    _t(S.CHECKING_BALANCE, T.BALANCE_OK, S.SELECTING_RECIPIENT, "unlocked >= amount + fee reserve",
       unless="batch_mode"),
    _t(S.CHECKING_BALANCE, T.BALANCE_OK, S.PLANNING_BATCH, "unlocked covers at least one recipient's outputs",
       condition="batch_mode"),
    _t(S.CHECKING_BALANCE, T.BALANCE_LOW, S.SELECTING_MINER, "exclude this miner for the cycle"),
    _t(S.CHECKING_BALANCE, T.MINER_UNREACHABLE, S.SELECTING_MINER, "wallet down: cool the miner down"),

    _t(S.SELECTING_RECIPIENT, T.RECIPIENT_SELECTED, S.BUILDING, "address resolved and valid", unless="from_treasury"),
    _t(S.SELECTING_RECIPIENT, T.RECIPIENT_SELECTED, S.SYNCING_MULTISIG, "the treasury pays: its signers sign",
       condition="from_treasury"),
    _t(S.SELECTING_RECIPIENT, T.RECIPIENT_UNREACHABLE, S.SELECTING_RECIPIENT,
       "no valid address: skip this recipient for the cycle"),
    _t(S.SELECTING_RECIPIENT, T.NO_RECIPIENT, S.IDLE, "no eligible recipient left"),

    _t(S.PLANNING_BATCH, T.BATCH_PLANNED, S.BUILDING, "<= 15 destinations, each recipient's outputs together",
       unless="from_treasury"),
    _t(S.PLANNING_BATCH, T.BATCH_PLANNED, S.SYNCING_MULTISIG, "the treasury pays the batch (multisig_mode all)",
       condition="from_treasury"),
    _t(S.PLANNING_BATCH, T.BATCH_UNAFFORDABLE, S.SELECTING_MINER, "cannot fund even one recipient: next miner"),
    _t(S.PLANNING_BATCH, T.NOTHING_TO_FUND, S.IDLE, "no address yet or all pending: wait"),
    _t(S.PLANNING_BATCH, T.FUNDING_COMPLETE, S.IDLE, "every eligible recipient funded once (or given up)"),

    _t(S.BUILDING, T.BUILT, S.JOURNALING, "signed, not relayed: nothing has left the wallet"),
    _t(S.BUILDING, T.BUILD_FAILED, S.RETRYING),

    _t(S.RETRYING, T.RETRY, S.BUILDING, "transient error: back off, build again",
       condition="retries_left"),
    _t(S.RETRYING, T.RETRY, S.IDLE, "max_retries attempts made: give up, cool the miner down",
       unless="retries_left"),
    _t(S.RETRYING, T.MINER_LOCKED, S.SELECTING_MINER, "-37/-19/-16: coins locked, try another miner"),
    _t(S.RETRYING, T.MINER_BROKE, S.SELECTING_MINER, "-17: this miner cannot pay"),
    _t(S.RETRYING, T.RECIPIENT_REJECTED, S.SELECTING_RECIPIENT,
       "bad address or amount: drop recipient (single payments; a batch gives up)"),
    _t(S.RETRYING, T.GIVE_UP, S.IDLE, "permanent error: do not retry this request"),

    _t(S.JOURNALING, T.JOURNALED, S.RELAYING, "the intent is on disk (fsync + rename)"),
    _t(S.JOURNALING, T.JOURNAL_FAILED, S.IDLE, "cannot persist: drop the build, nothing was paid"),

    _t(S.RELAYING, T.RELAYED, S.RECORDING),
    _t(S.RELAYING, T.RELAY_DEFERRED, S.IDLE, "wallet unreachable: the intent stays open, recovery retries"),
    _t(S.RELAYING, T.RELAY_REJECTED, S.IDLE, "inputs spent or tx invalid: intent failed, nothing paid"),

    _t(S.RECORDING, T.RECORDED, S.IDLE, "in transactions.json; the intent is closed"),
    _t(S.RECORDING, T.RECORD_DEFERRED, S.IDLE, "shared dir not writable: the intent stays open"),

    _t(S.VERIFYING, T.VERIFIED, S.IDLE, "statuses, heights and confirmations written"),

    # -- scheduled payments (issue 12): an occurrence's cycle is a single payment with its key, recipient,
    # miner and time lock fixed by the schedule entry (core.cycle.Scheduled)
    _t(S.IDLE, T.SCHEDULED, S.DISCOVERING, "a scheduled occurrence is due (schedule): after recovery and "
       "verification, before funding and single payments"),
) + (
    # -- multisig treasury (issue 13): set-up, one state per round; each answer journaled as it comes --
    _t(S.IDLE, T.SET_UP_TREASURY, S.OPENING_SIGNERS, "multisig on, no ready treasury: make (or resume) one"),
    _t(S.OPENING_SIGNERS, T.SIGNERS_OPEN, S.PREPARING_MULTISIG, "the set-up's wallet is open in every signer"),
    _t(S.PREPARING_MULTISIG, T.MULTISIG_PREPARED, S.MAKING_MULTISIG, "every signer's round-0 info journaled"),
    _t(S.MAKING_MULTISIG, T.MULTISIG_MADE, S.EXCHANGING_KEYS, "every signer is multisig (not yet ready)"),
    _t(S.EXCHANGING_KEYS, T.KEYS_EXCHANGED, S.EXCHANGING_KEYS, "a round done, another is needed",
       unless="keys_agreed"),
    _t(S.EXCHANGING_KEYS, T.KEYS_EXCHANGED, S.CHECKING_TREASURY, "every signer answered an address",
       condition="keys_agreed"),
    _t(S.CHECKING_TREASURY, T.TREASURY_READY, S.IDLE, "ready, one address: published in {id}_multisig_info.json"),
) + tuple(
    _t(state, trigger, S.IDLE, note) for trigger, note in (
        (T.SIGNER_DOWN, "a signer's wallet-rpc is unreachable: the journal keeps the set-up, resumed later"),
        (T.SETUP_DISCARDED, "a signer cannot go on with this set-up: made again under a new name"))
    for state in (S.OPENING_SIGNERS, S.PREPARING_MULTISIG, S.MAKING_MULTISIG, S.EXCHANGING_KEYS, S.CHECKING_TREASURY)
) + (
    # -- multisig treasury: upkeep --
    _t(S.IDLE, T.TEND_TREASURY, S.TENDING_TREASURY, "the treasury is ready: look at its balance"),
    _t(S.TENDING_TREASURY, T.TREASURY_LOW, S.DISCOVERING, "below multisig_refill_below: a funding batch from a miner"),
    _t(S.TENDING_TREASURY, T.TREASURY_TENDED, S.IDLE, "enough, or a refill on its way"),
    _t(S.TENDING_TREASURY, T.SIGNER_DOWN, S.IDLE, "no signer answers: look again later"),
    # -- multisig treasury: a spend (payments, and batches in multisig_mode all) --
    _t(S.CHECKING_TREASURY_BALANCE, T.BALANCE_OK, S.SELECTING_RECIPIENT, "unlocked >= amount + fee reserve",
       unless="batch_mode"),
    _t(S.CHECKING_TREASURY_BALANCE, T.BALANCE_OK, S.PLANNING_BATCH, "unlocked covers one recipient's outputs",
       condition="batch_mode"),
    _t(S.CHECKING_TREASURY_BALANCE, T.BALANCE_LOW, S.IDLE, "change locked or refill due: the payment waits"),
    _t(S.CHECKING_TREASURY_BALANCE, T.SIGNER_DOWN, S.IDLE, "no signer answers: the payment waits"),
    _t(S.SYNCING_MULTISIG, T.MULTISIG_SYNCED, S.BUILDING_TXSET, "M signers exchanged their multisig info"),
    _t(S.SYNCING_MULTISIG, T.SIGNER_DOWN, S.IDLE, "fewer than M signers answer: nothing was built"),
    _t(S.BUILDING_TXSET, T.TXSET_BUILT, S.JOURNALING_TXSET, "a set with the builder's signature: it cannot pay yet"),
    _t(S.BUILDING_TXSET, T.TXSET_REFUSED, S.IDLE, "the builder refused or answered a wrong set: nothing built"),
    _t(S.JOURNALING_TXSET, T.TXSET_JOURNALED, S.SIGNING_TXSET, "partially signed set on disk"),
    _t(S.JOURNALING_TXSET, T.TXSET_COMPLETE, S.SUBMITTING, "M signatures: the set and its intent (built) on disk"),
    _t(S.JOURNALING_TXSET, T.JOURNAL_FAILED, S.IDLE, "cannot persist: the set is dropped, nothing was paid"),
    _t(S.SIGNING_TXSET, T.TXSET_SIGNED, S.JOURNALING_TXSET, "one more signature"),
    _t(S.SIGNING_TXSET, T.TXSET_ABANDONED, S.IDLE, "no signer left that can sign it: abandoned, nothing paid"),
    _t(S.SIGNING_TXSET, T.SIGNER_DOWN, S.IDLE, "the signers left are unreachable: the set stays open"),
    _t(S.SUBMITTING, T.SUBMITTED, S.RECORDING, "the daemon has it (same hash every time)"),
    _t(S.SUBMITTING, T.SUBMIT_DEFERRED, S.IDLE, "no signer reachable: the intent stays open, recovery retries"),
    _t(S.SUBMITTING, T.SUBMIT_REJECTED, S.IDLE, "-36: its inputs were spent meanwhile: failed, nothing paid"),
    _t(S.RECOVERING, T.RESUME_SUBMIT, S.SUBMITTING, "a treasury spend was journaled fully signed, maybe not sent"),
    _t(S.RECOVERING, T.RESUME_SIGNING, S.SIGNING_TXSET, "a treasury spend was journaled partially signed"),
    # -- network-aware distribution (issue 11): entered only when one of its attributes is set
    _t(S.CHECKING_BALANCE, T.READ_NETWORK, S.READING_NETWORK, "balance covers the need; network-aware attributes"),
    _t(S.READING_NETWORK, T.NETWORK_READ, S.SELECTING_RECIPIENT, "priority and amount decided", unless="batch_mode"),
    _t(S.READING_NETWORK, T.NETWORK_READ, S.PLANNING_BATCH, "priority decided", condition="batch_mode"),
    _t(S.READING_NETWORK, T.POOL_FULL, S.IDLE, "pool above max_pool_kb: single payments wait"),
    _t(S.READING_NETWORK, T.UNCONFIRMED_LIMIT, S.IDLE, "max_unconfirmed own transactions unconfirmed: wait"),
    _t(S.READING_NETWORK, T.OVER_BUDGET, S.IDLE, "sustainable: paying now would spend above spend_fraction"),
    _t(S.SELECTING_RECIPIENT, T.RECIPIENT_FULL, S.SELECTING_RECIPIENT,
       "topup: holds target_balance (within min_transaction_amount): skip for the cycle"),
    _t(S.BUILDING, T.AMOUNT_RAISED, S.BUILDING, "fee above max_fee_fraction: build dropped, amount raised, build again"),
    _t(S.BUILDING, T.FEE_REFUSED, S.IDLE, "fee above max_fee_fraction: build dropped before relay, nothing paid"),
) + tuple(
    _t(state, T.FAULT, S.IDLE, "unexpected error in the action: logged, cycle abandoned")
    for state in State if state not in TERMINAL
) + tuple(
    _t(state, T.SHUTDOWN, S.STOPPED, "SIGTERM/SIGINT")
    for state in State if state not in TERMINAL | FINISH_BEFORE_STOP
)

#: Predicates the table refers to; the machine must provide each of them.
CONDITIONS: frozenset[str] = frozenset(
    name for t in TRANSITIONS for name in (t.condition, t.unless) if name
)


def triggers_from(state: State) -> tuple[Trigger, ...]:
    """The triggers that are legal in `state`, in table order, without repeats."""
    return tuple(dict.fromkeys(t.trigger for t in TRANSITIONS if t.source is state))

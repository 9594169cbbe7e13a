"""What one cycle carries: created when Idle starts a cycle, handed from state to state.

A cycle is one attempt at one payment (or one funding batch).  Its data is
not kept in the machine's memory, where a stale value could outlive the
cycle, but travels with the triggers: each state's action receives exactly
the object its state takes (`states.STATE_DATA`) and hands the next state
the object that one takes.  So every field here is set when its object is
made; nothing is optional, nothing is asserted.

    Idle --wake/fund/scheduled--> Cycle --> Sender --> Payer --> Payment --> Built
                                                          \\--> FailedBuild --retry--> Payment

With network-aware attributes, ReadingNetwork hands on the Payer enriched with its `Conditions`.

Where a new state's data goes: if it lives for one cycle, into a new object
here (or a field of the one it extends); if it lives across cycles, into
`memory.Memory`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from fsm_distributor.core.config import Config
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.names import Purpose
from fsm_distributor.core.network import NetworkView
from fsm_distributor.core.ports import Balance, Transfer
from fsm_distributor.core.registry import Miner
from fsm_distributor.core.schedule import ANYONE


@dataclass
class Cycle:
    """One cycle: what it is for, and what it has ruled out so far (mutable, for this cycle only)."""

    number: int
    purpose: Purpose
    #: Unlocked atomic units a miner must hold to be asked: the payment and its fee reserve, or, for a
    #: batch, one recipient's outputs and the batch's fee reserve.
    need: int
    #: The single payment's amount (drawn at the cycle's start); 0 for a batch, whose amounts are planned.
    amount: int = 0
    excluded_miners: set[str] = field(default_factory=set)
    excluded_recipients: set[str] = field(default_factory=set)
    #: Balances asked this cycle, by miner id (the balance strategy asks every candidate).
    balances: dict[str, Balance] = field(default_factory=dict)
    #: Miners whose wallets were refreshed this cycle.
    refreshed: set[str] = field(default_factory=set)
    #: multisig treasury (issue 13): Idle chose the treasury to pay (Discovering then asks it, not a miner).
    from_treasury: bool = False
    #: A scheduled payment's occurrence (purpose `scheduled`); None for every other cycle.
    scheduled: Optional["Scheduled"] = None

    @property
    def batch(self) -> bool:
        return self.purpose.batch


# -- scheduled payments (issue 12) ----------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """The occurrence a scheduled cycle pays, and what its schedule entry fixes about the payment.

    The key (schedule_id, occurrence) goes into the intent, which is how the
    occurrence is paid once (core.schedule).  Idle makes it when the
    occurrence is due; the building block's height fixes the unlock_time
    (`Built.unlock_time`).
    """

    schedule_id: str
    occurrence: int
    due_at: float
    #: An agent id, or random | round_robin (schedule.ANYONE).
    to: str
    #: The miner named by the entry's `from` (never replaced by another); "" lets the strategy choose.
    miner: str
    unlock_after_blocks: int
    priority: int

    @property
    def recipient(self) -> str:
        """The agent the entry names; "" when it picks among the eligible recipients."""
        return "" if self.to in ANYONE else self.to

    def __str__(self) -> str:
        return f"{self.schedule_id}#{self.occurrence}"


@dataclass(frozen=True)
class Sender:
    """The miner chosen to pay this cycle, not yet checked."""

    cycle: Cycle
    miner: Miner


# -- network-aware distribution (issue 11) ------------------------------------------------------


@dataclass(frozen=True)
class Conditions:
    """What ReadingNetwork saw and decided for this cycle: the inputs of its decisions travel
    with the payment into the journal and transactions.json."""

    priority: int
    fee_strategy: str
    amount_strategy: str
    #: A single payment's amount (uniform: the draw; sustainable: the draw scaled to the income;
    #: topup: 0, decided per recipient by SelectingRecipient); 0 for a batch.
    amount: int
    #: What the miner's daemon showed; None when no daemon answered (the fixed behaviour then).
    view: Optional[NetworkView] = None

    @property
    def pool_kb(self) -> Optional[float]:
        return self.view.pool_kb if self.view is not None else None


@dataclass(frozen=True)
class Payer:
    """A miner whose unlocked balance covers the cycle's need."""

    cycle: Cycle
    miner: Miner
    balance: Balance
    #: Set by ReadingNetwork (issue 11).  None: the network is not read (its attributes are at their
    #: defaults), so the cycle pays as configured: transaction_priority and the drawn amount.
    conditions: Optional[Conditions] = None

    def priority(self, config: Config) -> int:
        """The fee priority this cycle's transaction is built with."""
        return self.conditions.priority if self.conditions is not None else config.priority

    @property
    def amount(self) -> int:
        """A single payment's amount: as ReadingNetwork decided it, else as drawn at the cycle's start."""
        return self.conditions.amount if self.conditions is not None else self.cycle.amount


@dataclass(frozen=True)
class Payment:
    """What one transaction pays, and how many times it has been built for this miner."""

    payer: Payer
    destinations: tuple[Destination, ...]
    attempt: int = 0
    #: Whether another build is allowed after this attempt (decided when the attempt is made).
    retries_left: bool = True

    @property
    def cycle(self) -> Cycle:
        return self.payer.cycle

    @property
    def miner(self) -> Miner:
        return self.payer.miner

    def attempted(self, max_attempts: int) -> "Payment":
        """The same payment, one attempt later."""
        attempt = self.attempt + 1
        return replace(self, attempt=attempt, retries_left=attempt < max_attempts)


@dataclass(frozen=True)
class Built:
    """A signed, unrelayed transaction for a payment: nothing has left the wallet."""

    payment: Payment
    transfer: Transfer
    #: The unlock_time it was built with (a scheduled payment's time lock); 0: none.
    unlock_time: int = 0


@dataclass(frozen=True)
class FailedBuild:
    """A build the wallet refused, and why."""

    payment: Payment
    error: WalletError

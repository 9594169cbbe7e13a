"""What the actions share: injected dependencies, the mutable context, outcomes.

`Deps` is frozen and holds every door to the outside (registry, wallets,
ledger, clock, RNG, logger), so a test swaps all of them.  `Context` is the
machine's memory: one part lives across cycles (cool-downs, round-robin
cursor, unrecorded records), the rest is reset when a cycle starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from fsm_distributor.clock import Clock, SystemClock  # noqa: F401  (SystemClock: re-exported)
from fsm_distributor.config import Config
from fsm_distributor.daemon import KeyImage, Location
from fsm_distributor.journal import BUILT, OPEN, Intent, Loaded, paid_recipients
from fsm_distributor.ledger import LedgerWrite
from fsm_distributor.registry import Agent, Miner, Snapshot
from fsm_distributor.rpc_errors import WalletError
from fsm_distributor.wallet import Balance, Outgoing, Transfer


@dataclass(frozen=True)
class Outcome:
    """What an action decided: the trigger to fire, and how long to wait after it."""

    trigger: str
    delay: float = 0.0


class Wallet(Protocol):
    def get_balance(self) -> Balance: ...
    def get_address(self) -> str: ...
    def refresh(self) -> None: ...
    def transfer(self, destinations: Sequence[tuple[str, int]], *, priority: int,
                 do_not_relay: bool = False) -> Transfer: ...
    def relay_tx(self, tx_metadata: str) -> str: ...
    def get_transfer_by_txid(self, txid: str) -> dict: ...
    def get_transfers(self) -> list[Outgoing]: ...


class Daemon(Protocol):
    """A miner's monerod, asked where transactions are (see daemon.DaemonClient)."""

    def locate(self, tx_hashes: Sequence[str]) -> dict[str, Location]: ...
    def key_images_spent(self, key_images: Sequence[str]) -> list[KeyImage]: ...
    def height(self) -> int: ...


class Registry(Protocol):
    def read(self) -> tuple[Snapshot, bool]: ...
    def info_address(self, agent_id: str) -> Optional[str]: ...


class Ledger(Protocol):
    def read(self) -> list[dict]: ...
    def append(self, records: list[dict]) -> LedgerWrite: ...
    def update(self, changes: dict[str, dict]) -> LedgerWrite: ...


class StatusWriter(Protocol):
    def read(self, name: str) -> Optional[dict]: ...
    def write(self, name: str, document: dict) -> None: ...


class JournalStore(Protocol):
    def load(self) -> Loaded: ...
    def put(self, intent: Intent) -> None: ...
    def put_many(self, intents: list[Intent]) -> None: ...
    def adopt_funded(self, funded: dict[str, str]) -> None: ...
    def advance(self, intent: Intent, status: str, **changes: Any) -> Intent: ...


def no_checkpoint(_phase: str) -> None:
    """The default crash hook: nothing (tests make the process kill itself here)."""


@dataclass(frozen=True)
class Deps:
    config: Config
    agent_id: str
    registry: Registry
    wallets: Callable[[str, int], Wallet]
    daemons: Callable[[str, int], Daemon]
    ledger: Ledger
    journal: JournalStore
    status: StatusWriter
    clock: Clock
    rng: np.random.Generator
    log: Any
    checkpoint: Callable[[str], None] = no_checkpoint


@dataclass
class Context:
    """The machine's memory; `new_cycle()` clears the per-cycle part."""

    # -- across cycles --------------------------------------------------------
    last_success_at: Optional[float] = None
    snapshot: Optional[Snapshot] = None
    #: A registry change read outside Discovering, whose problems Discovering has yet to log.
    registry_unreported: bool = False
    cooldown_until: dict[str, float] = field(default_factory=dict)
    miner_failures: dict[str, int] = field(default_factory=dict)
    needs_refresh: set[str] = field(default_factory=set)
    rejected_addresses: dict[str, str] = field(default_factory=dict)
    address_cache: dict[str, str] = field(default_factory=dict)
    round_robin_last: Optional[str] = None
    #: Mirror of the journal (only this agent writes it): every intent by tx_hash.
    #: Change it only through `put_intent`/`load_intents`, which keep the indexes below right.
    intents: dict[str, Intent] = field(default_factory=dict)
    journal_loaded: bool = False
    #: When open intents (built, relayed) should be tried again, and when to verify each recorded one.
    recovery_due_at: float = 0.0
    verify_due_at: dict[str, float] = field(default_factory=dict)
    #: Daemon height at which each unconfirmed transaction was first found neither in the pool nor in a block.
    missing_since: dict[str, int] = field(default_factory=dict)
    #: Failed intents whose verdict could still be wrong (see verifying.WATCHED): when to look again.
    watch_due_at: dict[str, float] = field(default_factory=dict)
    relay_failures: dict[str, int] = field(default_factory=dict)
    #: The address each miner's wallet-rpc served when first asked (Building), by miner id.
    sender_addresses: dict[str, str] = field(default_factory=dict)
    #: (miner, address) pairs already reported as a changed wallet.
    changed_wallets: set[tuple[str, str]] = field(default_factory=set)
    #: Recipients counted as funded without an intent of ours (a rebuilt journal): recipient -> tx_hash.
    adopted_funded: dict[str, str] = field(default_factory=dict)
    # -- funding (Monerosim's distributor) --------------------------------------
    funding_done: bool = False
    funding_started_at: Optional[float] = None
    next_funding_at: float = 0.0
    lookup_failures: dict[str, int] = field(default_factory=dict)
    permanently_failed: set[str] = field(default_factory=set)
    funding_cycle_last: Optional[str] = None
    #: Keys of conditions already reported, for lines said once however long the condition lasts.
    told: set[str] = field(default_factory=set)
    cycles: int = 0
    sent: int = 0
    failed: int = 0
    recorded: int = 0
    # -- this cycle -----------------------------------------------------------
    #: distribution (one payment), initial_funding or funding_cycle (a batch).
    purpose: str = "distribution"
    amount: int = 0
    #: What the transaction pays: (recipient id, address, atomic amount) per output.
    destinations: list[tuple[str, str, int]] = field(default_factory=list)
    excluded_miners: set[str] = field(default_factory=set)
    excluded_recipients: set[str] = field(default_factory=set)
    balances: dict[str, Balance] = field(default_factory=dict)
    refreshed: set[str] = field(default_factory=set)
    miner: Optional[Miner] = None
    recipient: Optional[Agent] = None
    recipient_address: Optional[str] = None
    attempt: int = 0
    error: Optional[WalletError] = None
    built: Optional[Transfer] = None
    #: The intent the Journaling/Relaying/Recording states are working on.
    intent: Optional[Intent] = None
    # -- indexes over `intents` (kept by put_intent/load_intents) -------------
    #: The open intents (built, relayed), in the order of `intents`.
    _open: dict[str, Intent] = field(default_factory=dict, init=False, repr=False, compare=False)
    #: Bumped on every change of `intents`; keys `_paid`.
    _intents_version: int = field(default=0, init=False, repr=False, compare=False)
    _paid: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict, init=False, repr=False,
                                                         compare=False)

    def shift_deadlines(self, seconds: float) -> None:
        """The wall clock stepped by `seconds`: move every stored wall-clock time with it, so each
        wait keeps its length instead of growing by the step (or ending at once)."""
        if self.last_success_at is not None:
            self.last_success_at += seconds
        if self.funding_started_at is not None:
            self.funding_started_at += seconds
        if self.recovery_due_at:  # 0.0: due at once, whatever the clock says
            self.recovery_due_at += seconds
        if self.next_funding_at:
            self.next_funding_at += seconds
        self.cooldown_until = {k: t + seconds for k, t in self.cooldown_until.items()}
        self.verify_due_at = {k: t + seconds for k, t in self.verify_due_at.items()}
        self.watch_due_at = {k: t + seconds for k, t in self.watch_due_at.items()}

    def put_intent(self, intent: Intent) -> None:
        """Add or replace one intent (by tx_hash) and keep the open index in step.

        Cost O(1), except when a closed intent is opened again (no action does
        that today), which rebuilds the index to keep the order of `intents`.
        """
        tx_hash = intent.tx_hash
        known = tx_hash in self.intents
        self.intents[tx_hash] = intent
        self._intents_version += 1
        if intent.status not in OPEN:
            self._open.pop(tx_hash, None)
        elif not known or tx_hash in self._open:
            # New keys go last in both dicts; a known key keeps its place in both.
            self._open[tx_hash] = intent
        else:
            self._reindex()

    def load_intents(self, intents: dict[str, Intent], adopted_funded: Optional[dict[str, str]] = None) -> None:
        """Replace every intent (the journal as loaded by Recovering)."""
        self.intents = intents
        self.adopted_funded = dict(adopted_funded or {})
        self._intents_version += 1
        self._reindex()

    def _reindex(self) -> None:
        self._open = {h: i for h, i in self.intents.items() if i.status in OPEN}

    def open_intents(self) -> list[Intent]:
        """Intents that are built or relayed, in journal order (O(open intents), not O(all))."""
        return list(self._open.values())

    def busy_miners(self) -> set[str]:
        """Miners with an unrelayed build: a second build would pick the same inputs."""
        return {i.miner for i in self._open.values() if i.status == BUILT}

    def paid_recipients(self, purpose: str) -> dict[str, str]:
        """`journal.paid_recipients(self.intents, purpose)`, computed again only after `intents`
        changed.  The dict is shared between calls: do not mutate it."""
        hit = self._paid.get(purpose)
        if hit is not None and hit[0] == self._intents_version:
            return hit[1]
        paid = paid_recipients(self.intents, purpose)
        if purpose == "initial_funding" and self.adopted_funded:
            paid = {**self.adopted_funded, **paid}
        self._paid[purpose] = (self._intents_version, paid)
        return paid

    @property
    def batch(self) -> bool:
        return self.purpose != "distribution"

    def new_cycle(self, amount: int, purpose: str = "distribution") -> None:
        """`amount`: what the balance check asks for (a batch: one recipient's outputs)."""
        self.cycles += 1
        self.purpose = purpose
        self.amount = amount
        self.destinations = []
        self.excluded_miners = set()
        self.excluded_recipients = set()
        self.balances = {}
        self.refreshed = set()
        self.miner = None
        self.recipient = None
        self.recipient_address = None
        self.attempt = 0
        self.error = None
        self.built = None
        self.intent = None

    def set_miner(self, miner: Optional[Miner]) -> None:
        """A new sender starts a new attempt count (attempts are per miner and recipient)."""
        self.miner = miner
        self.attempt = 0
        self.error = None

    def set_recipient(self, recipient: Optional[Agent], address: Optional[str]) -> None:
        self.recipient = recipient
        self.recipient_address = address
        self.attempt = 0
        self.error = None

"""What the machine remembers across cycles: the journal's mirror, schedules, cool-downs, progress.

Everything here outlives a cycle; what one cycle carries travels with the
triggers instead (`cycle`).  Changed only by the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from fsm_distributor.core.intent import Intent, paid_recipients
from fsm_distributor.core.multisig import TreasuryState
from fsm_distributor.core.names import OPEN, Purpose, Status
from fsm_distributor.core.network import NetworkView
from fsm_distributor.core.registry import Snapshot
from fsm_distributor.core.schedule import NO_SCHEDULE, Schedule


@dataclass
class Memory:
    """What the machine keeps across cycles (what one cycle carries is in `cycle`)."""

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
    #: Failed intents whose verdict could still be wrong (names.WATCHED): when to look again.
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
    # -- multisig treasury (issue 13) -----------------------------------------
    treasury: TreasuryState = field(default_factory=TreasuryState)
    # -- network-aware distribution (issue 11) ---------------------------------
    #: Miner id -> its wallet's height when its daemon was last read (or tried): one read per new block.
    network_checked: dict[str, int] = field(default_factory=dict)
    #: Miner id -> what its daemon showed at that read (absent: never read, or no daemon answered).
    network_views: dict[str, NetworkView] = field(default_factory=dict)
    #: Miner id -> (block index, timestamp) of the first block header seen: the observed block interval.
    first_block: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: When this run first read the network: the start of the sustainable spending budget.
    network_since: Optional[float] = None
    cycles: int = 0
    sent: int = 0
    failed: int = 0
    recorded: int = 0
    # -- scheduled payments (issue 12) ------------------------------------------
    #: The last good schedule: an invalid edit of the file leaves this one in force.
    schedule: Schedule = NO_SCHEDULE
    #: The schedule's clock: the agent's first start, kept in the journal; None until the journal is loaded.
    schedule_anchor: Optional[float] = None
    #: When this process took its first step: occurrences before it were missed (schedule_missed).
    started_at: Optional[float] = None
    #: An occurrence whose cycle ended without a journaled build is not tried again before this time.
    schedule_retry_at: dict[tuple[str, int], float] = field(default_factory=dict)
    #: The last problem reading the schedule, said once until it changes ("" when the read is fine).
    schedule_problem: str = ""
    # -- indexes over `intents` (kept by put_intent/load_intents) -------------
    #: The open intents (built, relayed), in the order of `intents`.
    _open: dict[str, Intent] = field(default_factory=dict, init=False, repr=False, compare=False)
    #: Bumped on every change of `intents`; keys `_paid`.
    _intents_version: int = field(default=0, init=False, repr=False, compare=False)
    _paid: dict[Purpose, tuple[int, dict[str, str]]] = field(default_factory=dict, init=False, repr=False,
                                                         compare=False)
    _scheduled: Optional[tuple[int, "ScheduledIndex"]] = field(default=None, init=False, repr=False, compare=False)

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
        if self.treasury.setup_due_at:
            self.treasury.setup_due_at += seconds
        if self.treasury.tend_due_at:
            self.treasury.tend_due_at += seconds
        if self.schedule_anchor is not None:  # relative occurrences keep their distance; absolute ones stay
            self.schedule_anchor += seconds
        if self.started_at is not None:
            self.started_at += seconds
        self.schedule_retry_at = {k: t + seconds for k, t in self.schedule_retry_at.items()}
        if self.network_since is not None:
            self.network_since += seconds
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

    def unconfirmed(self) -> list[Intent]:
        """Recorded intents still waiting for their block (those Verifying follows)."""
        return [i for h in self.verify_due_at if (i := self.intents.get(h)) is not None and i.status is Status.RECORDED]

    def busy_miners(self) -> set[str]:
        """Miners with an unrelayed build: a second build would pick the same inputs."""
        return {i.miner for i in self._open.values() if i.status is Status.BUILT}

    def unconfirmed_count(self) -> int:
        """This agent's transactions not confirmed yet: the open ones and the recorded ones under
        verification (issue 11: max_unconfirmed)."""
        recorded = sum(1 for h in self.verify_due_at
                       if (i := self.intents.get(h)) is not None and i.status is Status.RECORDED)
        return len(self._open) + recorded

    def paid_recipients(self, purpose: Purpose) -> dict[str, str]:
        """`journal.paid_recipients(self.intents, purpose)`, computed again only after `intents`
        changed.  The dict is shared between calls: do not mutate it."""
        purpose = Purpose(purpose)
        hit = self._paid.get(purpose)
        if hit is not None and hit[0] == self._intents_version:
            return hit[1]
        paid = paid_recipients(self.intents, purpose)
        if purpose is Purpose.INITIAL_FUNDING and self.adopted_funded:
            paid = {**self.adopted_funded, **paid}
        self._paid[purpose] = (self._intents_version, paid)
        return paid

    # -- scheduled payments (issue 12) ------------------------------------------

    def scheduled_index(self) -> "ScheduledIndex":
        """The occurrences taken (an intent of theirs is not failed) and each entry's last recipient,
        worked out again only after `intents` changed."""
        hit = self._scheduled
        if hit is not None and hit[0] == self._intents_version:
            return hit[1]
        index = ScheduledIndex.of(self.intents.values())
        self._scheduled = (self._intents_version, index)
        return index


@dataclass(frozen=True)
class ScheduledIndex:
    """What the journal says of the schedule: an occurrence is taken while an intent of its key is built,
    relayed, recorded or confirmed; a failed one is due again (its recipients were not paid)."""

    #: entry id -> the numbers of its taken occurrences.
    taken: dict[str, frozenset[int]]
    #: entry id -> the recipient of its highest-numbered occurrence (round_robin goes on after it).
    last_recipient: dict[str, str]

    @classmethod
    def of(cls, intents: Iterable[Intent]) -> "ScheduledIndex":
        taken: dict[str, set[int]] = {}
        last: dict[str, tuple[int, str]] = {}
        for intent in intents:
            if not intent.schedule_id:
                continue
            if intent.status is not Status.FAILED:
                taken.setdefault(intent.schedule_id, set()).add(intent.occurrence)
            best = last.get(intent.schedule_id)
            if intent.recipients and (best is None or intent.occurrence >= best[0]):
                last[intent.schedule_id] = (intent.occurrence, intent.recipients[0])
        return cls({k: frozenset(v) for k, v in taken.items()}, {k: r for k, (_, r) in last.items()})

"""The multisig treasury (issue 13): its set-up, its txsets, and what the machine keeps of it (no I/O).

A treasury is an M-of-N multisig wallet held by N dedicated signer agents, one wallet-rpc each
(docs/wallet-facts.md, "Multisig").  Its set-up is a sequence of rounds: a wallet is created in
each signer, `prepare_multisig` (round 0), `make_multisig` with the others' round-0 messages
(round 1), then `exchange_multisig_keys` with the others' previous messages until every signer
answers the same real address (N - M + 1 exchanges on 0.18: two for 2-of-3).  Each signer's answer
is journaled as soon as it comes (a `Setup` line), because no round can be asked again: a signer
whose answer was lost can never rejoin that set-up, which is then discarded and made again under
a new wallet name (the next `generation`).  A ready treasury is only ever reopened.

A spend is a `Txset`: built by one signer (whose signature it carries), signed by others until it
has M signatures, journaled before every call that follows.  A complete set becomes an `Intent`
(status built, the signed set in the role of the metadata) and from there goes through the intent
lifecycle like any other transaction: submit_multisig of the same signed set answers the same hash,
so recovery may submit it again.  A txset has no transaction hash before it is complete (the hash
covers the signatures), which is why its partial stages are lines of their own and not intents.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Container, Iterable, Optional, Sequence

from fsm_distributor.core.config import Config
from fsm_distributor.core.cycle import Payer, Payment
from fsm_distributor.core.intent import Destination, Intent
from fsm_distributor.core.names import OPEN, Name, Purpose, Status

#: The treasury wallets' password, the same in every signer (a simulation's money; see the README).
PASSWORD = ""
#: Set-ups given up in a row before the agent stops trying (each costs N wallet creations).
MAX_DISCARDS = 5


def treasury_id(agent_id: str) -> str:
    """The treasury's id: the `sender_id` of what it pays."""
    return f"{agent_id}-multisig"


def wallet_name(agent_id: str, generation: int) -> str:
    """The wallet file of one set-up, the same name in every signer's wallet directory."""
    return f"{agent_id}-multisig-{generation}"


def info_file(agent_id: str) -> str:
    """The shared-dir file that publishes a ready treasury (like `{id}_user_info.json`)."""
    return f"{agent_id}_multisig_info.json"


def label(threshold: int, total: int) -> str:
    return f"{threshold}-of-{total}"


def exchange_rounds(total: int, threshold: int) -> int:
    """exchange_multisig_keys rounds after make_multisig: N - M + 1 (seen on 0.18: 2-of-3 two,
    2-of-2 one); the last answers the address."""
    return total - threshold + 1


# ---------------------------------------------------------------- set-up


class Step(Name):
    """What a set-up needs next."""

    CREATE = "create"        # a wallet in every signer's wallet-rpc
    PREPARE = "prepare"      # round 0: prepare_multisig on every signer
    MAKE = "make"            # round 1: make_multisig
    EXCHANGE = "exchange"    # rounds 2..: exchange_multisig_keys
    CHECK = "check"          # every signer multisig, ready, M-of-N, same address
    READY = "ready"
    DISCARDED = "discarded"


@dataclass(frozen=True)
class Setup:
    """One attempt (`generation`) at making the treasury, and how far it got."""

    generation: int
    wallet: str
    signers: tuple[str, ...]
    threshold: int
    #: Signers whose wallet-rpc holds the wallet (created, or found there).
    created: tuple[str, ...] = ()
    #: Per round, each signer's answer: (its message, the address it answered).
    rounds: tuple[dict[str, tuple[str, str]], ...] = ()
    #: The treasury's address, once every signer reported it (checked): the set-up is ready.
    address: str = ""
    #: Why this set-up was given up ("" while it is not).
    discarded: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def key(self) -> str:
        return f"setup:{self.wallet}"

    @property
    def total(self) -> int:
        return len(self.signers)

    @property
    def label(self) -> str:
        return label(self.threshold, self.total)

    @property
    def ready(self) -> bool:
        return bool(self.address) and not self.discarded

    @property
    def exchanges(self) -> int:
        """exchange_multisig_keys rounds begun so far."""
        return max(0, len(self.rounds) - 2)

    def waiting(self, round_: int) -> tuple[str, ...]:
        """Signers without an answer in `round_`, in signer order."""
        answers = self.rounds[round_] if round_ < len(self.rounds) else {}
        return tuple(s for s in self.signers if s not in answers)

    def others(self, round_: int, signer: str) -> list[str]:
        """The messages of `round_` from every signer but `signer`, in signer order."""
        return [self.rounds[round_][s][0] for s in self.signers if s != signer]

    @property
    def step(self) -> Step:
        if self.discarded:
            return Step.DISCARDED
        if self.address:
            return Step.READY
        if set(self.signers) - set(self.created):
            return Step.CREATE
        if not self.rounds or self.waiting(0):
            return Step.PREPARE
        if len(self.rounds) < 2 or self.waiting(1):
            return Step.MAKE
        last = len(self.rounds) - 1
        if last >= 2 and not self.waiting(last) and all(self.rounds[last][s][1] for s in self.signers):
            return Step.CHECK
        return Step.EXCHANGE

    @property
    def exchange_round(self) -> int:
        """The round index the next exchange call belongs to: the last one if unfinished, else a new one."""
        last = len(self.rounds) - 1
        return last if last >= 2 and self.waiting(last) else last + 1

    def with_created(self, signer: str, now: float) -> "Setup":
        created = self.created if signer in self.created else self.created + (signer,)
        return replace(self, created=created, updated_at=now)

    def answered(self, round_: int, signer: str, info: str, address: str, now: float) -> "Setup":
        """`signer`'s answer in `round_` (a new round if it is the next one)."""
        rounds = list(self.rounds)
        if round_ == len(rounds):
            rounds.append({})
        rounds[round_] = {**rounds[round_], signer: (info, address)}
        return replace(self, rounds=tuple(rounds), updated_at=now)

    def checked(self, address: str, now: float) -> "Setup":
        return replace(self, address=address, updated_at=now)

    def discard(self, why: str, now: float) -> "Setup":
        return replace(self, discarded=why, updated_at=now)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "setup", "generation": self.generation, "wallet": self.wallet,
                "signers": list(self.signers), "threshold": self.threshold, "created": list(self.created),
                "rounds": [{s: list(answer) for s, answer in r.items()} for r in self.rounds],
                "address": self.address, "discarded": self.discarded, "created_at": self.created_at,
                "updated_at": self.updated_at}

    @classmethod
    def from_json(cls, data: Any) -> "Setup":
        """Checked parse: a malformed line raises ValueError naming it."""
        try:
            rounds = tuple({str(s): (str(a[0]), str(a[1])) for s, a in r.items()} for r in data["rounds"])
            return cls(generation=int(data["generation"]), wallet=str(data["wallet"]),
                       signers=tuple(str(s) for s in data["signers"]), threshold=int(data["threshold"]),
                       created=tuple(str(s) for s in data.get("created", ())), rounds=rounds,
                       address=str(data.get("address", "")), discarded=str(data.get("discarded", "")),
                       created_at=float(data.get("created_at", 0.0)), updated_at=float(data.get("updated_at", 0.0)))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(f"malformed multisig set-up line {str(data)[:120]}: {exc!r}") from None


def new_setup(config: Config, agent_id: str, generation: int, now: float) -> Setup:
    return Setup(generation, wallet_name(agent_id, generation), config.multisig_signers, config.multisig_threshold,
                 created_at=now, updated_at=now)


def info_document(setup: Setup, agent_id: str, now: float) -> dict[str, Any]:
    """`{id}_multisig_info.json`: the ready treasury, for people and for a lost journal."""
    return {"agent_id": treasury_id(agent_id), "distributor_id": agent_id, "agent_type": "multisig_treasury",
            "wallet_address": setup.address, "multisig": setup.label, "threshold": setup.threshold,
            "total": setup.total, "signers": list(setup.signers), "wallet": setup.wallet,
            "generation": setup.generation, "timestamp": now}


def setup_from_info(document: Any, config: Config, agent_id: str, now: float) -> Optional[Setup]:
    """The ready set-up an info file names, if it is this distributor's and matches the configuration."""
    if not isinstance(document, dict) or document.get("distributor_id") != agent_id:
        return None
    try:
        setup = Setup(int(document["generation"]), str(document["wallet"]),
                      tuple(str(s) for s in document["signers"]), int(document["threshold"]),
                      address=str(document["wallet_address"]), created_at=now, updated_at=now)
    except (KeyError, TypeError, ValueError):
        return None
    if (setup.signers, setup.threshold) != (config.multisig_signers, config.multisig_threshold) or not setup.address:
        return None
    return replace(setup, created=setup.signers)


# ---------------------------------------------------------------- spends


class TxsetStatus(Name):
    """How far a txset got before it became an intent; see TXSET_LIFECYCLE."""

    PARTIAL = "partial"      # fewer than M signatures: nobody can broadcast it
    SIGNED = "signed"        # M signatures: its intent (same tx_hash) carries it on
    ABANDONED = "abandoned"  # no signer could finish it; it never left the signers: nothing was paid


#: Which status may follow which.  A complete set is an intent from then on (names.LIFECYCLE).
TXSET_LIFECYCLE: dict[TxsetStatus, frozenset[TxsetStatus]] = {
    TxsetStatus.PARTIAL: frozenset({TxsetStatus.PARTIAL, TxsetStatus.SIGNED, TxsetStatus.ABANDONED}),
    TxsetStatus.SIGNED: frozenset(),
    TxsetStatus.ABANDONED: frozenset(),
}


@dataclass(frozen=True)
class Txset:
    """One spend of the treasury while it gathers signatures."""

    id: str
    wallet: str
    threshold: int
    total: int
    #: The signers this spend was planned with (the export/import round), the builder first.
    participants: tuple[str, ...]
    #: Who signed it so far, the builder first.
    signed_by: tuple[str, ...]
    #: The set as last signed.
    txset: str
    destinations: tuple[Destination, ...]
    fee: int
    purpose: Purpose
    priority: int
    key_images: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    status: TxsetStatus = TxsetStatus.PARTIAL
    #: Known once complete (sign_multisig answers it with the last signature).
    tx_hash: str = ""
    note: str = ""
    #: A scheduled occurrence's key and time lock (issue 12), carried into the set's intent (which makes
    #: the occurrence taken); while the set is open the treasury is busy, so nothing starts it again.
    #: "" / 0 for any other spend.
    schedule_id: str = ""
    occurrence: int = 0
    unlock_time: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TxsetStatus(self.status))
        object.__setattr__(self, "purpose", Purpose(self.purpose))
        object.__setattr__(self, "destinations", tuple(Destination(*d) for d in self.destinations))

    @property
    def key(self) -> str:
        return f"txset:{self.id}"

    @property
    def label(self) -> str:
        return label(self.threshold, self.total)

    @property
    def complete(self) -> bool:
        return len(self.signed_by) >= self.threshold and bool(self.tx_hash)

    def signed(self, signer: str, txset: str, tx_hash: str, now: float) -> "Txset":
        return replace(self, signed_by=self.signed_by + (signer,), txset=txset, tx_hash=tx_hash, updated_at=now)

    def moved(self, status: TxsetStatus, now: float, note: str = "") -> "Txset":
        """Raises ValueError for a move TXSET_LIFECYCLE does not allow."""
        if status not in TXSET_LIFECYCLE[self.status]:
            raise ValueError(f"txset {self.id}: {self.status} -> {status} is not a legal move")
        return replace(self, status=status, updated_at=now, note=note or self.note)

    def to_json(self) -> dict[str, Any]:
        data = {"kind": "txset", "id": self.id, "wallet": self.wallet, "threshold": self.threshold,
                "total": self.total, "participants": list(self.participants), "signed_by": list(self.signed_by),
                "txset": "" if self.status is TxsetStatus.ABANDONED else self.txset,
                "destinations": [list(d) for d in self.destinations], "fee": self.fee,
                "purpose": self.purpose.value, "priority": self.priority, "key_images": list(self.key_images),
                "created_at": self.created_at, "updated_at": self.updated_at, "status": self.status.value,
                "tx_hash": self.tx_hash, "note": self.note}
        if self.schedule_id:  # lines of other spends stay as they were
            data.update(schedule_id=self.schedule_id, occurrence=self.occurrence)
        if self.unlock_time:
            data["unlock_time"] = self.unlock_time
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Txset":
        try:
            return cls(id=str(data["id"]), wallet=str(data["wallet"]), threshold=int(data["threshold"]),
                       total=int(data["total"]), participants=tuple(str(s) for s in data["participants"]),
                       signed_by=tuple(str(s) for s in data["signed_by"]), txset=str(data["txset"]),
                       destinations=tuple(Destination(str(r), str(a), int(n)) for r, a, n in data["destinations"]),
                       fee=int(data["fee"]), purpose=Purpose(data["purpose"]), priority=int(data["priority"]),
                       key_images=tuple(str(k) for k in data.get("key_images", ())),
                       created_at=float(data.get("created_at", 0.0)), updated_at=float(data.get("updated_at", 0.0)),
                       status=TxsetStatus(data.get("status", "partial")), tx_hash=str(data.get("tx_hash", "")),
                       note=str(data.get("note", "")), schedule_id=str(data.get("schedule_id", "")),
                       occurrence=int(data.get("occurrence", 0)), unlock_time=int(data.get("unlock_time", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed multisig txset line {str(data)[:120]}: {exc!r}") from None


def kept_when_compacted(body: dict[str, Any], intents: Container[str]) -> bool:
    """Whether a multisig journal line still matters: set-ups always (they are few), txsets until they
    are abandoned or their intent (same tx_hash) is journaled."""
    if body.get("kind") != "txset":
        return True
    return body.get("status") == TxsetStatus.PARTIAL.value or (
        body.get("status") == TxsetStatus.SIGNED.value and body.get("tx_hash") not in intents)


def txset_id(txset: str) -> str:
    """A spend's id: from the set its builder answered (unique: it names the inputs and a random key)."""
    return hashlib.sha256(txset.encode("ascii", "replace")).hexdigest()[:16]


def spend_intent(txset: Txset, agent_id: str, endpoint: tuple[str, int], address: str, now: float) -> Intent:
    """The intent of a complete set: status built, the signed set as its metadata."""
    return Intent(tx_hash=txset.tx_hash, miner=treasury_id(agent_id), miner_endpoint=endpoint,
                  destinations=txset.destinations, fee=txset.fee, status=Status.BUILT, tx_metadata=txset.txset,
                  attempts=1, priority=txset.priority, created_at=txset.created_at, updated_at=now,
                  purpose=txset.purpose, key_images=txset.key_images, sender_address=address,
                  multisig=txset.label, signers=txset.signed_by, schedule_id=txset.schedule_id,
                  occurrence=txset.occurrence, unlock_time=txset.unlock_time,
                  strategy="schedule" if txset.schedule_id else "")


def pays_what_was_asked(described: Sequence[tuple[str, int]], destinations: Sequence[Destination]) -> bool:
    """The set pays exactly the destinations (as a multiset of address and amount), nothing else."""
    return Counter(described) == Counter((d.address, d.amount) for d in destinations)


def funding_destinations(config: Config, agent_id: str, address: str) -> tuple[Destination, ...]:
    """A treasury funding batch: `multisig_funding_amount` in `multisig_funding_outputs` outputs
    (several outputs: a spend's change is locked for 10 blocks, the other outputs are not)."""
    n, total = config.multisig_funding_outputs, config.multisig_funding_amount
    per = total // n
    return tuple(Destination(treasury_id(agent_id), address, per + (total - per * n if i == n - 1 else 0))
                 for i in range(n))


# ---------------------------------------------------------------- one cycle's data


@dataclass(frozen=True)
class TreasuryPayer(Payer):
    """The treasury as the payer of a cycle (its `miner` stands for the treasury: id, address and
    the first signer's endpoint), with the set-up it pays from."""

    setup: Setup = field(kw_only=True)  # keyword-only: Payer's own fields end with a default (conditions)


@dataclass(frozen=True)
class SpendPlan:
    """A treasury payment after the export/import round: who takes part, the builder first."""

    payment: Payment
    setup: Setup
    participants: tuple[str, ...]


# ---------------------------------------------------------------- across cycles


@dataclass
class TreasuryState:
    """What the machine keeps of the treasury across cycles (the journal's multisig lines, mirrored)."""

    #: Every set-up journaled, by wallet name, oldest first.
    setups: dict[str, Setup] = field(default_factory=dict)
    #: Every txset journaled, by id (partial ones are open).
    txsets: dict[str, Txset] = field(default_factory=dict)
    #: Signer id -> the wallet this process opened (or created) in its wallet-rpc.
    opened: dict[str, str] = field(default_factory=dict)
    setup_due_at: float = 0.0
    tend_due_at: float = 0.0
    #: The treasury's balance when last asked (TendingTreasury, CheckingTreasuryBalance).
    unlocked: int = 0
    total: int = 0
    #: Set-ups discarded by this process in a row (back-off, and MAX_DISCARDS).
    discards: int = 0

    def load(self, lines: dict[str, dict[str, Any]]) -> list[str]:
        """The journal's multisig lines; one problem per line that cannot be read."""
        problems = []
        for key, body in lines.items():
            try:
                if body.get("kind") == "setup":
                    setup = Setup.from_json(body)
                    self.setups[setup.wallet] = setup
                elif body.get("kind") == "txset":
                    txset = Txset.from_json(body)
                    self.txsets[txset.id] = txset
                else:
                    problems.append(f"multisig journal line {key}: unknown kind {body.get('kind')!r}")
            except ValueError as exc:
                problems.append(str(exc)[:300])
        return problems

    def current(self) -> Optional[Setup]:
        """The newest set-up not given up."""
        live = [s for s in self.setups.values() if not s.discarded]
        return max(live, key=lambda s: s.generation) if live else None

    def ready(self) -> Optional[Setup]:
        setup = self.current()
        return setup if setup is not None and setup.ready else None

    def by_address(self, address: str) -> Optional[Setup]:
        return next((s for s in self.setups.values() if s.address == address and s.address), None)

    def next_generation(self) -> int:
        return max((s.generation for s in self.setups.values()), default=0) + 1

    def open_txsets(self) -> list[Txset]:
        """Sets still gathering signatures, oldest first."""
        return [t for t in self.txsets.values() if t.status is TxsetStatus.PARTIAL]


def busy(agent_id: str, open_intents: Iterable[Intent], unconfirmed: Iterable[Intent],
         state: TreasuryState) -> bool:
    """Whether the treasury must not start a spend: a set gathering signatures, or a spend of it not
    yet in a block.  One spend at a time: each needs an export/import round of its own (a signer that
    built or signed in a round cannot take part in another set of it), and a round is only known to
    work once the previous spend is mined (docs/wallet-facts.md)."""
    if state.open_txsets():
        return True
    me = treasury_id(agent_id)
    return any(i.miner == me for i in open_intents) or any(i.miner == me for i in unconfirmed)


def refill_pending(open_intents: Iterable[Intent], unconfirmed: Iterable[Intent]) -> bool:
    """A treasury funding batch is built, relayed or recorded but not yet confirmed."""
    return any(i.purpose is Purpose.TREASURY_FUNDING and i.status in OPEN | {Status.RECORDED}
               for i in list(open_intents) + list(unconfirmed))


def needs_refill(config: Config, total: int) -> bool:
    """Below `multisig_refill_below`, counting what is locked: change and incoming funds unlock within
    10 blocks, so only a balance that stays below the mark once they do needs a refill (a refill
    counted on its unlocked part alone would be sent again every check until it unlocks)."""
    return total < config.multisig_refill_below


def pays(config: Config, purpose: Purpose) -> bool:
    """Whether the treasury pays for `purpose` under `multisig_mode` (batches: only once funded; a
    scheduled entry that names its miner is paid by that miner, whatever the mode: Idle decides)."""
    if config.multisig_mode == "off" or purpose is Purpose.TREASURY_FUNDING:
        return False
    return purpose in (Purpose.DISTRIBUTION, Purpose.SCHEDULED) or config.multisig_mode == "all"

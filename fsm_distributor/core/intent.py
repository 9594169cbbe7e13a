"""An intent: one transaction this distributor builds, and how far it got.

Monero's `transfer` is not idempotent, so a payment is split into phases and
each phase's outcome is journaled before the next phase starts (see
`names.LIFECYCLE` for which status may follow which):

    built --relay--> relayed --record--> recorded --verify--> confirmed
      \\                                                  \\--> failed
       \\--(inputs spent / tx invalid)--> failed

An intent is *open* while it is `built` or `relayed`: recovery finishes it
by relaying its stored metadata (idempotent: same tx_hash, one pool entry)
or by recording it (deduplicated by tx_hash).  `transfer` is never called
for an intent that has a tx_hash.  The metadata is dropped once relayed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple, Optional

from fsm_distributor.core.names import PAID, Purpose, Status, Verdict, check_move


class Destination(NamedTuple):
    """One output of a transaction: whom it pays, at which address, how many atomic units."""

    recipient: str
    address: str
    amount: int


@dataclass(frozen=True)
class Intent:
    """One transaction: who pays whom how much, and how far it got."""

    tx_hash: str
    miner: str
    miner_endpoint: tuple[str, int]
    destinations: tuple[Destination, ...]
    fee: int
    status: Status = Status.BUILT
    tx_metadata: str = ""
    attempts: int = 1
    priority: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    height: int = 0
    confirmations: int = 0
    note: str = ""
    purpose: Purpose = Purpose.DISTRIBUTION
    #: Key images of the inputs: if another transaction spends one, this one can never confirm.
    key_images: tuple[str, ...] = ()
    #: The sending wallet's address when it was built (a different wallet later means: ask the daemon).
    sender_address: str = ""
    #: When it was relayed: the `timestamp` of its records (kept so that records can be written again).
    relayed_at: float = 0.0
    #: Why a failed intent failed; None otherwise.
    verdict: Optional[Verdict] = None
    # -- multisig treasury (issue 13): a spend of the treasury (`miner` is the treasury's id) ----------
    #: "M-of-N" for a spend of the multisig treasury ("" for a miner's transaction); its `tx_metadata`
    #: is then the fully signed multisig txset, which `submit_multisig` broadcasts (idempotently).
    multisig: str = ""
    #: The signers whose signatures the spend carries, the builder first.
    signers: tuple[str, ...] = ()
    # -- scheduled payments (issue 12): the occurrence it pays, and its time lock ------------------
    #: The schedule entry's id and the occurrence's number (from 1); "" and 0 for any other payment.
    schedule_id: str = ""
    occurrence: int = 0
    #: Monero's unlock_time (a block height) the transfer was built with; 0: none.
    unlock_time: int = 0
    # -- the inputs of the decision that made it (issue 11); empty in journals written before
    #: The amount strategy (uniform | topup | sustainable) and the fee strategy (fixed | pool_aware).
    strategy: str = ""
    fee_strategy: str = ""
    #: The pool's size (kB) the miner's daemon showed when it was decided; None: not read.
    pool_kb: Optional[float] = None

    def __post_init__(self) -> None:
        # Callers may give the plain values (strings, triples) the journal holds: keep one shape.
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "purpose", Purpose(self.purpose))
        object.__setattr__(self, "verdict", Verdict(self.verdict) if self.verdict else None)
        object.__setattr__(self, "destinations", tuple(Destination(*d) for d in self.destinations))

    @property
    def amount(self) -> int:
        return sum(d.amount for d in self.destinations)

    @property
    def recipients(self) -> list[str]:
        """Recipient ids in output order, each once (a recipient may get several outputs)."""
        return list(dict.fromkeys(d.recipient for d in self.destinations))

    def moved(self, status: Status, **changes: Any) -> "Intent":
        """This intent at `status` (its metadata dropped once relayed: only a built one may be sent
        again).  Raises `names.IllegalMove` for a move its lifecycle refuses."""
        check_move(self.tx_hash, self.status, status)
        if status is not Status.BUILT:
            changes.setdefault("tx_metadata", "")
        return replace(self, status=status, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["miner_endpoint"] = list(self.miner_endpoint)
        data["destinations"] = [list(d) for d in self.destinations]
        data["key_images"] = list(self.key_images)
        data["verdict"] = self.verdict.value if self.verdict else ""
        if self.multisig:
            data["signers"] = list(self.signers)
        else:  # a miner's intent is written as before the treasury existed
            del data["multisig"], data["signers"]
        if not self.schedule_id:  # lines of other payments stay as they were
            del data["schedule_id"], data["occurrence"]
        if not self.unlock_time:
            del data["unlock_time"]
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Intent":
        """Checked parse: a malformed journal entry raises ValueError naming the field."""
        try:
            host, port = data["miner_endpoint"]
            destinations = tuple(Destination(str(r), str(a), int(n)) for r, a, n in data["destinations"])
            status, purpose = Status(data["status"]), Purpose(data.get("purpose", "distribution"))
            verdict = Verdict(data["verdict"]) if data.get("verdict") else None
            return cls(
                tx_hash=str(data["tx_hash"]), miner=str(data["miner"]), miner_endpoint=(str(host), int(port)),
                destinations=destinations, fee=int(data["fee"]), status=status,
                tx_metadata=str(data.get("tx_metadata", "")), attempts=int(data.get("attempts", 1)),
                priority=int(data.get("priority", 0)), created_at=float(data.get("created_at", 0.0)),
                updated_at=float(data.get("updated_at", 0.0)), height=int(data.get("height", 0)),
                confirmations=int(data.get("confirmations", 0)), note=str(data.get("note", "")),
                purpose=purpose, key_images=tuple(str(k) for k in data.get("key_images", ())),
                sender_address=str(data.get("sender_address", "")),
                relayed_at=float(data.get("relayed_at", 0.0)), verdict=verdict,
                multisig=str(data.get("multisig", "")), signers=tuple(str(s) for s in data.get("signers", ())),
                schedule_id=str(data.get("schedule_id", "")), occurrence=int(data.get("occurrence", 0)),
                unlock_time=int(data.get("unlock_time", 0)),
                strategy=str(data.get("strategy", "")), fee_strategy=str(data.get("fee_strategy", "")),
                pool_kb=None if data.get("pool_kb") is None else float(data["pool_kb"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed journal entry {str(data)[:120]}: {exc!r}") from None


@dataclass(frozen=True)
class Loaded:
    """What a journal load found: the intents, and how far the file can be trusted."""

    intents: dict[str, Intent]
    #: Recipients counted as funded without an intent of ours (adopted when the journal was rebuilt).
    adopted_funded: dict[str, str] = field(default_factory=dict)
    #: One line per entry that could not be read (the entry stays on disk).
    problems: tuple[str, ...] = ()
    #: False when there was no journal file at all.
    found: bool = True
    #: The name an unreadable or wrongly shaped journal was moved to (it is never overwritten).
    set_aside: Optional[str] = None
    #: The journal's last write was cut short (a crash while writing it): that line was dropped.
    torn_tail: bool = False
    #: multisig treasury (issue 13): the set-up and txset lines, the last of each key, as written
    #: (parsed by `core.multisig`).
    multisig: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The schedule's clock (the agent's first start), if the journal holds it (issue 12).
    schedule_anchor: Optional[float] = None

    @property
    def damaged(self) -> bool:
        return self.set_aside is not None or bool(self.problems)


def paid_recipients(intents: dict[str, Intent], purpose: Purpose) -> dict[str, str]:
    """recipient id -> tx_hash of the intent of `purpose` that paid it (the journal is the truth)."""
    return {r: i.tx_hash for i in intents.values() if i.purpose == purpose and i.status in PAID
            for r in i.recipients}

"""The durable intent journal that makes each distribution happen exactly once.

Monero's `transfer` is not idempotent, so a payment is split into phases
and each phase's outcome is written here (temp file, fsync, rename, under
Monerosim's lock) before the next phase starts:

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
from typing import Any

from fsm_distributor.shared_state import SharedDir

BUILT, RELAYED, RECORDED, CONFIRMED, FAILED = "built", "relayed", "recorded", "confirmed", "failed"
OPEN = frozenset({BUILT, RELAYED})
UNVERIFIED = frozenset({RECORDED})
STATUSES = (BUILT, RELAYED, RECORDED, CONFIRMED, FAILED)


@dataclass(frozen=True)
class Intent:
    """One payment: who pays whom how much, and how far it got."""

    tx_hash: str
    miner: str
    miner_endpoint: tuple[str, int]
    destinations: tuple[tuple[str, str, int], ...]  # (recipient id, address, atomic amount)
    fee: int
    status: str = BUILT
    tx_metadata: str = ""
    attempts: int = 1
    priority: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    height: int = 0
    confirmations: int = 0
    note: str = ""
    #: distribution (the seed's single payments), initial_funding or funding_cycle (batches).
    purpose: str = "distribution"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def amount(self) -> int:
        return sum(a for _, _, a in self.destinations)

    @property
    def recipients(self) -> list[str]:
        """Recipient ids in output order, each once (a recipient may get several outputs)."""
        return list(dict.fromkeys(r for r, _, _ in self.destinations))

    def to_json(self) -> dict:
        data = asdict(self)
        data["miner_endpoint"] = list(self.miner_endpoint)
        data["destinations"] = [list(d) for d in self.destinations]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Intent":
        """Checked parse: a malformed journal entry raises ValueError naming the field."""
        try:
            host, port = data["miner_endpoint"]
            destinations = tuple((str(r), str(a), int(n)) for r, a, n in data["destinations"])
            intent = cls(
                tx_hash=str(data["tx_hash"]), miner=str(data["miner"]), miner_endpoint=(str(host), int(port)),
                destinations=destinations, fee=int(data["fee"]), status=str(data["status"]),
                tx_metadata=str(data.get("tx_metadata", "")), attempts=int(data.get("attempts", 1)),
                priority=int(data.get("priority", 0)), created_at=float(data.get("created_at", 0.0)),
                updated_at=float(data.get("updated_at", 0.0)), height=int(data.get("height", 0)),
                confirmations=int(data.get("confirmations", 0)), note=str(data.get("note", "")),
                purpose=str(data.get("purpose", "distribution")), extra=dict(data.get("extra", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed journal entry {str(data)[:120]}: {exc!r}") from None
        if intent.status not in STATUSES:
            raise ValueError(f"journal entry {intent.tx_hash} has unknown status {intent.status!r}")
        return intent


class Journal:
    """`{agent_id}_distributor_journal.json`: every intent by tx_hash, in creation order."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self._shared = shared
        self.name = f"{agent_id}_distributor_journal.json"

    def load(self) -> tuple[dict[str, Intent], list[str]]:
        """All intents, plus a problem line per entry that could not be read (kept on disk)."""
        data = self._shared.read_json(self.name, default={"intents": []})
        entries = data.get("intents", []) if isinstance(data, dict) else []
        intents: dict[str, Intent] = {}
        problems: list[str] = []
        for entry in entries:
            try:
                intent = Intent.from_json(entry)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            intents[intent.tx_hash] = intent
        return intents, problems

    def put(self, intent: Intent) -> None:
        """Write `intent` (new or changed) durably; the rest of the journal is kept as is."""
        record = intent.to_json()

        def change(current: Any) -> dict:
            entries = current.get("intents", []) if isinstance(current, dict) else []
            out = [e for e in entries if not (isinstance(e, dict) and e.get("tx_hash") == intent.tx_hash)]
            out.append(record)
            return {"intents": out}

        self._shared.update_json(self.name, change, default={"intents": []}, expected_type=dict)

    def advance(self, intent: Intent, status: str, **changes: Any) -> Intent:
        """Move `intent` to `status` (dropping metadata once relayed) and persist it."""
        if status != BUILT:
            changes.setdefault("tx_metadata", "")
        updated = replace(intent, status=status, **changes)
        self.put(updated)
        return updated


#: Statuses in which an intent's recipients count as paid (failed ones become eligible again).
PAID = frozenset({RELAYED, RECORDED, CONFIRMED})


def paid_recipients(intents: dict[str, Intent], purpose: str) -> dict[str, str]:
    """recipient id -> tx_hash of the intent of `purpose` that paid it (the journal is the truth)."""
    return {r: i.tx_hash for i in intents.values() if i.purpose == purpose and i.status in PAID
            for r in i.recipients}

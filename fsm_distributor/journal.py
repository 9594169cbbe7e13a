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
from pathlib import Path
from typing import Any, Optional

from fsm_distributor.shared_state import SharedDir, SharedIOError, SharedStateError

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
    #: Key images of the inputs: if another transaction spends one, this one can never confirm.
    key_images: tuple[str, ...] = ()
    #: The sending wallet's address when it was built (a different wallet later means: ask the daemon).
    sender_address: str = ""
    #: When it was relayed: the `timestamp` of its records (kept so that records can be written again).
    relayed_at: float = 0.0
    #: Why a failed intent failed (see verifying.Verdict); empty otherwise.
    verdict: str = ""

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
        data["key_images"] = list(self.key_images)
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
                purpose=str(data.get("purpose", "distribution")), extra=dict(data.get("extra", {})),
                key_images=tuple(str(k) for k in data.get("key_images", ())),
                sender_address=str(data.get("sender_address", "")),
                relayed_at=float(data.get("relayed_at", 0.0)), verdict=str(data.get("verdict", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed journal entry {str(data)[:120]}: {exc!r}") from None
        if intent.status not in STATUSES:
            raise ValueError(f"journal entry {intent.tx_hash} has unknown status {intent.status!r}")
        return intent


def shape_problem(data: Any) -> Optional[str]:
    """Why `data` is not a journal document, or None (entries are checked one by one later)."""
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not an object with an 'intents' list"
    if not isinstance(data.get("intents"), list):
        return f"has 'intents' of type {type(data.get('intents')).__name__}, not a list"
    if not isinstance(data.get("adopted_funded", {}), dict):
        return "has 'adopted_funded' that is not an object"
    return None


@dataclass(frozen=True)
class Loaded:
    """What `Journal.load` found: the intents, and how far the file can be trusted."""

    intents: dict[str, Intent]
    #: Recipients counted as funded without an intent of ours (adopted when the journal was rebuilt).
    adopted_funded: dict[str, str] = field(default_factory=dict)
    #: One line per entry that could not be read (the entry stays on disk).
    problems: tuple[str, ...] = ()
    #: False when there was no journal file at all.
    found: bool = True
    #: Where an unreadable or wrongly shaped journal was moved to (it is never overwritten).
    set_aside: Optional[Path] = None

    @property
    def damaged(self) -> bool:
        return self.set_aside is not None or bool(self.problems)


class Journal:
    """`{agent_id}_distributor_journal.json`: every intent by tx_hash, in creation order."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self._shared = shared
        self.name = f"{agent_id}_distributor_journal.json"

    def load(self) -> Loaded:
        """All intents, plus a problem line per entry that could not be read (kept on disk).

        A file that is not a journal at all (truncated, not JSON, the wrong shape) is moved
        aside, never overwritten, and reported in `set_aside`; an I/O error raises.
        """
        try:
            data = self._shared.read_json(self.name, default=None)
        except SharedIOError:
            raise
        except SharedStateError as exc:
            return Loaded({}, problems=(f"journal {exc.problem}",), set_aside=self._set_aside())
        if data is None:
            return Loaded({}, found=False)
        problem = shape_problem(data)
        if problem:
            return Loaded({}, problems=(f"journal {problem}",), set_aside=self._set_aside())
        intents: dict[str, Intent] = {}
        problems: list[str] = []
        for entry in data["intents"]:
            try:
                intent = Intent.from_json(entry)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            intents[intent.tx_hash] = intent
        adopted = {str(k): str(v) for k, v in data.get("adopted_funded", {}).items()}
        return Loaded(intents, adopted, tuple(problems))

    def _set_aside(self) -> Optional[Path]:
        return self._shared.set_aside(self.name)

    def put(self, intent: Intent) -> None:
        """Write `intent` (new or changed) durably; the rest of the journal is kept as is."""
        self.put_many([intent])

    def put_many(self, intents: list[Intent]) -> None:
        """Write several intents in one durable write."""
        records = [i.to_json() for i in intents]
        hashes = {i.tx_hash for i in intents}

        def change(current: Any) -> dict:
            entries = current.get("intents", [])
            out = [e for e in entries if not (isinstance(e, dict) and e.get("tx_hash") in hashes)]
            out += records
            return {**current, "intents": out}

        self._shared.update_json(self.name, change, default={"intents": []}, check=shape_problem)

    def adopt_funded(self, funded: dict[str, str]) -> None:
        """Remember recipients funded without an intent of ours (from a rebuild), durably."""
        def change(current: Any) -> dict:
            return {**current, "adopted_funded": {**current.get("adopted_funded", {}), **funded}}

        self._shared.update_json(self.name, change, default={"intents": []}, check=shape_problem)

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

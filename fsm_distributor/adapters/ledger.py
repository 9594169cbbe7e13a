"""The files Monerosim and its analysis read: transactions.json and the funding status."""

from __future__ import annotations

from typing import Any, Optional

from fsm_distributor.adapters.shared_state import SharedDir, SharedIOError, SharedStateError, WriteResult, salvage_array
from fsm_distributor.core.ports import LedgerWrite

TRANSACTIONS = "transactions.json"


class TransactionLedger:
    """Appends records under Monerosim's lock protocol (see `shared_state`)."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self._shared = shared
        self._agent_id = agent_id

    def read(self) -> list[dict]:
        """Every record now in the file (any distributor's); what is readable of a damaged file."""
        try:
            data = self._shared.read_json(TRANSACTIONS, default=[])
        except SharedStateError:
            path = self._shared.path_of(TRANSACTIONS)
            try:
                data = salvage_array(path.read_bytes())
            except OSError as err:
                raise SharedIOError(path, f"cannot be read: {err.strerror}") from err
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []

    def append(self, records: list[dict]) -> LedgerWrite:
        """Append the records not already there (same tx_hash and recipient_id).

        Idempotent, so recovery may record an intent again after a crash that
        came between this write and the journal's.  An unreadable old file is
        set aside (its bytes kept, its whole records carried over) and the
        returned note says so: the caller then writes its other records back.
        """
        def add(current: list) -> list:
            have = {(r.get("tx_hash"), r.get("recipient_id")) for r in current if isinstance(r, dict)}
            return current + [r for r in records if (r["tx_hash"], r["recipient_id"]) not in have]

        return LedgerWrite(self._note(self._write(add)))

    def update(self, changes: dict[str, dict]) -> LedgerWrite:
        """Set fields (status, height, confirmations) on this distributor's records by tx_hash."""
        found: set[str] = set()

        def apply(current: list) -> list:
            found.clear()
            for record in current:
                if isinstance(record, dict) and record.get("tx_hash") in changes \
                        and record.get("distributor_id") == self._agent_id:
                    record.update(changes[record["tx_hash"]])
                    found.add(record["tx_hash"])
            return current

        result = self._write(apply)
        return LedgerWrite(self._note(result), frozenset(changes) - found)

    def _write(self, fn: Any) -> WriteResult:
        return self._shared.update_json(TRANSACTIONS, fn, default=[], expected_type=list, salvage=True)

    @staticmethod
    def _note(result: WriteResult) -> Optional[str]:
        if not result.quarantined:
            return None
        return (f"{TRANSACTIONS} was unreadable ({result.problem}); its bytes were kept in "
                f"{result.quarantined_to.name if result.quarantined_to else '?'}, and the "
                f"{result.salvaged} whole records before the damage were carried over")


class StatusFiles:
    """Whole-document status files (initial_funding_status.json), replaced atomically under the lock."""

    def __init__(self, shared: SharedDir):
        self._shared = shared

    def read(self, name: str) -> Optional[dict]:
        """The document, or None when there is none (or it is not an object)."""
        data = self._shared.read_json(name, default=None)
        return data if isinstance(data, dict) else None

    def write(self, name: str, document: dict) -> None:
        self._shared.write_json_atomic(name, document)

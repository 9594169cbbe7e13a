"""The files Monerosim and its analysis read: transactions.json and the funding status."""

from __future__ import annotations

from typing import Optional

from fsm_distributor.shared_state import SharedDir

TRANSACTIONS = "transactions.json"


class TransactionLedger:
    """Appends records under Monerosim's lock protocol (see `shared_state`)."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self._shared = shared
        self._agent_id = agent_id

    def append(self, records: list[dict]) -> Optional[str]:
        """Append the records not already there (same tx_hash and recipient_id).

        Idempotent, so recovery may record an intent again after a crash that
        came between this write and the journal's.  Returns a note when an
        unreadable old file had to be set aside (its bytes are kept).
        """
        def add(current: list) -> list:
            have = {(r.get("tx_hash"), r.get("recipient_id")) for r in current if isinstance(r, dict)}
            return current + [r for r in records if (r["tx_hash"], r["recipient_id"]) not in have]

        result = self._shared.update_json(TRANSACTIONS, add, default=[], expected_type=list)
        if result.quarantined:
            return (f"{TRANSACTIONS} was unreadable ({result.problem}); its bytes were kept in "
                    f"{result.quarantined_to.name} and a new file was started")
        return None

    def update(self, changes: dict[str, dict]) -> None:
        """Set fields (status, height, confirmations) on this distributor's records by tx_hash."""
        def apply(current: list) -> list:
            for record in current:
                if isinstance(record, dict) and record.get("tx_hash") in changes \
                        and record.get("distributor_id") == self._agent_id:
                    record.update(changes[record["tx_hash"]])
            return current

        self._shared.update_json(TRANSACTIONS, apply, default=[], expected_type=list)


class StatusFiles:
    """Whole-document status files (initial_funding_status.json), replaced atomically under the lock."""

    def __init__(self, shared: SharedDir):
        self._shared = shared

    def write(self, name: str, document: dict) -> None:
        self._shared.write_json_atomic(name, document)

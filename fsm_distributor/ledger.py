"""transactions.json, the record Monerosim's analysis reads, behind the `Ledger` interface."""

from __future__ import annotations

from typing import Optional

from fsm_distributor.shared_state import SharedDir

TRANSACTIONS = "transactions.json"


class TransactionLedger:
    """Appends records under Monerosim's lock protocol (see `shared_state`)."""

    def __init__(self, shared: SharedDir):
        self._shared = shared

    def append(self, records: list[dict]) -> Optional[str]:
        """Append `records`; returns a note when an unreadable old file had to be set aside."""
        result = self._shared.append_records(TRANSACTIONS, records)
        if result.quarantined:
            return (f"{TRANSACTIONS} was unreadable ({result.problem}); its bytes were kept in "
                    f"{result.quarantined_to.name} and a new file was started")
        return None

"""Moving an intent through its journal statuses, shared by the sending and recovery states."""

from __future__ import annotations

from dataclasses import replace

from fsm_distributor.context import Context, Deps
from fsm_distributor.journal import BUILT, Intent
from fsm_distributor.shared_state import SharedStateError


def advance(deps: Deps, ctx: Context, intent: Intent, status: str, **changes) -> Intent:
    """Persist a status change; if the journal cannot be written, carry on from memory.

    Safe by construction: a journal left at `built` makes recovery relay the
    same metadata (idempotent) or find the tx in the wallet; one left at
    `relayed` makes it record again, which is deduplicated by tx_hash.
    """
    try:
        updated = deps.journal.advance(intent, status, **changes)
    except (SharedStateError, OSError) as exc:
        metadata = intent.tx_metadata if status == BUILT else ""
        updated = replace(intent, status=status, **{"tx_metadata": metadata, **changes})
        deps.log.error("journal_write_failed", message=f"Could not write {status} for {intent.tx_hash} to the "
                       f"journal ({exc}); continuing, recovery is idempotent", tx_hash=intent.tx_hash)
    ctx.put_intent(updated)
    return updated

"""Recording: append sent transactions to transactions.json; keep them until that works."""

from __future__ import annotations

from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.shared_state import SharedStateError


def record(deps: Deps, ctx: Context) -> Outcome:
    batch = list(ctx.unrecorded)
    try:
        note = deps.ledger.append(batch)
    except (SharedStateError, OSError) as exc:
        wait = deps.config.balance_check_interval
        deps.log.error("record_deferred", message=f"Could not write transactions.json ({exc}); "
                       f"{len(batch)} record(s) kept in memory, retrying in {wait:g}s", pending=len(batch))
        return Outcome("record_deferred", delay=wait)
    del ctx.unrecorded[:len(batch)]
    ctx.recorded += len(batch)
    if note:
        deps.log.warning("ledger_quarantined", message=note)
    for entry in batch:
        deps.log.info("tx_recorded", message=f"Recorded transaction {entry['tx_hash']}",
                      tx_hash=entry["tx_hash"], recipient=entry["recipient_id"], miner=entry["sender_id"])
    return Outcome("recorded")

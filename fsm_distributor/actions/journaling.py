"""Journaling: persist the intent before the transaction can pay anyone."""

from __future__ import annotations

import structlog

from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import BUILT, Intent
from fsm_distributor.shared_state import SharedStateError


def write_intent(deps: Deps, ctx: Context) -> Outcome:
    built, miner = ctx.built, ctx.miner
    assert built is not None and miner is not None and ctx.destinations, "Journaling without a build"
    now = deps.clock.time()
    intent = Intent(
        tx_hash=built.tx_hash, miner=miner.agent_id, miner_endpoint=miner.endpoint,
        destinations=tuple(ctx.destinations), fee=built.fee, status=BUILT, tx_metadata=built.tx_metadata,
        attempts=ctx.attempt, priority=deps.config.priority, created_at=now, updated_at=now,
        purpose=ctx.purpose, key_images=built.key_images,
        sender_address=ctx.sender_addresses.get(miner.agent_id, ""))
    try:
        deps.journal.put(intent)
    except (SharedStateError, OSError) as exc:
        wait = deps.config.balance_check_interval
        ctx.built = None
        deps.log.error("journal_failed", message=f"Failed to send transaction: cannot write the journal "
                       f"({exc}); the build is dropped, nothing was paid; retrying in {wait:g}s")
        return Outcome("journal_failed", delay=wait)
    ctx.put_intent(intent)
    ctx.intent = intent
    structlog.contextvars.bind_contextvars(tx_hash=intent.tx_hash)
    deps.checkpoint("after_journal")
    return Outcome("journaled")

"""Recovering: finish what a crash left open, before (and between) new cycles."""

from __future__ import annotations

import structlog

from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import BUILT, RECORDED, RELAYED
from fsm_distributor.shared_state import SharedStateError


def recover(deps: Deps, ctx: Context) -> Outcome:
    """Load the journal once; then hand the first open intent to Relaying or Recording."""
    if not ctx.journal_loaded:
        _load(deps, ctx)
    for intent in ctx.open_intents():
        ctx.intent = intent
        structlog.contextvars.bind_contextvars(tx_hash=intent.tx_hash, miner=intent.miner)
        if intent.status == BUILT:
            deps.log.info("recovering_intent", message=f"Relaying journaled intent {intent.tx_hash} "
                          f"(built, maybe never relayed)", status=intent.status)
            return Outcome("resume_relay")
        if intent.status == RELAYED:
            deps.log.info("recovering_intent", message=f"Recording relayed intent {intent.tx_hash}",
                          status=intent.status)
            return Outcome("resume_record")
    ctx.intent = None
    return Outcome("recovered")


def _load(deps: Deps, ctx: Context) -> None:
    try:
        intents, problems = deps.journal.load()
    except (SharedStateError, OSError) as exc:
        # The file stays where it is (a later write sets it aside, never overwrites it).
        deps.log.error("journal_unreadable", message=f"Journal unreadable ({exc}); starting without "
                       f"its intents, the file is kept")
        intents, problems = {}, []
    for problem in problems:
        deps.log.error("journal_problem", message=problem)
    ctx.load_intents(intents)
    ctx.journal_loaded = True
    now = deps.clock.time()
    for tx_hash, intent in intents.items():
        if intent.status == RECORDED:
            ctx.verify_due_at[tx_hash] = now
    open_count = len(ctx.open_intents())
    deps.log.info("journal_loaded", message=f"Journal: {len(intents)} intents, {open_count} open",
                  intents=len(intents), open=open_count)

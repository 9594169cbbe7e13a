"""Recording: add the relayed transaction to transactions.json once, then close the intent."""

from __future__ import annotations

from fsm_distributor.actions.batch_planning import write_funding_status
from fsm_distributor.actions.intents import advance, ledger_records, own_recorded, record_timestamp, write_back
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import RECORDED
from fsm_distributor.shared_state import SharedStateError


def record(deps: Deps, ctx: Context) -> Outcome:
    intent = ctx.intent
    assert intent is not None, "Recording without an intent"
    now = deps.clock.time()
    try:
        result = deps.ledger.append(ledger_records(intent, deps.agent_id, record_timestamp(intent) or now))
    except (SharedStateError, OSError) as exc:
        wait = deps.config.balance_check_interval
        ctx.recovery_due_at = now + wait
        deps.log.error("record_deferred", message=f"Could not write transactions.json ({exc}); intent "
                       f"{intent.tx_hash} stays open and is recorded later (in {wait:g}s)")
        return Outcome("record_deferred", delay=wait)
    deps.checkpoint("after_record")
    advance(deps, ctx, intent, RECORDED, updated_at=now)
    if result.note:
        deps.log.warning("ledger_quarantined", message=result.note)
        write_back(deps, ctx, own_recorded(ctx), "the file had to be set aside")
    ctx.recorded += 1
    if intent.purpose == "initial_funding":
        ctx.next_funding_at = now  # the next batch at once
        write_funding_status(deps, ctx)
    elif intent.purpose == "funding_cycle":
        ctx.next_funding_at = now + deps.config.funding_cycle_interval
    ctx.verify_due_at[intent.tx_hash] = now + deps.config.verification_interval
    deps.log.info("tx_recorded", message=f"Recorded transaction {intent.tx_hash}", tx_hash=intent.tx_hash,
                  miner=intent.miner, recipients=intent.recipients)
    return Outcome("recorded")

"""Recording: add the relayed transaction to transactions.json once, then close the intent."""

from __future__ import annotations

from fsm_distributor.actions.batch_planning import write_funding_status
from fsm_distributor.actions.intents import advance
from fsm_distributor.amounts import to_float_xmr
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import RECORDED, Intent
from fsm_distributor.shared_state import SharedStateError


def ledger_records(intent: Intent, distributor_id: str, timestamp: float) -> list[dict]:
    """One record per recipient, in the format Monerosim's analysis reads, plus exact fields.

    A batch pays several recipients in one transaction: each record carries
    the transaction's own hash, the recipient's total and its outputs.
    """
    records = []
    for recipient_id in intent.recipients:
        outputs = [(a, n) for r, a, n in intent.destinations if r == recipient_id]
        total = sum(n for _, n in outputs)
        records.append({
            "tx_hash": intent.tx_hash,
            "sender_id": intent.miner,
            "recipient_id": recipient_id,
            "amount": to_float_xmr(total),
            "amount_atomic": total,
            "num_outputs": len(outputs),
            "amount_per_output": to_float_xmr(outputs[0][1]),
            "fee": intent.fee,
            "priority": intent.priority,
            "attempts": intent.attempts,
            "recipient_address": outputs[0][0],
            "distributor_id": distributor_id,
            "purpose": intent.purpose,
            "num_recipients": len(intent.recipients),
            "status": "relayed",
            "timestamp": timestamp,
        })
    return records


def record(deps: Deps, ctx: Context) -> Outcome:
    intent = ctx.intent
    assert intent is not None, "Recording without an intent"
    now = deps.clock.time()
    try:
        note = deps.ledger.append(ledger_records(intent, deps.agent_id, intent.updated_at or now))
    except (SharedStateError, OSError) as exc:
        wait = deps.config.balance_check_interval
        ctx.recovery_due_at = now + wait
        deps.log.error("record_deferred", message=f"Could not write transactions.json ({exc}); intent "
                       f"{intent.tx_hash} stays open and is recorded later (in {wait:g}s)")
        return Outcome("record_deferred", delay=wait)
    if note:
        deps.log.warning("ledger_quarantined", message=note)
    deps.checkpoint("after_record")
    advance(deps, ctx, intent, RECORDED, updated_at=now)
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

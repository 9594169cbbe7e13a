"""Journaling: persist the intent before the transaction can pay anyone."""

from __future__ import annotations

import structlog

from fsm_distributor.actions.shared import payment_priority
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Built
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Status
from fsm_distributor.states import Outcome, Trigger


def write_intent(deps: Deps, mem: Memory, built: Built) -> Outcome:
    payment, transfer = built.payment, built.transfer
    miner = payment.miner
    now = deps.clock.time()
    endpoint = miner.endpoint or ("", 0)  # Building used it: a miner without one never gets here
    scheduled = payment.cycle.scheduled  # its occurrence's key makes it paid once (issue 12)
    intent = Intent(
        tx_hash=transfer.tx_hash, miner=miner.agent_id, miner_endpoint=endpoint,
        destinations=payment.destinations, fee=transfer.fee, status=Status.BUILT,
        tx_metadata=transfer.tx_metadata, attempts=payment.attempt, priority=payment_priority(deps, payment),
        created_at=now, updated_at=now, purpose=payment.cycle.purpose, key_images=transfer.key_images,
        sender_address=mem.sender_addresses.get(miner.agent_id, ""),
        schedule_id=scheduled.schedule_id if scheduled else "", occurrence=scheduled.occurrence if scheduled else 0,
        unlock_time=built.unlock_time,
        # the decision's inputs (issue 11): a batch's amounts are md_out_per_tx x md_output_amount and a
        # scheduled payment's its entry's, whatever amount_strategy says
        strategy="funding" if payment.cycle.batch else "schedule" if scheduled else deps.config.amount_strategy,
        fee_strategy=deps.config.fee_strategy,
        pool_kb=payment.payer.conditions.pool_kb if payment.payer.conditions is not None else None)
    try:
        deps.journal.put(intent)
    except StoreError as exc:
        wait = deps.config.balance_check_interval
        deps.log.error("journal_failed", message=f"Failed to send transaction: cannot write the journal "
                       f"({exc}); the build is dropped, nothing was paid; retrying in {wait:g}s")
        return Outcome(Trigger.JOURNAL_FAILED, delay=wait)
    mem.put_intent(intent)
    structlog.contextvars.bind_contextvars(tx_hash=intent.tx_hash)
    deps.checkpoint("after_journal")
    return Outcome(Trigger.JOURNALED, data=intent)

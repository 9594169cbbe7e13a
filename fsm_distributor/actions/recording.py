"""Recording: add the relayed transaction to transactions.json once, then close the intent."""

from __future__ import annotations

from fsm_distributor.actions.shared import (advance, ledger_records, own_recorded, record_timestamp, write_back,
                                            write_funding_status)
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose, Status
from fsm_distributor.states import Outcome, Trigger


def record(deps: Deps, mem: Memory, intent: Intent) -> Outcome:
    now = deps.clock.time()
    try:
        result = deps.ledger.append(ledger_records(intent, deps.agent_id, record_timestamp(intent) or now))
    except StoreError as exc:
        wait = deps.config.balance_check_interval
        mem.recovery_due_at = now + wait
        deps.log.error("record_deferred", message=f"Could not write transactions.json ({exc}); intent "
                       f"{intent.tx_hash} stays open and is recorded later (in {wait:g}s)")
        return Outcome(Trigger.RECORD_DEFERRED, delay=wait)
    deps.checkpoint("after_record")
    advance(deps, mem, intent, Status.RECORDED, updated_at=now)
    if result.note:
        deps.log.warning("ledger_quarantined", message=result.note)
        write_back(deps, mem, own_recorded(mem), "the file had to be set aside")
    mem.recorded += 1
    if intent.purpose is Purpose.INITIAL_FUNDING:
        mem.next_funding_at = now  # the next batch at once
        write_funding_status(deps, mem)
    elif intent.purpose is Purpose.FUNDING_CYCLE:
        mem.next_funding_at = now + deps.config.funding_cycle_interval
    mem.verify_due_at[intent.tx_hash] = now + deps.config.verification_interval
    deps.log.info("tx_recorded", message=f"Recorded transaction {intent.tx_hash}", tx_hash=intent.tx_hash,
                  miner=intent.miner, recipients=intent.recipients)
    return Outcome(Trigger.RECORDED)

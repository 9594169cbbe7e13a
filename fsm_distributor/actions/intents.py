"""What the sending, verifying and recovery states share about intents and their records."""

from __future__ import annotations

import enum
from dataclasses import replace
from typing import Iterable, Optional

from fsm_distributor.amounts import to_float_xmr
from fsm_distributor.context import Context, Daemon, Deps
from fsm_distributor.journal import BUILT, CONFIRMED, FAILED, Intent
from fsm_distributor.registry import RegistryError, Snapshot
from fsm_distributor.shared_state import SharedStateError

class Verdict(str, enum.Enum):
    """Why an intent failed."""

    INPUTS_SPENT = "inputs_spent"      # another transaction spent its inputs: it can never confirm
    ABSENT = "absent"                  # dropped: in neither pool nor chain for a number of blocks
    WALLET_FAILED = "wallet_failed"    # the wallet said so, and there was no daemon to ask
    RELAY_REJECTED = "relay_rejected"  # the relay was refused and nobody knew the transaction


#: Verdicts that a later block could prove wrong: their intents stay watched (Verifying).
WATCHED = frozenset({Verdict.ABSENT.value, Verdict.WALLET_FAILED.value, Verdict.RELAY_REJECTED.value})
#: A failed transaction under watch is looked up every WATCH_FACTOR verification intervals.
WATCH_FACTOR = 4

#: Intent statuses whose records belong in transactions.json, and the record's `status` for each.
LEDGER_STATUS = {"recorded": "relayed", CONFIRMED: "confirmed", FAILED: "failed"}


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


def ledger_records(intent: Intent, distributor_id: str, timestamp: float) -> list[dict]:
    """One record per recipient, in the format Monerosim's analysis reads, plus exact fields.

    A batch pays several recipients in one transaction: each record carries
    the transaction's own hash, the recipient's total and its outputs.  A
    verified intent's record carries its verdict (status, height, confirmations).
    """
    records = []
    verified = intent.status in (CONFIRMED, FAILED)
    for recipient_id in intent.recipients:
        outputs = [(a, n) for r, a, n in intent.destinations if r == recipient_id]
        total = sum(n for _, n in outputs)
        record = {
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
            "status": LEDGER_STATUS.get(intent.status, "relayed"),
            "timestamp": timestamp,
        }
        if verified:
            record.update(height=intent.height, confirmations=intent.confirmations)
        records.append(record)
    return records


def record_timestamp(intent: Intent) -> float:
    """A record's `timestamp`: when the transaction was relayed."""
    return intent.relayed_at or intent.updated_at or intent.created_at


def write_back(deps: Deps, ctx: Context, intents: Iterable[Intent], why: str) -> int:
    """Append the records of `intents` that transactions.json lost (another writer replaced it).

    Idempotent (the ledger skips records it holds); returns how many intents were written back.
    """
    recordable = [i for i in intents if i.status in LEDGER_STATUS and i.destinations and i.destinations[0][1]]
    if not recordable:
        return 0
    records = [r for i in recordable for r in ledger_records(i, deps.agent_id, record_timestamp(i))]
    try:
        result = deps.ledger.append(records)
    except (SharedStateError, OSError) as exc:
        deps.log.error("ledger_restore_failed", message=f"Could not write back {len(recordable)} transactions "
                       f"to transactions.json ({exc}); the journal keeps them, tried again later")
        return 0
    if result.note:
        deps.log.warning("ledger_quarantined", message=result.note)
    deps.log.warning("ledger_restored", message=f"Wrote back {len(recordable)} of this distributor's "
                     f"transactions ({len(records)} records) to transactions.json: {why}",
                     transactions=len(recordable), records=len(records))
    return len(recordable)


def own_recorded(ctx: Context) -> list[Intent]:
    """Every intent of ours that has (or should have) records in transactions.json."""
    return [i for i in ctx.intents.values() if i.status in LEDGER_STATUS]


def schedule_watch(deps: Deps, ctx: Context, intent: Intent, now: float) -> None:
    """Keep looking for a failed transaction whose verdict a later block could overturn."""
    ctx.watch_due_at[intent.tx_hash] = now + WATCH_FACTOR * deps.config.verification_interval


def registry_snapshot(deps: Deps, ctx: Context) -> Optional[Snapshot]:
    """The registry as last read; read now if no state has read it yet (recovery runs first).

    Problems found in such a read are left for Discovering to report.
    """
    if ctx.snapshot is None:
        try:
            ctx.snapshot, changed = deps.registry.read()
        except (RegistryError, SharedStateError, OSError):
            return None
        ctx.registry_unreported = ctx.registry_unreported or changed
    return ctx.snapshot


def daemon_for(deps: Deps, ctx: Context, miner_id: str) -> Optional[Daemon]:
    """The monerod of `miner_id` (registry ip_addr + daemon_rpc_port), if the registry names one."""
    snapshot = registry_snapshot(deps, ctx)
    miners = snapshot.miners if snapshot else ()
    miner = next((m for m in miners if m.agent_id == miner_id), None)
    if miner is None or miner.daemon_endpoint is None:
        return None
    return deps.daemons(*miner.daemon_endpoint)

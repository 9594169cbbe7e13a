"""Verifying: follow recorded transactions in the sender's wallet until confirmed or failed."""

from __future__ import annotations

from fsm_distributor.actions.intents import advance
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import CONFIRMED, FAILED, RECORDED
from fsm_distributor.rpc_errors import RpcError, WalletError
from fsm_distributor.shared_state import SharedStateError

#: Checks per step, so one step stays short however many transactions are pending.
BATCH = 16
#: A transaction the sender's wallet no longer knows this many times in a row has vanished.
VANISHED_AFTER = 3


def verify(deps: Deps, ctx: Context) -> Outcome:
    now = deps.clock.time()
    due = sorted((at, tx) for tx, at in ctx.verify_due_at.items() if at <= now)[:BATCH]
    changes: dict[str, dict] = {}
    for _, tx_hash in due:
        intent = ctx.intents.get(tx_hash)
        if intent is None or intent.status != RECORDED:
            ctx.verify_due_at.pop(tx_hash, None)
            continue
        status, fields, why = _check(deps, ctx, intent)
        if status is None:
            ctx.verify_due_at[tx_hash] = now + deps.config.verification_interval
            continue
        advance(deps, ctx, intent, status, updated_at=now, note=why, **fields)
        ctx.verify_due_at.pop(tx_hash, None)
        changes[tx_hash] = {"status": status, **fields}
        recipients = [r for r, _, _ in intent.destinations]
        if status == CONFIRMED:
            deps.log.info("tx_confirmed", message=f"Transaction {tx_hash} confirmed at height {fields['height']} "
                          f"({fields['confirmations']} confirmations)", tx_hash=tx_hash, **fields)
        else:
            ctx.failed += 1
            deps.log.error("tx_verification_failed", message=f"Transaction {tx_hash} failed on chain ({why}); "
                           f"recipients {recipients} are eligible again", tx_hash=tx_hash, recipients=recipients)
    if changes:
        try:
            deps.ledger.update(changes)
        except (SharedStateError, OSError) as exc:
            deps.log.error("ledger_update_failed", message=f"Could not write statuses to transactions.json "
                           f"({exc}); the journal has them")
    return Outcome("verified")


def _check(deps: Deps, ctx: Context, intent):
    """(new status or None to look again later, fields, reason)."""
    try:
        info = deps.wallets(*intent.miner_endpoint).get_transfer_by_txid(intent.tx_hash)
    except RpcError as exc:
        if exc.code != -8:
            return None, {}, ""
        misses = ctx.verify_misses.get(intent.tx_hash, 0) + 1
        ctx.verify_misses[intent.tx_hash] = misses
        if misses >= VANISHED_AFTER:
            return FAILED, {"height": 0, "confirmations": 0}, "vanished: the sender's wallet no longer knows it"
        return None, {}, ""
    except WalletError:
        return None, {}, ""
    ctx.verify_misses.pop(intent.tx_hash, None)
    kind = info.get("type")
    height = _int(info.get("height"))
    confirmations = _int(info.get("confirmations"))  # absent while 0
    fields = {"height": height, "confirmations": confirmations}
    if kind == "failed":
        return FAILED, fields, "the wallet marks it failed"
    if kind == "out" and confirmations >= deps.config.confirmations_required:
        return CONFIRMED, fields, ""
    return None, {}, ""


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

"""Verifying: follow recorded transactions in the sender's wallet until confirmed or failed."""

from __future__ import annotations

from fsm_distributor.actions.intents import advance
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import CONFIRMED, FAILED, RECORDED
from fsm_distributor.rpc_errors import RpcError, WalletError
from fsm_distributor.shared_state import SharedStateError

#: Checks per step, so one step stays short however many transactions are pending.
BATCH = 16
#: A transaction missing this many checks in a row (unknown to the sender's wallet, or neither in
#: the pool nor in a block of the sender's daemon) has vanished: dropped, or its inputs double-spent.
VANISHED_AFTER = 3


def verify(deps: Deps, ctx: Context) -> Outcome:
    now = deps.clock.time()
    due = sorted((at, tx) for tx, at in ctx.verify_due_at.items() if at <= now)[:BATCH]
    changes: dict[str, dict] = {}
    outcomes: list = []
    refreshed: set[str] = set()
    for _, tx_hash in due:
        intent = ctx.intents.get(tx_hash)
        if intent is None or intent.status != RECORDED:
            ctx.verify_due_at.pop(tx_hash, None)
            continue
        if intent.miner not in refreshed:  # a wallet sees new blocks only after a refresh
            refreshed.add(intent.miner)
            try:
                deps.wallets(*intent.miner_endpoint).refresh()
            except WalletError:
                pass
        status, fields, why = _check(deps, ctx, intent)
        if status is None:
            ctx.verify_due_at[tx_hash] = now + deps.config.verification_interval
            continue
        advance(deps, ctx, intent, status, updated_at=now, note=why, **fields)
        ctx.verify_due_at.pop(tx_hash, None)
        changes[tx_hash] = {"status": status, **fields}
        outcomes.append((intent, status, fields, why))
    if changes:  # written before the events are logged: a reader of the log finds them on disk
        try:
            deps.ledger.update(changes)
        except (SharedStateError, OSError) as exc:
            deps.log.error("ledger_update_failed", message=f"Could not write statuses to transactions.json "
                           f"({exc}); the journal has them")
    for intent, status, fields, why in outcomes:
        if status == CONFIRMED:
            deps.log.info("tx_confirmed", message=f"Transaction {intent.tx_hash} confirmed at height "
                          f"{fields['height']} ({fields['confirmations']} confirmations)",
                          tx_hash=intent.tx_hash, **fields)
        else:
            ctx.failed += 1
            deps.log.error("tx_verification_failed", message=f"Transaction {intent.tx_hash} failed on chain "
                           f"({why}); recipients {intent.recipients} are eligible again",
                           tx_hash=intent.tx_hash, recipients=intent.recipients)
    return Outcome("verified")


def _check(deps: Deps, ctx: Context, intent):
    """(new status or None to look again later, fields, reason)."""
    try:
        info = deps.wallets(*intent.miner_endpoint).get_transfer_by_txid(intent.tx_hash)
    except RpcError as exc:
        if exc.code != -8:
            return None, {}, ""
        return _missed(ctx, intent, "the sender's wallet no longer knows it")
    except WalletError:
        return None, {}, ""
    kind = info.get("type")
    height = _int(info.get("height"))
    confirmations = _int(info.get("confirmations"))  # absent while 0
    fields = {"height": height, "confirmations": confirmations}
    if kind == "failed":
        return FAILED, fields, "the wallet marks it failed"
    if kind == "out" and confirmations >= deps.config.confirmations_required:
        return CONFIRMED, fields, ""
    # Still pending for the wallet, which may go on saying so after the tx was dropped from the
    # pool or double-spent (seen on 0.18): the sender's daemon knows where it really is.
    where = _daemon_says(deps, ctx, intent)
    if where == "missing":
        return _missed(ctx, intent, "neither in the pool nor in a block (dropped, or its inputs double-spent)")
    ctx.verify_misses.pop(intent.tx_hash, None)
    return None, {}, ""


def _missed(ctx: Context, intent, why: str):
    misses = ctx.verify_misses.get(intent.tx_hash, 0) + 1
    ctx.verify_misses[intent.tx_hash] = misses
    if misses >= VANISHED_AFTER:
        ctx.verify_misses.pop(intent.tx_hash, None)
        return FAILED, {"height": 0, "confirmations": 0}, f"vanished: {why}"
    return None, {}, ""


def _daemon_says(deps: Deps, ctx: Context, intent) -> str:
    """pool | chain | missing from the miner's monerod (registry daemon_rpc_port), or unknown."""
    miners = {m.agent_id: m for m in ctx.snapshot.miners} if ctx.snapshot else {}
    miner = miners.get(intent.miner)
    if miner is None or miner.daemon_endpoint is None:
        return "unknown"
    try:
        return deps.wallets(*miner.daemon_endpoint).transaction_status([intent.tx_hash])[intent.tx_hash]
    except WalletError:
        return "unknown"


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

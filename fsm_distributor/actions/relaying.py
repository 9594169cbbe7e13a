"""Relaying: broadcast the journaled transaction; relaying it twice is harmless."""

from __future__ import annotations

from typing import Optional

from fsm_distributor.actions.intents import Verdict, advance, daemon_for, schedule_watch
from fsm_distributor.actions.retrying import backoff
from fsm_distributor.amounts import format_xmr
from fsm_distributor.context import Context, Deps, Outcome, Wallet
from fsm_distributor.daemon import KeyImage, Where
from fsm_distributor.journal import FAILED, RELAYED, Intent
from fsm_distributor.rpc_errors import ErrorKind, RpcError, WalletError

#: get_transfer_by_txid types that prove the wallet has broadcast the transaction.
KNOWN_SENT = frozenset({"pending", "out", "pool"})


def relay(deps: Deps, ctx: Context) -> Outcome:
    intent = ctx.intent
    assert intent is not None, "Relaying without an intent"
    wallet = deps.wallets(*intent.miner_endpoint)
    try:
        wallet.relay_tx(intent.tx_metadata)
    except WalletError as exc:
        if exc.kind in (ErrorKind.TRANSIENT, ErrorKind.WALLET_CLOSED):
            return _defer(deps, ctx, intent, exc)
        # Rejected: maybe because it was relayed and mined already (a crash before the journal
        # caught up).  The wallet's record of the tx, else the daemon, tells paid from not paid.
        seen = _wallet_knows(wallet, intent.tx_hash)
        if seen is None:
            return _defer(deps, ctx, intent, exc)
        if not seen:
            where = _daemon_knows(deps, ctx, intent)
            if where is None:
                _close_failed(deps, ctx, intent, f"relay rejected: {exc}", Verdict.RELAY_REJECTED)
                return Outcome("relay_rejected")
            if where is Where.MISSING:
                _close_failed(deps, ctx, intent, f"relay rejected ({exc}): another transaction spent its "
                              f"inputs", Verdict.INPUTS_SPENT)
                return Outcome("relay_rejected")
            deps.log.warning("relay_known_to_daemon", message=f"The wallet refused to relay {intent.tx_hash} "
                             f"({exc}) and does not know it, but the daemon has it ({where.value}): it was sent")
    deps.checkpoint("after_relay")
    now = deps.clock.time()
    ctx.intent = advance(deps, ctx, intent, RELAYED, updated_at=now, relayed_at=now)
    ctx.sent += 1
    ctx.last_success_at = now
    ctx.recovery_due_at = 0.0
    ctx.relay_failures.pop(intent.tx_hash, None)
    if len(intent.destinations) == 1:
        recipient_id, _address, amount = intent.destinations[0]
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Sent transaction: "
                      f"{intent.miner} -> {recipient_id}, {format_xmr(amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipient=recipient_id,
                      amount_atomic=amount, fee=intent.fee)
    else:
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Batch transaction sent "
                      f"successfully: {intent.miner} -> {len(intent.recipients)} recipients, "
                      f"{len(intent.destinations)} outputs, {format_xmr(intent.amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipients=intent.recipients,
                      outputs=len(intent.destinations), amount_atomic=intent.amount, fee=intent.fee,
                      purpose=intent.purpose)
    return Outcome("relayed")


def _wallet_knows(wallet: Wallet, tx_hash: str) -> Optional[bool]:
    """True if the wallet has sent `tx_hash`, False if it has not, None if it cannot say now."""
    try:
        info = wallet.get_transfer_by_txid(tx_hash)
    except RpcError as exc:
        return False if exc.code == -8 else None
    except WalletError:
        return None
    return info.get("type") in KNOWN_SENT


def _daemon_knows(deps: Deps, ctx: Context, intent: Intent) -> Optional[Where]:
    """POOL or CHAIN if the miner's daemon has the transaction; MISSING if another transaction
    spent its inputs; None if nobody can say it was sent (no daemon, no answer, or just absent)."""
    daemon = daemon_for(deps, ctx, intent.miner)
    if daemon is None:
        return None
    try:
        where = daemon.locate([intent.tx_hash])[intent.tx_hash].where
        if where is not Where.MISSING:
            return where
        if intent.key_images and KeyImage.SPENT_IN_CHAIN in daemon.key_images_spent(intent.key_images):
            return Where.MISSING
    except WalletError:
        pass
    return None


def _defer(deps: Deps, ctx: Context, intent: Intent, exc: WalletError) -> Outcome:
    failures = ctx.relay_failures.get(intent.tx_hash, 0) + 1
    ctx.relay_failures[intent.tx_hash] = failures
    wait = backoff(deps, failures)
    ctx.recovery_due_at = deps.clock.time() + wait
    deps.log.warning("relay_deferred", message=f"Relay of {intent.tx_hash} failed ({exc}); the intent stays "
                     f"open and is tried again in {wait:.1f}s", error_code=exc.code)
    return Outcome("relay_deferred")


def _close_failed(deps: Deps, ctx: Context, intent: Intent, why: str, verdict: Verdict) -> None:
    ctx.failed += 1
    ctx.relay_failures.pop(intent.tx_hash, None)
    now = deps.clock.time()
    failed = advance(deps, ctx, intent, FAILED, updated_at=now, note=why, verdict=verdict.value)
    if verdict is Verdict.RELAY_REJECTED:
        schedule_watch(deps, ctx, failed, now)
    deps.log.error("tx_failed", message=f"Failed to send transaction {intent.tx_hash}: {why}; nothing was paid",
                   tx_hash=intent.tx_hash)

"""Relaying: broadcast the journaled transaction; relaying it twice is harmless."""

from __future__ import annotations

from typing import Optional

from fsm_distributor.actions.shared import advance, backoff, daemon_for, schedule_watch
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import ErrorKind, TxUnknown, WalletError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose, Status, Verdict
from fsm_distributor.core.ports import KeyImage, Wallet, Where
from fsm_distributor.states import Outcome, Trigger

#: Transfer types that prove the wallet has broadcast the transaction.
KNOWN_SENT = frozenset({"pending", "out", "pool"})


def relay(deps: Deps, mem: Memory, intent: Intent) -> Outcome:
    wallet = deps.wallets(*intent.miner_endpoint)
    try:
        wallet.relay_tx(intent.tx_metadata)
    except WalletError as exc:
        if exc.kind in (ErrorKind.TRANSIENT, ErrorKind.WALLET_CLOSED):
            return _defer(deps, mem, intent, exc)
        # Rejected: maybe because it was relayed and mined already (a crash before the journal
        # caught up).  The wallet's record of the tx, else the daemon, tells paid from not paid.
        seen = _wallet_knows(wallet, intent.tx_hash)
        if seen is None:
            return _defer(deps, mem, intent, exc)
        if not seen:
            where = _daemon_knows(deps, mem, intent)
            if where is None:
                _close_failed(deps, mem, intent, f"relay rejected: {exc}", Verdict.RELAY_REJECTED)
                return Outcome(Trigger.RELAY_REJECTED)
            if where is Where.MISSING:
                _close_failed(deps, mem, intent, f"relay rejected ({exc}): another transaction spent its "
                              f"inputs", Verdict.INPUTS_SPENT)
                return Outcome(Trigger.RELAY_REJECTED)
            deps.log.warning("relay_known_to_daemon", message=f"The wallet refused to relay {intent.tx_hash} "
                             f"({exc}) and does not know it, but the daemon has it ({where.value}): it was sent")
    deps.checkpoint("after_relay")
    now = deps.clock.time()
    relayed = advance(deps, mem, intent, Status.RELAYED, updated_at=now, relayed_at=now)
    mem.sent += 1
    if intent.purpose is not Purpose.SCHEDULED:  # a scheduled payment does not move the single payments' clock
        mem.last_success_at = now
    mem.recovery_due_at = 0.0
    mem.relay_failures.pop(intent.tx_hash, None)
    if len(intent.destinations) == 1:
        recipient_id, _address, amount = intent.destinations[0]  # one output: its amount is the payment
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Sent transaction: "
                      f"{intent.miner} -> {recipient_id}, {format_xmr(amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipient=recipient_id,
                      amount_atomic=amount, fee=intent.fee, **_occurrence(intent))
    else:
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Batch transaction sent "
                      f"successfully: {intent.miner} -> {len(intent.recipients)} recipients, "
                      f"{len(intent.destinations)} outputs, {format_xmr(intent.amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipients=intent.recipients,
                      outputs=len(intent.destinations), amount_atomic=intent.amount, fee=intent.fee,
                      purpose=intent.purpose)
    return Outcome(Trigger.RELAYED, data=relayed)


def _occurrence(intent: Intent) -> dict[str, object]:
    """A scheduled payment's key and time lock for its tx_sent line (issue 12); nothing for the others."""
    if not intent.schedule_id:
        return {}
    return {"schedule_id": intent.schedule_id, "occurrence": intent.occurrence, "unlock_time": intent.unlock_time}


def _wallet_knows(wallet: Wallet, tx_hash: str) -> Optional[bool]:
    """True if the wallet has sent `tx_hash`, False if it has not, None if it cannot say now."""
    try:
        return wallet.transfer_info(tx_hash).type in KNOWN_SENT
    except TxUnknown:
        return False
    except WalletError:
        return None


def _daemon_knows(deps: Deps, mem: Memory, intent: Intent) -> Optional[Where]:
    """POOL or CHAIN if the miner's daemon has the transaction; MISSING if another transaction
    spent its inputs; None if nobody can say it was sent (no daemon, no answer, or just absent)."""
    daemon = daemon_for(deps, mem, intent.miner)
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


def _defer(deps: Deps, mem: Memory, intent: Intent, exc: WalletError) -> Outcome:
    failures = mem.relay_failures.get(intent.tx_hash, 0) + 1
    mem.relay_failures[intent.tx_hash] = failures
    wait = backoff(deps, failures)
    mem.recovery_due_at = deps.clock.time() + wait
    deps.log.warning("relay_deferred", message=f"Relay of {intent.tx_hash} failed ({exc}); the intent stays "
                     f"open and is tried again in {wait:.1f}s", error_code=exc.code)
    return Outcome(Trigger.RELAY_DEFERRED)


def _close_failed(deps: Deps, mem: Memory, intent: Intent, why: str, verdict: Verdict) -> None:
    mem.failed += 1
    mem.relay_failures.pop(intent.tx_hash, None)
    now = deps.clock.time()
    failed = advance(deps, mem, intent, Status.FAILED, updated_at=now, note=why, verdict=verdict)
    if verdict is Verdict.RELAY_REJECTED:
        schedule_watch(deps, mem, failed, now)
    deps.log.error("tx_failed", message=f"Failed to send transaction {intent.tx_hash}: {why}; nothing was paid",
                   tx_hash=intent.tx_hash)

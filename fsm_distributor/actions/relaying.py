"""Relaying: broadcast the journaled transaction; relaying it twice is harmless."""

from __future__ import annotations

from typing import Optional

from fsm_distributor.actions.shared import close_failed, daemon_knows, defer_send, mark_sent
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import ErrorKind, TxUnknown, WalletError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Verdict
from fsm_distributor.core.ports import Wallet, Where
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
            where = daemon_knows(deps, mem, intent)
            if where is None:
                close_failed(deps, mem, intent, f"relay rejected: {exc}", Verdict.RELAY_REJECTED)
                return Outcome(Trigger.RELAY_REJECTED)
            if where is Where.MISSING:
                close_failed(deps, mem, intent, f"relay rejected ({exc}): another transaction spent its "
                             f"inputs", Verdict.INPUTS_SPENT)
                return Outcome(Trigger.RELAY_REJECTED)
            deps.log.warning("relay_known_to_daemon", message=f"The wallet refused to relay {intent.tx_hash} "
                             f"({exc}) and does not know it, but the daemon has it ({where.value}): it was sent")
    deps.checkpoint("after_relay")
    return Outcome(Trigger.RELAYED, data=mark_sent(deps, mem, intent))


def _wallet_knows(wallet: Wallet, tx_hash: str) -> Optional[bool]:
    """True if the wallet has sent `tx_hash`, False if it has not, None if it cannot say now."""
    try:
        return wallet.transfer_info(tx_hash).type in KNOWN_SENT
    except TxUnknown:
        return False
    except WalletError:
        return None


def _defer(deps: Deps, mem: Memory, intent: Intent, exc: WalletError) -> Outcome:
    defer_send(deps, mem, intent, exc, "relay_deferred", "Relay")
    return Outcome(Trigger.RELAY_DEFERRED)

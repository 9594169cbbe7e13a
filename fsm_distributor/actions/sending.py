"""Sending: one `transfer` from the selected miner's wallet to the recipient."""

from __future__ import annotations

import structlog

from fsm_distributor.amounts import format_xmr, to_float_xmr
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.rpc_errors import WalletError


def send(deps: Deps, ctx: Context) -> Outcome:
    miner, recipient, address = ctx.miner, ctx.recipient, ctx.recipient_address
    assert miner is not None and recipient is not None and address, "Sending entered unprepared"
    ctx.attempt += 1
    structlog.contextvars.bind_contextvars(attempt=ctx.attempt)
    wallet = deps.wallets(*miner.endpoint)
    try:
        if miner.agent_id in ctx.needs_refresh:
            wallet.refresh()
            ctx.needs_refresh.discard(miner.agent_id)
        result = wallet.transfer([(address, ctx.amount)], priority=deps.config.priority)
    except WalletError as exc:
        ctx.error = exc
        deps.log.warning("transfer_attempt_failed", message=f"Transaction attempt {ctx.attempt} failed: {exc}",
                         error_code=exc.code, error_kind=exc.kind.value)
        return Outcome("transfer_failed")
    now = deps.clock.time()
    ctx.last_success_at = now
    ctx.sent += 1
    ctx.miner_failures.pop(miner.agent_id, None)
    ctx.balances.pop(miner.agent_id, None)
    if result.amount != ctx.amount:
        deps.log.warning("amount_mismatch", message=f"Wallet reports {result.amount} atomic units sent, "
                         f"asked {ctx.amount}", tx_hash=result.tx_hash)
    record = {
        "tx_hash": result.tx_hash,
        "sender_id": miner.agent_id,
        "recipient_id": recipient.id,
        "amount": to_float_xmr(ctx.amount),
        "amount_atomic": ctx.amount,
        "fee": result.fee,
        "priority": deps.config.priority,
        "attempts": ctx.attempt,
        "recipient_address": address,
        "distributor_id": deps.agent_id,
        "timestamp": now,
    }
    ctx.unrecorded.append(record)
    structlog.contextvars.bind_contextvars(tx_hash=result.tx_hash)
    deps.log.info("tx_sent", message=f"Transaction sent successfully: {result.tx_hash} "
                  f"(Sent transaction: {miner.agent_id} -> {recipient.id}, {format_xmr(ctx.amount)} XMR)",
                  tx_hash=result.tx_hash, amount_atomic=ctx.amount, fee=result.fee)
    return Outcome("transfer_ok")

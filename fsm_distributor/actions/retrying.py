"""Retrying: turn a failed transfer's error kind into the trigger that handles it."""

from __future__ import annotations

from fsm_distributor.actions.miner_selection import cool_down
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.rpc_errors import ErrorKind


def backoff(deps: Deps, attempt: int) -> float:
    """Exponential, capped, with 'equal jitter' from the seeded RNG (reproducible)."""
    ceiling = min(deps.config.backoff_cap, deps.config.backoff_base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + float(deps.rng.uniform(0, ceiling / 2))


def retries_left(deps: Deps, ctx: Context) -> bool:
    return ctx.attempt < deps.config.max_retries


def handle_failure(deps: Deps, ctx: Context) -> Outcome:
    error, miner, recipient = ctx.error, ctx.miner, ctx.recipient
    assert error is not None and miner is not None, "Retrying without a failure"
    kind = error.kind
    if kind in (ErrorKind.TRANSIENT, ErrorKind.WALLET_CLOSED, ErrorKind.REJECTED):
        if kind is ErrorKind.REJECTED:
            ctx.needs_refresh.add(miner.agent_id)  # build again from a refreshed wallet
        if retries_left(deps, ctx):
            delay = backoff(deps, ctx.attempt)
            deps.log.info("retry_scheduled", message=f"Retrying in {delay:.2f}s after: {error}",
                          delay=delay, error_code=error.code)
            return Outcome("retry", delay=delay)
        _failed(deps, ctx, f"after {ctx.attempt} attempts: {error}")
        cool_down(deps, ctx, miner, reason=f"{ctx.attempt} attempts failed")
        return Outcome("retry")  # the table's `unless retries_left` branch: back to Idle
    if kind is ErrorKind.LOCKED:
        ctx.needs_refresh.add(miner.agent_id)
        cool_down(deps, ctx, miner, reason=f"coins locked ({error.code}): waiting for blocks",
                  seconds=deps.config.balance_check_interval)
        return Outcome("miner_locked")
    if kind is ErrorKind.NO_FUNDS:
        ctx.excluded_miners.add(miner.agent_id)
        deps.log.info("miner_broke", message=f"Miner {miner.agent_id} cannot pay: {error}")
        return Outcome("miner_broke")
    if kind is ErrorKind.BAD_REQUEST and recipient is not None and not ctx.batch:
        ctx.excluded_recipients.add(recipient.id)
        if ctx.recipient_address:
            ctx.rejected_addresses[recipient.id] = ctx.recipient_address
        ctx.address_cache.pop(recipient.id, None)
        _failed(deps, ctx, f"recipient {recipient.id} rejected: {error}")
        return Outcome("recipient_rejected")
    _failed(deps, ctx, f"permanent error: {error}")
    return Outcome("give_up", delay=deps.config.balance_check_interval)


def _failed(deps: Deps, ctx: Context, why: str) -> None:
    ctx.failed += 1
    deps.log.error("tx_failed", message=f"Failed to send transaction {why}", error_code=ctx.error.code,
                   error_kind=ctx.error.kind.value)

"""Retrying: turn a failed transfer's error kind into the trigger that handles it."""

from __future__ import annotations

from fsm_distributor.actions.shared import backoff, cool_down, cycle_wait
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import FailedBuild
from fsm_distributor.core.errors import ErrorKind, WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.states import Outcome, Trigger


def handle_failure(deps: Deps, mem: Memory, failed: FailedBuild) -> Outcome:
    error, payment = failed.error, failed.payment
    cycle, miner = payment.cycle, payment.miner
    kind = error.kind
    if kind in (ErrorKind.TRANSIENT, ErrorKind.WALLET_CLOSED, ErrorKind.REJECTED):
        if kind is ErrorKind.REJECTED:
            mem.needs_refresh.add(miner.agent_id)  # build again from a refreshed wallet
        # The table sends `retry` back to Building while the payment has retries left (decided by
        # Building when it made this attempt), else to Idle: this only does each branch's side.
        if payment.retries_left:
            delay = backoff(deps, payment.attempt)
            deps.log.info("retry_scheduled", message=f"Retrying in {delay:.2f}s after: {error}",
                          delay=delay, error_code=error.code)
            return Outcome(Trigger.RETRY, delay=delay, data=payment)
        _failed(deps, mem, error, f"after {payment.attempt} attempts: {error}")
        cool_down(deps, mem, cycle, miner, reason=f"{payment.attempt} attempts failed")
        return Outcome(Trigger.RETRY, data=payment)
    if kind is ErrorKind.LOCKED:
        mem.needs_refresh.add(miner.agent_id)
        cool_down(deps, mem, cycle, miner, reason=f"coins locked ({error.code}): waiting for blocks",
                  seconds=deps.config.balance_check_interval)
        return Outcome(Trigger.MINER_LOCKED, data=cycle)
    if kind is ErrorKind.NO_FUNDS:
        cycle.excluded_miners.add(miner.agent_id)
        deps.log.info("miner_broke", message=f"Miner {miner.agent_id} cannot pay: {error}")
        return Outcome(Trigger.MINER_BROKE, data=cycle)
    if kind is ErrorKind.BAD_REQUEST and not cycle.batch:
        recipient = payment.destinations[0]
        cycle.excluded_recipients.add(recipient.recipient)
        mem.rejected_addresses[recipient.recipient] = recipient.address
        mem.address_cache.pop(recipient.recipient, None)
        _failed(deps, mem, error, f"recipient {recipient.recipient} rejected: {error}")
        return Outcome(Trigger.RECIPIENT_REJECTED, data=payment.payer)
    _failed(deps, mem, error, f"permanent error: {error}")
    return Outcome(Trigger.GIVE_UP, delay=cycle_wait(cycle, deps.config.balance_check_interval))


def _failed(deps: Deps, mem: Memory, error: WalletError, why: str) -> None:
    mem.failed += 1
    deps.log.error("tx_failed", message=f"Failed to send transaction {why}", error_code=error.code,
                   error_kind=error.kind.value)

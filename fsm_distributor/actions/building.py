"""Building: sign the transfer without relaying it, so nothing leaves the wallet yet."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import structlog

from fsm_distributor.actions.shared import payment_priority, scheduled_unlock_time, wallet_of
from fsm_distributor.core import network
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Built, FailedBuild, Payment
from fsm_distributor.core.errors import BadAnswer, WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.ports import Transfer, Wallet
from fsm_distributor.states import Outcome, Trigger


def build(deps: Deps, mem: Memory, payment: Payment) -> Outcome:
    """A failed build is safe to retry: an unrelayed transaction spends nothing."""
    payment = payment.attempted(deps.config.max_retries)
    miner = payment.miner
    structlog.contextvars.bind_contextvars(attempt=payment.attempt)
    try:
        wallet = wallet_of(deps, miner)
        _learn_sender_address(deps, mem, wallet, miner.agent_id)
        if miner.agent_id in mem.needs_refresh:
            wallet.refresh()
            mem.needs_refresh.discard(miner.agent_id)
        priority = payment_priority(deps, payment)
        unlock_time = scheduled_unlock_time(deps, wallet, payment)
        if unlock_time:
            built = wallet.transfer(payment.destinations, priority=priority, do_not_relay=True,
                                    unlock_time=unlock_time)
        else:
            built = wallet.transfer(payment.destinations, priority=priority, do_not_relay=True)
        if not built.tx_metadata:
            raise BadAnswer("transfer", "no tx_metadata in the answer to a do_not_relay build")
    except WalletError as exc:
        deps.log.warning("build_failed", message=f"Transaction attempt {payment.attempt} failed: {exc}",
                         error_code=exc.code, error_kind=exc.kind.value)
        return Outcome(Trigger.BUILD_FAILED, data=FailedBuild(payment, exc))
    deps.log.debug("tx_built", message=f"Built {built.tx_hash} (not relayed)", tx_hash=built.tx_hash,
                   fee=built.fee)
    refused = _fee_refused(deps, payment, built)
    if refused is not None:
        return refused
    deps.checkpoint("after_build")
    return Outcome(Trigger.BUILT, data=Built(payment, built, unlock_time))


def _fee_refused(deps: Deps, payment: Payment, built: Transfer) -> Optional[Outcome]:
    """issue 11, fee sanity: a single payment whose fee exceeds max_fee_fraction of its amount is
    dropped before relay.  Nothing was journaled and an unrelayed build reserves nothing, so
    nothing is paid and the miner is free at once; the amount is raised within [min, max] when
    that makes the fee acceptable (not for topup, whose amount is what the recipient lacks)."""
    cfg = deps.config
    if payment.cycle.batch or payment.cycle.scheduled is not None or len(payment.destinations) != 1:
        return None  # a batch's and a schedule's amounts are what they were asked to be
    [destination] = payment.destinations
    if network.fee_within(built.fee, destination.amount, cfg.max_fee_fraction):
        return None
    raised = network.amount_for_fee(built.fee, cfg.max_fee_fraction)
    can_raise = (cfg.amount_strategy != "topup" and destination.amount < raised <= cfg.max_amount
                 and raised + built.fee <= payment.payer.balance.unlocked)
    figures = dict(fee=built.fee, amount_atomic=destination.amount, max_fee_fraction=float(cfg.max_fee_fraction),
                   fee_ratio=round(built.fee / destination.amount, 6), tx_hash=built.tx_hash)
    if can_raise:
        deps.log.warning("fee_refused", message=f"Fee {format_xmr(built.fee)} XMR is more than max_fee_fraction "
                         f"{float(cfg.max_fee_fraction):g} of {format_xmr(destination.amount)} XMR: build {built.tx_hash} "
                         f"dropped (not relayed, nothing paid); building {format_xmr(raised)} XMR instead",
                         raised_to=raised, **figures)
        structlog.contextvars.bind_contextvars(amount=raised)
        again = replace(payment, destinations=(destination._replace(amount=raised),), attempt=0, retries_left=True)
        return Outcome(Trigger.AMOUNT_RAISED, data=again)
    wait = cfg.balance_check_interval
    deps.log.warning("fee_refused", message=f"Failed to send: fee {format_xmr(built.fee)} XMR is more than "
                     f"max_fee_fraction {float(cfg.max_fee_fraction):g} of {format_xmr(destination.amount)} XMR: build "
                     f"{built.tx_hash} dropped (not relayed, nothing paid); waiting {wait:g}s", **figures)
    return Outcome(Trigger.FEE_REFUSED, delay=wait)


def _learn_sender_address(deps: Deps, mem: Memory, wallet: Wallet, miner_id: str) -> None:
    """Which wallet pays: journaled with each intent, so a wallet swapped later is noticed."""
    if miner_id in mem.sender_addresses:
        return
    try:
        mem.sender_addresses[miner_id] = wallet.get_address()
    except WalletError as exc:
        deps.log.debug("sender_address_unknown", message=f"Could not ask miner {miner_id}'s wallet for its "
                       f"address ({exc}); asked again at its next build")

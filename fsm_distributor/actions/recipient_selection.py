"""SelectingRecipient: random | round_robin over agents with a wallet, then find the address."""

from __future__ import annotations

from typing import Optional

import structlog

from fsm_distributor.actions.shared import cycle_wait, holding_of, resolve_address, treasury_signers
from fsm_distributor.core import network
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Payer, Payment, Scheduled
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.registry import Agent, Snapshot
from fsm_distributor.states import Outcome, Trigger


def eligible(deps: Deps, mem: Memory, payer: Payer) -> list[Agent]:
    """Agents with a wallet, other than this agent and the paying miner, not skipped this cycle,
    in registry order."""
    if mem.snapshot is None:
        return []
    excluded = {deps.agent_id, payer.miner.agent_id} | payer.cycle.excluded_recipients | treasury_signers(deps)
    return [a for a in mem.snapshot.with_wallet if a.id not in excluded]


def select_recipient(deps: Deps, mem: Memory, payer: Payer) -> Outcome:
    scheduled = payer.cycle.scheduled
    if scheduled is not None and scheduled.recipient:
        return _named(deps, mem, payer, scheduled)
    pool = eligible(deps, mem, payer)
    if not pool:
        wait = cycle_wait(payer.cycle, deps.config.balance_check_interval)
        deps.log.warning("no_recipient", message=f"No eligible recipient; waiting {wait:g}s",
                         skipped=sorted(payer.cycle.excluded_recipients))
        return Outcome(Trigger.NO_RECIPIENT, delay=wait)
    recipient = _pick(deps, mem, pool, scheduled)
    amount = payer.amount
    if deps.config.amount_strategy == "topup" and scheduled is None:  # a schedule's amount is its entry's
        topped = _topup(deps, mem, recipient)
        if topped is None:
            payer.cycle.excluded_recipients.add(recipient.id)
            return Outcome(Trigger.RECIPIENT_FULL, data=payer)
        amount = topped
    address = resolve_address(deps, mem, payer.miner, recipient)
    if address is None:
        payer.cycle.excluded_recipients.add(recipient.id)
        return Outcome(Trigger.RECIPIENT_UNREACHABLE, data=payer)
    structlog.contextvars.bind_contextvars(recipient=recipient.id)
    payment = Payment(payer, (Destination(recipient.id, address, amount),))
    return Outcome(Trigger.RECIPIENT_SELECTED, data=payment)


def _topup(deps: Deps, mem: Memory, recipient: Agent) -> Optional[int]:
    """issue 11, topup: target_balance - what the recipient holds, within [min, max]; None: it holds the
    target (within min_transaction_amount) and is not paid."""
    cfg = deps.config
    holding = holding_of(deps, mem, recipient)
    amount = network.topup_amount(cfg.target_balance, holding.held, cfg.min_amount, cfg.max_amount)
    figures = dict(recipient=recipient.id, held=holding.held, balance=holding.balance, in_flight=holding.in_flight,
                   source=holding.source, target_balance=cfg.target_balance)
    if amount is None:
        deps.log.info("recipient_full", message=f"Recipient {recipient.id} holds {format_xmr(holding.held)} XMR "
                      f"({holding.source}, {format_xmr(holding.in_flight)} of it in flight from this agent): within "
                      f"min_transaction_amount of target_balance {format_xmr(cfg.target_balance)}; not paid", **figures)
        return None
    structlog.contextvars.bind_contextvars(amount=amount)
    deps.log.info("topup", message=f"Topping {recipient.id} up by {format_xmr(amount)} XMR: it holds "
                  f"{format_xmr(holding.held)} of {format_xmr(cfg.target_balance)} ({holding.source}, "
                  f"{format_xmr(holding.in_flight)} in flight from this agent)", amount_atomic=amount, **figures)
    return amount


def _pick(deps: Deps, mem: Memory, pool: list[Agent], scheduled: Optional[Scheduled] = None) -> Agent:
    if scheduled is not None:  # a schedule entry's `to`: random | round_robin, its own rotation
        if scheduled.to == "round_robin" and mem.snapshot is not None:
            last = mem.scheduled_index().last_recipient.get(scheduled.schedule_id)
            return _first_after(mem.snapshot, pool, last)
        return pool[int(deps.rng.integers(len(pool)))]
    if deps.config.recipient_strategy == "round_robin" and mem.snapshot is not None:
        return _next_after(mem, mem.snapshot, pool)
    return pool[int(deps.rng.integers(len(pool)))]


def _next_after(mem: Memory, snapshot: Snapshot, pool: list[Agent]) -> Agent:
    """The first eligible agent after the last one served, in registry order, wrapping.

    A cursor on the agent id (not an index) keeps the rotation fair when
    agents join, leave or are skipped.
    """
    chosen = _first_after(snapshot, pool, mem.round_robin_last)
    mem.round_robin_last = chosen.id
    return chosen


def _first_after(snapshot: Snapshot, pool: list[Agent], last_id: Optional[str]) -> Agent:
    index = snapshot.registry_index
    last = index.get(last_id, -1) if last_id is not None else -1
    return next((a for a in pool if index[a.id] > last), pool[0])


def _named(deps: Deps, mem: Memory, payer: Payer, scheduled: Scheduled) -> Outcome:
    """The recipient a schedule entry names (issue 12): unknown or unusable, the occurrence waits and is
    tried again at its next due time, with a line saying why."""
    wait = deps.config.balance_check_interval
    agents = {a.id: a for a in mem.snapshot.with_wallet} if mem.snapshot else {}
    agent = agents.get(scheduled.recipient)
    if agent is None or agent.id in payer.cycle.excluded_recipients:
        why = ("it has no usable address this cycle" if agent is not None else
               "it is not in the registry with a wallet")
        deps.log.warning("schedule_recipient_unknown", message=f"Scheduled payment {scheduled} cannot pay "
                         f"{scheduled.recipient}: {why}; tried again in {wait:g}s", recipient=scheduled.recipient)
        return Outcome(Trigger.NO_RECIPIENT, delay=cycle_wait(payer.cycle, wait))
    address = resolve_address(deps, mem, payer.miner, agent)
    if address is None:
        payer.cycle.excluded_recipients.add(agent.id)
        return Outcome(Trigger.RECIPIENT_UNREACHABLE, data=payer)
    structlog.contextvars.bind_contextvars(recipient=agent.id)
    return Outcome(Trigger.RECIPIENT_SELECTED, data=Payment(payer, (Destination(agent.id, address,
                                                                                payer.cycle.amount),)))

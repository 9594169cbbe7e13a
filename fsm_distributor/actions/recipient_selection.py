"""SelectingRecipient: random | round_robin over agents with a wallet, then find the address."""

from __future__ import annotations

import structlog

from fsm_distributor.actions.shared import resolve_address, treasury_signers
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Payer, Payment
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
    pool = eligible(deps, mem, payer)
    if not pool:
        wait = deps.config.balance_check_interval
        deps.log.warning("no_recipient", message=f"No eligible recipient; waiting {wait:g}s",
                         skipped=sorted(payer.cycle.excluded_recipients))
        return Outcome(Trigger.NO_RECIPIENT, delay=wait)
    recipient = _pick(deps, mem, pool)
    address = resolve_address(deps, mem, payer.miner, recipient)
    if address is None:
        payer.cycle.excluded_recipients.add(recipient.id)
        return Outcome(Trigger.RECIPIENT_UNREACHABLE, data=payer)
    structlog.contextvars.bind_contextvars(recipient=recipient.id)
    payment = Payment(payer, (Destination(recipient.id, address, payer.cycle.amount),))
    return Outcome(Trigger.RECIPIENT_SELECTED, data=payment)


def _pick(deps: Deps, mem: Memory, pool: list[Agent]) -> Agent:
    if deps.config.recipient_strategy == "round_robin" and mem.snapshot is not None:
        return _next_after(mem, mem.snapshot, pool)
    return pool[int(deps.rng.integers(len(pool)))]


def _next_after(mem: Memory, snapshot: Snapshot, pool: list[Agent]) -> Agent:
    """The first eligible agent after the last one served, in registry order, wrapping.

    A cursor on the agent id (not an index) keeps the rotation fair when
    agents join, leave or are skipped.
    """
    index = snapshot.registry_index
    last = index.get(mem.round_robin_last, -1) if mem.round_robin_last is not None else -1
    chosen = next((a for a in pool if index[a.id] > last), pool[0])
    mem.round_robin_last = chosen.id
    return chosen

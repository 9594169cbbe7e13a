"""Idle: wait until the next send is due (the seed's timing rule)."""

from __future__ import annotations

import structlog

from fsm_distributor.context import Context, Deps, Outcome


def idle(deps: Deps, ctx: Context) -> Outcome:
    """Flush unrecorded records first; then wake once `transaction_frequency` has passed."""
    if ctx.unrecorded:
        return Outcome("flush_records")
    now = deps.clock.time()
    due = now if ctx.last_success_at is None else ctx.last_success_at + deps.config.transaction_frequency
    if now < due:
        return Outcome("keep_waiting", delay=due - now)
    amount = draw_amount(deps)
    ctx.new_cycle(amount)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(cycle=ctx.cycles, amount=amount)
    return Outcome("wake")


def draw_amount(deps: Deps) -> int:
    """Uniform over [min, max] in whole atomic units: exact, no float in between."""
    low, high = deps.config.min_amount, deps.config.max_amount
    return int(deps.rng.integers(low, high, endpoint=True))

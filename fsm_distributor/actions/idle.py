"""Idle: decide what is due next: recovery, verification, or a new send."""

from __future__ import annotations

import structlog

from fsm_distributor.context import Context, Deps, Outcome


def idle(deps: Deps, ctx: Context) -> Outcome:
    """Open intents first, then checks of recorded transactions, then the seed's timing rule:
    a send is due `transaction_frequency` seconds after the last successful one."""
    now = deps.clock.time()
    has_open = bool(ctx.open_intents())
    if has_open and ctx.recovery_due_at <= now:
        return Outcome("recover")
    next_check = min(ctx.verify_due_at.values(), default=None)
    if next_check is not None and next_check <= now:
        return Outcome("verify")
    due = now if ctx.last_success_at is None else ctx.last_success_at + deps.config.transaction_frequency
    if now >= due:
        amount = draw_amount(deps)
        ctx.new_cycle(amount)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(cycle=ctx.cycles, amount=amount)
        return Outcome("wake")
    wake_at = [due] + ([ctx.recovery_due_at] if has_open else []) + ([next_check] if next_check else [])
    return Outcome("keep_waiting", delay=min(wake_at) - now)


def draw_amount(deps: Deps) -> int:
    """Uniform over [min, max] in whole atomic units: exact, no float in between."""
    low, high = deps.config.min_amount, deps.config.max_amount
    return int(deps.rng.integers(low, high, endpoint=True))

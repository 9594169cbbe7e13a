"""Idle: decide what is due next: recovery, verification, a funding batch or a payment."""

from __future__ import annotations

from itertools import chain

import numpy as np
import structlog

from fsm_distributor import funding
from fsm_distributor.actions.batch_planning import CYCLE, INITIAL, finish_initial_funding
from fsm_distributor.context import Context, Deps, Outcome


def idle(deps: Deps, ctx: Context) -> Outcome:
    """Open intents first, then checks of recorded transactions, then new work.

    New work is initial funding while it lasts (Monerosim's distributor),
    then either the seed's single payments, due `transaction_frequency`
    seconds after the last success, or a funding batch every
    `md_funding_cycle_interval` (config.distribution_mode).
    """
    now = deps.clock.time()
    cfg = deps.config
    if not ctx.journal_loaded:  # nothing new before the journal (or its rebuild) is loaded
        if ctx.recovery_due_at <= now:
            return Outcome("recover")
        return Outcome("keep_waiting", delay=ctx.recovery_due_at - now)
    has_open = bool(ctx.open_intents())
    if has_open and ctx.recovery_due_at <= now:
        return Outcome("recover")
    next_check = min(chain(ctx.verify_due_at.values(), ctx.watch_due_at.values()), default=None)
    if next_check is not None and next_check <= now:
        return Outcome("verify")
    if _initial_funding_active(deps, ctx, now):
        due, purpose = ctx.next_funding_at, INITIAL
    elif cfg.distribution_mode == "funding_cycle":
        due, purpose = ctx.next_funding_at, CYCLE
    else:
        due = now if ctx.last_success_at is None else ctx.last_success_at + cfg.transaction_frequency
        purpose = "distribution"
    if now >= due:
        _start_cycle(deps, ctx, purpose)
        return Outcome("wake" if purpose == "distribution" else "fund")
    wake_at = [due] + ([ctx.recovery_due_at] if has_open else []) + ([next_check] if next_check else [])
    return Outcome("keep_waiting", delay=min(wake_at) - now)


def _initial_funding_active(deps: Deps, ctx: Context, now: float) -> bool:
    if not deps.config.initial_funding or ctx.funding_done:
        return False
    if ctx.funding_started_at is None:
        ctx.funding_started_at = now
    if now - ctx.funding_started_at > deps.config.max_wait_time:
        deps.log.error("funding_wait_exceeded", message=f"Initial funding still incomplete after max_wait_time "
                       f"({deps.config.max_wait_time:g}s); going on with the regular distribution")
        finish_initial_funding(deps, ctx, completed=False, timed_out=True)
        return False
    return True


def _start_cycle(deps: Deps, ctx: Context, purpose: str) -> None:
    cfg = deps.config
    if purpose == "distribution":
        amount = draw_amount(deps)
    else:
        # Until the batch succeeds, look again after balance_check_interval (Monerosim's rule);
        # Recording moves this forward (initial funding: at once; cycles: the cycle interval).
        ctx.next_funding_at = deps.clock.time() + cfg.balance_check_interval
        # CheckingBalance asks for amount + fee_reserve: one recipient's outputs + the batch reserve.
        amount = funding.cost_per_recipient(cfg) + funding.batch_fee_reserve(cfg) - cfg.fee_reserve
    ctx.new_cycle(amount, purpose)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(cycle=ctx.cycles, amount=amount, purpose=purpose)


#: numpy's default integers are int64; amounts go up to the wallet's uint64.
_INT64_MAX = 2**63 - 1


def draw_amount(deps: Deps) -> int:
    """Uniform over [min, max] in whole atomic units: exact, no float in between.

    Above int64 (9223372.036854775807 XMR) the draw is made as uint64, which
    covers every amount a wallet accepts; below it the int64 draw is kept, so
    the same seed gives the same amounts as ever.
    """
    low, high = deps.config.min_amount, deps.config.max_amount
    if high <= _INT64_MAX:
        return int(deps.rng.integers(low, high, endpoint=True))
    return int(deps.rng.integers(low, high, endpoint=True, dtype=np.uint64))

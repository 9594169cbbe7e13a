"""Idle: decide what is due next: recovery, verification, a funding batch or a payment."""

from __future__ import annotations

from itertools import chain

import numpy as np
import structlog

from fsm_distributor.actions.shared import finish_initial_funding
from fsm_distributor.core import funding
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose
from fsm_distributor.states import Outcome, Trigger


def idle(deps: Deps, mem: Memory, _: None) -> Outcome:
    """Open intents first, then checks of recorded transactions, then new work.

    New work is initial funding while it lasts (Monerosim's distributor),
    then either the seed's single payments, due `transaction_frequency`
    seconds after the last success, or a funding batch every
    `md_funding_cycle_interval` (config.distribution_mode).
    """
    now = deps.clock.time()
    cfg = deps.config
    if not mem.journal_loaded:  # nothing new before the journal (or its rebuild) is loaded
        if mem.recovery_due_at <= now:
            return Outcome(Trigger.RECOVER)
        return Outcome(Trigger.KEEP_WAITING, delay=mem.recovery_due_at - now)
    has_open = bool(mem.open_intents())
    if has_open and mem.recovery_due_at <= now:
        return Outcome(Trigger.RECOVER)
    next_check = min(chain(mem.verify_due_at.values(), mem.watch_due_at.values()), default=None)
    if next_check is not None and next_check <= now:
        return Outcome(Trigger.VERIFY)
    if _initial_funding_active(deps, mem, now):
        due, purpose = mem.next_funding_at, Purpose.INITIAL_FUNDING
    elif cfg.distribution_mode == "funding_cycle":
        due, purpose = mem.next_funding_at, Purpose.FUNDING_CYCLE
    else:
        due = now if mem.last_success_at is None else mem.last_success_at + cfg.transaction_frequency
        purpose = Purpose.DISTRIBUTION
    if now >= due:
        cycle = _start_cycle(deps, mem, purpose)
        return Outcome(Trigger.FUND if purpose.batch else Trigger.WAKE, data=cycle)
    wake_at = [due] + ([mem.recovery_due_at] if has_open else []) + ([next_check] if next_check else [])
    return Outcome(Trigger.KEEP_WAITING, delay=min(wake_at) - now)


def _initial_funding_active(deps: Deps, mem: Memory, now: float) -> bool:
    if not deps.config.initial_funding or mem.funding_done:
        return False
    if mem.funding_started_at is None:
        mem.funding_started_at = now
    if now - mem.funding_started_at > deps.config.max_wait_time:
        deps.log.error("funding_wait_exceeded", message=f"Initial funding still incomplete after max_wait_time "
                       f"({deps.config.max_wait_time:g}s); going on with the regular distribution")
        finish_initial_funding(deps, mem, completed=False, timed_out=True)
        return False
    return True


def _start_cycle(deps: Deps, mem: Memory, purpose: Purpose) -> Cycle:
    cfg = deps.config
    structlog.contextvars.clear_contextvars()
    if purpose.batch:
        # Until the batch succeeds, look again after balance_check_interval (Monerosim's rule);
        # Recording moves this forward (initial funding: at once; cycles: the cycle interval).
        mem.next_funding_at = deps.clock.time() + cfg.balance_check_interval
        mem.cycles += 1
        structlog.contextvars.bind_contextvars(cycle=mem.cycles, purpose=purpose)
        return Cycle(mem.cycles, purpose, need=funding.cost_per_recipient(cfg) + funding.batch_fee_reserve(cfg))
    amount = draw_amount(deps)
    mem.cycles += 1
    structlog.contextvars.bind_contextvars(cycle=mem.cycles, amount=amount, purpose=purpose)
    # topup and sustainable (issue 11) decide the amount later, within [min, max]: ask for the most.
    most = amount if cfg.amount_strategy == "uniform" else cfg.max_amount
    return Cycle(mem.cycles, purpose, need=most + cfg.fee_reserve, amount=amount)


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

"""Idle: decide what is due next: recovery, verification, a scheduled payment, a funding batch or a payment."""

from __future__ import annotations

from itertools import chain
from typing import Optional

import structlog

from fsm_distributor.actions.shared import finish_initial_funding
from fsm_distributor.core import funding, multisig, schedule
from fsm_distributor.core.amounts import draw_atomic, format_xmr
from fsm_distributor.core.config import DEFAULT_FEE_RESERVE
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle, Scheduled
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose
from fsm_distributor.core.schedule import Occurrence
from fsm_distributor.states import Outcome, Trigger


def idle(deps: Deps, mem: Memory, _: None) -> Outcome:
    """Open intents first, then checks of recorded transactions, then new work.

    New work is a due scheduled occurrence first (the `schedule` attribute),
    then initial funding while it lasts (Monerosim's distributor), then either
    the seed's single payments, due `transaction_frequency` seconds after the
    last success (none when it is `off`), or a funding batch every
    `md_funding_cycle_interval` (config.distribution_mode).
    """
    now = deps.clock.time()
    cfg = deps.config
    if not mem.journal_loaded:  # nothing new before the journal (or its rebuild) is loaded
        if mem.recovery_due_at <= now:
            return Outcome(Trigger.RECOVER)
        return Outcome(Trigger.KEEP_WAITING, delay=mem.recovery_due_at - now)
    has_open = bool(mem.open_intents()) or bool(mem.treasury.open_txsets())
    if has_open and mem.recovery_due_at <= now:
        return Outcome(Trigger.RECOVER)
    next_check = min(chain(mem.verify_due_at.values(), mem.watch_due_at.values()), default=None)
    if next_check is not None and next_check <= now:
        return Outcome(Trigger.VERIFY)
    treasury_due: list[float] = []
    if cfg.multisig_mode != "off":  # multisig treasury (issue 13): its set-up and upkeep come first
        work = _treasury_work(deps, mem, now, treasury_due)
        if work is not None:
            return work
    occurrence, schedule_wake, scheduled_from_treasury = None, None, False
    if mem.schedule_anchor is not None:  # a schedule is configured (issue 12)
        occurrence, schedule_wake = _schedule_due(deps, mem, mem.schedule_anchor, now)
        if occurrence is not None:
            pays = _treasury_pays_scheduled(deps, mem, occurrence)
            if pays is None:  # waits for the treasury, without holding other due work back
                retry = mem.schedule_retry_at[occurrence.key] = now + cfg.balance_check_interval
                occurrence, schedule_wake = None, min(retry, schedule_wake if schedule_wake is not None else retry)
            scheduled_from_treasury = bool(pays)
        if occurrence is not None and occurrence.key not in mem.schedule_retry_at:
            return Outcome(Trigger.SCHEDULED, data=_start_scheduled(deps, mem, occurrence, now,
                                                                    scheduled_from_treasury))
    due: Optional[float]
    if _initial_funding_active(deps, mem, now):
        due, purpose = mem.next_funding_at, Purpose.INITIAL_FUNDING
    elif cfg.distribution_mode == "funding_cycle":
        due, purpose = mem.next_funding_at, Purpose.FUNDING_CYCLE
    elif cfg.transaction_frequency is None:  # off: a run that does only what its schedule says
        due, purpose = None, Purpose.DISTRIBUTION
    else:
        due = now if mem.last_success_at is None else mem.last_success_at + cfg.transaction_frequency
        purpose = Purpose.DISTRIBUTION
    if due is not None and now >= due:
        from_treasury = _treasury_pays(deps, mem, purpose)
        if from_treasury is None:  # the payment waits for the treasury
            due = now + cfg.balance_check_interval
        else:
            cycle = _start_cycle(deps, mem, purpose, from_treasury)
            return Outcome(Trigger.FUND if purpose.batch else Trigger.WAKE, data=cycle)
    if occurrence is not None:  # tried before and could not pay: after the other due work
        return Outcome(Trigger.SCHEDULED, data=_start_scheduled(deps, mem, occurrence, now, scheduled_from_treasury))
    wake_at = ([due] if due is not None else []) + ([mem.recovery_due_at] if has_open else []) + (
        [next_check] if next_check else []) + ([schedule_wake] if schedule_wake is not None else []) + treasury_due
    delay = min(wake_at) - now if wake_at else cfg.balance_check_interval
    if cfg.schedule.path:  # a schedule file is looked at again at least this often (edits at run time)
        delay = min(delay, cfg.balance_check_interval)
    return Outcome(Trigger.KEEP_WAITING, delay=delay)


# ---------------------------------------------------------------- multisig treasury (issue 13)


def _treasury_work(deps: Deps, mem: Memory, now: float, due: list[float]) -> Optional[Outcome]:
    """Set the treasury up (or resume its set-up) when it is not ready; look at its balance when due.
    Appends to `due` when that work is next due."""
    treasury = mem.treasury
    setup = treasury.current()
    if setup is None or not setup.ready:
        if treasury.discards >= multisig.MAX_DISCARDS:
            return None
        if treasury.setup_due_at <= now:
            setup = setup or multisig.new_setup(deps.config, deps.agent_id, treasury.next_generation(), now)
            return Outcome(Trigger.SET_UP_TREASURY, data=setup)
        due.append(treasury.setup_due_at)
        return None
    if treasury.tend_due_at <= now:
        return Outcome(Trigger.TEND_TREASURY)
    due.append(treasury.tend_due_at)
    return None


def _treasury_pays(deps: Deps, mem: Memory, purpose: Purpose) -> Optional[bool]:
    """Whether the treasury pays this cycle; None: the payment waits for it (multisig_mode says the
    treasury pays it, and it is not ready, or busy with its last spend)."""
    cfg = deps.config
    if not multisig.pays(cfg, purpose):
        return False
    ready = mem.treasury.ready() is not None
    busy = ready and multisig.busy(deps.agent_id, mem.open_intents(), mem.unconfirmed(), mem.treasury)
    if purpose.batch:  # funding batches: from the treasury once it can pay one, else from the miners
        need = funding.cost_per_recipient(cfg) + funding.batch_fee_reserve(cfg)
        return ready and not busy and mem.treasury.unlocked >= need
    if ready and not busy:
        mem.told.discard("treasury_wait")
        return True
    if "treasury_wait" not in mem.told:
        mem.told.add("treasury_wait")
        why = "not ready yet" if not ready else "busy with its last spend (until it is in a block)"
        deps.log.info("payment_waits_for_treasury", message=f"The next payment comes from the multisig treasury, "
                      f"which is {why}; waiting", reason="busy" if ready else "not_ready")
    return None


def _treasury_pays_scheduled(deps: Deps, mem: Memory, occurrence: Occurrence) -> Optional[bool]:
    """A scheduled occurrence comes from the treasury as a single payment does (multisig_mode payments
    or all), unless its entry names a miner: that miner pays it.  None: it waits for the treasury.

    An occurrence whose set still gathers signatures is not taken yet (its intent is written once
    the set is signed) but is never started again: the treasury is busy while any set is open."""
    if occurrence.entry.miner:
        return False
    return _treasury_pays(deps, mem, Purpose.SCHEDULED)


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


def _start_cycle(deps: Deps, mem: Memory, purpose: Purpose, from_treasury: bool = False) -> Cycle:
    cfg = deps.config
    structlog.contextvars.clear_contextvars()
    if purpose.batch:
        # Until the batch succeeds, look again after balance_check_interval (Monerosim's rule);
        # Recording moves this forward (initial funding: at once; cycles: the cycle interval).
        mem.next_funding_at = deps.clock.time() + cfg.balance_check_interval
        mem.cycles += 1
        structlog.contextvars.bind_contextvars(cycle=mem.cycles, purpose=purpose)
        return Cycle(mem.cycles, purpose, need=funding.cost_per_recipient(cfg) + funding.batch_fee_reserve(cfg),
                     from_treasury=from_treasury)
    amount = draw_amount(deps)
    mem.cycles += 1
    structlog.contextvars.bind_contextvars(cycle=mem.cycles, amount=amount, purpose=purpose)
    # topup and sustainable (issue 11) decide the amount later, within [min, max]: ask for the most.
    most = amount if cfg.amount_strategy == "uniform" else cfg.max_amount
    return Cycle(mem.cycles, purpose, need=most + cfg.fee_reserve, amount=amount, from_treasury=from_treasury)


def draw_amount(deps: Deps) -> int:
    """Uniform over [min_transaction_amount, max_transaction_amount] in whole atomic units (exact)."""
    return draw_atomic(deps.rng, deps.config.min_amount, deps.config.max_amount)


# -- scheduled payments (issue 12) ----------------------------------------------------------------


def _schedule_due(deps: Deps, mem: Memory, anchor: float, now: float) -> tuple[Optional[Occurrence], Optional[float]]:
    """The scheduled occurrence to pay now, else when the next one is due (core.schedule.plan)."""
    _read_schedule(deps, mem)
    index = mem.scheduled_index()
    for key in [k for k in mem.schedule_retry_at if k[1] in index.taken.get(k[0], ())]:
        del mem.schedule_retry_at[key]  # journaled meanwhile: its wait is over
    started = mem.started_at if mem.started_at is not None else now
    plan = schedule.plan(mem.schedule, anchor=anchor, started_at=started, now=now, taken=index.taken,
                         retry_at=mem.schedule_retry_at, skip_missed=deps.config.schedule_missed == "skip")
    for missed in plan.skipped:
        told = f"schedule_skipped:{missed.entry.id}:{missed.first}:{missed.last}:{missed.count}"
        if told not in mem.told:
            mem.told.add(told)
            span = f"#{missed.first}" if missed.first == missed.last else f"#{missed.first}-#{missed.last}"
            deps.log.warning("schedule_skipped", message=f"Scheduled payment {missed.entry.id}: {missed.count} "
                             f"occurrence(s) {span} fell before this start and were not paid; skipped "
                             f"(schedule_missed skip)", schedule_id=missed.entry.id, first=missed.first,
                             last=missed.last, count=missed.count)
    return plan.due, plan.wake_at


def _read_schedule(deps: Deps, mem: Memory) -> None:
    """The schedule as the file says now; an unreadable or invalid one keeps the last good in force."""
    try:
        current = deps.schedule.read()
    except StoreError as exc:
        if str(exc) != mem.schedule_problem:
            mem.schedule_problem = str(exc)
            deps.log.error("schedule_invalid", message=f"The schedule cannot be used ({exc}); the last good one "
                           f"stays in force ({len(mem.schedule.entries)} entries)", entries=len(mem.schedule.entries))
        return
    mem.schedule_problem = ""
    if current is mem.schedule or current == mem.schedule:
        return
    added, removed, changed = schedule.changes(mem.schedule, current)
    mem.schedule = current
    deps.log.info("schedule_loaded", message=f"Schedule: {len(current.entries)} entries"
                  + "".join(f"; {what} {', '.join(ids)}" for what, ids in
                            (("added", added), ("removed", removed), ("changed", changed)) if ids),
                  entries=len(current.entries), added=added, removed=removed, changed=changed)
    for entry in current.entries:
        if entry.id in added or entry.id in changed:
            deps.log.info("schedule_entry", message=f"Schedule entry {entry.id}: {entry.describe()}",
                          schedule_id=entry.id)


def _start_scheduled(deps: Deps, mem: Memory, occurrence: Occurrence, now: float,
                     from_treasury: bool = False) -> Cycle:
    """A cycle for one occurrence: its amount drawn (a range) through the seeded RNG, its need with the
    fee reserve of its priority.  Not tried again for balance_check_interval unless journaled first."""
    cfg = deps.config
    entry = occurrence.entry
    structlog.contextvars.clear_contextvars()
    mem.schedule_retry_at[occurrence.key] = now + cfg.balance_check_interval
    amount = entry.low if entry.low == entry.high else draw_atomic(deps.rng, entry.low, entry.high)
    priority = cfg.priority if entry.priority is None else entry.priority
    reserve = cfg.fee_reserve if priority == cfg.priority else DEFAULT_FEE_RESERVE[priority]
    scheduled = Scheduled(entry.id, occurrence.number, occurrence.at, entry.to, entry.miner,
                          entry.unlock_after_blocks, priority)
    mem.cycles += 1
    structlog.contextvars.bind_contextvars(cycle=mem.cycles, amount=amount, purpose=Purpose.SCHEDULED,
                                           schedule_id=entry.id, occurrence=occurrence.number)
    late = now - occurrence.at
    deps.log.info("schedule_due", message=f"Scheduled payment {scheduled} is due"
                  + (f" (since {late:.1f}s)" if late >= 1 else "") + f": {format_xmr(amount)} XMR to {entry.to}"
                  + (f" from {entry.miner}" if entry.miner else " from the multisig treasury" if from_treasury else "")
                  + (f", locked for {entry.unlock_after_blocks} blocks" if entry.unlock_after_blocks else ""),
                  due_at=occurrence.at, late=round(late, 3), to=entry.to, from_miner=entry.miner,
                  unlock_after_blocks=entry.unlock_after_blocks, priority=priority, amount_range=entry.amount_text(),
                  from_treasury=from_treasury)
    return Cycle(mem.cycles, Purpose.SCHEDULED, need=amount + reserve, amount=amount, scheduled=scheduled,
                 from_treasury=from_treasury)

"""SelectingMiner: weighted | balance | random, over miners not failed this cycle."""

from __future__ import annotations

from typing import Optional

import numpy as np
import structlog

from fsm_distributor.actions.shared import cool_down, cycle_wait, fetch_balance
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle, Sender
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Status
from fsm_distributor.core.registry import Miner
from fsm_distributor.states import Outcome, Trigger


def candidates(deps: Deps, mem: Memory, cycle: Cycle) -> list[Miner]:
    """Miners with a wallet endpoint, not excluded this cycle, not cooling down, and
    without an unrelayed build (a second build would pick the same inputs)."""
    now = deps.clock.time()
    snapshot = mem.snapshot
    if snapshot is None:
        return []
    busy = mem.busy_miners()
    if busy:
        _say_why_busy(deps, mem, busy & {m.agent_id for m in snapshot.miners if m.endpoint})
    pool = [m for m in snapshot.miners
            if m.endpoint and m.agent_id not in cycle.excluded_miners and m.agent_id not in busy
            and mem.cooldown_until.get(m.agent_id, 0.0) <= now]
    scheduled = cycle.scheduled
    if scheduled is not None:  # issue 12: the miner the entry names, and never the recipient it names
        pool = [m for m in pool if m.agent_id != scheduled.recipient
                and (not scheduled.miner or m.agent_id == scheduled.miner)]
    return pool


def _say_why_busy(deps: Deps, mem: Memory, miners: set[str]) -> None:
    """A miner left out for its unrelayed build is said once per build, not every cycle: while its
    wallet is unreachable that lasts, and the miner would otherwise go unused without a word."""
    for intent in mem.open_intents():
        key = f"waits_for_relay:{intent.tx_hash}"
        if intent.status is not Status.BUILT or intent.miner not in miners or key in mem.told:
            continue
        mem.told.add(key)
        host, port = intent.miner_endpoint
        deps.log.warning("miner_waits_for_relay", message=f"Miner {intent.miner} is not used until its built "
                         f"transaction {intent.tx_hash} is relayed or fails (its wallet at {host}:{port} is asked "
                         f"again by recovery); a second build would spend the same inputs",
                         miner=intent.miner, tx_hash=intent.tx_hash)


def select_miner(deps: Deps, mem: Memory, cycle: Cycle) -> Outcome:
    pool = candidates(deps, mem, cycle)
    strategy = deps.config.miner_strategy
    miner = None
    if pool and cycle.scheduled is not None and cycle.scheduled.miner:
        miner = pool[0]  # named by the schedule: no choice to make
    elif pool:
        if strategy == "weighted":
            miner = _by_weight(deps, pool)
        elif strategy == "balance":
            miner = _by_balance(deps, mem, cycle, pool)
        else:
            miner = pool[int(deps.rng.integers(len(pool)))]
    if miner is None:
        wait = cycle_wait(cycle, _wait_for_miners(deps, mem))
        if cycle.scheduled is not None and cycle.scheduled.miner:
            _say_why_named_waits(deps, mem, cycle, cycle.scheduled.miner)
        deps.log.info("no_miner_available", message=f"No miner can pay now; waiting {wait:g}s",
                      excluded=sorted(cycle.excluded_miners), cooling=sorted(
                          k for k, v in mem.cooldown_until.items() if v > deps.clock.time()))
        return Outcome(Trigger.NO_MINER_AVAILABLE, delay=wait)
    structlog.contextvars.bind_contextvars(miner=miner.agent_id)
    deps.log.info("miner_selected", message=f"Selected miner {miner.agent_id} ({strategy})",
                  weight=miner.weight, strategy=strategy)
    return Outcome(Trigger.MINER_SELECTED, data=Sender(cycle, miner))


def _say_why_named_waits(deps: Deps, mem: Memory, cycle: Cycle, miner_id: str) -> None:
    """A scheduled payment waits for the miner its entry names (another miner is never put in its place):
    say why, at each due time."""
    snapshot = mem.snapshot
    miner = next((m for m in snapshot.miners if m.agent_id == miner_id), None) if snapshot else None
    balance = cycle.balances.get(miner_id)
    now = deps.clock.time()
    if miner is None:
        why = "it is not a miner in the registry (miners.json joined to agent_registry.json)"
    elif miner.endpoint is None:
        why = "the registry gives it no wallet endpoint"
    elif miner_id in mem.busy_miners():
        why = "its built transaction is not relayed yet (a second build would spend the same inputs)"
    elif mem.cooldown_until.get(miner_id, 0.0) > now:
        why = f"its wallet is left alone for {mem.cooldown_until[miner_id] - now:.0f}s more (it failed)"
    elif balance is not None and balance.unlocked < cycle.need:
        why = (f"it has {format_xmr(balance.unlocked)} XMR unlocked, the payment needs {format_xmr(cycle.need)} "
               f"with the fee reserve")
    else:
        why = "it could not pay this cycle"
    deps.log.warning("schedule_waits_for_miner", message=f"Scheduled payment {cycle.scheduled} waits for miner "
                     f"{miner_id} (named by the schedule; no other miner pays it): {why}; tried again in "
                     f"{deps.config.balance_check_interval:g}s", miner=miner_id, reason=why)


def _by_weight(deps: Deps, pool: list[Miner]) -> Miner:
    weights = np.array([m.weight for m in pool], dtype=float)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        deps.log.info("zero_weights", message="All candidate miners have weight 0; choosing at random")
        return pool[int(deps.rng.integers(len(pool)))]
    return pool[int(deps.rng.choice(len(pool), p=weights / total))]


def _by_balance(deps: Deps, mem: Memory, cycle: Cycle, pool: list[Miner]) -> Optional[Miner]:
    """The highest unlocked balance, asked of every candidate's wallet; ties go to the first."""
    best: Optional[tuple[int, Miner]] = None
    for miner in pool:
        try:
            balance = fetch_balance(deps, mem, cycle, miner)
        except WalletError as exc:
            cool_down(deps, mem, cycle, miner, reason=str(exc))
            continue
        if best is None or balance.unlocked > best[0]:
            best = (balance.unlocked, miner)
    return best[1] if best else None


def _wait_for_miners(deps: Deps, mem: Memory) -> float:
    """Until the first cool-down ends, but no longer than balance_check_interval."""
    now = deps.clock.time()
    pending = [t - now for t in mem.cooldown_until.values() if t > now]
    wait = deps.config.balance_check_interval
    return min([wait] + pending) if pending else wait

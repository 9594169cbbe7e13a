"""ReadingNetwork: the miner's monerod decides the fee priority, the waits and the amount (issue 11).

The daemon is read at most once per new block.  The cheap check is the
miner's wallet height (wallet-rpc answers it from its cache), so the payments
of one block ask the daemon nothing; a new height costs one read (`get_info`,
`/get_transaction_pool_stats` when the pool is not empty, `get_fee_estimate`,
`get_last_block_header`).  With no daemon to ask, the cycle pays as
configured (the first failure per miner is logged once) and never stops.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import structlog

from fsm_distributor.actions.shared import daemon_for, wallet_of
from fsm_distributor.core import network
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Conditions, Payer
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose
from fsm_distributor.core.network import NetworkView
from fsm_distributor.core.ports import PoolStats
from fsm_distributor.core.registry import Miner
from fsm_distributor.states import Outcome, Trigger


def read_network(deps: Deps, mem: Memory, payer: Payer) -> Outcome:
    cfg = deps.config
    cycle, miner = payer.cycle, payer.miner
    now = deps.clock.time()
    if mem.network_since is None:
        mem.network_since = now
    view, calls = _observe(deps, mem, miner)
    priority = cfg.priority
    if cfg.fee_strategy == "pool_aware" and view is not None:
        priority = network.priority_for(view.pool_bytes, cfg.priority, cfg.fee_thresholds)
    amount = payer.amount
    rate: dict[str, Any] = {}
    wait: Optional[tuple[Trigger, str, float]] = None
    unconfirmed = mem.unconfirmed_count()
    if cfg.max_unconfirmed and unconfirmed >= cfg.max_unconfirmed:
        wait = (Trigger.UNCONFIRMED_LIMIT, f"{unconfirmed} of this agent's transactions are unconfirmed "
                f"(max_unconfirmed {cfg.max_unconfirmed})", cfg.balance_check_interval)
    elif not cycle.batch and cfg.max_pool_bytes and view is not None and view.pool_bytes > cfg.max_pool_bytes:
        wait = (Trigger.POOL_FULL, f"the pool holds {view.pool_kb:g} kB, above max_pool_kb "
                f"{cfg.max_pool_bytes / 1000:g}", cfg.balance_check_interval)
    elif cycle.purpose is Purpose.DISTRIBUTION and cfg.amount_strategy == "sustainable" and view is not None:
        amount, rate, delay = _sustainable(deps, mem, payer, view, priority, now)
        if delay > 0:
            wait = (Trigger.OVER_BUDGET, f"paying {format_xmr(amount)} XMR now would spend more than "
                    f"spend_fraction {float(cfg.spend_fraction):g} of the miners' income", delay)
    if cfg.amount_strategy == "topup" and cycle.purpose is Purpose.DISTRIBUTION:
        amount = 0  # decided per recipient (SelectingRecipient); a scheduled payment keeps its entry's amount
    decision = wait[0].value if wait else "pay"
    seen = _figures(view, priority)
    message = (f"Network at miner {miner.agent_id}: " + (
        f"height {view.height}, pool {view.pool_kb:g} kB in {view.pool.txs_total} txs" if view is not None
        else "unknown (no daemon answered), paying as configured") + f"; priority {priority}")
    if wait:
        message += f"; waiting {wait[2]:g}s: {wait[1]}"
    deps.log.info("network_conditions", message=message, **seen, daemon_calls=calls, priority=priority,
                  base_priority=cfg.priority, fee_strategy=cfg.fee_strategy, amount_strategy=cfg.amount_strategy,
                  amount=amount, unconfirmed=unconfirmed, decision=decision,
                  reason=wait[1] if wait else "", **rate)
    structlog.contextvars.bind_contextvars(pool_kb=seen["pool_kb"], priority=priority)
    if wait:
        return Outcome(wait[0], delay=wait[2])
    if amount != payer.amount and not cycle.batch:
        structlog.contextvars.bind_contextvars(amount=amount)
    conditions = Conditions(priority, cfg.fee_strategy, cfg.amount_strategy, amount, view)
    return Outcome(Trigger.NETWORK_READ, data=replace(payer, conditions=conditions))


def _figures(view: Optional[NetworkView], priority: int) -> dict[str, Any]:
    """What every cycle's line says it saw (None: not known)."""
    if view is None:
        return dict(height=None, pool_kb=None, pool_txs=None, pool_oldest=None, fee_per_byte=None, reward=None)
    return dict(height=view.height, pool_kb=view.pool_kb, pool_txs=view.pool.txs_total,
                pool_oldest=view.pool.oldest, fee_per_byte=view.fee_per_byte(priority), reward=view.block.reward)


def _observe(deps: Deps, mem: Memory, miner: Miner) -> tuple[Optional[NetworkView], int]:
    """The miner's network view, read again only at a new wallet height; and the daemon calls made."""
    key = miner.agent_id
    try:
        height: Optional[int] = wallet_of(deps, miner).height()
    except WalletError:
        height = None  # CheckingBalance just reached the wallet: keep what was seen, if anything
    if (height is None and key in mem.network_views) or (height is not None and mem.network_checked.get(key) == height):
        return mem.network_views.get(key), 0
    if height is not None:
        mem.network_checked[key] = height
    daemon = daemon_for(deps, mem, key)
    if daemon is None:
        _tell_once(deps, mem, f"network_unknown:{key}", f"Miner {key} has no daemon_rpc_port in the registry: "
                   f"its cycles pay as configured (transaction_priority, no pool throttle)", miner=key)
        return None, 0
    calls = 0
    try:
        calls += 1
        info = daemon.info()
        calls += 1 if info.pool_txs else 0
        pool = daemon.pool_stats() if info.pool_txs else PoolStats(0, 0)
        calls += 1
        fees = daemon.fee_estimate()
        calls += 1
        block = daemon.last_block()
    except WalletError as exc:
        mem.network_views.pop(key, None)
        _tell_once(deps, mem, f"network_unknown:{key}", f"Cannot read miner {key}'s daemon ({exc}): its cycles "
                   f"pay as configured until it answers (tried again at the next block)", miner=key)
        return None, calls
    if f"network_unknown:{key}" in mem.told:
        mem.told.discard(f"network_unknown:{key}")
        deps.log.info("network_known", message=f"Miner {key}'s daemon answers again", miner=key)
    view = NetworkView(info, fees, pool, block)
    mem.network_views[key] = view
    mem.first_block.setdefault(key, (block.height, block.timestamp))
    return view, calls


def _tell_once(deps: Deps, mem: Memory, key: str, message: str, **fields: Any) -> None:
    if key not in mem.told:
        mem.told.add(key)
        deps.log.warning("network_unknown", message=message, **fields)


def _sustainable(deps: Deps, mem: Memory, payer: Payer, view: NetworkView, priority: int,
                 now: float) -> tuple[int, dict[str, Any], float]:
    """The draw scaled to the miners' income, the rate worked out, and how long to wait (0: pay now)."""
    cfg = deps.config
    miners = mem.snapshot.miners if mem.snapshot else ()
    share = network.weight_share([m.weight for m in miners if m.endpoint], [m.weight for m in miners])
    interval = network.block_interval(mem.first_block.get(payer.miner.agent_id), view.block, view.info.target)
    income = network.income_rate(view.block.reward, interval, share)
    allowed = income * cfg.spend_fraction
    # single payments (the only ones scaled) run only when transaction_frequency is not off;
    # balance_check_interval is the pace should that ever change
    pace = cfg.transaction_frequency if cfg.transaction_frequency is not None else cfg.balance_check_interval
    amount = network.sustainable_amount(payer.cycle.amount, allowed, pace, cfg.min_amount, cfg.max_amount)
    since = mem.network_since if mem.network_since is not None else now
    spent = network.spent_since(mem.intents.values(), since)
    wait = network.budget_wait(spent, amount + view.expected_fee(priority), allowed, now - since, cfg.max_amount)
    rate = dict(block_interval=round(float(interval), 3), miner_share=round(float(share), 6),
                income_per_hour=int(income * 3600), allowed_per_hour=int(allowed * 3600), spent=spent,
                spend_fraction=float(cfg.spend_fraction))
    deps.log.info("spend_rate", message=f"Sustainable: the miners earn {format_xmr(int(income * 3600))} XMR/h "
                  f"(reward {format_xmr(view.block.reward)} XMR per {float(interval):g}s block, share "
                  f"{float(share):g}); spending up to {format_xmr(int(allowed * 3600))} XMR/h: "
                  f"{format_xmr(amount)} XMR now, {format_xmr(spent)} XMR spent so far", **rate)
    # at least a second (a wall clock near 1e9 s cannot move by less), at most balance_check_interval
    return amount, rate, min(max(wait, 1.0), cfg.balance_check_interval) if wait > 0 else 0.0

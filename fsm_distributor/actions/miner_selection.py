"""SelectingMiner: weighted | balance | random, over miners not failed this cycle."""

from __future__ import annotations

import numpy as np
import structlog

from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import BUILT
from fsm_distributor.registry import Miner
from fsm_distributor.rpc_errors import WalletError


def candidates(deps: Deps, ctx: Context) -> list[Miner]:
    """Miners with a wallet endpoint, not excluded this cycle, not cooling down, and
    without an unrelayed build (a second build would pick the same inputs)."""
    now = deps.clock.time()
    snapshot = ctx.snapshot
    if snapshot is None:
        return []
    busy = ctx.busy_miners()
    if busy:
        _say_why_busy(deps, ctx, busy & {m.agent_id for m in snapshot.miners if m.endpoint})
    return [m for m in snapshot.miners
            if m.endpoint and m.agent_id not in ctx.excluded_miners and m.agent_id not in busy
            and ctx.cooldown_until.get(m.agent_id, 0.0) <= now]


def _say_why_busy(deps: Deps, ctx: Context, miners: set[str]) -> None:
    """A miner left out for its unrelayed build is said once per build, not every cycle: while its
    wallet is unreachable that lasts, and the miner would otherwise go unused without a word."""
    for intent in ctx.open_intents():
        key = f"waits_for_relay:{intent.tx_hash}"
        if intent.status != BUILT or intent.miner not in miners or key in ctx.told:
            continue
        ctx.told.add(key)
        host, port = intent.miner_endpoint
        deps.log.warning("miner_waits_for_relay", message=f"Miner {intent.miner} is not used until its built "
                         f"transaction {intent.tx_hash} is relayed or fails (its wallet at {host}:{port} is asked "
                         f"again by recovery); a second build would spend the same inputs",
                         miner=intent.miner, tx_hash=intent.tx_hash)


def select_miner(deps: Deps, ctx: Context) -> Outcome:
    pool = candidates(deps, ctx)
    strategy = deps.config.miner_strategy
    miner = None
    if pool:
        if strategy == "weighted":
            miner = _by_weight(deps, pool)
        elif strategy == "balance":
            miner = _by_balance(deps, ctx, pool)
        else:
            miner = pool[int(deps.rng.integers(len(pool)))]
    if miner is None:
        wait = _wait_for_miners(deps, ctx)
        deps.log.info("no_miner_available", message=f"No miner can pay now; waiting {wait:g}s",
                      excluded=sorted(ctx.excluded_miners), cooling=sorted(
                          k for k, v in ctx.cooldown_until.items() if v > deps.clock.time()))
        return Outcome("no_miner_available", delay=wait)
    ctx.set_miner(miner)
    structlog.contextvars.bind_contextvars(miner=miner.agent_id)
    deps.log.info("miner_selected", message=f"Selected miner {miner.agent_id} ({strategy})",
                  weight=miner.weight, strategy=strategy)
    return Outcome("miner_selected")


def _by_weight(deps: Deps, pool: list[Miner]) -> Miner:
    weights = np.array([m.weight for m in pool], dtype=float)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0:
        deps.log.info("zero_weights", message="All candidate miners have weight 0; choosing at random")
        return pool[int(deps.rng.integers(len(pool)))]
    return pool[int(deps.rng.choice(len(pool), p=weights / total))]


def _by_balance(deps: Deps, ctx: Context, pool: list[Miner]) -> Miner | None:
    """The highest unlocked balance, asked of every candidate's wallet; ties go to the first."""
    best: tuple[int, Miner] | None = None
    for miner in pool:
        try:
            balance = fetch_balance(deps, ctx, miner)
        except WalletError as exc:
            cool_down(deps, ctx, miner, reason=str(exc))
            continue
        if best is None or balance.unlocked > best[0]:
            best = (balance.unlocked, miner)
    return best[1] if best else None


def fetch_balance(deps: Deps, ctx: Context, miner: Miner, *, refresh: bool = False):
    """The miner's balance, refreshing its wallet first when blocks may have unlocked coins."""
    wallet = deps.wallets(*miner.endpoint)
    if refresh or miner.agent_id in ctx.needs_refresh:
        wallet.refresh()
        ctx.needs_refresh.discard(miner.agent_id)
        ctx.refreshed.add(miner.agent_id)
    balance = wallet.get_balance()
    ctx.balances[miner.agent_id] = balance
    ctx.miner_failures.pop(miner.agent_id, None)
    return balance


def cool_down(deps: Deps, ctx: Context, miner: Miner, *, reason: str, seconds: float | None = None) -> float:
    """Leave an unreachable or locked miner alone for a while (doubling while it keeps failing)."""
    cfg = deps.config
    if seconds is None:
        failures = ctx.miner_failures.get(miner.agent_id, 0) + 1
        ctx.miner_failures[miner.agent_id] = failures
        seconds = min(cfg.miner_cooldown_cap, cfg.miner_cooldown * 2 ** (failures - 1))
    ctx.cooldown_until[miner.agent_id] = deps.clock.time() + seconds
    ctx.excluded_miners.add(miner.agent_id)
    deps.log.warning("miner_cooldown", message=f"Miner {miner.agent_id} left alone for {seconds:g}s: {reason}",
                     miner=miner.agent_id, cooldown=seconds)
    return seconds


def _wait_for_miners(deps: Deps, ctx: Context) -> float:
    """Until the first cool-down ends, but no longer than balance_check_interval."""
    now = deps.clock.time()
    pending = [t - now for t in ctx.cooldown_until.values() if t > now]
    wait = deps.config.balance_check_interval
    return min([wait] + pending) if pending else wait

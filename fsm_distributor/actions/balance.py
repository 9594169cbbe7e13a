"""CheckingBalance: can the selected miner pay amount + fee reserve from unlocked coins?"""

from __future__ import annotations

from fsm_distributor.actions.miner_selection import cool_down, fetch_balance
from fsm_distributor.amounts import format_xmr
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.rpc_errors import WalletError


def check_balance(deps: Deps, ctx: Context) -> Outcome:
    miner = ctx.miner
    assert miner is not None, "CheckingBalance entered without a miner"
    need = ctx.amount + deps.config.fee_reserve
    try:
        balance = ctx.balances.get(miner.agent_id) or fetch_balance(deps, ctx, miner)
        if balance.unlocked < need and miner.agent_id not in ctx.refreshed:
            # The wallet may not have seen the latest blocks yet: judge only after a refresh.
            balance = fetch_balance(deps, ctx, miner, refresh=True)
    except WalletError as exc:
        cool_down(deps, ctx, miner, reason=str(exc))
        return Outcome("miner_unreachable")
    if balance.unlocked < need:
        ctx.excluded_miners.add(miner.agent_id)
        locked = "; the rest is locked (coinbase unlocks after 60 blocks, change after 10)" \
            if balance.total >= need else ""
        deps.log.info("balance_low", message=f"Miner {miner.agent_id} has {format_xmr(balance.unlocked)} XMR "
                      f"unlocked, needs {format_xmr(need)}{locked}",
                      unlocked=balance.unlocked, balance=balance.total, needed=need)
        return Outcome("balance_low")
    return Outcome("balance_ok")

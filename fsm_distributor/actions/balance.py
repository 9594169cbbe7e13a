"""CheckingBalance: can the selected miner pay the cycle's need from unlocked coins?"""

from __future__ import annotations

from fsm_distributor.actions.shared import cool_down, fetch_balance
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Payer, Sender
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.states import Outcome, Trigger


def check_balance(deps: Deps, mem: Memory, sender: Sender) -> Outcome:
    cycle, miner = sender.cycle, sender.miner
    need = cycle.need
    try:
        balance = cycle.balances.get(miner.agent_id) or fetch_balance(deps, mem, cycle, miner)
        if balance.unlocked < need and miner.agent_id not in cycle.refreshed:
            # The wallet may not have seen the latest blocks yet: judge only after a refresh.
            balance = fetch_balance(deps, mem, cycle, miner, refresh=True)
    except WalletError as exc:
        cool_down(deps, mem, cycle, miner, reason=str(exc))
        return Outcome(Trigger.MINER_UNREACHABLE, data=cycle)
    if balance.unlocked < need:
        cycle.excluded_miners.add(miner.agent_id)
        locked = "; the rest is locked (coinbase unlocks after 60 blocks, change after 10)" \
            if balance.total >= need else ""
        deps.log.info("balance_low", message=f"Miner {miner.agent_id} has {format_xmr(balance.unlocked)} XMR "
                      f"unlocked, needs {format_xmr(need)}{locked}",
                      unlocked=balance.unlocked, balance=balance.total, needed=need)
        return Outcome(Trigger.BALANCE_LOW, data=cycle)
    # With network-aware attributes (issue 11) the network is read before the recipients are chosen.
    ok = Trigger.READ_NETWORK if deps.config.network_aware else Trigger.BALANCE_OK
    return Outcome(ok, data=Payer(cycle, miner, balance))

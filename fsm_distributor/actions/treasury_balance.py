"""CheckingTreasuryBalance: the treasury pays this cycle if its unlocked balance covers the need.

Its balance comes from a signer's wallet-rpc (refreshed first).  A spend's change is locked for 10
blocks, so a treasury with few outputs waits between payments; the payment waits with it (it is
not handed to a miner: multisig_mode says the treasury pays).
"""

from __future__ import annotations

from fsm_distributor.actions.shared import cycle_wait, signer_down, treasury_balance, treasury_payer_miner
from fsm_distributor.core import multisig
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import TreasuryPayer
from fsm_distributor.states import Outcome, Trigger


def check_treasury_balance(deps: Deps, mem: Memory, cycle: Cycle) -> Outcome:
    wait = cycle_wait(cycle, deps.config.balance_check_interval)  # a scheduled occurrence waits on its own
    setup = mem.treasury.ready()
    if setup is None:
        return Outcome(Trigger.BALANCE_LOW, delay=wait)
    try:
        balance = treasury_balance(deps, mem, setup)
    except WalletError as exc:
        return signer_down(deps, mem, setup.signers[0], exc)
    if balance.unlocked < cycle.need:
        if multisig.needs_refill(deps.config, balance.total):
            mem.treasury.tend_due_at = deps.clock.time()
        locked = "; the rest is locked (a spend's change and new funds unlock after 10 blocks)" \
            if balance.total >= cycle.need else "; a refill is due"
        deps.log.info("balance_low", message=f"Treasury {multisig.treasury_id(deps.agent_id)} has "
                      f"{format_xmr(balance.unlocked)} XMR unlocked, needs {format_xmr(cycle.need)}{locked}; "
                      f"waiting {wait:g}s", unlocked=balance.unlocked, balance=balance.total, needed=cycle.need)
        return Outcome(Trigger.BALANCE_LOW, delay=wait)
    payer = TreasuryPayer(cycle, treasury_payer_miner(deps, mem, setup), balance, setup=setup)
    return Outcome(Trigger.BALANCE_OK, data=payer)

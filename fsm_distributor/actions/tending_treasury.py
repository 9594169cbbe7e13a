"""TendingTreasury: keep the treasury funded: a funding batch from the miners when it runs low.

The refill is an ordinary batch (Discovering, a miner, Building ... Recording) of
`multisig_funding_amount` in `multisig_funding_outputs` outputs to the treasury's address.  What
counts is the balance with its locked part (a spend's change, a refill on its way): those unlock
within 10 blocks, so counting only the unlocked part would send the refill again at every check.
"""

from __future__ import annotations

import structlog

from fsm_distributor.actions.shared import signer_down, treasury_balance
from fsm_distributor.core import funding, multisig
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle
from fsm_distributor.core.errors import WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose
from fsm_distributor.states import Outcome, Trigger


def tend_treasury(deps: Deps, mem: Memory, _: None) -> Outcome:
    cfg = deps.config
    now = deps.clock.time()
    mem.treasury.tend_due_at = now + cfg.balance_check_interval
    setup = mem.treasury.ready()
    if setup is None:
        return Outcome(Trigger.TREASURY_TENDED)
    try:
        balance = treasury_balance(deps, mem, setup)  # also what Idle decides batches by (mode all)
    except WalletError as exc:
        return signer_down(deps, mem, setup.signers[0], exc)
    if not multisig.needs_refill(cfg, balance.total) or multisig.refill_pending(mem.open_intents(),
                                                                                mem.unconfirmed()):
        deps.log.debug("treasury_balance", message=f"Treasury holds {format_xmr(balance.total)} XMR "
                       f"({format_xmr(balance.unlocked)} unlocked)", unlocked=balance.unlocked, balance=balance.total)
        return Outcome(Trigger.TREASURY_TENDED)
    structlog.contextvars.clear_contextvars()
    mem.cycles += 1
    structlog.contextvars.bind_contextvars(cycle=mem.cycles, purpose=Purpose.TREASURY_FUNDING)
    need = cfg.multisig_funding_amount + funding.batch_fee_reserve(cfg)
    deps.log.info("treasury_refill", message=f"Treasury holds {format_xmr(balance.total)} XMR, below "
                  f"multisig_refill_below ({format_xmr(cfg.multisig_refill_below)}): funding it with "
                  f"{format_xmr(cfg.multisig_funding_amount)} XMR from a miner", balance=balance.total,
                  unlocked=balance.unlocked, amount_atomic=cfg.multisig_funding_amount)
    return Outcome(Trigger.TREASURY_LOW, data=Cycle(mem.cycles, Purpose.TREASURY_FUNDING, need=need))

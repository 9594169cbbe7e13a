"""BuildingTxset: `transfer` on the first signer of the round: a multisig txset with its signature.

Nothing can leave the treasury yet: a multisig transfer is never broadcast (and is asked with
do_not_relay, so a wallet-rpc that serves some other wallet sends nothing either).  The set is
read back with describe_transfer and must pay exactly the payment's destinations.
"""

from __future__ import annotations

from fsm_distributor.actions.shared import backoff, open_treasury, payment_priority, scheduled_unlock_time
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import ErrorKind, WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import SpendPlan, Txset
from fsm_distributor.states import Outcome, Trigger


def build_txset(deps: Deps, mem: Memory, plan: SpendPlan) -> Outcome:
    payment, setup = plan.payment, plan.setup
    builder = plan.participants[0]
    priority = payment_priority(deps, payment)  # a scheduled entry's own, else as for a miner's payment
    scheduled = payment.cycle.scheduled
    try:
        signer = open_treasury(deps, mem, setup, builder)
        unlock_time = scheduled_unlock_time(deps, signer, payment)
        built = signer.transfer(payment.destinations, priority=priority, unlock_time=unlock_time)
        described = signer.describe(built.txset)
    except WalletError as exc:
        wait = backoff(deps, 1) if exc.kind is ErrorKind.TRANSIENT else deps.config.balance_check_interval
        if exc.kind in (ErrorKind.LOCKED, ErrorKind.NO_FUNDS):
            mem.treasury.tend_due_at = deps.clock.time()
        deps.log.warning("txset_refused", message=f"Treasury transfer on signer {builder} failed: {exc}; nothing "
                         f"was built, trying again in {wait:g}s", signer=builder, error_code=exc.code,
                         error_kind=exc.kind.value)
        return Outcome(Trigger.TXSET_REFUSED, delay=wait)
    if not multisig.pays_what_was_asked(described, payment.destinations):
        deps.log.error("txset_mismatch", message=f"The set built on signer {builder} pays {list(described)}, not "
                       f"the payment's destinations; dropped, nothing was signed by anyone else", signer=builder)
        return Outcome(Trigger.TXSET_REFUSED, delay=deps.config.balance_check_interval)
    deps.checkpoint("after_txset_build")
    now = deps.clock.time()
    txset = Txset(id=multisig.txset_id(built.txset), wallet=setup.wallet, threshold=setup.threshold,
                  total=setup.total, participants=plan.participants, signed_by=(builder,), txset=built.txset,
                  destinations=payment.destinations, fee=built.fee, purpose=payment.cycle.purpose,
                  priority=priority, key_images=built.key_images, created_at=now, updated_at=now,
                  schedule_id=scheduled.schedule_id if scheduled else "",
                  occurrence=scheduled.occurrence if scheduled else 0, unlock_time=unlock_time)
    deps.log.info("txset_built", message=f"Signer {builder} built treasury txset {txset.id} (1 of "
                  f"{setup.threshold} signatures, fee {built.fee})", signer=builder, txset=txset.id, fee=built.fee)
    return Outcome(Trigger.TXSET_BUILT, data=txset)

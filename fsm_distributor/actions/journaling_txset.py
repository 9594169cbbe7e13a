"""JournalingTxset: persist the set before the next call can take it further.

A partially signed set is one journal line; once it carries M signatures the line says so (with
its tx_hash and the signed set), and its intent is written (status built, the signed set as its
metadata): only then may Submitting broadcast it.  The signed line comes first, so a crash between
the two writes leaves what recovery needs to write the intent itself.  A set that cannot be
persisted is dropped: it never left the signers, nothing was paid.
"""

from __future__ import annotations

import structlog

from fsm_distributor.actions.shared import journal_txset, signer_endpoint
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Txset, TxsetStatus
from fsm_distributor.states import Outcome, Trigger


def write_txset(deps: Deps, mem: Memory, txset: Txset) -> Outcome:
    now = deps.clock.time()
    wait = deps.config.balance_check_interval
    if not txset.complete:
        try:
            journal_txset(deps, mem, txset)
        except StoreError as exc:
            return _dropped(deps, txset, exc)
        deps.checkpoint("after_txset_journal")
        return Outcome(Trigger.TXSET_JOURNALED, data=txset)
    signed = txset.moved(TxsetStatus.SIGNED, now)
    setup = mem.treasury.setups.get(txset.wallet)
    intent = multisig.spend_intent(signed, deps.agent_id, signer_endpoint(deps, mem, txset.signed_by[-1]),
                                   setup.address if setup else "", now)
    try:
        journal_txset(deps, mem, signed)
    except StoreError as exc:
        return _dropped(deps, signed, exc)
    try:
        deps.journal.put(intent)
    except StoreError as exc:  # the signed line is on disk: recovery writes the intent from it
        mem.recovery_due_at = now + wait
        deps.log.error("journal_failed", message=f"Cannot write the intent of signed treasury txset {txset.id} "
                       f"({exc}); recovery writes it from the txset line and submits it", tx_hash=intent.tx_hash)
        return Outcome(Trigger.JOURNAL_FAILED, delay=wait)
    mem.put_intent(intent)
    structlog.contextvars.bind_contextvars(tx_hash=intent.tx_hash)
    deps.checkpoint("after_signed_journal")
    return Outcome(Trigger.TXSET_COMPLETE, data=intent)


def _dropped(deps: Deps, txset: Txset, exc: StoreError) -> Outcome:
    deps.log.error("journal_failed", message=f"Failed to send transaction: cannot write the {txset.status} treasury "
                   f"txset {txset.id} to the journal ({exc}); it is dropped, nothing was paid")
    return Outcome(Trigger.JOURNAL_FAILED, delay=deps.config.balance_check_interval)

"""SigningTxset: `sign_multisig` on the next signer that has not signed the set.

The round's participants first, then any other signer of the treasury (all took part in the
export/import round).  A signer that refuses (-35: it signed this set already, before a crash lost
its answer; or its data is stale) is passed over; when nobody is left who could sign, the set is
abandoned: it never left the signers, nothing was paid.  Unreachable signers leave it open for
recovery.
"""

from __future__ import annotations

from fsm_distributor.actions.shared import backoff, journal_txset, open_treasury
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import BadAnswer, StoreError, TxsetStale, WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Txset, TxsetStatus
from fsm_distributor.states import Outcome, Trigger


def sign_txset(deps: Deps, mem: Memory, txset: Txset) -> Outcome:
    setup = mem.treasury.setups.get(txset.wallet)
    signers = setup.signers if setup is not None else txset.participants
    candidates = [s for s in txset.participants + signers if s not in txset.signed_by]
    down: list[str] = []
    refused: list[str] = []
    for signer_id in dict.fromkeys(candidates):
        try:
            if setup is None:
                raise TxsetStale("sign_multisig", f"treasury wallet {txset.wallet} is unknown to the journal")
            signed = open_treasury(deps, mem, setup, signer_id).sign(txset.txset)
            complete = len(txset.signed_by) + 1 >= txset.threshold
            if complete and len(signed.tx_hashes) != 1:
                raise BadAnswer("sign_multisig", f"a set with {txset.threshold} signatures answered "
                                f"{len(signed.tx_hashes)} hashes, not 1")
        except TxsetStale as exc:
            refused.append(signer_id)
            deps.log.warning("txset_sign_refused", message=f"Signer {signer_id} cannot sign treasury txset "
                             f"{txset.id}: {exc}", signer=signer_id, txset=txset.id)
            continue
        except WalletError as exc:
            down.append(signer_id)
            deps.log.warning("txset_signer_unreachable", message=f"Signer {signer_id} cannot sign treasury txset "
                             f"{txset.id} now: {exc}", signer=signer_id, txset=txset.id, error_code=exc.code)
            continue
        deps.checkpoint("after_txset_sign")
        now = deps.clock.time()
        updated = txset.signed(signer_id, signed.txset, signed.tx_hashes[0] if complete else "", now)
        deps.log.info("txset_signed", message=f"Signer {signer_id} signed treasury txset {txset.id} "
                      f"({len(updated.signed_by)} of {txset.threshold} signatures)"
                      + (f": transaction {updated.tx_hash}" if complete else ""),
                      signer=signer_id, txset=txset.id, signatures=len(updated.signed_by))
        return Outcome(Trigger.TXSET_SIGNED, data=updated)
    now = deps.clock.time()
    if down:
        wait = backoff(deps, 1 + len(refused))
        mem.recovery_due_at = now + wait
        return Outcome(Trigger.SIGNER_DOWN, delay=wait)
    abandoned = txset.moved(TxsetStatus.ABANDONED, now, note=f"no signer could sign it (refused: "
                            f"{', '.join(refused) or 'none left'})")
    try:
        journal_txset(deps, mem, abandoned)
    except StoreError as exc:
        mem.treasury.txsets[txset.id] = abandoned
        deps.log.error("journal_write_failed", message=f"Could not journal treasury txset {txset.id} as abandoned "
                       f"({exc}); continuing from memory")
    mem.failed += 1
    deps.log.error("txset_abandoned", message=f"Failed to send transaction: treasury txset {txset.id} cannot get "
                   f"{txset.threshold} signatures ({abandoned.note}); abandoned, nothing was paid",
                   txset=txset.id, recipients=[d.recipient for d in txset.destinations])
    return Outcome(Trigger.TXSET_ABANDONED, delay=deps.config.balance_check_interval)

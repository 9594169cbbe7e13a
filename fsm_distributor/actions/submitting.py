"""Submitting: `submit_multisig` the journaled fully signed set, on any signer that answers.

Submitting the same signed set again answers the same hash, also after it was mined, so a crash
anywhere around this call is safe: recovery submits it again.  A set the daemon rejects (-36)
was not sent: if its inputs were spent by another transaction (the daemon's key images) it is
failed for good, otherwise failed and watched (Verifying revives it if a block shows it).
"""

from __future__ import annotations

from fsm_distributor.actions.shared import close_failed, daemon_knows, defer_send, mark_sent, open_treasury
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import BadAnswer, TxsetIncomplete, TxsetRejected, WalletError, WalletUnavailable
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Verdict
from fsm_distributor.core.ports import Where
from fsm_distributor.states import Outcome, Trigger


def submit(deps: Deps, mem: Memory, intent: Intent) -> Outcome:
    setup = mem.treasury.by_address(intent.sender_address)
    if setup is None:  # its set-up line was lost with the journal: wait for the info file's adoption
        defer_send(deps, mem, intent, WalletUnavailable("submit_multisig", f"treasury "
                   f"{intent.sender_address[:12]}... is unknown to the journal"), "submit_deferred", "Submit")
        return Outcome(Trigger.SUBMIT_DEFERRED)
    last: WalletError = WalletUnavailable("submit_multisig", "no signer to ask")
    for signer_id in dict.fromkeys(intent.signers[-1:] + setup.signers):
        try:
            hashes = open_treasury(deps, mem, setup, signer_id).submit(intent.tx_metadata)
            if intent.tx_hash not in hashes:
                raise BadAnswer("submit_multisig", f"answered {list(hashes)}, not {intent.tx_hash}")
        except TxsetRejected as exc:
            return _rejected(deps, mem, intent, exc)
        except TxsetIncomplete as exc:
            close_failed(deps, mem, intent, f"submit refused ({exc}): the set lacks signatures, it was never sent",
                         Verdict.RELAY_REJECTED)
            return Outcome(Trigger.SUBMIT_REJECTED)
        except WalletError as exc:
            last = exc
            continue
        return _sent(deps, mem, intent, signer_id)
    defer_send(deps, mem, intent, last, "submit_deferred", "Submit")
    return Outcome(Trigger.SUBMIT_DEFERRED)


def _rejected(deps: Deps, mem: Memory, intent: Intent, exc: WalletError) -> Outcome:
    where = daemon_knows(deps, mem, intent)
    if where in (Where.POOL, Where.CHAIN):  # the daemon has it: sent after all
        deps.log.warning("relay_known_to_daemon", message=f"submit_multisig of {intent.tx_hash} was refused "
                         f"({exc}), but the daemon has it ({where.value if where else ''}): it was sent")
        return _sent(deps, mem, intent, "")
    if where is Where.MISSING:
        close_failed(deps, mem, intent, f"submit rejected ({exc}): another transaction spent its inputs",
                     Verdict.INPUTS_SPENT)
    else:
        close_failed(deps, mem, intent, f"submit rejected: {exc}", Verdict.RELAY_REJECTED)
    return Outcome(Trigger.SUBMIT_REJECTED)


def _sent(deps: Deps, mem: Memory, intent: Intent, signer_id: str) -> Outcome:
    deps.checkpoint("after_submit")
    relayed = mark_sent(deps, mem, intent)
    if signer_id:
        deps.log.debug("txset_submitted", message=f"Signer {signer_id} submitted {intent.tx_hash}",
                       signer=signer_id)
    return Outcome(Trigger.SUBMITTED, data=relayed)

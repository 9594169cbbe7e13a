"""SyncingMultisig: the export/import round before a spend, among the signers that answer.

Every reachable signer exports its multisig info (refreshed first, so it covers the newest
outputs) and imports the others'.  A multisig wallet can spend only after such a round once it
received coins, and each round serves one spend: a signer that built or signed a set cannot take
part in another set of the same round (0.18 answers -35 "stale data").  M signers are enough.
"""

from __future__ import annotations

import structlog

from fsm_distributor.actions.shared import open_treasury, signer_down
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Payment
from fsm_distributor.core.errors import WalletError, WalletUnavailable
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import SpendPlan, TreasuryPayer
from fsm_distributor.core.ports import MultisigSigner
from fsm_distributor.states import Outcome, Trigger


def sync_multisig(deps: Deps, mem: Memory, payment: Payment) -> Outcome:
    payer = payment.payer
    setup = payer.setup if isinstance(payer, TreasuryPayer) else mem.treasury.ready()
    if setup is None:  # never: the table sends only treasury payments here
        return signer_down(deps, mem, "-", WalletUnavailable("multisig", "no ready treasury"))
    exports: dict[str, str] = {}
    signers: dict[str, MultisigSigner] = {}
    trouble: dict[str, WalletError] = {}
    for signer_id in setup.signers:
        try:
            signer = signers[signer_id] = open_treasury(deps, mem, setup, signer_id)
            signer.refresh()
            exports[signer_id] = signer.export_info()
        except WalletError as exc:
            trouble[signer_id] = exc
    synced: list[str] = []
    for signer_id in exports:
        others = [info for s, info in exports.items() if s != signer_id]
        try:
            outputs = signers[signer_id].import_info(others)
        except WalletError as exc:
            trouble[signer_id] = exc
            continue
        synced.append(signer_id)
        deps.log.debug("multisig_imported", message=f"Signer {signer_id} imported {len(others)} infos "
                       f"({outputs} outputs)", signer=signer_id, outputs=outputs)
    if len(synced) < setup.threshold:
        first = sorted(trouble)[0] if trouble else setup.signers[0]
        return signer_down(deps, mem, first, trouble.get(first) or WalletUnavailable(
            "import_multisig_info", f"only {len(synced)} of {setup.threshold} signers synced"))
    participants = tuple(synced[:setup.threshold])
    structlog.contextvars.bind_contextvars(signers=list(participants))
    deps.log.info("multisig_synced", message=f"Export/import round among {', '.join(synced)}"
                  + (f" ({', '.join(f'{s}: {e}' for s, e in trouble.items())})" if trouble else "")
                  + f"; {' and '.join(participants)} sign", signers=list(participants), synced=synced,
                  down=sorted(trouble))
    return Outcome(Trigger.MULTISIG_SYNCED, data=SpendPlan(payment, setup, participants))


"""CheckingTreasury: every signer's wallet multisig, ready, M-of-N, all at one address; then published.

The address is only trusted once every signer reports it (`get_address`); it is written to the
journal (the set-up is ready from then on: reopened, never made again) and to
`{id}_multisig_info.json` in the shared dir.  A ready treasury may hold coins: a signer that does
not agree is reported and waited for, never discarded.
"""

from __future__ import annotations

from fsm_distributor.actions.shared import journal_setup, open_for_setup, setup_discarded, signer_down
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import SignerLost, StoreError, WalletError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup
from fsm_distributor.states import Outcome, Trigger


def check_treasury(deps: Deps, mem: Memory, setup: Setup) -> Outcome:
    addresses: dict[str, str] = {}
    for signer_id in setup.signers:
        try:
            signer = open_for_setup(deps, mem, setup, signer_id)
            state = signer.state()
            addresses[signer_id] = signer.address()
        except SignerLost as exc:
            return _disagree(deps, mem, setup, signer_id, f"cannot be opened: {exc}")
        except WalletError as exc:
            return signer_down(deps, mem, signer_id, exc)
        if not (state.multisig and state.ready) or (state.threshold, state.total) != (setup.threshold, setup.total):
            return _disagree(deps, mem, setup, signer_id, f"is_multisig answers multisig={state.multisig} "
                             f"ready={state.ready} {state.threshold}-of-{state.total}, not a ready {setup.label}")
    expected = setup.address or setup.rounds[-1][setup.signers[0]][1]
    wrong = {s: a for s, a in addresses.items() if a != expected}
    if wrong:
        return _disagree(deps, mem, setup, sorted(wrong)[0], f"reports {wrong[sorted(wrong)[0]][:12]}..., "
                         f"not {expected[:12]}...")
    now = deps.clock.time()
    was_ready = setup.ready
    setup = journal_setup(deps, mem, setup.checked(expected, now))
    mem.treasury.discards = 0
    mem.treasury.tend_due_at = now  # look at its balance (and fund it) at once
    try:
        deps.status.write(multisig.info_file(deps.agent_id), multisig.info_document(setup, deps.agent_id, now))
    except StoreError as exc:
        deps.log.error("treasury_info_unwritten", message=f"Could not write {multisig.info_file(deps.agent_id)} "
                       f"({exc}); the journal keeps the treasury")
    deps.log.info("treasury_ready", message=f"Multisig treasury {multisig.treasury_id(deps.agent_id)} "
                  f"{'reopened' if was_ready else 'made'}: {setup.label} wallet {setup.wallet} of "
                  f"{', '.join(setup.signers)}, address {setup.address}", wallet=setup.wallet,
                  address=setup.address, signers=list(setup.signers), threshold=setup.threshold)
    return Outcome(Trigger.TREASURY_READY)


def _disagree(deps: Deps, mem: Memory, setup: Setup, signer_id: str, why: str) -> Outcome:
    if not setup.ready:
        return setup_discarded(deps, mem, setup, f"signer {signer_id} {why}")
    return signer_down(deps, mem, signer_id, SignerLost("is_multisig", f"the ready treasury's signer {signer_id} "
                                                        f"{why}; waiting for it"))

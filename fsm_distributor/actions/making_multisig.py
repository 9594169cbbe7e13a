"""MakingMultisig: round 1, `make_multisig` with the others' round-0 infos on every signer.

`prepare_multisig` is asked again right before, in the same wallet-rpc session: it switches
enable-multisig-experimental on in memory, and only a make_multisig of the same session writes the
setting into the wallet file (0.18 refuses the later rounds with -48 otherwise).  A wallet that
comes out with another M or N (one info too few makes a 2-of-2 without complaint) is discarded.
"""

from __future__ import annotations

from fsm_distributor.actions.shared import setup_round
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import SignerLost
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup, Step
from fsm_distributor.core.ports import MultisigSigner
from fsm_distributor.states import Outcome, Trigger


def make_multisig(deps: Deps, mem: Memory, setup: Setup) -> Outcome:
    if setup.step is not Step.MAKE:
        return Outcome(Trigger.MULTISIG_MADE, data=setup)

    def ask(signer: MultisigSigner, signer_id: str) -> tuple[str, str]:
        signer.prepare()  # the setting on in this session, for make_multisig to save it
        step = signer.make(setup.others(0, signer_id), setup.threshold, multisig.PASSWORD)
        state = signer.state()
        if not state.multisig or (state.threshold, state.total) != (setup.threshold, setup.total):
            raise SignerLost("make_multisig", f"made a {state.threshold}-of-{state.total} wallet, not {setup.label}")
        return step.info, step.address
    result = setup_round(deps, mem, setup, 1, ask)
    if isinstance(result, Outcome):
        return result
    return Outcome(Trigger.MULTISIG_MADE, data=result)

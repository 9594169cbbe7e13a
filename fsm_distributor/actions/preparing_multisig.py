"""PreparingMultisig: round 0, `prepare_multisig` on every signer (each answer journaled)."""

from __future__ import annotations

from fsm_distributor.actions.shared import setup_round
from fsm_distributor.core.context import Deps
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup, Step
from fsm_distributor.core.ports import MultisigSigner
from fsm_distributor.states import Outcome, Trigger


def prepare_multisig(deps: Deps, mem: Memory, setup: Setup) -> Outcome:
    """prepare_multisig can be repeated (each answer works), so a lost answer is simply asked again."""
    if setup.step is not Step.PREPARE:  # resumed further on: nothing to do here
        return Outcome(Trigger.MULTISIG_PREPARED, data=setup)

    def ask(signer: MultisigSigner, _signer_id: str) -> tuple[str, str]:
        return signer.prepare(), ""
    result = setup_round(deps, mem, setup, 0, ask)
    if isinstance(result, Outcome):
        return result
    return Outcome(Trigger.MULTISIG_PREPARED, data=result)

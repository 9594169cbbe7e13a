"""ExchangingMultisigKeys: one `exchange_multisig_keys` round on every signer, with the others' last infos.

The table repeats the state until every signer answered an address (N - M + 1 rounds on 0.18).
A round cannot be asked twice (-1 "Messages don't have the expected kex round number"): a signer
that answers so went further than the journal knows, and the set-up is discarded.
"""

from __future__ import annotations

from fsm_distributor.actions.shared import setup_discarded, setup_round
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup, Step
from fsm_distributor.core.ports import MultisigSigner
from fsm_distributor.states import Outcome, Trigger


def exchange_keys(deps: Deps, mem: Memory, setup: Setup) -> Outcome:
    if setup.step is not Step.EXCHANGE:
        return Outcome(Trigger.KEYS_EXCHANGED, data=setup)
    round_ = setup.exchange_round
    if round_ - 1 > multisig.exchange_rounds(setup.total, setup.threshold):
        return setup_discarded(deps, mem, setup, f"no address after {round_ - 2} key-exchange rounds "
                               f"({multisig.exchange_rounds(setup.total, setup.threshold)} expected)")

    def ask(signer: MultisigSigner, signer_id: str) -> tuple[str, str]:
        step = signer.exchange(setup.others(round_ - 1, signer_id), multisig.PASSWORD)
        return step.info, step.address
    result = setup_round(deps, mem, setup, round_, ask)
    if isinstance(result, Outcome):
        return result
    return Outcome(Trigger.KEYS_EXCHANGED, data=result)

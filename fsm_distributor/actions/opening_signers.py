"""OpeningSigners: the set-up's wallet in every signer's wallet-rpc, created or reopened.

A signer whose wallet is further on than the journal knows (multisig, although no answer of its
make_multisig was kept: the process died between the call and the journal) can never rejoin this
set-up: it is discarded and made again under the next wallet name.  With no set-up in the journal
at all, a treasury published in `{id}_multisig_info.json` is reopened rather than made twice.
"""

from __future__ import annotations

from typing import Optional

import structlog

from fsm_distributor.actions.shared import (journal_setup, registry_snapshot, setup_discarded, signer_agent,
                                            signer_down)
from fsm_distributor.core import multisig
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import SignerLost, StoreError, WalletError, WalletExists
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup
from fsm_distributor.states import Outcome, Trigger


def open_signers(deps: Deps, mem: Memory, setup: Setup) -> Outcome:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(treasury=setup.wallet)
    now = deps.clock.time()
    refused = _not_dedicated(deps, mem, setup)
    if refused is not None:
        return refused
    if setup.wallet not in mem.treasury.setups:
        setup = _adopted(deps, mem) or setup
        journal_setup(deps, mem, setup)
        if setup.ready:
            deps.log.warning("treasury_adopted", message=f"The journal holds no treasury set-up, but "
                             f"{multisig.info_file(deps.agent_id)} names the ready {setup.label} treasury "
                             f"{setup.wallet} ({setup.address[:12]}...): reopened, not made again",
                             wallet=setup.wallet, address=setup.address)
        else:
            deps.log.info("treasury_setup_started", message=f"Making a {setup.label} multisig treasury in wallet "
                          f"{setup.wallet} of signers {', '.join(setup.signers)}", wallet=setup.wallet,
                          signers=list(setup.signers), threshold=setup.threshold)
    for signer_id in setup.signers:
        if mem.treasury.opened.get(signer_id) == setup.wallet:
            continue
        try:
            setup = _open(deps, mem, setup, signer_id, now)
        except SignerLost as exc:
            return setup_discarded(deps, mem, setup, f"signer {signer_id}: {exc}")
        except WalletError as exc:
            return signer_down(deps, mem, signer_id, exc)
    return Outcome(Trigger.SIGNERS_OPEN, data=setup)


def _not_dedicated(deps: Deps, mem: Memory, setup: Setup) -> Optional[Outcome]:
    """A signer must be an agent of its own: a miner's (or this agent's) wallet-rpc would lose its wallet."""
    snapshot = registry_snapshot(deps, mem)
    taken = {m.agent_id for m in snapshot.miners} | {deps.agent_id} if snapshot else {deps.agent_id}
    clash = [s for s in setup.signers if s in taken]
    if not clash:
        return None
    wait = deps.config.balance_check_interval
    mem.treasury.setup_due_at = deps.clock.time() + wait
    if f"signers_not_dedicated:{clash}" not in mem.told:
        mem.told.add(f"signers_not_dedicated:{clash}")
        deps.log.error("treasury_signers_refused", message=f"multisig_signers {', '.join(clash)} "
                       f"{'is' if len(clash) == 1 else 'are'} a miner or this agent; accepted: dedicated agents "
                       f"(their wallet-rpc serves only the treasury). The treasury is not made; looking again "
                       f"in {wait:g}s", signers=clash)
    return Outcome(Trigger.SIGNER_DOWN)


def _open(deps: Deps, mem: Memory, setup: Setup, signer_id: str, now: float) -> Setup:
    agent = signer_agent(deps, mem, signer_id)
    signer = deps.signers(*(agent.endpoint or ("", 0)))
    if signer_id in setup.created:
        signer.open_wallet(setup.wallet, multisig.PASSWORD)
    else:
        try:
            signer.create_wallet(setup.wallet, multisig.PASSWORD)
        except WalletExists:  # created before a crash that came before the journal
            signer.open_wallet(setup.wallet, multisig.PASSWORD)
        setup = journal_setup(deps, mem, setup.with_created(signer_id, now))
    mem.treasury.opened[signer_id] = setup.wallet
    state = signer.state()
    made = len(setup.rounds) > 1 and signer_id in setup.rounds[1]
    if not setup.ready and state.multisig != made:
        mem.treasury.opened.pop(signer_id, None)
        raise SignerLost("is_multisig", f"its wallet {setup.wallet} is {'' if state.multisig else 'not '}multisig, "
                         f"but the journal {'lacks' if state.multisig else 'holds'} its make_multisig answer")
    if state.multisig and (state.threshold, state.total) != (setup.threshold, setup.total):
        raise SignerLost("is_multisig", f"its wallet {setup.wallet} is {state.threshold}-of-{state.total}, "
                         f"not {setup.label}")
    deps.log.debug("signer_opened", message=f"Signer {signer_id} serves {setup.wallet}", signer=signer_id,
                   multisig=state.multisig, ready=state.ready)
    return setup


def _adopted(deps: Deps, mem: Memory) -> Optional[Setup]:
    """The ready treasury of the info file, when the journal knows no set-up at all (it was lost)."""
    if mem.treasury.setups:
        return None
    try:
        document = deps.status.read(multisig.info_file(deps.agent_id))
    except StoreError:
        return None
    return multisig.setup_from_info(document, deps.config, deps.agent_id, deps.clock.time())

"""The dependencies every action is given (`Deps`).

`Deps` is frozen and holds every door to the outside (registry, wallets,
daemons, ledger, journal, clock, RNG, logger), so a test swaps all of them.
The machine's memory is `memory.Memory`; one cycle's data is in `cycle`;
what an action returns (`Outcome`) is defined with the table, in `states`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fsm_distributor.core.config import Config
from fsm_distributor.core.errors import WalletUnavailable
from fsm_distributor.core.ports import (Clock, Daemon, JournalStore, Ledger, MultisigSigner, Registry, ScheduleSource,
                                        StatusStore, Wallet)
from fsm_distributor.core.schedule import NO_SOURCE


def no_checkpoint(_phase: str) -> None:
    """The default crash hook: nothing (tests make the process kill itself here)."""


def no_signers(host: str, port: int) -> MultisigSigner:
    """The default multisig port (issue 13): none; only a run with a treasury needs one."""
    raise WalletUnavailable("multisig", f"no multisig signer port to reach {host}:{port}")


@dataclass(frozen=True)
class Deps:
    config: Config
    agent_id: str
    registry: Registry
    wallets: Callable[[str, int], Wallet]
    daemons: Callable[[str, int], Daemon]
    ledger: Ledger
    journal: JournalStore
    status: StatusStore
    clock: Clock
    rng: np.random.Generator
    log: Any
    checkpoint: Callable[[str], None] = no_checkpoint
    #: multisig treasury (issue 13): a signer's wallet-rpc, by endpoint.
    signers: Callable[[str, int], MultisigSigner] = no_signers
    #: The schedule (issue 12): the file's reader, or a fixed (inline, or empty) schedule.
    schedule: ScheduleSource = NO_SOURCE

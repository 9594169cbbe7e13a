"""The names the agent's data uses: purposes, intent statuses and their lifecycle, verdicts.

Enums, so that a misspelt name fails where it is written, not at run time.
Each is a `str`: the value is what logs, the journal and transactions.json
show, and it compares equal to that string.  The triggers are in `states.py`,
with the table they drive.
"""

from __future__ import annotations

import enum


class Name(str, enum.Enum):
    """An enum whose members print, format and serialise as their value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Purpose(Name):
    """What a payment is for."""

    DISTRIBUTION = "distribution"        # the seed's single payments
    INITIAL_FUNDING = "initial_funding"  # Monerosim's distributor: every eligible agent once, in batches
    FUNDING_CYCLE = "funding_cycle"      # then batches over the funded agents, every cycle interval
    TREASURY_FUNDING = "treasury_funding"  # multisig (issue 13): a batch from a miner to the treasury
    SCHEDULED = "scheduled"              # an occurrence of the `schedule` attribute (core.schedule)

    @property
    def batch(self) -> bool:
        return self in (Purpose.INITIAL_FUNDING, Purpose.FUNDING_CYCLE, Purpose.TREASURY_FUNDING)


class Status(Name):
    """How far an intent (one transaction) got; see LIFECYCLE."""

    BUILT = "built"          # signed, journaled, maybe not relayed
    RELAYED = "relayed"      # broadcast, maybe not recorded
    RECORDED = "recorded"    # in transactions.json, not yet confirmed
    CONFIRMED = "confirmed"  # in a block with enough confirmations
    FAILED = "failed"        # can no longer confirm (or, watched, might still: see Verdict)


#: The intent lifecycle as data: which status may follow which.  FAILED -> CONFIRMED is a verdict a
#: later block overturned; FAILED -> FAILED refines a verdict (its inputs were spent after all).
LIFECYCLE: dict[Status, frozenset[Status]] = {
    Status.BUILT: frozenset({Status.RELAYED, Status.FAILED}),
    Status.RELAYED: frozenset({Status.RECORDED}),
    Status.RECORDED: frozenset({Status.CONFIRMED, Status.FAILED}),
    Status.FAILED: frozenset({Status.CONFIRMED, Status.FAILED}),
    Status.CONFIRMED: frozenset(),
}
#: Open intents: recovery must finish them (relay a built one, record a relayed one).
OPEN = frozenset({Status.BUILT, Status.RELAYED})
#: Statuses in which an intent's recipients count as paid (failed ones become eligible again).
PAID = frozenset({Status.RELAYED, Status.RECORDED, Status.CONFIRMED})


class IllegalMove(ValueError):
    """An intent asked to move to a status its lifecycle does not allow from where it is."""

    def __init__(self, tx_hash: str, old: Status, new: Status):
        allowed = ", ".join(sorted(LIFECYCLE[old])) or "nothing (final)"
        super().__init__(f"intent {tx_hash}: {old} -> {new} is not a legal move (from {old}: {allowed})")
        self.old, self.new = old, new


def check_move(tx_hash: str, old: Status, new: Status) -> None:
    if new not in LIFECYCLE[old]:
        raise IllegalMove(tx_hash, old, new)


class Verdict(Name):
    """Why an intent failed."""

    INPUTS_SPENT = "inputs_spent"      # another transaction spent its inputs: it can never confirm
    ABSENT = "absent"                  # dropped: in neither pool nor chain for a number of blocks
    WALLET_FAILED = "wallet_failed"    # the wallet said so, and there was no daemon to ask
    RELAY_REJECTED = "relay_rejected"  # the relay was refused and nobody knew the transaction


#: Verdicts that a later block could prove wrong: their intents stay watched (Verifying).
WATCHED = frozenset({Verdict.ABSENT, Verdict.WALLET_FAILED, Verdict.RELAY_REJECTED})

"""Batch funding, the job of Monerosim's own distributor: pure planning, no I/O.

A batch pays several recipients `outputs_per_recipient` outputs of
`output_amount` each in ONE transaction.  Correct by construction: never
more than 15 destinations (Monero's 16 outputs less the change), a
recipient's outputs always in the same transaction, and never more than
the miner can pay from unlocked coins after the fee reserve.
"""

from __future__ import annotations

from typing import Any, Sequence

from fsm_distributor.core.config import MAX_DESTINATIONS, Config
from fsm_distributor.core.intent import Destination

STATUS_FILE = "initial_funding_status.json"
#: Monerosim's distributor gives up on a recipient after this many failed address look-ups.
MAX_LOOKUP_FAILURES = 5


def recipients_per_transaction(config: Config) -> int:
    """How many recipients one transaction can fund: 8 x 2 outputs do not fit 15, so 7."""
    return max(1, min(config.n_recipients, MAX_DESTINATIONS // config.outputs_per_recipient))


def cost_per_recipient(config: Config) -> int:
    return config.outputs_per_recipient * config.output_amount


def batch_fee_reserve(config: Config) -> int:
    """A batch's fee grows with its outputs (0.0083 XMR for 15 at priority 1): keep twice the reserve."""
    return 2 * config.fee_reserve


def affordable(config: Config, unlocked: int) -> int:
    """Recipients this miner can fund in one transaction now (the batch shrinks to fit)."""
    budget = unlocked - batch_fee_reserve(config)
    return max(0, min(recipients_per_transaction(config), budget // cost_per_recipient(config)))


def destinations_for(config: Config, recipients: Sequence[tuple[str, str]]) -> tuple[Destination, ...]:
    """One Destination per output, each recipient's outputs side by side."""
    out = tuple(Destination(rid, address, config.output_amount)
                for rid, address in recipients for _ in range(config.outputs_per_recipient))
    if len(out) > MAX_DESTINATIONS:
        raise ValueError(f"a batch of {len(out)} outputs does not fit one transaction ({MAX_DESTINATIONS} at most)")
    return out


def status_document(*, funded: dict[str, str], failed: Sequence[str], permanently_failed: Sequence[str],
                    completed: bool, timestamp: float, timed_out: bool = False, distributor_id: str = "") -> dict[str, Any]:
    """initial_funding_status.json in Monerosim's format (plus each funded recipient's tx, and who wrote it:
    the file has one name for every distributor of a run)."""
    return {
        "funded_recipients": sorted(funded),
        "failed_recipients": sorted(set(failed)),
        "permanently_failed": sorted(set(permanently_failed)),
        "completed": completed,
        "timed_out": timed_out,
        "last_updated": timestamp,
        "funding_transactions": dict(sorted(funded.items())),
        "distributor_id": distributor_id,
    }

"""What the network looks like to the agent, and the pure rules that follow from it (issue 11).

ReadingNetwork asks the selected miner's monerod (at most once per new block
height) and keeps a `NetworkView`; the rules here turn such a view, the
configuration and this agent's own intents into decisions: the fee priority
from the pool's size, the `topup` and `sustainable` amounts, the spending
budget and the fee-to-amount sanity check.  No I/O; money stays integer
atomic units, ratios are `Fraction`s (exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Optional, Sequence

from fsm_distributor.core.intent import Intent
from fsm_distributor.core.names import WATCHED, Purpose, Status
from fsm_distributor.core.ports import BlockHeader, ChainInfo, FeeEstimate, PoolStats

#: The priorities the pool's size steps the fee up to, one per threshold of `fee_thresholds_kb`.
STEPPED_PRIORITIES = (2, 3, 4)
#: Bytes of a single payment, to expect its fee from the daemon's per-byte estimate (2,166 seen on
#: regtest for 2 inputs and 2 outputs; rounded up).
SINGLE_PAYMENT_BYTES = 2500


@dataclass(frozen=True)
class NetworkView:
    """One read of a miner's monerod: what the decisions of the cycles until the next block use."""

    info: ChainInfo
    fees: FeeEstimate
    pool: PoolStats
    block: BlockHeader

    @property
    def height(self) -> int:
        return self.info.height

    @property
    def pool_bytes(self) -> int:
        return self.pool.bytes_total

    @property
    def pool_kb(self) -> float:
        """For logs and records (kB = 1000 bytes, as in Monero's 300 kB full-reward zone)."""
        return round(self.pool.bytes_total / 1000, 3)

    def expected_fee(self, priority: int) -> int:
        """About what a single payment at `priority` costs (the wallet's answer at build time decides)."""
        return self.fee_per_byte(priority) * SINGLE_PAYMENT_BYTES

    def fee_per_byte(self, priority: int) -> int:
        """The daemon's estimate for `priority` (0 and 1 are the same tier); the base fee without tiers."""
        tiers = self.fees.by_priority
        if not tiers:
            return self.fees.per_byte
        return tiers[min(max(priority, 1), len(tiers)) - 1]


# ---------------------------------------------------------------- fee priority


def priority_for(pool_bytes: int, base: int, thresholds: Sequence[int]) -> int:
    """`base`, stepped up to 2, 3 and 4 as the pool reaches each threshold (bytes); never below base."""
    level = base
    for step, threshold in zip(STEPPED_PRIORITIES, thresholds):
        if pool_bytes >= threshold:
            level = max(level, step)
    return level


def fee_within(fee: int, amount: int, max_fraction: Fraction) -> bool:
    """Whether a payment of `amount` may cost `fee` (max_fee_fraction; 0 is off)."""
    return max_fraction == 0 or fee * max_fraction.denominator <= amount * max_fraction.numerator


def amount_for_fee(fee: int, max_fraction: Fraction) -> int:
    """The smallest amount whose payment may cost `fee` (`max_fraction` > 0)."""
    return -(-fee * max_fraction.denominator // max_fraction.numerator)


# ---------------------------------------------------------------- topup


def counts_for_recipient(intent: Intent) -> bool:
    """Whether an intent of ours has paid or may still pay its recipients: everything but a failure
    that no later block can overturn (inputs spent)."""
    return intent.status is not Status.FAILED or intent.verdict in WATCHED


def shown_by_wallet(intent: Intent, wallet_height: int) -> bool:
    """Whether the recipient's wallet, scanned up to `wallet_height` (blocks), already counts it:
    confirmed in a block below that height.  Anything else is still in flight for it."""
    return intent.status is Status.CONFIRMED and 0 < intent.height < wallet_height


def paid_to(intents: Iterable[Intent], recipient: str, shown_below: Optional[int]) -> tuple[int, int]:
    """(all, in flight): what this agent's intents pay `recipient`, and the part its wallet does
    not show yet (`shown_below`: the wallet's height; None: no wallet, nothing is shown)."""
    total = in_flight = 0
    for intent in intents:
        if recipient not in intent.recipients or not counts_for_recipient(intent):
            continue
        amount = sum(d.amount for d in intent.destinations if d.recipient == recipient)
        total += amount
        if shown_below is None or not shown_by_wallet(intent, shown_below):
            in_flight += amount
    return total, in_flight


@dataclass(frozen=True)
class Holding:
    """What a recipient holds for `topup`: `held` = its wallet's `balance` (None: no answer, then what
    this agent paid it) + what this agent sent it that the wallet does not show yet (`in_flight`)."""

    held: int
    balance: Optional[int]
    in_flight: int
    source: str  # wallet | records


def topup_amount(target: int, held: int, low: int, high: int) -> Optional[int]:
    """`target - held` clamped to [low, high]; None when the recipient holds the target within `low`
    (paying `low` could then take it above the target)."""
    deficit = target - held
    if deficit <= low:
        return None
    return min(deficit, high)


# ---------------------------------------------------------------- sustainable


def block_interval(first: Optional[tuple[int, int]], block: BlockHeader, target: int) -> Fraction:
    """Seconds per block observed since `first` (height, timestamp) was seen; `target` until then."""
    if first is not None:
        blocks, seconds = block.height - first[0], block.timestamp - first[1]
        if blocks > 0 and seconds > 0:
            return Fraction(seconds, blocks)
    return Fraction(max(target, 1))


def weight_share(payable: Iterable[float], everyone: Iterable[float]) -> Fraction:
    """The share of the blocks that the miners this agent pays from earn (miners.json weights)."""
    total = sum(Fraction(w) for w in everyone)
    return sum((Fraction(w) for w in payable), Fraction(0)) / total if total > 0 else Fraction(1)


def income_rate(reward: int, interval: Fraction, share: Fraction) -> Fraction:
    """Atomic units per second that the payable miners earn."""
    return Fraction(reward) * share / interval


def sustainable_amount(draw: int, allowed_rate: Fraction, frequency: float, low: int, high: int) -> int:
    """The uniform draw scaled so that one payment per `frequency` seconds spends `allowed_rate`
    on average (the draw's mean becomes the budget of one payment), clamped to [low, high]."""
    budget = allowed_rate * Fraction(Decimal(str(frequency)))
    scaled = Fraction(draw) * budget / Fraction(low + high, 2)
    return max(low, min(high, int(scaled)))


def spent_since(intents: Iterable[Intent], since: float) -> int:
    """Amounts and fees of this agent's single payments made since `since` that paid or may pay."""
    return sum(i.amount + i.fee for i in intents
               if i.purpose is Purpose.DISTRIBUTION and i.created_at >= since and counts_for_recipient(i))


def budget_wait(spent: int, amount: int, allowed_rate: Fraction, elapsed: float, slack: int) -> float:
    """Seconds to wait before paying `amount` keeps what this run spent within `allowed_rate` times
    the `elapsed` seconds since the budget started, plus `slack` (one largest payment, so the first
    payment need not wait and the fraction holds over the run); 0: pay now."""
    credit = allowed_rate * Fraction(Decimal(str(elapsed))) + slack
    excess = spent + amount - credit
    if excess <= 0:
        return 0.0
    if allowed_rate <= 0:
        return float("inf")
    return float(excess / allowed_rate)

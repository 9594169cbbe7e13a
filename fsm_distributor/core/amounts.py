"""XMR amounts: exact Decimal parsing into integer atomic units, and back.

Money is an `int` of atomic units (1 XMR = 10**12) from parsing to the RPC
call; floats appear only in the `amount` field that Monerosim's analysis
reads, made from the exact integer at the last moment.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

import numpy as np

ATOMIC_PER_XMR = 10**12
#: wallet-rpc amounts are uint64.
MAX_ATOMIC = 2**64 - 1
#: The largest amount in XMR, and one atomic unit, as exact Decimals.
_MAX_XMR = Decimal(MAX_ATOMIC).scaleb(-12)
_ONE_ATOMIC = Decimal(1).scaleb(-12)
#: Amounts <= _MAX_XMR quantized to 12 decimals have at most 20 digits: exact here
#: whatever the thread's decimal context (the default one rounds at 28 digits).
_EXACT = Context(prec=40)


class AmountError(ValueError):
    """Text that is not an acceptable XMR amount; the message says why."""


def parse_xmr(text: object) -> int:
    """'0.1' -> 100000000000. Rejects floats' artefacts, signs, NaN and > 12 decimals."""
    raw = str(text).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise AmountError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise AmountError(f"{raw!r} is not a finite number")
    if value < 0:
        raise AmountError(f"{raw!r} is negative")
    # Compare before any arithmetic: Decimal comparisons are exact, products are
    # rounded to the context's precision (28 digits) and can overflow.
    if value > _MAX_XMR:
        raise AmountError(f"{raw!r} exceeds the largest amount a wallet accepts")
    whole_atomic = value.quantize(_ONE_ATOMIC, context=_EXACT)
    if whole_atomic != value:
        raise AmountError(f"{raw!r} has more than 12 decimal places (1 atomic unit = 1e-12 XMR)")
    return int(whole_atomic.scaleb(12, context=_EXACT))


def to_decimal(atomic: int) -> Decimal:
    """Exact XMR value of `atomic` units."""
    return Decimal(atomic) / ATOMIC_PER_XMR


def format_xmr(atomic: int) -> str:
    """'0.123400000000' style, exact, for logs and tables."""
    sign = "-" if atomic < 0 else ""
    whole, frac = divmod(abs(atomic), ATOMIC_PER_XMR)
    return f"{sign}{whole}.{frac:012d}"


def to_float_xmr(atomic: int) -> float:
    """The nearest float, for the JSON `amount` field Monerosim's analysis reads."""
    return float(to_decimal(atomic))


#: numpy's default integers are int64; amounts go up to the wallet's uint64.
_INT64_MAX = 2**63 - 1


def draw_atomic(rng: np.random.Generator, low: int, high: int) -> int:
    """Uniform over [low, high] in whole atomic units: exact, no float in between.

    Above int64 (9223372.036854775807 XMR) the draw is made as uint64, which
    covers every amount a wallet accepts; below it the int64 draw is kept, so
    the same seed gives the same amounts as ever.
    """
    if high <= _INT64_MAX:
        return int(rng.integers(low, high, endpoint=True))
    return int(rng.integers(low, high, endpoint=True, dtype=np.uint64))

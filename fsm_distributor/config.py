"""Typed, validated configuration from Monerosim's string attributes.

Monerosim passes every attribute of the agent as `--attributes KEY VALUE`
with string values; this module turns the ones the distributor knows into
one frozen `Config` and refuses bad values at start-up with a message that
names the attribute, the value and what is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping, Optional

from fsm_distributor.amounts import AmountError, format_xmr, parse_xmr

MINER_STRATEGIES = ("weighted", "balance", "random")
RECIPIENT_STRATEGIES = ("random", "round_robin")

#: Atomic units kept aside for the fee, by priority tier.  Seen on regtest
#: (docs/wallet-facts.md): one output costs 0.0026 XMR at tiers 0-1, 0.0102 at
#: 2, 0.0412 at 3, 0.521 at 4; the reserve allows for about 4 times that.
DEFAULT_FEE_RESERVE = {0: 10**10, 1: 10**10, 2: 5 * 10**10, 3: 2 * 10**11, 4: 2 * 10**12}


class ConfigError(ValueError):
    """An attribute value the agent refuses; `str()` is the one line to print."""

    def __init__(self, attribute: str, value: object, accepted: str, reason: str = ""):
        self.attribute = attribute
        self.value = value
        self.accepted = accepted
        why = f" ({reason})" if reason else ""
        super().__init__(f"invalid attribute {attribute}={value!r}{why}; accepted: {accepted}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'250', '3600s', '30m', '2h', '1d' -> seconds (Monerosim's duration forms)."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration")
    number, unit = match.groups()
    return float(Decimal(number) * _UNIT_SECONDS[unit.lower()])


def _duration(name: str, *, minimum: float = 0.0, allow_zero: bool = True) -> Callable[[str], float]:
    accepted = "a duration in seconds (a number, or with unit s/m/h/d, e.g. '60', '30m', '2h')" + (
        "" if allow_zero else ", greater than 0")

    def parse(raw: str) -> float:
        text = str(raw).strip()
        if text.startswith("-"):
            raise ConfigError(name, raw, accepted, "negative")
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise ConfigError(name, raw, accepted) from None
        if seconds < minimum or (not allow_zero and seconds == 0):
            raise ConfigError(name, raw, accepted)
        return seconds
    return parse


def _choice(name: str, options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise ConfigError(name, raw, " | ".join(options))
        return value
    return parse


def _int_range(name: str, low: int, high: Optional[int], accepted: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        text = str(raw).strip()
        try:
            value = int(Decimal(text)) if Decimal(text) == Decimal(text).to_integral_value() else None
        except (InvalidOperation, ValueError):
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise ConfigError(name, raw, accepted)
        return value
    return parse


def _xmr(name: str, *, positive: bool) -> Callable[[str], int]:
    accepted = "an amount in XMR with at most 12 decimals" + (", greater than 0" if positive else ", 0 or more")

    def parse(raw: str) -> int:
        try:
            atomic = parse_xmr(raw)
        except AmountError as exc:
            raise ConfigError(name, raw, accepted, str(exc)) from None
        if positive and atomic == 0:
            raise ConfigError(name, raw, accepted, "zero")
        return atomic
    return parse


@dataclass(frozen=True)
class Config:
    """Everything the distributor's behaviour depends on; amounts in atomic units."""

    transaction_frequency: float = 60.0
    min_amount: int = parse_xmr("0.1")
    max_amount: int = parse_xmr("1.0")
    miner_strategy: str = "weighted"
    priority: int = 1
    max_retries: int = 3
    recipient_strategy: str = "random"
    #: How long to wait when no miner can pay or nothing is eligible.
    balance_check_interval: float = 30.0
    fee_reserve: int = DEFAULT_FEE_RESERVE[1]
    #: Exponential back-off between transfer attempts: base * 2**(n-1), capped.
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    #: How long an unreachable miner is left alone at first (doubles, capped).
    miner_cooldown: float = 5.0
    miner_cooldown_cap: float = 120.0
    ignored: Mapping[str, str] = field(default_factory=dict)


#: attribute -> (Config field, parser).  The seed's names plus Monerosim's.
_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "transaction_frequency": ("transaction_frequency", _duration("transaction_frequency")),
    "min_transaction_amount": ("min_amount", _xmr("min_transaction_amount", positive=True)),
    "max_transaction_amount": ("max_amount", _xmr("max_transaction_amount", positive=True)),
    "miner_selection_strategy": ("miner_strategy", _choice("miner_selection_strategy", MINER_STRATEGIES)),
    "transaction_priority": ("priority", _int_range(
        "transaction_priority", 0, 4,
        "an integer 0-4 (0 default, 1 unimportant, 2 normal, 3 elevated, 4 priority)")),
    "max_retries": ("max_retries", _int_range(
        "max_retries", 1, 100, "an integer 1-100 (transfer attempts per send, the first included)")),
    "recipient_selection": ("recipient_strategy", _choice("recipient_selection", RECIPIENT_STRATEGIES)),
    "balance_check_interval": ("balance_check_interval", _duration(
        "balance_check_interval", allow_zero=False)),
    "fee_reserve": ("fee_reserve", _xmr("fee_reserve", positive=False)),
}

KNOWN_ATTRIBUTES = frozenset(_FIELDS)


def load_config(attributes: Mapping[str, str]) -> Config:
    """Parse Monerosim attributes into a `Config`; unknown ones land in `ignored`."""
    values: dict[str, object] = {}
    ignored: dict[str, str] = {}
    for key, raw in attributes.items():
        spec = _FIELDS.get(key)
        if spec is None:
            ignored[key] = raw
            continue
        field_name, parse = spec
        values[field_name] = parse(raw)
    if "fee_reserve" not in values:
        values["fee_reserve"] = DEFAULT_FEE_RESERVE[int(values.get("priority", Config.priority))]
    config = Config(**values, ignored=ignored)
    if config.min_amount > config.max_amount:
        raise ConfigError(
            "min_transaction_amount", attributes.get("min_transaction_amount", format_xmr(config.min_amount)),
            f"at most max_transaction_amount ({format_xmr(config.max_amount)} XMR)")
    return config

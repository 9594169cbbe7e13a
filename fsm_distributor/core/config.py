"""Typed, validated configuration from Monerosim's string attributes.

Monerosim passes every attribute of the agent as `--attributes KEY VALUE`
with string values; this module turns the ones the distributor knows into
one frozen `Config` and refuses bad values at start-up with a message that
names the attribute, the value and what is accepted.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from fsm_distributor.core.amounts import MAX_ATOMIC, AmountError, format_xmr, parse_xmr
from fsm_distributor.core.durations import MAX_DURATION as MAX_DURATION, parse_duration as parse_duration
from fsm_distributor.core.schedule import ScheduleError, ScheduleSetting, loads, parse_schedule, shown

MINER_STRATEGIES = ("weighted", "balance", "random")
DISTRIBUTION_MODES = ("payments", "funding_cycle")
#: Outputs one transaction may pay besides its change (Monero: 16 outputs in all).
MAX_DESTINATIONS = 15
RECIPIENT_STRATEGIES = ("random", "round_robin")
#: multisig treasury (issue 13): what the treasury pays (off: nothing, the default).
MULTISIG_MODES = ("off", "payments", "all")
#: Network-aware distribution (issue 11): how the fee priority and the single payments' amounts are chosen.
FEE_STRATEGIES = ("fixed", "pool_aware")
AMOUNT_STRATEGIES = ("uniform", "topup", "sustainable")

#: Atomic units kept aside for the fee, by priority tier.  Seen on regtest
#: (docs/wallet-facts.md): one output costs 0.0026 XMR at tiers 0-1, 0.0102 at
#: 2, 0.0412 at 3, 0.521 at 4; the reserve allows for about 4 times that.
DEFAULT_FEE_RESERVE = {0: 10**10, 1: 10**10, 2: 5 * 10**10, 3: 2 * 10**11, 4: 2 * 10**12}


class ConfigError(ValueError):
    """An attribute value (or option, `kind`) the agent refuses; `str()` is the one line to print."""

    def __init__(self, attribute: str, value: object, accepted: str, reason: str = "", kind: str = "attribute"):
        self.attribute = attribute
        self.value = value
        self.accepted = accepted
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"invalid {kind} {attribute}={value!r}{why}; accepted: {accepted}")


#: Longest agent id, in UTF-8 bytes: the id names files ({id}_distributor_journal.corrupt-N.json is
#: the longest) and a file name holds 255 bytes.
MAX_ID_BYTES = 128
ID_ACCEPTED = (f"a plain file-name part: 1-{MAX_ID_BYTES} bytes of UTF-8, no '/', no control characters, "
               f"not starting with '.'")


def validate_agent_id(agent_id: str) -> str:
    """The id names this agent's files in the shared dir, so it must be usable as part of a file name."""
    reason = agent_id_problem(agent_id)
    if reason:
        raise ConfigError("--id", agent_id, ID_ACCEPTED, reason, kind="option")
    return agent_id


def agent_id_problem(agent_id: str) -> str:
    """Why `agent_id` cannot be part of a file name ('' if it can)."""
    unusable = [c for c in agent_id if unicodedata.category(c) in ("Cc", "Cs")]  # Cs: undecodable argv bytes
    reason = ""
    if not agent_id.strip():
        reason = "only whitespace" if agent_id else "empty"
    elif "/" in agent_id:
        reason = "a path separator '/'"
    elif agent_id.startswith("."):
        reason = "starts with '.'"
    elif unusable:
        reason = "not valid UTF-8" if unicodedata.category(unusable[0]) == "Cs" else \
            f"a control character {unusable[0]!r}"
    elif len(agent_id.encode("utf-8")) > MAX_ID_BYTES:
        reason = f"{len(agent_id.encode('utf-8'))} bytes long"
    return reason


def attributes_from(pairs: Iterable[Sequence[str]]) -> dict[str, str]:
    """`--attributes KEY VALUE` pairs as a dict; a key given twice is refused (which one was meant?)."""
    attributes: dict[str, str] = {}
    for key, value in pairs:
        if key in attributes:
            raise ConfigError(key, value, "each attribute at most once",
                              f"given twice: {attributes[key]!r} and {value!r}")
        attributes[key] = value
    return attributes


#: A parser turns an attribute's raw string into its typed value, or raises ConfigError naming it.
Parser = Callable[[str, str], Any]


def _duration(*, allow_zero: bool = True) -> Parser:
    accepted = "a duration in seconds (a number, or with unit s/m/h/d, e.g. '60', '30m', '2h')" + (
        "" if allow_zero else ", greater than 0") + f", at most {MAX_DURATION} s"

    def parse(name: str, raw: str) -> float:
        text = str(raw).strip()
        if text.startswith("-"):
            raise ConfigError(name, raw, accepted, "negative")
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise ConfigError(name, raw, accepted) from None
        if (not allow_zero and seconds == 0) or seconds > MAX_DURATION:
            raise ConfigError(name, raw, accepted)
        return seconds
    return parse


def _choice(options: tuple[str, ...]) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise ConfigError(name, raw, " | ".join(options))
        return value
    return parse


def _int_range(low: int, high: int, accepted: str = "") -> Parser:
    accepted = accepted or f"an integer {low}-{high}"

    def parse(name: str, raw: str) -> int:
        text = str(raw).strip()
        # Checked as a Decimal first: int() of 'inf' raises OverflowError and
        # int() of '1e999999999' would take minutes.
        try:
            number = Decimal(text)
            ok = number.is_finite() and number == number.to_integral_value() and low <= number <= high
        except (InvalidOperation, ValueError):
            ok = False
        if not ok:
            raise ConfigError(name, raw, accepted)
        return int(number)
    return parse


def parse_bool(value: object) -> Optional[bool]:
    """Monerosim's string booleans (true/false/1/0/yes/no/on/off, any case); None if neither.

    The one boolean parser: attributes here, registry flags in `core.registry`.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return None


def _bool() -> Parser:
    def parse(name: str, raw: str) -> bool:
        value = parse_bool(raw)
        if value is None:
            raise ConfigError(name, raw, "true/false/1/0/yes/no/on/off")
        return value
    return parse


def _xmr(*, positive: bool) -> Parser:
    accepted = "an amount in XMR with at most 12 decimals" + (", greater than 0" if positive else ", 0 or more")

    def parse(name: str, raw: str) -> int:
        try:
            atomic = parse_xmr(raw)
        except AmountError as exc:
            raise ConfigError(name, raw, accepted, str(exc)) from None
        if positive and atomic == 0:
            raise ConfigError(name, raw, accepted, "zero")
        return atomic
    return parse


def _agent_ids() -> Parser:
    """A comma-separated list of registry agent ids (the treasury's signers), each once."""
    accepted = "registry agent ids separated by commas (e.g. 'signer1,signer2,signer3'), each once"

    def parse(name: str, raw: str) -> tuple[str, ...]:
        ids = tuple(part.strip() for part in str(raw).split(",") if part.strip())
        for agent_id in ids:
            problem = agent_id_problem(agent_id)
            if problem:
                raise ConfigError(name, raw, accepted, f"{agent_id!r}: {problem}")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ConfigError(name, raw, accepted, f"{', '.join(repeated)} given twice")
        return ids
    return parse


# -- scheduled payments (issue 12) ------------------------------------------------

SCHEDULE_MISSED = ("run", "skip")
SCHEDULE_ACCEPTED = ("a JSON file of entries (a path relative to the shared dir, or absolute) or an inline JSON "
                     "array of entries (README: Scheduled payments)")


def _frequency() -> Parser:
    """transaction_frequency: a duration as ever, or `off` (None): no single payments, only the schedule."""
    duration = _duration()

    def parse(name: str, raw: str) -> Optional[float]:
        if str(raw).strip().lower() == "off":
            return None
        try:
            return duration(name, raw)  # type: ignore[no-any-return]
        except ConfigError as exc:
            raise ConfigError(name, raw, exc.accepted + ", or off (no single payments)", exc.reason) from None
    return parse


def schedule_error(exc: ScheduleError, source: str) -> ConfigError:
    """The start-up refusal of a bad schedule: one line naming the entry, the field, the value and what
    is accepted (and, for a file, which file)."""
    where = f"entry {exc.entry} field {exc.field}" if exc.entry else exc.field
    value = exc.value if isinstance(exc.value, (str, int)) and len(repr(exc.value)) <= 80 else shown(exc.value)
    return ConfigError(f"({source}) {where}", value, exc.accepted, exc.reason, kind="schedule")


def _schedule() -> Parser:
    def parse(name: str, raw: str) -> ScheduleSetting:
        text = str(raw).strip()
        if not text:
            raise ConfigError(name, raw, SCHEDULE_ACCEPTED, "empty")
        if not text.startswith("["):
            return ScheduleSetting(path=text)  # read (and checked) by the command line, which may do I/O
        try:
            data = loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(name, raw, SCHEDULE_ACCEPTED, f"not valid JSON: {exc}") from None
        try:
            return ScheduleSetting(inline=parse_schedule(data))
        except ScheduleError as exc:
            raise schedule_error(exc, "inline") from None
    return parse


# -- parsers of the network-aware attributes (issue 11) --

#: Largest pool size an attribute may name, in kB (a pool of a terabyte is not a threshold, it is a typo).
MAX_KB = 10**9
_KB_ACCEPTED = f"a size in kB (1 kB = 1000 bytes) with at most 3 decimals, 0-{MAX_KB}"


def _kb_to_bytes(text: str) -> Optional[int]:
    """'300' or '0.5' kB -> bytes; None when it is not such a number."""
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number < 0 or number > MAX_KB or (number * 1000) % 1:
        return None
    return int(number * 1000)


def _kilobytes() -> Parser:
    def parse(name: str, raw: str) -> int:
        size = _kb_to_bytes(str(raw))
        if size is None:
            raise ConfigError(name, raw, _KB_ACCEPTED + " (0: off)")
        return size
    return parse


def _thresholds() -> Parser:
    accepted = f"three increasing sizes in kB, comma-separated (e.g. '300,900,3000'), each > 0 and <= {MAX_KB}"

    def parse(name: str, raw: str) -> tuple[int, ...]:
        parts = str(raw).split(",")
        sizes = [_kb_to_bytes(p) for p in parts]
        if len(sizes) != 3 or any(s is None or s == 0 for s in sizes):
            raise ConfigError(name, raw, accepted)
        steps = [s for s in sizes if s is not None]
        if steps != sorted(set(steps)):
            raise ConfigError(name, raw, accepted, "not increasing")
        return tuple(steps)
    return parse


def _fraction(*, allow_zero: bool) -> Parser:
    accepted = ("a number from 0 to 1 (0: off)" if allow_zero else "a number greater than 0, at most 1")

    def parse(name: str, raw: str) -> Fraction:
        try:
            number = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            raise ConfigError(name, raw, accepted) from None
        if not number.is_finite() or number > 1 or number < 0 or (number == 0 and not allow_zero):
            raise ConfigError(name, raw, accepted)
        return Fraction(number)
    return parse


def attribute(name: str, default: Any, parse: Parser) -> Any:
    """A Config field that an agent attribute sets: its name (the seed's, or Monerosim's `md_*`),
    default and parser (which knows what is accepted), in one place."""
    return field(default=default, metadata={"attribute": name, "parse": parse})


@dataclass(frozen=True)
class Config:
    """Everything the distributor's behaviour depends on; amounts in atomic units.

    Each field set by an attribute is declared with `attribute(...)`; the rest are fixed tunings.
    """

    #: None: `off`, no single payments (a run that does only what its schedule says).
    transaction_frequency: Optional[float] = attribute("transaction_frequency", 60.0, _frequency())
    min_amount: int = attribute("min_transaction_amount", parse_xmr("0.1"), _xmr(positive=True))
    max_amount: int = attribute("max_transaction_amount", parse_xmr("1.0"), _xmr(positive=True))
    miner_strategy: str = attribute("miner_selection_strategy", "weighted", _choice(MINER_STRATEGIES))
    priority: int = attribute("transaction_priority", 1, _int_range(
        0, 4, "an integer 0-4 (0 default, 1 unimportant, 2 normal, 3 elevated, 4 priority)"))
    max_retries: int = attribute("max_retries", 3, _int_range(
        1, 100, "an integer 1-100 (transfer attempts per send, the first included)"))
    recipient_strategy: str = attribute("recipient_selection", "random", _choice(RECIPIENT_STRATEGIES))
    #: How long to wait when no miner can pay or nothing is eligible.
    balance_check_interval: float = attribute("balance_check_interval", 30.0, _duration(allow_zero=False))
    #: Default: by priority (DEFAULT_FEE_RESERVE), worked out by load_config.
    fee_reserve: int = attribute("fee_reserve", DEFAULT_FEE_RESERVE[1], _xmr(positive=False))
    #: A recorded transaction is confirmed at this many confirmations.
    confirmations_required: int = attribute("confirmations_required", 1, _int_range(1, 1000))
    #: How often each recorded, unconfirmed transaction is looked up.
    verification_interval: float = attribute("verification_interval", 30.0, _duration(allow_zero=False))
    #: Monerosim's distributor: fund every can_receive_distributions agent first, in batches.
    initial_funding: bool = attribute("initial_funding", True, _bool())
    n_recipients: int = attribute("md_n_recipients", 8, _int_range(1, 10_000))
    outputs_per_recipient: int = attribute("md_out_per_tx", 2, _int_range(
        1, MAX_DESTINATIONS, f"an integer 1-{MAX_DESTINATIONS} (a recipient's outputs must fit in one transaction)"))
    output_amount: int = attribute("md_output_amount", parse_xmr("5"), _xmr(positive=True))
    funding_cycle_interval: float = attribute("md_funding_cycle_interval", 300.0, _duration(allow_zero=False))
    max_wait_time: float = attribute("max_wait_time", 7200.0, _duration())
    #: After initial funding: the seed's single payments, or Monerosim's batch cycles.  Default: worked
    #: out by load_config (funding_cycle when md_* attributes come without transaction_frequency).
    distribution_mode: str = attribute("distribution_mode", "payments", _choice(DISTRIBUTION_MODES))
    # -- multisig treasury (issue 13); checked together in _check_multisig ---------------------------
    #: What the treasury pays: nothing (off), single payments, or funding batches too once it is funded.
    multisig_mode: str = attribute("multisig_mode", "off", _choice(MULTISIG_MODES))
    #: The registry agents whose wallet-rpcs serve the treasury (dedicated: their wallet is replaced).
    multisig_signers: tuple[str, ...] = attribute("multisig_signers", (), _agent_ids())
    #: M of the M-of-N treasury (N: the number of signers).
    multisig_threshold: int = attribute("multisig_threshold", 2, _int_range(2, 16, "an integer 2-16"))
    #: What one funding batch from the miners gives the treasury, in `multisig_funding_outputs` outputs.
    multisig_funding_amount: int = attribute("multisig_funding_amount", parse_xmr("50"), _xmr(positive=True))
    multisig_funding_outputs: int = attribute("multisig_funding_outputs", 5, _int_range(
        1, MAX_DESTINATIONS, f"an integer 1-{MAX_DESTINATIONS} (outputs of one funding transaction)"))
    #: Refill when the treasury's balance (unlocked, and what is locked but will unlock) is below this.
    multisig_refill_below: int = attribute("multisig_refill_below", parse_xmr("10"), _xmr(positive=False))
    # -- scheduled payments (issue 12) --------------------------------------------
    #: Scripted payments (core.schedule): a JSON file or an inline JSON array; none by default.
    schedule: ScheduleSetting = attribute("schedule", ScheduleSetting(), _schedule())
    #: Occurrences whose time passed while the agent was down: paid at the start, in order (run), or skipped.
    schedule_missed: str = attribute("schedule_missed", "run", _choice(SCHEDULE_MISSED))
    # ------------------------------------------------------------------------------
    # -- network-aware distribution (issue 11): fees that follow the pool, amounts that follow the network
    #: fixed: transaction_priority always; pool_aware: stepped up to 2, 3, 4 as the pool reaches fee_thresholds.
    fee_strategy: str = attribute("fee_strategy", "fixed", _choice(FEE_STRATEGIES))
    #: Pool sizes (bytes) at which pool_aware steps the priority up to 2, 3 and 4 (default: one, three and
    #: ten blocks of Monero's 300 kB full-reward zone).
    fee_thresholds: tuple[int, ...] = attribute("fee_thresholds_kb", (300_000, 900_000, 3_000_000), _thresholds())
    #: Above this pool size (bytes) single payments wait; 0: off.
    max_pool_bytes: int = attribute("max_pool_kb", 0, _kilobytes())
    #: While this many of this agent's own transactions are unconfirmed, new payments wait; 0: off.
    max_unconfirmed: int = attribute("max_unconfirmed", 0, _int_range(0, 1_000_000, "an integer 0-1000000 (0: off)"))
    #: uniform: the seed's draw; topup: up to target_balance per recipient; sustainable: follows the miners' income.
    amount_strategy: str = attribute("amount_strategy", "uniform", _choice(AMOUNT_STRATEGIES))
    target_balance: int = attribute("target_balance", parse_xmr("10"), _xmr(positive=True))
    #: sustainable: the share of the miners' income that single payments may spend.
    spend_fraction: Fraction = attribute("spend_fraction", Fraction(1, 2), _fraction(allow_zero=False))
    #: A single payment whose fee (the wallet's, at build time) exceeds this share of its amount is not sent.
    max_fee_fraction: Fraction = attribute("max_fee_fraction", Fraction(1, 2), _fraction(allow_zero=True))
    #: Exponential back-off between transfer attempts: base * 2**(n-1), capped.
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    #: How long an unreachable miner is left alone at first (doubles, capped).
    miner_cooldown: float = 5.0
    miner_cooldown_cap: float = 120.0
    ignored: Mapping[str, str] = field(default_factory=dict)

    @property
    def network_aware(self) -> bool:
        """Whether cycles read the network (ReadingNetwork): any network-aware attribute off its default."""
        return (self.fee_strategy != "fixed" or self.amount_strategy != "uniform" or self.max_pool_bytes > 0
                or self.max_unconfirmed > 0)


#: attribute name -> (Config field, parser), read off Config's declarations.
_FIELDS: dict[str, tuple[str, Parser]] = {
    f.metadata["attribute"]: (f.name, f.metadata["parse"]) for f in fields(Config) if "attribute" in f.metadata}

KNOWN_ATTRIBUTES = frozenset(_FIELDS)


def load_config(attributes: Mapping[str, str]) -> Config:
    """Parse Monerosim attributes into a `Config`; unknown ones land in `ignored`."""
    values: dict[str, Any] = {}  # field -> its parser's value
    ignored: dict[str, str] = {}
    for key, raw in attributes.items():
        spec = _FIELDS.get(key)
        if spec is None:
            ignored[key] = raw
            continue
        field_name, parse = spec
        values[field_name] = parse(key, raw)
    if "distribution_mode" not in values:
        # Monerosim's distributor attributes (md_*) without the seed's timing: its batch cycles.
        monerosim_style = any(k.startswith("md_") for k in attributes) and "transaction_frequency" not in attributes
        values["distribution_mode"] = "funding_cycle" if monerosim_style else "payments"
    if "fee_reserve" not in values:
        values["fee_reserve"] = DEFAULT_FEE_RESERVE[values.get("priority", Config.priority)]
    config = Config(**values, ignored=ignored)
    if config.output_amount * config.outputs_per_recipient > MAX_ATOMIC:
        raise ConfigError("md_output_amount", attributes.get("md_output_amount", format_xmr(config.output_amount)),
                          f"at most {format_xmr(MAX_ATOMIC // config.outputs_per_recipient)} XMR with md_out_per_tx "
                          f"{config.outputs_per_recipient}",
                          "a recipient's outputs must fit in one transaction, whose amounts are uint64")
    if config.min_amount > config.max_amount:
        raise ConfigError(
            "min_transaction_amount", attributes.get("min_transaction_amount", format_xmr(config.min_amount)),
            f"at most max_transaction_amount ({format_xmr(config.max_amount)} XMR)")
    _check_multisig(config, attributes)
    if config.amount_strategy == "topup" and config.target_balance <= config.min_amount:
        raise ConfigError(
            "target_balance", attributes.get("target_balance", format_xmr(config.target_balance)),
            f"more than min_transaction_amount ({format_xmr(config.min_amount)} XMR) with amount_strategy topup",
            "no recipient could ever be topped up")
    return config


def _check_multisig(config: Config, attributes: Mapping[str, str]) -> None:
    """The treasury's attributes together (issue 13): only when multisig_mode is not off."""
    if config.multisig_mode == "off":
        return
    signers = config.multisig_signers
    if len(signers) < 2:
        raise ConfigError("multisig_signers", attributes.get("multisig_signers", ""),
                          "at least 2 registry agent ids separated by commas when multisig_mode is "
                          f"{config.multisig_mode}")
    if config.multisig_threshold > len(signers):
        raise ConfigError("multisig_threshold", attributes.get("multisig_threshold", str(config.multisig_threshold)),
                          f"an integer 2-{len(signers)} (M of M-of-N: at most the {len(signers)} multisig_signers)")
    if config.multisig_funding_amount > MAX_ATOMIC:
        raise ConfigError("multisig_funding_amount", attributes.get("multisig_funding_amount", ""),
                          f"at most {format_xmr(MAX_ATOMIC)} XMR")
    if config.multisig_refill_below >= config.multisig_funding_amount:
        raise ConfigError("multisig_refill_below", attributes.get("multisig_refill_below",
                                                                  format_xmr(config.multisig_refill_below)),
                          f"less than multisig_funding_amount ({format_xmr(config.multisig_funding_amount)} XMR): "
                          f"one refill must lift the treasury above it")
    need = config.max_amount + config.fee_reserve
    if config.multisig_refill_below < need:
        raise ConfigError("multisig_refill_below", attributes.get("multisig_refill_below",
                                                                  format_xmr(config.multisig_refill_below)),
                          f"at least max_transaction_amount + fee_reserve ({format_xmr(need)} XMR): a treasury "
                          f"kept above it can always make the largest payment")

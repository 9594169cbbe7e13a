"""Tests for fsm_distributor.core.config: Monerosim's string attributes -> Config."""

from __future__ import annotations

import dataclasses

import pytest

from fsm_distributor.core.config import (
    DEFAULT_FEE_RESERVE,
    KNOWN_ATTRIBUTES,
    MAX_DURATION,
    MAX_ID_BYTES,
    Config,
    ConfigError,
    attributes_from,
    load_config,
    parse_duration,
    validate_agent_id,
)

XMR = 10**12


def refused(attributes: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(attributes)
    return info.value


def assert_names(err: ConfigError, attribute: str, value: str, *accepted_words: str) -> None:
    """The one-line message names the attribute, the bad value and what is accepted."""
    text = str(err)
    assert "\n" not in text
    assert err.attribute == attribute and err.value == value
    assert f"{attribute}={value!r}" in text
    assert "accepted: " in text
    for word in accepted_words:
        assert word in err.accepted and word in text


# ---------------------------------------------------------------- defaults


def test_no_attributes_gives_the_seed_defaults():
    config = load_config({})
    assert config == Config()
    assert config.transaction_frequency == 60.0
    assert config.min_amount == XMR // 10 and config.max_amount == XMR
    assert config.miner_strategy == "weighted"
    assert config.priority == 1
    assert config.max_retries == 3
    assert config.recipient_strategy == "random"
    assert config.balance_check_interval == 30.0
    assert config.fee_reserve == DEFAULT_FEE_RESERVE[1]
    assert config.ignored == {}


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_config({}).priority = 3


def test_known_attributes_cover_the_seed_and_monerosim_names():
    assert KNOWN_ATTRIBUTES >= {
        "transaction_frequency", "min_transaction_amount", "max_transaction_amount",
        "miner_selection_strategy", "transaction_priority", "max_retries", "recipient_selection",
        "balance_check_interval", "fee_reserve"}
    # Known attributes never land in `ignored`, whatever their (valid) value.
    assert load_config({"max_retries": "2", "recipient_selection": "random"}).ignored == {}


def test_verification_attributes():
    config = load_config({"confirmations_required": "10", "verification_interval": "2m"})
    assert (config.confirmations_required, config.verification_interval) == (10, 120.0)
    assert (Config().confirmations_required, Config().verification_interval) == (1, 30.0)
    for value in ("0", "1001", "x"):
        assert_names(refused({"confirmations_required": value}), "confirmations_required", value,
                     "an integer 1-1000")
    assert_names(refused({"verification_interval": "0"}), "verification_interval", "0", "greater than 0")


# ---------------------------------------------------------------- every attribute


def test_every_attribute_parsed():
    config = load_config({
        "transaction_frequency": "30m",
        "min_transaction_amount": "0.5",
        "max_transaction_amount": "2.01",
        "miner_selection_strategy": "Balance",
        "transaction_priority": "3",
        "max_retries": "5",
        "recipient_selection": "ROUND_ROBIN",
        "balance_check_interval": "2h",
        "fee_reserve": "0.03",
    })
    assert config.transaction_frequency == 1800.0
    assert config.min_amount == 500_000_000_000
    assert config.max_amount == 2_010_000_000_000  # exact, not 2009999999999
    assert config.miner_strategy == "balance"
    assert config.priority == 3
    assert config.max_retries == 5
    assert config.recipient_strategy == "round_robin"
    assert config.balance_check_interval == 7200.0
    assert config.fee_reserve == 30_000_000_000
    assert config.ignored == {}


@pytest.mark.parametrize("text,seconds", [
    ("30m", 1800.0), ("2h", 7200.0), ("3600s", 3600.0), ("250", 250.0), ("1.5", 1.5),
    ("1d", 86400.0), ("1H", 3600.0), (" 10 m ", 600.0), ("0", 0.0), ("0.25m", 15.0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert load_config({"transaction_frequency": text}).transaction_frequency == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "1e3", "nan", "inf", "1.", ".5", "1h30m", "m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("attribute", ["transaction_frequency", "balance_check_interval"])
@pytest.mark.parametrize("value", ["-5", "-1m", "abc", "", "5x", "nan", "1e3"])
def test_bad_durations_are_refused(attribute, value):
    err = refused({attribute: value})
    assert_names(err, attribute, value, "a duration in seconds", "30m")


def test_negative_frequency_says_negative():
    err = refused({"transaction_frequency": "-60"})
    assert_names(err, "transaction_frequency", "-60", "duration")
    assert "(negative)" in str(err)


def test_zero_frequency_is_allowed_but_zero_check_interval_is_not():
    assert load_config({"transaction_frequency": "0"}).transaction_frequency == 0.0
    err = refused({"balance_check_interval": "0"})
    assert_names(err, "balance_check_interval", "0", "greater than 0")
    assert load_config({"balance_check_interval": "0.5"}).balance_check_interval == 0.5


def test_absurdly_long_durations_are_refused_at_start():
    # time.sleep() overflows around 9e9 s: the running agent would crash later.
    assert load_config({"balance_check_interval": str(MAX_DURATION)}).balance_check_interval == MAX_DURATION
    for value in ("99999999999999999999d", str(MAX_DURATION + 1), "1" * 400):
        err = refused({"balance_check_interval": value})
        assert_names(err, "balance_check_interval", value, f"at most {MAX_DURATION} s")


@pytest.mark.parametrize("value,priority", [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("4", 4),
                                            (" 2 ", 2), ("3.0", 3)])
def test_priorities_0_to_4_accepted(value, priority):
    assert load_config({"transaction_priority": value}).priority == priority


@pytest.mark.parametrize("value", ["7", "5", "-1", "1.5", "abc", "", "inf", "-inf", "nan", "sNaN",
                                   "1e999999999"])
def test_bad_priority_refused(value):
    err = refused({"transaction_priority": value})
    assert_names(err, "transaction_priority", value, "an integer 0-4")


def test_priority_7_message():
    assert str(refused({"transaction_priority": "7"})) == (
        "invalid attribute transaction_priority='7'; accepted: an integer 0-4 "
        "(0 default, 1 unimportant, 2 normal, 3 elevated, 4 priority)")


@pytest.mark.parametrize("priority", [0, 1, 2, 3, 4])
def test_fee_reserve_default_follows_priority(priority):
    config = load_config({"transaction_priority": str(priority)})
    assert config.fee_reserve == DEFAULT_FEE_RESERVE[priority]


def test_fee_reserve_table_grows_with_priority_and_covers_seen_fees():
    # Seen on regtest for one output: 0.0026 XMR at tiers 0-1, 0.0102 at 2,
    # 0.0412 at 3, 0.521 at 4 (docs/monero-wallet-rpc.md).
    seen = {0: "0.0026", 1: "0.0026", 2: "0.0102", 3: "0.0412", 4: "0.521"}
    reserves = [DEFAULT_FEE_RESERVE[p] for p in range(5)]
    assert reserves == sorted(reserves)
    for p, fee in seen.items():
        assert DEFAULT_FEE_RESERVE[p] > float(fee) * XMR


def test_explicit_fee_reserve_wins_over_the_priority_default():
    config = load_config({"transaction_priority": "4", "fee_reserve": "0"})
    assert config.priority == 4 and config.fee_reserve == 0


@pytest.mark.parametrize("value,retries", [("1", 1), ("3", 3), ("100", 100)])
def test_max_retries_accepted(value, retries):
    assert load_config({"max_retries": value}).max_retries == retries


@pytest.mark.parametrize("value", ["0", "-1", "101", "2.5", "many"])
def test_max_retries_refused(value):
    err = refused({"max_retries": value})
    assert_names(err, "max_retries", value, "an integer 1-100")


@pytest.mark.parametrize("value,strategy", [("weighted", "weighted"), ("balance", "balance"),
                                            ("random", "random"), (" Weighted ", "weighted")])
def test_miner_strategies(value, strategy):
    assert load_config({"miner_selection_strategy": value}).miner_strategy == strategy


def test_unknown_miner_strategy_lists_the_accepted_ones():
    err = refused({"miner_selection_strategy": "bogus"})
    assert_names(err, "miner_selection_strategy", "bogus", "weighted", "balance", "random")
    assert str(err) == ("invalid attribute miner_selection_strategy='bogus'; "
                        "accepted: weighted | balance | random")


def test_recipient_strategies():
    assert load_config({"recipient_selection": "random"}).recipient_strategy == "random"
    assert load_config({"recipient_selection": "round_robin"}).recipient_strategy == "round_robin"
    err = refused({"recipient_selection": "weighted"})
    assert_names(err, "recipient_selection", "weighted", "random", "round_robin")


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize("attribute", ["min_transaction_amount", "max_transaction_amount"])
def test_amount_that_is_not_a_number(attribute):
    err = refused({attribute: "abc"})
    assert_names(err, attribute, "abc", "an amount in XMR")
    assert "'abc' is not a number" in str(err)


@pytest.mark.parametrize("value,reason", [
    ("-1", "negative"),
    ("NaN", "not a finite number"),
    ("inf", "not a finite number"),
    ("0.0000000000001", "more than 12 decimal places"),
    ("18446744.073709551616", "exceeds the largest amount"),
    ("0", "zero"),
])
def test_bad_amounts(value, reason):
    err = refused({"max_transaction_amount": value})
    assert err.attribute == "max_transaction_amount"
    assert reason in str(err)
    assert repr(value) in str(err)
    assert "at most 12 decimals" in str(err)


def test_fee_reserve_may_be_zero_but_not_negative():
    assert load_config({"fee_reserve": "0"}).fee_reserve == 0
    err = refused({"fee_reserve": "-0.01"})
    assert_names(err, "fee_reserve", "-0.01", "0 or more")


def test_min_above_max_is_refused_naming_both():
    err = refused({"min_transaction_amount": "2", "max_transaction_amount": "1.5"})
    assert_names(err, "min_transaction_amount", "2", "max_transaction_amount", "1.500000000000")
    assert str(err) == ("invalid attribute min_transaction_amount='2'; "
                        "accepted: at most max_transaction_amount (1.500000000000 XMR)")


def test_max_below_the_default_min_is_refused():
    err = refused({"max_transaction_amount": "0.05"})
    assert err.attribute == "min_transaction_amount"
    assert "0.050000000000" in str(err) and "0.100000000000" in str(err)


def test_min_equal_to_max_is_allowed():
    config = load_config({"min_transaction_amount": "1.5", "max_transaction_amount": "1.500"})
    assert config.min_amount == config.max_amount == 1_500_000_000_000


# ---------------------------------------------------------------- unknown attributes


def test_unknown_attributes_are_kept_in_ignored():
    attributes = {"hashrate": "25", "x_custom_setting": "-!?", "max_retries": "2", "is_miner": "true"}
    config = load_config(attributes)
    assert dict(config.ignored) == {"hashrate": "25", "x_custom_setting": "-!?", "is_miner": "true"}
    assert config.max_retries == 2


def test_unknown_attribute_values_are_not_validated():
    assert load_config({"whatever": "-!?"}).ignored == {"whatever": "-!?"}


def test_config_error_fields_and_reason():
    err = ConfigError("max_retries", "0", "an integer 1-100", "too few")
    assert (err.attribute, err.value, err.accepted) == ("max_retries", "0", "an integer 1-100")
    assert str(err) == "invalid attribute max_retries='0' (too few); accepted: an integer 1-100"
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------- Monerosim distributor attributes


def test_monerosim_distributor_attributes():
    config = load_config({"initial_funding": "Off", "md_n_recipients": "20", "md_out_per_tx": "15",
                          "md_output_amount": "2.01", "md_funding_cycle_interval": "5m",
                          "max_wait_time": "1h", "distribution_mode": "funding_cycle"})
    assert config.initial_funding is False
    assert (config.n_recipients, config.outputs_per_recipient) == (20, 15)
    assert config.output_amount == 2_010_000_000_000
    assert (config.funding_cycle_interval, config.max_wait_time) == (300.0, 3600.0)
    assert config.distribution_mode == "funding_cycle"
    defaults = Config()
    assert (defaults.initial_funding, defaults.n_recipients, defaults.outputs_per_recipient,
            defaults.output_amount, defaults.funding_cycle_interval) == (True, 8, 2, 5 * XMR, 300.0)


@pytest.mark.parametrize("value,expected", [("true", True), ("YES", True), ("1", True), ("on", True),
                                            ("False", False), ("no", False), ("0", False), ("OFF", False)])
def test_initial_funding_booleans(value, expected):
    assert load_config({"initial_funding": value}).initial_funding is expected


@pytest.mark.parametrize("attribute,value,words", [
    ("initial_funding", "maybe", "true/false/1/0/yes/no/on/off"),
    ("md_n_recipients", "0", "an integer 1-10000"),
    ("md_out_per_tx", "16", "an integer 1-15"),
    ("md_output_amount", "0", "greater than 0"),
    ("md_funding_cycle_interval", "0", "greater than 0"),
    ("max_wait_time", "-1h", "a duration in seconds"),
    ("distribution_mode", "bogus", "payments | funding_cycle"),
])
def test_monerosim_distributor_attributes_refused(attribute, value, words):
    assert_names(refused({attribute: value}), attribute, value, words)


def test_distribution_mode_follows_the_attributes_given():
    assert load_config({}).distribution_mode == "payments"
    # Monerosim's own distributor scenario: md_* attributes, no seed timing.
    assert load_config({"md_n_recipients": "4"}).distribution_mode == "funding_cycle"
    assert load_config({"md_n_recipients": "4", "transaction_frequency": "60"}).distribution_mode == "payments"
    assert load_config({"md_n_recipients": "4", "distribution_mode": "payments"}).distribution_mode == "payments"


# ---------------------------------------------------------------- the id and the attribute list


@pytest.mark.parametrize("agent_id", ["distributor", "user001", "miner-7", "a b", "a..b", "x" * MAX_ID_BYTES,
                                      "é" * (MAX_ID_BYTES // 2)])
def test_ids_that_name_files_are_accepted(agent_id):
    assert validate_agent_id(agent_id) == agent_id


@pytest.mark.parametrize("agent_id, reason", [
    ("a/b", "a path separator '/'"), ("/abs", "a path separator '/'"), (".", "starts with '.'"),
    ("..", "starts with '.'"), ("", "empty"), ("  ", "only whitespace"), ("a\x00b", "a control character '\\x00'"),
    ("a\x7fb", "a control character '\\x7f'"), ("a\udcffb", "not valid UTF-8"),
    ("x" * (MAX_ID_BYTES + 1), f"{MAX_ID_BYTES + 1} bytes long"), ("é" * 65, "130 bytes long")])
def test_ids_that_cannot_name_files_are_refused_saying_why(agent_id, reason):
    with pytest.raises(ConfigError) as info:
        validate_agent_id(agent_id)
    assert str(info.value).startswith(f"invalid option --id={agent_id!r} ({reason}); accepted: a plain file-name")


def test_attributes_keep_their_order_and_refuse_a_repeated_key():
    assert list(attributes_from([["b", "2"], ["a", "1"]]).items()) == [("b", "2"), ("a", "1")]
    with pytest.raises(ConfigError) as info:
        attributes_from([["max_retries", "3"], ["x", "y"], ["max_retries", "5"]])
    assert_names(info.value, "max_retries", "5", "each attribute at most once")
    assert "given twice: '3' and '5'" in str(info.value)


def test_a_recipients_outputs_must_fit_in_uint64():
    limit = (2**64 - 1) // 2
    assert load_config({"md_output_amount": "9223372.036854775807", "md_out_per_tx": "2"}).output_amount == limit
    err = refused({"md_output_amount": "9223372.036854775808", "md_out_per_tx": "2"})
    assert_names(err, "md_output_amount", "9223372.036854775808", "at most 9223372.036854775807 XMR")

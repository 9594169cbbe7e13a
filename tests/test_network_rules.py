"""issue 11's pure rules (core/network.py) and its attributes (core/config.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from fsm_distributor.core import network
from fsm_distributor.core.config import Config, ConfigError, load_config
from fsm_distributor.core.intent import Destination, Intent
from fsm_distributor.core.names import Purpose, Status, Verdict
from fsm_distributor.core.ports import BlockHeader

XMR = 10**12
KB = 1000
THRESHOLDS = (300 * KB, 900 * KB, 3000 * KB)


# ---------------------------------------------------------------- fee priority


@pytest.mark.parametrize("pool_bytes, base, expected", [
    (0, 1, 1), (299_999, 1, 1), (300_000, 1, 2), (899_999, 1, 2), (900_000, 1, 3), (2_999_999, 1, 3),
    (3_000_000, 1, 4), (10**9, 1, 4),
    (0, 3, 3), (300_000, 3, 3), (900_000, 3, 3), (3_000_000, 3, 4),  # never below the configured priority
    (0, 0, 0), (300_000, 0, 2),
])
def test_priority_steps_up_at_each_threshold_and_never_below_the_base(pool_bytes, base, expected):
    assert network.priority_for(pool_bytes, base, THRESHOLDS) == expected


def test_fee_ratio_is_exact_and_zero_is_off():
    half = Fraction(1, 2)
    assert network.fee_within(5, 10, half) and not network.fee_within(6, 11, half)
    assert network.fee_within(10**12, 1, Fraction(0))
    assert network.amount_for_fee(7, half) == 14 and network.amount_for_fee(7, Fraction(1, 3)) == 21
    assert network.fee_within(7, network.amount_for_fee(7, Fraction(2, 7)), Fraction(2, 7))
    assert not network.fee_within(7, network.amount_for_fee(7, Fraction(2, 7)) - 1, Fraction(2, 7))


# ---------------------------------------------------------------- topup


@pytest.mark.parametrize("held, expected", [
    (0, XMR), (9 * XMR, XMR), (int(9.5 * XMR), XMR // 2), (int(9.8 * XMR), XMR // 5),
    (int(9.9 * XMR), None), (int(9.95 * XMR), None), (10 * XMR, None), (11 * XMR, None),
])
def test_topup_pays_what_is_missing_within_min_and_max_never_above_the_target(held, expected):
    low, high, target = XMR // 10, XMR, 10 * XMR
    amount = network.topup_amount(target, held, low, high)
    assert amount == expected
    if amount is not None:
        assert low <= amount <= high and held + amount <= target


def _intent(n, recipient, amount, status, height=0, verdict=None, purpose=Purpose.DISTRIBUTION, created=0.0):
    return Intent(tx_hash=f"{n:064x}", miner="m1", miner_endpoint=("127.0.0.1", 1),
                  destinations=(Destination(recipient, "addr", amount),), fee=10, status=status, height=height,
                  verdict=verdict, purpose=purpose, created_at=created)


def test_paid_to_counts_what_the_wallet_cannot_show_yet():
    intents = [
        _intent(1, "u1", 1, Status.CONFIRMED, height=50),   # in a block the wallet scanned: shown
        _intent(2, "u1", 2, Status.CONFIRMED, height=120),  # in a block the wallet has not scanned yet
        _intent(3, "u1", 4, Status.RECORDED),               # in the pool (or not yet known to be mined)
        _intent(4, "u1", 8, Status.BUILT),                  # journaled, maybe relayed
        _intent(5, "u1", 16, Status.FAILED, verdict=Verdict.ABSENT),        # watched: may still confirm
        _intent(6, "u1", 32, Status.FAILED, verdict=Verdict.INPUTS_SPENT),  # can never pay
        _intent(7, "u2", 64, Status.RECORDED),              # someone else
        _intent(8, "u1", 128, Status.CONFIRMED, height=100),  # block 100: a wallet at height 100 scanned 0-99
    ]
    assert network.paid_to(intents, "u1", shown_below=100) == (159, 158)
    assert network.paid_to(intents, "u1", shown_below=101) == (159, 30)
    assert network.paid_to(intents, "u1", shown_below=None) == (159, 159)
    assert network.paid_to(intents, "u3", shown_below=100) == (0, 0)


# ---------------------------------------------------------------- sustainable


def test_block_interval_is_observed_once_two_headers_differ_else_the_target():
    block = BlockHeader(height=150, reward=XMR, timestamp=10_000)
    assert network.block_interval(None, block, 120) == 120
    assert network.block_interval((150, 10_000), block, 120) == 120           # the same block
    assert network.block_interval((140, 9_000), block, 120) == 100            # 1000 s over 10 blocks
    assert network.block_interval((149, 10_000), block, 120) == 120           # no time passed: not a rate
    assert network.block_interval((140, 9_999), block, 120) == Fraction(1, 10)


def test_weight_share_and_income_rate():
    assert network.weight_share([60, 40], [60, 40]) == 1
    assert network.weight_share([60], [60, 40]) == Fraction(3, 5)
    assert network.weight_share([], [0, 0]) == 1
    assert network.income_rate(35 * XMR, Fraction(120), Fraction(3, 5)) == Fraction(35 * XMR * 3, 120 * 5)


def test_sustainable_amount_scales_the_draw_to_the_budget_and_stays_in_range():
    low, high = XMR // 100, XMR
    mean = Fraction(low + high, 2)
    rate = Fraction(XMR, 120)  # budget per 60 s payment: half an XMR
    draw = 7 * XMR // 10
    assert network.sustainable_amount(draw, rate, 60, low, high) == int(draw * Fraction(XMR, 2) / mean)
    assert network.sustainable_amount(high, rate * 100, 60, low, high) == high   # rich: capped at max
    assert network.sustainable_amount(low, Fraction(0), 60, low, high) == low     # no income: min


def test_budget_waits_exactly_until_the_income_covers_the_payment():
    rate = Fraction(10)  # atomic units per second
    assert network.budget_wait(0, 600, rate, elapsed=0, slack=600) == 0.0      # the slack: one payment
    assert network.budget_wait(600, 600, rate, elapsed=0, slack=600) == 60.0
    assert network.budget_wait(600, 600, rate, elapsed=60, slack=600) == 0.0
    assert network.budget_wait(600, 601, rate, elapsed=60, slack=600) == 0.1
    assert network.budget_wait(1, 1, Fraction(0), elapsed=0, slack=0) == float("inf")


def test_spent_since_counts_this_runs_single_payments_that_may_pay():
    intents = [_intent(1, "u1", 100, Status.RECORDED, created=10.0),
               _intent(2, "u1", 100, Status.CONFIRMED, created=5.0),      # before the budget started
               _intent(3, "u1", 100, Status.FAILED, verdict=Verdict.INPUTS_SPENT, created=10.0),
               _intent(4, "u1", 100, Status.RECORDED, purpose=Purpose.INITIAL_FUNDING, created=10.0)]
    assert network.spent_since(intents, 6.0) == 110


# ---------------------------------------------------------------- attributes


def test_defaults_leave_the_network_alone():
    config = load_config({})
    assert not config.network_aware
    assert (config.fee_strategy, config.amount_strategy) == ("fixed", "uniform")
    assert config.fee_thresholds == THRESHOLDS and config.max_pool_bytes == 0 and config.max_unconfirmed == 0
    assert config.spend_fraction == Fraction(1, 2) and config.max_fee_fraction == Fraction(1, 2)
    assert config.target_balance == 10 * XMR
    assert config == Config()


@pytest.mark.parametrize("attributes", [{"fee_strategy": "pool_aware"}, {"amount_strategy": "topup"},
                                        {"amount_strategy": "sustainable"}, {"max_pool_kb": "1"},
                                        {"max_unconfirmed": "1"}])
def test_each_network_attribute_makes_cycles_read_the_network(attributes):
    assert load_config(attributes).network_aware


def test_attributes_are_parsed_exactly():
    config = load_config({"fee_thresholds_kb": " 0.5, 12 ,3000.125", "max_pool_kb": "2.5", "max_unconfirmed": "7",
                          "target_balance": "3.25", "spend_fraction": "0.1", "max_fee_fraction": "0",
                          "amount_strategy": "TOPUP", "fee_strategy": "Pool_Aware"})
    assert config.fee_thresholds == (500, 12_000, 3_000_125)
    assert config.max_pool_bytes == 2500 and config.max_unconfirmed == 7
    assert config.target_balance == 3_250_000_000_000
    assert config.spend_fraction == Fraction(1, 10) and config.max_fee_fraction == 0
    assert (config.amount_strategy, config.fee_strategy) == ("topup", "pool_aware")


@pytest.mark.parametrize("attribute, value, word", [
    ("fee_strategy", "dynamic", "pool_aware"),
    ("amount_strategy", "random", "sustainable"),
    ("fee_thresholds_kb", "300,900", "three increasing"),
    ("fee_thresholds_kb", "300,300,900", "three increasing"),
    ("fee_thresholds_kb", "900,300,3000", "three increasing"),
    ("fee_thresholds_kb", "0,300,900", "each > 0"),
    ("fee_thresholds_kb", "a,b,c", "kB"),
    ("fee_thresholds_kb", "0.0001,1,2", "kB"),
    ("max_pool_kb", "-1", "0: off"),
    ("max_pool_kb", "nan", "kB"),
    ("max_pool_kb", "1e12", "kB"),
    ("max_unconfirmed", "-1", "0: off"),
    ("max_unconfirmed", "2.5", "integer"),
    ("target_balance", "0", "greater than 0"),
    ("target_balance", "0.0000000000001", "12 decimals"),
    ("spend_fraction", "0", "greater than 0"),
    ("spend_fraction", "1.01", "at most 1"),
    ("spend_fraction", "half", "greater than 0"),
    ("max_fee_fraction", "-0.1", "0 to 1"),
    ("max_fee_fraction", "inf", "0 to 1"),
])
def test_bad_values_are_refused_naming_the_attribute_the_value_and_what_is_accepted(attribute, value, word):
    with pytest.raises(ConfigError) as info:
        load_config({attribute: value})
    err = info.value
    assert err.attribute == attribute and err.value == value
    text = str(err)
    assert f"{attribute}={value!r}" in text and "accepted: " in text and word in text and "\n" not in text


def test_topup_needs_a_target_above_the_smallest_payment():
    with pytest.raises(ConfigError) as info:
        load_config({"amount_strategy": "topup", "target_balance": "0.1"})
    assert info.value.attribute == "target_balance" and "min_transaction_amount" in str(info.value)
    load_config({"amount_strategy": "uniform", "target_balance": "0.1"})  # unused: not checked

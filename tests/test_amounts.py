"""Tests for fsm_distributor.core.amounts: exact XMR text <-> integer atomic units."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsm_distributor.core.amounts import (
    ATOMIC_PER_XMR,
    MAX_ATOMIC,
    AmountError,
    format_xmr,
    parse_xmr,
    to_decimal,
    to_float_xmr,
)

atomic_amounts = st.integers(min_value=0, max_value=2**64 - 1)


def test_constants():
    assert ATOMIC_PER_XMR == 1_000_000_000_000
    assert MAX_ATOMIC == 18_446_744_073_709_551_615


def test_2_01_is_exact_where_monerosim_truncates():
    # Monerosim's distributor does int(float * 1e12), which loses an atomic unit.
    assert int(2.01 * 10**12) == 2_009_999_999_999
    assert parse_xmr("2.01") == 2_010_000_000_000


@pytest.mark.parametrize("text,atomic", [
    ("0", 0),
    ("0.0", 0),
    ("1", 10**12),
    ("0.1", 10**11),
    ("1.0", 10**12),
    ("0.000000000001", 1),
    ("1e-12", 1),
    ("1E+2", 100 * 10**12),
    ("  3.5\n", 3_500_000_000_000),
    ("+7", 7 * 10**12),
    ("0.123456789012", 123_456_789_012),
    ("1.100000000000000000000", 1_100_000_000_000),  # trailing zeros are not extra decimals
    ("18446744.073709551615", MAX_ATOMIC),
])
def test_parse_valid(text, atomic):
    assert parse_xmr(text) == atomic


def test_parse_accepts_non_strings_through_their_text():
    assert parse_xmr(2.01) == 2_010_000_000_000  # repr(2.01) == '2.01'
    assert parse_xmr(3) == 3 * 10**12
    assert parse_xmr(Decimal("0.5")) == 5 * 10**11


@pytest.mark.parametrize("text,reason", [
    ("0.0000000000001", "more than 12 decimal places"),
    ("1.0000000000001", "more than 12 decimal places"),
    ("2.0100000000001", "more than 12 decimal places"),
    # 28 decimals: more than the default decimal context keeps (28 digits).
    ("1.0000000000000000000000000001", "more than 12 decimal places"),
    ("1e-9999999", "more than 12 decimal places"),
    ("NaN", "not a finite number"),
    ("nan", "not a finite number"),
    ("sNaN", "not a finite number"),
    ("-NaN", "not a finite number"),
    ("inf", "not a finite number"),
    ("Infinity", "not a finite number"),
    ("-inf", "not a finite number"),
    ("-1", "negative"),
    ("-0.5", "negative"),
    ("-0.000000000001", "negative"),
    ("", "not a number"),
    ("   ", "not a number"),
    ("abc", "not a number"),
    ("1.2.3", "not a number"),
    ("0x10", "not a number"),
    ("1,5", "not a number"),
    ("1 000", "not a number"),
    ("12XMR", "not a number"),
    ("18446744.073709551616", "exceeds the largest amount"),
    ("18446745", "exceeds the largest amount"),
    ("1e30", "exceeds the largest amount"),
    ("1e999999", "exceeds the largest amount"),
    ("1e99999999999", "exceeds the largest amount"),
])
def test_parse_rejects_with_reason_and_text(text, reason):
    with pytest.raises(AmountError) as info:
        parse_xmr(text)
    message = str(info.value)
    assert reason in message
    assert repr(text.strip()) in message


def test_parse_rejects_none_and_bools_as_not_numbers():
    for value in (None, True, [1]):
        with pytest.raises(AmountError, match="is not a number"):
            parse_xmr(value)


def test_float_artefacts_are_rejected_not_rounded():
    with pytest.raises(AmountError, match="more than 12 decimal places"):
        parse_xmr(0.1 + 0.2)  # '0.30000000000000004'


def test_amount_error_is_a_value_error():
    assert issubclass(AmountError, ValueError)


def test_parse_does_not_depend_on_the_thread_decimal_context():
    with localcontext() as ctx:
        ctx.prec = 5
        assert parse_xmr("18446744.073709551615") == MAX_ATOMIC
        assert parse_xmr("2.01") == 2_010_000_000_000
        with pytest.raises(AmountError):
            parse_xmr("1.0000001000001")


@pytest.mark.parametrize("atomic,text", [
    (0, "0.000000000000"),
    (1, "0.000000000001"),
    (10**12, "1.000000000000"),
    (2_010_000_000_000, "2.010000000000"),
    (123_456_789_012, "0.123456789012"),
    (MAX_ATOMIC, "18446744.073709551615"),
    (-10**11, "-0.100000000000"),
    (-1, "-0.000000000001"),
])
def test_format_xmr(atomic, text):
    assert format_xmr(atomic) == text


def test_to_decimal_and_float():
    assert to_decimal(2_010_000_000_000) == Decimal("2.01")
    assert to_decimal(1) == Decimal("1e-12")
    assert to_decimal(MAX_ATOMIC) == Decimal("18446744.073709551615")
    assert to_float_xmr(2_010_000_000_000) == 2.01
    assert to_float_xmr(0) == 0.0
    assert isinstance(to_float_xmr(5), float)


@given(atomic_amounts)
def test_format_then_parse_round_trips(n):
    text = format_xmr(n)
    assert parse_xmr(text) == n
    whole, frac = text.split(".")
    assert len(frac) == 12 and int(whole) == n // ATOMIC_PER_XMR


@given(atomic_amounts)
def test_exact_decimal_text_parses_back(n):
    assert parse_xmr(str(to_decimal(n))) == n


@given(st.integers(min_value=0, max_value=2**64 - 2), st.integers(min_value=1, max_value=9))
def test_a_thirteenth_decimal_is_always_rejected(n, digit):
    # (below the maximum: MAX_ATOMIC + a 13th decimal is rejected as too large)
    with pytest.raises(AmountError, match="more than 12 decimal places"):
        parse_xmr(format_xmr(n) + str(digit))


@given(st.integers(min_value=2**64, max_value=2**80))
def test_above_uint64_is_always_rejected(n):
    with pytest.raises(AmountError, match="exceeds the largest amount"):
        parse_xmr(format_xmr(n))


@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_negative_is_always_rejected(n):
    with pytest.raises(AmountError, match="negative"):
        parse_xmr(format_xmr(-n))


@given(st.text(max_size=30))
def test_any_text_is_either_an_amount_or_an_amount_error(text):
    try:
        atomic = parse_xmr(text)
    except AmountError:
        return
    assert isinstance(atomic, int) and 0 <= atomic <= MAX_ATOMIC
    assert Decimal(text.strip()) * ATOMIC_PER_XMR == atomic

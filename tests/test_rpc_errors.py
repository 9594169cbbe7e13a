"""Tests for fsm_distributor.adapters.rpc_errors: the classification of wallet-rpc error
codes (against the table in docs/monero-wallet-rpc.md) and the exception
hierarchy the actions rely on."""

from __future__ import annotations

import pytest

from fsm_distributor.adapters.rpc_errors import CODE_KINDS, RpcError, classify
from fsm_distributor.core.errors import BadAnswer, ErrorKind, WalletError, WalletUnavailable

K = ErrorKind

# The "how a sender should treat them" table of monero-wallet-rpc.md, written
# out again here by hand.  The doc's "permanent" row is split by the code into
# BAD_REQUEST (this recipient / amount can never work: drop the recipient) and
# PERMANENT (do not retry this request); both mean "never retry as is".
DOCUMENTED = {
    # transient: back off, retry the same call
    -3: K.TRANSIENT, -38: K.TRANSIENT, 0: K.TRANSIENT, -32603: K.TRANSIENT,
    # wait for blocks
    -37: K.LOCKED, -19: K.LOCKED, -16: K.LOCKED,
    # this miner cannot pay
    -17: K.NO_FUNDS,
    # wallet not open
    -13: K.WALLET_CLOSED,
    # permanent, about the destination or the amount
    -2: K.BAD_REQUEST, -5: K.BAD_REQUEST, -20: K.BAD_REQUEST, -46: K.BAD_REQUEST,
    -32700: K.BAD_REQUEST,  # parse error, also returned for an amount above 2**64-1
    # permanent, about the request itself
    -18: K.PERMANENT, -32602: K.PERMANENT, -32601: K.PERMANENT, -7: K.PERMANENT,
    -48: K.PERMANENT, -50: K.PERMANENT, -26: K.PERMANENT, -27: K.PERMANENT,
}
NEVER_RETRY = {K.BAD_REQUEST, K.PERMANENT}


@pytest.mark.parametrize("code,kind", sorted(DOCUMENTED.items()))
def test_documented_code_has_documented_kind(code, kind):
    assert classify(code, "whatever the wallet said") is kind
    assert classify(code, "") is kind


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_documented_codes_are_listed_explicitly_not_by_default(code):
    # A code that only lands in PERMANENT through the fallback would silently
    # change meaning if the fallback changed.
    assert code in CODE_KINDS


def test_permanent_row_of_the_doc_is_never_retried():
    doc_permanent = [-2, -5, -20, -46, -18, -32700, -32602, -7, -48, -50, -26, -27]
    assert {classify(c, "") for c in doc_permanent} <= NEVER_RETRY


def test_minus_one_unknown_error_is_transient():
    # Not in the doc's table; the code treats "unknown error" as worth a retry
    # (max_retries bounds it).
    assert classify(-1, "Unknown error") is K.TRANSIENT


@pytest.mark.parametrize("code", [-51, -52, -999, 1, 42, -32000, -4000])
def test_unlisted_codes_are_permanent(code):
    assert code not in CODE_KINDS
    assert classify(code, "") is K.PERMANENT


def test_every_table_value_is_an_error_kind():
    assert all(isinstance(k, ErrorKind) for k in CODE_KINDS.values())
    # -4's meaning is in its message: it must not be in the table.
    assert -4 not in CODE_KINDS


@pytest.mark.parametrize("message,kind", [
    ("transaction was rejected by daemon", K.REJECTED),
    ("Transaction was rejected by daemon", K.REJECTED),
    ("TRANSACTION WAS REJECTED BY DAEMON", K.REJECTED),
    ("Failed to commit tx.", K.REJECTED),
    ("Failed to get height", K.TRANSIENT),
    ("failed to get output distribution", K.TRANSIENT),
    ("no connection to daemon", K.TRANSIENT),
    ("Failed to get random outputs to mix", K.TRANSIENT),
    ("internal error", K.PERMANENT),
    ("", K.PERMANENT),
])
def test_minus_four_is_classified_by_its_message(message, kind):
    assert classify(-4, message) is kind


def test_rejected_wins_over_daemon_talk():
    # "rejected by daemon" contains "daemon", which alone means transient:
    # a rejected transaction must never be blindly resent.
    assert classify(-4, "transaction was rejected by daemon") is K.REJECTED


def test_kind_values_are_strings_for_logs():
    assert {k.value for k in ErrorKind} == {
        "transient", "locked", "no_funds", "wallet_closed", "rejected", "bad_request", "permanent"}
    assert K.LOCKED == "locked"


# ---------------------------------------------------------------- exceptions


def test_wallet_error_message_names_method_and_code():
    err = WalletError("transfer", "boom", code=-1)
    assert str(err) == "transfer: boom (code -1)"
    assert (err.method, err.message, err.code) == ("transfer", "boom", -1)
    assert err.kind is K.PERMANENT
    assert str(WalletError("get_balance", "boom")) == "get_balance: boom"


def test_kind_can_be_overridden_per_instance_only():
    err = WalletError("refresh", "x", kind=K.TRANSIENT)
    assert err.kind is K.TRANSIENT
    assert WalletError("refresh", "x").kind is K.PERMANENT


@pytest.mark.parametrize("code,message,kind", [
    (-37, "not enough unlocked money", K.LOCKED),
    (-17, "not enough money", K.NO_FUNDS),
    (-2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS", K.BAD_REQUEST),
    (-4, "transaction was rejected by daemon", K.REJECTED),
    (-4, "Failed to get height", K.TRANSIENT),
    (-13, "No wallet file", K.WALLET_CLOSED),
])
def test_rpc_error_takes_its_kind_from_the_code(code, message, kind):
    err = RpcError("transfer", code, message)
    assert err.kind is kind
    assert err.code == code
    assert isinstance(err, WalletError)
    assert str(err) == f"transfer: {message} (code {code})"


def test_rpc_error_with_empty_message_says_so():
    err = RpcError("get_balance", 0, "")
    assert err.kind is K.TRANSIENT
    assert str(err) == "get_balance: (empty message) (code 0)"


def test_transport_and_bad_answer_errors_are_transient_wallet_errors():
    for cls in (WalletUnavailable, BadAnswer):
        err = cls("get_balance", "something")
        assert isinstance(err, WalletError)
        assert err.kind is K.TRANSIENT
        assert err.code is None
        assert str(err) == "get_balance: something"

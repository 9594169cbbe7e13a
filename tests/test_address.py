"""Tests for fsm_distributor.core.address: real vectors, round trips, and every way
an address can be malformed."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsm_distributor.core import address as addr
from fsm_distributor.core.address import (
    ALPHABET,
    NETWORK_TAGS,
    AddressInfo,
    InvalidAddress,
    b58decode,
    b58encode,
    decode_address,
    encode_address,
    is_valid_address,
    validate_address,
)

# The Monero project's donation address (mainnet, standard).
DONATION = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

# Made by monero-wallet-rpc 0.18.0.0 (--offline, one fresh wallet per network):
# get_address, create_address (account 0), make_integrated_address with
# payment id 0123456789abcdef.  The integrated address shares the standard
# address's keys.
REAL = {
    "mainnet": {
        "standard": "4ApCpy4WGuFAyHnWbkuPakJTbM5s8BaMK2zXVPcUr9w9bFV92Cwm3phgALVYpfAmgWQBk64TUnxm4APV1e4cWkQYQXcXcKb",
        "subaddress": "8B4WUvREMTkJ4qg7HPfZunKYS6B84D7AbJNktj2q5jhfVk3FAtXd11SAE8TeMfgmfuF1aLaFzVMrAGU6DCx4uSWiAjS2MLV",
        "integrated": "4LWsqmsztAmAyHnWbkuPakJTbM5s8BaMK2zXVPcUr9w9bFV92Cwm3phgALVYpfAmgWQBk64TUnxm4APV1e4cWkQYbnuQwV3JrCcU1TbeZr",
    },
    "testnet": {
        "standard": "9taFhzj24nfec9PWKVyz6yNvyr3f1X5G3fxmLZmcSst8dLUPbmdpbEKZv5eBxRBrQj311cpzbZS4qcHiWe1wCmnsBAmnjMf",
        "subaddress": "BhDnzMC4nXsc2a7HRmigFGcZmwnMcRCmGRzD43tcYPp22hmw86PXXTDgCWBjiKh1aJdcic3u4Cf27VPX4tVYzLVPF6JFn4Q",
        "integrated": "A4GvioYWg4Bec9PWKVyz6yNvyr3f1X5G3fxmLZmcSst8dLUPbmdpbEKZv5eBxRBrQj311cpzbZS4qcHiWe1wCmnsG4A3JER76daU2gShyK",
    },
    "stagenet": {
        "standard": "58RHedmY95acaoVT3Hepv1EvG7WmFvbiR8YZHaSM2sAw8Cd54e6fGgqJQcvvHVgjdKPUSZQTYq2tEYa52CdpibZxFVwb2i8",
        "subaddress": "77cTNAjD9EcjMNzMCEi5jxKGgC4B8zv2WbFSBxafSegYWcy4CEqkbGQGvekLEvwgMzbRWnn5aVcPHCPPFnDCdk1X2A26ki7",
        "integrated": "5J7xfSb2kM6caoVT3Hepv1EvG7WmFvbiR8YZHaSM2sAw8Cd54e6fGgqJQcvvHVgjdKPUSZQTYq2tEYa52CdpibZxNQobpuXrCoEU1YjwhD",
    },
}
REAL_CASES = [(n, k, a) for n, kinds in REAL.items() for k, a in kinds.items()]

keys = st.binary(min_size=32, max_size=32)
pids = st.binary(min_size=8, max_size=8)
net_kind = st.sampled_from(sorted(NETWORK_TAGS))


def _code(text: str) -> str:
    with pytest.raises(InvalidAddress) as exc:
        decode_address(text)
    assert exc.value.reason == str(exc.value) and exc.value.reason
    return exc.value.code


def _checksummed(body: bytes) -> str:
    """Encode arbitrary bytes with a correct checksum (bypasses encode_address's
    argument checks so malformed bodies can be built)."""
    return b58encode(body + addr._checksum(body))


# ---------------------------------------------------------------- real vectors


def test_donation_address_is_mainnet_standard():
    info = decode_address(DONATION)
    assert (info.network, info.kind, info.payment_id) == ("mainnet", "standard", None)
    assert info.spend_key.hex() == "42f18fc61586554095b0799b5c4b6f00cdeb26a93b20540d366932c6001617b7"
    assert info.view_key.hex() == "5db35109fbba7d5f275fef4b9c49e0cc1c84b219ec6ff652fda54f89f7f63c88"
    assert encode_address("mainnet", "standard", info.spend_key, info.view_key) == DONATION
    assert is_valid_address(DONATION)


@pytest.mark.parametrize("network,kind,text", REAL_CASES)
def test_real_wallet_vectors(network, kind, text):
    info = decode_address(text)
    assert (info.network, info.kind) == (network, kind)
    assert encode_address(network, kind, info.spend_key, info.view_key, info.payment_id) == text
    if kind == "integrated":
        assert info.payment_id == bytes.fromhex("0123456789abcdef")
        std = decode_address(REAL[network]["standard"])
        assert (info.spend_key, info.view_key) == (std.spend_key, std.view_key)
    else:
        assert info.payment_id is None


def test_checksum_is_keccak_not_sha3():
    raw = b58decode(DONATION)
    body, check = raw[:-4], raw[-4:]
    assert hashlib.sha3_256(body).digest()[:4] != check
    assert addr._checksum(body) == check


def test_first_characters_follow_the_documented_prefixes():
    assert {REAL["mainnet"][k][0] for k in ("standard", "integrated")} == {"4"}
    assert REAL["mainnet"]["subaddress"][0] == "8"
    assert REAL["testnet"]["standard"][0] in "9A"
    assert REAL["testnet"]["subaddress"][0] == "B"
    assert REAL["stagenet"]["subaddress"][0] == "7"


# ---------------------------------------------------------------- round trips


@settings(max_examples=300)
@given(net_kind, keys, keys, pids)
def test_round_trip_every_network_and_kind(nk, spend, view, pid):
    network, kind = nk
    payment_id = pid if kind == "integrated" else None
    text = encode_address(network, kind, spend, view, payment_id)
    assert len(text) == (106 if kind == "integrated" else 95)
    assert set(text) <= set(ALPHABET)
    assert decode_address(text) == AddressInfo(network, kind, spend, view, payment_id)
    assert is_valid_address(text, networks=(network,))


@given(st.binary(max_size=100))
def test_base58_round_trip_any_length(data):
    text = b58encode(data)
    full, tail = divmod(len(data), 8)
    assert len(text) == 11 * full + (0, 2, 3, 5, 6, 7, 9, 10, 11)[tail]
    assert b58decode(text) == data


def test_base58_known_blocks():
    # Leading zero bytes are kept as leading '1' characters, block by block.
    assert b58encode(b"\x00" * 8) == "1" * 11
    assert b58encode(b"\x00") == "11"
    assert b58encode(b"\xff" * 8) == "jpXCZedGfVQ"  # 2**64 - 1
    assert b58decode("jpXCZedGfVQ") == b"\xff" * 8
    assert b58encode(b"\x01") == "12"
    assert b58encode(b"\x3a") == "21"  # 58 = 1*58 + 0


# ---------------------------------------------------------------- corruption


@settings(max_examples=300)
@given(net_kind, keys, keys, pids, st.data())
def test_any_single_character_change_is_rejected(nk, spend, view, pid, data):
    network, kind = nk
    text = encode_address(network, kind, spend, view, pid if kind == "integrated" else None)
    pos = data.draw(st.integers(0, len(text) - 1))
    new = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != text[pos]))
    bad = text[:pos] + new + text[pos + 1:]
    assert not is_valid_address(bad, networks=addr.NETWORKS)
    assert _code(bad) in {"checksum", "overflow"}


@settings(max_examples=300)
@given(net_kind, keys, keys, pids, st.data())
def test_swapped_adjacent_pair_is_rejected(nk, spend, view, pid, data):
    network, kind = nk
    text = encode_address(network, kind, spend, view, pid if kind == "integrated" else None)
    pos = data.draw(st.integers(0, len(text) - 2).filter(lambda i: text[i] != text[i + 1]))
    bad = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
    assert _code(bad) in {"checksum", "overflow"}


@pytest.mark.parametrize("pos", range(0, 95, 7))
def test_every_region_of_a_real_address_is_covered_by_the_checksum(pos):
    c = DONATION[pos]
    new = "2" if c != "2" else "3"
    assert _code(DONATION[:pos] + new + DONATION[pos + 1:]) in {"checksum", "overflow"}


@pytest.mark.parametrize("ch", ["0", "O", "I", "l", " ", "+", "é", "\n"])
def test_bad_character_names_the_position(ch):
    bad = DONATION[:10] + ch + DONATION[11:]
    with pytest.raises(InvalidAddress) as exc:
        decode_address(bad)
    assert exc.value.code == "bad_char"
    assert "position 11" in exc.value.reason and repr(ch) in exc.value.reason


def test_bad_character_reported_even_when_length_is_also_wrong():
    assert _code(DONATION[:50] + "0") == "bad_char"


@pytest.mark.parametrize("text", ["", DONATION[:-1], DONATION + "1", DONATION[:94] + "11",
                                  REAL["mainnet"]["integrated"][:-1], "4" * 200])
def test_wrong_length(text):
    with pytest.raises(InvalidAddress) as exc:
        decode_address(text)
    assert exc.value.code == "length"
    assert not is_valid_address(text)


def test_wrong_length_message_is_helpful():
    with pytest.raises(InvalidAddress) as exc:
        decode_address(DONATION[:-2] + "11" + "1")  # 96 chars, valid block size
    assert exc.value.code == "length"
    assert "96" in exc.value.reason and "95" in exc.value.reason and "106" in exc.value.reason


def test_trailing_whitespace_is_not_silently_accepted():
    assert not is_valid_address(DONATION + " ")
    assert not is_valid_address(" " + DONATION)


@pytest.mark.parametrize("tail", [1, 4, 8])
def test_invalid_final_block_sizes(tail):
    with pytest.raises(InvalidAddress) as exc:
        b58decode("1" * 11 + "2" * tail)
    assert exc.value.code == "block_size"
    # A full block plus a valid tail of the neighbouring sizes decodes.
    for ok in (2, 3, 5, 6, 7, 9, 10):
        assert len(b58decode("1" * (11 + ok))) == 8 + addr._DECODED_SIZE[ok]


def test_overflow_in_a_full_block():
    # 58**11 - 1 > 2**64 - 1: "zzzzzzzzzzz" does not fit in 8 bytes.
    with pytest.raises(InvalidAddress) as exc:
        b58decode("z" * 11)
    assert exc.value.code == "overflow"
    # The largest value that fits decodes; one more does not.
    assert b58decode("jpXCZedGfVQ") == b"\xff" * 8
    with pytest.raises(InvalidAddress):
        b58decode("jpXCZedGfVR")


def test_overflow_in_a_final_block():
    with pytest.raises(InvalidAddress) as exc:
        b58decode("5R")  # 4*58 + 24 = 256 > 255
    assert exc.value.code == "overflow"
    assert b58decode("5Q") == b"\xff"


def test_overflow_inside_an_address():
    # Last 7 characters encode 5 bytes; "zzzzzzz" = 58**7 - 1 > 2**40 - 1.
    bad = DONATION[:-7] + "zzzzzzz"
    assert _code(bad) == "overflow"
    bad_mid = DONATION[:11] + "z" * 11 + DONATION[22:]
    assert _code(bad_mid) == "overflow"


def test_standard_tag_with_integrated_length_is_rejected():
    info = decode_address(DONATION)
    body = bytes([18]) + info.spend_key + info.view_key + b"\x01" * 8
    text = _checksummed(body)
    assert len(text) == 106
    with pytest.raises(InvalidAddress) as exc:
        decode_address(text)
    assert exc.value.code == "kind_length"
    assert "95" in exc.value.reason and "106" in exc.value.reason


def test_integrated_tag_with_standard_length_is_rejected():
    info = decode_address(DONATION)
    text = _checksummed(bytes([19]) + info.spend_key + info.view_key)
    assert len(text) == 95
    assert _code(text) == "kind_length"


@pytest.mark.parametrize("tag", [0, 17, 20, 43, 127])
def test_unknown_network_tag_with_valid_checksum(tag):
    text = _checksummed(bytes([tag]) + b"\x07" * 64)
    assert len(text) == 95
    with pytest.raises(InvalidAddress) as exc:
        decode_address(text)
    assert exc.value.code == "network_tag" and str(tag) in exc.value.reason


def test_non_canonical_varint_tag_is_rejected():
    # 18 encoded in two bytes (0x92 0x00) — same value, not canonical.
    text = _checksummed(bytes([0x92, 0x00]) + b"\x07" * 64 + b"\x00" * 7)
    assert _code(text) == "varint"


def test_unterminated_varint_is_rejected():
    text = _checksummed(b"\xff" * 65)  # every byte says "more follows"
    assert len(text) == 95
    assert _code(text) == "varint"


def test_non_string_input():
    with pytest.raises(InvalidAddress) as exc:
        decode_address(DONATION.encode())
    assert exc.value.code == "not_str"
    assert not is_valid_address(None)


# ---------------------------------------------------------------- network policy


def test_default_accepts_only_mainnet():
    assert is_valid_address(REAL["mainnet"]["subaddress"])
    assert is_valid_address(REAL["mainnet"]["integrated"])
    assert not is_valid_address(REAL["testnet"]["standard"])
    assert not is_valid_address(REAL["stagenet"]["standard"])


def test_networks_parameter():
    assert is_valid_address(REAL["testnet"]["standard"], networks=("testnet",))
    assert is_valid_address(REAL["stagenet"]["integrated"], networks="stagenet")
    assert not is_valid_address(DONATION, networks=("testnet", "stagenet"))
    with pytest.raises(InvalidAddress) as exc:
        validate_address(REAL["testnet"]["standard"])
    assert exc.value.code == "network" and "testnet" in exc.value.reason


def test_kinds_parameter():
    assert not is_valid_address(REAL["mainnet"]["integrated"], kinds=("standard", "subaddress"))
    assert is_valid_address(REAL["mainnet"]["subaddress"], kinds="subaddress")
    with pytest.raises(InvalidAddress) as exc:
        validate_address(REAL["mainnet"]["integrated"], kinds=("standard",))
    assert exc.value.code == "kind"


def test_unknown_network_name_is_a_programming_error():
    with pytest.raises(ValueError) as exc:
        is_valid_address(DONATION, networks=("regtest",))
    assert not isinstance(exc.value, InvalidAddress)


def test_validate_returns_the_info():
    info = validate_address(REAL["mainnet"]["integrated"], networks=("mainnet", "testnet"))
    assert info.kind == "integrated" and info.payment_id == bytes.fromhex("0123456789abcdef")


# ---------------------------------------------------------------- encode arguments


@pytest.mark.parametrize("args", [
    ("regtest", "standard", b"\0" * 32, b"\0" * 32, None),
    ("mainnet", "standard", b"\0" * 31, b"\0" * 32, None),
    ("mainnet", "standard", b"\0" * 32, b"\0" * 33, None),
    ("mainnet", "standard", b"\0" * 32, b"\0" * 32, b"\0" * 8),
    ("mainnet", "integrated", b"\0" * 32, b"\0" * 32, None),
    ("mainnet", "integrated", b"\0" * 32, b"\0" * 32, b"\0" * 7),
])
def test_encode_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        encode_address(*args)


def test_all_tags_fit_one_varint_byte_and_are_distinct():
    assert len(set(NETWORK_TAGS.values())) == len(NETWORK_TAGS)
    assert all(t < 128 for t in NETWORK_TAGS.values())
    assert addr._encode_varint(300) == b"\xac\x02"
    assert addr._decode_varint(b"\xac\x02rest") == (300, 2)

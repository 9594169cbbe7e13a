"""Monero address validation, written from the format description.

Why: a wrong address costs a failed transfer (-2) at best, and Monerosim's own
distributor checked only a prefix and a length.  This module checks everything
that can be checked without curve arithmetic: Monero's block base58, the
varint network tag, the key lengths and the Keccak-256 checksum.  Whether the
keys are valid curve points is left to the wallet (it answers -2).

Format: base58 in 8-byte blocks, each encoded as exactly 11 characters; a final
block of n bytes takes ``_ENCODED_SIZE[n]`` characters.  Decoded bytes are
``varint(tag) + spend_key(32) + view_key(32) [+ payment_id(8)] + checksum(4)``,
the checksum being the first 4 bytes of Keccak-256 (original padding, not
SHA3-256) of everything before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from Crypto.Hash import keccak

__all__ = [
    "ALPHABET",
    "NETWORK_TAGS",
    "AddressInfo",
    "InvalidAddress",
    "b58decode",
    "b58encode",
    "decode_address",
    "encode_address",
    "is_valid_address",
    "validate_address",
]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_FULL_BLOCK = 8
_FULL_ENCODED = 11
# Characters needed for a block of n bytes (n = 0..8).
_ENCODED_SIZE = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_DECODED_SIZE = {enc: n for n, enc in enumerate(_ENCODED_SIZE)}

KEY_SIZE = 32
PAYMENT_ID_SIZE = 8
CHECKSUM_SIZE = 4

# (network, kind) -> tag, from Monero's cryptonote_config.h.
NETWORK_TAGS = {
    ("mainnet", "standard"): 18,
    ("mainnet", "integrated"): 19,
    ("mainnet", "subaddress"): 42,
    ("testnet", "standard"): 53,
    ("testnet", "integrated"): 54,
    ("testnet", "subaddress"): 63,
    ("stagenet", "standard"): 24,
    ("stagenet", "integrated"): 25,
    ("stagenet", "subaddress"): 36,
}
_BY_TAG = {tag: key for key, tag in NETWORK_TAGS.items()}
NETWORKS = ("mainnet", "testnet", "stagenet")
KINDS = ("standard", "integrated", "subaddress")
# Text lengths of real addresses (all tags are one varint byte).
STANDARD_LENGTH = 95
INTEGRATED_LENGTH = 106


class InvalidAddress(ValueError):
    """An address was rejected; ``reason`` is a sentence for a human log line,
    ``code`` a short stable word for programs (``bad_char``, ``length``,
    ``block_size``, ``overflow``, ``checksum``, ``network_tag``,
    ``kind_length``, ``varint``, ``not_str``, ``network``, ``kind``)."""

    def __init__(self, reason: str, code: str = "invalid"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class AddressInfo:
    """What an address says; ``payment_id`` is set only for integrated ones."""

    network: str
    kind: str
    spend_key: bytes
    view_key: bytes
    payment_id: Optional[bytes] = None


# ---------------------------------------------------------------- base58


def b58encode(data: bytes) -> str:
    """Monero block base58 of ``data`` (any length)."""
    out = []
    for start in range(0, len(data), _FULL_BLOCK):
        block = data[start:start + _FULL_BLOCK]
        num = int.from_bytes(block, "big")
        chars = []
        for _ in range(_ENCODED_SIZE[len(block)]):
            num, rem = divmod(num, 58)
            chars.append(ALPHABET[rem])
        out.append("".join(reversed(chars)))
    return "".join(out)


def _check_chars(text: str) -> None:
    for pos, ch in enumerate(text):
        if ch not in _INDEX:
            raise InvalidAddress(
                f"bad character {ch!r} at position {pos + 1} "
                f"(Monero base58 has no 0, O, I or l, and no spaces)",
                "bad_char",
            )


def b58decode(text: str) -> bytes:
    """Inverse of `b58encode`; raises InvalidAddress on a character outside
    the alphabet, an impossible final block length or a block whose value
    does not fit its byte count."""
    _check_chars(text)
    tail = len(text) % _FULL_ENCODED
    if tail not in _DECODED_SIZE:
        raise InvalidAddress(
            f"impossible length {len(text)}: a final base58 block of {tail} "
            f"characters does not exist (allowed: {sorted(_DECODED_SIZE)[1:]})",
            "block_size",
        )
    out = bytearray()
    for start in range(0, len(text), _FULL_ENCODED):
        chunk = text[start:start + _FULL_ENCODED]
        size = _DECODED_SIZE[len(chunk)]
        num = 0
        for ch in chunk:
            num = num * 58 + _INDEX[ch]
        if num >> (8 * size):
            raise InvalidAddress(
                f"base58 block {chunk!r} at position {start + 1} overflows "
                f"{size} bytes",
                "overflow",
            )
        out += num.to_bytes(size, "big")
    return bytes(out)


# ---------------------------------------------------------------- varint


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _decode_varint(data: bytes) -> tuple[int, int]:
    """Return (value, bytes used); rejects unterminated and non-canonical
    (trailing zero byte) encodings, as Monero's reader does."""
    value = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and byte == 0:
                raise InvalidAddress("network tag varint is not canonical", "varint")
            return value, i + 1
    raise InvalidAddress("network tag varint is unterminated", "varint")


def _checksum(body: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=body).digest()[:CHECKSUM_SIZE]


# ---------------------------------------------------------------- address


def encode_address(network: str, kind: str, spend_key: bytes, view_key: bytes,
                   payment_id: Optional[bytes] = None) -> str:
    """Build the address text for the given keys (for tests and vectors)."""
    tag = NETWORK_TAGS.get((network, kind))
    if tag is None:
        raise ValueError(f"unknown network/kind {network!r}/{kind!r}")
    if len(spend_key) != KEY_SIZE or len(view_key) != KEY_SIZE:
        raise ValueError("spend_key and view_key must be 32 bytes each")
    if (kind == "integrated") != (payment_id is not None):
        raise ValueError("a payment_id is required for, and only for, integrated addresses")
    if payment_id is not None and len(payment_id) != PAYMENT_ID_SIZE:
        raise ValueError("payment_id must be 8 bytes")
    body = _encode_varint(tag) + bytes(spend_key) + bytes(view_key) + bytes(payment_id or b"")
    return b58encode(body + _checksum(body))


def decode_address(text: str) -> AddressInfo:
    """Parse and fully check ``text``; raise InvalidAddress saying what is wrong.

    Any network is accepted here; use `validate_address` to restrict it.  The
    checksum is checked before the tag, so a typo is reported as a typo.
    """
    if not isinstance(text, str):
        raise InvalidAddress(f"address must be a string, not {type(text).__name__}", "not_str")
    if len(text) not in (STANDARD_LENGTH, INTEGRATED_LENGTH):
        _check_chars(text)  # a bad character is the more useful message
        raise InvalidAddress(
            f"wrong length: {len(text)} characters (a Monero address has "
            f"{STANDARD_LENGTH}, or {INTEGRATED_LENGTH} if integrated)",
            "length",
        )
    raw = b58decode(text)
    body, check = raw[:-CHECKSUM_SIZE], raw[-CHECKSUM_SIZE:]
    if _checksum(body) != check:
        raise InvalidAddress("bad checksum: the address is mistyped or truncated", "checksum")
    tag, used = _decode_varint(body)
    if tag not in _BY_TAG:
        raise InvalidAddress(f"unknown network tag {tag} (not a Monero address)", "network_tag")
    network, kind = _BY_TAG[tag]
    rest = body[used:]
    want = 2 * KEY_SIZE + (PAYMENT_ID_SIZE if kind == "integrated" else 0)
    if len(rest) != want:
        need = INTEGRATED_LENGTH if kind == "integrated" else STANDARD_LENGTH
        raise InvalidAddress(
            f"tag {tag} means a {network} {kind} address of {need} characters, "
            f"but this one has {len(text)}",
            "kind_length",
        )
    return AddressInfo(
        network=network,
        kind=kind,
        spend_key=rest[:KEY_SIZE],
        view_key=rest[KEY_SIZE:2 * KEY_SIZE],
        payment_id=rest[2 * KEY_SIZE:] if kind == "integrated" else None,
    )


def _as_tuple(names: Iterable[str] | str | None, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if names is None:
        return allowed
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {allowed}")
    return names


def validate_address(text: str, networks: Iterable[str] | str = ("mainnet",),
                     kinds: Iterable[str] | str | None = None) -> AddressInfo:
    """`decode_address`, then require one of ``networks`` (default mainnet:
    regtest wallets make mainnet addresses) and, if given, one of ``kinds``."""
    networks = _as_tuple(networks, NETWORKS, "network")
    kinds = _as_tuple(kinds, KINDS, "kind")
    info = decode_address(text)
    if info.network not in networks:
        raise InvalidAddress(
            f"{info.network} address, but only {', '.join(networks)} accepted", "network"
        )
    if info.kind not in kinds:
        raise InvalidAddress(
            f"{info.kind} address, but only {', '.join(kinds)} accepted", "kind"
        )
    return info


def is_valid_address(text: str, networks: Iterable[str] | str = ("mainnet",),
                     kinds: Iterable[str] | str | None = None) -> bool:
    """True if `validate_address` accepts ``text``."""
    try:
        validate_address(text, networks, kinds)
    except InvalidAddress:
        return False
    return True

"""monero-wallet-rpc's error codes, classified into the ports' error kinds.

The Retrying state maps each kind (`core.errors.ErrorKind`) onto a trigger,
so the classification of wallet-rpc's codes lives here, as data, and nowhere
else.  Codes and advice come from monero-wallet-rpc 0.18 (docs/wallet-facts.md).
"""

from __future__ import annotations

from fsm_distributor.core.errors import ErrorKind, WalletError


#: JSON-RPC error code -> kind.  Codes not listed are treated as PERMANENT.
CODE_KINDS: dict[int, ErrorKind] = {
    0: ErrorKind.TRANSIENT,        # handler threw (seen while the daemon was down)
    -1: ErrorKind.TRANSIENT,       # unknown error
    -3: ErrorKind.TRANSIENT,       # daemon busy
    -38: ErrorKind.TRANSIENT,      # no daemon connection
    -32603: ErrorKind.TRANSIENT,   # JSON-RPC internal error
    -37: ErrorKind.LOCKED,         # not enough unlocked money
    -19: ErrorKind.LOCKED,         # not enough outputs to mix (young chain)
    -16: ErrorKind.LOCKED,         # tx not possible
    -17: ErrorKind.NO_FUNDS,       # not enough money
    -13: ErrorKind.WALLET_CLOSED,  # no wallet file
    -2: ErrorKind.BAD_REQUEST,     # wrong address
    -5: ErrorKind.BAD_REQUEST,     # wrong payment id
    -20: ErrorKind.BAD_REQUEST,    # zero destination
    -46: ErrorKind.BAD_REQUEST,    # zero amount
    -32700: ErrorKind.BAD_REQUEST,  # parse error; also an amount above 2^64-1
    -18: ErrorKind.PERMANENT,      # tx too large
    -32602: ErrorKind.PERMANENT,   # invalid params
    -32601: ErrorKind.PERMANENT,   # method not found
    -7: ErrorKind.PERMANENT,       # denied
    -48: ErrorKind.PERMANENT,      # disabled
    -50: ErrorKind.PERMANENT,      # non-zero unlock time (0.18.5)
    -26: ErrorKind.PERMANENT,      # bad hex
    -27: ErrorKind.PERMANENT,      # bad tx metadata
}

#: -4 is a generic transfer error; its message tells what happened.
_DAEMON_TALK = ("failed to get height", "failed to get output distribution",
                "daemon", "no connection", "failed to get")


def classify(code: int, message: str) -> ErrorKind:
    """The kind of a wallet-rpc error, from its code and (for -4) its message."""
    if code == -4:
        text = message.lower()
        if "rejected by daemon" in text:
            return ErrorKind.REJECTED
        if "failed to commit tx" in text:
            return ErrorKind.REJECTED
        if any(phrase in text for phrase in _DAEMON_TALK):
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    return CODE_KINDS.get(code, ErrorKind.PERMANENT)


class RpcError(WalletError):
    """The wallet answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(method, message or "(empty message)", code=code, kind=classify(code, message))

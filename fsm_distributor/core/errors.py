"""The errors the ports may raise: one family per kind of port (see `ports`).

Adapters translate whatever fails inside them into these, so the agent
catches `WalletError` around a wallet or daemon call and `StoreError` around
a file of the shared directory, and nothing else.
"""

from __future__ import annotations

import enum
from typing import Optional


class ErrorKind(str, enum.Enum):
    """What a sender should do about a failed wallet call."""

    TRANSIENT = "transient"          # back off, retry the same call
    LOCKED = "locked"                # coins locked: wait for blocks, prefer another miner
    NO_FUNDS = "no_funds"            # this miner cannot pay: choose another miner
    WALLET_CLOSED = "wallet_closed"  # no wallet open (wallet-rpc restarted)
    REJECTED = "rejected"            # daemon rejected the tx: refresh, build again
    BAD_REQUEST = "bad_request"      # this recipient/amount can never work
    PERMANENT = "permanent"          # do not retry this request


class WalletError(Exception):
    """A wallet (or daemon) call failed; `kind` says what to do about it."""

    kind: ErrorKind = ErrorKind.PERMANENT

    def __init__(self, method: str, message: str, *, code: Optional[int] = None,
                 kind: Optional[ErrorKind] = None):
        super().__init__(f"{method}: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.message = message
        self.code = code
        if kind is not None:
            self.kind = kind


class WalletUnavailable(WalletError):
    """Transport failure: refused, timed out, HTTP error."""

    kind = ErrorKind.TRANSIENT


class BadAnswer(WalletError):
    """The wallet answered, but not with what the protocol promises."""

    kind = ErrorKind.TRANSIENT


class TxUnknown(WalletError):
    """The wallet does not know this transaction (-8): a reason to ask the daemon, never a verdict."""


class StoreError(Exception):
    """A file of the shared directory cannot be read or written now (missing, damaged, I/O)."""


# ---------------------------------------------------------------- multisig treasury (issue 13)
# What the multisig calls of wallet-rpc 0.18 answer that a caller must tell apart (docs/wallet-facts.md).


class WalletExists(WalletError):
    """create_wallet: a wallet file of that name exists already (-21): open it instead."""


class SignerLost(WalletError):
    """This signer's wallet cannot go on with this treasury set-up: it is multisig already though no
    message of it was kept (-28), it is at another key-exchange round (-1), multisig is disabled in it
    (-48), or it cannot be opened.  A half-made treasury is then made again under a new name."""


class TxsetStale(WalletError):
    """sign_multisig refused (-35): this signer already signed this set, took part in another set of
    this export/import round, or the set is fully signed.  Another signer may still sign it."""


class TxsetIncomplete(WalletError):
    """submit_multisig of a set with fewer signatures than the threshold (-33): nothing was sent."""


class TxsetRejected(WalletError):
    """submit_multisig: the daemon rejected the set (-36), e.g. its inputs were spent meanwhile."""

    kind = ErrorKind.REJECTED

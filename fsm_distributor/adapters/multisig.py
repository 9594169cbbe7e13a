"""The `MultisigSigner` port on monero-wallet-rpc 0.18 (issue 13), over the wallet's `WalletClient.call`.

What each call answers on Debian's 0.18.0.0 is in docs/wallet-facts.md ("Multisig"); this module
turns the answers into the port's types and the error codes a caller must tell apart into the
multisig kinds of `core.errors` (WalletExists, SignerLost, TxsetStale, TxsetIncomplete,
TxsetRejected).  Every call sends `params` (a call without them is zero-filled by wallet-rpc:
`close_wallet` would not save).  `finalize_multisig` is never called: 0.18 does not need it, and
without an open wallet it crashes wallet-rpc.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.adapters.wallet import (TRANSFER_TIMEOUT, EndpointPool, WalletClient, WalletPool, hex64,
                                             transfer_params)
from fsm_distributor.core.errors import (BadAnswer, SignerLost, TxsetIncomplete, TxsetRejected, TxsetStale,
                                         WalletError, WalletExists)
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.ports import Balance, KexStep, MultisigState, MultisigTxset, SignedTxset

#: create_wallet and open_wallet are CPU-bound (2-3 s each when idle, much more under load).
WALLET_FILE_TIMEOUT = 300.0
#: The key-exchange calls whose failure means: this signer cannot go on with this set-up.
_KEX = ("make_multisig", "exchange_multisig_keys", "prepare_multisig", "open_wallet")


def translate(method: str, exc: RpcError) -> WalletError:
    """The port's error for a multisig call's error answer (codes seen on 0.18.0.0)."""
    code, message = exc.code, exc.message
    if code == -21 and method == "create_wallet":
        return WalletExists(method, message, code=code)
    if code == -35:
        return TxsetStale(method, message, code=code)
    if code == -36:
        return TxsetRejected(method, message, code=code)
    if code == -33 and method == "submit_multisig":
        return TxsetIncomplete(method, message, code=code)
    if method in _KEX and (code in (-28, -48, -33) or code == -1):
        # -28 already multisig/finalized, -48 multisig disabled in this wallet, -33 too few infos,
        # -1 a kex message of another round (or undecodable), or "Failed to open wallet"
        return SignerLost(method, message, code=code)
    return exc


def _text(answer: dict[str, Any], key: str, method: str, *, empty: bool = False) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or (not value and not empty):
        raise BadAnswer(method, f"expected a string {key!r}, got {str(value)[:80]!r}")
    return value


def _uint(answer: dict[str, Any], key: str, method: str) -> int:
    value = answer.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadAnswer(method, f"expected a non-negative integer {key!r}, got {value!r}")
    return value


class MultisigRpc:
    """One signer's wallet-rpc as the `MultisigSigner` port."""

    def __init__(self, client: WalletClient):
        self.client = client

    def __repr__(self) -> str:
        return f"MultisigRpc({self.client.host}:{self.client.port})"

    def close(self) -> None:
        """The client belongs to the wallet pool, which closes it."""

    def _call(self, method: str, params: dict[str, Any], timeout: Optional[float] = None) -> dict[str, Any]:
        try:
            return self.client.call(method, params, timeout=timeout)
        except RpcError as exc:
            raise translate(method, exc) from exc

    # -- wallet files --------------------------------------------------------------------------
    def create_wallet(self, name: str, password: str) -> None:
        self._call("create_wallet", {"filename": name, "password": password, "language": "English"},
                   WALLET_FILE_TIMEOUT)

    def open_wallet(self, name: str, password: str) -> None:
        self._call("open_wallet", {"filename": name, "password": password}, WALLET_FILE_TIMEOUT)

    def close_wallet(self) -> None:
        self._call("close_wallet", {"autosave_current": True})

    # -- set-up ----------------------------------------------------------------------------------
    def prepare(self) -> str:
        answer = self._call("prepare_multisig", {"enable_multisig_experimental": True})
        return _text(answer, "multisig_info", "prepare_multisig")

    def make(self, infos: Sequence[str], threshold: int, password: str) -> KexStep:
        answer = self._call("make_multisig", {"multisig_info": list(infos), "threshold": threshold,
                                              "password": password}, TRANSFER_TIMEOUT)
        return KexStep(_text(answer, "multisig_info", "make_multisig", empty=True),
                       _text(answer, "address", "make_multisig", empty=True))

    def exchange(self, infos: Sequence[str], password: str) -> KexStep:
        answer = self._call("exchange_multisig_keys", {"multisig_info": list(infos), "password": password},
                            TRANSFER_TIMEOUT)
        return KexStep(_text(answer, "multisig_info", "exchange_multisig_keys", empty=True),
                       _text(answer, "address", "exchange_multisig_keys", empty=True))

    def state(self) -> MultisigState:
        answer = self._call("is_multisig", {})
        return MultisigState(answer.get("multisig") is True, answer.get("ready") is True,
                             _uint(answer, "threshold", "is_multisig"), _uint(answer, "total", "is_multisig"))

    def address(self) -> str:
        return self.client.get_address()

    # -- spending --------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.client.refresh()

    def balance(self) -> Balance:
        return self.client.get_balance()

    def export_info(self) -> str:
        return _text(self._call("export_multisig_info", {}), "info", "export_multisig_info")

    def import_info(self, infos: Sequence[str]) -> int:
        answer = self._call("import_multisig_info", {"info": list(infos)}, TRANSFER_TIMEOUT)
        return _uint(answer, "n_outputs", "import_multisig_info")

    def height(self) -> int:
        return self.client.height()

    def transfer(self, destinations: Sequence[Destination], *, priority: int, unlock_time: int = 0) -> MultisigTxset:
        """A set signed by this signer; never broadcast (multisig transfers are not, and do_not_relay
        keeps a wallet that is not multisig, opened there by someone else, from sending anything)."""
        params = {**transfer_params(destinations, priority, unlock_time), "do_not_relay": True}
        answer = self._call("transfer", params, TRANSFER_TIMEOUT)
        txset = answer.get("multisig_txset")
        if not isinstance(txset, str) or not txset:
            raise BadAnswer("transfer", "no multisig_txset in the answer: the open wallet is not multisig")
        spent = answer.get("spent_key_images")
        images = spent.get("key_images") if isinstance(spent, dict) else None
        return MultisigTxset(txset, _uint(answer, "fee", "transfer"), _uint(answer, "amount", "transfer"),
                             tuple(hex64(k, "key_image", "transfer") for k in images)
                             if isinstance(images, list) else ())

    def describe(self, txset: str) -> tuple[tuple[str, int], ...]:
        answer = self._call("describe_transfer", {"multisig_txset": txset})
        desc = answer.get("desc")
        if not isinstance(desc, list) or not desc:
            raise BadAnswer("describe_transfer", f"no desc list in {str(answer)[:120]}")
        out = []
        for tx in desc:
            recipients = tx.get("recipients") if isinstance(tx, dict) else None
            if not isinstance(recipients, list):
                raise BadAnswer("describe_transfer", f"no recipients in {str(tx)[:120]}")
            for r in recipients:
                if not isinstance(r, dict) or not isinstance(r.get("address"), str):
                    raise BadAnswer("describe_transfer", f"malformed recipient {str(r)[:120]}")
                out.append((r["address"], _uint(r, "amount", "describe_transfer")))
        return tuple(out)

    def sign(self, txset: str) -> SignedTxset:
        answer = self._call("sign_multisig", {"tx_data_hex": txset}, TRANSFER_TIMEOUT)
        hashes = answer.get("tx_hash_list") or []
        if not isinstance(hashes, list):
            raise BadAnswer("sign_multisig", f"tx_hash_list is not a list: {hashes!r}")
        return SignedTxset(_text(answer, "tx_data_hex", "sign_multisig"),
                           tuple(hex64(h, "tx_hash", "sign_multisig") for h in hashes))

    def submit(self, txset: str) -> tuple[str, ...]:
        answer = self._call("submit_multisig", {"tx_data_hex": txset}, TRANSFER_TIMEOUT)
        hashes = answer.get("tx_hash_list")
        if not isinstance(hashes, list) or not hashes:
            raise BadAnswer("submit_multisig", f"no tx_hash_list in {str(answer)[:120]}")
        return tuple(hex64(h, "tx_hash", "submit_multisig") for h in hashes)


class SignerPool(EndpointPool[MultisigRpc]):
    """One `MultisigRpc` per signer endpoint, on the wallet pool's client for that endpoint."""

    def __init__(self, wallets: WalletPool):
        super().__init__(lambda host, port: MultisigRpc(wallets(host, port)))

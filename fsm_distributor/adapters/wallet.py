"""A small JSON-RPC client for monero-wallet-rpc, on `requests`: the `Wallet` port.

Every failure leaves this module as a `core.errors.WalletError` with a
`kind` (wallet-rpc's codes are classified in `rpc_errors`), and every answer
the agent relies on is checked here, so the actions never see a `requests`
exception or a malformed dict.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

import requests
from requests.auth import HTTPDigestAuth

from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.core.errors import BadAnswer, TxUnknown, WalletUnavailable
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.ports import Balance, Outgoing, Transfer, TransferInfo

#: Seconds to wait for quick calls; transfers build and sign, so they get longer.
DEFAULT_TIMEOUT = 10.0
TRANSFER_TIMEOUT = 60.0


def _uint(answer: dict, key: str, method: str, default: Optional[int] = None) -> int:
    value = answer.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadAnswer(method, f"expected a non-negative integer {key!r}, got {value!r}")
    return value


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _hex64(answer: dict, key: str, method: str) -> str:
    return hex64(answer.get(key), key, method)


def hex64(value: Any, what: str, method: str) -> str:
    """A 32-byte hash or key in hex, lower case; anything else is a `BadAnswer` naming `what`."""
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise BadAnswer(method, f"expected a 64-hex-digit {what!r}, got {value!r}")
    return value.lower()


def transfer_params(destinations: Sequence[Destination], priority: int, unlock_time: int) -> dict[str, Any]:
    """The params every `transfer` sends (a miner's and a treasury signer's): amounts as ints only
    (int(float) truncates), ring size 16, a time lock only when asked for."""
    if any(type(d.amount) is not int for d in destinations):
        raise TypeError("amounts must be int atomic units, never float")
    params: dict[str, Any] = {"destinations": [{"address": d.address, "amount": d.amount} for d in destinations],
                              "priority": priority, "ring_size": 16, "get_tx_key": False}
    if unlock_time:
        if type(unlock_time) is not int or unlock_time < 0:
            raise TypeError("unlock_time must be a block height, an int >= 0")
        params["unlock_time"] = unlock_time
    return params


class WalletClient:
    """One wallet-rpc endpoint; calls are made one at a time over one Session."""

    def __init__(self, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT,
                 auth: Optional[tuple[str, str]] = None, path: str = "/json_rpc"):
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}{path}"
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # loopback/simulated hosts: no proxies or .netrc from the environment
        if auth:
            self._session.auth = HTTPDigestAuth(*auth)

    def __repr__(self) -> str:
        return f"WalletClient({self.host}:{self.port})"

    def close(self) -> None:
        self._session.close()

    def call(self, method: str, params: Optional[dict] = None, *, timeout: Optional[float] = None) -> dict:
        """Call `method`; return its `result` object or raise a `WalletError`."""
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": "0", "method": method}
        if params is not None:
            payload["params"] = params
        try:
            response = self._session.post(self.url, json=payload, timeout=timeout or self.timeout)
        except requests.Timeout as exc:
            raise WalletUnavailable(method, f"timed out after {timeout or self.timeout}s at {self.host}:{self.port}") from exc
        except requests.RequestException as exc:
            raise WalletUnavailable(method, f"cannot reach {self.host}:{self.port}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WalletUnavailable(method, f"HTTP {response.status_code} from {self.host}:{self.port}")
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise BadAnswer(method, f"answer is not JSON ({len(response.content)} bytes)") from exc
        if not isinstance(body, dict):
            raise BadAnswer(method, f"answer is a JSON {type(body).__name__}, not an object")
        error = body.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise BadAnswer(method, f"malformed error object {error!r}")
            code = error.get("code", 0)
            if isinstance(code, bool) or not isinstance(code, int):
                code = 0
            raise RpcError(method, code, str(error.get("message", "")))
        result = body.get("result")
        if not isinstance(result, dict):
            raise BadAnswer(method, f"answer has no result object: {str(body)[:200]}")
        return result

    # -- the calls the agent makes -------------------------------------------------

    def get_balance(self, account_index: int = 0) -> Balance:
        result = self.call("get_balance", {"account_index": account_index})
        total = _uint(result, "balance", "get_balance")
        unlocked = _uint(result, "unlocked_balance", "get_balance")
        if unlocked > total:
            raise BadAnswer("get_balance", f"unlocked balance {unlocked} exceeds balance {total}")
        return Balance(total, unlocked, _uint(result, "blocks_to_unlock", "get_balance", 0))

    def get_address(self, account_index: int = 0) -> str:
        result = self.call("get_address", {"account_index": account_index})
        address = result.get("address")
        if not isinstance(address, str) or not address:
            raise BadAnswer("get_address", f"no address in answer: {str(result)[:200]}")
        return address

    def refresh(self) -> None:
        self.call("refresh", {}, timeout=TRANSFER_TIMEOUT)

    def height(self) -> int:
        """Blocks the wallet has scanned (`get_height`, answered from its cache; the daemon's after a refresh)."""
        return _uint(self.call("get_height", {}), "height", "get_height")

    def transfer(self, destinations: Sequence[Destination], *, priority: int,
                 do_not_relay: bool = False, unlock_time: int = 0) -> Transfer:
        """Send (or, with `do_not_relay`, only build) one transaction; `unlock_time` > 0 locks its outputs
        until that block height (0.18.0 honours it: docs/wallet-facts.md)."""
        params = transfer_params(destinations, priority, unlock_time)
        if do_not_relay:
            params.update(do_not_relay=True, get_tx_metadata=True)
        result = self.call("transfer", params, timeout=TRANSFER_TIMEOUT)
        metadata = result.get("tx_metadata", "")
        spent = result.get("spent_key_images")
        images = spent.get("key_images") if isinstance(spent, dict) else None
        return Transfer(
            tx_hash=_hex64(result, "tx_hash", "transfer"),
            fee=_uint(result, "fee", "transfer"),
            amount=_uint(result, "amount", "transfer"),
            tx_metadata=metadata if isinstance(metadata, str) else "",
            key_images=tuple(hex64(k, "key_image", "transfer") for k in images)
            if isinstance(images, list) else (),
        )

    def relay_tx(self, tx_metadata: str) -> str:
        """Broadcast a transaction built with `do_not_relay`; relaying it again is harmless."""
        result = self.call("relay_tx", {"hex": tx_metadata}, timeout=TRANSFER_TIMEOUT)
        return _hex64(result, "tx_hash", "relay_tx")

    def get_transfer_by_txid(self, txid: str) -> dict:
        """The wallet's raw answer (tools and tests read its fields); -8 stays an RpcError."""
        result = self.call("get_transfer_by_txid", {"txid": txid})
        transfer = result.get("transfer")
        if not isinstance(transfer, dict):
            raise BadAnswer("get_transfer_by_txid", f"no transfer object for {txid}")
        return transfer

    def transfer_info(self, txid: str) -> TransferInfo:
        """The wallet's view of one of its transactions; TxUnknown when it does not know it (-8)."""
        try:
            transfer = self.get_transfer_by_txid(txid)
        except RpcError as exc:
            if exc.code == -8:
                raise TxUnknown("get_transfer_by_txid", f"{txid} is unknown to the wallet", code=-8) from exc
            raise
        kind = transfer.get("type")
        return TransferInfo(kind if isinstance(kind, str) else "", _count(transfer.get("height")),
                            _count(transfer.get("confirmations")))  # confirmations is absent while 0


    def get_transfers(self) -> list[Outgoing]:
        """Every outgoing transaction the wallet knows, confirmed or pending (not failed ones)."""
        result = self.call("get_transfers", {"out": True, "pending": True}, timeout=TRANSFER_TIMEOUT)
        out = []
        for kind in ("out", "pending"):
            entries = result.get(kind, [])
            if not isinstance(entries, list):
                raise BadAnswer("get_transfers", f"{kind!r} is not a list")
            for entry in entries:
                if not isinstance(entry, dict):
                    raise BadAnswer("get_transfers", f"an {kind!r} entry is not an object")
                destinations = entry.get("destinations") or []
                if not isinstance(destinations, list) or not all(
                        isinstance(d, dict) and isinstance(d.get("address"), str) for d in destinations):
                    raise BadAnswer("get_transfers", f"malformed destinations in {str(entry)[:120]}")
                out.append(Outgoing(
                    tx_hash=_hex64(entry, "txid", "get_transfers"),
                    destinations=tuple((d["address"], _uint(d, "amount", "get_transfers")) for d in destinations),
                    fee=_uint(entry, "fee", "get_transfers", 0), height=_uint(entry, "height", "get_transfers", 0),
                    type=kind))
        return out


C = TypeVar("C")


class EndpointPool(Generic[C]):
    """Hands out one client per (host, port), created on first use by `make`."""

    def __init__(self, make: Callable[[str, int], C]):
        self._make = make
        self._clients: dict[tuple[str, int], C] = {}

    def __call__(self, host: str, port: int) -> C:
        key = (host, int(port))
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._make(host, int(port))
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()  # type: ignore[attr-defined]
        self._clients.clear()


class WalletPool(EndpointPool[WalletClient]):
    """One `WalletClient` per wallet-rpc endpoint."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, auth: Optional[tuple[str, str]] = None):
        super().__init__(lambda host, port: WalletClient(host, port, timeout=timeout, auth=auth))

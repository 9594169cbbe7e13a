"""A client for a miner's monerod: where a transaction is, whether its inputs are spent, and
what the network looks like.

The sender's wallet is not a reliable witness (a wallet-rpc restarted from an
older wallet file forgets pooled payments; a double-spent payment can stay
"pending" in it), so verification asks the daemon through monerod's plain
HTTP endpoints (`/get_transactions`, `/is_key_image_spent`, `/get_height`).
Network-aware distribution (issue 11) reads `/get_transaction_pool_stats`
and the JSON-RPC methods `get_info`, `get_fee_estimate` and
`get_last_block_header` at `/json_rpc`.  Every failure leaves as a
`WalletError` (see `rpc_errors`).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import requests

from fsm_distributor.adapters.wallet import EndpointPool
from fsm_distributor.core.errors import BadAnswer, WalletUnavailable
from fsm_distributor.core.ports import (TARGET_BLOCK_SECONDS, BlockHeader, ChainInfo, FeeEstimate, KeyImage, Location,
                                        PoolStats, Where)

DEFAULT_TIMEOUT = 10.0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _uint(answer: dict, key: str, method: str) -> int:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadAnswer(method, f"expected a non-negative integer {key!r}, got {value!r}")
    return value


class DaemonClient:
    """One monerod RPC endpoint (plain HTTP endpoints, one Session)."""

    def __init__(self, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False

    def __repr__(self) -> str:
        return f"DaemonClient({self.host}:{self.port})"

    def close(self) -> None:
        self._session.close()

    def _post(self, path: str, payload: dict, *, method: str = "") -> dict:
        """POST to a plain endpoint (or /json_rpc, then `method` names the call in errors)."""
        path_name = method or path
        url = f"http://{self.host}:{self.port}/{path}"
        try:
            response = self._session.post(url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise WalletUnavailable(path_name, f"cannot reach daemon {self.host}:{self.port}: "
                                               f"{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WalletUnavailable(path_name, f"HTTP {response.status_code} from daemon {self.host}:{self.port}")
        try:
            body = response.json()
        except ValueError as exc:
            raise BadAnswer(path_name, f"answer is not JSON ({len(response.content)} bytes)") from exc
        if method and isinstance(body, dict):  # JSON-RPC: an error object, or the result object
            error = body.get("error")
            if error is not None:
                message = error.get("message", "") if isinstance(error, dict) else error
                raise BadAnswer(method, f"error from daemon: {str(message)[:200]}")
            body = body.get("result")
        if not isinstance(body, dict) or body.get("status") != "OK":
            raise BadAnswer(path_name, f"unexpected answer: {str(body)[:200]}")
        return body

    def _json_rpc(self, method: str, params: Optional[dict] = None) -> dict:
        """A monerod JSON-RPC call (`/json_rpc`); its result object, whose status must be OK."""
        payload = {"jsonrpc": "2.0", "id": "0", "method": method, "params": params or {}}
        return self._post("json_rpc", payload, method=method)

    def locate(self, tx_hashes: Sequence[str]) -> dict[str, Location]:
        """Each hash: in the pool, in a block (with height and confirmations), or missing."""
        body = self._post("get_transactions", {"txs_hashes": list(tx_hashes)})
        found: dict[str, Location] = {}
        for tx in body.get("txs") or []:
            if not isinstance(tx, dict) or not isinstance(tx.get("tx_hash"), str):
                continue
            if tx.get("in_pool"):
                found[tx["tx_hash"]] = Location(Where.POOL)
            else:
                found[tx["tx_hash"]] = Location(Where.CHAIN, _count(tx.get("block_height")),
                                                _count(tx.get("confirmations")))
        return {h: found.get(h, Location(Where.MISSING)) for h in tx_hashes}

    def key_images_spent(self, key_images: Sequence[str]) -> list[KeyImage]:
        """Per key image: unspent, spent in a block, or spent by a transaction in the pool."""
        body = self._post("is_key_image_spent", {"key_images": list(key_images)})
        status = body.get("spent_status")
        if not isinstance(status, list) or len(status) != len(key_images) \
                or any(s not in (0, 1, 2) or isinstance(s, bool) for s in status):
            raise BadAnswer("is_key_image_spent", f"expected {len(key_images)} statuses 0-2, got {status!r}")
        return [KeyImage(s) for s in status]

    def height(self) -> int:
        body = self._post("get_height", {})
        height = body.get("height")
        if isinstance(height, bool) or not isinstance(height, int) or height < 0:
            raise BadAnswer("get_height", f"expected a non-negative integer 'height', got {height!r}")
        return height


    # -- network-aware distribution (issue 11) ------------------------------------

    def info(self) -> ChainInfo:
        """`get_info`: blocks in the chain, transactions in the pool, the block time target."""
        body = self._json_rpc("get_info")
        target = body.get("target")
        return ChainInfo(_uint(body, "height", "get_info"), _uint(body, "tx_pool_size", "get_info"),
                         target if isinstance(target, int) and not isinstance(target, bool) and target > 0
                         else TARGET_BLOCK_SECONDS)

    def fee_estimate(self) -> FeeEstimate:
        """`get_fee_estimate`: fee per byte, and per priority 1-4 (`fees`, 0.18) when the daemon gives them."""
        body = self._json_rpc("get_fee_estimate")
        fees = body.get("fees")
        tiers = tuple(fees) if isinstance(fees, list) and fees and all(
            isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in fees) else ()
        mask = body.get("quantization_mask")
        return FeeEstimate(_uint(body, "fee", "get_fee_estimate"), tiers,
                           mask if isinstance(mask, int) and not isinstance(mask, bool) and mask > 0 else 1)

    def pool_stats(self) -> PoolStats:
        """`/get_transaction_pool_stats`: bytes and transactions in the pool, the oldest's receive time."""
        body = self._post("get_transaction_pool_stats", {})
        stats = body.get("pool_stats")
        if not isinstance(stats, dict):
            raise BadAnswer("get_transaction_pool_stats", f"no pool_stats object: {str(body)[:200]}")
        return PoolStats(_uint(stats, "bytes_total", "get_transaction_pool_stats"),
                         _uint(stats, "txs_total", "get_transaction_pool_stats"), _count(stats.get("oldest")))

    def last_block(self) -> BlockHeader:
        """`get_last_block_header`: the top block's index, reward and timestamp."""
        body = self._json_rpc("get_last_block_header")
        header = body.get("block_header")
        if not isinstance(header, dict):
            raise BadAnswer("get_last_block_header", f"no block_header object: {str(body)[:200]}")
        return BlockHeader(_uint(header, "height", "get_last_block_header"),
                           _uint(header, "reward", "get_last_block_header"),
                           _uint(header, "timestamp", "get_last_block_header"))


class DaemonPool(EndpointPool[DaemonClient]):
    """One `DaemonClient` per monerod endpoint."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(lambda host, port: DaemonClient(host, port, timeout=timeout))

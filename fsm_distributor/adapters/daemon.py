"""A client for a miner's monerod: where a transaction is, and whether its inputs are spent.

The sender's wallet is not a reliable witness (a wallet-rpc restarted from an
older wallet file forgets pooled payments; a double-spent payment can stay
"pending" in it), so verification asks the daemon.  Only monerod's plain
HTTP endpoints are used (`/get_transactions`, `/is_key_image_spent`,
`/get_height`); every failure leaves as a `WalletError` (see `rpc_errors`).
"""

from __future__ import annotations

from typing import Any, Sequence

import requests

from fsm_distributor.adapters.wallet import EndpointPool
from fsm_distributor.core.errors import BadAnswer, WalletUnavailable
from fsm_distributor.core.ports import KeyImage, Location, Where

DEFAULT_TIMEOUT = 10.0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


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

    def _post(self, path: str, payload: dict) -> dict:
        url = f"http://{self.host}:{self.port}/{path}"
        try:
            response = self._session.post(url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise WalletUnavailable(path, f"cannot reach daemon {self.host}:{self.port}: "
                                          f"{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WalletUnavailable(path, f"HTTP {response.status_code} from daemon {self.host}:{self.port}")
        try:
            body = response.json()
        except ValueError as exc:
            raise BadAnswer(path, f"answer is not JSON ({len(response.content)} bytes)") from exc
        if not isinstance(body, dict) or body.get("status") != "OK":
            raise BadAnswer(path, f"unexpected answer: {str(body)[:200]}")
        return body

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


class DaemonPool(EndpointPool[DaemonClient]):
    """One `DaemonClient` per monerod endpoint."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(lambda host, port: DaemonClient(host, port, timeout=timeout))

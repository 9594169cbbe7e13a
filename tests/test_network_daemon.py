"""issue 11's daemon and wallet calls (adapters/daemon.py, adapters/wallet.py) against a scripted HTTP
server; the answers are the shapes monerod 0.18 gave on regtest (docs/wallet-facts.md)."""

from __future__ import annotations

import pytest

from fsm_distributor.core.errors import BadAnswer, WalletError, WalletUnavailable
from fsm_distributor.core.ports import BlockHeader, ChainInfo, FeeEstimate, PoolStats
from test_wallet import (Reply, _running_server, client, daemon, error, free_port, raises, result,  # noqa: F401
                         server)  # (fixtures)

from fsm_distributor.adapters.daemon import DaemonClient

pytestmark = pytest.mark.timeout(20)

INFO = {"height": 141, "tx_pool_size": 3, "target": 120, "status": "OK", "block_weight_median": 300000}
FEES = {"fee": 1200000, "fees": [1200000, 4700000, 19000000, 240000000], "quantization_mask": 10000, "status": "OK"}
POOL = {"status": "OK", "pool_stats": {"bytes_max": 2166, "bytes_med": 2166, "bytes_min": 2166, "bytes_total": 6498,
                                       "fee_total": 7815600000, "histo_98pc": 0, "num_10m": 0, "num_double_spends": 0,
                                       "num_failing": 0, "num_not_relayed": 0, "oldest": 1796167068, "txs_total": 3}}
HEADER = {"status": "OK", "block_header": {"height": 140, "reward": 35175011638739, "timestamp": 1796167066,
                                            "num_txes": 0, "block_weight": 87}}


def test_get_info_fee_estimate_pool_stats_and_last_block_header(server, daemon):
    server.replies.update({"get_info": result(INFO), "get_fee_estimate": result(FEES),
                           "/get_transaction_pool_stats": Reply(POOL), "get_last_block_header": result(HEADER)})
    assert daemon.info() == ChainInfo(141, 3, 120)
    assert daemon.fee_estimate() == FeeEstimate(1200000, (1200000, 4700000, 19000000, 240000000), 10000)
    assert daemon.pool_stats() == PoolStats(6498, 3, 1796167068)
    assert daemon.last_block() == BlockHeader(140, 35175011638739, 1796167066)
    assert server.paths == ["/json_rpc", "/json_rpc", "/get_transaction_pool_stats", "/json_rpc"]
    assert [r.get("method") for r in server.requests] == ["get_info", "get_fee_estimate", None,
                                                          "get_last_block_header"]


def test_an_empty_pool_and_a_daemon_without_fee_tiers(server, daemon):
    server.replies["/get_transaction_pool_stats"] = Reply({"status": "OK", "pool_stats": {
        "bytes_total": 0, "txs_total": 0, "oldest": 0, "histo_98pc": 0}})
    assert daemon.pool_stats() == PoolStats(0, 0, 0)
    server.replies["get_fee_estimate"] = result({"fee": 20000, "status": "OK"})
    assert daemon.fee_estimate() == FeeEstimate(20000, (), 1)
    server.replies["get_info"] = result({"height": 5, "tx_pool_size": 0, "status": "OK"})
    assert daemon.info().target == 120


@pytest.mark.parametrize("key, body, call", [
    ("get_info", result({"height": -1, "tx_pool_size": 0, "status": "OK"}), lambda d: d.info()),
    ("get_info", result({"height": 3, "status": "OK"}), lambda d: d.info()),
    ("get_info", result({"height": 3, "tx_pool_size": 0, "status": "BUSY"}), lambda d: d.info()),
    ("get_info", error(-32601, "Method not found"), lambda d: d.info()),
    ("get_fee_estimate", result({"fee": "cheap", "status": "OK"}), lambda d: d.fee_estimate()),
    ("/get_transaction_pool_stats", Reply({"status": "OK"}), lambda d: d.pool_stats()),
    ("/get_transaction_pool_stats", Reply({"status": "OK", "pool_stats": {"bytes_total": True, "txs_total": 1}}),
     lambda d: d.pool_stats()),
    ("get_last_block_header", result({"status": "OK"}), lambda d: d.last_block()),
    ("get_last_block_header", result({"status": "OK", "block_header": {"height": 1, "reward": 2.5,
                                                                       "timestamp": 3}}), lambda d: d.last_block()),
    ("get_last_block_header", Reply(raw=b"not json"), lambda d: d.last_block()),
])
def test_answers_it_cannot_use_are_bad_answers_naming_the_call(server, daemon, key, body, call):
    server.replies[key] = body
    err = raises(BadAnswer, call, daemon)
    assert key.strip("/") in str(err)


def test_a_daemon_that_is_down_is_unavailable_for_each_call():
    down = DaemonClient("127.0.0.1", free_port(), timeout=1.0)
    for call in (down.info, down.fee_estimate, down.pool_stats, down.last_block):
        err = raises(WalletError, call)
        assert isinstance(err, WalletUnavailable) and "cannot reach daemon" in str(err)


def test_wallet_height(server, client):
    server.replies["get_height"] = result({"height": 142})
    assert client.height() == 142
    server.replies["get_height"] = result({"height": "142"})
    raises(BadAnswer, client.height)

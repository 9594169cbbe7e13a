"""Tests for fsm_distributor.adapters.wallet against a real local HTTP server.

The server (http.server on 127.0.0.1, an OS-chosen port, one thread) answers
each JSON-RPC method with whatever the test scripted: a result, an error
object, an HTTP error, bytes that are not JSON, or nothing for a while.  Every
failure must come out of the client as a `WalletError` with the right kind and
a message that names the method and what was wrong.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fsm_distributor.adapters.daemon import DaemonClient
from fsm_distributor.core.ports import KeyImage, Location, Where
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.errors import BadAnswer, ErrorKind, WalletError, WalletUnavailable
from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.core.ports import Balance, Outgoing, Transfer
from fsm_distributor.adapters.wallet import WalletClient, WalletPool

pytestmark = pytest.mark.timeout(20)

HASH = "a" * 32 + "0123456789abcdef" * 2
ADDRESS = "4ApCpy4WGuFAyHnWbkuPakJTbM5s8BaMK2zXVPcUr9w9bFV92Cwm3phgALVYpfAmgWQBk64TUnxm4APV1e4cWkQYQXcXcKb"


class Reply:
    """What the server sends back for one call."""

    def __init__(self, body=None, *, status=200, raw: bytes | None = None, hold: bool = False):
        self.status = status
        self.raw = raw if raw is not None else json.dumps(body).encode()
        self.hold = hold  # wait until the test ends before answering


def result(value) -> Reply:
    return Reply({"jsonrpc": "2.0", "id": "0", "result": value})


def error(code, message) -> Reply:
    return Reply({"jsonrpc": "2.0", "id": "0", "error": {"code": code, "message": message}})


class FakeWalletServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: dict[str, Reply] = {}
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: FakeWalletServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        self.server.requests.append(request)
        self.server.paths.append(self.path)
        # JSON-RPC methods by name; monerod's plain endpoints by path ("/get_transactions").
        key = request.get("method") if self.path == "/json_rpc" else self.path
        reply = self.server.replies.get(key, Reply(raw=b"", status=404))
        if reply.hold:
            self.server.release.wait(5)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.raw)))
            self.end_headers()
            self.wfile.write(reply.raw)
        except OSError:  # the client gave up (timeout test)
            pass


@pytest.fixture(scope="module")
def _running_server():
    srv = FakeWalletServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def server(_running_server):
    """The module's server with no scripted replies; held calls are released after the test."""
    srv = _running_server
    srv.replies.clear()
    srv.requests.clear()
    srv.paths.clear()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.release = threading.Event()


@pytest.fixture
def client(server):
    c = WalletClient("127.0.0.1", server.port, timeout=2.0)
    try:
        yield c
    finally:
        c.close()


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raises(kind_cls, fn, *args, **kwargs) -> WalletError:
    with pytest.raises(kind_cls) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- good answers


def test_get_balance_returns_atomic_units_and_sends_a_json_rpc_request(server, client):
    server.replies["get_balance"] = result(
        {"balance": 5_000_000_000_000, "unlocked_balance": 2_010_000_000_000, "blocks_to_unlock": 7})
    assert client.get_balance() == Balance(5_000_000_000_000, 2_010_000_000_000, 7)
    request = server.requests[-1]
    assert request["jsonrpc"] == "2.0" and request["method"] == "get_balance"
    assert request["params"] == {"account_index": 0}
    assert server.paths[-1] == "/json_rpc"


def test_get_balance_without_blocks_to_unlock_means_zero(server, client):
    server.replies["get_balance"] = result({"balance": 10, "unlocked_balance": 10})
    assert client.get_balance() == Balance(10, 10, 0)


def test_call_returns_the_result_object(server, client):
    server.replies["get_height"] = result({"height": 77})
    assert client.call("get_height") == {"height": 77}
    assert "params" not in server.requests[-1]


def test_null_error_with_a_result_is_a_success(server, client):
    server.replies["get_address"] = Reply({"id": "0", "error": None, "result": {"address": ADDRESS}})
    assert client.get_address() == ADDRESS


def test_transfer_sends_integer_amounts_and_returns_the_transfer(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 2605200000, "amount": 2_010_000_000_000,
                                         "tx_key": "", "tx_metadata": ""})
    sent = client.transfer([Destination("r", ADDRESS, 2_010_000_000_000)], priority=2)
    assert sent == Transfer(HASH, 2605200000, 2_010_000_000_000, "")
    params = server.requests[-1]["params"]
    assert params["destinations"] == [{"address": ADDRESS, "amount": 2_010_000_000_000}]
    assert params["priority"] == 2
    assert "do_not_relay" not in params and "get_tx_metadata" not in params


def test_transfer_amount_up_to_uint64_max_is_sent_exactly(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 1, "amount": 2**64 - 1})
    client.transfer([Destination("r", ADDRESS, 2**64 - 1)], priority=1)
    # The raw JSON text must carry the exact integer, not a float.
    assert server.requests[-1]["params"]["destinations"][0]["amount"] == 18446744073709551615


def test_transfer_without_relay_asks_for_metadata(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 1, "amount": 5, "tx_metadata": "beef"})
    sent = client.transfer([Destination("r", ADDRESS, 5)], priority=0, do_not_relay=True)
    assert sent.tx_metadata == "beef"
    params = server.requests[-1]["params"]
    assert params["do_not_relay"] is True and params["get_tx_metadata"] is True


def test_transfer_hash_is_normalised_to_lower_case(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH.upper(), "fee": 1, "amount": 5})
    assert client.transfer([Destination("r", ADDRESS, 5)], priority=1).tx_hash == HASH


def test_relay_tx_sends_the_metadata_and_returns_the_hash(server, client):
    server.replies["relay_tx"] = result({"tx_hash": HASH.upper()})
    assert client.relay_tx("cafe") == HASH
    assert server.requests[-1]["params"] == {"hex": "cafe"}
    server.replies["relay_tx"] = result({"tx_hash": "xyz"})
    err = raises(BadAnswer, client.relay_tx, "cafe")
    assert str(err) == "relay_tx: expected a 64-hex-digit 'tx_hash', got 'xyz'"
    server.replies["relay_tx"] = error(-4, "Failed to commit tx.")
    err = raises(RpcError, client.relay_tx, "cafe")
    assert err.kind is ErrorKind.REJECTED and err.method == "relay_tx"


def test_refresh_and_get_transfer_by_txid(server, client):
    server.replies["refresh"] = result({"blocks_fetched": 3, "received_money": False})
    client.refresh()
    assert server.requests[-1]["method"] == "refresh"
    server.replies["get_transfer_by_txid"] = result({"transfer": {"type": "pending", "txid": HASH}})
    assert client.get_transfer_by_txid(HASH) == {"type": "pending", "txid": HASH}
    assert server.requests[-1]["params"] == {"txid": HASH}


# ---------------------------------------------------------------- JSON-RPC errors


@pytest.mark.parametrize("code,message,kind", [
    (-37, "not enough unlocked money", ErrorKind.LOCKED),
    (-17, "not enough money", ErrorKind.NO_FUNDS),
    (-2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS", ErrorKind.BAD_REQUEST),
    (-4, "transaction was rejected by daemon", ErrorKind.REJECTED),
    (-4, "Failed to get height", ErrorKind.TRANSIENT),
    (-32700, "Parse error", ErrorKind.BAD_REQUEST),
    (-13, "No wallet file", ErrorKind.WALLET_CLOSED),
])
def test_error_object_becomes_rpc_error_of_its_kind(server, client, code, message, kind):
    server.replies["transfer"] = error(code, message)
    err = raises(RpcError, client.transfer, [Destination("r", ADDRESS, 5)], priority=1)
    assert err.kind is kind
    assert err.code == code
    assert err.method == "transfer"
    assert str(err) == f"transfer: {message} (code {code})"


def test_code_zero_with_empty_message_is_transient_and_says_empty(server, client):
    server.replies["get_balance"] = error(0, "")
    err = raises(RpcError, client.get_balance)
    assert err.kind is ErrorKind.TRANSIENT and err.code == 0
    assert str(err) == "get_balance: (empty message) (code 0)"


@pytest.mark.parametrize("bad_code", ["-37", None, True, 1.5])
def test_error_object_with_unusable_code_is_treated_as_code_zero(server, client, bad_code):
    server.replies["get_balance"] = Reply({"error": {"code": bad_code, "message": "odd"}})
    err = raises(RpcError, client.get_balance)
    assert err.code == 0 and err.kind is ErrorKind.TRANSIENT


def test_error_that_is_not_an_object_is_a_bad_answer(server, client):
    server.replies["get_balance"] = Reply({"error": "boom"})
    err = raises(BadAnswer, client.get_balance)
    assert err.kind is ErrorKind.TRANSIENT
    assert str(err).startswith("get_balance: ") and "'boom'" in str(err)


# ---------------------------------------------------------------- broken answers


def test_http_500_is_wallet_unavailable(server, client):
    server.replies["get_balance"] = Reply({"oops": 1}, status=500)
    err = raises(WalletUnavailable, client.get_balance)
    assert err.kind is ErrorKind.TRANSIENT and err.code is None
    assert str(err) == f"get_balance: HTTP 500 from 127.0.0.1:{server.port}"


def test_unknown_path_404_is_wallet_unavailable(server, client):
    err = raises(WalletUnavailable, client.call, "no_such_method")
    assert "no_such_method: HTTP 404" in str(err)


def test_malformed_json_is_a_bad_answer(server, client):
    server.replies["get_balance"] = Reply(raw=b'{"result": {"balance": 1,')
    err = raises(BadAnswer, client.get_balance)
    assert err.kind is ErrorKind.TRANSIENT
    assert str(err) == "get_balance: answer is not JSON (25 bytes)"


def test_json_array_is_a_bad_answer(server, client):
    server.replies["get_balance"] = Reply([{"result": {"balance": 1}}])
    err = raises(BadAnswer, client.get_balance)
    assert str(err).startswith("get_balance: answer is a JSON list")
    assert "not an object" in str(err)


@pytest.mark.parametrize("body", [{"id": "0"}, {"result": None}, {"result": [1, 2]}, {"result": "ok"}])
def test_answer_without_result_object_is_a_bad_answer(server, client, body):
    server.replies["get_balance"] = Reply(body)
    err = raises(BadAnswer, client.get_balance)
    assert str(err).startswith("get_balance: answer has no result object")


@pytest.mark.parametrize("answer,key", [
    ({"balance": -1, "unlocked_balance": 0}, "balance"),
    ({"balance": "100", "unlocked_balance": 0}, "balance"),
    ({"balance": True, "unlocked_balance": 0}, "balance"),
    ({"balance": 1.5, "unlocked_balance": 0}, "balance"),
    ({"unlocked_balance": 0}, "balance"),
    ({"balance": 10, "unlocked_balance": -5}, "unlocked_balance"),
    ({"balance": 10, "unlocked_balance": "5"}, "unlocked_balance"),
    ({"balance": 10, "unlocked_balance": False}, "unlocked_balance"),
    ({"balance": 10}, "unlocked_balance"),
    ({"balance": 10, "unlocked_balance": 5, "blocks_to_unlock": -2}, "blocks_to_unlock"),
])
def test_bad_balances_are_refused_naming_the_field_and_value(server, client, answer, key):
    server.replies["get_balance"] = result(answer)
    err = raises(BadAnswer, client.get_balance)
    assert err.kind is ErrorKind.TRANSIENT
    text = str(err)
    assert text.startswith("get_balance: ")
    assert repr(key) in text
    assert repr(answer.get(key)) in text


def test_unlocked_above_balance_is_refused(server, client):
    server.replies["get_balance"] = result({"balance": 10, "unlocked_balance": 11})
    err = raises(BadAnswer, client.get_balance)
    assert str(err) == "get_balance: unlocked balance 11 exceeds balance 10"


@pytest.mark.parametrize("bad", [HASH[:-1], HASH + "0", "g" * 64, "", None, 12, HASH[:-1] + " "])
def test_transfer_with_a_bad_hash_is_a_bad_answer(server, client, bad):
    reply = {"fee": 1, "amount": 5}
    if bad is not None:
        reply["tx_hash"] = bad
    server.replies["transfer"] = result(reply)
    err = raises(BadAnswer, client.transfer, [Destination("r", ADDRESS, 5)], priority=1)
    assert str(err).startswith("transfer: expected a 64-hex-digit 'tx_hash'")
    assert repr(bad) in str(err)


@pytest.mark.parametrize("answer,key", [
    ({"tx_hash": HASH, "fee": -1, "amount": 5}, "fee"),
    ({"tx_hash": HASH, "fee": 1, "amount": "5"}, "amount"),
    ({"tx_hash": HASH, "amount": 5}, "fee"),
])
def test_transfer_with_bad_numbers_is_a_bad_answer(server, client, answer, key):
    server.replies["transfer"] = result(answer)
    err = raises(BadAnswer, client.transfer, [Destination("r", ADDRESS, 5)], priority=1)
    assert str(err).startswith(f"transfer: expected a non-negative integer {key!r}")


@pytest.mark.parametrize("answer", [{}, {"address": ""}, {"address": 4}])
def test_get_address_without_an_address_is_a_bad_answer(server, client, answer):
    server.replies["get_address"] = result(answer)
    err = raises(BadAnswer, client.get_address)
    assert str(err).startswith("get_address: no address in answer")


def test_get_transfer_by_txid_without_transfer_names_the_txid(server, client):
    server.replies["get_transfer_by_txid"] = result({"transfers": []})
    err = raises(BadAnswer, client.get_transfer_by_txid, HASH)
    assert str(err) == f"get_transfer_by_txid: no transfer object for {HASH}"


# ---------------------------------------------------------------- transport failures


def test_timeout_is_wallet_unavailable(server):
    server.replies["get_balance"] = Reply({"result": {}}, hold=True)
    slow = WalletClient("127.0.0.1", server.port, timeout=0.2)
    try:
        started = time.monotonic()
        err = raises(WalletUnavailable, slow.get_balance)
        elapsed = time.monotonic() - started
    finally:
        slow.close()
    assert 0.15 <= elapsed < 2.0
    assert err.kind is ErrorKind.TRANSIENT
    assert str(err) == f"get_balance: timed out after 0.2s at 127.0.0.1:{server.port}"


def test_per_call_timeout_overrides_the_default(server, client):
    server.replies["slow"] = Reply({"result": {}}, hold=True)
    started = time.monotonic()
    err = raises(WalletUnavailable, client.call, "slow", timeout=0.2)
    assert time.monotonic() - started < 1.5  # the client's own timeout is 2 s
    assert "timed out after 0.2s" in str(err)


def test_connection_refused_is_wallet_unavailable():
    port = free_port()
    refused = WalletClient("127.0.0.1", port, timeout=0.5)
    try:
        err = raises(WalletUnavailable, refused.get_balance)
    finally:
        refused.close()
    assert err.kind is ErrorKind.TRANSIENT
    assert str(err) == f"get_balance: cannot reach 127.0.0.1:{port}: ConnectionError"


def test_nothing_but_wallet_errors_leave_the_client():
    # Failures of any sort reach the actions only as WalletError.
    port = free_port()
    c = WalletClient("127.0.0.1", port, timeout=0.2)
    try:
        for call in (c.get_balance, c.get_address, c.refresh,
                     lambda: c.transfer([Destination("r", ADDRESS, 1)], priority=1),
                     lambda: c.relay_tx("cafe"), lambda: c.get_transfer_by_txid(HASH)):
            with pytest.raises(WalletError):
                call()
    finally:
        c.close()


# ---------------------------------------------------------------- the pool


def test_pool_hands_out_one_client_per_endpoint(server):
    pool = WalletPool(timeout=0.7)
    try:
        a = pool("127.0.0.1", server.port)
        assert pool("127.0.0.1", str(server.port)) is a
        assert pool("127.0.0.1", server.port + 1) is not a
        assert a.timeout == 0.7
        assert a.url == f"http://127.0.0.1:{server.port}/json_rpc"
        assert repr(a) == f"WalletClient(127.0.0.1:{server.port})"
        server.replies["get_balance"] = result({"balance": 3, "unlocked_balance": 2})
        assert a.get_balance() == Balance(3, 2)
    finally:
        pool.close()
    assert pool("127.0.0.1", server.port) is not a  # closed clients are dropped
    pool.close()


# ---------------------------------------------------------------- key images, history, the daemon


def test_transfer_returns_the_key_images_it_spends(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 1, "amount": 2, "tx_metadata": "ab",
                                         "spent_key_images": {"key_images": ["C" * 64, "d" * 64]}})
    built = client.transfer([Destination("r", ADDRESS, 2)], priority=1, do_not_relay=True)
    assert built.key_images == ("c" * 64, "d" * 64)


def test_transfer_with_a_bad_key_image_is_a_bad_answer(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 1, "amount": 2,
                                         "spent_key_images": {"key_images": ["xyz"]}})
    assert "key_image" in str(raises(BadAnswer, client.transfer, [Destination("r", ADDRESS, 2)], priority=1))


def test_get_transfers_lists_confirmed_and_pending_outgoing_transfers(server, client):
    server.replies["get_transfers"] = result({
        "out": [{"txid": HASH, "fee": 5, "height": 90, "destinations": [{"address": ADDRESS, "amount": 7}]}],
        "pending": [{"txid": "b" * 64, "fee": 6, "height": 0, "destinations": [{"address": ADDRESS, "amount": 8},
                                                                               {"address": ADDRESS, "amount": 9}]}]})
    assert client.get_transfers() == [Outgoing(HASH, ((ADDRESS, 7),), 5, 90, "out"),
                                      Outgoing("b" * 64, ((ADDRESS, 8), (ADDRESS, 9)), 6, 0, "pending")]
    assert server.requests[-1]["params"] == {"out": True, "pending": True}


def test_get_transfers_of_an_empty_wallet_is_empty_and_garbage_is_a_bad_answer(server, client):
    server.replies["get_transfers"] = result({})
    assert client.get_transfers() == []
    server.replies["get_transfers"] = result({"out": [{"txid": HASH, "destinations": "x"}]})
    raises(BadAnswer, client.get_transfers)


@pytest.fixture
def daemon(server):
    d = DaemonClient("127.0.0.1", server.port, timeout=2.0)
    try:
        yield d
    finally:
        d.close()


def test_daemon_locates_transactions_in_the_pool_in_a_block_or_nowhere(server, daemon):
    server.replies["/get_transactions"] = Reply({"status": "OK", "missed_tx": ["c" * 64], "txs": [
        {"tx_hash": HASH, "in_pool": True},
        {"tx_hash": "b" * 64, "in_pool": False, "block_height": 141, "confirmations": 3}]})
    assert daemon.locate([HASH, "b" * 64, "c" * 64]) == {
        HASH: Location(Where.POOL), "b" * 64: Location(Where.CHAIN, 141, 3), "c" * 64: Location(Where.MISSING)}
    assert server.paths[-1] == "/get_transactions" and server.requests[-1] == {"txs_hashes": [HASH, "b" * 64,
                                                                                             "c" * 64]}


def test_daemon_key_images_and_height(server, daemon):
    server.replies["/is_key_image_spent"] = Reply({"status": "OK", "spent_status": [0, 1, 2]})
    assert daemon.key_images_spent(["a" * 64, "b" * 64, "c" * 64]) == [
        KeyImage.UNSPENT, KeyImage.SPENT_IN_CHAIN, KeyImage.SPENT_IN_POOL]
    server.replies["/get_height"] = Reply({"status": "OK", "height": 142})
    assert daemon.height() == 142


@pytest.mark.parametrize("path, body, call", [
    ("/is_key_image_spent", {"status": "OK", "spent_status": [0]}, lambda d: d.key_images_spent(["a", "b"])),
    ("/is_key_image_spent", {"status": "OK", "spent_status": [7]}, lambda d: d.key_images_spent(["a"])),
    ("/get_height", {"status": "OK", "height": -1}, lambda d: d.height()),
    ("/get_transactions", {"status": "BUSY"}, lambda d: d.locate([HASH])),
])
def test_daemon_answers_it_cannot_use_are_bad_answers(server, daemon, path, body, call):
    server.replies[path] = Reply(body)
    raises(BadAnswer, call, daemon)


def test_daemon_down_or_http_error_is_unavailable(server, daemon):
    server.replies["/get_height"] = Reply({}, status=500)
    raises(WalletUnavailable, daemon.height)
    down = DaemonClient("127.0.0.1", free_port(), timeout=1.0)
    assert "cannot reach daemon" in str(raises(WalletUnavailable, down.locate, [HASH]))


# -- scheduled payments (issue 12): the time lock and the height it counts from ------------------


def test_transfer_with_unlock_time_sends_it_and_without_sends_none(server, client):
    server.replies["transfer"] = result({"tx_hash": HASH, "fee": 1, "amount": 5, "tx_metadata": "beef"})
    client.transfer([Destination("r", ADDRESS, 5)], priority=1, do_not_relay=True, unlock_time=161)
    assert server.requests[-1]["params"]["unlock_time"] == 161
    client.transfer([Destination("r", ADDRESS, 5)], priority=1, do_not_relay=True)
    assert "unlock_time" not in server.requests[-1]["params"], "other payments' requests are unchanged"
    with pytest.raises(TypeError):
        client.transfer([Destination("r", ADDRESS, 5)], priority=1, unlock_time=1.5)


def test_get_height_is_checked(server, client):
    server.replies["get_height"] = result({"height": 141})
    assert client.height() == 141
    server.replies["get_height"] = result({"height": -1})
    assert "non-negative integer 'height'" in str(raises(BadAnswer, client.height))

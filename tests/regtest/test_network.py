"""The regtest launcher itself: shared dir as Monerosim writes it, funded
miners, wallet restarts, clean shutdown, clear errors."""

from __future__ import annotations

import json
import socket

import pytest

from fsm_distributor.tools.regtest import RegtestError, RegtestNetwork
from fsm_distributor.core.intent import Destination
from fsm_distributor.core.errors import ErrorKind, WalletUnavailable
from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.adapters.wallet import WalletClient

from .conftest import MINERS, USERS, binaries_missing

pytestmark = pytest.mark.regtest

needs_monero = pytest.mark.skipif(binaries_missing(), reason="apt-get update && apt-get install -y monero")
WALLET_KEYS = {"id", "ip_addr", "daemon", "wallet", "user_script", "attributes", "wallet_rpc_port", "daemon_rpc_port"}


def load(path):
    return json.loads(path.read_text())


def test_registry_lists_every_agent_with_monerosim_fields(network):
    agents = load(network.shared_dir / "agent_registry.json")["agents"]
    by_id = {a["id"]: a for a in agents}
    assert set(by_id) == {m for m, _ in MINERS} | {f"user{i:03d}" for i in range(1, USERS + 1)} | {"distributor"}
    for entry in agents:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in entry["attributes"].items()), entry
        if entry["id"] == "distributor":
            assert entry["wallet"] is False and entry["user_script"] == "fsm_distributor"
            assert "wallet_rpc_port" not in entry and "wallet_address" not in entry
            assert entry["attributes"]["miner_selection_strategy"] == "weighted"
            continue
        assert WALLET_KEYS <= set(entry), entry
        assert entry["wallet"] is True and entry["ip_addr"] == "127.0.0.1"
        assert entry["daemon_rpc_port"] == network.daemon_port
        # the session network's miners do not receive distributions (miners_receive=False)
        miner = entry["attributes"]["is_miner"] == "true"
        assert entry["attributes"]["can_receive_distributions"] == ("false" if miner else "true")
        # the port in the registry really is this agent's wallet
        assert WalletClient(entry["ip_addr"], entry["wallet_rpc_port"]).get_address() == network.address(entry["id"])
        if "wallet_address" in entry:
            assert entry["wallet_address"] == network.address(entry["id"])
    for mid, weight in MINERS:
        assert by_id[mid]["attributes"]["is_miner"] == "true"
        assert by_id[mid]["attributes"]["hashrate"] == str(weight)
    assert by_id["user001"]["attributes"]["is_miner"] == "false"


def test_miners_json_and_info_files(network):
    miners = load(network.shared_dir / "miners.json")["miners"]
    assert [(m["agent_id"], m["weight"]) for m in miners] == MINERS
    assert all(m["ip_addr"] == "127.0.0.1" and "wallet_address" not in m for m in miners)
    for node in network.nodes.values():
        kind = "miner" if node.role == "miner" else "user"
        path = network.shared_dir / f"{node.id}_{kind}_info.json"
        assert path.exists() == ("info" in node.publish), node.id
        if path.exists():
            info = load(path)
            assert info["agent_id"] == node.id and info["wallet_address"] == node.address
            assert info["agent_type"] == ("miner" if kind == "miner" else "regular_user")
            assert isinstance(info["timestamp"], float)


def test_some_agents_publish_no_address_anywhere(network):
    registry = {a["id"]: a for a in load(network.shared_dir / "agent_registry.json")["agents"]}
    hidden = [n for n in network.nodes.values()
              if "wallet_address" not in registry[n.id]
              and not list(network.shared_dir.glob(f"{n.id}_*_info.json"))]
    assert {n.role for n in hidden} == {"miner", "user"}
    for node in hidden:   # the agent can still learn the address from the wallet
        assert network.wallet(node.id).get_address() == node.address


def test_miners_hold_unlocked_coins_in_weight_ratio(network):
    unlocked = {mid: network.wallet(mid).get_balance().unlocked for mid, _ in MINERS}
    assert all(v > 0 for v in unlocked.values())
    share = unlocked["miner001"] / sum(unlocked.values())
    assert share == pytest.approx(0.6, abs=0.04)
    assert network.height() >= 80          # ring decoys exist: transfers can be built
    assert all(network.wallet(u.id).get_balance().total == 0 for u in network.users)


def test_miner_can_pay_an_unpublished_user_and_it_confirms(network):
    user = next(n for n in network.users if not n.publish)
    sent = network.wallet("miner002").transfer([Destination("r", user.address, 10**12)], priority=1)
    assert network.tx_heights([sent.tx_hash]) == {sent.tx_hash: 0}      # in the pool
    height = network.mine(1)
    assert network.tx_heights([sent.tx_hash, "00" * 32]) == {sent.tx_hash: height - 1, "00" * 32: None}
    network.refresh([user.id, "miner002"])
    assert network.wallet(user.id).get_balance().total == 10**12
    assert network.wallet("miner002").get_transfer_by_txid(sent.tx_hash)["type"] == "out"


def test_mine_follows_weights_or_target(network):
    network.refresh(["miner001", "miner002"])
    before = {m: network.wallet(m).get_balance().total for m, _ in MINERS}
    h0 = network.height()
    assert network.mine(10) == h0 + 10
    network.refresh(["miner001", "miner002"])
    gained = {m: network.wallet(m).get_balance().total - before[m] for m, _ in MINERS}
    # rewards barely change over 10 blocks: 6 blocks against 4
    assert gained["miner001"] / gained["miner002"] == pytest.approx(1.5, rel=0.01)
    user = network.users[-1].id
    network.mine(2, to_agent=user)
    network.refresh([user])
    assert network.wallet(user).get_balance().blocks_to_unlock > 0


def test_wallet_stop_and_start_keeps_port_and_wallet(network):
    node = network.nodes["user003"]
    old_pid, port = node.process.pid, node.port
    network.stop_wallet(node.id)
    assert old_pid not in network.alive_pids()
    with pytest.raises(WalletUnavailable):
        WalletClient("127.0.0.1", port, timeout=3).get_balance()
    network.start_wallet(node.id)
    assert node.process.pid != old_pid and node.port == port
    assert WalletClient("127.0.0.1", port).get_address() == node.address
    # brought back without a wallet open, it answers -13 until open_wallet
    network.stop_wallet(node.id)
    network.start_wallet(node.id, open_wallet=False)
    with pytest.raises(RpcError) as err:
        network.wallet(node.id).get_balance()
    assert err.value.code == -13 and err.value.kind is ErrorKind.WALLET_CLOSED
    network.wallet(node.id).call("open_wallet", {"filename": node.id, "password": ""})
    assert network.wallet(node.id).get_address() == node.address


def test_missing_binary_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    net = RegtestNetwork(tmp_path / "w", users=1)
    with pytest.raises(RegtestError, match=r"'monerod' not found.*apt-get update && apt-get install -y monero"):
        net.start()
    assert net.pids == []
    monkeypatch.undo()
    net = RegtestNetwork(tmp_path / "w2", users=1, wallet_rpc="monero-wallet-rpc-missing")
    with pytest.raises(RegtestError, match="monero-wallet-rpc-missing"):
        net.start()
    assert net.pids == []


@needs_monero
def test_busy_daemon_port_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        net = RegtestNetwork(tmp_path, miners=[("m1", 100)], users=0, daemon_port=port)
        with pytest.raises(RegtestError, match=rf"cannot bind 127\.0\.0\.1:{port}"):
            net.start()
    assert len(net.pids) == 1 and net.alive_pids() == []


@needs_monero
def test_locked_coins_sweep_and_teardown(tmp_path):
    with RegtestNetwork(tmp_path, miners=[("m1", 100)], users=1, unlock=False, coinbase_blocks=5) as net:
        user = net.users[0]
        assert len(net.pids) == 3 and len(net.alive_pids()) == 3
        b = net.wallet("m1").get_balance()
        assert b.total > 0 and b.unlocked == 0
        with pytest.raises(RpcError) as err:
            net.wallet("m1").transfer([Destination("r", user.address, 10**12)], priority=1)
        assert err.value.code == -37 and err.value.kind is ErrorKind.LOCKED
        net.mine(75, to_agent=user.id)          # coinbase unlocked, decoys available
        net.refresh(["m1"])
        assert net.wallet("m1").get_balance().unlocked == b.total
        assert net.sweep("m1")                   # to itself: change locked for 10 blocks
        net.mine(1, to_agent=user.id)
        net.refresh(["m1"])
        after = net.wallet("m1").get_balance()
        assert after.unlocked == 0 and b.total - 10**11 < after.total < b.total
        with pytest.raises(RpcError) as err:
            net.wallet("m1").transfer([Destination("r", user.address, 10**12)], priority=1)
        assert err.value.code == -37
        ports = [net.daemon_port, user.port]
    assert net.alive_pids() == []
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    net.stop()   # a second stop is harmless


@needs_monero
def test_ports_taken_meanwhile_are_retried_on_new_ports(tmp_path, monkeypatch):
    """A port found free can be taken before the server binds it (ephemeral range):
    both monerod and a wallet-rpc must then come up on another port."""
    import fsm_distributor.tools.regtest as regtest
    real_free_port = regtest.free_port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        handed = iter([taken, None, None, None, taken])   # daemon rpc, p2p; retry rpc, p2p; wallet

        def flaky_free_port(exclude=()):
            port = next(handed, None)
            return port if port is not None else real_free_port(exclude)
        monkeypatch.setattr(regtest, "free_port", flaky_free_port)
        with RegtestNetwork(tmp_path, miners=[("m1", 100)], users=0, unlock=False, coinbase_blocks=1) as net:
            assert taken not in (net.daemon_port, net.nodes["m1"].port)
            assert len(net.pids) == 4 and len(net.alive_pids()) == 2   # one failed start of each
            assert net.wallet("m1").get_address() == net.address("m1")
    assert net.alive_pids() == []

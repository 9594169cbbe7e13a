"""A local regtest Monero network with a shared dir laid out as Monerosim's.

One `monerod --regtest --offline` and one `monero-wallet-rpc` per miner/user
agent, all on 127.0.0.1 with ports the OS picked, so the distributor can be
run against real wallets without Shadow.  The shared dir deliberately mixes
agents whose address is published (registry entry and/or info file) with
agents that publish nothing, so the agent must also ask their wallets.

At scale (`shared_wallets`), users are stand-ins: each is a subaddress of one
of a few shared wallets, published in the registry as its wallet_address,
instead of a wallet-rpc of its own (about 3 CPU-seconds and 30 MB each).

Every process is started in its own session (Ctrl-C reaches only us) and
stopped by its PID: SIGTERM, wait, SIGKILL.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

import requests

from fsm_distributor.adapters.wallet import WalletClient
from fsm_distributor.core.ports import Balance
from fsm_distributor.tools.processes import stop_processes

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
INSTALL_HINT = "apt-get update && apt-get install -y monero"
COINBASE_UNLOCK_BLOCKS = 60   # a coinbase output unlocks 60 blocks after its block
MIN_SPENDABLE_HEIGHT = 80     # ring-16 decoys need ~76 blocks of unlocked outputs
READY_TIMEOUT = 120.0         # seconds for a server to answer after start
PORT_ATTEMPTS = 5             # fresh ports to try when a bind fails

UserSpec = Union[str, tuple[str, Mapping[str, str]]]
#: (id, weight) or (id, weight, registry attributes that replace the generated ones)
MinerSpec = Union[tuple[str, int], tuple[str, int, Mapping[str, str]]]
#: create_address makes at most this many subaddresses per call (wallet-rpc 0.18)
SUBADDRESSES_PER_CALL = 64


class RegtestError(RuntimeError):
    """The network could not be brought up (missing binary, port, crash)."""


@dataclass
class Node:
    """One miner or user: its wallet-rpc process and what it publishes."""

    id: str
    role: str                       # "miner", "user" or "shared" (a wallet that holds stand-ins)
    weight: int = 0                 # miners only: share of the hashrate
    attributes: dict = field(default_factory=dict)
    publish: frozenset = frozenset()  # subset of {"registry", "info"}
    port: int = 0
    fixed_port: bool = False        # after the first start the port is kept
    process: Optional[subprocess.Popen] = None
    address: str = ""
    script: Optional[str] = None    # registry user_script (default by role)
    #: a stand-in: the shared wallet that holds it, and its subaddress index there
    host: Optional[str] = None
    subaddress_index: int = 0


def default_weights(n: int) -> list[int]:
    """Integer weights summing to 100: 60/40 for two miners, else decreasing."""
    if n <= 0:
        return []
    if n == 2:
        return [60, 40]
    raw = [n - i for i in range(n)]
    return _apportion(100, raw)


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder)."""
    s = float(sum(weights))
    exact = [total * w / s for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def find_binary(name: str) -> str:
    """Absolute path of `name`, or a RegtestError that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise RegtestError(f"{name!r} not found on PATH; install it with: {INSTALL_HINT}")
    return path


def free_port(exclude: Iterable[int] = ()) -> int:
    """A port the OS says is free now (it may be taken again before we bind)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in exclude:
            return port
    raise RegtestError("could not find a free port on 127.0.0.1")


def port_owned_by(pid: int, port: int) -> bool:
    """True when process `pid` holds the listening socket on `port`.

    Guards against another program's server on a port we thought free
    answering our readiness probe.  Where /proc is unreadable we trust the probe.
    """
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as fh:
                for line in fh.read().splitlines()[1:]:
                    f = line.split()
                    if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f[9])
    except OSError:
        return True
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def write_json_locked(path: Path, data) -> None:
    """Write as Monerosim's writers do: flock `<name>.lock`, write `.tmp`, rename."""
    lock = path.with_suffix(".lock")
    tmp = path.with_suffix(".tmp")
    with open(lock, "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            os.replace(tmp, path)
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    # monerod colours its console output; drop the escape sequences
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(text.splitlines()[-lines:])


class RegtestNetwork:
    """A regtest monerod plus one wallet-rpc per agent; a context manager.

    miners: (id, weight) pairs; users: a count or ids (optionally (id, attrs)).
    `unlock=True` mines until the miners' coinbase is spendable; with False
    their coins stay locked (a "locked coins" scenario until `mine(60)`).
    `publish` maps an agent id to the subset of {"registry", "info"} where its
    address appears; by default every third agent publishes nothing.
    `shared_wallets` > 0 makes every user a stand-in: a subaddress of one of that
    many shared wallets (round robin), always published in the registry.
    `scripts` gives agents their registry user_script; `extra_registry_entries`
    are written as they are (agents the network does not run: relays, scripts).
    Users get is_miner false and can_receive_distributions true unless their
    spec says otherwise; with `user_defaults=False` their attributes are exactly
    the spec's (a scenario's, where Monerosim omits a false flag).
    """

    def __init__(self, workdir: Optional[Union[str, Path]] = None,
                 miners: Sequence[MinerSpec] = (("miner001", 60), ("miner002", 40)),
                 users: Union[int, Sequence[UserSpec]] = 8, *, unlock: bool = True,
                 coinbase_blocks: int = 100, miners_receive: bool = True,
                 distributor_id: str = "distributor",
                 distributor_attributes: Optional[Mapping[str, str]] = None,
                 publish: Optional[Mapping[str, Iterable[str]]] = None,
                 daemon_port: Optional[int] = None, keep_workdir: Optional[bool] = None,
                 shared_wallets: int = 0, user_defaults: bool = True, scripts: Optional[Mapping[str, str]] = None,
                 extra_registry_entries: Sequence[Mapping] = (),
                 monerod: str = "monerod", wallet_rpc: str = "monero-wallet-rpc"):
        # a workdir we made up is removed on stop unless asked to keep it
        self.keep_workdir = workdir is not None if keep_workdir is None else keep_workdir
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fsm-regtest-"))
        self.shared_dir = self.workdir / "shared"
        self.unlock = unlock
        self.coinbase_blocks = coinbase_blocks
        self.distributor_id = distributor_id
        self.distributor_attributes = dict(distributor_attributes or {})
        self.daemon_port = daemon_port or 0
        self._fixed_daemon_port = daemon_port is not None
        self._binaries = (monerod, wallet_rpc)
        self.extra_registry_entries = [dict(e) for e in extra_registry_entries]
        self.nodes: dict[str, Node] = {}
        for i, (mid, weight, *given) in enumerate(miners):
            attrs = dict(given[0]) if given else {
                "is_miner": "true", "hashrate": str(weight),
                "can_receive_distributions": "true" if miners_receive else "false"}
            # shifted by one so that with two miners one of them publishes nothing
            self._add(Node(mid, "miner", int(weight), attrs, _default_publish(i + 1)))
        user_specs = [f"user{i:03d}" for i in range(1, users + 1)] if isinstance(users, int) else users
        holders = [f"shared-wallet-{k + 1}" for k in range(shared_wallets)]
        for i, spec in enumerate(user_specs):
            uid, extra = (spec, {}) if isinstance(spec, str) else spec
            defaults = {"is_miner": "false", "can_receive_distributions": "true"} if user_defaults else {}
            attrs = {**defaults, **dict(extra)}
            host = holders[i % len(holders)] if holders else None
            self._add(Node(uid, "user", 0, attrs, frozenset({"registry"}) if host else _default_publish(i),
                           host=host))
        for holder in holders:
            self._add(Node(holder, "shared", 0, {}, frozenset()))
        for aid, where in (publish or {}).items():
            self.nodes[aid].publish = frozenset(where)
        for aid, script in (scripts or {}).items():
            self.nodes[aid].script = script
        self.daemon_process: Optional[subprocess.Popen] = None
        self.pids: list[int] = []          # every process ever started, for checks
        self._clients: dict[str, WalletClient] = {}
        self._daemon_client: Optional[WalletClient] = None
        self._rr_credit = {n.id: 0 for n in self.miners}
        self._started = False

    def _add(self, node: Node) -> None:
        if node.id in self.nodes or node.id == self.distributor_id:
            raise ValueError(f"duplicate agent id {node.id!r}")
        self.nodes[node.id] = node

    # -- views -------------------------------------------------------------------

    @property
    def miners(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "miner"]

    @property
    def users(self) -> list[Node]:
        """Every user, stand-ins included."""
        return [n for n in self.nodes.values() if n.role == "user"]

    @property
    def wallet_nodes(self) -> list[Node]:
        """The nodes that run a wallet-rpc of their own (not the stand-ins)."""
        return [n for n in self.nodes.values() if n.host is None]

    @property
    def stand_ins(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.host is not None]

    def wallet_of(self, agent_id: str) -> str:
        """The id of the wallet that holds `agent_id`'s address (its own, or its shared wallet)."""
        return self.nodes[agent_id].host or agent_id

    @property
    def daemon(self) -> WalletClient:
        if self._daemon_client is None:
            self._daemon_client = WalletClient(HOST, self.daemon_port, timeout=120)
        return self._daemon_client

    def wallet(self, agent_id: str) -> WalletClient:
        """The wallet-rpc of `agent_id`; for a stand-in, its shared wallet's (which holds others too)."""
        agent_id = self.wallet_of(agent_id)
        client = self._clients.get(agent_id)
        if client is None:
            node = self.nodes[agent_id]
            client = self._clients[agent_id] = WalletClient(HOST, node.port, timeout=60)
        return client

    def address(self, agent_id: str) -> str:
        return self.nodes[agent_id].address

    def height(self) -> int:
        """Number of blocks in the chain (monerod's `get_info` height)."""
        return int(self.daemon.call("get_info")["height"])

    # -- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> "RegtestNetwork":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "RegtestNetwork":
        """Start everything, fund the miners, write the shared dir."""
        monerod, wallet_rpc = (find_binary(b) for b in self._binaries)
        if self.workdir.exists() and any(self.workdir.iterdir()):
            # an old chain or wallets there would make monerod resume and create_wallet fail (-21)
            raise RegtestError(f"workdir {self.workdir} is not empty; give a new or empty directory")
        t0 = time.monotonic()
        for sub in ("logs", "daemon", "ringdb"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        self._started = True
        try:
            self._start_daemon(monerod)
            self._start_wallets(wallet_rpc, self.wallet_nodes)
            self._create_wallets()
            self._create_stand_ins()
            log.info("daemon and %d wallets up in %.1fs", len(self.wallet_nodes), time.monotonic() - t0)
            self._fund_miners()
            self.write_shared_files()
            self._write_network_file()
        except BaseException:
            self.stop()
            raise
        log.info("network ready at height %d in %.1fs", self.height(), time.monotonic() - t0)
        return self

    def stop(self) -> None:
        """Stop wallets, then the daemon, by PID.  Safe to call twice."""
        if not self._started:
            return
        self._started = False
        atexit.unregister(self.stop)
        for client in list(self._clients.values()) + [self._daemon_client]:
            if client is not None:
                client.close()
        self._clients.clear()
        self._daemon_client = None
        stop_processes([n.process for n in self.nodes.values() if n.process is not None])
        if self.daemon_process is not None:
            stop_processes([self.daemon_process], timeout=30)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def alive_pids(self) -> list[int]:
        """PIDs this network started that still exist."""
        alive = []
        for pid in self.pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            alive.append(pid)
        return alive

    # -- processes ----------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        out = open(self.workdir / "logs" / f"{name}.out", "ab")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()
        self.pids.append(proc.pid)
        return proc

    def _await_ready(self, items: list[tuple[str, subprocess.Popen, int]]) -> dict[str, str]:
        """Wait until each process answers on its port; return {name: failure}."""
        pending = {name: (proc, port) for name, proc, port in items}
        failures: dict[str, str] = {}
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            for name, (proc, port) in list(pending.items()):
                if proc.poll() is not None:
                    failures[name] = _tail(self.workdir / "logs" / f"{name}.out")
                    del pending[name]
                elif port_owned_by(proc.pid, port) and _answers(port):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                for name, (proc, port) in pending.items():
                    stop_processes([proc])
                    failures[name] = f"no answer on port {port} after {READY_TIMEOUT:.0f}s"
                break
            if pending:
                time.sleep(0.1)
        return failures

    def _start_daemon(self, binary: str) -> None:
        data = self.workdir / "daemon"
        for attempt in range(1 if self._fixed_daemon_port else PORT_ATTEMPTS):
            if not self._fixed_daemon_port:
                self.daemon_port = free_port(self._ports_in_use())
            p2p = free_port(self._ports_in_use() | {self.daemon_port})
            args = [binary, "--regtest", "--offline", "--fixed-difficulty", "1",
                    "--data-dir", str(data), "--log-file", str(self.workdir / "logs" / "monerod.log"),
                    "--rpc-bind-ip", HOST, "--rpc-bind-port", str(self.daemon_port),
                    "--p2p-bind-ip", HOST, "--p2p-bind-port", str(p2p),
                    "--rpc-ssl", "disabled", "--no-igd", "--no-zmq", "--non-interactive",
                    "--disable-rpc-ban", "--check-updates", "disabled", "--disable-dns-checkpoints",
                    # every wallet and the agent connect from 127.0.0.1; the default is 25
                    "--rpc-max-connections-per-private-ip", "1000", "--rpc-max-connections", "2000"]
            proc = self._spawn("monerod", args)
            failure = self._await_ready([("monerod", proc, self.daemon_port)]).get("monerod")
            if failure is None:
                self.daemon_process = proc
                self._daemon_client = None
                return
            if "bind" not in failure.lower():
                raise RegtestError(f"monerod exited (status {proc.returncode}):\n{failure}")
            log.info("monerod could not bind port %d or %d (attempt %d)", self.daemon_port, p2p, attempt + 1)
        raise RegtestError(f"cannot bind 127.0.0.1:{self.daemon_port} (or p2p {p2p}) for monerod:\n{failure}")

    def _wallet_args(self, binary: str, node: Node) -> list[str]:
        wallet_dir = self.shared_dir / f"{node.id}_wallet"
        wallet_dir.mkdir(parents=True, exist_ok=True)
        return [binary, "--daemon-address", f"{HOST}:{self.daemon_port}", "--trusted-daemon",
                "--rpc-bind-ip", HOST, "--rpc-bind-port", str(node.port), "--disable-rpc-login",
                "--wallet-dir", str(wallet_dir), "--rpc-ssl", "disabled", "--daemon-ssl", "disabled",
                "--non-interactive", "--no-dns", "--disable-rpc-ban",
                # the default ringdb is shared by every regtest chain on this host
                "--shared-ringdb-dir", str(self.workdir / "ringdb"),
                "--log-file", str(self.workdir / "logs" / f"{node.id}-wallet-rpc.log")]

    def _start_wallets(self, binary: str, nodes: list[Node]) -> None:
        """Launch all wallet-rpcs at once (their start-up is CPU-bound), retry binds."""
        todo = nodes
        for attempt in range(PORT_ATTEMPTS):
            for node in todo:
                if not node.fixed_port:
                    node.port = free_port(self._ports_in_use(exclude=node.id))
                node.process = self._spawn(f"{node.id}-wallet-rpc", self._wallet_args(binary, node))
            failures = self._await_ready([(f"{n.id}-wallet-rpc", n.process, n.port) for n in todo
                                          if n.process is not None])
            retry = []
            for node in todo:
                failure = failures.get(f"{node.id}-wallet-rpc")
                if failure is None:
                    node.fixed_port = True
                    continue
                if "bind" not in failure.lower():
                    raise RegtestError(f"monero-wallet-rpc for {node.id} failed:\n{failure}")
                if node.fixed_port:
                    raise RegtestError(f"cannot bind 127.0.0.1:{node.port} for {node.id}'s wallet-rpc:\n{failure}")
                retry.append(node)
            if not retry:
                return
            log.info("retrying %d wallet-rpc(s) on new ports", len(retry))
            todo = retry
        raise RegtestError(f"wallet-rpc for {[n.id for n in todo]} could not bind a port after {PORT_ATTEMPTS} tries")

    def _ports_in_use(self, exclude: str = "") -> set[int]:
        ports = {n.port for n in self.nodes.values() if n.port and n.id != exclude}
        return ports | ({self.daemon_port} if self.daemon_port else set())

    def _create_wallets(self) -> None:
        def create(node: Node) -> str:
            client = WalletClient(HOST, node.port, timeout=180)
            try:
                client.call("create_wallet", {"filename": node.id, "password": "", "language": "English"})
                return client.get_address()
            finally:
                client.close()
        # creation costs 1-3 s of CPU each; a few in flight keep both cores busy
        nodes = self.wallet_nodes
        with ThreadPoolExecutor(max_workers=4) as pool:
            for node, address in zip(nodes, pool.map(create, nodes)):
                node.address = address

    def _create_stand_ins(self) -> None:
        """One subaddress of its shared wallet per stand-in (account 0, in order)."""
        for holder in [n for n in self.nodes.values() if n.role == "shared"]:
            hosted = [n for n in self.stand_ins if n.host == holder.id]
            for start in range(0, len(hosted), SUBADDRESSES_PER_CALL):
                chunk = hosted[start:start + SUBADDRESSES_PER_CALL]
                answer = self.wallet(holder.id).call("create_address", {"account_index": 0, "count": len(chunk)},
                                                     timeout=120)
                for node, address, index in zip(chunk, answer["addresses"], answer["address_indices"]):
                    node.address, node.subaddress_index = address, int(index)

    # -- wallets: faults ----------------------------------------------------------

    def stop_wallet(self, agent_id: str) -> None:
        """Stop one wallet-rpc by its PID (a crash seen from the agent)."""
        node = self.nodes[agent_id]
        if node.process is not None:
            stop_processes([node.process])
        client = self._clients.pop(agent_id, None)
        if client is not None:
            client.close()

    def start_wallet(self, agent_id: str, open_wallet: bool = True) -> None:
        """Bring a stopped wallet-rpc back on the same port; `open_wallet=False`
        leaves it without a wallet (calls then fail with -13)."""
        node = self.nodes[agent_id]
        if node.host is not None:
            raise RegtestError(f"{agent_id} is a subaddress of {node.host}, it has no wallet-rpc of its own")
        if node.process is not None and node.process.poll() is None:
            raise RegtestError(f"{agent_id}'s wallet-rpc is still running (pid {node.process.pid})")
        self._start_wallets(find_binary(self._binaries[1]), [node])
        if open_wallet:
            self.wallet(agent_id).call("open_wallet", {"filename": node.id, "password": ""}, timeout=120)

    # -- chain --------------------------------------------------------------------

    def mine(self, n: int, to_agent: Optional[str] = None) -> int:
        """Mine `n` blocks to `to_agent`, or spread over the miners by weight
        (smooth weighted round robin, so short runs follow the weights too)."""
        order = [to_agent] * n if to_agent else [self._next_miner() for _ in range(n)]
        i = 0
        while i < len(order):
            j = i
            while j < len(order) and order[j] == order[i] and j - i < 50:
                j += 1
            # monerod cannot mine to a subaddress: a stand-in's blocks go to its shared wallet
            self.daemon.call("generateblocks", {"amount_of_blocks": j - i,
                                                "wallet_address": self.nodes[self.wallet_of(order[i])].address},
                             timeout=30 + 1.0 * (j - i))
            i = j
        return self.height()

    def _next_miner(self) -> str:
        total = sum(n.weight for n in self.miners)
        for node in self.miners:
            self._rr_credit[node.id] += node.weight
        best = max(self.miners, key=lambda n: self._rr_credit[n.id])
        self._rr_credit[best.id] -= total
        return best.id

    def _fund_miners(self) -> None:
        if not self.miners:
            raise RegtestError("a network needs at least one miner")
        self.mine(self.coinbase_blocks)
        if self.unlock:
            self.mine(COINBASE_UNLOCK_BLOCKS)
            if self.height() < MIN_SPENDABLE_HEIGHT:
                self.mine(MIN_SPENDABLE_HEIGHT - self.height())
        self.refresh()
        if self.unlock:
            for node in self.miners:
                if node.weight and self.wallet(node.id).get_balance().unlocked == 0:
                    raise RegtestError(f"{node.id} has no unlocked coins at height {self.height()}")

    def refresh(self, agent_ids: Optional[Iterable[str]] = None) -> None:
        """Make wallets scan new blocks now (their own refresh runs every ~20 s); a shared wallet once."""
        ids = agent_ids if agent_ids is not None else self.nodes
        for aid in dict.fromkeys(self.wallet_of(a) for a in ids):
            self.wallet(aid).refresh()

    def balances(self) -> dict[str, Balance]:
        """Per wallet-rpc (a shared wallet's balance is all its stand-ins' together)."""
        return {n.id: self.wallet(n.id).get_balance() for n in self.wallet_nodes}

    def sweep(self, agent_id: str, to_agent: Optional[str] = None) -> list[str]:
        """Spend all of `agent_id`'s unlocked outputs (to itself by default).

        To itself, the coins come back as change that is locked for 10 blocks:
        the wallet then holds a balance but no unlocked balance (-37 on send)."""
        target = self.nodes[to_agent or agent_id].address
        result = self.wallet(agent_id).call("sweep_all", {"address": target, "account_index": 0,
                                                           "priority": 1, "ring_size": 16},
                                            timeout=120)
        return list(result.get("tx_hash_list", []))

    def tx_heights(self, hashes: Sequence[str]) -> dict[str, Optional[int]]:
        """Block height of each tx from the daemon: 0 while in the pool, None if unknown."""
        if not hashes:
            return {}
        answer = requests.post(f"http://{HOST}:{self.daemon_port}/get_transactions",
                               json={"txs_hashes": list(hashes)}, timeout=30).json()
        found: dict[str, Optional[int]] = {h: None for h in hashes}
        for tx in answer.get("txs", []) or []:
            found[tx["tx_hash"]] = 0 if tx.get("in_pool") else int(tx.get("block_height", 0))
        return found

    # -- shared dir ---------------------------------------------------------------

    def registry_entries(self) -> list[dict]:
        entries = []
        for node in self.nodes.values():
            if node.role == "shared":
                continue  # not an agent of the scenario
            script = node.script or ("agents.autonomous_miner" if node.role == "miner" else "agents.regular_user")
            entry = {"id": node.id, "ip_addr": HOST, "daemon": node.host is None, "wallet": True,
                     "user_script": script, "attributes": dict(node.attributes)}
            if node.host is None:  # a stand-in has neither a wallet-rpc nor a daemon to reach
                entry.update(wallet_rpc_port=node.port, daemon_rpc_port=self.daemon_port)
            if "registry" in node.publish:
                entry["wallet_address"] = node.address
            entries.append(entry)
        entries.append({"id": self.distributor_id, "ip_addr": HOST, "daemon": False, "wallet": False,
                        "user_script": "fsm_distributor",
                        "attributes": {k: str(v) for k, v in sorted(self.distributor_attributes.items())}})
        return entries + [dict(e) for e in self.extra_registry_entries]

    def write_shared_files(self) -> None:
        """agent_registry.json, miners.json and the published info files."""
        d = self.shared_dir
        write_json_locked(d / "agent_registry.json", {"agents": self.registry_entries()})
        write_json_locked(d / "miners.json", {"miners": [
            {"agent_id": n.id, "ip_addr": HOST, "weight": n.weight} for n in self.miners]})
        now = time.time()
        for node in self.nodes.values():
            if "info" not in node.publish:
                continue
            if node.role == "miner":
                write_json_locked(d / f"{node.id}_miner_info.json", {
                    "agent_id": node.id, "wallet_address": node.address, "hash_rate": node.weight,
                    "timestamp": now, "agent_type": "miner"})
            else:
                write_json_locked(d / f"{node.id}_user_info.json", {
                    "agent_id": node.id, "wallet_address": node.address,
                    "timestamp": now, "agent_type": "regular_user"})

    def _write_network_file(self) -> None:
        """workdir/network.json: ports and PIDs, for people and for clean-up by hand."""
        info = {"shared_dir": str(self.shared_dir), "daemon_rpc_port": self.daemon_port,
                "daemon_pid": self.daemon_process.pid if self.daemon_process else None,
                "wallets": {n.id: {"port": n.port, "pid": n.process.pid if n.process else None,
                                   "role": n.role, "address": n.address} for n in self.wallet_nodes},
                "stand_ins": {n.id: {"wallet": n.host, "subaddress_index": n.subaddress_index,
                                     "address": n.address} for n in self.stand_ins}}
        (self.workdir / "network.json").write_text(json.dumps(info, indent=2) + "\n")


def _default_publish(index: int) -> frozenset:
    """Agent 0 publishes everywhere, 1 only in an info file, 2 nowhere, and so on."""
    return (frozenset({"registry", "info"}), frozenset({"info"}), frozenset())[index % 3]


def _answers(port: int) -> bool:
    try:
        r = requests.post(f"http://{HOST}:{port}/json_rpc",
                          json={"jsonrpc": "2.0", "id": "0", "method": "get_version"}, timeout=2)
        return r.status_code == 200
    except requests.RequestException:
        return False


# -- CLI ----------------------------------------------------------------------------

def build_parser(prog: str = "fsm-distributor regtest") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run a local regtest network laid out like Monerosim's.")
    add_network_arguments(p)
    p.add_argument("--block-interval", type=float, default=0.0,
                   help="mine one block every N seconds while waiting (0: never)")
    return p


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--miners", type=int, default=2, help="number of miners (default 2)")
    p.add_argument("--users", type=int, default=8, help="number of users (default 8)")
    p.add_argument("--weights", help="comma-separated miner weights (default 60,40 for 2 miners)")
    p.add_argument("--workdir", help="directory for chain, wallets, logs and shared dir (kept)")
    p.add_argument("--coinbase-blocks", type=int, default=100,
                   help="blocks mined to the miners before the unlock window (default 100)")


def network_kwargs(args: argparse.Namespace) -> dict:
    """miners, users and coinbase_blocks for RegtestNetwork from --miners/--users/--weights/--coinbase-blocks."""
    if args.miners < 1 or args.users < 0:
        raise SystemExit("need --miners >= 1 and --users >= 0")
    weights = [int(w) for w in args.weights.split(",")] if args.weights else default_weights(args.miners)
    if len(weights) != args.miners:
        raise SystemExit(f"--weights has {len(weights)} values for {args.miners} miners")
    miners = [(f"miner{i + 1:03d}", w) for i, w in enumerate(weights)]
    return dict(miners=miners, users=args.users, coinbase_blocks=args.coinbase_blocks)


def network_from_args(args: argparse.Namespace, **kwargs) -> RegtestNetwork:
    return RegtestNetwork(args.workdir, **network_kwargs(args), **kwargs)


def _pid(process: Optional[subprocess.Popen]) -> str:
    return str(process.pid) if process is not None else "-"


def describe(net: RegtestNetwork) -> str:
    width = max([12] + [len(n.id) for n in net.wallet_nodes])
    lines = [f"shared dir : {net.shared_dir}", f"workdir    : {net.workdir}",
             f"monerod    : {HOST}:{net.daemon_port} (pid {_pid(net.daemon_process)}), height {net.height()}",
             f"{'agent':<{width}} {'role':<6} {'weight':>6} {'wallet port':>11} {'pid':>8}  published"]
    for n in net.wallet_nodes:
        held = sum(1 for s in net.stand_ins if s.host == n.id)
        lines.append(f"{n.id:<{width}} {n.role:<6} {n.weight or '':>6} {n.port:>11} {_pid(n.process):>8}  "
                     + (f"holds {held} stand-ins" if n.role == "shared" else ",".join(sorted(n.publish)) or "-"))
    if net.stand_ins:
        first, last = net.stand_ins[0], net.stand_ins[-1]
        lines.append(f"{len(net.stand_ins)} users ({first.id} .. {last.id}) are stand-ins: subaddresses of the "
                     f"shared wallets, in the registry as their wallet_address, without a wallet-rpc of their own")
    return "\n".join(lines)


class Interrupted(Exception):
    """SIGTERM, turned into an exception so clean-up code runs."""


def raise_on_sigterm() -> None:
    def handler(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from fsm_distributor.tools.agent_run import DEFAULT_ATTRIBUTES, agent_command
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise_on_sigterm()
    try:
        net = network_from_args(args, distributor_attributes=DEFAULT_ATTRIBUTES)
        t0 = time.monotonic()
        with net:
            print(describe(net))
            print("run the agent on it, as Monerosim would:\n  "
                  f"MONEROSIM_SHARED_DIR={net.shared_dir} SIMULATION_SEED=12345 PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 "
                  + " ".join(agent_command("distributor", net.shared_dir, DEFAULT_ATTRIBUTES)))
            if args.block_interval <= 0:
                print("no blocks are mined meanwhile (use --block-interval N to mine one every N s)")
            print(f"up in {time.monotonic() - t0:.1f}s; Ctrl-C stops everything", flush=True)
            while True:
                if args.block_interval > 0:
                    time.sleep(args.block_interval)
                    print(f"mined a block, height {net.mine(1)}", flush=True)
                else:
                    time.sleep(3600)
    except RegtestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        print("stopped", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""In-process fakes for step-wise tests and fault injection.

They stand in for wallet-rpc, the registries, the ledger and the clock so a
test drives the real machine one trigger at a time.  The same behaviours are
tested against the real wallet in tests/regtest/.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import structlog

from fsm_distributor.address import encode_address
from fsm_distributor.config import Config, load_config
from fsm_distributor.context import Deps
from fsm_distributor.journal import Intent
from fsm_distributor.machine import Distributor
from fsm_distributor.registry import build_snapshot
from fsm_distributor.rpc_errors import RpcError, WalletError, WalletUnavailable
from fsm_distributor.shared_state import SharedIOError
from fsm_distributor.wallet import Balance, Transfer

XMR = 10**12
T0 = 946684800.0  # Shadow's simulated epoch


def make_address(label: str) -> str:
    """A valid mainnet address derived from `label` (keys are hashes, not curve points)."""
    spend = hashlib.sha256(f"spend:{label}".encode()).digest()
    view = hashlib.sha256(f"view:{label}".encode()).digest()
    return encode_address("mainnet", "standard", spend, view)


def rpc_error(code: int, message: str = "", method: str = "transfer") -> RpcError:
    return RpcError(method, code, message)


class FakeClock:
    """Time moves only when someone sleeps, like Shadow's simulated clock."""

    def __init__(self, start: float = T0):
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def jumped(self) -> float:
        return 0.0  # one clock, as under Shadow: it never steps


@dataclass
class SentTx:
    tx_hash: str
    destinations: list
    priority: int


class FakeWallet:
    """A scriptable wallet: `script[method]` is a queue of exceptions (None = answer normally)."""

    def __init__(self, address: str, unlocked: int = 100 * XMR, total: Optional[int] = None, fee: int = 2_605_200_000):
        self.address = address
        self.unlocked = unlocked
        self.total = unlocked if total is None else total
        self.fee = fee
        self.down = False
        self.script: dict[str, list[Optional[Exception]]] = {}
        self.calls: list[str] = []
        self.sent: list[SentTx] = []
        self.builds: dict[str, tuple[str, list, int]] = {}  # metadata -> (tx_hash, destinations, priority)
        self.tx_types: dict[str, dict] = {}  # tx_hash -> get_transfer_by_txid answer

    def fail_next(self, method: str, *errors: Exception) -> None:
        self.script.setdefault(method, []).extend(errors)

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.down:
            raise WalletUnavailable(method, "cannot reach wallet: ConnectionError")
        queue = self.script.get(method)
        if queue:
            error = queue.pop(0)
            if error is not None:
                raise error

    def get_balance(self) -> Balance:
        self._enter("get_balance")
        return Balance(self.total, self.unlocked)

    def get_address(self) -> str:
        self._enter("get_address")
        return self.address

    def refresh(self) -> None:
        self._enter("refresh")

    def _check_funds(self, amount: int, code_if_short: Optional[int] = None) -> None:
        if amount + self.fee > self.total:
            raise rpc_error(code_if_short or -17, "not enough money")
        if amount + self.fee > self.unlocked:
            raise rpc_error(code_if_short or -37, "not enough unlocked money")

    def transfer(self, destinations, *, priority: int, do_not_relay: bool = False) -> Transfer:
        self._enter("transfer")
        amount = sum(a for _, a in destinations)
        self._check_funds(amount)
        n = len(self.builds) + len(self.sent)
        tx_hash = hashlib.sha256(f"{self.address}:{n}:{destinations}".encode()).hexdigest()
        metadata = f"meta-{tx_hash}"
        self.builds[metadata] = (tx_hash, list(destinations), priority)
        if not do_not_relay:
            self.relay_tx(metadata)
        return Transfer(tx_hash=tx_hash, fee=self.fee, amount=amount, tx_metadata=metadata if do_not_relay else "")

    def relay_tx(self, tx_metadata: str) -> str:
        """Like wallet-rpc: relaying the same metadata again returns the same hash, pays once."""
        self._enter("relay_tx")
        if tx_metadata not in self.builds:
            raise rpc_error(-27, "Failed to parse tx metadata.", "relay_tx")
        tx_hash, destinations, priority = self.builds[tx_metadata]
        if any(tx.tx_hash == tx_hash for tx in self.sent):
            return tx_hash
        amount = sum(a for _, a in destinations)
        self._check_funds(amount, code_if_short=-4)  # inputs spent meanwhile: "Failed to commit tx."
        self.unlocked -= amount + self.fee
        self.total -= amount + self.fee
        self.sent.append(SentTx(tx_hash, destinations, priority))
        self.tx_types[tx_hash] = {"type": "pending", "height": 0}
        return tx_hash

    def get_transfer_by_txid(self, txid: str) -> dict:
        self._enter("get_transfer_by_txid")
        if txid not in self.tx_types:
            raise rpc_error(-8, "Transaction not found.", "get_transfer_by_txid")
        return dict(self.tx_types[txid], txid=txid)

    def confirm_all(self, height: int = 100, confirmations: int = 1) -> None:
        for answer in self.tx_types.values():
            if answer["type"] == "pending":
                answer.update(type="out", height=height, confirmations=confirmations)


class FakeDaemon:
    """A miner's monerod, as far as verification asks it: where is each transaction?"""

    def __init__(self):
        self.where: dict[str, str] = {}  # tx_hash -> pool | chain | missing (default pool)
        self.calls = 0

    def transaction_status(self, tx_hashes):
        self.calls += 1
        return {h: self.where.get(h, "pool") for h in tx_hashes}


class FakeWallets:
    """The wallet factory: endpoint -> FakeWallet; unknown endpoints are unreachable."""

    def __init__(self):
        self.by_endpoint: dict[tuple[str, int], FakeWallet] = {}

    def add(self, port: int, wallet: FakeWallet, host: str = "127.0.0.1") -> FakeWallet:
        self.by_endpoint[(host, port)] = wallet
        return wallet

    def __call__(self, host: str, port: int):
        wallet = self.by_endpoint.get((host, int(port)))
        if wallet is None:
            return _Unreachable(host, port)
        return wallet

    def all_sent(self) -> list[tuple[FakeWallet, SentTx]]:
        """(sending wallet, transaction) for every transaction any wallet sent."""
        return [(w, tx) for w in self.by_endpoint.values() if isinstance(w, FakeWallet) for tx in w.sent]


class _Unreachable:
    def __init__(self, host: str, port: int):
        self.where = f"{host}:{port}"

    def __getattr__(self, method: str):
        def fail(*_a: Any, **_k: Any):
            raise WalletUnavailable(method, f"cannot reach {self.where}: ConnectionError")
        return fail


class FakeRegistry:
    """Registry data as dicts; `error` makes the next reads fail like a missing file."""

    def __init__(self, agents: list[dict], miners: list[dict], info: Optional[dict[str, str]] = None):
        self.agents = agents
        self.miners = miners
        self.info = info or {}
        self.error: Optional[Exception] = None
        self.reads = 0

    def read(self):
        self.reads += 1
        if self.error is not None:
            raise self.error
        return build_snapshot({"agents": self.agents}, {"miners": self.miners}), self.reads == 1

    def info_address(self, agent_id: str) -> Optional[str]:
        return self.info.get(agent_id)


class FakeLedger:
    """transactions.json in memory, with the real ledger's de-duplication."""

    def __init__(self):
        self.records: list[dict] = []
        self.fail = 0  # fail this many writes

    def _maybe_fail(self) -> None:
        if self.fail:
            self.fail -= 1
            raise SharedIOError(Path("transactions.json"), "disk full")

    def append(self, records: list[dict]) -> Optional[str]:
        self._maybe_fail()
        have = {(r["tx_hash"], r["recipient_id"]) for r in self.records}
        self.records.extend(dict(r) for r in records if (r["tx_hash"], r["recipient_id"]) not in have)
        return None

    def update(self, changes: dict[str, dict]) -> None:
        self._maybe_fail()
        for record in self.records:
            record.update(changes.get(record["tx_hash"], {}))


class FakeStatus:
    def __init__(self):
        self.files: dict[str, dict] = {}

    def write(self, name: str, document: dict) -> None:
        self.files[name] = document


class FakeJournal:
    """The journal in memory; `fail` makes the next writes fail like a full disk."""

    def __init__(self):
        self.intents: dict[str, Intent] = {}
        self.fail = 0
        self.writes: list[tuple[str, str]] = []  # (tx_hash, status)

    def load(self):
        return dict(self.intents), []

    def put(self, intent: Intent) -> None:
        if self.fail:
            self.fail -= 1
            raise SharedIOError(Path("x_distributor_journal.json"), "disk full")
        self.intents[intent.tx_hash] = intent
        self.writes.append((intent.tx_hash, intent.status))

    def advance(self, intent: Intent, status: str, **changes) -> Intent:
        if status != "built":
            changes.setdefault("tx_metadata", "")
        updated = replace(intent, status=status, **changes)
        self.put(updated)
        return updated


@dataclass
class World:
    """A small network: miners m1 (weight 60) and m2 (40), users u1..uN, and the distributor."""

    config: Config
    wallets: FakeWallets
    registry: FakeRegistry
    ledger: FakeLedger
    journal: FakeJournal
    clock: FakeClock
    distributor: Distributor
    miners: dict[str, FakeWallet] = field(default_factory=dict)
    users: dict[str, FakeWallet] = field(default_factory=dict)
    daemons: dict[str, "FakeDaemon"] = field(default_factory=dict)

    @property
    def ctx(self):
        return self.distributor.ctx

    def status_files(self) -> dict:
        return self.distributor.deps.status.files

    def restart(self) -> None:
        """A new process over the same wallets, journal and files: only memory is lost."""
        self.distributor = Distributor(self.distributor.deps)

    def step(self):
        return self.distributor.step()

    def cycle(self, limit: int = 80) -> list:
        """Steps through one whole send cycle: up to a `wake`, then back to Idle."""
        out = []
        for _ in range(limit):
            out.append(self.step())
            if out[-1].dest.value == "Idle" and any(r.trigger == "wake" for r in out):
                return out
            if out[-1].trigger == "keep_waiting":
                self.clock.sleep(out[-1].delay)
        raise AssertionError(f"no whole cycle in {limit} steps: {[r.trigger for r in out]}")

    def steps_until(self, state: str, limit: int = 50) -> list:
        out = []
        for _ in range(limit):
            out.append(self.step())
            if out[-1].dest.value == state:
                return out
        raise AssertionError(f"{state} not reached in {limit} steps: {[r.trigger for r in out]}")


def make_world(attributes: Optional[dict[str, str]] = None, *, users: int = 3, seed: int = 7,
               weights: tuple = (60, 40), unlocked: int = 100 * XMR, user_addresses: str = "registry",
               agent_id: str = "distributor", journal: Optional[FakeJournal] = None,
               recovered: bool = True) -> World:
    """Build the fakes and a real Distributor over them.

    `user_addresses`: "registry" puts each user's address in its registry
    entry; "wallet" leaves it out so the agent must ask the user's wallet.
    `recovered`: take the start-up step (Recovering -> Idle) already.
    """
    attrs = {"transaction_frequency": "60", "balance_check_interval": "30", "initial_funding": "false"}
    attrs.update(attributes or {})
    config = load_config(attrs)
    wallets = FakeWallets()
    agents: list[dict] = [{"id": agent_id, "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 29000,
                           "wallet_address": make_address(agent_id), "attributes": {}}]
    miners_json: list[dict] = []
    world_miners: dict[str, FakeWallet] = {}
    daemons: dict[str, FakeDaemon] = {}
    world_users: dict[str, FakeWallet] = {}
    for i, weight in enumerate(weights, start=1):
        mid = f"m{i}"
        address = make_address(mid)
        world_miners[mid] = wallets.add(28000 + i, FakeWallet(address, unlocked))
        daemons[mid] = wallets.add(18000 + i, FakeDaemon())
        agents.append({"id": mid, "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28000 + i,
                       "daemon_rpc_port": 18000 + i, "attributes": {"is_miner": "true"}})
        miners_json.append({"agent_id": mid, "ip_addr": "127.0.0.1", "weight": weight})
    for i in range(1, users + 1):
        uid = f"u{i}"
        address = make_address(uid)
        world_users[uid] = wallets.add(28100 + i, FakeWallet(address, 0))
        entry = {"id": uid, "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28100 + i,
                 "attributes": {"can_receive_distributions": "true"}}
        if user_addresses == "registry":
            entry["wallet_address"] = address
        agents.append(entry)
    registry = FakeRegistry(agents, miners_json)
    ledger = FakeLedger()
    journal = journal or FakeJournal()
    clock = FakeClock()
    deps = Deps(config=config, agent_id=agent_id, registry=registry, wallets=wallets, ledger=ledger,
                journal=journal, status=FakeStatus(), clock=clock, rng=np.random.default_rng(seed),
                log=structlog.get_logger().bind(agent_id=agent_id))
    world = World(config, wallets, registry, ledger, journal, clock, Distributor(deps), world_miners, world_users,
                  daemons)
    if recovered:  # start-up recovery over an empty journal: Recovering -> Idle
        assert world.step().trigger == "recovered"
    return world


def transfer_error(kind: str) -> WalletError:
    """Representative errors by what the agent should do about them."""
    return {
        "transient": WalletUnavailable("transfer", "timed out"),
        "daemon": rpc_error(-38, "no connection to daemon"),
        "locked": rpc_error(-37, "not enough unlocked money"),
        "broke": rpc_error(-17, "not enough money"),
        "bad_address": rpc_error(-2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS"),
        "too_large": rpc_error(-18, "transaction too large"),
    }[kind]

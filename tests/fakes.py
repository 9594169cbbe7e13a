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

from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.adapters.shared_state import SharedIOError
from fsm_distributor.core.address import encode_address
from fsm_distributor.core.config import Config, load_config
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import TxUnknown, WalletError, WalletUnavailable
from fsm_distributor.core.intent import Intent, Loaded
from fsm_distributor.core.names import Status, check_move
from fsm_distributor.core.ports import (Balance, BlockHeader, ChainInfo, FeeEstimate, KeyImage, LedgerWrite, Location,
                                        Outgoing, PoolStats, Transfer, TransferInfo, Where)
from fsm_distributor.core.registry import build_snapshot
from fsm_distributor.machine import Distributor

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
        self.daemon: Optional["FakeDaemon"] = None  # the miner's own monerod, if linked
        #: The height the wallet has scanned; None: its daemon's (a linked wallet is always in sync), else 100.
        self.scanned: Optional[int] = None

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

    def height(self) -> int:
        self._enter("get_height")
        if self.scanned is not None:
            return self.scanned
        return self.daemon.height_now if self.daemon is not None else 100

    def _check_funds(self, amount: int, code_if_short: Optional[int] = None) -> None:
        if amount + self.fee > self.total:
            raise rpc_error(code_if_short or -17, "not enough money")
        if amount + self.fee > self.unlocked:
            raise rpc_error(code_if_short or -37, "not enough unlocked money")

    def transfer(self, destinations, *, priority: int, do_not_relay: bool = False) -> Transfer:
        self._enter("transfer")
        # (address, amount) pairs, whatever the caller passed (Destinations): hashes derive from them.
        destinations = [(d[-2], d[-1]) for d in destinations]
        amount = sum(a for _, a in destinations)
        self._check_funds(amount)
        n = len(self.builds) + len(self.sent)
        tx_hash = hashlib.sha256(f"{self.address}:{n}:{destinations}".encode()).hexdigest()
        metadata = f"meta-{tx_hash}"
        self.builds[metadata] = (tx_hash, list(destinations), priority)
        if not do_not_relay:
            self.relay_tx(metadata)
        return Transfer(tx_hash=tx_hash, fee=self.fee, amount=amount, tx_metadata=metadata if do_not_relay else "",
                        key_images=key_images_of(tx_hash))

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
        if self.daemon is not None:
            self.daemon.add_to_pool(tx_hash, key_images_of(tx_hash))
        return tx_hash

    def get_transfers(self) -> list[Outgoing]:
        self._enter("get_transfers")
        return [Outgoing(tx.tx_hash, tuple(tx.destinations), self.fee, self.tx_types[tx.tx_hash].get("height", 0),
                         "out" if self.tx_types[tx.tx_hash]["type"] == "out" else "pending")
                for tx in self.sent if tx.tx_hash in self.tx_types]

    def forget(self, tx_hash: str) -> None:
        """Like a wallet-rpc restarted from an older wallet file: the tx is unknown (-8) to it."""
        self.tx_types.pop(tx_hash, None)

    def transfer_info(self, txid: str) -> TransferInfo:
        self._enter("get_transfer_by_txid")
        if txid not in self.tx_types:
            raise TxUnknown("get_transfer_by_txid", f"{txid} is unknown to the wallet", code=-8)
        answer = self.tx_types[txid]
        return TransferInfo(answer["type"], answer.get("height", 0), answer.get("confirmations", 0))

    def confirm_all(self, height: int = 100, confirmations: int = 1) -> None:
        for tx_hash, answer in self.tx_types.items():
            if answer["type"] == "pending":
                answer.update(type="out", height=height, confirmations=confirmations)
                if self.daemon is not None:
                    self.daemon.put_in_block(tx_hash, height, top=height + confirmations)


def key_images_of(tx_hash: str) -> tuple[str, ...]:
    """Two key images per fake transaction, derived from its hash."""
    return tuple(hashlib.sha256(f"ki{n}:{tx_hash}".encode()).hexdigest() for n in range(2))


class FakeDaemon:
    """A miner's monerod as verification asks it: a pool, blocks, and spent key images."""

    def __init__(self, height: int = 100):
        self.height_now = height
        self.pool: set[str] = set()
        # -- what the network-aware reads see (issue 11) --
        #: Others' transactions in the pool (the agent's own are `pool`, each OWN_TX_BYTES).
        self.others_bytes = 0
        self.others_txs = 0
        self.reward = 35_175_011_638_739  # a regtest block's, at height 140
        self.block_seconds = 120  # timestamps: T0 + height * block_seconds
        self.fees = (1_200_000, 4_700_000, 19_000_000, 240_000_000)  # per byte, priorities 1-4 (seen on regtest)
        self.blocks: dict[str, int] = {}   # tx_hash -> block height
        self.spent: dict[str, KeyImage] = {}
        self.images: dict[str, tuple[str, ...]] = {}
        self.down = False
        self.calls: list[str] = []

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.down:
            raise WalletUnavailable(method, "cannot reach daemon: ConnectionError")

    # -- what the chain does -------------------------------------------------------
    def add_to_pool(self, tx_hash: str, key_images: tuple[str, ...] = ()) -> None:
        if tx_hash not in self.blocks:
            self.pool.add(tx_hash)
            self.images[tx_hash] = key_images
            self.spent.update({k: KeyImage.SPENT_IN_POOL for k in key_images})

    def put_in_block(self, tx_hash: str, height: int, top: int) -> None:
        """`tx_hash` in the block at `height`, the chain `top` blocks high (confirmations = top - height)."""
        self.pool.discard(tx_hash)
        self.blocks[tx_hash] = height
        self.spent.update({k: KeyImage.SPENT_IN_CHAIN for k in self.images.get(tx_hash, ())})
        self.height_now = max(self.height_now, top)

    def mine(self, blocks: int = 1) -> None:
        """The pool goes into the next block, then the chain grows by `blocks` in all."""
        block = self.height_now
        for tx_hash in sorted(self.pool):
            self.put_in_block(tx_hash, block, top=block + blocks)
        self.height_now = block + blocks

    def drop(self, tx_hash: str) -> None:
        """Flushed from the pool: its inputs are free again."""
        self.pool.discard(tx_hash)
        for k in self.images.get(tx_hash, ()):
            self.spent.pop(k, None)

    def double_spend(self, tx_hash: str) -> None:
        """Another transaction spending the same inputs was mined: this one can never confirm."""
        self.drop(tx_hash)
        self.spent.update({k: KeyImage.SPENT_IN_CHAIN for k in self.images.get(tx_hash, ())})
        self.height_now += 1

    # -- the RPC -----------------------------------------------------------------------
    def locate(self, tx_hashes):
        self._enter("locate")
        out = {}
        for h in tx_hashes:
            if h in self.blocks:
                out[h] = Location(Where.CHAIN, self.blocks[h], self.height_now - self.blocks[h])
            else:
                out[h] = Location(Where.POOL if h in self.pool else Where.MISSING)
        return out

    def key_images_spent(self, key_images):
        self._enter("key_images_spent")
        return [self.spent.get(k, KeyImage.UNSPENT) for k in key_images]

    def height(self) -> int:
        self._enter("height")
        return self.height_now

    # -- network-aware distribution (issue 11) ------------------------------------------
    OWN_TX_BYTES = 2166  # one 2-input, 2-output transfer on regtest

    def fill(self, kb: float, txs: int = 0) -> None:
        """Others' transactions of `kb` kB in all are in the pool (replacing the earlier fill)."""
        self.others_bytes = int(kb * 1000)
        self.others_txs = txs or (self.others_bytes // self.OWN_TX_BYTES + (1 if self.others_bytes else 0))

    def info(self) -> ChainInfo:
        self._enter("get_info")
        return ChainInfo(self.height_now, len(self.pool) + self.others_txs)

    def pool_stats(self) -> PoolStats:
        self._enter("get_transaction_pool_stats")
        txs = len(self.pool) + self.others_txs
        return PoolStats(self.others_bytes + len(self.pool) * self.OWN_TX_BYTES, txs, int(T0) if txs else 0)

    def fee_estimate(self) -> FeeEstimate:
        self._enter("get_fee_estimate")
        return FeeEstimate(self.fees[0], self.fees, 10_000)

    def last_block(self) -> BlockHeader:
        self._enter("get_last_block_header")
        top = self.height_now - 1
        return BlockHeader(top, self.reward, int(T0) + top * self.block_seconds)


class FakeWallets:
    """The wallet (or daemon) factory: endpoint -> fake; unknown endpoints are unreachable."""

    def __init__(self):
        self.by_endpoint: dict[tuple[str, int], Any] = {}

    def add(self, port: int, wallet, host: str = "127.0.0.1"):
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

    def read(self) -> list[dict]:
        self._maybe_fail()
        return [dict(r) for r in self.records]

    def append(self, records: list[dict]) -> LedgerWrite:
        self._maybe_fail()
        have = {(r["tx_hash"], r["recipient_id"]) for r in self.records}
        self.records.extend(dict(r) for r in records if (r["tx_hash"], r["recipient_id"]) not in have)
        return LedgerWrite()

    def update(self, changes: dict[str, dict]) -> LedgerWrite:
        self._maybe_fail()
        found = set()
        for record in self.records:
            if record["tx_hash"] in changes:
                record.update(changes[record["tx_hash"]])
                found.add(record["tx_hash"])
        return LedgerWrite(missing=frozenset(changes) - found)


class FakeStatus:
    def __init__(self):
        self.files: dict[str, dict] = {}

    def read(self, name: str) -> Optional[dict]:
        return self.files.get(name)

    def write(self, name: str, document: dict) -> None:
        self.files[name] = document


class FakeJournal:
    """The journal in memory; `fail` makes the next writes fail like a full disk."""

    def __init__(self):
        self.intents: dict[str, Intent] = {}
        self.adopted: dict[str, str] = {}
        self.fail = 0
        self.writes: list[tuple[str, str]] = []  # (tx_hash, status)
        #: What the next load finds instead of the intents: "missing", or a problem (set aside).
        self.damage: Optional[str] = None

    def load(self) -> Loaded:
        if self.damage == "missing":
            return Loaded({}, found=False)
        if self.damage:
            return Loaded({}, problems=(self.damage,), set_aside="x_distributor_journal.corrupt-1.json")
        return Loaded(dict(self.intents), dict(self.adopted))

    def _maybe_fail(self) -> None:
        if self.fail:
            self.fail -= 1
            raise SharedIOError(Path("x_distributor_journal.json"), "disk full")

    def put(self, intent: Intent) -> None:
        self.put_many([intent])

    def put_many(self, intents: list[Intent]) -> None:
        self._maybe_fail()
        self.damage = None  # a write starts the file afresh
        for intent in intents:
            self.intents[intent.tx_hash] = intent
            self.writes.append((intent.tx_hash, intent.status))

    def adopt_funded(self, funded: dict[str, str]) -> None:
        self._maybe_fail()
        self.adopted.update(funded)

    def advance(self, intent: Intent, status: Status, **changes) -> Intent:
        check_move(intent.tx_hash, intent.status, status)
        if status is not Status.BUILT:
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
    def mem(self):
        return self.distributor.mem

    @property
    def data(self):
        """What the current state took (states.STATE_DATA)."""
        return self.distributor.data

    def status_files(self) -> dict:
        return self.distributor.deps.status.files

    def restart(self) -> None:
        """A new process over the same wallets, journal and files: only memory is lost."""
        self.distributor = Distributor(self.distributor.deps)

    def lose_journal(self, how: str = "missing") -> None:
        """The journal file is gone ("missing") or unusable (any other text: the problem) at the next start."""
        self.journal.intents.clear()
        self.journal.adopted.clear()
        self.journal.damage = how

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
    daemon_factory = FakeWallets()
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
        daemons[mid] = daemon_factory.add(18000 + i, FakeDaemon())
        world_miners[mid].daemon = daemons[mid]
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
    deps = Deps(config=config, agent_id=agent_id, registry=registry, wallets=wallets, daemons=daemon_factory,
                ledger=ledger,
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

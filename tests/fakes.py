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
from fsm_distributor.core.errors import (SignerLost, TxsetIncomplete, TxsetRejected, TxsetStale, TxUnknown, WalletError,
                                         WalletExists, WalletUnavailable)
from fsm_distributor.core.intent import Intent, Loaded
from fsm_distributor.core.names import Status
from fsm_distributor.core.multisig import exchange_rounds, kept_when_compacted
from fsm_distributor.core.ports import (Balance, BlockHeader, ChainInfo, FeeEstimate, KexStep, KeyImage, LedgerWrite,
                                        Location, MultisigState, MultisigTxset, Outgoing, PoolStats, SignedTxset,
                                        Transfer, TransferInfo, Where)
from fsm_distributor.core.registry import build_snapshot
from fsm_distributor.core.schedule import FixedSchedule
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
    unlock_time: int = 0


class Scripted:
    """A fake whose calls can fail on demand: `script[method]` is a queue of exceptions (None =
    answer normally); `down` makes every call fail as an unreachable wallet-rpc."""

    down: bool
    calls: list[str]
    script: dict[str, list[Optional[Exception]]]

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


class FakeWallet(Scripted):
    """A scriptable wallet (see Scripted)."""

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
        self.unlock_times: dict[str, int] = {}  # tx_hash -> unlock_time it was built with (0: none)
        self.tx_types: dict[str, dict] = {}  # tx_hash -> get_transfer_by_txid answer
        self.daemon: Optional["FakeDaemon"] = None  # the miner's own monerod, if linked
        #: The height the wallet has scanned; None: its daemon's (a linked wallet is always in sync), else 100.
        self.scanned: Optional[int] = None

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

    def transfer(self, destinations, *, priority: int, do_not_relay: bool = False, unlock_time: int = 0) -> Transfer:
        self._enter("transfer")
        # (address, amount) pairs, whatever the caller passed (Destinations): hashes derive from them.
        destinations = [(d[-2], d[-1]) for d in destinations]
        amount = sum(a for _, a in destinations)
        self._check_funds(amount)
        n = len(self.builds) + len(self.sent)
        tx_hash = hashlib.sha256(f"{self.address}:{n}:{destinations}".encode()).hexdigest()
        metadata = f"meta-{tx_hash}"
        self.builds[metadata] = (tx_hash, list(destinations), priority)
        if unlock_time:
            self.unlock_times[tx_hash] = unlock_time
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
        self.sent.append(SentTx(tx_hash, destinations, priority, self.unlock_times.get(tx_hash, 0)))
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
        self.writes: list[tuple[str, str]] = []  # (tx_hash, status); multisig lines: (key, kind/status)
        #: What the next load finds instead of the intents: "missing", or a problem (set aside).
        self.damage: Optional[str] = None
        #: multisig treasury (issue 13): the set-up and txset lines, the last per key.
        self.multisig: dict[str, dict] = {}
        #: The schedule's clock, as the real journal keeps it in a line of its own (issue 12).
        self.anchor: Optional[float] = None

    def load(self) -> Loaded:
        if self.damage == "missing":
            return Loaded({}, found=False)
        if self.damage:
            return Loaded({}, problems=(self.damage,), set_aside="x_distributor_journal.corrupt-1.json")
        multisig = {k: dict(b) for k, b in self.multisig.items() if kept_when_compacted(b, self.intents)}
        return Loaded(dict(self.intents), dict(self.adopted), multisig=multisig, schedule_anchor=self.anchor)

    def put_multisig(self, key: str, body: dict) -> None:
        self._maybe_fail()
        self.multisig[key] = dict(body)
        self.writes.append((key, body.get("status") or body.get("kind", "")))

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

    def set_schedule_anchor(self, anchor: float) -> None:
        self._maybe_fail()
        self.anchor = anchor

    def advance(self, intent: Intent, status: Status, **changes) -> Intent:
        updated = intent.moved(status, **changes)
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
    treasury: Optional["FakeTreasuryNet"] = None  # multisig (issue 13): the signers' side

    @property
    def signers(self) -> dict[str, "FakeSignerRpc"]:
        return self.treasury.servers if self.treasury else {}

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
               recovered: bool = True, signers: tuple[str, ...] = (), schedule: Any = None) -> World:
    """Build the fakes and a real Distributor over them.

    `user_addresses`: "registry" puts each user's address in its registry
    entry; "wallet" leaves it out so the agent must ask the user's wallet.
    `recovered`: take the start-up step (Recovering -> Idle) already.
    `schedule`: the ScheduleSource (e.g. adapters.schedule_file.ScheduleFile); default: the `schedule`
    attribute's inline schedule, if any.
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
    treasury = FakeTreasuryNet(wallets, daemon_factory.add(18100, FakeDaemon())) if signers else None
    for i, sid in enumerate(signers, start=1):  # multisig (issue 13): dedicated signer agents
        wallets.add(28200 + i, FakeSignerRpc(sid, treasury))
        agents.append({"id": sid, "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28200 + i,
                       "daemon_rpc_port": 18100, "attributes": {"can_receive_distributions": "true"}})
    registry = FakeRegistry(agents, miners_json)
    ledger = FakeLedger()
    journal = journal or FakeJournal()
    clock = FakeClock()
    deps = Deps(config=config, agent_id=agent_id, registry=registry, wallets=wallets, daemons=daemon_factory,
                ledger=ledger,
                journal=journal, status=FakeStatus(), clock=clock, rng=np.random.default_rng(seed),
                log=structlog.get_logger().bind(agent_id=agent_id), signers=wallets,
                schedule=schedule if schedule is not None else FixedSchedule(config.schedule.inline))
    world = World(config, wallets, registry, ledger, journal, clock, Distributor(deps), world_miners, world_users,
                  daemons, treasury)
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



# ---------------------------------------------------------------- multisig treasury (issue 13)
# Faithful to what wallet-rpc 0.18.0.0 answered (docs/wallet-facts.md, "Multisig"): make + N-M+1
# exchange rounds, the enable flag written only by a make_multisig of the same session, -28/-1/-33/-48
# in the key exchange, one spend per export/import round (a signer's nonce is used by building or
# signing: -35 "stale data"), -35 already signed / fully signed, -33 half-signed submit, -36 inputs
# spent by another set, and a resubmitted signed set answering the same hash, also once mined.

PLACEHOLDER = "41fJjQDhryD11111"


@dataclass
class FakeMsFile:
    """One wallet file in one signer's wallet directory."""

    uid: str
    multisig: bool = False
    ready: bool = False
    threshold: int = 0
    total: int = 0
    members: tuple[str, ...] = ()
    kex_round: int = 0          # 1 after make, +1 per exchange
    enabled: bool = False       # enable-multisig-experimental, as saved in the file
    nonce: int = 0              # the multisig nonce of its last export_info
    used: set = field(default_factory=set)       # nonces consumed by building or signing
    known: dict = field(default_factory=dict)    # other uid -> the nonce it imported
    synced_outputs: int = 0     # outputs the last import covered
    broken: bool = False        # cannot be opened (keys and cache do not match)


@dataclass
class FakeSet:
    id: str
    group: tuple[str, ...]
    inputs: tuple[int, ...]
    destinations: tuple[tuple[str, int], ...]
    fee: int
    nonces: dict
    signed_by: tuple[str, ...]
    threshold: int

    @property
    def tx_hash(self) -> str:
        return hashlib.sha256(f"{self.id}:{sorted(self.signed_by)}".encode()).hexdigest()


@dataclass
class FakeOutput:
    amount: int
    locked: bool = False
    spent_by: str = ""


class FakeBook:
    """A treasury's outputs (one per multisig group)."""

    def __init__(self, address: str):
        self.address = address
        self.outputs: list[FakeOutput] = []
        self.credited: set = set()
        self.submitted: dict[str, FakeSet] = {}  # tx_hash -> set


class FakeTreasuryNet:
    """The multisig side of the world: every signer's wallet-rpc, the treasuries' outputs, their daemon."""

    def __init__(self, wallets: FakeWallets, daemon: FakeDaemon):
        self.wallets, self.daemon = wallets, daemon
        self.servers: dict[str, "FakeSignerRpc"] = {}
        self.books: dict[tuple[str, ...], FakeBook] = {}
        self.sets: dict[str, FakeSet] = {}   # txset string -> set
        self.lock_incoming = False
        self._n = 0

    def fresh(self) -> int:
        self._n += 1
        return self._n

    def book(self, members: tuple[str, ...]) -> FakeBook:
        if members not in self.books:
            self.books[members] = FakeBook(make_address("treasury:" + ",".join(members)))
        return self.books[members]

    def scan(self, book: FakeBook) -> None:
        """Funds sent to the treasury by the world's wallets (a refresh)."""
        for wallet, tx in self.wallets.all_sent():
            for i, (address, amount) in enumerate(tx.destinations):
                if address == book.address and (tx.tx_hash, i) not in book.credited:
                    book.credited.add((tx.tx_hash, i))
                    book.outputs.append(FakeOutput(amount, locked=self.lock_incoming))

    def credit(self, members: tuple[str, ...], *amounts: int) -> None:
        book = self.book(members)
        book.outputs += [FakeOutput(a) for a in amounts]

    def unlock(self) -> None:
        for book in self.books.values():
            for output in book.outputs:
                output.locked = False

    def encode(self, fake: FakeSet) -> str:
        text = f"4d6f6e65726f:{fake.id}:{','.join(fake.signed_by)}"
        self.sets[text] = replace(fake, nonces=dict(fake.nonces))
        return text


def _ki(book: FakeBook, index: int) -> str:
    return hashlib.sha256(f"ki:{book.address}:{index}".encode()).hexdigest()


class FakeSignerRpc(Scripted):
    """One signer's wallet-rpc: the MultisigSigner port, and the Wallet calls Verifying makes there."""

    def __init__(self, signer_id: str, net: FakeTreasuryNet):
        self.id, self.net = signer_id, net
        net.servers[signer_id] = self
        self.files: dict[str, FakeMsFile] = {}
        self.open: Optional[str] = None
        self.session_enabled = False
        self.down = False
        self.calls: list[str] = []
        self.script: dict[str, list[Optional[Exception]]] = {}
        #: The priority and unlock_time of each `transfer` asked of this signer.
        self.transfers: list[dict[str, int]] = []

    # -- harness ------------------------------------------------------------------------------
    def restart(self) -> None:
        """SIGTERM and start again: it saved, and serves no wallet until one is opened."""
        self.open, self.session_enabled = None, False

    def _file(self, method: str) -> FakeMsFile:
        if self.open is None:
            raise rpc_error(-13, "No wallet file", method)
        return self.files[self.open]

    def wallet(self) -> FakeMsFile:
        return self._file("-")

    def _book(self, f: FakeMsFile) -> FakeBook:
        return self.net.book(f.members)

    # -- wallet files -------------------------------------------------------------------------
    def create_wallet(self, name: str, password: str) -> None:
        self._enter("create_wallet")
        if name in self.files:
            raise WalletExists("create_wallet", "Cannot create wallet. Already exists.", code=-21)
        self.files[name] = FakeMsFile(f"{self.id}/{name}")
        self.open, self.session_enabled = name, False

    def open_wallet(self, name: str, password: str) -> None:
        self._enter("open_wallet")
        if name not in self.files or self.files[name].broken:
            raise SignerLost("open_wallet", "Failed to open wallet", code=-1)
        self.open = name
        self.session_enabled = self.files[name].enabled

    def close_wallet(self) -> None:
        self._enter("close_wallet")
        self._file("close_wallet")
        self.open, self.session_enabled = None, False

    # -- set-up -------------------------------------------------------------------------------
    def prepare(self) -> str:
        self._enter("prepare_multisig")
        f = self._file("prepare_multisig")
        if f.multisig:
            raise SignerLost("prepare_multisig", "This wallet is already multisig", code=-28)
        self.session_enabled = True
        return f"MultisigxV2R1:{f.uid}:{self.net.fresh()}"

    def make(self, infos, threshold: int, password: str) -> KexStep:
        self._enter("make_multisig")
        f = self._file("make_multisig")
        if f.multisig:
            raise SignerLost("make_multisig", "This wallet is already multisig", code=-28)
        uids = []
        for info in infos:
            if not info.startswith("MultisigxV2R1:"):
                raise SignerLost("make_multisig", "Multisig kex msg decoding error.", code=-1)
            uids.append(info.split(":")[1])
        others = [u for u in uids if u != f.uid]
        if len(set(others)) != len(others):
            raise SignerLost("make_multisig", "Duplicate signers not allowed when converting a wallet to multisig.",
                             code=-1)
        total = len(others) + 1
        if not 1 <= threshold <= total or not others:
            raise SignerLost("make_multisig", "multisig account: tried to set invalid threshold.", code=-1)
        f.multisig, f.threshold, f.total, f.kex_round = True, threshold, total, 1
        f.members = tuple(sorted(others + [f.uid]))
        f.enabled = self.session_enabled  # make_multisig rewrites the file, with the session's setting
        if exchange_rounds(total, threshold) == 0:  # (1-of-N: not used here)
            f.ready = True
        return KexStep(self._kex(f), PLACEHOLDER + "x" * 79)

    def _kex(self, f: FakeMsFile) -> str:
        return f"MultisigxV2Rn:{f.kex_round}:{f.uid}:{','.join(f.members)}"

    def exchange(self, infos, password: str) -> KexStep:
        self._enter("exchange_multisig_keys")
        f = self._file("exchange_multisig_keys")
        if not f.multisig:
            raise rpc_error(-31, "This wallet is not multisig", "exchange_multisig_keys")
        if f.ready:
            raise SignerLost("exchange_multisig_keys", "This wallet is multisig, and already finalized", code=-28)
        if not f.enabled:
            raise SignerLost("exchange_multisig_keys", "This wallet is multisig, and multisig is disabled.", code=-48)
        parsed = []
        for info in infos:
            parts = info.split(":")
            if len(parts) != 4 or parts[0] != "MultisigxV2Rn":
                raise SignerLost("exchange_multisig_keys", "Error calling exchange_multisig_info: Multisig kex msg "
                                 "decoding error.", code=-1)
            parsed.append(parts)
        if any(int(p[1]) != f.kex_round for p in parsed):
            raise SignerLost("exchange_multisig_keys", "Error calling exchange_multisig_info: Messages don't have "
                             "the expected kex round number.", code=-1)
        if len({p[2] for p in parsed} - {f.uid}) < f.total - 1:
            raise SignerLost("exchange_multisig_keys", "Needs multisig info from more participants", code=-33)
        f.kex_round += 1
        if f.kex_round == 1 + exchange_rounds(f.total, f.threshold):
            f.ready = True
            return KexStep(self._kex(f), self._book(f).address)
        return KexStep(self._kex(f), "")

    def state(self) -> MultisigState:
        self._enter("is_multisig")
        f = self._file("is_multisig")
        return MultisigState(f.multisig, f.ready, f.threshold, f.total)

    def address(self) -> str:
        self._enter("get_address")
        f = self._file("get_address")
        return self._book(f).address if f.ready else make_address(f.uid)

    get_address = address  # the Wallet port's name (Verifying, _report_changed_wallet)

    # -- balance and the export/import round --------------------------------------------------
    def refresh(self) -> None:
        self._enter("refresh")
        f = self._file("refresh")
        if f.ready:
            self.net.scan(self._book(f))

    def balance(self) -> Balance:
        self._enter("get_balance")
        f = self._file("get_balance")
        unspent = [o for o in self._book(f).outputs if not o.spent_by] if f.ready else []
        return Balance(sum(o.amount for o in unspent), sum(o.amount for o in unspent if not o.locked))

    get_balance = balance

    def _ready(self, method: str) -> FakeMsFile:
        f = self._file(method)
        if not f.multisig:
            raise rpc_error(-31, "This wallet is not multisig", method)
        if not f.ready:
            raise rpc_error(-31, "This wallet is multisig, but not yet finalized", method)
        return f

    def export_info(self) -> str:
        self._enter("export_multisig_info")
        f = self._ready("export_multisig_info")
        f.nonce = self.net.fresh()
        return f"msinfo:{f.uid}:{f.nonce}:{len(self._book(f).outputs)}"

    def import_info(self, infos) -> int:
        self._enter("import_multisig_info")
        f = self._ready("import_multisig_info")
        others = [i.split(":") for i in infos if i.split(":")[1] != f.uid]
        if not others:
            raise rpc_error(-1, "Error calling import_multisig: Wrong number of multisig sources",
                            "import_multisig_info")
        for _, uid, nonce, _outputs in others:
            f.known[uid] = int(nonce)
        f.synced_outputs = len(self._book(f).outputs)
        return f.synced_outputs

    # -- spending -----------------------------------------------------------------------------
    def height(self) -> int:
        self._enter("get_height")
        return self.net.daemon.height_now

    def transfer(self, destinations, *, priority: int, unlock_time: int = 0) -> MultisigTxset:
        self._enter("transfer")
        f = self._ready("transfer")
        self.transfers.append({"priority": priority, "unlock_time": unlock_time})
        book = self._book(f)
        if f.synced_outputs < len(book.outputs):
            raise rpc_error(-16, "No transaction created", "transfer")
        pairs = tuple((d.address, d.amount) for d in destinations)
        fee = 1_808_400_000
        need = sum(a for _, a in pairs) + fee
        chosen, total = [], 0
        for index, output in enumerate(book.outputs):
            if total >= need:
                break
            if not output.spent_by and not output.locked:
                chosen.append(index)
                total += output.amount
        if total < need:
            unspent = sum(o.amount for o in book.outputs if not o.spent_by)
            raise rpc_error(-37 if unspent >= need else -17,
                            "not enough unlocked money" if unspent >= need else "not enough money", "transfer")
        f.used.add(f.nonce)
        nonces = {**f.known, f.uid: f.nonce}
        fake = FakeSet(f"set{self.net.fresh()}", f.members, tuple(chosen), pairs, fee, nonces, (f.uid,), f.threshold)
        return MultisigTxset(self.net.encode(fake), fee, sum(a for _, a in pairs), tuple(_ki(book, i) for i in chosen))

    def _set(self, method: str, text: str) -> FakeSet:
        fake = self.net.sets.get(text)
        if fake is None:
            raise rpc_error(-26, "Failed to parse hex.", method)
        return fake

    def describe(self, txset: str) -> tuple:
        self._enter("describe_transfer")
        self._ready("describe_transfer")
        return self._set("describe_transfer", txset).destinations

    def sign(self, txset: str) -> SignedTxset:
        self._enter("sign_multisig")
        f = self._ready("sign_multisig")
        fake = self._set("sign_multisig", txset)
        if len(fake.signed_by) >= fake.threshold:
            raise TxsetStale("sign_multisig", "Failed to sign multisig tx: Transaction is already fully signed",
                             code=-35)
        if f.uid in fake.signed_by:
            raise TxsetStale("sign_multisig", "Failed to sign multisig tx: Transaction already signed by this "
                             "private key", code=-35)
        if fake.nonces.get(f.uid) != f.nonce or f.nonce in f.used:
            raise TxsetStale("sign_multisig", "Failed to sign multisig tx: This signature was made with stale "
                             "data: export fresh multisig data, which other participants must then use", code=-35)
        f.used.add(f.nonce)
        signed = replace(fake, signed_by=fake.signed_by + (f.uid,))
        text = self.net.encode(signed)
        return SignedTxset(text, (signed.tx_hash,) if len(signed.signed_by) >= signed.threshold else ())

    def submit(self, txset: str) -> tuple[str, ...]:
        self._enter("submit_multisig")
        f = self._ready("submit_multisig")
        fake = self._set("submit_multisig", txset)
        if len(fake.signed_by) < fake.threshold:
            raise TxsetIncomplete("submit_multisig", "Not enough signers signed this transaction.", code=-33)
        book = self._book(f)
        if fake.tx_hash in book.submitted:
            return (fake.tx_hash,)  # the same set again: the same hash, nothing new (also once mined)
        if any(book.outputs[i].spent_by for i in fake.inputs):
            raise TxsetRejected("submit_multisig", "Failed to submit multisig tx: transaction was rejected by daemon",
                                code=-36)
        for i in fake.inputs:
            book.outputs[i].spent_by = fake.tx_hash
        change = sum(book.outputs[i].amount for i in fake.inputs) - sum(a for _, a in fake.destinations) - fake.fee
        if change:
            book.outputs.append(FakeOutput(change, locked=True))
            book.credited.add((fake.tx_hash, "change"))
        book.submitted[fake.tx_hash] = fake
        self.net.daemon.add_to_pool(fake.tx_hash, tuple(_ki(book, i) for i in fake.inputs))
        return (fake.tx_hash,)

    def transfer_info(self, txid: str) -> TransferInfo:
        self._enter("get_transfer_by_txid")
        f = self._file("get_transfer_by_txid")
        daemon = self.net.daemon
        if not f.ready or txid not in self._book(f).submitted:
            raise TxUnknown("get_transfer_by_txid", f"{txid} is unknown to the wallet", code=-8)
        if txid in daemon.blocks:
            return TransferInfo("out", daemon.blocks[txid], daemon.height_now - daemon.blocks[txid])
        return TransferInfo("pending")


TREASURY_ATTRIBUTES = {"multisig_mode": "payments", "multisig_signers": "s1,s2,s3", "multisig_threshold": "2",
                       "multisig_funding_amount": "30", "multisig_funding_outputs": "5",
                       "multisig_refill_below": "5", "verification_interval": "5", "transaction_frequency": "10"}


def treasury_world(attributes: Optional[dict[str, str]] = None, **kwargs) -> World:
    """A world with a treasury of signers s1..sN (`multisig_signers`), recovered, in Idle."""
    attrs = {**TREASURY_ATTRIBUTES, **(attributes or {})}
    return make_world(attrs, signers=tuple(attrs["multisig_signers"].split(",")), **kwargs)


class Crash(BaseException):
    """The process dies at a checkpoint (BaseException: the machine's fault handling does not catch it)."""


def crash_at(world: World, phase: str, nth: int = 1) -> None:
    """The `nth` pass of checkpoint `phase` kills the agent (raises Crash out of step())."""
    seen = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == phase:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(phase)
    world.distributor.deps = replace(world.distributor.deps, checkpoint=checkpoint)


def restart_after_crash(world: World) -> None:
    """A new process, no crash hook, memory lost; the wallets, journal and files stay."""
    from fsm_distributor.core.context import no_checkpoint
    world.distributor = Distributor(replace(world.distributor.deps, checkpoint=no_checkpoint))


def run_treasury(world: World, steps: int, *, until=None, mine: bool = True) -> list:
    """`steps` steps (or until `until(world)`), sleeping through waits; a block after each submitted
    spend (so the treasury is free for the next one) and the treasury's change unlocked with it, and
    the miners' transactions (its refills) in their blocks."""
    out = []
    for _ in range(steps):
        result = world.step()
        out.append(result)
        if result.delay > 0:
            world.clock.sleep(result.delay)
        if mine and world.treasury is not None and world.treasury.daemon.pool:
            world.treasury.daemon.mine(1)
            world.treasury.unlock()
        if mine:
            for miner in world.miners.values():
                miner.confirm_all(height=miner.daemon.height_now if miner.daemon else 100)
        if until is not None and until(world):
            break
    return out


def treasury_paid(world: World) -> list[tuple[str, tuple]]:
    """(tx_hash, destinations) of every set the signers submitted (what left the treasury)."""
    books = world.treasury.books.values() if world.treasury else ()
    return [(h, fake.destinations) for book in books for h, fake in book.submitted.items()]

"""The ports: what the agent asks of the outside world, what it gets back, and what may go wrong.

The agent (machine, actions) sees the outside only through these protocols.
Adapters (`fsm_distributor.adapters`) implement them and translate every
failure of theirs (`OSError`, `requests`, JSON, wallet-rpc error objects)
into one of the two error families here, so an action catches exactly one
type per port: `WalletError` for wallets and daemons, `StoreError` for the
files of the shared directory (registry, journal, ledger, status).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence

from fsm_distributor.core.intent import Destination, Intent, Loaded
from fsm_distributor.core.names import Status
from fsm_distributor.core.registry import Snapshot

# ---------------------------------------------------------------- what comes back


@dataclass(frozen=True)
class Balance:
    """Atomic units; `unlocked` is what can be spent now."""

    total: int
    unlocked: int
    blocks_to_unlock: int = 0


@dataclass(frozen=True)
class Transfer:
    """What `transfer` returned for one transaction."""

    tx_hash: str
    fee: int
    amount: int
    tx_metadata: str = ""
    #: The key images of the inputs it spends: the daemon tells whether another transaction spent them.
    key_images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outgoing:
    """One transaction the wallet sent (or holds as pending), from `get_transfers`."""

    tx_hash: str
    destinations: tuple[tuple[str, int], ...]  # (address, atomic amount)
    fee: int
    height: int
    type: str


@dataclass(frozen=True)
class TransferInfo:
    """The sender wallet's view of one of its transactions (`get_transfer_by_txid`)."""

    type: str  # pending | out | failed | pool | in
    height: int = 0
    confirmations: int = 0


class Where(str, enum.Enum):
    """Where the daemon has a transaction."""

    POOL = "pool"
    CHAIN = "chain"
    MISSING = "missing"


@dataclass(frozen=True)
class Location:
    """A transaction as the daemon sees it; `height` and `confirmations` only in the chain."""

    where: Where
    height: int = 0
    confirmations: int = 0


class KeyImage(enum.IntEnum):
    """The daemon's answer per key image."""

    UNSPENT = 0
    SPENT_IN_CHAIN = 1
    SPENT_IN_POOL = 2


@dataclass(frozen=True)
class LedgerWrite:
    """What a write to transactions.json found besides doing its job."""

    #: Set when an unreadable file had to be set aside: what was wrong and where its bytes went.
    note: Optional[str] = None
    #: `update` only: tx_hashes of this distributor that the file no longer holds a record of.
    missing: frozenset[str] = frozenset()

    @property
    def quarantined(self) -> bool:
        return self.note is not None


# -- what monerod says of the network (issue 11: network-aware distribution) --

#: Monero's block time target (get_info `target`), used until two block headers give an observed interval.
TARGET_BLOCK_SECONDS = 120


@dataclass(frozen=True)
class ChainInfo:
    """monerod `get_info`: chain height (blocks), transactions in the pool, block time target."""

    height: int
    pool_txs: int
    target: int = TARGET_BLOCK_SECONDS


@dataclass(frozen=True)
class FeeEstimate:
    """monerod `get_fee_estimate`: the base fee per byte and, on 0.18, one per priority 1-4."""

    per_byte: int
    by_priority: tuple[int, ...] = ()
    quantization_mask: int = 1


@dataclass(frozen=True)
class PoolStats:
    """monerod `/get_transaction_pool_stats`: bytes and transactions in the pool, the oldest's time."""

    bytes_total: int
    txs_total: int
    oldest: int = 0


@dataclass(frozen=True)
class BlockHeader:
    """monerod `get_last_block_header`: the top block's index, its reward and timestamp."""

    height: int
    reward: int
    timestamp: int


# ---------------------------------------------------------------- the ports


class Wallet(Protocol):
    """A miner's (or recipient's) wallet-rpc. Raises WalletError."""

    def get_balance(self) -> Balance: ...
    def get_address(self) -> str: ...
    def refresh(self) -> None: ...
    def transfer(self, destinations: Sequence[Destination], *, priority: int,
                 do_not_relay: bool = False) -> Transfer: ...
    def relay_tx(self, tx_metadata: str) -> str: ...
    def transfer_info(self, txid: str) -> TransferInfo:
        """Raises TxUnknown when the wallet does not know `txid`."""
        ...
    def get_transfers(self) -> list[Outgoing]: ...
    # -- network-aware distribution (issue 11) --
    def height(self) -> int:
        """Blocks the wallet has scanned (its view of the chain; it answers from its cache)."""
        ...


class Daemon(Protocol):
    """A miner's monerod, asked where transactions are and what the network looks like. Raises WalletError."""

    def locate(self, tx_hashes: Sequence[str]) -> dict[str, Location]: ...
    def key_images_spent(self, key_images: Sequence[str]) -> list[KeyImage]: ...
    def height(self) -> int: ...
    # -- network-aware distribution (issue 11) --
    def info(self) -> ChainInfo: ...
    def fee_estimate(self) -> FeeEstimate: ...
    def pool_stats(self) -> PoolStats: ...
    def last_block(self) -> BlockHeader: ...


class Registry(Protocol):
    """agent_registry.json, miners.json and the info files. Raises StoreError."""

    def read(self) -> tuple[Snapshot, bool]: ...
    def info_address(self, agent_id: str) -> Optional[str]: ...


#: One record of transactions.json (Monerosim's five fields and ours), or a JSON document: parsed JSON.
Record = dict[str, Any]


class Ledger(Protocol):
    """transactions.json. Raises StoreError."""

    def read(self) -> list[Record]: ...
    def append(self, records: list[Record]) -> LedgerWrite: ...
    def update(self, changes: dict[str, Record]) -> LedgerWrite: ...


class StatusStore(Protocol):
    """Whole-document status files (initial_funding_status.json). Raises StoreError."""

    def read(self, name: str) -> Optional[Record]: ...
    def write(self, name: str, document: Record) -> None: ...


class JournalStore(Protocol):
    """This agent's intent journal. Raises StoreError (and IllegalMove for a move its lifecycle refuses)."""

    def load(self) -> Loaded: ...
    def put(self, intent: Intent) -> None: ...
    def put_many(self, intents: list[Intent]) -> None: ...
    def adopt_funded(self, funded: dict[str, str]) -> None: ...
    def advance(self, intent: Intent, status: Status, **changes: object) -> Intent: ...


class Clock(Protocol):
    """Wall-clock time and sleeping (simulated under Shadow); `jumped` reports steps of the wall clock."""

    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def jumped(self) -> float: ...

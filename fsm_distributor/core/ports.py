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
from fsm_distributor.core.schedule import Schedule

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
                 do_not_relay: bool = False, unlock_time: int = 0) -> Transfer:
        """`unlock_time`: Monero's time lock, a block height before which the outputs cannot be spent."""
        ...
    def relay_tx(self, tx_metadata: str) -> str: ...
    def transfer_info(self, txid: str) -> TransferInfo:
        """Raises TxUnknown when the wallet does not know `txid`."""
        ...
    def get_transfers(self) -> list[Outgoing]: ...
    def height(self) -> int:
        """Blocks the wallet has scanned (its view of the chain, answered from its cache; the daemon's
        after a refresh): the cheap check of ReadingNetwork, the base of a scheduled time lock."""
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
    def put_multisig(self, key: str, body: Record) -> None:
        """multisig treasury (issue 13): one set-up or txset line (`core.multisig`), appended and fsynced;
        the last line of a key wins."""
        ...
    def set_schedule_anchor(self, anchor: float) -> None:
        """Remember the schedule's clock (the agent's first start) durably (issue 12)."""
        ...


class ScheduleSource(Protocol):
    """The schedule (issue 12): a file, read again when it changed, or a fixed one (core.schedule).
    Raises StoreError when the file cannot be read or is not a valid schedule (the message says why)."""

    def read(self) -> Schedule: ...


class Clock(Protocol):
    """Wall-clock time and sleeping (simulated under Shadow); `jumped` reports steps of the wall clock."""

    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def jumped(self) -> float: ...


# ---------------------------------------------------------------- multisig treasury (issue 13)


@dataclass(frozen=True)
class MultisigState:
    """`is_multisig`: whether the open wallet is multisig, finished (`ready`), and its M and N."""

    multisig: bool
    ready: bool
    threshold: int
    total: int


@dataclass(frozen=True)
class KexStep:
    """What one key-exchange call answered: the message for the others, and the wallet's address
    (a placeholder after make_multisig, "" in the middle rounds, the real one after the last)."""

    info: str
    address: str


@dataclass(frozen=True)
class MultisigTxset:
    """What `transfer` on a multisig wallet answered: the set signed by the builder only."""

    txset: str
    fee: int
    amount: int
    key_images: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignedTxset:
    """What `sign_multisig` answered: the set with one more signature; the hashes once complete."""

    txset: str
    tx_hashes: tuple[str, ...] = ()


class MultisigSigner(Protocol):
    """One signer's wallet-rpc, serving one wallet of the treasury. Raises WalletError (and the
    multisig kinds of it in `core.errors`: WalletExists, SignerLost, TxsetStale, TxsetIncomplete,
    TxsetRejected).  Never `finalize_multisig`: on 0.18.0.0 it is not needed and can crash wallet-rpc."""

    def create_wallet(self, name: str, password: str) -> None: ...
    def open_wallet(self, name: str, password: str) -> None: ...
    def close_wallet(self) -> None:
        """Saves the wallet (wallet-rpc saves nothing when close_wallet has no params)."""
        ...
    def prepare(self) -> str:
        """prepare_multisig, also turning enable-multisig-experimental on for this session: the
        setting is written with the wallet by the next make_multisig of the same session."""
        ...
    def make(self, infos: Sequence[str], threshold: int, password: str) -> KexStep: ...
    def exchange(self, infos: Sequence[str], password: str) -> KexStep: ...
    def state(self) -> MultisigState: ...
    def address(self) -> str: ...
    def refresh(self) -> None: ...
    def balance(self) -> Balance: ...
    def export_info(self) -> str: ...
    def import_info(self, infos: Sequence[str]) -> int: ...
    def height(self) -> int:
        """Blocks the wallet has scanned (the daemon's after a refresh): the base of a time lock."""
        ...
    def transfer(self, destinations: Sequence[Destination], *, priority: int, unlock_time: int = 0) -> MultisigTxset:
        """`unlock_time`: Monero's time lock (a block height), as for Wallet.transfer."""
        ...
    def describe(self, txset: str) -> tuple[tuple[str, int], ...]:
        """The (address, amount) of each destination the set pays (change left out)."""
        ...
    def sign(self, txset: str) -> SignedTxset: ...
    def submit(self, txset: str) -> tuple[str, ...]: ...

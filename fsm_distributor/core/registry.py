"""Monerosim's registries as typed, validated snapshots (pure: parsing, no file access).

`agent_registry.json` and `miners.json` are written by other processes and
change during a run; every entry is checked here and a bad one is skipped
with a problem message, so one broken entry never hides the good ones.
An agent's identity is its `id`: in a local network all agents share one IP.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator, Optional

from fsm_distributor.core.config import parse_bool
from fsm_distributor.core.errors import StoreError

AGENT_REGISTRY = "agent_registry.json"
MINERS_REGISTRY = "miners.json"
INFO_SUFFIXES = ("_user_info.json", "_miner_info.json")

#: Problem lines kept per file and read; the rest are only counted, so a file of a million bad
#: entries neither floods the log nor fills the memory.
MAX_PROBLEMS = 20
_PORT_ACCEPTED = "accepted: an integer 1-65535"


class RegistryError(StoreError):
    """A registry file is unusable as a whole."""


_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean",
               int: "number", float: "number", type(None): "null"}


def json_kind(value: Any) -> str:
    """'object', 'array', 'string', ...: the JSON name of a parsed value's type, for messages."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


class Problems(list[str]):
    """The problem lines of one file: the first `limit` kept, `total` counts them all."""

    def __init__(self, limit: int = MAX_PROBLEMS):
        super().__init__()
        self.limit = limit
        self.total = 0

    def append(self, line: str) -> None:
        self.total += 1
        if len(self) < self.limit:
            super().append(line)


def _with_article(word: str) -> str:
    return ("an " if word.lstrip("'")[0] in "aeiou" else "a ") + word


def _a(value: Any) -> str:
    """'an object', 'a string', 'null': a JSON value's kind for a message."""
    kind = json_kind(value)
    return kind if kind == "null" else _with_article(kind)


def _document(data: Any, name: str, key: str) -> list[Any]:
    """`data[key]`, the list of entries of a registry file, or the RegistryError saying what is wrong."""
    if not isinstance(data, dict):
        raise RegistryError(f"{name}: must be a JSON object with {_with_article(repr(key))} list, got {_a(data)}")
    if key not in data:
        raise RegistryError(f"{name}: has no '{key}' list (keys: {', '.join(map(repr, list(data)[:10])) or 'none'})")
    if not isinstance(data[key], list):
        raise RegistryError(f"{name}: '{key}' must be a list, got {_a(data[key])}")
    entries: list[Any] = data[key]
    return entries


def _port(value: Any) -> Optional[int]:
    if type(value) is int:  # the common case (JSON numbers), without the str() round trip
        port = value
    elif isinstance(value, bool):
        return None
    else:
        try:
            port = int(str(value).strip())
        except (TypeError, ValueError):
            return None
    return port if 0 < port < 65536 else None


@dataclass(frozen=True)
class Agent:
    """One registry entry, as far as the distributor cares."""

    id: str
    ip_addr: Optional[str]
    wallet_rpc_port: Optional[int]
    wallet_address: Optional[str]
    has_wallet: bool
    #: The registry entry's own dict, not a copy (the parsed documents are cached and never
    #: mutated): read it, never change it.
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    daemon_rpc_port: Optional[int] = None

    @property
    def endpoint(self) -> Optional[tuple[str, int]]:
        if self.ip_addr and self.wallet_rpc_port:
            return self.ip_addr, self.wallet_rpc_port
        return None

    def flag(self, name: str) -> bool:
        return parse_bool(self.attributes.get(name, "false")) is True


@dataclass(frozen=True)
class Miner:
    """A miner joined with its registry entry; `weight` is finite and >= 0."""

    agent_id: str
    ip_addr: Optional[str]
    wallet_rpc_port: Optional[int]
    weight: float
    wallet_address: Optional[str]
    #: The miner's own monerod: where a transaction's fate (pool, chain, gone) is asked.
    daemon_rpc_port: Optional[int] = None

    @property
    def endpoint(self) -> Optional[tuple[str, int]]:
        if self.ip_addr and self.wallet_rpc_port:
            return self.ip_addr, self.wallet_rpc_port
        return None

    @property
    def daemon_endpoint(self) -> Optional[tuple[str, int]]:
        if self.ip_addr and self.daemon_rpc_port:
            return self.ip_addr, self.daemon_rpc_port
        return None


@dataclass(frozen=True)
class Snapshot:
    """One read of the registries.  Immutable: `RegistryReader` returns the same
    object while the files are unchanged, so what is derived from it below is
    worked out once per registry change (on first use), not once per cycle."""

    agents: tuple[Agent, ...]
    miners: tuple[Miner, ...]
    #: The first MAX_PROBLEMS problem lines of each file ...
    problems: tuple[str, ...] = ()
    #: ... and how many each file had in all: (file name, count).
    problem_totals: tuple[tuple[str, int], ...] = ()

    @cached_property
    def with_wallet(self) -> tuple[Agent, ...]:
        """Agents with a wallet, in registry order (the recipients' universe)."""
        return tuple(a for a in self.agents if a.has_wallet)

    @cached_property
    def wallet_index(self) -> dict[str, int]:
        """Agent id -> its index in `with_wallet`."""
        return {a.id: i for i, a in enumerate(self.with_wallet)}

    @cached_property
    def registry_index(self) -> dict[str, int]:
        """Agent id -> its index in `agents` (registry order)."""
        return {a.id: i for i, a in enumerate(self.agents)}

    @cached_property
    def wallet_registry_positions(self) -> tuple[int, ...]:
        """The registry index of each agent of `with_wallet` (ascending, for bisect)."""
        index = self.registry_index
        return tuple(index[a.id] for a in self.with_wallet)

    @cached_property
    def receivers(self) -> tuple[Agent, ...]:
        """Agents with a wallet and the `can_receive_distributions` flag, in registry order."""
        return tuple(a for a in self.with_wallet if a.flag("can_receive_distributions"))


class WalletAgents:
    """`snapshot.with_wallet` without the `excluded` ids, as a sequence, without building it.

    Per cycle only the few excluded ids are looked up (this agent, the
    selected miner, recipients skipped this cycle): O(excluded) instead of
    O(agents), with the same items in the same order as the filtered list.
    """

    def __init__(self, snapshot: Snapshot, excluded: set[str]):
        self._agents = snapshot.with_wallet
        self._positions = snapshot.wallet_registry_positions
        index = snapshot.wallet_index
        self._registry_index = snapshot.registry_index
        self._excluded = excluded
        #: Indexes in `with_wallet` that are excluded, ascending.
        self._skip = sorted(index[i] for i in excluded if i in index)

    def __len__(self) -> int:
        return len(self._agents) - len(self._skip)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, k: int) -> Agent:
        """The k-th agent of the filtered list (0 <= k < len)."""
        if not 0 <= k < len(self):
            raise IndexError(k)
        for position in self._skip:
            if position > k:
                break
            k += 1
        return self._agents[k]

    def __iter__(self) -> Iterator[Agent]:
        excluded = self._excluded
        return (a for a in self._agents if a.id not in excluded)

    def first_after(self, agent_id: Optional[str]) -> Agent:
        """The first agent after `agent_id` in registry order, wrapping to the first one
        (from the start if `agent_id` is None or not in the registry).  Needs len > 0."""
        last = self._registry_index.get(agent_id, -1) if agent_id is not None else -1
        start = bisect_right(self._positions, last)
        agents, excluded = self._agents, self._excluded
        for k in range(start, len(agents)):
            if agents[k].id not in excluded:
                return agents[k]
        return self[0]


def parse_agents(data: Any) -> tuple[list[Agent], Problems]:
    """Entries of agent_registry.json; bad entries are skipped, bad fields ignored, each with a reason
    (the first MAX_PROBLEMS; the list's `total` counts them all)."""
    entries = _document(data, AGENT_REGISTRY, "agents")
    agents: list[Agent] = []
    problems = Problems()
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{AGENT_REGISTRY}: entry {index} is not an object; skipped")
            continue
        agent_id = entry.get("id")
        if not isinstance(agent_id, str) or not agent_id.strip():
            problems.append(f"{AGENT_REGISTRY}: entry {index} has no string 'id'; skipped")
            continue
        if agent_id in seen:
            problems.append(f"{AGENT_REGISTRY}: duplicate id {agent_id!r} at entry {index}; later entry skipped")
            continue
        seen.add(agent_id)
        who = f"{AGENT_REGISTRY}: agent {agent_id!r}"
        attributes = entry.get("attributes")
        if not isinstance(attributes, dict):
            if attributes is not None:
                problems.append(f"{who} has attributes that are {_a(attributes)}, not an object; ignored")
            attributes = {}
        raw_port = entry.get("wallet_rpc_port")
        port = _port(raw_port)
        if raw_port is not None and port is None:
            problems.append(f"{who} has invalid wallet_rpc_port {raw_port!r} ({_PORT_ACCEPTED})")
        raw_daemon_port = entry.get("daemon_rpc_port")
        daemon_port = _port(raw_daemon_port)
        if raw_daemon_port is not None and daemon_port is None:
            problems.append(f"{who} has invalid daemon_rpc_port {raw_daemon_port!r} ({_PORT_ACCEPTED}); ignored")
        address = entry.get("wallet_address")
        if isinstance(address, str):
            address = address.strip() or None
        elif address is not None:
            problems.append(f"{who} has invalid wallet_address {address!r} (accepted: a string); ignored")
            address = None
        ip = entry.get("ip_addr")
        if ip is not None and not isinstance(ip, str):
            problems.append(f"{who} has invalid ip_addr {ip!r} (accepted: a string such as '11.0.0.1'); "
                            f"its wallet cannot be reached")
            ip = None
        raw_wallet = entry.get("wallet", False)
        wallet_flag = parse_bool(raw_wallet)
        if wallet_flag is None:
            problems.append(f"{who} has invalid wallet {raw_wallet!r} (accepted: true/false/1/0/yes/no/on/off); "
                            f"taken as false")
        has_wallet = wallet_flag is True or port is not None or address is not None
        # No copy of `attributes`: it is the parsed document's own dict, which nothing mutates
        # (RegistryReader's cache hands the same document out again; see read_json_cached).
        agents.append(Agent(agent_id, ip, port, address, has_wallet, attributes, daemon_port))
    return agents, problems


def _weight(raw: Any, who: str, problems: list[str]) -> float:
    if raw is None:
        problems.append(f"{MINERS_REGISTRY}: miner {who} has no weight; using 0")
        return 0.0
    try:
        weight = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int above 1e308
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        problems.append(f"{MINERS_REGISTRY}: miner {who} has invalid weight {raw!r} "
                        f"(accepted: a finite number >= 0); using 0")
        return 0.0
    return weight


def join_miners(data: Any, agents: list[Agent]) -> tuple[list[Miner], Problems]:
    """Join miners.json to registry agents by agent_id (by ip_addr only when there is no id)."""
    entries = _document(data, MINERS_REGISTRY, "miners")
    by_id = {a.id: a for a in agents}
    miners: list[Miner] = []
    problems = Problems()
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{MINERS_REGISTRY}: entry {index} is not an object; skipped")
            continue
        agent_id = entry.get("agent_id")
        ip = entry.get("ip_addr")
        if agent_id not in (None, "") and not isinstance(agent_id, str):
            # An id of the wrong type is not "no id": never fall back to the ip for it.
            problems.append(f"{MINERS_REGISTRY}: entry {index} has invalid agent_id {agent_id!r}; skipped")
            continue
        if isinstance(agent_id, str) and agent_id:
            agent = by_id.get(agent_id)
            if agent is None:
                problems.append(f"{MINERS_REGISTRY}: miner {agent_id!r} is not in {AGENT_REGISTRY}; skipped")
                continue
        else:
            same_ip = [a for a in agents if ip and a.ip_addr == ip]
            if len(same_ip) != 1:
                problems.append(f"{MINERS_REGISTRY}: entry {index} has no agent_id and ip_addr {ip!r} "
                                f"matches {len(same_ip)} agents (needs exactly 1); skipped")
                continue
            agent = same_ip[0]
        if agent.id in seen:
            problems.append(f"{MINERS_REGISTRY}: miner {agent.id!r} listed twice; later entry skipped")
            continue
        seen.add(agent.id)
        weight = _weight(entry.get("weight"), repr(agent.id), problems)
        address = entry.get("wallet_address")
        if address is not None and not isinstance(address, str):
            problems.append(f"{MINERS_REGISTRY}: miner {agent.id!r} has invalid wallet_address {address!r} "
                            f"(accepted: a string); ignored")
            address = None
        miners.append(Miner(agent.id, agent.ip_addr, agent.wallet_rpc_port, weight,
                            address or agent.wallet_address, agent.daemon_rpc_port))
    return miners, problems


def build_snapshot(agent_data: Any, miner_data: Any) -> Snapshot:
    agents, problems = parse_agents(agent_data)
    miners, miner_problems = join_miners(miner_data, agents)
    totals = ((AGENT_REGISTRY, problems.total), (MINERS_REGISTRY, miner_problems.total))
    return Snapshot(tuple(agents), tuple(miners), tuple(problems + miner_problems), totals)

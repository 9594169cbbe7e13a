"""Monerosim scenario files, read into what the sandbox simulates: pure parsing, no I/O but the file.

Two forms exist (Fountain5405/monerosim, `src/config*.rs`):

- the older list form, which the seed design's example uses:
  `agents: {user_agents: [{daemon, wallet, user_script, attributes: {...}}, ...], block_controller: {...},
  pure_script_agents: [...]}`; agents are named `user000`, `user001`, ... by position;
- today's map form: `agents: {miner-001: {daemon, wallet, script, hashrate, can_receive_distributions,
  start_time, ...}, ...}`, where the keys Monerosim does not use for processes are the agent's attributes.

Every value is kept as the text written in the file (the YAML loader resolves no types), so an attribute
reaches the agent and the registry exactly as spelled, money is never a float, and a number is checked
where it is a number.  A file that is not a scenario raises `ScenarioError` naming the key path and what
was expected there.  Where Monerosim's source and this module differ, docs/monerosim-compatibility.md
says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml

from fsm_distributor.core.config import parse_duration
from fsm_distributor.core.config import parse_bool

MINER, WALLET, DISTRIBUTOR, RELAY, SCRIPT = "miner", "wallet", "distributor", "relay", "script"
#: Scripts that name the distributor: Monerosim's own, or this agent as the README says to name it.
DISTRIBUTOR_SCRIPTS = frozenset({"agents.miner_distributor", "fsm_distributor", "fsm_distributor.cli",
                                 "fsm_distributor.__main__"})
MINER_SCRIPTS = frozenset({"agents.autonomous_miner"})
DEFAULT_SEED = 12345
#: miners.json weight of a miner without a hashrate, and of every miner when all weights are 0 (Monerosim's).
DEFAULT_WEIGHT = 10
#: Map-form keys that configure processes and their timing, not the script: never attributes.
PROCESS_KEYS = frozenset({"daemon", "wallet", "script", "start_time", "wait_time", "daemon_options",
                          "wallet_options", "daemon_args", "wallet_args", "daemon_env", "wallet_env",
                          "subnet_group", "attributes"})
_PHASE_KEY = re.compile(r"^(daemon|wallet)_\d+(_args|_env|_start|_stop)?$")
#: List-form entry keys that are not attributes.
LIST_KEYS = frozenset({"daemon", "wallet", "user_script", "mining_script", "is_miner", "attributes",
                       "start_time_offset"})
_TIMING = ("start_time", "wait_time", "start_time_offset")


class ScenarioError(ValueError):
    """Not a Monerosim scenario this sandbox can run; `str()` is the one line to print."""

    def __init__(self, source: str, path: str, expected: str, got: Optional[str] = None):
        self.path, self.expected = path, expected
        super().__init__(f"{source}: {path}: expected {expected}" + (f", got {got}" if got is not None else ""))


@dataclass(frozen=True)
class ScenarioAgent:
    """One agent of the scenario, as the registry and the distributor's command line would carry it."""

    id: str
    role: str                                  # MINER | WALLET | DISTRIBUTOR | RELAY | SCRIPT
    attributes: Mapping[str, str] = field(default_factory=dict)
    weight: int = 0                            # miners: miners.json weight (hashrate)
    script: Optional[str] = None
    daemon: bool = False
    wallet: bool = False
    #: (key, value) of start_time / wait_time as written; the sandbox does not wait for them.
    timing: tuple[tuple[str, str], ...] = ()
    why_not_simulated: str = ""

    @property
    def receives(self) -> bool:
        """Monerosim's rule: a wallet agent with can_receive_distributions true is funded."""
        return self.wallet and parse_bool(self.attributes.get("can_receive_distributions", "false")) is True


@dataclass(frozen=True)
class Scenario:
    source: str
    form: str                                  # "list" or "map"
    agents: tuple[ScenarioAgent, ...]
    seed: int = DEFAULT_SEED
    stop_time: Optional[str] = None

    def _role(self, role: str) -> tuple[ScenarioAgent, ...]:
        return tuple(a for a in self.agents if a.role == role)

    @property
    def distributor(self) -> ScenarioAgent:
        return self._role(DISTRIBUTOR)[0]

    @property
    def miners(self) -> tuple[ScenarioAgent, ...]:
        return self._role(MINER)

    @property
    def wallets(self) -> tuple[ScenarioAgent, ...]:
        """Wallet agents that do not mine (Monerosim's users)."""
        return self._role(WALLET)

    @property
    def recipients(self) -> tuple[ScenarioAgent, ...]:
        """Everyone the distributor's initial funding must reach, miners included."""
        return tuple(a for a in self.miners + self.wallets if a.receives)

    @property
    def not_simulated(self) -> tuple[ScenarioAgent, ...]:
        return self._role(RELAY) + self._role(SCRIPT)


# -- reading --------------------------------------------------------------------------------

class _TextLoader(yaml.SafeLoader):
    """Safe YAML where every scalar stays the string written (merge keys `<<` still work)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:merge"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_scenario(path: Union[str, Path]) -> Scenario:
    """Read and check a scenario file; ScenarioError (one line) for anything that is not one."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ScenarioError(source, "(file)", "a readable file", exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise ScenarioError(source, "(file)", "UTF-8 text (YAML)", "binary data") from None
    return parse_scenario(text, source)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        doc = yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "(file)", "YAML (a Monerosim scenario)", f"a YAML error{where}: {problem}") from None
    return _Reader(source).scenario(doc)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


class _Reader:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, expected: str, got: Any = None, *, text: Optional[str] = None) -> ScenarioError:
        return ScenarioError(self.source, path, expected, text if text is not None else _kind(got))

    def mapping(self, value: Any, path: str, expected: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, expected, value)
        return value

    def scalar(self, value: Any, path: str) -> str:
        if isinstance(value, (dict, list)) or value is None:
            raise self.fail(path, "a single value (Monerosim passes attributes as strings)", value)
        return str(value)

    def optional_text(self, cfg: dict, key: str, path: str) -> Optional[str]:
        return self.scalar(cfg[key], f"{path}.{key}") if key in cfg and cfg[key] != "" else None

    def whole(self, value: Any, path: str, expected: str) -> int:
        text = self.scalar(value, path).strip()
        try:
            number = Decimal(text)
            ok = number.is_finite() and number == number.to_integral_value() and number >= 0
        except (InvalidOperation, ValueError):
            ok = False
        if not ok or len(text) > 30:
            raise self.fail(path, expected, text=repr(text))
        return int(number)

    def hashrate(self, attributes: Mapping[str, str], path: str) -> int:
        """A miner's miners.json weight: its hashrate, DEFAULT_WEIGHT when it has none."""
        raw = attributes.get("hashrate")
        if raw is None:
            return DEFAULT_WEIGHT
        return self.whole(raw, path, "a whole number >= 0 (the miner's share of the hash rate)")

    def timing(self, cfg: dict, path: str) -> tuple[tuple[str, str], ...]:
        out = []
        for key in _TIMING:
            if key in cfg:
                value = self.scalar(cfg[key], f"{path}.{key}")
                try:
                    parse_duration(value)
                except ValueError:
                    raise self.fail(f"{path}.{key}", "a duration ('0s', '4200', '70m', '2h')",
                                    text=repr(value)) from None
                out.append((key, value))
        return tuple(out)

    def attribute_map(self, value: Any, path: str) -> dict[str, str]:
        if value is None or value == "":
            return {}
        raw = self.mapping(value, path, "a mapping of attribute names to values")
        return {str(k): self.scalar(v, f"{path}.{k}") for k, v in raw.items()}

    # -- the document ----------------------------------------------------------------------

    def scenario(self, doc: Any) -> Scenario:
        top = self.mapping(doc, "(top level)", "a mapping with 'general' and 'agents' (a Monerosim scenario)")
        if "agents" not in top:
            raise self.fail("agents", "the scenario's agents (a list under agents.user_agents, or a mapping of "
                                      "agent ids)", text="no 'agents' key")
        agents_doc = self.mapping(top["agents"], "agents", "a mapping: agent ids to settings (map form) or "
                                                           "user_agents: [...] (list form)")
        general = top.get("general") or {}
        general = self.mapping(general, "general", "a mapping (stop_time, simulation_seed, ...)")
        seed = DEFAULT_SEED
        if general.get("simulation_seed", "") != "":
            seed = self.whole(general["simulation_seed"], "general.simulation_seed", "a whole number >= 0")
        stop = self.optional_text(general, "stop_time", "general")
        if isinstance(agents_doc.get("user_agents"), list):
            form, agents = "list", self.list_form(agents_doc)
        else:
            form, agents = "map", self.map_form(agents_doc)
        if not agents:
            raise self.fail("agents", "at least one agent", text="none")
        self.check(agents)
        return Scenario(self.source, form, tuple(_default_weights(agents)), seed, stop)

    def check(self, agents: list[ScenarioAgent]) -> None:
        distributors = [a.id for a in agents if a.role == DISTRIBUTOR]
        if len(distributors) != 1:
            raise self.fail("agents", "exactly one distributor entry (script agents.miner_distributor or "
                                      "fsm_distributor)", text=f"{len(distributors)} among {len(agents)} agents"
                            + (f" ({', '.join(distributors)})" if distributors else ""))
        if not any(a.role == MINER for a in agents):
            raise self.fail("agents", "at least one miner with a wallet (hashrate, is_miner true, or script "
                                      "agents.autonomous_miner)", text="none")

    # -- map form -------------------------------------------------------------------------

    def map_form(self, agents_doc: dict) -> list[ScenarioAgent]:
        return [self.map_agent(str(aid), cfg) for aid, cfg in agents_doc.items()]

    def map_agent(self, aid: str, cfg: Any) -> ScenarioAgent:
        path = f"agents.{aid}"
        cfg = self.mapping(cfg, path, "a mapping of the agent's settings (daemon, wallet, script, ...)")
        script = self.optional_text(cfg, "script", path)
        wallet = "wallet" in cfg and cfg["wallet"] != "" or any(_PHASE_KEY.match(str(k)) and str(k).startswith(
            "wallet") for k in cfg)
        # a mapping is a remote daemon: such an agent is wallet-only
        daemon = isinstance(cfg.get("daemon"), str) and cfg["daemon"] != "" or any(
            _PHASE_KEY.match(str(k)) and str(k).startswith("daemon") for k in cfg)
        attributes = {str(k): self.scalar(v, f"{path}.{k}") for k, v in cfg.items()
                      if str(k) not in PROCESS_KEYS and not _PHASE_KEY.match(str(k))}
        attributes.update(self.attribute_map(cfg.get("attributes"), f"{path}.attributes"))
        timing = self.timing(cfg, path)
        if script in DISTRIBUTOR_SCRIPTS:
            return ScenarioAgent(aid, DISTRIBUTOR, attributes, script=script, daemon=daemon, wallet=wallet,
                                 timing=timing)
        if "can_receive_distributions" in attributes:
            flag = parse_bool(attributes["can_receive_distributions"])
            if flag is None:
                raise self.fail(f"{path}.can_receive_distributions", "true or false (also yes/no, 1/0, on/off)",
                                text=repr(attributes["can_receive_distributions"]))
            # Monerosim writes the flag into the registry only when it is true
            del attributes["can_receive_distributions"]
            if flag:
                attributes["can_receive_distributions"] = "true"
        miner = ("hashrate" in cfg or script in MINER_SCRIPTS
                 or parse_bool(attributes.get("is_miner", "false")) is True)
        weight = 0
        if miner:
            where = f"{path}.hashrate" if "hashrate" in cfg else f"{path}.attributes.hashrate"
            weight = self.hashrate(attributes, where)
        attributes["is_miner"] = "true" if miner else "false"
        return self.classify(aid, attributes, script, daemon, wallet, weight, timing, miner)

    def classify(self, aid, attributes, script, daemon, wallet, weight, timing, miner) -> ScenarioAgent:
        if miner and wallet:
            role, why = MINER, ""
        elif wallet:
            role, why = WALLET, ""
        elif miner:
            role, why = RELAY, "a miner without a wallet (its blocks pay no wallet the distributor can use)"
        elif daemon and script is None:
            role, why = RELAY, "daemon-only relay"
        elif script is not None:
            role, why = SCRIPT, "a daemon and a script but no wallet" if daemon else "script-only agent"
        else:
            raise self.fail(f"agents.{aid}", "at least one of daemon, wallet, script", text="none of them")
        return ScenarioAgent(aid, role, attributes, weight=weight if role == MINER else 0, script=script,
                             daemon=daemon, wallet=wallet, timing=timing, why_not_simulated=why)

    # -- list form ------------------------------------------------------------------------

    def list_form(self, agents_doc: dict) -> list[ScenarioAgent]:
        agents = [self.list_agent(i, entry) for i, entry in enumerate(agents_doc["user_agents"])]
        md = agents_doc.get("miner_distributor")
        if md not in (None, ""):
            cfg = self.mapping(md, "agents.miner_distributor", "a mapping (script, attributes)")
            script = self.optional_text(cfg, "script", "agents.miner_distributor") or "agents.miner_distributor"
            agents.append(ScenarioAgent("minerdistributor", DISTRIBUTOR, self.attribute_map(
                cfg.get("attributes"), "agents.miner_distributor.attributes"), script=script))
        bc = agents_doc.get("block_controller")
        if bc not in (None, ""):
            cfg = self.mapping(bc, "agents.block_controller", "a mapping (script, ...)")
            agents.append(ScenarioAgent("blockcontroller", SCRIPT, script=self.optional_text(
                cfg, "script", "agents.block_controller"), why_not_simulated="block controller: the sandbox mines "
                                                                              "the blocks itself, by miner weight"))
        scripts = agents_doc.get("pure_script_agents") or []
        if not isinstance(scripts, list):
            raise self.fail("agents.pure_script_agents", "a list of scripts", scripts)
        for i, entry in enumerate(scripts):
            cfg = self.mapping(entry, f"agents.pure_script_agents[{i}]", "a mapping (script, arguments)")
            agents.append(ScenarioAgent(f"script{i:03d}", SCRIPT, script=self.optional_text(
                cfg, "script", f"agents.pure_script_agents[{i}]"), why_not_simulated="script-only agent"))
        return agents

    def list_agent(self, index: int, entry: Any) -> ScenarioAgent:
        path = f"agents.user_agents[{index}]"
        cfg = self.mapping(entry, path, "a mapping (daemon, wallet, user_script, attributes)")
        aid = f"user{index:03d}"
        attributes = self.attribute_map(cfg.get("attributes"), f"{path}.attributes")
        for key, value in cfg.items():  # unknown keys are passed through as attributes
            if str(key) not in LIST_KEYS:
                attributes.setdefault(str(key), self.scalar(value, f"{path}.{key}"))
        script = self.optional_text(cfg, "user_script", path)
        wallet = cfg.get("wallet", "") != ""
        daemon = cfg.get("daemon", "") != ""
        timing = self.timing(cfg, path)
        if script in DISTRIBUTOR_SCRIPTS:
            return ScenarioAgent(aid, DISTRIBUTOR, attributes, script=script, daemon=daemon, wallet=wallet,
                                 timing=timing)
        top = parse_bool(cfg["is_miner"]) if "is_miner" in cfg else None
        miner = top if top is not None else parse_bool(attributes.get("is_miner", "false")) is True
        weight = self.hashrate(attributes, f"{path}.attributes.hashrate") if miner else 0
        return self.classify(aid, attributes, script, daemon, wallet, weight, timing, miner)


def _default_weights(agents: list[ScenarioAgent]) -> list[ScenarioAgent]:
    """Monerosim's miners.json rule: when every weight is 0, each miner weighs DEFAULT_WEIGHT."""
    if any(a.weight for a in agents if a.role == MINER):
        return agents
    return [ScenarioAgent(a.id, a.role, a.attributes, DEFAULT_WEIGHT, a.script, a.daemon, a.wallet, a.timing,
                          a.why_not_simulated) if a.role == MINER else a for a in agents]

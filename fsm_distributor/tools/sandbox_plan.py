"""What the sandbox runs: its own default network, or a Monerosim scenario mapped onto regtest.

A scenario's miners get a wallet-rpc each and mine by their hashrate weights;
its wallet agents are the users, each with its own wallet-rpc, or, above
`--max-wallets`, stand-ins: subaddresses of a few shared wallets; relays and
script-only agents are written into the registry but not run; the distributor
entry is run as this agent with that entry's attributes, as Monerosim passes
them.  Start and wait times are not waited for.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Optional

from fsm_distributor.core.config import Config, ConfigError, load_config
from fsm_distributor.tools.agent_run import DEFAULT_ATTRIBUTES
from fsm_distributor.tools.regtest import HOST, RegtestNetwork, network_kwargs
from fsm_distributor.core.config import parse_bool

ATOMIC = 10**12
DEFAULT_TRANSACTIONS = 20
DEFAULT_SEED = 12345
DEFAULT_MAX_WALLETS = 16
#: Stand-ins per shared wallet (a wallet scans each output against its subaddress table: cheap).
STAND_INS_PER_WALLET = 250
#: About one regtest block's reward in the first thousand blocks (35.18 XMR at height 30, docs/wallet-facts.md).
BLOCK_REWARD = 35 * ATOMIC
#: Coinbase mined beyond what the funding costs: change is locked for 10 blocks after each send.
FUNDS_MARGIN = 1.6
#: A payment every transaction_frequency seconds runs in real time: how many the sandbox waits for.
SCENARIO_PAYMENTS_QUICK, SCENARIO_PAYMENTS_SLOW, QUICK_FREQUENCY = 2, 1, 90.0


class PlanError(Exception):
    """The run cannot be planned (bad scenario, bad attribute, bad flags); `str()` is the one line."""


@dataclass
class Plan:
    """The network to start, the agent to run on it, and when the run has done its job."""

    network: dict                          # RegtestNetwork keyword arguments
    agent_id: str
    attributes: dict[str, str]
    config: Config
    seed: int
    #: default network: stop after this many sends (a batch counts once); scenario: 0
    sends: int = 0
    #: scenario in payments mode: distribution payments to wait for after initial funding
    payments: int = 0
    notes: list[str] = field(default_factory=list)
    scenario: Optional[dict] = None        # for summary.json

    def eligible(self, net: RegtestNetwork) -> list[str]:
        """Who initial funding must reach: wallet agents marked can_receive_distributions (Monerosim's rule)."""
        if not self.config.initial_funding:
            return []
        return [n.id for n in net.nodes.values() if n.role in ("miner", "user") and n.id != self.agent_id
                and parse_bool(n.attributes.get("can_receive_distributions", "false")) is True]


def make_plan(args: argparse.Namespace) -> Plan:
    if args.scenario:
        if any(getattr(args, k) is not None for k in ("miners", "users", "weights")):
            raise PlanError("--miners, --users and --weights do not go with --scenario (the scenario names "
                            "the agents)")
        return scenario_plan(args)
    return default_plan(args)


def _config(attributes: dict[str, str], who: str) -> Config:
    try:
        return load_config(attributes)
    except ConfigError as exc:
        raise PlanError(f"{who}: {exc}") from None


def default_plan(args: argparse.Namespace) -> Plan:
    args.miners = 2 if args.miners is None else args.miners
    args.users = 8 if args.users is None else args.users
    try:
        network = network_kwargs(args)
    except SystemExit as exc:
        raise PlanError(str(exc)) from None
    attributes = {**DEFAULT_ATTRIBUTES, **dict(args.attribute)}
    network.update(distributor_id="distributor", distributor_attributes=attributes)
    return Plan(network, "distributor", attributes, _config(attributes, "--attribute"),
                DEFAULT_SEED if args.seed is None else args.seed,
                sends=DEFAULT_TRANSACTIONS if args.transactions is None else args.transactions)


def scenario_plan(args: argparse.Namespace) -> Plan:
    try:
        from fsm_distributor.tools.scenario import ScenarioError, load_scenario
    except ImportError as exc:  # PyYAML is a dependency of the tools, not of the agent
        raise PlanError(f"--scenario needs PyYAML ({exc}); install it with: pip install "
                        "'fsm_distributor[tools]' (or make setup)") from None
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise PlanError(str(exc)) from None
    dist = sc.distributor
    attributes = {**dict(dist.attributes), **dict(args.attribute)}
    config = _config(attributes, f"the distributor entry agents.{dist.id}")
    users = sc.wallets
    own = len(sc.miners) + len(users)
    shared = 0
    if own > args.max_wallets and users:
        shared = max(1, min(math.ceil(len(users) / STAND_INS_PER_WALLET), args.max_wallets - len(sc.miners)))
    payments = 0
    if config.distribution_mode == "payments" and config.transaction_frequency is not None:
        payments = args.transactions if args.transactions is not None else (
            SCENARIO_PAYMENTS_QUICK if config.transaction_frequency <= QUICK_FREQUENCY else SCENARIO_PAYMENTS_SLOW)
    eligible = len(sc.recipients) if config.initial_funding else 0
    need = eligible * config.outputs_per_recipient * config.output_amount + payments * config.max_amount
    network = dict(
        miners=[(m.id, m.weight, dict(m.attributes)) for m in sc.miners],
        users=[(u.id, dict(u.attributes)) for u in users], shared_wallets=shared, user_defaults=False,
        scripts={a.id: a.script for a in sc.miners + users if a.script},
        extra_registry_entries=[{"id": a.id, "ip_addr": HOST, "daemon": a.daemon, "wallet": a.wallet,
                                 "user_script": a.script, "attributes": dict(a.attributes)}
                                for a in sc.not_simulated],
        coinbase_blocks=max(args.coinbase_blocks, math.ceil(FUNDS_MARGIN * need / BLOCK_REWARD) + 20),
        distributor_id=dist.id, distributor_attributes=attributes)
    plan = Plan(network, dist.id, attributes, config, sc.seed if args.seed is None else args.seed,
                payments=payments)
    plan.notes = scenario_notes(sc, plan, shared, args)
    plan.scenario = {"file": sc.source, "form": sc.form, "stop_time": sc.stop_time,
                     "distributor": {"id": dist.id, "script": dist.script, "attributes": dict(dist.attributes)},
                     "miners": {m.id: m.weight for m in sc.miners}, "wallet_agents": len(users),
                     "recipients": len(sc.recipients),
                     "not_simulated": {a.id: a.why_not_simulated for a in sc.not_simulated},
                     "stand_ins": {"shared_wallets": shared, "users": len(users) if shared else 0},
                     "time_compressed": {f"{a.id}.{k}": v for a in sc.agents for k, v in a.timing}}
    return plan


def scenario_notes(sc, plan: Plan, shared: int, args: argparse.Namespace) -> list[str]:
    """What the sandbox makes of the scenario, said plainly (printed before the run)."""
    dist, cfg = sc.distributor, plan.config
    weights = "/".join(str(m.weight) for m in sc.miners)
    notes = [f"scenario {sc.source} ({sc.form} form): {len(sc.miners)} miner(s) (weights {weights}), "
             f"{len(sc.wallets)} wallet agent(s); {len(sc.recipients)} marked can_receive_distributions",
             f"distributor {dist.id!r} (script {dist.script}) runs as this agent with its "
             f"{len(dist.attributes)} attribute(s) as Monerosim passes them"
             + (f", overridden by --attribute {', '.join(k for k, _ in args.attribute)}" if args.attribute else ""),
             f"SIMULATION_SEED {plan.seed}" + (" (--seed)" if args.seed is not None else
                                               " (general.simulation_seed)" if sc.seed != DEFAULT_SEED else
                                               " (Monerosim's default)")]
    if sc.not_simulated:
        notes.append("not simulated: " + ", ".join(f"{a.id} ({a.why_not_simulated})" for a in sc.not_simulated))
    wait = dict(dist.timing).get("wait_time")
    others = sum(1 for a in sc.agents if a is not dist for _ in a.timing)
    notes.append("time is compressed: the distributor starts as soon as every agent is up and the miners' "
                 "coinbase is unlocked, not at its wait_time (" + (f"{wait} in this file" if wait else
                                                                  "Monerosim's default 14400 s")
                 + ")" + (f", and {others} start time(s) of other agents are not waited for" if others else "")
                 + "; its own intervals run in real time")
    if shared:
        notes.append(f"stand-ins: {len(sc.wallets)} wallet agents are more than --max-wallets {args.max_wallets} "
                     f"allows, so they are subaddresses of {shared} shared wallet(s), written into the registry "
                     "as their wallet_address (no wallet-rpc of their own); the on-chain check counts each one's "
                     "incoming transfers by subaddress")
    if cfg.distribution_mode == "payments" and cfg.transaction_frequency is None:
        notes.append("transaction_frequency off: no single payments; stops after initial funding")
    elif cfg.distribution_mode == "payments":
        notes.append(f"after initial funding: stops after {plan.payments} payment(s) (transaction_frequency "
                     f"{cfg.transaction_frequency:g} s runs in real time; --transactions N for more)")
    else:
        notes.append(f"stops after initial funding: the funding cycles every md_funding_cycle_interval "
                     f"({cfg.funding_cycle_interval:g} s) are not waited for")
    return notes


def build_network(args: argparse.Namespace, plan: Plan) -> RegtestNetwork:
    return RegtestNetwork(args.workdir, keep_workdir=True, **plan.network)

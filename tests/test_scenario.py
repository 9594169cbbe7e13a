"""The scenario reader (both of Monerosim's forms, bad files) and how the sandbox maps a scenario onto regtest.

No network is started here: tests/regtest/test_scenario_onchain.py runs scenarios on real wallets.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fsm_distributor.tools.scenario import DISTRIBUTOR, MINER, RELAY, SCRIPT, WALLET, ScenarioError, load_scenario, \
    parse_scenario
from fsm_distributor.tools.sandbox import build_parser
from fsm_distributor.tools.sandbox_plan import PlanError, build_network, make_plan

ROOT = Path(__file__).resolve().parents[1]
SEED_EXAMPLE = ROOT / "examples" / "scenarios" / "seed-design.yaml"
SMALL_MAP = ROOT / "examples" / "scenarios" / "small-map.yaml"
SEED_DISTRIBUTOR = {"transaction_frequency": "60", "min_transaction_amount": "0.1", "max_transaction_amount": "1.0",
                    "miner_selection_strategy": "weighted", "transaction_priority": "1", "max_retries": "3",
                    "recipient_selection": "random"}

MAP_MINIMAL = """
general: {simulation_seed: 7}
agents:
  miner-001: {daemon: monerod, wallet: monero-wallet-rpc, script: agents.autonomous_miner, hashrate: 20}
  user-001: {daemon: monerod, wallet: monero-wallet-rpc, script: agents.regular_user, can_receive_distributions: true}
  miner-distributor: {script: agents.miner_distributor, wait_time: 14400, md_output_amount: 5}
"""


def parse(text: str):
    return parse_scenario(textwrap.dedent(text), "t.yaml")


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse(text)
    message = str(info.value)
    assert "\n" not in message and message.startswith("t.yaml: "), message
    return message


# -- the list form: the seed design's own example --------------------------------------------

def test_the_seed_designs_example_reads_as_written():
    sc = load_scenario(SEED_EXAMPLE)
    assert sc.form == "list" and sc.seed == 12345 and sc.stop_time == "3h"
    assert [(a.id, a.role) for a in sc.agents] == [
        ("user000", MINER), ("user001", MINER), ("user002", DISTRIBUTOR),
        ("blockcontroller", SCRIPT), ("script000", SCRIPT), ("script001", SCRIPT)]
    assert [m.weight for m in sc.miners] == [25, 25]
    assert dict(sc.miners[0].attributes) == {"is_miner": "true", "hashrate": "25"}
    assert sc.distributor.id == "user002" and sc.distributor.script == "agents.miner_distributor"
    assert dict(sc.distributor.attributes) == SEED_DISTRIBUTOR
    assert sc.recipients == () and sc.wallets == ()
    assert {a.script for a in sc.not_simulated} == {"agents.block_controller", "scripts.monitor",
                                                    "scripts.sync_check"}


def test_list_form_flags_pass_verbatim_and_unknown_keys_become_attributes():
    sc = parse("""
        agents:
          user_agents:
            - {daemon: monerod, wallet: w, is_miner: true, attributes: {hashrate: "30"}}
            - {daemon: monerod, wallet: w, attributes: {is_miner: "yes", hashrate: "10"}}
            - {daemon: monerod, wallet: w, user_script: agents.regular_user, location: Paris,
               attributes: {can_receive_distributions: "Yes"}}
            - {daemon: monerod, wallet: w, user_script: agents.regular_user,
               attributes: {can_receive_distributions: "maybe"}}
            - {daemon: monerod, user_script: agents.miner_distributor, attributes: {md_out_per_tx: "3"}}
    """)
    assert [m.weight for m in sc.miners] == [30, 10]
    assert sc.wallets[0].attributes == {"can_receive_distributions": "Yes", "location": "Paris"}
    assert sc.wallets[1].attributes["can_receive_distributions"] == "maybe"   # as Monerosim writes it
    assert [a.id for a in sc.recipients] == ["user002"]                        # "maybe" is false for the agent
    assert dict(sc.distributor.attributes) == {"md_out_per_tx": "3"}


def test_list_form_with_a_miner_distributor_section():
    sc = parse("""
        agents:
          user_agents: [{daemon: monerod, wallet: w, attributes: {is_miner: "true"}}]
          miner_distributor: {script: agents.miner_distributor, attributes: {md_n_recipients: "4"}}
    """)
    assert sc.distributor.id == "minerdistributor" and dict(sc.distributor.attributes) == {"md_n_recipients": "4"}
    assert sc.miners[0].weight == 10   # no hashrate: Monerosim's default weight


# -- the map form ------------------------------------------------------------------------------

def test_small_map_form_scenario():
    sc = load_scenario(SMALL_MAP)
    assert sc.form == "map" and sc.seed == 4242 and sc.stop_time == "8h"
    roles = {a.id: a.role for a in sc.agents}
    assert roles == {"miner-001": MINER, "miner-002": MINER, **{f"user-00{i}": WALLET for i in range(1, 7)},
                     "relay-001": RELAY, "miner-distributor": DISTRIBUTOR, "simulation-monitor": SCRIPT}
    assert [(m.id, m.weight) for m in sc.miners] == [("miner-001", 60), ("miner-002", 40)]
    # the flag is written only when true, whatever its spelling (true, yes, "True")
    assert [a.id for a in sc.recipients] == ["miner-001", "user-001", "user-002", "user-003", "user-004", "user-005"]
    assert dict(sc.miners[0].attributes) == {"hashrate": "60", "can_receive_distributions": "true", "is_miner": "true"}
    assert dict(sc.wallets[0].attributes) == {"transaction_interval": "60", "activity_start_time": "18000",
                                              "can_receive_distributions": "true", "is_miner": "false"}
    user4 = next(a for a in sc.wallets if a.id == "user-004")
    assert user4.wallet and not user4.daemon   # a remote daemon: wallet-only
    dist = sc.distributor
    # its extra keys, as written; not script nor wait_time (when Shadow starts it, not an attribute)
    assert dict(dist.attributes) == {"md_n_recipients": "3", "md_out_per_tx": "3", "md_output_amount": "2.5",
                                     "transaction_priority": "1", "balance_check_interval": "2"}
    assert dist.timing == (("wait_time", "4200"),)
    assert {a.id: a.why_not_simulated for a in sc.not_simulated} == {
        "relay-001": "daemon-only relay", "simulation-monitor": "script-only agent"}


def test_map_form_unknown_keys_are_attributes_and_the_attributes_map_merges():
    sc = parse("""
        agents:
          m: {daemon: monerod, wallet: w, hashrate: "5", turnover: false, daemon_0: monerod, daemon_0_start: 1h}
          u: {wallet: w, fancy_new_knob: 3.25, attributes: {city: Lyon}}
          d: {script: fsm_distributor.cli, min_transaction_amount: "0.000000000001", foo: bar}
    """)
    assert dict(sc.miners[0].attributes) == {"hashrate": "5", "turnover": "false", "is_miner": "true"}
    assert dict(sc.wallets[0].attributes) == {"fancy_new_knob": "3.25", "city": "Lyon", "is_miner": "false"}
    assert dict(sc.distributor.attributes) == {"min_transaction_amount": "0.000000000001", "foo": "bar"}


def test_weights_follow_monerosims_miners_json():
    zero = """
        agents:
          a: {daemon: monerod, wallet: w, hashrate: 0}
          b: {daemon: monerod, wallet: w, script: agents.autonomous_miner, hashrate: 0}
          d: {script: agents.miner_distributor}
    """
    assert [(m.id, m.weight) for m in parse(zero).miners] == [("a", 10), ("b", 10)]   # all 0: 10 each
    # a miner by its script but without a hashrate weighs 10; then the total is not 0 and 0 stays 0
    assert [m.weight for m in parse(zero.replace("autonomous_miner, hashrate: 0}", "autonomous_miner}")).miners] == [0, 10]


# -- bad files: one clear line each -------------------------------------------------------------

@pytest.mark.parametrize("text, path, expected", [
    ("agents: [unclosed", "(file)", "YAML"),
    ("- just\n- a list\n", "(top level)", "a mapping with 'general' and 'agents'"),
    ("general: {stop_time: 1h}\n", "agents", "the scenario's agents"),
    ("agents: {}\n", "agents", "at least one agent"),
    ("agents: {user_agents: []}\n", "agents", "at least one agent"),
    (MAP_MINIMAL.replace("hashrate: 20", "hashrate: fast"), "agents.miner-001.hashrate", "a whole number >= 0"),
    (MAP_MINIMAL.replace("hashrate: 20", "hashrate: -3"), "agents.miner-001.hashrate", "a whole number >= 0"),
    (MAP_MINIMAL.replace("  miner-distributor: {script: agents.miner_distributor, wait_time: 14400, "
                         "md_output_amount: 5}\n", ""), "agents", "exactly one distributor entry"),
    (MAP_MINIMAL + "  other: {script: fsm_distributor}\n", "agents", "exactly one distributor entry"),
    (MAP_MINIMAL.replace("can_receive_distributions: true", "can_receive_distributions: maybe"),
     "agents.user-001.can_receive_distributions", "true or false"),
    (MAP_MINIMAL.replace("md_output_amount: 5", "md_output_amount: {xmr: 5}"),
     "agents.miner-distributor.md_output_amount", "a single value"),
    (MAP_MINIMAL.replace("wait_time: 14400", "wait_time: soon"), "agents.miner-distributor.wait_time",
     "a duration"),
    (MAP_MINIMAL.replace("simulation_seed: 7", "simulation_seed: 1.5"), "general.simulation_seed",
     "a whole number"),
    (MAP_MINIMAL.replace("hashrate: 20", "hashrate: 20, wallet: ''"), "agents",
     "at least one miner with a wallet"),
    ("agents:\n  x: 3\n  d: {script: agents.miner_distributor}\n", "agents.x", "a mapping of the agent's settings"),
    ("agents:\n  user_agents:\n    - {daemon: monerod, wallet: w, attributes: {is_miner: 'true', hashrate: lots}}\n"
     "    - {daemon: monerod, user_script: agents.miner_distributor}\n",
     "agents.user_agents[0].attributes.hashrate", "a whole number >= 0"),
])
def test_a_bad_file_gets_one_clear_error(text, path, expected):
    message = error_of(text)
    assert f": {path}: expected {expected}" in message, message


def test_the_errors_say_what_was_found():
    assert error_of(MAP_MINIMAL.replace("hashrate: 20", "hashrate: fast")).endswith("got 'fast'")
    assert "0 among 2 agents" in error_of(MAP_MINIMAL.replace(
        "  miner-distributor: {script: agents.miner_distributor, wait_time: 14400, md_output_amount: 5}\n", ""))
    assert "at line 1" in error_of("agents: [unclosed")


def test_unreadable_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"\(file\): expected a readable file"):
        load_scenario(tmp_path / "missing.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00agents")
    with pytest.raises(ScenarioError, match="expected UTF-8 text"):
        load_scenario(binary)


# -- the plan: the scenario mapped onto regtest --------------------------------------------------

def plan_for(*argv):
    args = build_parser().parse_args(list(argv))
    return args, make_plan(args)


def test_the_distributor_entry_is_run_with_exactly_its_attributes_and_seed(tmp_path):
    args, plan = plan_for("--scenario", str(SMALL_MAP), "--workdir", str(tmp_path / "w"))
    assert plan.agent_id == "miner-distributor" and plan.seed == 4242
    assert plan.attributes == {"md_n_recipients": "3", "md_out_per_tx": "3", "md_output_amount": "2.5",
                               "transaction_priority": "1", "balance_check_interval": "2"}  # no sandbox defaults
    assert plan.config.distribution_mode == "funding_cycle" and plan.payments == 0 and plan.sends == 0
    net = build_network(args, plan)
    assert sorted(plan.eligible(net)) == ["miner-001", "user-001", "user-002", "user-003", "user-004", "user-005"]
    entries = {e["id"]: e for e in net.registry_entries()}
    assert "can_receive_distributions" not in entries["user-006"]["attributes"]
    assert entries["miner-001"]["attributes"] == {"hashrate": "60", "can_receive_distributions": "true",
                                                  "is_miner": "true"}
    assert entries["user-001"]["user_script"] == "agents.regular_user"
    assert entries["relay-001"]["daemon"] and not entries["relay-001"]["wallet"]
    assert entries["simulation-monitor"]["user_script"] == "agents.simulation_monitor"
    assert entries["miner-distributor"]["attributes"] == plan.attributes
    assert not net.stand_ins and [n.id for n in net.wallet_nodes] == [
        "miner-001", "miner-002"] + [f"user-00{i}" for i in range(1, 7)]
    assert any("time is compressed" in n and "(4200 in this file), and 9 start time(s)" in n for n in plan.notes)
    assert any("not simulated: relay-001 (daemon-only relay)" in n for n in plan.notes)


def test_above_max_wallets_users_are_subaddress_stand_ins(tmp_path):
    args, plan = plan_for("--scenario", str(SMALL_MAP), "--max-wallets", "5", "--workdir", str(tmp_path / "w"))
    net = build_network(args, plan)
    assert [n.id for n in net.wallet_nodes] == ["miner-001", "miner-002", "shared-wallet-1"]
    assert len(net.stand_ins) == 6 and {n.host for n in net.stand_ins} == {"shared-wallet-1"}
    entries = {e["id"]: e for e in net.registry_entries()}
    assert "shared-wallet-1" not in entries
    stand_in = entries["user-001"]
    assert stand_in["wallet"] is True and "wallet_address" in stand_in and "wallet_rpc_port" not in stand_in
    assert net.wallet_of("user-001") == "shared-wallet-1" and net.wallet_of("miner-001") == "miner-001"
    assert any("stand-ins" in n and "subaddresses of 1 shared wallet" in n for n in plan.notes)


def test_coinbase_covers_the_funding(tmp_path):
    users = "\n".join(f"  u{i}: {{wallet: w, can_receive_distributions: true}}" for i in range(300))
    scenario = tmp_path / "big.yaml"
    scenario.write_text("agents:\n  m: {daemon: monerod, wallet: w, hashrate: 1}\n"
                        "  d: {script: agents.miner_distributor, md_output_amount: 5}\n" + users + "\n")
    args, plan = plan_for("--scenario", str(scenario))
    # 300 recipients x 2 outputs x 5 XMR = 3000 XMR; a block pays about 35 XMR
    assert plan.network["coinbase_blocks"] * 35 >= 3000 * 1.5
    assert plan.network["shared_wallets"] == 2


def test_the_seed_example_plans_payments_in_real_time():
    _, plan = plan_for("--scenario", str(SEED_EXAMPLE))
    assert plan.attributes == SEED_DISTRIBUTOR and plan.agent_id == "user002" and plan.seed == 12345
    assert plan.config.distribution_mode == "payments" and plan.payments == 2   # every 60 s, real time
    assert any("time is compressed" in n and "Monerosim's default 14400 s" in n for n in plan.notes)
    assert {e["id"] for e in plan.network["extra_registry_entries"]} == {"blockcontroller", "script000", "script001"}
    _, plan = plan_for("--scenario", str(SEED_EXAMPLE), "--transactions", "5", "--seed", "9",
                       "--attribute", "transaction_frequency", "2")
    assert plan.payments == 5 and plan.seed == 9 and plan.attributes["transaction_frequency"] == "2"


@pytest.mark.parametrize("argv, message", [
    (["--scenario", str(SMALL_MAP), "--users", "3"], "do not go with --scenario"),
    (["--scenario", str(SMALL_MAP), "--attribute", "md_out_per_tx", "16"],
     "the distributor entry agents.miner-distributor: invalid attribute md_out_per_tx='16'"),
    (["--attribute", "transaction_priority", "9"], "--attribute: invalid attribute transaction_priority='9'"),
])
def test_plan_errors(argv, message):
    with pytest.raises(PlanError, match=message):
        plan_for(*argv)


def test_default_network_plan_is_todays():
    _, plan = plan_for()
    assert plan.sends == 20 and plan.seed == 12345 and plan.agent_id == "distributor"
    assert [m[0] for m in plan.network["miners"]] == ["miner001", "miner002"] and plan.network["users"] == 8


def test_the_agent_never_imports_the_tools():
    code = ("import sys, fsm_distributor.cli, fsm_distributor.__main__, fsm_distributor.machine; "
            "print(sorted(m for m in sys.modules if m in ('yaml',) or m.split('.')[-1] in "
            "('scenario', 'sandbox', 'sandbox_plan', 'regtest', 'onchain', 'diagram', 'trace')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

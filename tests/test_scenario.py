"""The scenario reader: both of Monerosim's forms, the seed design's example, bad files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fsm_distributor.scenario import DISTRIBUTOR, MINER, RELAY, SCRIPT, WALLET, ScenarioError, load_scenario, \
    parse_scenario

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

"""Tests for fsm_distributor.cli and __main__: the agent as Monerosim starts it.

Most tests run the agent as a subprocess, the way Monerosim's wrapper does,
on an empty shared directory (so it only ever waits: no wallet is needed),
and stop it with a signal.  Every subprocess is killed in a `finally`.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys

import pytest
from agent_processes import (PACKAGE_DIR, REQUIRED_KEYS, ROOT, AgentProcess, assert_stopped_cleanly, clean_env,
                             module_cmd)

from fsm_distributor import cli
from fsm_distributor.core.config import KNOWN_ATTRIBUTES, ConfigError

MONEROSIM_ARGS = [
    "--id", "distributor", "--shared-dir", "{shared}", "--rpc-host", "127.0.0.1", "--log-level", "DEBUG",
    "--daemon-rpc-port", "1", "--wallet-rpc-port", "2", "--p2p-port", "3", "--remote-daemon", "auto",
    "--daemon-selection-strategy", "random",
    "--attributes", "can_receive_distributions", "false",
    "--attributes", "max_retries", "3",
    "--attributes", "transaction_frequency", "60",
    "--tx-frequency", "30",
]


# ---------------------------------------------------------------- running the agent


@pytest.mark.timeout(30)
def test_exact_monerosim_command_line_runs_the_agent(tmp_path):
    argv = module_cmd("fsm_distributor", *[a.format(shared=tmp_path) for a in MONEROSIM_ARGS])
    # --shared-dir wins over $MONEROSIM_SHARED_DIR.
    env = clean_env(PYTHONPATH=str(ROOT), MONEROSIM_SHARED_DIR=str(tmp_path / "not-this-one"))
    agent = AgentProcess(argv, env=env, cwd=ROOT)
    try:
        status, took = agent.stop_when_idle(signal.SIGTERM)
    finally:
        agent.kill()
    assert_stopped_cleanly(agent, status, took)
    started = agent.first("agent_started")
    assert started["agent_id"] == "distributor" and started["level"] == "info"
    assert started["shared_dir"] == str(tmp_path)
    # The attribute wins over --tx-frequency; max_retries is read.
    assert started["config"]["transaction_frequency"] == 60.0
    assert started["config"]["max_retries"] == 3
    # Exactly the attributes the agent does not know are reported, at debug level.
    unknown = sorted({"can_receive_distributions", "max_retries", "transaction_frequency"} - KNOWN_ATTRIBUTES)
    ignored = [e for e in agent.events if e["event"] == "attribute_ignored"]
    assert [e["level"] for e in ignored] == ["debug"] * len(unknown)
    assert [e["message"] for e in ignored] == [f"Attribute {k} is not used by this agent" for k in unknown]
    unavailable = agent.first("registry_unavailable")
    assert str(tmp_path / "agent_registry.json") in unavailable["message"]


@pytest.mark.timeout(30)
def test_dotted_cli_module_runs_the_agent_and_uses_tx_frequency(tmp_path):
    argv = module_cmd("fsm_distributor.cli", "--id", "distributor", "--shared-dir", str(tmp_path),
                      "--log-level", "debug", "--attributes", "balance_check_interval", "300",
                      "--tx-frequency", "30")
    agent = AgentProcess(argv, env=clean_env(PYTHONPATH=str(ROOT)), cwd=tmp_path)
    try:
        status, took = agent.stop_when_idle(signal.SIGINT)
    finally:
        agent.kill()
    assert_stopped_cleanly(agent, status, took)
    config = agent.first("agent_started")["config"]
    assert config["transaction_frequency"] == 30.0
    assert config["balance_check_interval"] == 300.0


@pytest.mark.timeout(30)
def test_package_directory_as_a_script_from_another_cwd(tmp_path):
    # Monerosim's form for a script name without a dot: `python3 fsm_distributor ...`.
    # No PYTHONPATH: __main__.py must find its own package.  The shared dir
    # comes from $MONEROSIM_SHARED_DIR.
    shared = tmp_path / "shared"
    shared.mkdir()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    argv = [sys.executable, str(PACKAGE_DIR), "--id", "distributor", "--log-level", "DEBUG",
            "--attributes", "balance_check_interval", "300", "--attributes", "x_custom_setting", "8"]
    agent = AgentProcess(argv, env=clean_env(MONEROSIM_SHARED_DIR=str(shared)), cwd=workdir)
    try:
        status, took = agent.stop_when_idle(signal.SIGTERM)
    finally:
        agent.kill()
    assert_stopped_cleanly(agent, status, took)
    assert agent.first("agent_started")["shared_dir"] == str(shared)
    assert str(shared / "agent_registry.json") in agent.first("registry_unavailable")["message"]
    assert "x_custom_setting" in agent.first("attribute_ignored")["message"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_idle_exits_0_within_a_second(tmp_path, signum):
    argv = module_cmd("fsm_distributor", "--id", "distributor", "--shared-dir", str(tmp_path),
                      "--log-level", "DEBUG", "--attributes", "balance_check_interval", "300",
                      "--attributes", "some_unknown_attribute", "x")
    agent = AgentProcess(argv, env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        status, took = agent.stop_when_idle(signum)
    finally:
        agent.kill()
    assert_stopped_cleanly(agent, status, took)
    final = [e for e in agent.events if e["event"] == "transition"][-1]
    assert final["from"] == "Idle" and final["state"] == "Stopped"
    assert all(e["agent_id"] == "distributor" for e in agent.events)
    # JSON keys lead in a fixed order.
    assert all(list(e)[:5] == list(REQUIRED_KEYS) for e in agent.events)
    ignored = agent.first("attribute_ignored")
    assert ignored["message"] == "Attribute some_unknown_attribute is not used by this agent"


@pytest.mark.timeout(30)
def test_info_level_hides_debug_lines(tmp_path):
    argv = module_cmd("fsm_distributor", "--id", "d", "--shared-dir", str(tmp_path), "--log-level", "INFO",
                      "--attributes", "balance_check_interval", "300", "--attributes", "unknown_one", "1")
    agent = AgentProcess(argv, env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        status, took = agent.stop_when_idle(signal.SIGTERM)
    finally:
        agent.kill()
    assert_stopped_cleanly(agent, status, took)
    assert not [e for e in agent.events if e["level"] == "debug"]


# ---------------------------------------------------------------- refusing to start

INVALID = {
    "priority_7": (["--attributes", "transaction_priority", "7"], {},
                   ["transaction_priority", "'7'", "an integer 0-4"]),
    "strategy_bogus": (["--attributes", "miner_selection_strategy", "bogus"], {},
                       ["miner_selection_strategy", "'bogus'", "weighted | balance | random"]),
    "min_above_max": (["--attributes", "max_transaction_amount", "1", "--attributes",
                       "min_transaction_amount", "2"], {},
                      ["min_transaction_amount", "'2'", "at most max_transaction_amount (1.000000000000 XMR)"]),
    "negative_frequency": (["--attributes", "transaction_frequency", "-5"], {},
                           ["transaction_frequency", "'-5'", "negative", "a duration in seconds"]),
    "amount_abc": (["--attributes", "min_transaction_amount", "abc"], {},
                   ["min_transaction_amount", "'abc'", "not a number", "an amount in XMR"]),
    "seed_not_a_number": ([], {"SIMULATION_SEED": "notanumber"},
                          ["SIMULATION_SEED", "'notanumber'", "an integer"]),
    "seed_negative": ([], {"SIMULATION_SEED": "-99999999999"},
                      ["SIMULATION_SEED", "'-99999999999'", "an integer >= 0"]),
    "max_retries_0": (["--attributes", "max_retries", "0"], {}, ["max_retries", "'0'", "an integer 1-100"]),
    # Ids that cannot name this agent's files: once every cycle failed ("shared file name must be a plain
    # file name"), forever.
    "id_with_slash": (["--id", "a/b"], {}, ["--id='a/b'", "a path separator '/'", "a plain file-name part"]),
    "id_dot_dot": (["--id", "../x"], {}, ["--id='../x'", "a path separator '/'"]),
    "id_hidden": (["--id", ".hidden"], {}, ["--id='.hidden'", "starts with '.'", "not starting with '.'"]),
    "id_300_chars": (["--id", "x" * 300], {}, ["300 bytes long", "1-128 bytes of UTF-8"]),
    "id_empty": (["--id", ""], {}, ["--id=''", "(empty)"]),
    "id_control": (["--id", "a\tb"], {}, ["--id='a\\tb'", "a control character '\\t'", "no control characters"]),
    "attribute_twice": (["--attributes", "max_retries", "3", "--attributes", "max_retries", "5"], {},
                        ["max_retries='5'", "given twice: '3' and '5'", "each attribute at most once"]),
    "attribute_twice_same": (["--attributes", "fee_reserve", "1", "--attributes", "fee_reserve", "1"], {},
                             ["fee_reserve='1'", "given twice: '1' and '1'"]),
    "outputs_above_uint64": (["--attributes", "md_output_amount", "10000000", "--attributes", "md_out_per_tx", "2"],
                             {}, ["md_output_amount='10000000'", "at most 9223372.036854775807 XMR with md_out_per_tx 2",
                                  "uint64"]),
}


@pytest.fixture(scope="module")
def invalid_runs(tmp_path_factory):
    """Start every invalid configuration at once (each costs a Python start-up), then collect."""
    shared = tmp_path_factory.mktemp("shared")
    procs = {}
    try:
        for name, (args, env, _) in INVALID.items():
            argv = module_cmd("fsm_distributor", "--id", "distributor", "--shared-dir", str(shared),
                              "--log-level", "DEBUG", *args)
            procs[name] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                                           env=clean_env(PYTHONPATH=str(ROOT), **env))
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            results[name] = (proc.returncode, out.decode(), err.decode())
        return results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_configuration_exits_2_with_one_line(invalid_runs, case):
    status, out, err = invalid_runs[case]
    assert status == 2
    assert out == ""  # refused before anything runs or logs
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n")
    line = lines[0]
    assert line.startswith("fsm_distributor: invalid configuration: ")
    assert "accepted: " in line
    for word in INVALID[case][2]:
        assert word in line, (word, line)


# ---------------------------------------------------------------- in process


def test_rng_seed_is_monerosim_convention():
    digest = int(hashlib.sha256(b"distributor").hexdigest(), 16)
    assert cli.rng_seed(12345, "distributor") == 12345 + digest % 2**31
    assert cli.rng_seed(0, "a") != cli.rng_seed(0, "b")


def test_simulation_seed_from_environment():
    assert cli.simulation_seed({}) == 12345
    assert cli.simulation_seed({"SIMULATION_SEED": "42"}) == 42
    assert cli.simulation_seed({"SIMULATION_SEED": " 7 "}) == 7
    assert cli.simulation_seed({"SIMULATION_SEED": "0"}) == 0
    for bad in ("notanumber", "", "1.5", "-1"):
        with pytest.raises(ConfigError) as info:
            cli.simulation_seed({"SIMULATION_SEED": bad})
        assert info.value.attribute == "SIMULATION_SEED" and info.value.value == bad


def test_parser_accepts_every_flag_monerosim_may_pass():
    args = cli.agent_parser().parse_args([
        "--id", "d", "--shared-dir", "/x", "--rpc-host", "11.0.0.9", "--log-level", "debug",
        "--agent-rpc-port", "18081", "--daemon-rpc-port", "1", "--wallet-rpc-port", "2", "--p2p-port", "3",
        "--hash-rate", "25", "--stop-time", "3h", "--remote-daemon", "11.0.0.1:18081",
        "--daemon-selection-strategy", "round_robin",
        "--attributes", "b", "2", "--attributes", "a", "1", "--tx-frequency", "30"])
    assert args.log_level == "DEBUG"
    assert args.attributes == [["b", "2"], ["a", "1"]]
    assert (args.agent_rpc_port, args.daemon_rpc_port, args.wallet_rpc_port, args.p2p_port) == (18081, 1, 2, 3)
    assert args.tx_frequency == 30.0 and args.stop_time == "3h"


def test_parser_requires_id(capsys):
    with pytest.raises(SystemExit) as info:
        cli.agent_parser().parse_args(["--shared-dir", "/x"])
    assert info.value.code == 2
    assert "--id" in capsys.readouterr().err


def test_build_agent_merges_tx_frequency_and_attributes(tmp_path):
    parse = cli.agent_parser().parse_args
    _, config, wallets = cli.build_agent(parse(["--id", "d", "--shared-dir", str(tmp_path),
                                               "--tx-frequency", "45"]), {})
    wallets.close()
    assert config.transaction_frequency == 45.0
    _, config, wallets = cli.build_agent(parse(["--id", "d", "--shared-dir", str(tmp_path), "--tx-frequency",
                                                "45", "--attributes", "transaction_frequency", "2m"]), {})
    wallets.close()
    assert config.transaction_frequency == 120.0


def test_build_agent_seeds_the_rng_reproducibly(tmp_path):
    parse = cli.agent_parser().parse_args
    draws = []
    for env in ({"SIMULATION_SEED": "1"}, {"SIMULATION_SEED": "1"}, {"SIMULATION_SEED": "2"}):
        distributor, _, wallets = cli.build_agent(parse(["--id", "d", "--shared-dir", str(tmp_path)]), env)
        wallets.close()
        draws.append(int(distributor.deps.rng.integers(2**62)))
    assert draws[0] == draws[1] != draws[2]

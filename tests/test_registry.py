"""Tests for fsm_distributor.adapters.registry: parsing and joining Monerosim's
registries, and RegistryReader over a real SharedDir."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm_distributor.adapters.registry import RegistryReader
from fsm_distributor.core.config import parse_bool
from fsm_distributor.core.registry import (
    AGENT_REGISTRY,
    MAX_PROBLEMS,
    MINERS_REGISTRY,
    Agent,
    Miner,
    RegistryError,
    Snapshot,
    build_snapshot,
    join_miners,
    parse_agents,
)
from fsm_distributor.adapters.shared_state import (
    EmptyFileError,
    InvalidJSONError,
    MissingFileError,
    SharedDir,
    SharedIOError,
    SharedStateError,
    TruncatedJSONError,
)

ADDR_A = "4" + "A" * 94
ADDR_B = "4" + "B" * 94


def agent(agent_id, ip="11.0.0.1", port=28082, **extra) -> dict:
    entry = {"id": agent_id, "ip_addr": ip, "daemon": True, "wallet": True, "user_script": None,
             "attributes": {}}
    if port is not None:
        entry["wallet_rpc_port"] = port
    entry.update(extra)
    return entry


def agents_of(*entries) -> list[Agent]:
    parsed, problems = parse_agents({"agents": list(entries)})
    assert problems == []
    return parsed


def one_miner(entry: dict, registry: list[Agent]) -> tuple[Miner, list[str]]:
    miners, problems = join_miners({"miners": [entry]}, registry)
    assert len(miners) == 1
    return miners[0], problems


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize("text", ["true", "True", "TRUE", " true ", "1", "yes", "YES", "on", "On", True, 1])
def test_true_strings(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "False", "FALSE", "0", "no", "No", "off", "OFF", False, 0])
def test_false_strings(text):
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "maybe", "2", "tru", None, "t", "y"])
def test_neither(text):
    assert parse_bool(text) is None


def test_agent_flag_reads_string_booleans():
    a, = agents_of(agent("u1", attributes={"can_receive_distributions": "Yes", "is_miner": "off",
                                           "odd": "maybe"}))
    assert a.flag("can_receive_distributions") is True
    assert a.flag("is_miner") is False
    assert a.flag("odd") is False
    assert a.flag("absent") is False


# ---------------------------------------------------------------- parse_agents


def test_parse_agents_reads_monerosim_entries():
    data = {"agents": [
        agent("miner001", ip="11.0.0.1", port=28082, attributes={"is_miner": "true", "hashrate": "25"}),
        agent("user001", ip="11.0.0.2", port="28083", wallet_address=f"  {ADDR_A} "),
        {"id": "node001", "ip_addr": "11.0.0.3", "daemon": True, "wallet": False, "attributes": {}},
    ]}
    agents, problems = parse_agents(data)
    assert problems == []
    m, u, n = agents
    assert (m.id, m.ip_addr, m.wallet_rpc_port, m.wallet_address, m.has_wallet) == (
        "miner001", "11.0.0.1", 28082, None, True)
    assert m.attributes == {"is_miner": "true", "hashrate": "25"}
    assert m.endpoint == ("11.0.0.1", 28082)
    assert u.wallet_rpc_port == 28083 and u.wallet_address == ADDR_A
    assert (n.has_wallet, n.endpoint) == (False, None)


def test_agent_without_port_or_ip_has_no_endpoint():
    agents, problems = parse_agents({"agents": [agent("a", port=None), agent("b", ip=None),
                                                agent("c", ip=5)]})
    assert problems == [f"{AGENT_REGISTRY}: agent 'c' has invalid ip_addr 5 (accepted: a string such as "
                        f"'11.0.0.1'); its wallet cannot be reached"]
    assert [a.endpoint for a in agents] == [None, None, None]
    assert agents[0].has_wallet is True  # "wallet": true in the entry
    assert agents[2].ip_addr is None


def test_wallet_flag_strings_and_implied_wallets():
    agents, _ = parse_agents({"agents": [
        {"id": "a", "wallet": "true"},
        {"id": "b", "wallet": "no"},
        {"id": "c", "wallet": False, "wallet_rpc_port": 1},
        {"id": "d", "wallet_address": ADDR_A},
        {"id": "e", "wallet_address": "   "},
    ]})
    assert [a.has_wallet for a in agents] == [True, False, True, True, False]
    assert agents[4].wallet_address is None


@pytest.mark.parametrize("port", [0, -1, 65536, "abc", True, 1.5, [1], "28082x"])
def test_invalid_wallet_port_is_a_problem_naming_agent_and_value(port):
    agents, problems = parse_agents({"agents": [agent("u1", port=port)]})
    assert agents[0].wallet_rpc_port is None and agents[0].endpoint is None
    assert problems == [f"{AGENT_REGISTRY}: agent 'u1' has invalid wallet_rpc_port {port!r} "
                        f"(accepted: an integer 1-65535)"]


def test_bad_entries_are_skipped_and_good_ones_kept():
    agents, problems = parse_agents({"agents": [
        "junk", agent("good1"), {"ip_addr": "1.2.3.4"}, {"id": ""}, {"id": "  "}, {"id": 7},
        agent("good2"), None]})
    assert [a.id for a in agents] == ["good1", "good2"]
    assert problems == [
        f"{AGENT_REGISTRY}: entry 0 is not an object; skipped",
        f"{AGENT_REGISTRY}: entry 2 has no string 'id'; skipped",
        f"{AGENT_REGISTRY}: entry 3 has no string 'id'; skipped",
        f"{AGENT_REGISTRY}: entry 4 has no string 'id'; skipped",
        f"{AGENT_REGISTRY}: entry 5 has no string 'id'; skipped",
        f"{AGENT_REGISTRY}: entry 7 is not an object; skipped",
    ]


def test_duplicate_ids_keep_the_first_entry():
    agents, problems = parse_agents({"agents": [agent("u1", port=1), agent("u2", port=2),
                                                agent("u1", port=3)]})
    assert [(a.id, a.wallet_rpc_port) for a in agents] == [("u1", 1), ("u2", 2)]
    assert problems == [f"{AGENT_REGISTRY}: duplicate id 'u1' at entry 2; later entry skipped"]


def test_attributes_that_are_not_an_object_become_empty_with_a_problem():
    agents, problems = parse_agents({"agents": [agent("u1", attributes=["is_miner", "true"])]})
    assert agents[0].attributes == {}
    assert problems == [f"{AGENT_REGISTRY}: agent 'u1' has attributes that are an array, not an object; ignored"]


@pytest.mark.parametrize("field, value, problem", [
    ("ip_addr", 127001, "invalid ip_addr 127001 (accepted: a string such as '11.0.0.1'); its wallet cannot be "
                        "reached"),
    ("wallet_address", 12345, "invalid wallet_address 12345 (accepted: a string); ignored"),
    ("attributes", "is_miner", "attributes that are a string, not an object; ignored"),
    ("daemon_rpc_port", "x", "invalid daemon_rpc_port 'x' (accepted: an integer 1-65535); ignored"),
    ("daemon_rpc_port", 70000, "invalid daemon_rpc_port 70000 (accepted: an integer 1-65535); ignored"),
    ("wallet", "maybe", "invalid wallet 'maybe' (accepted: true/false/1/0/yes/no/on/off); taken as false"),
])
def test_each_wrong_typed_field_gets_one_precise_line(field, value, problem):
    agents, problems = parse_agents({"agents": [agent("u1", **{field: value}), agent("u2")]})
    assert problems == [f"{AGENT_REGISTRY}: agent 'u1' has {problem}"]
    assert [a.id for a in agents] == ["u1", "u2"]  # the entry is kept; only the field is dropped


def test_absent_and_null_fields_are_no_problem():
    entry = {"id": "u1", "ip_addr": None, "wallet_address": None, "attributes": None, "daemon_rpc_port": None}
    assert agents_of(entry)[0].endpoint is None


@pytest.mark.parametrize("data, message", [
    (None, "must be a JSON object with an 'agents' list, got null"),
    ([], "must be a JSON object with an 'agents' list, got an array"),
    ("agents", "must be a JSON object with an 'agents' list, got a string"),
    (3, "must be a JSON object with an 'agents' list, got a number"),
    ({}, "has no 'agents' list (keys: none)"),
    ({"agent": [], "x": 1}, "has no 'agents' list (keys: 'agent', 'x')"),
    ({"agents": None}, "'agents' must be a list, got null"),
    ({"agents": {}}, "'agents' must be a list, got an object"),
    ({"agents": {"u1": {"id": "u1"}}}, "'agents' must be a list, got an object"),
])
def test_registry_without_agent_list_is_a_registry_error_saying_what_it_got(data, message):
    with pytest.raises(RegistryError) as info:
        parse_agents(data)
    assert str(info.value) == f"{AGENT_REGISTRY}: {message}"


def test_problem_lines_are_capped_per_file_and_counted():
    agents = [agent("u1")] + [{"id": 7}] * 1000
    miners = [{"agent_id": f"ghost{i}", "weight": 1} for i in range(500)]
    snap = build_snapshot({"agents": agents}, {"miners": miners})
    assert snap.problems[:MAX_PROBLEMS] == tuple(f"{AGENT_REGISTRY}: entry {i} has no string 'id'; skipped"
                                                 for i in range(1, MAX_PROBLEMS + 1))
    assert snap.problems[MAX_PROBLEMS:] == tuple(f"{MINERS_REGISTRY}: miner 'ghost{i}' is not in "
                                                 f"{AGENT_REGISTRY}; skipped" for i in range(MAX_PROBLEMS))
    assert snap.problem_totals == ((AGENT_REGISTRY, 1000), (MINERS_REGISTRY, 500))


# ---------------------------------------------------------------- join_miners


@pytest.fixture
def registry() -> list[Agent]:
    return agents_of(
        agent("miner001", ip="11.0.0.1", port=28082, wallet_address=ADDR_A),
        agent("miner002", ip="11.0.0.2", port=28082),
        agent("user001", ip="11.0.0.3", port=28082),
    )


def test_join_by_agent_id(registry):
    miners, problems = join_miners({"miners": [
        {"agent_id": "miner001", "ip_addr": "11.0.0.1", "weight": 60},
        {"agent_id": "miner002", "ip_addr": "11.0.0.2", "weight": 40, "wallet_address": ADDR_B},
    ]}, registry)
    assert problems == []
    assert miners == [Miner("miner001", "11.0.0.1", 28082, 60.0, ADDR_A),
                      Miner("miner002", "11.0.0.2", 28082, 40.0, ADDR_B)]
    assert miners[0].endpoint == ("11.0.0.1", 28082)


def test_agent_id_wins_over_a_contradicting_ip(registry):
    miner, problems = one_miner({"agent_id": "miner002", "ip_addr": "11.0.0.1", "weight": 5}, registry)
    assert problems == []
    assert (miner.agent_id, miner.ip_addr) == ("miner002", "11.0.0.2")


def test_miner_not_in_registry_is_skipped(registry):
    miners, problems = join_miners({"miners": [{"agent_id": "ghost", "ip_addr": "11.0.0.1",
                                                "weight": 10}]}, registry)
    assert miners == []  # never joined by its ip to miner001
    assert problems == [f"{MINERS_REGISTRY}: miner 'ghost' is not in {AGENT_REGISTRY}; skipped"]


def test_join_by_ip_only_without_agent_id(registry):
    for entry in ({"ip_addr": "11.0.0.2", "weight": 30}, {"agent_id": "", "ip_addr": "11.0.0.2", "weight": 30},
                  {"agent_id": None, "ip_addr": "11.0.0.2", "weight": 30}):
        miner, problems = one_miner(entry, registry)
        assert problems == []
        assert (miner.agent_id, miner.wallet_rpc_port, miner.weight) == ("miner002", 28082, 30.0)


def test_ambiguous_ip_is_never_joined():
    local = agents_of(agent("miner001", ip="127.0.0.1", port=18082),
                      agent("miner002", ip="127.0.0.1", port=18083),
                      agent("user001", ip="127.0.0.1", port=18084))
    miners, problems = join_miners({"miners": [
        {"ip_addr": "127.0.0.1", "weight": 50},
        {"agent_id": "miner002", "ip_addr": "127.0.0.1", "weight": 50},
    ]}, local)
    assert [(m.agent_id, m.wallet_rpc_port) for m in miners] == [("miner002", 18083)]
    assert problems == [f"{MINERS_REGISTRY}: entry 0 has no agent_id and ip_addr '127.0.0.1' "
                        f"matches 3 agents (needs exactly 1); skipped"]


@pytest.mark.parametrize("bad_id", [5, True, ["miner002"], {"id": "miner002"}])
def test_agent_id_of_the_wrong_type_is_skipped_not_joined_by_ip(registry, bad_id):
    miners, problems = join_miners({"miners": [{"agent_id": bad_id, "ip_addr": "11.0.0.2", "weight": 1}]},
                                   registry)
    assert miners == []
    assert problems == [f"{MINERS_REGISTRY}: entry 0 has invalid agent_id {bad_id!r}; skipped"]


def test_no_agent_id_and_unknown_or_missing_ip_is_skipped(registry):
    miners, problems = join_miners({"miners": [{"ip_addr": "9.9.9.9", "weight": 1}, {"weight": 1}]},
                                   registry)
    assert miners == []
    assert "ip_addr '9.9.9.9' matches 0 agents" in problems[0]
    assert "ip_addr None matches 0 agents" in problems[1]


def test_miner_listed_twice_keeps_the_first(registry):
    miners, problems = join_miners({"miners": [
        {"agent_id": "miner001", "weight": 10},
        {"agent_id": "miner001", "weight": 90},
        {"ip_addr": "11.0.0.1", "weight": 70},
    ]}, registry)
    assert [(m.agent_id, m.weight) for m in miners] == [("miner001", 10.0)]
    assert problems == [f"{MINERS_REGISTRY}: miner 'miner001' listed twice; later entry skipped"] * 2


def test_non_object_miner_entries_are_skipped(registry):
    miners, problems = join_miners({"miners": ["miner001", None, {"agent_id": "miner002", "weight": 1}]},
                                   registry)
    assert [m.agent_id for m in miners] == ["miner002"]
    assert problems == [f"{MINERS_REGISTRY}: entry 0 is not an object; skipped",
                        f"{MINERS_REGISTRY}: entry 1 is not an object; skipped"]


@pytest.mark.parametrize("raw,weight", [(25, 25.0), ("25", 25.0), (" 12.5 ", 12.5), (0, 0.0), (33.3, 33.3)])
def test_good_weights(registry, raw, weight):
    miner, problems = one_miner({"agent_id": "miner001", "weight": raw}, registry)
    assert problems == []
    assert miner.weight == weight


@pytest.mark.parametrize("raw", [-1, -0.5, "-3", "abc", "", float("nan"), "NaN", float("inf"), "inf",
                                 True, False, [25], {"w": 1}, 10**400])
def test_bad_weights_become_zero_with_a_problem(registry, raw):
    miner, problems = one_miner({"agent_id": "miner001", "weight": raw}, registry)
    assert miner.weight == 0.0
    assert problems == [f"{MINERS_REGISTRY}: miner 'miner001' has invalid weight {raw!r} "
                        f"(accepted: a finite number >= 0); using 0"]


def test_missing_weight_becomes_zero_with_a_problem(registry):
    for entry in ({"agent_id": "miner002"}, {"agent_id": "miner002", "weight": None}):
        miner, problems = one_miner(entry, registry)
        assert miner.weight == 0.0
        assert problems == [f"{MINERS_REGISTRY}: miner 'miner002' has no weight; using 0"]


def test_miner_without_port_has_no_endpoint():
    local = agents_of(agent("miner001", port=None), agent("miner002", ip=None))
    miners, problems = join_miners({"miners": [{"agent_id": "miner001", "weight": 1},
                                               {"agent_id": "miner002", "weight": 1}]}, local)
    assert problems == []
    assert [m.endpoint for m in miners] == [None, None]


@pytest.mark.parametrize("data, message", [
    (None, "must be a JSON object with a 'miners' list, got null"),
    ([], "must be a JSON object with a 'miners' list, got an array"),
    ({}, "has no 'miners' list (keys: none)"),
    ({"miners": None}, "'miners' must be a list, got null"),
    ({"miners": {"a": 1}}, "'miners' must be a list, got an object"),
])
def test_miners_file_without_a_list_is_a_registry_error(registry, data, message):
    with pytest.raises(RegistryError) as info:
        join_miners(data, registry)
    assert str(info.value) == f"{MINERS_REGISTRY}: {message}"


def test_a_miners_wallet_address_of_the_wrong_type_is_a_problem(registry):
    miner, problems = one_miner({"agent_id": "miner001", "weight": 1, "wallet_address": 12345}, registry)
    assert miner.wallet_address == registry[0].wallet_address  # the registry entry's, as when absent
    assert problems == [f"{MINERS_REGISTRY}: miner 'miner001' has invalid wallet_address 12345 (accepted: a "
                        f"string); ignored"]


def test_build_snapshot_collects_everything():
    snap = build_snapshot(
        {"agents": [agent("miner001"), agent("miner001"), agent("user001", port=0)]},
        {"miners": [{"agent_id": "miner001", "weight": "abc"}, {"agent_id": "nobody", "weight": 1}]})
    assert isinstance(snap, Snapshot)
    assert [a.id for a in snap.agents] == ["miner001", "user001"]
    assert [m.agent_id for m in snap.miners] == ["miner001"]
    assert len(snap.problems) == 4
    assert "duplicate id 'miner001'" in snap.problems[0]
    assert "invalid wallet_rpc_port 0" in snap.problems[1]
    assert "invalid weight 'abc'" in snap.problems[2]
    assert "'nobody' is not in" in snap.problems[3]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "agent_id", "ip_addr", "weight", "wallet", "wallet_rpc_port",
                         "wallet_address", "attributes", "agents", "miners", "x"]), inner, max_size=6),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(json_values, json_values)
def test_build_snapshot_raises_nothing_but_registry_error(agent_data, miner_data):
    for a, m in ((agent_data, miner_data), ({"agents": agent_data}, {"miners": miner_data}),
                 ({"agents": [agent_data]}, {"miners": [miner_data]})):
        try:
            snap = build_snapshot(a, m)
        except RegistryError:
            continue
        for miner in snap.miners:
            assert math.isfinite(miner.weight) and miner.weight >= 0
            assert miner.agent_id in {x.id for x in snap.agents}
        for x in snap.agents:
            assert x.wallet_rpc_port is None or 0 < x.wallet_rpc_port < 65536


# ---------------------------------------------------------------- RegistryReader


@pytest.fixture
def shared(tmp_path) -> SharedDir:
    return SharedDir(tmp_path, poll_interval=0.001, lock_timeout=5)


def write_registries(shared: SharedDir, agents: list[dict], miners: list[dict]) -> None:
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": agents})
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": miners})


def test_reader_reads_and_caches(shared):
    write_registries(shared, [agent("miner001"), agent("user001", ip="11.0.0.2")],
                     [{"agent_id": "miner001", "ip_addr": "11.0.0.1", "weight": 100}])
    reader = RegistryReader(shared)
    snap, changed = reader.read()
    assert changed is True
    assert [m.agent_id for m in snap.miners] == ["miner001"] and len(snap.agents) == 2
    again, changed = reader.read()
    assert changed is False and again is snap


def test_reader_sees_an_atomic_replace(shared):
    write_registries(shared, [agent("miner001")], [{"agent_id": "miner001", "weight": 100}])
    reader = RegistryReader(shared)
    reader.read()
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": [agent("miner001", wallet_address=ADDR_A)]})
    snap, changed = reader.read()
    assert changed is True
    assert snap.miners[0].wallet_address == ADDR_A
    assert reader.read() == (snap, False)
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": [{"agent_id": "miner001", "weight": 7}]})
    snap, changed = reader.read()
    assert changed is True and snap.miners[0].weight == 7.0


def test_reader_keeps_problems_of_the_files(shared):
    write_registries(shared, [agent("miner001"), agent("miner002")],
                     [{"agent_id": "miner001", "weight": -5}, {"agent_id": "miner002", "weight": "25"}])
    snap, _ = RegistryReader(shared).read()
    assert [(m.agent_id, m.weight) for m in snap.miners] == [("miner001", 0.0), ("miner002", 25.0)]
    assert snap.problems == (f"{MINERS_REGISTRY}: miner 'miner001' has invalid weight -5 "
                             f"(accepted: a finite number >= 0); using 0",)


def test_reader_nan_literal_weight_is_zero_with_a_problem(shared):
    # Python writers' json.dump emits NaN; one bad weight must not hide every miner.
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": [agent("miner001"), agent("miner002")]})
    shared.path_of(MINERS_REGISTRY).write_text(
        '{"miners": [{"agent_id": "miner001", "weight": NaN}, '
        '{"agent_id": "miner002", "weight": 40}, {"agent_id": "miner003", "weight": Infinity}]}')
    reader = RegistryReader(shared)
    snap, changed = reader.read()
    assert changed is True
    assert [(m.agent_id, m.weight) for m in snap.miners] == [("miner001", 0.0), ("miner002", 40.0)]
    assert snap.problems[0] == (f"{MINERS_REGISTRY}: miner 'miner001' has invalid weight nan "
                                f"(accepted: a finite number >= 0); using 0")
    # The lenient parse is cached too: no change, no new snapshot.
    assert reader.read() == (snap, False)
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": [{"agent_id": "miner001", "weight": 1}]})
    snap2, changed = reader.read()
    assert changed is True and snap2.miners[0].weight == 1.0 and snap2.problems == ()


def test_reader_nan_in_agent_registry_keeps_the_agents(shared):
    shared.path_of(AGENT_REGISTRY).write_text(
        json.dumps({"agents": [agent("miner001", hash_rate=float("nan")), agent("user001")]}))
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": [{"agent_id": "miner001", "weight": 100}]})
    snap, _ = RegistryReader(shared).read()
    assert [a.id for a in snap.agents] == ["miner001", "user001"]
    assert [m.agent_id for m in snap.miners] == ["miner001"]


@pytest.mark.parametrize("content,error,words", [
    (b"", EmptyFileError, "is empty"),
    (b"  \n", EmptyFileError, "only whitespace"),
    (b'{"agents": [{"id": "miner001", "ip_a', TruncatedJSONError, "truncated"),
    (b'{"agents": [', TruncatedJSONError, "truncated"),
    (b"this is not json", InvalidJSONError, "not valid JSON"),
    (b'{"agents": []} trailing', InvalidJSONError, "not valid JSON"),
    (b"\xff\xfe{}", InvalidJSONError, "not UTF-8"),
    # Not readable even with NaN allowed: SharedDir's own complaint is kept.
    (b'{"agents": [NaN', InvalidJSONError, "contains NaN"),
])
def test_corrupt_agent_registry_raises_a_shared_state_error(shared, content, error, words):
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": []})
    shared.path_of(AGENT_REGISTRY).write_bytes(content)
    with pytest.raises(error) as info:
        RegistryReader(shared).read()
    assert isinstance(info.value, SharedStateError)
    assert AGENT_REGISTRY in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("name", [AGENT_REGISTRY, MINERS_REGISTRY])
def test_missing_registry_file_raises_missing_file_error(shared, name):
    write_registries(shared, [agent("miner001")], [])
    shared.path_of(name).unlink()
    with pytest.raises(MissingFileError, match=f"{name}: does not exist"):
        RegistryReader(shared).read()


@pytest.mark.parametrize("agent_json,miner_json,pattern", [
    ([agent("a")], {"miners": []}, r"agent_registry\.json: must be a JSON object with an 'agents' list, got an array"),
    ({"agents": "none"}, {"miners": []}, r"agent_registry\.json: 'agents' must be a list, got a string"),
    ({"agents": []}, [], r"miners\.json: must be a JSON object with a 'miners' list, got an array"),
    ({"agents": []}, {"miners": None}, r"miners\.json: 'miners' must be a list, got null"),
    ({"agents": []}, 42, r"miners\.json: must be a JSON object with a 'miners' list, got a number"),
])
def test_wrong_shape_raises_registry_error(shared, agent_json, miner_json, pattern):
    shared.write_json_atomic(AGENT_REGISTRY, agent_json)
    shared.write_json_atomic(MINERS_REGISTRY, miner_json)
    with pytest.raises(RegistryError, match=pattern):
        RegistryReader(shared).read()


def test_directory_instead_of_a_file_is_a_shared_io_error(shared):
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": []})
    shared.path_of(AGENT_REGISTRY).mkdir()
    with pytest.raises(SharedIOError):
        RegistryReader(shared).read()


def test_reader_recovers_after_a_corrupt_file_is_replaced(shared):
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": [{"agent_id": "miner001", "weight": 1}]})
    shared.path_of(AGENT_REGISTRY).write_bytes(b'{"agents": [')
    reader = RegistryReader(shared)
    with pytest.raises(TruncatedJSONError):
        reader.read()
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": [agent("miner001")]})
    snap, changed = reader.read()
    assert changed is True and [m.agent_id for m in snap.miners] == ["miner001"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode)
       | json_values.map(lambda v: json.dumps(v).encode()))
def test_reader_raises_only_registry_or_shared_state_errors(content):
    with tempfile.TemporaryDirectory() as d:
        shared = SharedDir(d)
        shared.write_json_atomic(MINERS_REGISTRY, {"miners": [{"agent_id": "a", "weight": 1}]})
        Path(d, AGENT_REGISTRY).write_bytes(content)
        try:
            snap, changed = RegistryReader(shared).read()
        except (RegistryError, SharedStateError) as exc:
            assert str(exc)
        else:
            assert changed is True and isinstance(snap, Snapshot)


# ---------------------------------------------------------------- info files


def test_info_address_prefers_user_info(shared):
    reader = RegistryReader(shared)
    assert reader.info_address("user001") is None
    shared.write_json_atomic("user001_miner_info.json", {"agent_id": "user001", "wallet_address": ADDR_B})
    assert reader.info_address("user001") == ADDR_B
    shared.write_json_atomic("user001_user_info.json", {"agent_id": "user001", "wallet_address": f" {ADDR_A}\n",
                                                        "agent_type": "regular_user"})
    assert reader.info_address("user001") == ADDR_A


@pytest.mark.parametrize("user_info", [{"agent_id": "u"}, {"wallet_address": ""}, {"wallet_address": "  "},
                                       {"wallet_address": 5}, ["wallet_address", ADDR_A], "x"])
def test_info_address_falls_back_to_miner_info(shared, user_info):
    shared.write_json_atomic("u_user_info.json", user_info)
    reader = RegistryReader(shared)
    assert reader.info_address("u") is None
    shared.write_json_atomic("u_miner_info.json", {"agent_id": "u", "wallet_address": ADDR_B,
                                                   "agent_type": "miner"})
    assert reader.info_address("u") == ADDR_B


def test_info_address_corrupt_file_raises_shared_state_error(shared):
    shared.path_of("u_user_info.json").write_bytes(b'{"wallet_address": "4')
    with pytest.raises(SharedStateError, match="u_user_info.json"):
        RegistryReader(shared).info_address("u")


def test_info_address_does_not_cache_across_changes(shared):
    reader = RegistryReader(shared)
    shared.write_json_atomic("m_miner_info.json", {"wallet_address": ADDR_A})
    assert reader.info_address("m") == ADDR_A
    shared.write_json_atomic("m_miner_info.json", {"wallet_address": ADDR_B})
    assert reader.info_address("m") == ADDR_B


def test_info_files_are_looked_up_by_id_not_ip(shared):
    # Two agents sharing 127.0.0.1 still have their own info files.
    shared.write_json_atomic("a_user_info.json", {"wallet_address": ADDR_A})
    shared.write_json_atomic("b_user_info.json", {"wallet_address": ADDR_B})
    reader = RegistryReader(shared)
    assert (reader.info_address("a"), reader.info_address("b")) == (ADDR_A, ADDR_B)
    assert os.path.exists(shared.path_of("a_user_info.json"))


# ---------------------------------------------------------------- speed-ups that must not change anything


def old_port(value):
    """`_port` before its fast path for ints (the reference)."""
    if isinstance(value, bool):
        return None
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return port if 0 < port < 65536 else None


@pytest.mark.parametrize("value", [28082, 1, 65535, 0, -1, 65536, 10**30, True, False, 8080.0, 8080.5,
                                   "28082", " 28082\n", "8080.0", "0x50", "80_80", "", None, [], {}, "abc"])
def test_port_fast_path_gives_what_the_str_round_trip_gave(value):
    from fsm_distributor.core.registry import _port
    assert _port(value) == old_port(value)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_port_matches_the_reference_for_any_json_value(value):
    from fsm_distributor.core.registry import _port
    assert _port(value) == old_port(value)


def test_agent_attributes_are_the_documents_own_dict_and_reading_mutates_nothing(shared):
    import copy
    write_registries(shared, [agent("miner001", attributes={"is_miner": "true"}),
                              agent("user001", attributes={"can_receive_distributions": "yes"}),
                              agent("user002", attributes=["not", "a", "dict"])],
                     [{"agent_id": "miner001", "weight": 1}])
    reader = RegistryReader(shared)
    snap, _ = reader.read()
    document = shared.read_json_cached(AGENT_REGISTRY)  # the cached parse the reader used
    before = copy.deepcopy(document)
    # Not copied (R6): safe because the cached document is never mutated by anyone.
    assert snap.agents[0].attributes is document["agents"][0]["attributes"]
    assert snap.agents[2].attributes == {}
    assert [a.flag("can_receive_distributions") for a in snap.agents] == [False, True, False]
    assert [a.id for a in snap.receivers] == ["user001"]
    reader.read()
    assert document == before

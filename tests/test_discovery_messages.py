"""What Discovering and SelectingMiner say about trouble that lasts: once, and precisely.

A registry file of a million bad entries (2,000,000 lines, 277 MB before) gets its first problems and one
summary line, not a line per entry; a miner left out because its built
transaction cannot be relayed (its wallet is down) is named once per build.
"""

from __future__ import annotations

import json
from dataclasses import replace

from structlog.testing import capture_logs

from fakes import make_world
from fsm_distributor.machine import Distributor
from fsm_distributor.core.registry import AGENT_REGISTRY, MAX_PROBLEMS, MINERS_REGISTRY
from fsm_distributor.adapters.registry import RegistryReader
from fsm_distributor.core.errors import WalletUnavailable
from fsm_distributor.adapters.shared_state import SharedDir


def run(world, steps: int) -> list:
    """`steps` steps, sleeping through every wait the machine asks for."""
    results = []
    for _ in range(steps):
        results.append(world.step())
        if results[-1].delay:
            world.clock.sleep(results[-1].delay)
    return results


def test_300_thousand_bad_entries_give_the_first_problems_and_one_summary_per_file(tmp_path):
    agents = [{"id": "m1", "ip_addr": "127.0.0.1", "wallet_rpc_port": 28001, "wallet": True}]
    agents += [{"id": f"a{i}", "ip_addr": 127001} for i in range(50_000)]  # a problem each
    miners = [{"agent_id": f"ghost{i}", "weight": 1} for i in range(300_000)]  # a problem each
    (tmp_path / AGENT_REGISTRY).write_text(json.dumps({"agents": agents}))
    (tmp_path / MINERS_REGISTRY).write_text(json.dumps({"miners": miners}))
    world = make_world(recovered=False)
    reader = RegistryReader(SharedDir(tmp_path))
    world.distributor = Distributor(replace(world.distributor.deps, registry=reader))
    with capture_logs() as logs:
        run(world, 3)  # Recovering -> Idle -> Discovering -> ...
    problems = [e for e in logs if e["event"] == "registry_problem"]
    summaries = [e for e in logs if e["event"] == "registry_problems_truncated"]
    assert len(problems) == 2 * MAX_PROBLEMS
    assert problems[0]["message"] == (f"{AGENT_REGISTRY}: agent 'a0' has invalid ip_addr 127001 (accepted: a "
                                      f"string such as '11.0.0.1'); its wallet cannot be reached")
    assert problems[-1]["message"] == (f"{MINERS_REGISTRY}: miner 'ghost{MAX_PROBLEMS - 1}' is not in "
                                       f"{AGENT_REGISTRY}; skipped")
    assert [(e["file"], e["total"], e["shown"], e["message"]) for e in summaries] == [
        (AGENT_REGISTRY, 50_000, MAX_PROBLEMS, f"{AGENT_REGISTRY}: 49980 more problems not shown (50000 in all)"),
        (MINERS_REGISTRY, 300_000, MAX_PROBLEMS, f"{MINERS_REGISTRY}: 299980 more problems not shown (300000 in all)")]
    with capture_logs() as logs:  # unchanged files: nothing said again
        world.mem.last_success_at = None
        run(world, 3)
    assert not [e for e in logs if e["event"].startswith("registry_problem")]


def test_a_miner_whose_build_cannot_be_relayed_is_named_once_not_every_cycle():
    world = make_world({"transaction_frequency": "10", "balance_check_interval": "10"}, weights=(100,))
    miner = world.miners["m1"]
    down = WalletUnavailable("relay_tx", "cannot reach 127.0.0.1:28001: ConnectionError")
    miner.fail_next("relay_tx", *[down] * 100)
    with capture_logs() as logs:
        run(world, 120)  # the first build, then many cycles and recoveries that cannot relay it
    [intent] = world.mem.open_intents()
    assert intent.status == "built" and miner.sent == []
    assert sum(e["event"] == "relay_deferred" for e in logs) > 3  # recovery kept trying
    assert sum(e["event"] == "no_miner_available" for e in logs) > 3  # the miner was left out each time
    [said] = [e for e in logs if e["event"] == "miner_waits_for_relay"]
    assert said["miner"] == "m1" and said["tx_hash"] == intent.tx_hash
    assert said["message"] == (f"Miner m1 is not used until its built transaction {intent.tx_hash} is relayed "
                               f"or fails (its wallet at 127.0.0.1:28001 is asked again by recovery); a second "
                               f"build would spend the same inputs")
    # The wallet is back: recovery relays the build, and the miner pays again.
    miner.script["relay_tx"] = []
    run(world, 60)
    assert len(miner.sent) >= 2 and len(world.ledger.records) >= 2

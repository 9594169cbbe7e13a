"""Recipient candidates follow the registry: a changed file gives the new candidates, a newcomer is paid."""

from __future__ import annotations

from types import SimpleNamespace

from fakes import make_world
from fsm_distributor.actions.batch_planning import fundable
from fsm_distributor.actions.recipient_selection import _next_after, eligible
from fsm_distributor.adapters.registry import RegistryReader
from fsm_distributor.adapters.shared_state import SharedDir
from fsm_distributor.core.config import Config
from fsm_distributor.core.cycle import Cycle, Payer
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose
from fsm_distributor.core.ports import Balance
from fsm_distributor.core.registry import AGENT_REGISTRY, MINERS_REGISTRY


def entry(i: int, wallet: bool, receives: bool) -> dict:
    return {"id": f"a{i}", "ip_addr": "127.0.0.1", "wallet": wallet,
            "attributes": {"can_receive_distributions": "true" if receives else "false"}}


def write(shared: SharedDir, agents: list, miners: list) -> None:
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": agents})
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": miners})


def test_a_changed_registry_yields_the_new_candidates(tmp_path):
    shared = SharedDir(tmp_path)
    miner = {"id": "m1", "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28001, "attributes": {}}
    me = entry(0, True, True) | {"id": "distributor"}
    users = [entry(1, True, True), entry(2, True, False), entry(3, False, True)]
    write(shared, [me, miner] + users, [{"agent_id": "m1", "weight": 1}])
    reader = RegistryReader(shared)
    deps = SimpleNamespace(agent_id="distributor", config=Config())
    snap, changed = reader.read()
    mem = Memory(snapshot=snap)
    payer = Payer(Cycle(1, Purpose.DISTRIBUTION, need=1), snap.miners[0], Balance(1, 1))
    assert [a.id for a in eligible(deps, mem, payer)] == ["a1", "a2"]
    assert [a.id for a in fundable(deps, mem)] == ["a1"]
    # Unchanged files: the same snapshot, and the lists it worked out are not made again.
    again, changed = reader.read()
    assert not changed and again is snap and again.with_wallet is snap.with_wallet
    assert again.receivers is snap.receivers

    # a1 loses its wallet, a2 now receives distributions, a3 gets a wallet, a4 joins.
    users = [entry(1, False, True), entry(2, True, True), entry(3, True, True), entry(4, True, True)]
    write(shared, [me, miner] + users, [{"agent_id": "m1", "weight": 1}])
    new, changed = reader.read()
    assert changed and new is not snap
    mem.snapshot = new
    assert [a.id for a in eligible(deps, mem, payer)] == ["a2", "a3", "a4"]
    assert [a.id for a in fundable(deps, mem)] == ["a2", "a3", "a4"]
    mem.round_robin_last = "a2"
    assert _next_after(mem, new, eligible(deps, mem, payer)).id == "a3"
    mem.round_robin_last = "a4"
    assert _next_after(mem, new, eligible(deps, mem, payer)).id == "a2", "wraps to the first"
    # The old snapshot is untouched (it may still be held by someone).
    assert [a.id for a in snap.with_wallet] == ["distributor", "m1", "a1", "a2"]


def test_the_machine_pays_an_agent_that_joins_the_registry():
    world = make_world({"transaction_frequency": "0", "recipient_selection": "round_robin"}, users=2)
    for _ in range(4):
        world.cycle()
    assert {r["recipient_id"] for r in world.ledger.records} <= {"m1", "m2", "u1", "u2"}
    newcomer = dict(world.registry.agents[-1], id="u9")
    world.registry.agents.append(newcomer)  # the fake registry makes a new snapshot on each read
    for _ in range(5):  # round robin over m1, m2, u1, u2, u9 minus the paying miner
        world.cycle()
    assert "u9" in {r["recipient_id"] for r in world.ledger.records[4:]}

"""Recipient candidates worked out once per registry snapshot (Snapshot's cached lists,
`registry.WalletAgents`) must give exactly what the per-cycle list comprehensions gave,
and follow the registry when it changes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import make_world
from fsm_distributor.actions.batch_planning import fundable
from fsm_distributor.actions.recipient_selection import _next_after, _pick, eligible
from fsm_distributor.context import Context
from fsm_distributor.registry import (AGENT_REGISTRY, MINERS_REGISTRY, RegistryReader, WalletAgents,
                                      build_snapshot)
from fsm_distributor.shared_state import SharedDir


# The implementations before the snapshot cached anything (the reference behaviour).
def old_eligible(snapshot, excluded):
    return [a for a in snapshot.agents if a.has_wallet and a.id not in excluded]


def old_next_after(snapshot, last_id, pool):
    order = {a.id: i for i, a in enumerate(snapshot.agents)}
    last = order.get(last_id, -1) if last_id is not None else -1
    after = [a for a in pool if order.get(a.id, -1) > last]
    return after[0] if after else pool[0]


def old_fundable(snapshot, agent_id):
    return [a for a in snapshot.agents if a.has_wallet and a.id != agent_id and a.flag("can_receive_distributions")]


def entry(i: int, wallet: bool, receives: bool) -> dict:
    return {"id": f"a{i}", "ip_addr": "127.0.0.1", "wallet": wallet,
            "attributes": {"can_receive_distributions": "true" if receives else "false"}}


registries = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=25).map(
    lambda flags: build_snapshot({"agents": [entry(i, w, r) for i, (w, r) in enumerate(flags)]}, {"miners": []}))


@settings(max_examples=300, deadline=None)
@given(snapshot=registries, excluded_ix=st.sets(st.integers(0, 30), max_size=8),
       cursor=st.one_of(st.none(), st.integers(0, 30)))
def test_wallet_agents_is_the_filtered_list_item_by_item(snapshot, excluded_ix, cursor):
    excluded = {f"a{i}" for i in excluded_ix} | {"not-in-registry"}
    want = old_eligible(snapshot, excluded)
    pool = WalletAgents(snapshot, excluded)
    assert len(pool) == len(want) and bool(pool) == bool(want)
    assert list(pool) == want
    assert [pool[k] for k in range(len(pool))] == want
    for bad in (len(want), -1):
        try:
            pool[bad]
        except IndexError:
            pass
        else:
            raise AssertionError(f"pool[{bad}] should raise IndexError")
    if want:
        last = f"a{cursor}" if cursor is not None else None
        assert pool.first_after(last) == old_next_after(snapshot, last, want)
    for agent_id in ("a0", "a3", "nobody"):
        assert fundable(SimpleNamespace(agent_id=agent_id), Context(snapshot=snapshot)) == \
            old_fundable(snapshot, agent_id)


@settings(max_examples=100, deadline=None)
@given(snapshot=registries, excluded_ix=st.sets(st.integers(0, 30), max_size=5), seed=st.integers(0, 2**32),
       strategy=st.sampled_from(["random", "round_robin"]))
def test_picks_are_the_same_as_before_for_the_same_seed(snapshot, excluded_ix, seed, strategy):
    excluded = {f"a{i}" for i in excluded_ix}
    want = old_eligible(snapshot, excluded)
    if not want:
        return
    old_rng, new_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    deps = SimpleNamespace(config=SimpleNamespace(recipient_strategy=strategy), rng=new_rng)
    ctx = Context(snapshot=snapshot)
    old_last = None
    for _ in range(10):
        if strategy == "round_robin":
            expected = old_next_after(snapshot, old_last, want)
            old_last = expected.id
        else:
            expected = want[int(old_rng.integers(len(want)))]
        assert _pick(deps, ctx, WalletAgents(snapshot, excluded)) == expected


def write(shared: SharedDir, agents: list[dict], miners: list[dict]) -> None:
    shared.write_json_atomic(AGENT_REGISTRY, {"agents": agents})
    shared.write_json_atomic(MINERS_REGISTRY, {"miners": miners})


def test_a_changed_registry_yields_the_new_candidates(tmp_path):
    shared = SharedDir(tmp_path)
    miner = {"id": "m1", "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28001, "attributes": {}}
    me = entry(0, True, True) | {"id": "distributor"}
    users = [entry(1, True, True), entry(2, True, False), entry(3, False, True)]
    write(shared, [me, miner] + users, [{"agent_id": "m1", "weight": 1}])
    reader = RegistryReader(shared)
    deps = SimpleNamespace(agent_id="distributor")
    snap, changed = reader.read()
    ctx = Context(snapshot=snap, miner=snap.miners[0])
    assert [a.id for a in eligible(deps, ctx)] == ["a1", "a2"]
    assert [a.id for a in fundable(deps, ctx)] == ["a1"]
    # Unchanged files: the same snapshot, and the lists it worked out are not made again.
    again, changed = reader.read()
    assert not changed and again is snap and again.with_wallet is snap.with_wallet
    assert again.receivers is snap.receivers

    # a1 loses its wallet, a2 now receives distributions, a3 gets a wallet, a4 joins.
    users = [entry(1, False, True), entry(2, True, True), entry(3, True, True), entry(4, True, True)]
    write(shared, [me, miner] + users, [{"agent_id": "m1", "weight": 1}])
    new, changed = reader.read()
    assert changed and new is not snap
    ctx.snapshot = new
    assert [a.id for a in eligible(deps, ctx)] == ["a2", "a3", "a4"]
    assert [a.id for a in fundable(deps, ctx)] == ["a2", "a3", "a4"]
    ctx.round_robin_last = "a2"
    assert _next_after(ctx, eligible(deps, ctx)).id == "a3"
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

"""issue 11 on the real regtest network: the fee priority follows a pool that another wallet fills,
the throttle engages above max_pool_kb, and `topup` brings a few recipients to target_balance,
never above it.

Each run gets a shared dir of its own whose registry names only the wallets it is about (the
session network's users already hold what earlier modules paid them)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.network import priority_for
from fsm_distributor.tools.regtest import HOST, write_json_locked

from .agent import Agent
from .conftest import MINERS

pytestmark = pytest.mark.regtest

XMR = 10**12
THRESHOLDS_KB = (12, 26, 40)
MAX_POOL_KB = 54


@pytest.fixture(scope="module")
def outputs(network):
    """Unlocked coinbase outputs for both miners (the filler and the payers spend a few dozen)."""
    network.mine(100)
    network.mine(60, to_agent=network.users[-1].id)
    network.refresh([m for m, _ in MINERS])
    return network


def own_shared_dir(net, path: Path, ids: list[str], weights: dict[str, int]) -> SimpleNamespace:
    """A shared dir whose registry holds only `ids` (and the distributor's entry)."""
    path.mkdir(parents=True)
    entries = [e for e in net.registry_entries() if e["id"] in ids or e["id"] == net.distributor_id]
    write_json_locked(path / "agent_registry.json", {"agents": entries})
    write_json_locked(path / "miners.json", {"miners": [
        {"agent_id": m, "ip_addr": HOST, "weight": w} for m, w in weights.items()]})
    return SimpleNamespace(shared_dir=path)


def pool_bytes(net) -> int:
    answer = requests.post(f"http://{HOST}:{net.daemon_port}/get_transaction_pool_stats", json={}, timeout=30).json()
    return int(answer["pool_stats"]["bytes_total"])


def fill_pool(net, filler: str, to: list[str], kb: float) -> int:
    """Relay `filler`'s 15-output transfers (6.8 kB each) until the pool holds `kb`; nothing is mined."""
    wallet = net.wallet(filler)
    destinations = [{"address": net.address(to[i % len(to)]), "amount": 10**9} for i in range(15)]
    for _ in range(30):
        size = pool_bytes(net)
        if size >= kb * 1000:
            return size
        wallet.call("transfer", {"destinations": destinations, "priority": 1, "ring_size": 16}, timeout=120)
    raise AssertionError(f"the pool did not reach {kb} kB")


def calls_per_payment(agent: Agent) -> dict:
    """What the agent's own lines say of its daemon reads (network_conditions.daemon_calls)."""
    lines = agent.events("network_conditions")
    paid = len(agent.events("tx_sent"))
    reads = [e["daemon_calls"] for e in lines if e["daemon_calls"]]
    return {"cycles": len(lines), "payments": paid, "reads": len(reads), "calls": sum(reads),
            "calls_per_read": sum(reads) / max(1, len(reads)), "calls_per_payment": sum(reads) / max(1, paid),
            "cycles_without_a_call": sum(1 for e in lines if not e["daemon_calls"])}


def test_the_priority_follows_the_pool_and_the_throttle_engages(outputs, tmp_path):
    net = outputs
    payees = [u.id for u in net.users[:6]]
    shared = own_shared_dir(net, tmp_path / "pool", ["miner001"] + payees, {"miner001": 100})
    payer = net.wallet("miner001")
    payer.call("auto_refresh", {"enable": False})  # it sees a block only when this test refreshes it
    attributes = {"fee_strategy": "pool_aware", "fee_thresholds_kb": ",".join(map(str, THRESHOLDS_KB)),
                  "max_pool_kb": str(MAX_POOL_KB), "transaction_priority": "1", "transaction_frequency": "1.5",
                  "min_transaction_amount": "1.1", "max_transaction_amount": "1.5", "initial_funding": "false",
                  "verification_interval": "600", "balance_check_interval": "2"}
    agent = Agent(shared, tmp_path, "distributor", attributes)
    steps = []
    try:
        assert agent.until(lambda: agent.records, 90), agent.tail()
        for priority, low in zip((2, 3, 4, None), THRESHOLDS_KB + (MAX_POOL_KB,)):
            net.mine(1)  # the pool so far goes into a block; the payer's wallet does not know yet
            filled = fill_pool(net, "miner002", payees, low + 1)
            mark = len(agent.records)
            payer.refresh()  # the new block reaches the payer: its next cycle reads the daemon
            if priority is not None:
                assert agent.until(lambda: any(r["priority"] == priority for r in agent.records[mark:]), 60), \
                    (priority, agent.tail())
            else:
                assert agent.until(lambda: [e for e in agent.events("network_conditions")
                                            if e["decision"] == "pool_full"], 60), agent.tail()
                throttled_at = len(agent.records)
                time.sleep(5)  # it keeps waiting while the pool stays full
                assert len(agent.records) <= throttled_at + 1, "single payments went out into a full pool"
            steps.append((priority, filled))
        net.mine(2)  # the blocks drain the pool
        mark = len(agent.records)
        payer.refresh()
        assert agent.until(lambda: any(r["priority"] == 1 for r in agent.records[mark:]), 60), agent.tail()
    finally:
        payer.call("auto_refresh", {"enable": True})
        agent.stop()
    records = agent.records
    thresholds = [kb * 1000 for kb in THRESHOLDS_KB]
    for record in records:  # each decision follows the pool it saw, which is in its record
        assert record["fee_strategy"] == "pool_aware" and record["pool_kb"] is not None, record
        assert record["priority"] == priority_for(round(record["pool_kb"] * 1000), 1, thresholds), record
    order = [r["priority"] for r in records]
    assert [p for i, p in enumerate(order) if i == 0 or p != order[i - 1]] == [1, 2, 3, 4, 1], order
    fees = {r["priority"]: r["fee"] for r in records}
    assert fees[4] > 100 * fees[1] and fees[1] < fees[2] < fees[3] < fees[4], fees
    full = [e for e in agent.events("network_conditions") if e["decision"] == "pool_full"]
    assert full and all(e["pool_kb"] > MAX_POOL_KB and "max_pool_kb" in e["reason"] for e in full), full
    assert [e for e in agent.events("transition") if e["trigger"] == "pool_full" and e["to"] == "Idle"]
    figures = calls_per_payment(agent)
    print(f"\npool steps {steps}; priorities {order}; daemon reads {figures}")
    # at most one read per height the payer's wallet saw (the first cycle, four fills, the drain), none
    # within a block
    read_at = [e["height"] for e in agent.events("network_conditions") if e["daemon_calls"]]
    assert len(read_at) == len(set(read_at)) >= 6, read_at
    assert figures["cycles_without_a_call"] == figures["cycles"] - len(read_at), figures


def test_topup_brings_every_recipient_to_the_target_and_never_above(outputs, tmp_path):
    net = outputs
    net.mine(2)  # nothing of earlier tests left in the pool
    candidates = [u.id for u in net.users[6:-1]]
    net.refresh(candidates)
    start = {u: net.wallet(u).get_balance().total for u in candidates}
    ranked = sorted(candidates, key=lambda u: start[u])
    spread, at = min((start[ranked[i + 3]] - start[ranked[i]], i) for i in range(len(ranked) - 3))
    chosen = ranked[at:at + 4]
    low, high = XMR // 10, XMR // 2
    target = max(start[u] for u in chosen) + 275 * XMR // 100  # six payments each: 5 x 0.5 + 0.25
    shared = own_shared_dir(net, tmp_path / "topup", [m for m, _ in MINERS] + chosen, dict(MINERS))
    attributes = {"amount_strategy": "topup", "target_balance": format(Decimal(target) / XMR, "f"),
                  "min_transaction_amount": format_xmr(low), "max_transaction_amount": format_xmr(high),
                  "initial_funding": "false", "transaction_frequency": "0.3", "verification_interval": "1",
                  "balance_check_interval": "2"}
    agent = Agent(shared, tmp_path, "distributor", attributes)
    try:
        last_change, count, next_block = time.monotonic(), 0, time.monotonic() + 2
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            agent.read()
            if len(agent.records) != count:
                count, last_change = len(agent.records), time.monotonic()
            if count >= 20 and time.monotonic() - last_change > 10:
                break  # every recipient is full: nothing was paid for a while
            if time.monotonic() >= next_block:
                net.mine(1)
                net.refresh(chosen + [m for m, _ in MINERS])
                next_block = time.monotonic() + 2
            assert agent.process.poll() is None, agent.tail()
            time.sleep(0.2)
    finally:
        agent.stop()
    net.mine(2)
    net.refresh(chosen)
    final = {u: net.wallet(u).get_balance().total for u in chosen}
    records = agent.records
    paid = {u: sum(r["amount_atomic"] for r in records if r["recipient_id"] == u) for u in chosen}
    report = {u: (format_xmr(start[u]), format_xmr(paid[u]), format_xmr(final[u])) for u in chosen}
    print(f"\ntopup to {format_xmr(target)} XMR from balances {spread / XMR:.3f} XMR apart: {len(records)} payments; "
          f"(start, paid, end) {json.dumps(report)}; daemon reads {calls_per_payment(agent)}")
    assert len(records) >= 20, agent.tail()
    assert {r["recipient_id"] for r in records} <= set(chosen) | {m for m, _ in MINERS}
    assert all(r["strategy"] == "topup" and low <= r["amount_atomic"] <= high for r in records)
    for user in chosen:
        assert final[user] == start[user] + paid[user], (user, report)  # nothing else paid them
        assert target - low <= final[user] <= target, (user, report)
    assert agent.events("recipient_full"), "recipients at the target were skipped"

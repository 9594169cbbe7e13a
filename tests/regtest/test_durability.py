"""Exactly once under the faults a real run meets besides SIGKILL, on the real regtest network.

A miner's wallet-rpc restarted from an older copy of its wallet file (it
forgets the pooled payment), the agent's journal damaged or deleted between
runs, transactions.json truncated by another writer, and two distributors with
different ids on the same miners.  After each, every user must have received
exactly what one funding pays (two 5-XMR outputs per funding agent) and every
record must match the chain.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter

import pytest
import requests

from fsm_distributor.adapters.journal import read_journal
from fsm_distributor.tools.sandbox import read_records

from .agent import Agent
from .conftest import MINERS

pytestmark = pytest.mark.regtest

XMR = 10**12
FUNDING = {"md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "5", "initial_funding": "true",
           "distribution_mode": "funding_cycle", "md_funding_cycle_interval": "100000",
           "balance_check_interval": "1", "verification_interval": "1", "transaction_priority": "1"}


@pytest.fixture(scope="module")
def net(fresh_outputs):
    """Enough unlocked outputs for seven fundings of 30 users (5 transactions, ~10 inputs each)."""
    fresh_outputs.mine(80)
    fresh_outputs.mine(60, to_agent=fresh_outputs.users[-1].id)
    fresh_outputs.refresh([m for m, _ in MINERS])
    return fresh_outputs


def received(net, agent_id: str) -> Counter:
    """user -> how many 5-XMR outputs this agent's recorded transactions paid it, from the users' wallets."""
    hashes = {r["tx_hash"] for r in records_of(net, agent_id)}
    net.refresh([u.id for u in net.users])
    got: Counter = Counter()
    for user in net.users:
        answer = net.wallet(user.id).call("get_transfers", {"in": True, "pool": True})
        for t in answer.get("in", []) + answer.get("pool", []):
            if t["txid"] in hashes:
                got[user.id] += t["amount"] // (5 * XMR)
    return got


def records_of(net, agent_id: str) -> list[dict]:
    return [r for r in read_records(net.shared_dir) if r.get("distributor_id") == agent_id]


def locate(net, hashes) -> dict[str, str]:
    """tx_hash -> pool | chain | missing, from monerod."""
    body = requests.post(f"http://127.0.0.1:{net.daemon_port}/get_transactions",
                         json={"txs_hashes": sorted(hashes)}, timeout=30).json()
    found = {t["tx_hash"]: ("pool" if t["in_pool"] else "chain") for t in body.get("txs", [])}
    return {h: found.get(h, "missing") for h in hashes}


def fund(net, workdir, agent_id: str, *, seed: int = 99) -> Agent:
    agent = Agent(net, workdir, agent_id, FUNDING, seed=seed)
    agent.wait_for("initial_funding_complete", timeout=90)
    return agent


def restart_and_settle(net, workdir, agent_id: str, seconds: float = 4.0) -> Agent:
    """Start the agent again and let it run: recovery, verification, anything it would pay."""
    agent = Agent(net, workdir, agent_id, FUNDING, seed=99)
    agent.wait_for("journal_loaded", timeout=60)
    agent.until(lambda: False, timeout=seconds)
    return agent


def assert_funded_once(net, agent_id: str) -> None:
    records = records_of(net, agent_id)
    assert sorted(r["recipient_id"] for r in records) == sorted(u.id for u in net.users), "each user once"
    assert set(locate(net, {r["tx_hash"] for r in records}).values()) <= {"pool", "chain"}
    assert received(net, agent_id) == Counter({u.id: 2 for u in net.users}), "two 5-XMR outputs each, no more"


def test_a_miner_wallet_restarted_from_an_older_file_forgets_a_pooled_payment_and_nobody_is_paid_again(net, tmp_path):
    miners = [m for m, _ in MINERS]
    for miner in miners:  # the "older copy": the wallet files as they are before the payments
        net.wallet(miner).call("store")
        shutil.copytree(net.shared_dir / f"{miner}_wallet", tmp_path / f"{miner}_wallet.old")
    agent = fund(net, tmp_path, "forgetful")
    hashes = {r["tx_hash"] for r in records_of(net, "forgetful")}
    assert set(locate(net, hashes).values()) == {"pool"}
    for miner in miners:
        net.stop_wallet(miner)
        shutil.rmtree(net.shared_dir / f"{miner}_wallet")
        shutil.copytree(tmp_path / f"{miner}_wallet.old", net.shared_dir / f"{miner}_wallet")
        net.start_wallet(miner)
    forgotten = [h for h in hashes for m in miners if _wallet_unknown(net, m, h)]
    assert forgotten, "the restored wallets must not know the pooled payments"
    agent.until(lambda: False, timeout=6)  # many verification rounds (verification_interval 1 s)
    assert not agent.events("tx_verification_failed"), agent.tail()
    assert agent.stop() == 0
    again = restart_and_settle(net, tmp_path, "forgetful")
    assert not again.events("tx_verification_failed") and not again.events("tx_sent"), again.tail()
    net.mine(1)
    assert again.until(lambda: len(again.events("tx_confirmed")) == len(hashes), 30), again.tail()
    assert again.stop() == 0
    journal = read_journal(net.shared_dir / "forgetful_distributor_journal.jsonl")
    assert {i.status for i in journal.values()} == {"confirmed"}
    assert {r["status"] for r in records_of(net, "forgetful")} == {"confirmed"}
    assert_funded_once(net, "forgetful")


def _wallet_unknown(net, miner: str, tx_hash: str) -> bool:
    answer = requests.post(f"http://127.0.0.1:{net.nodes[miner].port}/json_rpc", timeout=30, json={
        "jsonrpc": "2.0", "id": "0", "method": "get_transfer_by_txid", "params": {"txid": tx_hash}}).json()
    return answer.get("error", {}).get("code") == -8


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "garbage": lambda path: path.write_bytes(b"\x00\xffnot a journal\x7f" * 40),
    "wrong shape": lambda path: path.write_text('{"intents": 5}'),
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_journal_damaged_between_runs_funds_nobody_twice(net, tmp_path, damage):
    agent_id = f"healer-{damage.replace(' ', '-')}"
    assert fund(net, tmp_path, agent_id).stop() == 0
    journal = net.shared_dir / f"{agent_id}_distributor_journal.jsonl"
    DAMAGE[damage](journal)
    again = restart_and_settle(net, tmp_path, agent_id)
    try:
        [rebuilt] = again.events("journal_rebuilt")
        # Every line lost (or the file gone): all five from the records; cut in half: what it lost.
        assert rebuilt["sources"]["transactions.json"] >= (1 if damage == "truncated" else 5)
        assert rebuilt["level"] == "error"
        assert again.events("initial_funding_complete") and not again.events("tx_sent"), again.tail()
    finally:
        assert again.stop() == 0
    corrupt = list(net.shared_dir.glob(f"{agent_id}_distributor_journal.corrupt-*.jsonl"))
    if damage == "truncated":  # looks like a crash in the middle of an append: the torn line is dropped, said
        assert again.events("journal_torn_tail") and not corrupt
    elif damage != "deleted":
        assert corrupt, "set aside, kept"
    assert_funded_once(net, agent_id)


def test_transactions_json_truncated_by_another_writer_gets_this_agents_records_back(net, tmp_path):
    assert fund(net, tmp_path, "survivor").stop() == 0
    path = net.shared_dir / "transactions.json"
    before = json.loads(path.read_text())
    mine = sorted(json.dumps(r, sort_keys=True) for r in before if r.get("distributor_id") == "survivor")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])  # another writer's crash mid-write
    whole_before_cut = [r for r in before if json.dumps(r, separators=(",", ":")).encode() in data[: int(len(data) * 0.7)]]
    again = restart_and_settle(net, tmp_path, "survivor", seconds=2)
    try:
        assert again.events("ledger_restored"), again.tail()
        assert not again.events("tx_sent")
    finally:
        assert again.stop() == 0
    after = json.loads(path.read_text())
    assert sorted(json.dumps(r, sort_keys=True) for r in after if r.get("distributor_id") == "survivor") == mine
    others_kept = [r for r in after if r.get("distributor_id") != "survivor"]
    assert [r for r in whole_before_cut if r.get("distributor_id") != "survivor"] == others_kept, \
        "every whole record of the other writers before the cut is kept, in order"
    assert list(net.shared_dir.glob("transactions.corrupt-*.json")), "the damaged bytes are kept"


def test_two_distributors_with_different_ids_on_the_same_miners_never_pay_one_decision_twice(net, tmp_path):
    attrs = {"min_transaction_amount": "0.1", "max_transaction_amount": "0.3", "initial_funding": "false",
             "transaction_frequency": "0", "balance_check_interval": "1", "verification_interval": "600",
             "miner_selection_strategy": "weighted"}
    net.refresh([m for m, _ in MINERS])
    baseline = _outgoing(net)
    twins = [Agent(net, tmp_path, name, attrs, seed=5) for name in ("twin-a", "twin-b")]
    try:
        time.sleep(8)
    finally:
        for twin in twins:
            assert twin.stop() == 0
    records = {name: records_of(net, name) for name in ("twin-a", "twin-b")}
    hashes = {name: [r["tx_hash"] for r in rs] for name, rs in records.items()}
    assert all(hashes.values()), "both paid"
    assert not set(hashes["twin-a"]) & set(hashes["twin-b"]), "no transaction recorded by both"
    sent = _outgoing(net) - baseline
    assert sent == set(hashes["twin-a"]) | set(hashes["twin-b"]), "every payment recorded by exactly one agent"
    assert set(locate(net, sent).values()) <= {"pool", "chain"}
    rejected = [e for t in twins for e in t.events("tx_failed")]
    for twin in twins:  # a refused relay paid nothing: its hash is nowhere
        journal = read_journal(net.shared_dir / f"{twin.id}_distributor_journal.jsonl")
        failed = {h for h, i in journal.items() if i.status == "failed"}
        assert set(locate(net, failed).values()) <= {"missing"}
    print(f"\ntwins: {len(hashes['twin-a'])} + {len(hashes['twin-b'])} payments, "
          f"{len(rejected)} conflicting builds refused by the wallet")


def _outgoing(net) -> set[str]:
    """Every transaction the miners' wallets have sent (confirmed or pending)."""
    out = set()
    for miner, _ in MINERS:
        answer = net.wallet(miner).call("get_transfers", {"out": True, "pending": True})
        out |= {t["txid"] for t in answer.get("out", []) + answer.get("pending", [])}
    return out

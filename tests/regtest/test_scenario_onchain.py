"""`fsm-distributor sandbox --scenario` on real wallets, each scenario on its own small network.

The sandbox's own verdict and summary.json are checked against the chain asked independently (output by
output with `incoming_transfers`, where the sandbox counts `get_transfers` entries), while the network is
still up.  Every process the network started is gone afterwards (checked by PID).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from fsm_distributor.tools.sandbox import build_parser, read_records, run
from fsm_distributor.tools.sandbox_plan import build_network, make_plan

from .conftest import binaries_missing

pytestmark = pytest.mark.regtest

XMR = 10**12
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
#: coinbase blocks before the 60 that unlock them: plenty for these fundings (each costs CPU on 2 cores)
SMALL_CHAIN = ("--coinbase-blocks", "20")


def run_scenario(scenario: Path, workdir: Path, *flags: str, check=None):
    """Plan, start, run the sandbox; `check(net, summary)` runs while the network is still up."""
    if binaries_missing():
        pytest.fail("needs monerod and monero-wallet-rpc: apt-get update && apt-get install -y monero")
    args = build_parser().parse_args(["--scenario", str(scenario), "--workdir", str(workdir), "--quiet", *flags])
    plan = make_plan(args)
    net = build_network(args, plan)
    with net:
        status = run(args, net, plan)
        summary = json.loads((workdir / "summary.json").read_text())
        checked = check(net, summary) if check else None
    assert net.pids and not net.alive_pids(), f"left running: {net.alive_pids()}"
    return status, summary, checked


def outputs_by_agent(net, records) -> dict[str, Counter]:
    """Agent -> Counter(amount) of the outputs it received in recorded transactions sent by someone else."""
    sender = {r["tx_hash"]: r["sender_id"] for r in records}
    holders = {}
    for node in net.stand_ins:
        holders.setdefault(node.host, {})[node.subaddress_index] = node.id
    out: dict[str, Counter] = {n.id: Counter() for n in net.nodes.values() if n.role in ("miner", "user")}
    for wallet in net.wallet_nodes:
        answer = net.wallet(wallet.id).call("incoming_transfers", {"transfer_type": "all", "account_index": 0})
        for t in answer.get("transfers", []):
            owner = holders.get(wallet.id, {}).get(t["subaddr_index"]["minor"], wallet.id)
            if t["tx_hash"] in sender and sender[t["tx_hash"]] != owner and owner in out:
                out[owner][t["amount"]] += 1
    return out


def test_small_map_scenario_funds_every_recipient_as_configured(tmp_path):
    def chain(net, summary):
        return outputs_by_agent(net, read_records(net.shared_dir)), dict(net.nodes["user-001"].attributes)

    status, summary, (outputs, user_attrs) = run_scenario(EXAMPLES / "small-map.yaml", tmp_path / "sb", *SMALL_CHAIN,
                                                          check=chain)
    assert status == 0 and summary["ok"], summary["problems"]
    funded = ["miner-001", "user-001", "user-002", "user-003", "user-004", "user-005"]  # can_receive_distributions
    for agent, got in outputs.items():
        # md_out_per_tx 3 x md_output_amount 2.5, once; miner-002 and user-006 are not marked
        assert got == (Counter({2_500_000_000_000: 3}) if agent in funded else Counter()), agent
    assert sorted(summary["funding"]["recipients"]) == funded
    assert summary["funding"]["funded_as_configured"] == 6 and summary["funding"]["amount_atomic"] == 6 * 7_500 * 10**9
    assert summary["funding"]["transactions"] >= summary["funding"]["minimum_transactions"] == 2   # ceil(6 / 3)
    # the distributor entry, as Monerosim passes it: its own attributes only, sorted, and the scenario's seed
    argv = summary["agent"]["argv"]
    pairs = [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == "--attributes"]
    assert pairs == [("balance_check_interval", "2"), ("md_n_recipients", "3"), ("md_out_per_tx", "3"),
                     ("md_output_amount", "2.5"), ("transaction_priority", "1")]
    assert argv[argv.index("--id") + 1] == "miner-distributor" and summary["agent"]["SIMULATION_SEED"] == 4242
    assert summary["scenario"]["not_simulated"] == {"relay-001": "daemon-only relay",
                                                    "simulation-monitor": "script-only agent"}
    assert summary["network"] == {"wallet_rpcs": 8, "stand_ins": 0, "height": summary["network"]["height"]}
    assert user_attrs == {"transaction_interval": "60", "activity_start_time": "18000",
                          "can_receive_distributions": "true", "is_miner": "false"}


def test_300_recipients_as_stand_ins_funded_once_in_the_fewest_transactions(tmp_path):
    n = 300
    users = "".join(f"  user-{i:03d}: {{daemon: monerod, wallet: monero-wallet-rpc, script: agents.regular_user, "
                    f"can_receive_distributions: true}}\n" for i in range(1, n + 1))
    scenario = tmp_path / "300.yaml"
    scenario.write_text(
        "general: {stop_time: 6h, simulation_seed: 300}\nagents:\n"
        "  miner-001: {daemon: monerod, wallet: monero-wallet-rpc, script: agents.autonomous_miner, hashrate: 60}\n"
        "  miner-002: {daemon: monerod, wallet: monero-wallet-rpc, script: agents.autonomous_miner, hashrate: 40}\n"
        + users +
        "  miner-distributor: {script: agents.miner_distributor, wait_time: 14400, md_n_recipients: 8, "
        "md_out_per_tx: 2, md_output_amount: 1, balance_check_interval: 1}\n")

    def chain(net, summary):
        records = read_records(net.shared_dir)
        fees = {r["tx_hash"]: net.wallet(r["sender_id"]).get_transfer_by_txid(r["tx_hash"])["fee"] for r in records}
        return outputs_by_agent(net, records), records, fees, len(net.wallet_nodes)

    status, summary, (outputs, records, fees, wallets) = run_scenario(scenario, tmp_path / "sb", *SMALL_CHAIN,
                                                                      check=chain)
    assert status == 0 and summary["ok"], summary["problems"][:5]
    assert wallets == 4, "2 miners and 2 shared wallets, not 302 wallet-rpcs"
    users = [f"user-{i:03d}" for i in range(1, n + 1)]
    assert all(outputs[u] == Counter({XMR: 2}) for u in users), [u for u in users if outputs[u] != Counter(
        {XMR: 2})][:5]
    hashes = {r["tx_hash"] for r in records}
    assert sorted(r["recipient_id"] for r in records) == users, "every recipient recorded exactly once"
    fewest = math.ceil(n / 7)   # 8 recipients x 2 outputs do not fit 15 destinations: 7 per transaction
    assert len(hashes) == fewest == 43
    funding = summary["funding"]
    assert (funding["eligible"], funding["funded_as_configured"], funding["transactions"],
            funding["minimum_transactions"]) == (n, n, fewest, fewest)
    assert funding["amount_atomic"] == n * 2 * XMR
    assert all(funding["recipients"][u]["outputs"] == 2 and funding["recipients"][u]["amount_atomic"] == 2 * XMR
               and funding["recipients"][u]["transactions"][0] in hashes for u in users)
    assert summary["transactions"]["fees_atomic"] == sum(fees.values())
    assert sum(m["fees_atomic"] for m in summary["miners"].values()) == sum(fees.values())
    assert sum(m["sent_atomic"] for m in summary["miners"].values()) == n * 2 * XMR
    assert summary["seconds"]["fund_everyone"] > 0
    print(f"\n300 recipients: {len(hashes)} transactions, funded {summary['seconds']['fund_everyone']:.1f}s after "
          f"the agent started; run {summary['seconds']['run']:.1f}s")


def test_the_seed_designs_example_runs_as_written(tmp_path):
    status, summary, _ = run_scenario(EXAMPLES / "seed-design.yaml", tmp_path / "sb", "--transactions", "1",
                                      *SMALL_CHAIN)
    assert status == 0 and summary["ok"], summary["problems"]
    assert summary["funding"]["eligible"] == 0          # nobody is marked can_receive_distributions
    assert summary["transactions"]["payments"] >= 1
    (sender, spent), = [(m, s) for m, s in summary["miners"].items() if s["transactions"]][:1]
    assert sender in ("user000", "user001") and 10**11 <= spent["sent_atomic"] <= 10**12   # 0.1-1.0 XMR
    assert summary["agent"]["argv"][summary["agent"]["argv"].index("--id") + 1] == "user002"

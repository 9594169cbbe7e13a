"""2. Throughput against the wallet's own limit, on a real regtest network, in one run.

One monerod and one miner wallet-rpc, mined so that the miner holds hundreds of
unlocked coinbase outputs, and 30 recipients whose addresses have real curve-point
keys (no wallet-rpc for them).  Raw `transfer` loops and agent runs alternate
(raw, agent, ..., raw), each after ten fresh blocks, so that both meet the same
load from whatever else runs on the machine; each agent run is also compared
with the raw runs just before and after it.  Single payments (0.1-1 XMR, one
destination; once, for context, the agent's build + relay pattern raw), then
batched funding (Monerosim's md_n_recipients 8, md_out_per_tx 2: 7 recipients x 2
outputs per transaction).  Each agent run has its own id, so an empty journal.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from bench.common import XMR, Figures, curve_address, fmt_s, progress, row, summary
from bench.regtest_runs import PRIORITY, alternate, fees, mined, raw_transfers, rates, run_agent

RECIPIENTS = 30
SINGLE = {"transaction_frequency": "0", "initial_funding": "false", "min_transaction_amount": "0.1",
          "max_transaction_amount": "1.0", "transaction_priority": str(PRIORITY),
          "miner_selection_strategy": "weighted", "recipient_selection": "random", "balance_check_interval": "2"}
PLAIN_CYCLE = ("recovered", "keep_waiting", "wake", "fund", "discovered", "miner_selected", "balance_ok",
               "recipient_selected", "batch_planned", "built", "journaled", "relayed", "recorded", "funding_complete",
               "verify", "verified", "shutdown")
BATCH = {**SINGLE, "md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "5", "initial_funding": "true"}


def run(quick: bool) -> dict:
    from fsm_distributor.core import funding
    from fsm_distributor.core.config import load_config
    from fsm_distributor.tools.regtest import RegtestNetwork
    n, rounds, batch_rounds = (5, 1, 1) if quick else (10, 3, 2)
    users = {f"user{i:03d}": curve_address(f"bench-user-{i}") for i in range(1, RECIPIENTS + 1)}
    workdir = Path(tempfile.mkdtemp(prefix="bench-regtest-"))
    net = RegtestNetwork(workdir / "net", miners=[("miner001", 100)], users=0, miners_receive=False,
                         coinbase_blocks=120 if quick else 400, distributor_attributes=SINGLE,
                         publish={"miner001": {"registry", "info"}}, keep_workdir=False, extra_registry_entries=[
                             {"id": u, "ip_addr": "127.0.0.1", "daemon": False, "wallet": True, "wallet_address": a,
                              "user_script": "agents.regular_user",
                              "attributes": {"is_miner": "false", "can_receive_distributions": "true"}}
                             for u, a in users.items()])
    config = load_config(BATCH)
    per_tx, outputs = funding.recipients_per_transaction(config), config.outputs_per_recipient
    ids = list(users)
    batches = [("miner001", [(users[u], config.output_amount) for u in ids[i:i + per_tx] for _ in range(outputs)])
               for i in range(0, len(ids), per_tx)]

    def singles(seed: int, count: int):
        rng = random.Random(seed)
        return [("miner001", [(rng.choice(list(users.values())), rng.randint(XMR // 10, XMR))]) for _ in range(count)]
    try:
        progress("2. starting the regtest network (1 miner, mining its coinbase outputs)")
        net.start()
        height = net.height()
        progress(f"2. raw build + relay x{n * rounds} (the agent's RPC pattern, for context)")
        two_phase = raw_transfers(net, singles(99, n * rounds), two_phase=True)
        single = alternate(net, ["miner001"], 2 * rounds + 1, lambda i: raw_transfers(net, singles(i, n)),
                           lambda i: run_agent(net, f"distributor_s{i}", SINGLE, workdir, n, 240), "2. single payments")
        batch = alternate(net, ["miner001"], 2 * batch_rounds + 1, lambda i: raw_transfers(net, batches),
                          lambda i: run_agent(net, f"distributor_b{i}", BATCH, workdir, RECIPIENTS, 240),
                          "2. batched funding")
        chain = mined(net, [h for p in single[1::2] + batch[1::2] for h in p["hashes"]])
    finally:
        net.stop()  # every wallet-rpc and monerod it started, by PID
        shutil.rmtree(workdir, ignore_errors=True)
    f = Figures()
    raw, agent, per_round = rates(single, lambda p: p["transactions"])
    raw_b, agent_b, per_round_b = rates(batch, lambda p: RECIPIENTS)
    f.add("2a.raw", "Raw `transfer` loop (tx/min)", raw, "/min", "higher")
    f.add("2a.agent", "Agent, single payments (tx/min)", agent, "/min", "higher")
    ratio = f.add("2a.ratio", "Single payments, agent / raw", agent / raw, "", "higher")
    two = f.add("2a.raw_2phase", "Raw build + relay loop (tx/min)", 60 * n * rounds / two_phase["elapsed"], "/min",
                "higher")
    call = f.add("2a.raw_call", "Raw `transfer`, median call", summary([t for p in single[::2] for t in p["times"]])
                 ["median"])
    f.add("2b.raw", "Raw 14-destination `transfer` (recipients/min)", raw_b, "/min", "higher")
    f.add("2b.agent", "Agent, batched funding (recipients/min)", agent_b, "/min", "higher")
    ratio_b = f.add("2b.ratio", "Batched funding, agent / raw", agent_b / raw_b, "", "higher")
    raw_fee = f.add("2c.raw_fee", "Raw fee per recipient (XMR)", sum(map(fees, batch[::2])) / XMR
                    / (RECIPIENTS * (batch_rounds + 1)), "XMR")
    fee = f.add("2c.agent_fee", "Agent fee per recipient (XMR)", sum(map(fees, batch[1::2])) / XMR
                / (RECIPIENTS * batch_rounds), "XMR")
    fee_ratio = f.add("2c.ratio", "Fee per recipient, agent / raw", fee / raw_fee, "")
    detours = sorted(set(t for p in single[1::2] + batch[1::2] for t in p["triggers"]) - set(PLAIN_CYCLE))
    headers = ["Phase", "Transactions", "Time", "Rate", "Median call", "Fees (XMR)"]

    def phase_rows(phases, unit):
        return [[p["kind"], p["transactions"], fmt_s(p["elapsed"]), f"{p['rate']:.0f}", fmt_s(p["call"]["median"])
                 if p["kind"] == "raw" else f"{fmt_s(p['elapsed'] / p['transactions'])} per {unit}",
                 f"{fees(p) / XMR:.6f}"] for p in phases]
    return {"figures": f, "rows": [
        row("2a", f"Throughput, single payments ({rounds} agent runs of {n}, alternating with {rounds + 1} raw runs):"
            " agent / raw `transfer` loop", "≥ 0.9", f"{agent:.0f} tx/min (raw transfer median {fmt_s(call)})",
            f"raw {raw:.0f} tx/min (runs: " + ", ".join(f"{p['rate']:.0f}" for p in single[::2])
            + f"); raw build+relay {two:.0f} tx/min",
            f"{ratio:.2f} (per round: " + ", ".join(f"{x:.2f}" for x in per_round) + ")", ratio >= 0.9,
            why=f"The raw runs alone range from {min(p['rate'] for p in single[::2]):.0f} to "
                f"{max(p['rate'] for p in single[::2]):.0f} tx/min in this run "
                f"({max(p['rate'] for p in single[::2]) / min(p['rate'] for p in single[::2]):.2f}×): the agent's "
                "shortfall lies within what the machine's other work moves; what the agent adds per payment is "
                "its cycle (1a, 1b), a few ms against a transfer of hundreds."),
        row("2b", f"Throughput, batched funding of {RECIPIENTS} recipients ({batch_rounds} agent runs, alternating):"
            " agent / raw 14-destination `transfer`", "≥ 0.9",
            f"{agent_b:.0f} recipients/min ({sum(p['transactions'] for p in batch[1::2])} agent transactions)",
            f"raw {raw_b:.0f} recipients/min ({batch_rounds + 1} runs of {len(batches)} tx: "
            + "+".join(str(len(d)) for _, d in batches) + " destinations)",
            f"{ratio_b:.2f} (per round: " + ", ".join(f"{x:.2f}" for x in per_round_b) + ")", ratio_b >= 0.9),
        row("2c", "Fee per funded recipient: agent / raw (same batches, priority 1)", "≤ 1.05 (same tx shape)",
            f"{fee:.6f} XMR", f"raw {raw_fee:.6f} XMR", f"{fee_ratio:.2f}", fee_ratio <= 1.05)],
        "tables": [
            {"title": "2a. Single payments (rate: transactions per minute)",
             "text": f"Network up at height {height}; raw build + relay (the agent's pattern, once, for context): "
                     f"{two_phase['transactions']} transactions at {two:.0f}/min, median "
                     f"{fmt_s(two_phase['call']['median'])} per payment.",
             "headers": headers, "rows": phase_rows(single, "cycle")},
            {"title": "2b. Batched funding (rate: recipients funded per minute)",
             "text": f"Every agent transaction looked up after one more block: {chain['mined']} of {chain['checked']}"
                     f" mined, {chain['unknown']} unknown. Agent exit statuses after SIGTERM: "
                     f"{[p['exit'] for p in single[1::2] + batch[1::2]]}. Transitions outside the plain cycle: "
                     f"{', '.join(detours) or 'none'}.",
             "headers": headers, "rows": phase_rows(batch, "batch")}]}

"""6. Funding at scale: 1,000 recipients from 2 miners, the agent against a raw loop of the same transfers.

The network the sandbox builds for a 1,000-recipient scenario: one monerod, 2 miners (60/40) with a
wallet-rpc each, and the recipients as stand-ins, subaddresses of 4 shared wallets
(`RegtestNetwork(shared_wallets=4)`), mined far enough that the miners hold the unlocked coinbase
outputs all phases need (no block is mined during a phase).  Phases alternate raw, agent, raw, each
after ten fresh blocks (which unlock the previous phase's change):

  raw    `transfer` with the agent's batch shape (7 recipients x 2 outputs = 14 destinations), in a
         tight loop, the batches spread over the two miners by weight (smooth round robin);
  agent  `python3 -m fsm_distributor` with initial funding, Monerosim's md_n_recipients 8 and
         md_out_per_tx 2 (md_output_amount 1), until every recipient is recorded.

The agent's rate runs from its first `fund` transition to the last recipient recorded (its log), the
raw rate from the first call to the last answer (part 2 measures the same way).  `measure()` returns
the figures; `main()` writes bench/results/b6_scale.json for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.b2_throughput import PRIORITY, chain_check, run_agent
from bench.common import XMR, dump_progress, row, stats, write_result

N_RECIPIENTS = 1000
SHARED_WALLETS = 4
MINERS = (("miner001", 60), ("miner002", 40))
ATTRS = {"md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "1", "initial_funding": "true",
         "transaction_frequency": "3600", "balance_check_interval": "1", "verification_interval": "600",
         "transaction_priority": str(PRIORITY), "miner_selection_strategy": "weighted"}
TARGET = 0.95
FRESH_BLOCKS = 10


def coinbase_blocks(n: int, per_tx: int) -> int:
    """Coinbase outputs for three phases of `sends` transfers of about 2 inputs each: 2 per send in the
    first, 1 per send in each later one (the change of the phase before is unlocked by then), and 60 spare."""
    sends = math.ceil(n / per_tx)
    return 2 * sends + sends + sends + 60


def raw_phase(net, batches: list[list[tuple[str, int]]]) -> dict:
    """The batches as `transfer` calls, each from the miner a smooth weighted round robin picks."""
    credit = {m: 0 for m, _ in MINERS}
    total = sum(w for _, w in MINERS)
    calls, fees = [], []
    t0 = time.perf_counter()
    for batch in batches:
        for m, w in MINERS:
            credit[m] += w
        miner = max(credit, key=credit.get)
        credit[miner] -= total
        c0 = time.perf_counter()
        answer = net.wallet(miner).call("transfer", {
            "destinations": [{"address": a, "amount": x} for a, x in batch], "priority": PRIORITY, "ring_size": 16,
            "get_tx_key": False}, timeout=120)
        calls.append(time.perf_counter() - c0)
        fees.append(int(answer["fee"]))
    elapsed = time.perf_counter() - t0
    recipients = sum(len(b) for b in batches) // 2
    return {"kind": "raw", "transactions": len(batches), "recipients": recipients, "elapsed": elapsed,
            "per_minute": 60 * recipients / elapsed, "call": stats(calls), "fee_total": sum(fees)}


def fresh(net) -> None:
    net.mine(FRESH_BLOCKS)
    net.refresh([m for m, _ in MINERS])


def measure(n_recipients: int = N_RECIPIENTS, workdir: Path | None = None) -> dict:
    """Run the phases on a network of its own (stopped by PID at the end); return the figures."""
    from fsm_distributor.core import funding
    from fsm_distributor.core.config import load_config
    from fsm_distributor.tools.onchain import incoming_by_recipient
    from fsm_distributor.tools.regtest import RegtestNetwork

    config = load_config(ATTRS)
    per_tx = funding.recipients_per_transaction(config)
    fewest = math.ceil(n_recipients / per_tx)
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-")) if own else workdir
    net = RegtestNetwork(workdir / "net", miners=MINERS, users=n_recipients, shared_wallets=SHARED_WALLETS,
                         coinbase_blocks=coinbase_blocks(n_recipients, per_tx), miners_receive=False,
                         distributor_attributes=ATTRS, keep_workdir=False)
    out: dict = {"recipients": n_recipients, "recipients_per_transaction": per_tx, "fewest_transactions": fewest,
                 "shared_wallets": SHARED_WALLETS}
    try:
        t0 = time.monotonic()
        dump_progress(f"6. starting the network: 2 miners, {n_recipients} stand-ins on {SHARED_WALLETS} shared "
                      f"wallets, {net.coinbase_blocks} coinbase blocks")
        net.start()
        out["network"] = {"start_s": time.monotonic() - t0, "height": net.height(),
                          "wallet_rpcs": len(net.wallet_nodes)}
        users = [u.address for u in net.users]
        batches = [[(a, config.output_amount) for a in users[i:i + per_tx] for _ in range(config.outputs_per_recipient)]
                   for i in range(0, len(users), per_tx)]
        phases = out["phases"] = []
        for kind in ("raw", "agent", "raw"):
            fresh(net)
            dump_progress(f"6. {kind} phase: {n_recipients} recipients")
            load = os.getloadavg()[0]
            if kind == "raw":
                phases.append({**raw_phase(net, batches), "load": [load, os.getloadavg()[0]]})
                continue
            (workdir / "agents").mkdir(exist_ok=True)
            run = run_agent(net, "funder", ATTRS, workdir / "agents", want=n_recipients,
                            count=lambda obj: len(obj.get("recipients") or []), timeout=900)
            phases.append({"kind": "agent", "transactions": len(run["fees"]), "recipients": run["done"],
                           "elapsed": run["elapsed"], "per_minute": 60 * run["done"] / run["elapsed"],
                           "fee_total": sum(run["fees"].values()), "exit": run["exit"],
                           "hashes": sorted(run["fees"]), "triggers": run["triggers"],
                           "load": [load, os.getloadavg()[0]]})
        agent = phases[1]
        out["chain"] = chain_check(net, agent["hashes"])
        net.refresh()
        found, errors = incoming_by_recipient(net, [u.id for u in net.users])
        mine = set(agent["hashes"])
        out["chain"]["funded_once_by_the_agent"] = sum(
            1 for u in net.users if sorted(a for h, got in found[u.id].items() if h in mine for a in got.amounts)
            == [config.output_amount] * config.outputs_per_recipient)
        out["chain"]["wallet_errors"] = errors
        out["wall_s"] = time.monotonic() - t0
    finally:
        net.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    raw = [p for p in out["phases"] if p["kind"] == "raw"]
    agent = out["phases"][1]
    raw_rate = sum(p["per_minute"] for p in raw) / len(raw)
    out.update(raw_per_minute=raw_rate, agent_per_minute=agent["per_minute"], ratio=agent["per_minute"] / raw_rate,
               agent_transactions=agent["transactions"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 recipients")
    args = p.parse_args(argv)
    if shutil.which("monerod") is None or shutil.which("monero-wallet-rpc") is None:
        write_result("b6_scale", {"skipped": "monerod / monero-wallet-rpc not installed (make setup)", "rows": [
            row("6a", "Funding at scale: agent / raw 14-destination `transfer` loop", f"≥ {TARGET}", "not measured",
                met=None, note="monero not installed")]})
        return 0
    r = measure(100 if args.quick else N_RECIPIENTS)
    n, raw = r["recipients"], [p for p in r["phases"] if p["kind"] == "raw"]
    r["rows"] = [
        row("6a", f"Funding {n:,} recipients from 2 miners ({SHARED_WALLETS} shared wallets of stand-ins): agent / "
            f"raw 14-destination `transfer` loop (recipients per minute; raw, agent, raw)", f"≥ {TARGET}",
            f"{r['agent_per_minute']:.0f} recipients/min",
            baseline="raw " + ", ".join(f"{p['per_minute']:.0f}" for p in raw) + " recipients/min",
            ratio=f"{r['ratio']:.2f}", met=r["ratio"] >= TARGET,
            note=f"raw transfer median {r['phases'][0]['call']['median']:.2f} s"),
        row("6b", f"Transactions for {n:,} recipients against the fewest the batch rules allow "
            f"(ceil({n:,} / {r['recipients_per_transaction']}))", f"= {r['fewest_transactions']}",
            f"{r['agent_transactions']}", ratio=f"{r['agent_transactions'] / r['fewest_transactions']:.2f}",
            met=r["agent_transactions"] == r["fewest_transactions"],
            note=f"{r['chain']['funded_once_by_the_agent']:,} of {n:,} funded once on chain by the agent"),
    ]
    path = write_result("b6_scale", r)
    dump_progress(f"6. agent/raw {r['ratio']:.2f}, {r['agent_transactions']} transactions "
                  f"(fewest {r['fewest_transactions']}); written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""2. Throughput against the wallet's own limit, on a real regtest network, in one run.

One monerod and one miner wallet-rpc (fsm_distributor.tools.regtest.RegtestNetwork),
mined far enough that the miner holds hundreds of unlocked coinbase outputs (a
wallet manages about N/2 sends from N unlocked outputs), and 30 recipients
whose addresses have real curve-point keys (no wallet-rpc needed for them).
Raw loops and agent runs alternate (raw, agent, raw, agent, ..., raw), each
after ten fresh blocks (which also unlock the previous run's change), so that
both meet the same load from whatever else runs on the machine; the limit is
the pooled raw rate, and each agent run is also compared with the raw runs
just before and after it:

single payments (0.1-1 XMR, priority 1, one destination):
  raw-2phase   once, for context: transfer(do_not_relay) + relay_tx, the agent's RPC pattern;
  raw          `transfer` in a tight loop, straight against wallet-rpc (the limit);
  agent        `python3 -m fsm_distributor --attributes transaction_frequency 0 ...`
               until it logged n `recorded` transitions, then SIGTERM;
batched funding (30 recipients, md_n_recipients 8, md_out_per_tx 2, md_output_amount 5):
  raw          `transfer` with the same destinations per transaction as the agent plans (7 recipients x 2);
  agent        the agent with initial_funding true until every recipient is recorded.

Each agent run has its own id, hence its own empty journal.
The agent's rate is measured from its log: from the first cycle's `wake`/`fund`
transition to the N-th `recorded` one (the process start is part 4).  The raw
rate: from the first call to the last answer.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import (XMR, agent_argv, agent_env, curve_address, dump_progress, fmt_s, row, stats,
                          write_result)

SINGLE_PER_ROUND = 10
SINGLE_ROUNDS = 3
BATCH_ROUNDS = 2
N_RECIPIENTS = 30
COINBASE_BLOCKS = 400
BATCH_ATTRS = {"md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "5"}
SINGLE_ATTRS = {"transaction_frequency": "0", "initial_funding": "false", "min_transaction_amount": "0.1",
                "max_transaction_amount": "1.0", "transaction_priority": "1", "miner_selection_strategy": "weighted",
                "recipient_selection": "random", "balance_check_interval": "2"}
PRIORITY = 1


# -- the network ------------------------------------------------------------------------

def start_network(workdir: Path, quick: bool):
    from fsm_distributor.tools.regtest import RegtestNetwork
    net = RegtestNetwork(workdir, miners=[("miner001", 100)], users=0,
                         coinbase_blocks=120 if quick else COINBASE_BLOCKS, miners_receive=False,
                         distributor_attributes=SINGLE_ATTRS, publish={"miner001": {"registry", "info"}},
                         keep_workdir=False)
    net.start()
    return net


def recipients(n: int) -> dict[str, str]:
    return {f"user{i:03d}": curve_address(f"bench-user-{i}") for i in range(1, n + 1)}


def write_registry_with_recipients(net, users: dict[str, str]) -> None:
    """The launcher's registry plus the recipients, addresses published as Monerosim agents do."""
    from fsm_distributor.tools.regtest import write_json_locked
    entries = net.registry_entries()
    for uid, address in users.items():
        entries.append({"id": uid, "ip_addr": "127.0.0.1", "daemon": False, "wallet": True,
                        "user_script": "agents.regular_user", "wallet_address": address,
                        "attributes": {"is_miner": "false", "can_receive_distributions": "true"}})
    write_json_locked(net.shared_dir / "agent_registry.json", {"agents": entries})


FRESH_BLOCKS = 10  # change outputs unlock after 10 blocks: the previous phase's change is spendable again


def fresh_block(net) -> None:
    """Ten blocks (they mine the previous phase's pool and unlock its change) and a refreshed miner wallet."""
    net.mine(FRESH_BLOCKS)
    net.refresh(["miner001"])


# -- raw loops ----------------------------------------------------------------------------

def _client(net):
    from fsm_distributor.tools.regtest import HOST
    from fsm_distributor.adapters.wallet import WalletClient
    return WalletClient(HOST, net.nodes["miner001"].port, timeout=120)


def raw_single(net, users: dict[str, str], n: int, seed: int, two_phase: bool) -> dict:
    rng = random.Random(seed)
    addresses = list(users.values())
    plan = [(rng.choice(addresses), rng.randint(XMR // 10, XMR)) for _ in range(n)]
    client = _client(net)
    calls, fees, hashes = [], [], []
    try:
        t0 = time.perf_counter()
        for address, amount in plan:
            c0 = time.perf_counter()
            params = {"destinations": [{"address": address, "amount": amount}], "priority": PRIORITY,
                      "ring_size": 16, "get_tx_key": False}
            if two_phase:
                built = client.call("transfer", {**params, "do_not_relay": True, "get_tx_metadata": True})
                client.call("relay_tx", {"hex": built["tx_metadata"]})
                answer = built
            else:
                answer = client.call("transfer", params)
            calls.append(time.perf_counter() - c0)
            fees.append(answer["fee"])
            hashes.append(answer["tx_hash"])
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    return {"n": n, "elapsed": elapsed, "per_minute": 60 * n / elapsed, "call": stats(calls), "calls": calls,
            "fee_mean": sum(fees) / n, "hashes": hashes}


def raw_batches(net, users: dict[str, str], per_tx: int, outputs: int, amount: int) -> dict:
    ids = list(users)
    groups = [ids[i:i + per_tx] for i in range(0, len(ids), per_tx)]
    client = _client(net)
    fees, calls, hashes = [], [], []
    try:
        t0 = time.perf_counter()
        for group in groups:
            destinations = [{"address": users[uid], "amount": amount} for uid in group for _ in range(outputs)]
            c0 = time.perf_counter()
            answer = client.call("transfer", {"destinations": destinations, "priority": PRIORITY, "ring_size": 16,
                                              "get_tx_key": False})
            calls.append(time.perf_counter() - c0)
            fees.append(answer["fee"])
            hashes.append(answer["tx_hash"])
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    return {"transactions": len(groups), "destinations": [len(g) * outputs for g in groups],
            "recipients": len(ids), "elapsed": elapsed, "recipients_per_minute": 60 * len(ids) / elapsed,
            "per_minute": 60 * len(ids) / elapsed,
            "fee_total": sum(fees), "fee_per_recipient": sum(fees) / len(ids), "call": stats(calls),
            "hashes": hashes}


# -- the agent ------------------------------------------------------------------------------

class Agent:
    """The agent as a child process in its own session, its JSON log parsed as it comes."""

    def __init__(self, agent_id: str, shared: Path, attributes: dict, log_path: Path):
        self.argv = agent_argv(agent_id, shared, attributes, log_level="INFO")
        self.env = agent_env(shared)
        self.log_path = log_path
        self.lines: "queue.Queue[dict]" = queue.Queue()
        self.proc = None

    def start(self, cwd: Path) -> float:
        t = time.time()
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return t

    def _read(self) -> None:
        with open(self.log_path, "ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    self.lines.put(obj)

    def stop(self) -> int:
        """SIGTERM by PID, then SIGKILL if it does not exit; returns the exit status."""
        if self.proc is None:
            return -1
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._thread.join(5)
        return self.proc.returncode


def run_agent(net, agent_id: str, attributes: dict, workdir: Path, *, want: int, count, timeout: float) -> dict:
    """Run until `count(event)` summed over `recorded` events reaches `want`; times from the log."""
    agent = Agent(agent_id, net.shared_dir, attributes, workdir / f"{agent_id}.log")
    out = {"first_cycle": None, "done_at": None, "done": 0, "fees": {}, "events": {}, "recorded_at": [],
           "triggers": {}, "agent_id": agent_id}
    try:
        out["spawn"] = agent.start(workdir)
        deadline = time.monotonic() + timeout
        while out["done"] < want and time.monotonic() < deadline:
            try:
                obj = agent.lines.get(timeout=0.5)
            except queue.Empty:
                if agent.proc.poll() is not None:
                    break
                continue
            event = obj.get("event", "")
            out["events"][event] = out["events"].get(event, 0) + 1
            if event == "transition":
                trig = obj.get("trigger", "?")
                out["triggers"][trig] = out["triggers"].get(trig, 0) + 1
            if event == "transition" and obj.get("trigger") in ("wake", "fund") and out["first_cycle"] is None:
                out["first_cycle"] = float(obj["timestamp"])
            if event == "tx_sent":
                out["fees"][obj["tx_hash"]] = int(obj.get("fee", 0))
            if event == "tx_recorded":
                out["done"] += count(obj)
                out["recorded_at"].append(float(obj["timestamp"]))
                if out["done"] >= want:
                    out["done_at"] = float(obj["timestamp"])
    finally:
        out["exit"] = agent.stop()
    while not agent.lines.empty():
        obj = agent.lines.get_nowait()
        event = obj.get("event", "")
        out["events"][event] = out["events"].get(event, 0) + 1
        if event == "transition":
            out["triggers"][obj.get("trigger", "?")] = out["triggers"].get(obj.get("trigger", "?"), 0) + 1
    if out["done_at"] is None:
        raise RuntimeError(f"agent {agent_id} recorded {out['done']} of {want} within {timeout:.0f}s "
                           f"(events {out['events']}); log: {agent.log_path}")
    out["elapsed"] = out["done_at"] - out["first_cycle"]
    out["end_to_end"] = out["done_at"] - out["spawn"]
    return out


def chain_check(net, hashes: list[str]) -> dict:
    """After one more block: how many of the hashes are mined (all should be)."""
    net.mine(1)
    heights = net.tx_heights(hashes)
    return {"checked": len(hashes), "mined": sum(1 for h in heights.values() if h), "unknown":
            sum(1 for h in heights.values() if h is None)}


def skipped(reason: str) -> dict:
    rows = [row(ident, what, target, "not measured", met=None, note=reason) for ident, what, target in (
        ("2a", "Throughput, single payments: agent / raw `transfer` loop (tx per minute)", "≥ 0.9"),
        ("2b", "Throughput, batched funding: agent / raw multi-destination `transfer` (recipients per minute)",
         "≥ 0.9"))]
    return {"skipped": reason, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10 transactions per phase")
    args = p.parse_args(argv)
    if shutil.which("monerod") is None or shutil.which("monero-wallet-rpc") is None:
        write_result("b2_throughput", skipped("monerod / monero-wallet-rpc not installed (make setup)"))
        return 0
    from fsm_distributor.core import funding
    from fsm_distributor.core.config import load_config
    from fsm_distributor.tools.regtest import RegtestError

    n = 5 if args.quick else SINGLE_PER_ROUND
    rounds = 1 if args.quick else SINGLE_ROUNDS
    batch_rounds = 1 if args.quick else BATCH_ROUNDS
    users = recipients(N_RECIPIENTS)
    results: dict = {"n_single": n, "single_rounds_n": rounds, "batch_rounds_n": batch_rounds,
                     "recipients": N_RECIPIENTS}
    workdir = Path(tempfile.mkdtemp(prefix="bench-regtest-"))
    net = None
    try:
        t0 = time.monotonic()
        dump_progress("2. starting the regtest network (1 miner, mining its coinbase outputs)")
        try:
            net = start_network(workdir / "net", args.quick)
        except RegtestError as exc:
            write_result("b2_throughput", skipped(f"regtest network did not start: {exc}"))
            return 1
        write_registry_with_recipients(net, users)
        results["network"] = {"start_s": time.monotonic() - t0, "height": net.height(),
                              "miner_unlocked_xmr": net.wallet("miner001").get_balance().unlocked / XMR}
        dump_progress(f"   up in {results['network']['start_s']:.0f}s at height {results['network']['height']}")
        agent_dir = workdir / "agents"
        agent_dir.mkdir()

        fresh_block(net)
        dump_progress(f"2. raw build+relay loop x{n * rounds} (the agent's RPC pattern, for context)")
        results["raw_2phase"] = raw_single(net, users, n * rounds, seed=99, two_phase=True)
        # Raw and agent alternate, so that both meet the same load from whatever else runs on the machine.
        single = results["single_phases"] = []
        for r in range(rounds + 1):
            fresh_block(net)
            dump_progress(f"2. round {r + 1}: raw transfer loop x{n}")
            single.append({"kind": "raw", **raw_single(net, users, n, seed=r, two_phase=False)})
            if r == rounds:
                break
            fresh_block(net)
            dump_progress(f"2. round {r + 1}: agent, transaction_frequency 0, until {n} recorded")
            single.append({"kind": "agent", **run_agent(net, f"distributor_s{r + 1}", SINGLE_ATTRS, agent_dir,
                                                        want=n, count=lambda obj: 1, timeout=240)})

        config = load_config({**BATCH_ATTRS, "initial_funding": "true"})
        per_tx = funding.recipients_per_transaction(config)
        batch_attrs = {**SINGLE_ATTRS, **BATCH_ATTRS, "initial_funding": "true"}
        batch = results["batch_phases"] = []
        for r in range(batch_rounds + 1):
            fresh_block(net)
            dump_progress(f"2. round {r + 1}: raw batched transfers ({per_tx} recipients x "
                          f"{config.outputs_per_recipient} outputs)")
            batch.append({"kind": "raw", **raw_batches(net, users, per_tx, config.outputs_per_recipient,
                                                       config.output_amount)})
            if r == batch_rounds:
                break
            fresh_block(net)
            dump_progress(f"2. round {r + 1}: agent, initial funding of {N_RECIPIENTS} recipients")
            batch.append({"kind": "agent", **run_agent(
                net, f"distributor_b{r + 1}", batch_attrs, agent_dir, want=N_RECIPIENTS,
                count=lambda obj: len(obj.get("recipients") or []), timeout=240)})
        agent_hashes = [h for p in single + batch if p["kind"] == "agent" for h in p["fees"]]
        results["chain"] = chain_check(net, agent_hashes)
        results["wall_s"] = time.monotonic() - t0
    finally:
        if net is not None:
            net.stop()  # every wallet-rpc and monerod it started, by PID
        shutil.rmtree(workdir, ignore_errors=True)

    single, batch = results["single_phases"], results["batch_phases"]
    for p in single + batch:  # per-phase rates
        if p["kind"] == "agent":
            p["per_minute"] = 60 * p["done"] / p["elapsed"]
    raw_s = [p for p in single if p["kind"] == "raw"]
    ag_s = [p for p in single if p["kind"] == "agent"]
    raw = 60 * sum(p["n"] for p in raw_s) / sum(p["elapsed"] for p in raw_s)
    ag_rate = 60 * sum(p["done"] for p in ag_s) / sum(p["elapsed"] for p in ag_s)
    def bracketed(phases: list, i: int) -> float:
        """Agent run i against the mean of the raw runs just before and after it."""
        return phases[2 * i + 1]["per_minute"] / ((phases[2 * i]["per_minute"] + phases[2 * i + 2]["per_minute"]) / 2)

    round_ratios = [bracketed(single, i) for i in range(rounds)]
    two = results["raw_2phase"]["per_minute"]
    raw_b = [p for p in batch if p["kind"] == "raw"]
    ag_b = [p for p in batch if p["kind"] == "agent"]
    rb_rate = 60 * sum(p["recipients"] for p in raw_b) / sum(p["elapsed"] for p in raw_b)
    ab_rate = 60 * sum(p["done"] for p in ag_b) / sum(p["elapsed"] for p in ag_b)
    rb_fee = sum(p["fee_total"] for p in raw_b) / sum(p["recipients"] for p in raw_b)
    ab_fee = sum(f for p in ag_b for f in p["fees"].values()) / sum(p["done"] for p in ag_b)
    batch_ratios = [bracketed(batch, i) for i in range(batch_rounds)]
    raw_calls = [c for p in raw_s for c in p["calls"]]
    results.update(agent_per_minute=ag_rate, raw_per_minute=raw, single_ratio=ag_rate / raw,
                   single_round_ratios=round_ratios, raw_call=stats(raw_calls),
                   raw_batch_per_minute=rb_rate, agent_batch_per_minute=ab_rate, batch_ratio=ab_rate / rb_rate,
                   batch_round_ratios=batch_ratios, raw_batch_fee_per_recipient=rb_fee,
                   agent_batch_fee_per_recipient=ab_fee, fee_ratio=ab_fee / rb_fee)
    shape = "+".join(str(d) for d in raw_b[0]["destinations"])
    results["rows"] = [
        row("2a", f"Throughput, single payments ({rounds} agent runs of {n}, alternating with {rounds + 1} raw "
            f"runs): agent / raw `transfer` loop", "≥ 0.9", f"{ag_rate:.0f} tx/min",
            baseline=f"raw {raw:.0f} tx/min (runs: " + ", ".join(f"{p['per_minute']:.0f}" for p in raw_s)
                     + f"); raw build+relay {two:.0f} tx/min",
            ratio=f"{ag_rate / raw:.2f} (per round: " + ", ".join(f"{x:.2f}" for x in round_ratios) + ")",
            met=ag_rate / raw >= 0.9,
            note=f"raw transfer median {fmt_s(results['raw_call']['median'])}"),
        row("2b", f"Throughput, batched funding of {N_RECIPIENTS} recipients ({batch_rounds} agent runs, "
            f"alternating): agent / raw 14-destination `transfer`", "≥ 0.9", f"{ab_rate:.0f} recipients/min",
            baseline=f"raw {rb_rate:.0f} recipients/min ({len(raw_b)} runs of {raw_b[0]['transactions']} tx: "
                     f"{shape} destinations)",
            ratio=f"{ab_rate / rb_rate:.2f} (per round: " + ", ".join(f"{x:.2f}" for x in batch_ratios) + ")",
            met=ab_rate / rb_rate >= 0.9, note=f"{sum(len(p['fees']) for p in ag_b)} agent transactions"),
        row("2c", "Fee per funded recipient: agent / raw (same batches, priority 1)", "≤ 1.05 (same tx shape)",
            f"{ab_fee / XMR:.6f} XMR", baseline=f"raw {rb_fee / XMR:.6f} XMR",
            ratio=f"{ab_fee / rb_fee:.2f}", met=ab_fee / rb_fee <= 1.05),
    ]
    path = write_result("b2_throughput", results)
    dump_progress(f"2. agent/raw {ag_rate / raw:.2f} (single), {ab_rate / rb_rate:.2f} (batch); written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

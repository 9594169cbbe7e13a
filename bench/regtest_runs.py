"""What parts 2 and 6 share: raw `transfer` loops and agent runs against a real regtest network.

Both are timed the same way: the raw loop from its first call to its last
answer, the agent from its first cycle's `wake`/`fund` transition to the
`tx_recorded` line that completes the count (its log's timestamps; process
start-up is part 4).  Every agent is stopped by its PID, also on failure;
the network stops its own processes by PID (`RegtestNetwork.stop`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from bench.common import log_lines, progress, start_agent, summary

PRIORITY = 1
FRESH_BLOCKS = 10  # change unlocks after 10 blocks: each phase starts with the previous one's change spendable


def alternate(net, miners: list[str], phases: int, raw, agent, what: str) -> list[dict]:
    """Phases raw(i), agent(i), raw(i), ... (`phases` in all), each after ten fresh blocks (they mine the
    previous phase's pool and unlock its change) and refreshed miner wallets; each with its load average."""
    out = []
    for i in range(phases):
        net.mine(FRESH_BLOCKS)
        net.refresh(miners)
        progress(f"{what}, phase {i + 1} of {phases}: {'agent' if i % 2 else 'raw'}")
        load = os.getloadavg()[0]
        out.append({**(agent(i) if i % 2 else raw(i)), "load": (load, os.getloadavg()[0])})
    return out


def raw_transfers(net, calls: list[tuple[str, list[tuple[str, int]]]], two_phase: bool = False) -> dict:
    """One `transfer` per (miner, [(address, amount)...]) as fast as the wallet answers; with `two_phase`,
    `transfer(do_not_relay)` + `relay_tx`, the agent's pattern."""
    times, fees, hashes = [], [], []
    t0 = time.perf_counter()
    for miner, destinations in calls:
        params = {"destinations": [{"address": a, "amount": x} for a, x in destinations], "priority": PRIORITY,
                  "ring_size": 16, "get_tx_key": False}
        c0 = time.perf_counter()
        if two_phase:
            answer = net.wallet(miner).call("transfer", {**params, "do_not_relay": True, "get_tx_metadata": True},
                                            timeout=120)
            net.wallet(miner).call("relay_tx", {"hex": answer["tx_metadata"]}, timeout=120)
        else:
            answer = net.wallet(miner).call("transfer", params, timeout=120)
        times.append(time.perf_counter() - c0)
        fees.append(int(answer["fee"]))
        hashes.append(answer["tx_hash"])
    return {"kind": "raw", "elapsed": time.perf_counter() - t0, "call": summary(times), "times": times, "fees": fees,
            "hashes": hashes, "transactions": len(calls)}


def run_agent(net, agent_id: str, attributes: dict, workdir: Path, want: int, timeout: float) -> dict:
    """The agent as Monerosim starts it, until its `tx_recorded` lines name `want` recipients."""
    out: dict = {"kind": "agent", "first": None, "done": 0, "fees": {}, "triggers": Counter()}
    proc = start_agent(agent_id, net.shared_dir, attributes, workdir)
    try:
        for obj in log_lines(proc, timeout):
            event = obj.get("event")
            if event == "transition":
                out["triggers"][obj.get("trigger")] += 1
                if out["first"] is None and obj.get("trigger") in ("wake", "fund"):
                    out["first"] = float(obj["timestamp"])
            elif event == "tx_sent":
                out["fees"][obj["tx_hash"]] = int(obj.get("fee", 0))
            elif event == "tx_recorded":
                out["done"] += len(obj.get("recipients") or [])
                out["last"] = float(obj["timestamp"])
                if out["done"] >= want:
                    break
        else:
            raise RuntimeError(f"agent {agent_id} recorded {out['done']} of {want} recipients (exit {proc.poll()}); "
                               f"log: {proc.log_path}")
    finally:
        out["exit"] = proc.stop()
    out.update(elapsed=out["last"] - out["first"], transactions=len(out["fees"]), hashes=sorted(out["fees"]))
    return out


def mined(net, hashes: list[str]) -> dict:
    """After one more block: how many of `hashes` the daemon has in a block."""
    net.mine(1)
    heights = net.tx_heights(hashes)
    return {"checked": len(hashes), "mined": sum(1 for h in heights.values() if h),
            "unknown": sum(1 for h in heights.values() if h is None)}


def rates(phases: list[dict], count) -> tuple[float, float, list[float]]:
    """Pooled raw and agent rates (per minute of `count(phase)`, which sets each phase's `rate`) and each
    agent phase against the mean of the raw phases just before and after it."""
    for p in phases:
        p["rate"] = 60 * count(p) / p["elapsed"]
    pooled = [60 * sum(map(count, ps)) / sum(p["elapsed"] for p in ps) for ps in (phases[::2], phases[1::2])]
    return pooled[0], pooled[1], [phases[i]["rate"] / ((phases[i - 1]["rate"] + phases[i + 1]["rate"]) / 2)
                                  for i in range(1, len(phases) - 1, 2)]


def fees(phase: dict) -> int:
    return sum(phase["fees"].values() if phase["kind"] == "agent" else phase["fees"])

"""1. The agent's own overhead per full cycle, with a wallet that answers in zero time.

A full cycle is the nine transitions of one payment:
Idle -> Discovering -> SelectingMiner -> CheckingBalance -> SelectingRecipient
-> Building -> Journaling -> Relaying -> Recording -> Idle, run by the real
`Distributor` with structlog configured as the agent configures it (JSON lines,
DEBUG as Monerosim passes it) writing to /dev/null.

Variants (same machine, same run):
- bare: a `transitions` Machine built from the same table, firing the same nine
  triggers with no actions and no logging (the baseline of the ratio), measured
  in chunks interleaved with the in-memory worlds so both see the same load;
- memory: in-memory doubles for journal, ledger, registry and status (O(1), so
  nothing but the agent is timed);
- memory-nolog: the same with logging filtered out (what logging costs);
- file: the real Journal, TransactionLedger, StatusFiles and RegistryReader over
  a SharedDir in a temp dir: locks, temp file, fsync, rename, directory fsync;
  every os.fsync is timed, so the durable I/O the exactly-once design asks for
  is reported on its own, per transition.
Then the cost of history: cycles when the journal, the ledger and the context
already hold H earlier transactions.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from bench.common import (REAL_TRANSFER_S, ZeroWallets, dump_progress, fmt_s, row, stats, valid_address,
                          write_result)

CYCLE = ("wake", "discovered", "miner_selected", "balance_ok", "recipient_selected",
         "built", "journaled", "relayed", "recorded")
AGENT = "distributor"


# -- in-memory doubles (O(1) per call) ----------------------------------------------------

class CachedRegistry:
    """Like the real RegistryReader on unchanged files: the same snapshot, `changed` only once."""

    def __init__(self, agents: list[dict], miners: list[dict]):
        from fsm_distributor.adapters.registry import build_snapshot
        self.snapshot = build_snapshot({"agents": agents}, {"miners": miners})
        self.reads = 0

    def read(self):
        self.reads += 1
        return self.snapshot, self.reads == 1

    def info_address(self, agent_id: str):
        return None


class MemoryLedger:
    """transactions.json in memory with the real ledger's de-duplication, kept incrementally."""

    def __init__(self):
        self.records: list[dict] = []
        self.keys: set = set()

    def append(self, records):
        for r in records:
            key = (r["tx_hash"], r["recipient_id"])
            if key not in self.keys:
                self.keys.add(key)
                self.records.append(dict(r))
        return None

    def update(self, changes):
        return None


# -- building a world -------------------------------------------------------------------------

def registry_lists(users: int = 8):
    agents = [{"id": AGENT, "ip_addr": "127.0.0.1", "wallet": False, "attributes": {}}]
    miners = []
    for i, weight in enumerate((60, 40), start=1):
        agents.append({"id": f"m{i}", "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28000 + i,
                       "wallet_address": valid_address(f"m{i}"), "attributes": {"is_miner": "true"}})
        miners.append({"agent_id": f"m{i}", "ip_addr": "127.0.0.1", "weight": weight})
    for i in range(1, users + 1):
        agents.append({"id": f"u{i}", "ip_addr": "127.0.0.1", "wallet": True, "wallet_rpc_port": 28100 + i,
                       "wallet_address": valid_address(f"u{i}"),
                       "attributes": {"can_receive_distributions": "true"}})
    return agents, miners


def history_intents(n: int):
    """`n` earlier payments, confirmed (the steady state of a long run), with their ledger records."""
    from fsm_distributor.actions.recording import ledger_records
    from fsm_distributor.adapters.journal import CONFIRMED, Intent
    intents, records = [], []
    for k in range(n):
        tx = f"{0xfeed:08x}{k:056x}"
        intent = Intent(tx_hash=tx, miner="m1", miner_endpoint=("127.0.0.1", 28001),
                        destinations=((f"u{k % 8 + 1}", valid_address(f"u{k % 8 + 1}"), 5 * 10**11),),
                        fee=2_605_200_000, status=CONFIRMED, priority=1, created_at=946684800.0 + k,
                        updated_at=946684800.0 + k, height=100 + k, confirmations=10)
        intents.append(intent)
        records.extend(ledger_records(intent, AGENT, intent.updated_at))
    return intents, records


def make_distributor(variant: str, workdir: Path, history: int = 0, *, intents_cache=None):
    import numpy as np

    from fsm_distributor.adapters import logs
    from fsm_distributor.core.config import load_config
    from fsm_distributor.core.context import Deps
    from fsm_distributor.adapters.journal import Journal
    from fsm_distributor.adapters.ledger import StatusFiles, TransactionLedger
    from fsm_distributor.machine import Distributor
    from fsm_distributor.adapters.registry import RegistryReader
    from fsm_distributor.adapters.shared_state import SharedDir
    from tests.fakes import FakeClock, FakeJournal, FakeStatus

    agents, miners = registry_lists()
    intents, records = intents_cache if intents_cache is not None else history_intents(history)
    if variant.startswith("memory"):
        registry, ledger, journal, status = CachedRegistry(agents, miners), MemoryLedger(), FakeJournal(), FakeStatus()
        for intent in intents:
            journal.intents[intent.tx_hash] = intent
        ledger.append(records)
    else:
        shared = SharedDir(workdir)
        shared.write_json_atomic("agent_registry.json", {"agents": agents})
        shared.write_json_atomic("miners.json", {"miners": miners})
        if intents:
            shared.write_json_atomic(f"{AGENT}_distributor_journal.json",
                                     {"intents": [i.to_json() for i in intents]})
            shared.write_json_atomic("transactions.json", records)
        registry, ledger = RegistryReader(shared), TransactionLedger(shared, AGENT)
        journal, status = Journal(shared, AGENT), StatusFiles(shared)
    config = load_config({"transaction_frequency": "0", "initial_funding": "false",
                          "balance_check_interval": "30"})
    deps = Deps(config=config, agent_id=AGENT, registry=registry, wallets=ZeroWallets(), ledger=ledger,
                journal=journal, status=status, clock=FakeClock(), rng=np.random.default_rng(7),
                log=logs.get_logger(agent_id=AGENT))
    distributor = Distributor(deps)
    first = distributor.step()
    assert first.trigger == "recovered", first
    return distributor


@contextmanager
def logging_to_devnull(level: str):
    from fsm_distributor.adapters import logs
    with open(os.devnull, "w") as sink:
        logs.configure(level, stream=sink)
        try:
            yield
        finally:
            logs.configure("INFO")


@contextmanager
def fsync_timed():
    """Count and time every os.fsync (bench only): the durable I/O's share of each step."""
    real = os.fsync
    timer = {"n": 0, "ns": 0}

    def timed_fsync(fd):
        t0 = time.perf_counter_ns()
        try:
            real(fd)
        finally:
            timer["ns"] += time.perf_counter_ns() - t0
            timer["n"] += 1
    os.fsync = timed_fsync
    try:
        yield timer
    finally:
        os.fsync = real


# -- measuring ----------------------------------------------------------------------------

def run_cycles(distributor, n: int, warmup: int = 0, fsync_timer: Optional[dict] = None):
    """Step `warmup` + `n` full cycles.

    Returns per-cycle wall times, per-transition samples, the fsync time inside
    each transition (with `fsync_timer` from `fsync_timed`) and per-cycle CPU
    time (user + system), all in seconds.
    """
    per_transition = defaultdict(list)
    per_fsync = defaultdict(list)
    cycles, cpu = [], []
    step = distributor.step
    clock = time.perf_counter_ns
    cpu_clock = time.process_time_ns
    timer = fsync_timer if fsync_timer is not None else {"ns": 0}
    for c in range(warmup + n):
        total = 0
        c0 = cpu_clock()
        for expected in CYCLE:
            f0 = timer["ns"]
            t0 = clock()
            result = step()
            dt = clock() - t0
            if result.trigger != expected:
                raise RuntimeError(f"cycle {c}: expected {expected}, got {result.trigger} "
                                   f"({result.source} -> {result.dest})")
            total += dt
            if c >= warmup:
                key = f"{result.source.value} → {result.dest.value} ({expected})"
                per_transition[key].append(dt / 1e9)
                per_fsync[key].append((timer["ns"] - f0) / 1e9)
        if c >= warmup:
            cycles.append(total / 1e9)
            cpu.append((cpu_clock() - c0) / 1e9)
    return cycles, per_transition, per_fsync, cpu


def bare_machine_cycles(n: int, warmup: int = 200):
    """The same table in a bare `transitions` Machine: nine triggers, no actions, no logging."""
    from transitions import Machine

    from fsm_distributor.states import TRANSITIONS, State

    class Model:
        def retries_left(self):
            return True

        def batch_mode(self):
            return False

    specs = []
    for t in TRANSITIONS:
        spec = {"trigger": t.trigger, "source": t.source.value, "dest": t.dest.value}
        if t.condition:
            spec["conditions"] = t.condition
        if t.unless:
            spec["unless"] = t.unless
        specs.append(spec)
    model = Model()
    Machine(model=model, states=[s.value for s in State], initial=State.IDLE.value, transitions=specs,
            auto_transitions=False, ignore_invalid_triggers=False, send_event=False)
    fire = model.trigger
    clock = time.perf_counter_ns
    cycles, cpu = [], []
    for c in range(warmup + n):
        c0 = time.process_time_ns()
        t0 = clock()
        for trig in CYCLE:
            fire(trig)
        dt = clock() - t0
        if c >= warmup:
            cycles.append(dt / 1e9)
            cpu.append((time.process_time_ns() - c0) / 1e9)
    assert model.state == State.IDLE.value
    return cycles, cpu


def variant(name: str, worlds: int, cycles_per_world: int, warmup: int, level: str, bare: Optional[list] = None):
    """`worlds` fresh worlds of `cycles_per_world` measured cycles each.

    With `bare` (a list), a chunk of bare-machine cycles is measured before each
    world and appended to it, so baseline and agent see the same machine load.
    """
    all_cycles, all_cpu, all_trans, all_fsync = [], [], defaultdict(list), defaultdict(list)
    n_fsync = 0
    with logging_to_devnull(level), fsync_timed() as timer:
        for _ in range(worlds):
            if bare is not None:
                bare.append(bare_machine_cycles(cycles_per_world * 3, warmup=50))
            with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
                distributor = make_distributor(name, Path(tmp))
                n0 = timer["n"]
                cycles, trans, fsyncs, cpu = run_cycles(distributor, cycles_per_world, warmup, timer)
                n_fsync += timer["n"] - n0
                all_cycles += cycles
                all_cpu += cpu
                for k, v in trans.items():
                    all_trans[k] += v
                    all_fsync[k] += fsyncs[k]
    per_cycle_fsync = [sum(all_fsync[k][i] for k in all_fsync) for i in range(len(all_cycles))]
    return {"cycles": stats(all_cycles), "cpu": stats(all_cpu),
            "transitions": {k: stats(v) for k, v in all_trans.items()},
            "fsync_time": {k: stats(v) for k, v in all_fsync.items()}, "fsync_per_cycle_s": stats(per_cycle_fsync),
            "fsync_per_cycle": n_fsync / (worlds * (cycles_per_world + warmup)), "worlds": worlds,
            "cycles_per_world": cycles_per_world, "warmup": warmup, "log_level": level}


def history_costs(sizes, plan: dict):
    """Full cycles when H confirmed payments are already in journal, ledger and context."""
    out = []
    for h in sizes:
        cache = history_intents(h)
        entry = {"history": h}
        for name in ("memory", "file"):
            n_cycles, warmup = plan[name](h)
            with logging_to_devnull("DEBUG"), tempfile.TemporaryDirectory(prefix="bench-hist-") as tmp:
                distributor = make_distributor(name, Path(tmp), intents_cache=cache)
                cycles, trans, _, _ = run_cycles(distributor, n_cycles, warmup)
            entry[name] = stats(cycles)
            entry[f"{name}_transitions"] = {k: stats(v)["median"] for k, v in trans.items()}
            dump_progress(f"  history {h}: {name} median {fmt_s(entry[name]['median'])} ({n_cycles} cycles)")
        out.append(entry)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer cycles (a smoke run)")
    args = p.parse_args(argv)
    q = args.quick
    dump_progress("1. cycle overhead: bare transitions machine")
    results = {"variants": {}}
    chunks: list = []
    plan = [("memory", 2 if q else 10, 100 if q else 200, 20, "DEBUG"),
            ("memory-nolog", 2 if q else 10, 100 if q else 200, 20, "CRITICAL"),
            ("file", 1 if q else 3, 50 if q else 200, 10, "DEBUG")]
    for name, worlds, per_world, warmup, level in plan:
        dump_progress(f"1. cycle overhead: {name} ({worlds} x {per_world} cycles)"
                      + (", each world after a chunk of bare-machine cycles" if name == "memory" else ""))
        results["variants"][name] = variant(name, worlds, per_world, warmup, level,
                                            bare=chunks if name == "memory" else None)
        dump_progress(f"   median {fmt_s(results['variants'][name]['cycles']['median'])}")
    bare = results["bare"] = stats([x for wall, _ in chunks for x in wall])
    results["bare_cpu"] = stats([x for _, cpu in chunks for x in cpu])
    sizes = (0, 1000) if q else (0, 1000, 10000)
    dump_progress(f"1. cost of history {sizes}")
    results["history"] = history_costs(sizes, {
        "memory": lambda h: (50, 10) if q else (200, 20),
        "file": lambda h: (5, 2) if q or h >= 10000 else (30, 5)})

    mem = results["variants"]["memory"]["cycles"]
    file_ = results["variants"]["file"]["cycles"]
    nolog = results["variants"]["memory-nolog"]["cycles"]
    fs = results["variants"]["file"]["fsync_per_cycle_s"]["median"]
    fs_n = results["variants"]["file"]["fsync_per_cycle"]
    results["rows"] = [
        row("1a", "Full cycle, agent overhead (in-memory doubles, DEBUG logs to /dev/null), median",
            "< 1 ms", fmt_s(mem["median"]), baseline=f"bare `transitions` machine {fmt_s(bare['median'])}; "
            f"one real transfer {REAL_TRANSFER_S} s",
            ratio=f"{mem['median'] / bare['median']:.0f}× bare machine; "
                  f"{100 * mem['median'] / REAL_TRANSFER_S:.3f}% of a transfer",
            met=mem["median"] < 1e-3, note=f"CPU time {fmt_s(results['variants']['memory']['cpu']['median'])}; "
            f"p99 {fmt_s(mem['p99'])}; without logging {fmt_s(nolog['median'])}"),
        row("1b", "Full cycle, real file-backed journal + ledger (fsync), median over the first "
            f"{results['variants']['file']['cycles_per_world']} payments",
            "< 1 ms (and < 1% of a transfer)", fmt_s(file_["median"]),
            baseline=f"in-memory {fmt_s(mem['median'])}",
            ratio=f"{100 * file_['median'] / REAL_TRANSFER_S:.2f}% of a transfer; "
                  f"of which fsync {fmt_s(fs)} ({fs_n:.0f} fsyncs/cycle)",
            met=file_["median"] < 1e-3, note=f"p99 {fmt_s(file_['p99'])}"),
    ]
    path = write_result("b1_cycle", results)
    dump_progress(f"1. written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

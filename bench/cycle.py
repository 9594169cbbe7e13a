"""1. The agent's own cost per full cycle, against wallets that answer in no time.

A full cycle is the nine transitions of one payment, stepped by the real
`Distributor` with structlog configured as the agent configures it (JSON lines at
DEBUG, Monerosim's level) writing to /dev/null.  Variants, in the same run: a bare
`transitions` machine firing the same triggers (the baseline, measured in chunks
between the in-memory worlds so that both meet the same load); in-memory doubles
(only the agent is timed); the same without logging; the real journal, ledger,
status files and registry reader in a temp dir, every fsync, journal write and
ledger append timed.  Then the cost of history: the journal and
transactions.json already hold H confirmed payments.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import time
import timeit
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from bench.common import (REAL_TRANSFER_S, Figures, ZeroWallets, cached_ledger, fmt_s, progress, row, summary,
                          valid_address)

CYCLE = ("wake", "discovered", "miner_selected", "balance_ok", "recipient_selected", "built", "journaled",
         "relayed", "recorded")
AGENT = "distributor"


def history(n: int):
    """`n` earlier confirmed payments (a long run's steady state) and their records."""
    from fsm_distributor.actions.shared import ledger_records
    from fsm_distributor.core.intent import Intent
    from fsm_distributor.core.names import Status
    intents = [Intent(f"{0xfeed:08x}{k:056x}", "m1", ("127.0.0.1", 28001),
                      ((f"u{k % 8 + 1}", valid_address(f"u{k % 8 + 1}"), 5 * 10**11),), 2_605_200_000,
                      Status.CONFIRMED, priority=1, created_at=946684800.0 + k, updated_at=946684800.0 + k,
                      height=100 + k, confirmations=10) for k in range(n)]
    return intents, [r for i in intents for r in ledger_records(i, AGENT, i.updated_at)]


def distributor(kind: str, workdir: Path, past=((), ()), registry=None):
    """tests.fakes' world (2 miners, 8 users) over in-memory doubles ("memory") or the real files in `workdir`,
    with `past` = (intents, records) already there (and another `registry`, if given); past its Recovering step."""
    from fsm_distributor.adapters.journal import Journal
    from fsm_distributor.adapters.ledger import StatusFiles, TransactionLedger
    from fsm_distributor.adapters.logs import get_logger
    from fsm_distributor.adapters.registry import RegistryReader
    from fsm_distributor.adapters.shared_state import SharedDir
    from fsm_distributor.machine import Distributor
    from tests.fakes import FakeJournal, make_world
    world = make_world({"transaction_frequency": "0"}, users=8, recovered=False)
    intents, records = past
    if kind == "memory":  # O(1) doubles; the registry as the real reader answers on unchanged files
        snapshot, reads = world.registry.read()[0], itertools.count()
        cached = SimpleNamespace(read=lambda: (snapshot, next(reads) == 0), info_address=lambda _: None)
        doors = dict(registry=cached, ledger=cached_ledger(records), journal=FakeJournal())
        doors["journal"].intents.update((i.tx_hash, i) for i in intents)
    else:
        shared = SharedDir(workdir)
        shared.write_json_atomic("agent_registry.json", {"agents": world.registry.agents})
        shared.write_json_atomic("miners.json", {"miners": world.registry.miners})
        shared.write_json_atomic("transactions.json", list(records))
        if intents:
            Journal(shared, AGENT).put_many(list(intents))
        doors = dict(registry=RegistryReader(shared), ledger=TransactionLedger(shared, AGENT),
                     journal=Journal(shared, AGENT), status=StatusFiles(shared))
    if registry is not None:
        doors["registry"] = registry
    d = Distributor(dataclasses.replace(world.distributor.deps, wallets=ZeroWallets(),
                                        log=get_logger(agent_id=AGENT), **doors))
    assert d.step().trigger == "recovered"
    return d


@contextmanager
def logging_to_devnull(level: str):
    from fsm_distributor.adapters import logs
    with open(os.devnull, "w") as sink:
        logs.configure(level, stream=sink)
        try:
            yield
        finally:
            logs.configure("INFO")


def timed(owner, name: str, acc: dict) -> None:
    """Replace `owner.name` by a wrapper that adds its time (ns) to acc[name] and counts calls in acc[name#]."""
    real = getattr(owner, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter_ns()
        try:
            return real(*a, **k)
        finally:
            acc[name] += time.perf_counter_ns() - t0
            acc[name + "#"] += 1
    setattr(owner, name, wrapper)


def world(kind: str, per_world: int, warmup: int, level: str, out: dict, past=((), ()), registry=None) -> dict:
    """A fresh world of `warmup` + `per_world` cycles; adds to `out` the samples of the cycle (wall, CPU), of
    each transition (wall, fsync) and of the time in fsync, journal writes and ledger appends per cycle."""
    acc, real_fsync = defaultdict(int), os.fsync
    with logging_to_devnull(level), tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        d = distributor(kind, Path(tmp), past, registry)
        for owner, name in ((os, "fsync"), (d.deps.journal, "put_many"), (d.deps.ledger, "append")):
            timed(owner, name, acc)
        try:
            for c in range(warmup + per_world):
                before, c0, steps = dict(acc), time.process_time_ns(), []
                for expected in CYCLE:
                    f0, t0 = acc["fsync"], time.perf_counter_ns()
                    r = d.step()
                    steps.append((expected, time.perf_counter_ns() - t0, acc["fsync"] - f0))
                    if r.trigger != expected:
                        raise RuntimeError(f"cycle {c}: {r.source} -> {r.dest} ({r.trigger}), not {expected}")
                if c < warmup:
                    continue
                out["cycle"].append(sum(s[1] for s in steps) / 1e9)
                out["cpu"].append((time.process_time_ns() - c0) / 1e9)
                for trigger, wall, fsync in steps:
                    out[trigger].append(wall / 1e9)
                    out[trigger + ".fsync"].append(fsync / 1e9)
                for key in ("fsync", "put_many", "append"):
                    out[key].append((acc[key] - before.get(key, 0)) / 1e9)
                out["fsyncs"].append(acc["fsync#"] - before.get("fsync#", 0))
        finally:
            os.fsync = real_fsync
    return out


def bare_cycles(n: int, enum: bool = False, warmup: int = 50) -> list[float]:
    """The same table in a bare `transitions` Machine: the nine triggers, no actions, no logging.  Its states
    are the names (the baseline, as in every earlier report) or, with `enum`, the State members as the agent
    now gives them (the library's Enum support costs more per transition)."""
    from transitions import Machine

    from fsm_distributor.states import TRANSITIONS, State
    name = (lambda s: s) if enum else (lambda s: s.value)
    guards = {g for t in TRANSITIONS for g in (t.condition, t.unless) if g}  # a plain single payment's answers
    model = SimpleNamespace(**{g: (lambda ok=(g == "retries_left"): ok) for g in guards})
    Machine(model=model, states=[name(s) for s in State], initial=name(State.IDLE), auto_transitions=False,
            send_event=False, transitions=[{"trigger": t.trigger.value, "source": name(t.source), "dest": name(t.dest),
                                            **({"conditions": t.condition} if t.condition else {}),
                                            **({"unless": t.unless} if t.unless else {})} for t in TRANSITIONS])
    out = []
    for c in range(warmup + n):
        t0 = time.perf_counter_ns()
        for trigger in CYCLE:
            model.trigger(trigger)
        if c >= warmup:
            out.append((time.perf_counter_ns() - t0) / 1e9)
    return out


def run(quick: bool) -> dict:
    f, bare, n = Figures(), [], 100 if quick else 200
    progress("1. cycle overhead: rounds of bare-machine cycles and in-memory, unlogged and file-backed worlds")
    mem, nolog, file_ = defaultdict(list), defaultdict(list), defaultdict(list)
    bare_enum: list = []
    for r in range(2 if quick else 10):  # interleaved, so that every variant meets the same load
        bare += bare_cycles(3 * n)
        bare_enum += bare_cycles(n, enum=True)
        world("memory", n, 20, "DEBUG", mem)
        world("memory", n, 20, "CRITICAL", nolog)
        if r % 3 == 0:
            world("file", n, 10, "DEBUG", file_)
    mem, nolog, file_ = ({k: summary(v) for k, v in x.items()} for x in (mem, nolog, file_))
    bare_s = summary(bare)
    b = f.add("1a.bare", "Bare `transitions` machine, nine transitions (median)", bare_s["median"])
    f.add("1a.bare_enum", "the same with Enum states, as the agent builds its machine", summary(bare_enum)["median"])
    m = f.add("1a.memory", "Full cycle, in-memory doubles (median)", mem["cycle"]["median"])
    f.add("1a.memory_cpu", "the same, CPU time", mem["cpu"]["median"])
    f.add("1a.memory_p99", "the same, p99", mem["cycle"]["p99"])
    f.add("1a.nolog", "Full cycle, in-memory, logging filtered out", nolog["cycle"]["median"])
    fb = f.add("1b.file", "Full cycle, file-backed (median)", file_["cycle"]["median"])
    f.add("1b.file_p99", "the same, p99", file_["cycle"]["p99"])
    fs = f.add("1b.fsync", "the same, of which fsync", file_["fsync"]["median"])
    fn = f.add("1b.fsyncs", "fsyncs per file-backed cycle", file_["fsyncs"]["median"], "")
    for t in CYCLE:
        for kind, s in (("memory", mem[t]), ("file", file_[t]), ("fsync", file_[t + ".fsync"])):
            f.add(f"1.step.{t}.{kind}", f"`{t}` transition, {kind if kind != 'fsync' else 'file-backed fsync'}",
                  s["median"])
    from fsm_distributor.states import State
    with logging_to_devnull("CRITICAL"):  # the table check each step makes (machine.py, Distributor.step)
        machine = distributor("memory", Path(".")).machine
    f.add("1.get_triggers", "`Machine.get_triggers(state)`, once per step", summary(
        [timeit.timeit(lambda: machine.get_triggers(State.SELECTING_RECIPIENT), number=1000) / 1000
         for _ in range(9)])["median"])
    hist = []
    for h in (0, 1000) if quick else (0, 1000, 10000):
        past = history(h)
        am = {k: summary(v) for k, v in world("memory", n, 20, "DEBUG", defaultdict(list), past).items()}
        af = {k: summary(v) for k, v in world("file", 5 if quick or h >= 10000 else 30, 2 if h >= 10000 else 5,
                                              "DEBUG", defaultdict(list), past).items()}
        progress(f"1. history {h}: in-memory {fmt_s(am['cycle']['median'])}, file {fmt_s(af['cycle']['median'])}")
        hist.append([f"{h:,}"] + [fmt_s(f.add(f"1c.H{h}.{k}", f"{label} after {h:,} payments", s["median"]))
                                  for k, label, s in (("memory", "Full cycle, in-memory", am["cycle"]),
                                                      ("file", "Full cycle, file-backed", af["cycle"]),
                                                      ("journal", "its journal writes", af["put_many"]),
                                                      ("ledger", "its transactions.json append", af["append"]))])
    gt, be = f["1.get_triggers"]["value"], f["1a.bare_enum"]["value"]
    j0, jh = f["1c.H0.journal"]["value"], f[f"1c.H{hist[-1][0].replace(',', '')}.journal"]["value"]
    variants = (("in-memory doubles, DEBUG logs", mem), ("in-memory, logging filtered out", nolog),
                ("real journal + ledger + registry files (fsync)", file_))
    return {"figures": f, "rows": [
        row("1a", "Full cycle, agent overhead (in-memory doubles, DEBUG logs to /dev/null), median", "< 1 ms",
            f"{fmt_s(m)} (CPU {fmt_s(mem['cpu']['median'])}; p99 {fmt_s(mem['cycle']['p99'])}; without logging "
            f"{fmt_s(nolog['cycle']['median'])})", f"bare `transitions` machine {fmt_s(b)}",
            f"{m / b:.0f}× bare machine; {100 * m / REAL_TRANSFER_S:.3f}% of a transfer", m < 1e-3,
            why=f"Logging at DEBUG takes {fmt_s(m - nolog['cycle']['median'])} of it. Since the restructuring, "
                f"`Distributor.step` (machine.py) checks each action's trigger with `Machine.get_triggers(source)`, "
                f"which scans every event of the table: {fmt_s(gt)} per step, {fmt_s(9 * gt)} per cycle; and its "
                f"states are the State members, which `transitions` handles more slowly ({fmt_s(be)} against "
                f"{fmt_s(b)} for the bare machine). Without the two the cycle would take about "
                f"{fmt_s(m - 9 * gt - (be - b))}. It is {100 * m / REAL_TRANSFER_S:.2f}% of one real transfer, so it "
                f"limits nothing; the agent is left as it is here (reported)."),
        row("1b", f"Full cycle, real file-backed journal (JSON lines) + ledger (fsync), median over the first {n} "
            "payments", "< 1 ms (and < 1% of a transfer)", f"{fmt_s(fb)} (p99 {fmt_s(file_['cycle']['p99'])})",
            f"in-memory {fmt_s(m)}", f"{100 * fb / REAL_TRANSFER_S:.2f}% of a transfer; fsync {fmt_s(fs)} "
            f"({fn:.0f} per cycle)", fb < 1e-3,
            why=f"The agent's own work fits (1a). The rest is the durable I/O of the exactly-once design: three "
                f"journal appends, each fsynced ({fmt_s(file_['put_many']['median'])} per cycle), and one locked "
                f"rewrite of transactions.json ({fmt_s(file_['append']['median'])}: lock, read, parse, encode, temp "
                f"file, fsync, rename, directory fsync); the {fn:.0f} fsyncs take {fmt_s(fs)}, a figure that moves "
                f"with the other I/O on the disk. The journal's share no longer grows with the run ({fmt_s(j0)} at "
                f"H = 0, {fmt_s(jh)} at H = {hist[-1][0]}, table 1c); transactions.json's still does (Monerosim's "
                f"format; R2, part 5). It is {100 * fb / REAL_TRANSFER_S:.1f}% of one real transfer, and part 2 "
                f"shows the agent keeping pace with the raw wallet: it does not limit a run.")],
        "tables": [
            {"title": "1a. Whole cycle", "headers": ["Variant", "Cycles", "Median", "p99", "× bare", "fsyncs/cycle"],
             "rows": [[name, f"{s['cycle']['n']:,}", fmt_s(s["cycle"]["median"]), fmt_s(s["cycle"]["p99"]),
                       f"{s['cycle']['median'] / b:.0f}×", f"{s['fsyncs']['median']:.0f}"] for name, s in variants]
             + [["bare `transitions` machine (baseline)", f"{bare_s['n']:,}", fmt_s(b), fmt_s(bare_s["p99"]), "1×",
                 "0"], ["bare machine with Enum states, as the agent builds it", f"{len(bare_enum):,}",
                        fmt_s(f["1a.bare_enum"]["value"]), fmt_s(summary(bare_enum)["p99"]),
                        f"{f['1a.bare_enum']['value'] / b:.1f}×", "0"]]},
            {"title": "1b. Per transition (median, p99 in brackets)",
             "headers": ["Trigger", "in-memory", "file-backed", "of which fsync"],
             "rows": [[f"`{t}`"] + [f"{fmt_s(s[t]['median'])} ({fmt_s(s[t]['p99'])})" for s in (mem, file_)]
                      + [fmt_s(file_[t + ".fsync"]["median"])] for t in CYCLE]},
            {"title": "1c. Cost of history (the journal and transactions.json hold H confirmed payments; medians "
                      "per cycle)", "headers": ["H", "in-memory", "file-backed (fsync)", "of which journal writes",
                                                "of which transactions.json append"], "rows": hist}]}

"""Render docs/benchmarks.md from bench/results/*.json (written by `python3 -m bench`)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import json

from bench.common import REAL_TRANSFER_S, RESULTS_DIR, XMR, fmt_s, load_result

PARTS = ("b1_cycle", "b2_throughput", "b3_discovery", "b4_startup", "b5_recording", "b6_scale")
TITLES = {"b1_cycle": "1. Overhead per full cycle", "b2_throughput": "2. Throughput against the wallet's limit",
          "b3_discovery": "3. Scale of discovery", "b4_startup": "4. Start-up and memory",
          "b5_recording": "5. Recording cost", "b6_scale": "6. Funding at scale"}


#: Results of the last run before R3-R6 were made (kept for the before/after comparison).
BEFORE_DIR = RESULTS_DIR / "before_r3_r6"


def load_before(part: str) -> Optional[dict]:
    try:
        return json.loads((BEFORE_DIR / f"{part}.json").read_text())
    except (OSError, ValueError):
        return None


def _table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def _when(ts: Optional[float]) -> str:
    if not ts:
        return "?"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _met(value) -> str:
    return {True: "yes", False: "**no**", None: "n/a (reported)"}[value]


def _ms(x) -> str:
    return fmt_s(x) if isinstance(x, (int, float)) else "n/a"


# -- sections ---------------------------------------------------------------------------------

def machine_section(run: Optional[dict]) -> str:
    if not run:
        return "## Machine\n\nNo run record (bench/results/run.json); run `make bench`.\n"
    m = run["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    la, le = m.get("loadavg", [0, 0, 0]), run.get("loadavg_end", [0, 0, 0])
    rows = [
        ["CPU", m["cpu"]], ["Cores", f"{m['cores']} ({m['cores_usable']} usable by this process)"],
        ["Memory", m["memory"]], ["Python", f"{m['implementation']} {m['python']}"], ["Monero", m["monero"]],
        ["Kernel", m["kernel"]], ["Temp-dir filesystem (fsync target)", m["tmp_filesystem"]], ["Packages", pk],
        ["Load average (1/5/15 min) at start / end", f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f} / "
                                                      f"{le[0]:.2f} {le[1]:.2f} {le[2]:.2f}"],
        ["Whole suite" if len(run.get("parts", [])) == len(PARTS) else "Parts " + ", ".join(run.get("parts", [])),
         f"{run.get('total_s', 0) / 60:.1f} min ("
                        + ", ".join(f"{k} {v:.0f} s" for k, v in run.get("durations", {}).items()) + ")"],
    ]
    quick = "\n\n**This was a `--quick` smoke run: sizes and repetitions are reduced.**" if run.get("quick") else ""
    return ("## Machine\n\nEvery figure below was measured on this machine, in the run of "
            f"{_when(run.get('finished_at'))} (`{run.get('command', 'make bench')}`).\n\n"
            + _table(["", ""], rows) + quick + "\n")


def busy_note(run: Optional[dict]) -> str:
    """A sentence when other work shared the machine during the run (load average above half the cores)."""
    if not run:
        return ""
    cores = run["machine"].get("cores") or 1
    loads = [run["machine"].get("loadavg", [0])[0], run.get("loadavg_end", [0])[0]]
    if max(loads) <= cores / 2:
        return ""
    return (f" Other work shared the machine during this run (1-minute load average {loads[0]:.1f} at the start, "
            f"{loads[1]:.1f} at the end, on {cores} cores): tail latencies (p99) and fsync times are the figures "
            "it disturbs most; medians and same-run ratios much less.")


def headline(results: dict, run: Optional[dict] = None) -> str:
    rows = []
    for part in PARTS:
        r = results.get(part)
        if r is None:
            rows.append([part[1], f"{TITLES[part]}: not measured in this run (the part failed; see `make bench` "
                         f"output)", "", "", "", "", "**no**"])
            continue
        for x in r.get("rows", []):
            measured = x["measured"] + (f" ({x['note']})" if x.get("note") else "")
            rows.append([x["id"], x["what"], x["target"], measured, x.get("baseline", ""), x.get("ratio", ""),
                         _met(x["met"])])
    return ("## Results\n\nRatios measured in the same run are the headline; absolute times are context "
            "(this machine, shared with other work: see the load average). "
            f"\"One real transfer\" is the {REAL_TRANSFER_S} s median of one `transfer` on regtest "
            "(docs: monero-wallet-rpc facts); part 2 measures it again in this run." + busy_note(run) + "\n\n"
            + _table(["#", "What", "Target", "Measured", "Baseline (same run)", "Ratio", "Met?"], rows) + "\n")


def missed_section(results: dict) -> str:
    missed = [(part, x) for part in PARTS for x in (results.get(part) or {}).get("rows", []) if x["met"] is False]
    failed = [part for part in PARTS if results.get(part) is None]
    if not missed and not failed:
        return "## Targets not met\n\nNone: every target with a number was met in this run.\n"
    out = ["## Targets not met: why, and the plan\n"]
    for part in failed:
        out.append(f"- **{TITLES[part]}** was not measured: the part failed in this run; its error is in the "
                   "output of `make bench`.")
    for part, x in missed:
        out.append(f"- **{x['id']} — {x['what']}** ({x['measured']}, target {x['target']}). "
                   + REASONS.get(x["id"], lambda r: "See the details below.")(results))
    return "\n".join(out) + "\n"


def _b1(results):
    return results.get("b1_cycle") or {}


def _reason_1b(results) -> str:
    b1 = _b1(results)
    v = b1["variants"]
    f, m = v["file"]["cycles"]["median"], v["memory"]["cycles"]["median"]
    fs = v["file"]["fsync_per_cycle_s"]["median"]
    b5 = results.get("b5_recording")
    remedy = ""
    if b5:
        s0 = b5["sizes"][0]
        remedy = (f" Measured in part 5 at {s0['records']:,} earlier transactions: a JSON-lines journal write "
                  f"(append + fsync) costs {fmt_s(s0['jsonl_journal_put']['median'])} against "
                  f"{fmt_s(s0['journal_put']['median'])} for today's rewrite, and the byte append to "
                  f"transactions.json {fmt_s(s0['byte_append']['median'])} against "
                  f"{fmt_s(s0['ledger_append']['median'])}.")
    return (f"The agent's own work fits (1a: {fmt_s(m)} with in-memory doubles). The rest is the file I/O of "
            f"the exactly-once design, four locked read-modify-write cycles per payment (the journal's `built`, "
            f"`relayed` and `recorded` writes and the ledger append). Their {v['file']['fsync_per_cycle']:.0f} "
            f"fsyncs (temp file and directory) take {fmt_s(fs)} of the median cycle on this disk (fsync latency "
            f"depends on the disk and on other I/O at the time); most of the rest is that each write re-reads, "
            f"re-parses and re-serialises the whole file (compact JSON with `json`'s C encoder since R3, no "
            f"longer indent=2 and the pure-Python encoder), so the cost still grows with the history (table 1c). "
            f"It is "
            f"{100 * f / REAL_TRANSFER_S:.1f}% of one real transfer, and part 2 shows the agent keeping pace with "
            f"the raw wallet, so it does not limit a run of this length. Plan: an append-only JSON-lines journal "
            f"(O(1) per write) and an append to transactions.json that does not re-encode it (R1, R2 below, still "
            f"open)."
            + remedy)


def _reason_3a(results) -> str:
    b3 = results["b3_discovery"]
    big = b3["sizes"][-1]
    br = big["breakdown"]
    prof = b3.get("profile_cold_largest") or []
    top = "; ".join(f"{p['function']} {fmt_s(p['self_s'])} self" for p in prof[:4])
    return (f"Where the time goes at {big['agents']:,} agents: JSON decode {fmt_s(br['JSON decode'])}, "
            f"`parse_agents` {fmt_s(br['parse_agents'])}, `join_miners` {fmt_s(br['join_miners'])}, reading "
            f"{fmt_s(br['read bytes'])}; the cyclic garbage collector is already paused during the read (R6)."
            + (f" Profile (self time): {top}." if top else "")
            + " The unchanged case (3c) stays in microseconds, so this is paid only when the file changed.")


def _reason_3b(results) -> str:
    b3 = results["b3_discovery"]
    sizes = b3["sizes"]
    on = [sizes[i + 1]["cold_cpu"]["min"] / sizes[i]["cold_cpu"]["min"] for i in range(len(sizes) - 1)]
    off = [sizes[i + 1]["cold_gc_off_cpu"]["min"] / sizes[i]["cold_gc_off_cpu"]["min"]
           for i in range(len(sizes) - 1)]
    return (f"CPU time grows {' / '.join(f'{g:.1f}×' for g in on)} per 10× agents ("
            f"{' / '.join(f'{g:.1f}×' for g in off)} when the caller pauses the collector as well). Since R6 "
            f"`RegistryReader.read` pauses the cyclic garbage collector itself, so its passes over the growing "
            f"heap are gone from both figures; the work per entry is constant (`parse_agents` is one pass), and "
            f"what is left above linear is the fresh memory a big parse has to fault in and that no longer fits "
            f"the CPU caches, which is in the measurement noise of a shared machine. Plan: the rest of R6 "
            f"(cache only the files' key and the Snapshot, not the parsed documents), which mainly saves memory.")


def _reason_3d(results) -> str:
    b3 = results["b3_discovery"]
    big = b3["sizes"][-1]
    per = big["cycle"]["per_state_median"]
    ranked = sorted(per.items(), key=lambda kv: -kv[1])
    why = {"SelectingMiner": "`miner_selection.candidates` filters every miner of the snapshot and the weighted "
                             "draw builds an array of their weights",
           "Discovering": "`discovery.discover` lists the miners that have a wallet endpoint",
           "SelectingRecipient": "the recipient draw, over a view of the snapshot's agents with a wallet since R5"}
    parts = "; ".join(f"{name} {fmt_s(t)}" + (f" ({why[name]}, once per cycle)" if name in why else "")
                      for name, t in ranked[:3])
    sizes = ", ".join(f"{e['agents']:,}: {fmt_s(e['cycle']['cycles']['median'])}" for e in b3["sizes"])
    return (f"The registry read is cached (3c) and, since R5, the recipients' candidates are worked out once per "
            f"registry change (SelectingRecipient {fmt_s(per.get('SelectingRecipient'))} per cycle at "
            f"{big['agents']:,} agents). The cycle over these files now costs about the same at every registry "
            f"size ({sizes}; 30 cycles each, so these medians move with the machine's load)." + _vs_1a(results, per)
            + f" The largest steps at {big['agents']:,} agents: {parts}; the miners' steps still grow with the "
            f"number of miners. "
            f"That is {100 * big['cycle']['cycles']['median'] / REAL_TRANSFER_S:.2f}% of one real transfer: "
            f"not limiting. Plan: R8 (the miners with an endpoint and their weights worked out once per snapshot, "
            f"as R5 does for recipients).")


def _vs_1a(results, per: dict) -> str:
    """How the steps over real registry files compare with 1a's in-memory doubles."""
    b1 = results.get("b1_cycle")
    if not b1:
        return ""
    t = b1["variants"]["memory"]["transitions"]
    pairs = [("Discovering", "Discovering → SelectingMiner (discovered)"),
             ("SelectingRecipient", "SelectingRecipient → Building (recipient_selected)")]
    bits = [f"{name} {fmt_s(per.get(name))} against {fmt_s(t[key]['median'])}" for name, key in pairs
            if name in per and key in t]
    return (" Against 1a's in-memory doubles, the steps that touch the real files and addresses cost more here "
            "(a file check of both registries each cycle, full address validation): " + ", ".join(bits) + "."
            if bits else "")


def _reason_4a(results) -> str:
    b4 = results["b4_startup"]
    total = b4["imports"]["total_us"]
    top = ", ".join(f"{name} {100 * us / total:.0f}%" for name, us in b4["imports"]["top"][:6])
    return (f"Imports take {fmt_s(b4['imports']['wall']['median'])} (shares by package from `-X importtime`: "
            f"{top}). Plan: R7.")


def _reason_4b(results) -> str:
    return "See the import list in part 4; numpy alone maps its libraries at import. Plan: R7."


def _reason_2(results) -> str:
    b2 = results["b2_throughput"]
    raws = [p["per_minute"] for p in b2["single_phases"] if p["kind"] == "raw"]
    return (f"The raw runs themselves ranged from {min(raws):.0f} to {max(raws):.0f} tx/min in this run, so the "
            f"wallet's own speed moved with the machine's load; per round the agent/raw ratios were "
            f"{', '.join(f'{x:.2f}' for x in b2['single_round_ratios'])} (batches: "
            f"{', '.join(f'{x:.2f}' for x in b2['batch_round_ratios'])}). The agent makes three wallet calls per "
            f"payment (get_balance, transfer with do_not_relay, relay_tx) where the raw loop makes one; raw "
            f"build+relay ran at {b2['raw_2phase']['per_minute']:.0f} tx/min. Plan: run `make bench` again on a "
            "quiet machine before reading more into it; if it persists, drop the get_balance call from cycles "
            "whose previous build on that miner succeeded (CheckingBalance), which is the agent's one extra call "
            "per payment.")


REASONS = {"1a": _reason_1b, "1b": _reason_1b, "3a": _reason_3a, "3b": _reason_3b, "3d": _reason_3d,
           "4a": _reason_4a, "4b": _reason_4b, "2a": _reason_2, "2b": _reason_2}


# -- details ------------------------------------------------------------------------------

def detail_1(r: dict) -> str:
    v = r["variants"]
    names = {"memory": "in-memory doubles, DEBUG logs", "memory-nolog": "in-memory doubles, logging filtered out",
             "file": "real journal + ledger + registry files (fsync)"}
    rows = [["bare `transitions` machine (baseline, interleaved with the in-memory worlds)", f"{r['bare']['n']:,}",
             _ms(r["bare"]["median"]), _ms(r["bare"]["p99"]), "1×", "0"]]
    for key, label in names.items():
        c = v[key]["cycles"]
        rows.append([label, f"{c['n']:,}", _ms(c["median"]), _ms(c["p99"]),
                     f"{c['median'] / r['bare']['median']:.0f}×", f"{v[key]['fsync_per_cycle']:.0f}"])
    out = ["### 1. Overhead per full cycle\n",
           "Nine transitions, Idle → Discovering → SelectingMiner → CheckingBalance → SelectingRecipient → "
           "Building → Journaling → Relaying → Recording → Idle, stepped by the real `Distributor` with a "
           "wallet that answers at once (`bench/common.ZeroWallet`), structlog configured by "
           "`fsm_distributor.adapters.logs.configure` writing JSON lines to /dev/null at DEBUG (the level Monerosim "
           f"passes). Each world starts empty and runs {v['memory']['cycles_per_world']} cycles after "
           f"{v['memory']['warmup']} (in-memory) or {v['file']['warmup']} (file-backed) warm-up ones: the first "
           "few hours of a Monerosim run at one payment a minute. In the file-backed variant every `os.fsync` is "
           "timed. Verification (a separate Idle → Verifying → Idle step, every 30 s per transaction) is not "
           "part of the cycle.\n",
           "**1a. Whole cycle**\n",
           _table(["Variant", "Cycles", "Median", "p99", "× bare", "fsyncs/cycle"], rows), "",
           "**1b. Per transition** (median, p99 in brackets)\n"]
    trows = []
    for k in v["memory"]["transitions"]:
        cells = [k]
        for var in ("memory", "file"):
            s = v[var]["transitions"].get(k, {})
            cells.append(f"{_ms(s.get('median'))} ({_ms(s.get('p99'))})")
        f = v["file"]["fsync_time"].get(k, {})
        cells.append(f"{_ms(f.get('median'))} ({_ms(f.get('p99'))})")
        trows.append(cells)
    trows.append(["(bare machine, one transition)", _ms(r["bare"]["median"] / 9), "", ""])
    out.append(_table(["Transition", "in-memory", "file-backed", "of which fsync"], trows))
    out.append("\n**1c. Cost of history** (journal, ledger and context already hold H confirmed payments; "
               "median of a full cycle)\n")
    hrows = [[f"{h['history']:,}", _ms(h["memory"]["median"]), _ms(h["file"]["median"])] for h in r["history"]]
    out.append(_table(["H", "in-memory", "file-backed (fsync)"], hrows))
    big = r["history"][-1]
    tm = big["memory_transitions"]
    t0 = r["history"][0]["memory_transitions"]
    idle, sel = "Idle → Discovering (wake)", "SelectingMiner → CheckingBalance (miner_selected)"
    before, before_run = load_before("b1_cycle"), load_before("run")
    was = ""
    if before:
        bt = before["history"][-1]["memory_transitions"]
        when = _when((before_run or before).get("finished_at"))
        was = (f" (before R4, in the run of {when}: {fmt_s(bt.get(idle))} and "
               f"{fmt_s(bt.get(sel))} at H = {before['history'][-1]['history']:,}, when they scanned every intent "
               f"ever made)")
    out.append(f"\nAt H = {big['history']:,} the in-memory Idle step takes {fmt_s(tm.get(idle))} and "
               f"SelectingMiner {fmt_s(tm.get(sel))} (at H = 0: {fmt_s(t0.get(idle))} and {fmt_s(t0.get(sel))}"
               "): since R4 `Context.open_intents()` and `Context.busy_miners()` read an index of the open intents "
               f"that `Context.put_intent` keeps{was}. The file-backed cycle is dominated by the journal and "
               "ledger rewrites (part 5; R1, R2).\n")
    return "\n".join(out)


def detail_2(r: dict, results: Optional[dict] = None) -> str:
    if r.get("skipped"):
        return f"### 2. Throughput against the wallet's limit\n\nNot measured: {r['skipped']}.\n"
    two = r["raw_2phase"]
    rows = [["raw `transfer(do_not_relay)` + `relay_tx` (context)", two["n"], f"{two['elapsed']:.2f} s",
             f"{two['per_minute']:.0f}", _ms(two["call"]["median"]), f"{two['fee_mean'] / XMR:.7f}"]]
    rnd = 0
    for p in r["single_phases"]:
        if p["kind"] == "raw":
            rnd += 1
            rows.append([f"raw `transfer` loop ({rnd})", p["n"], f"{p['elapsed']:.2f} s", f"{p['per_minute']:.0f}",
                         _ms(p["call"]["median"]), f"{p['fee_mean'] / XMR:.7f}"])
        else:
            fees = list(p["fees"].values())
            rows.append([f"agent, `transaction_frequency 0` ({rnd})", p["done"], f"{p['elapsed']:.2f} s",
                         f"{p['per_minute']:.0f}", _ms(p["elapsed"] / p["done"]) + " per cycle",
                         f"{sum(fees) / max(1, len(fees)) / XMR:.7f}"])
    brows = []
    rnd = 0
    for p in r["batch_phases"]:
        if p["kind"] == "raw":
            rnd += 1
            brows.append([f"raw `transfer` ({rnd}), " + "+".join(str(d) for d in p["destinations"]) + " destinations",
                          p["transactions"], f"{p['elapsed']:.2f} s", f"{p['per_minute']:.0f}",
                          _ms(p["call"]["median"]), f"{p['fee_per_recipient'] / XMR:.7f}"])
        else:
            fees = list(p["fees"].values())
            brows.append([f"agent, `initial_funding true` ({rnd})", len(fees), f"{p['elapsed']:.2f} s",
                          f"{p['per_minute']:.0f}", _ms(p["elapsed"] / max(1, len(fees))) + " per batch",
                          f"{sum(fees) / p['done'] / XMR:.7f}"])
    ch = r.get("chain", {})
    exits = [p["exit"] for p in r["single_phases"] + r["batch_phases"] if p["kind"] == "agent"]
    usual = {"recovered", "wake", "fund", "discovered", "miner_selected", "balance_ok", "recipient_selected",
             "batch_planned", "built", "journaled", "relayed", "recorded", "verified", "verify", "shutdown"}
    detours = []
    for p in r["single_phases"] + r["batch_phases"]:
        odd = {k: v for k, v in p.get("triggers", {}).items() if k not in usual}
        if p["kind"] == "agent" and odd:
            detours.append(f"{p.get('agent_id', 'agent')}: " + ", ".join(f"{v}× {k}" for k, v in sorted(odd.items())))
    detour_text = ("Detours the agent took (triggers outside the plain cycle): " + "; ".join(detours) + "."
                   if detours else "The agent took no detour (every transition was part of the plain cycle).")
    return "\n".join([
        "### 2. Throughput against the wallet's limit\n",
        f"A regtest monerod and one miner wallet-rpc (`fsm_distributor.tools.regtest.RegtestNetwork`), up in "
        f"{r['network']['start_s']:.0f} s at height {r['network']['height']} with "
        f"{r['network']['miner_unlocked_xmr']:,.0f} XMR unlocked in hundreds of coinbase outputs (a wallet makes "
        f"about N/2 sends from N unlocked outputs); {r['recipients']} recipients with real curve-point addresses. "
        "Raw loops and agent runs alternate, in the order of the tables, each after ten fresh blocks (they mine "
        "the previous run's transactions and unlock its change), so that both meet the same load from whatever "
        "else runs on the machine. The agent runs as Monerosim starts it (its "
        "own id each time, so an empty journal) and is stopped by SIGTERM once it logged enough `recorded` "
        "transitions; its time runs from its first cycle's `wake`/`fund` transition to that line (process "
        "start-up is part 4). Rates are pooled over all runs of a kind; each agent run is also compared with the "
        "raw runs just before and after it (the per-round ratios in the results table).\n",
        "**Single payments** (0.1-1 XMR, priority 1; rate in transactions per minute)\n",
        _table(["Phase", "Transactions", "Time", "Rate", "Median call", "Mean fee (XMR)"], rows), "",
        f"Pooled: raw {r['raw_per_minute']:.0f} tx/min, agent {r['agent_per_minute']:.0f} tx/min, ratio "
        f"{r['single_ratio']:.2f}.\n",
        f"**Batched funding** ({r['recipients']} recipients, md_n_recipients 8, md_out_per_tx 2, "
        "md_output_amount 5: 7 recipients × 2 outputs per transaction; rate in recipients funded per minute)\n",
        _table(["Phase", "Transactions", "Time", "Rate", "Median call", "Fee per recipient (XMR)"], brows), "",
        f"Pooled: raw {r['raw_batch_per_minute']:.0f} recipients/min, agent {r['agent_batch_per_minute']:.0f}, "
        f"ratio {r['batch_ratio']:.2f}; fee per recipient {r['agent_batch_fee_per_recipient'] / XMR:.7f} vs "
        f"{r['raw_batch_fee_per_recipient'] / XMR:.7f} XMR.\n",
        f"Every transaction the agent logged as sent was looked up on the daemon after one more block: "
        f"{ch.get('mined', '?')} of {ch.get('checked', '?')} mined, {ch.get('unknown', '?')} unknown. "
        f"Agent exit statuses after SIGTERM: {', '.join(str(e) for e in exits)}. " + detour_text,
        "",
        _reading_2(r, (results or {}).get("b1_cycle")),
    ])


def _reading_2(r: dict, b1: Optional[dict]) -> str:
    agents = [p for p in r["single_phases"] if p["kind"] == "agent"]
    raws = [p for p in r["single_phases"] if p["kind"] == "raw"]
    per_cycle = sum(p["elapsed"] for p in agents) / sum(p["done"] for p in agents)
    raw_call = 60 / r["raw_per_minute"]
    two = 60 / r["raw_2phase"]["per_minute"]
    per_raw = [p["elapsed"] / p["n"] for p in raws]
    diff = per_cycle - raw_call
    spread = ("within" if min(per_raw) <= per_cycle <= max(per_raw) else "outside") + \
        f" the range of the raw runs ({fmt_s(min(per_raw))} to {fmt_s(max(per_raw))} per transfer)"
    return (f"How to read it: the agent spends {fmt_s(per_cycle)} per payment against {fmt_s(raw_call)} per raw "
            f"`transfer` and {fmt_s(two)} per raw build+relay: a difference of {fmt_s(abs(diff))} "
            f"({100 * diff / raw_call:+.0f}%), {spread}. The agent makes three wallet calls per payment "
            "(get_balance, transfer with do_not_relay, relay_tx) where the raw loop makes one, and building and "
            f"relaying separately cost {two / raw_call:.2f}× one `transfer` here; on top of that comes its own "
            "work, which part 1 measures"
            + (f": {fmt_s(b1['variants']['memory']['cycles']['median'])} of computation and "
               f"{fmt_s(b1['variants']['file']['cycles']['median'])} including the durable journal and ledger "
               f"writes (medians, 1a and 1b), the same order as the difference" if b1 else "")
            + ". The wallet's transaction building stays the limit.\n")


def detail_3(r: dict) -> str:
    rows = []
    for e in r["sizes"]:
        br = e["breakdown"]
        cyc = e["cycle"]
        rows.append([f"{e['agents']:,} ({e['miners']:,} miners)", f"{e['file_mb']:.1f}", _ms(e["cold"]["median"]),
                     _ms(e["cold_cpu"]["median"]), _ms(e["cold_gc_off"]["median"]),
                     f"{_ms(br['read bytes'])} / {_ms(br['JSON decode'])} / {_ms(br['parse_agents'])} / "
                     f"{_ms(br['join_miners'])}",
                     _ms(e["unchanged"]["median"]) + f" (p99 {_ms(e['unchanged']['p99'])})",
                     _ms(e["changed"]), _ms(cyc["cycles"]["median"]),
                     _ms(cyc["per_state_median"].get("SelectingRecipient")), f"{e['rss_peak_kib'] / 1024:.0f}"])
    out = ["### 3. Scale of discovery\n",
           "Registries in Monerosim's schema (`{\"agents\": [{id, ip_addr, daemon, wallet, user_script, attributes, "
           "wallet_rpc_port, daemon_rpc_port, is_public_node, wallet_address?}]}` and `{\"miners\": [{agent_id, "
           "ip_addr, weight}]}`), pretty-printed as Monerosim writes them; 1% of the agents mine, half have "
           "published their address. Cold = `RegistryReader(SharedDir(d)).read()` as the first read of a fresh "
           "process that imported the agent (median of 5 processes; files in the page cache). The breakdown is "
           "measured in one warm process, so it sums to less. Changed = the next read after one agent added its "
           "wallet_address (the previous snapshot still alive, as in the agent). Cycle = one full payment cycle "
           "of the real machine over these files (zero-latency wallets). Since R6 the reader pauses the garbage "
           "collector during the read itself; \"Cold, GC paused by the caller too\" checks that this suffices.\n",
           _table(["Agents", "MB", "Cold read", "its CPU time", "Cold, GC paused by the caller too",
                   "warm process: read / decode / parse_agents / join_miners",
                   "Unchanged", "Changed", "Full cycle", "SelectingRecipient", "Peak RSS (MiB)"], rows)]
    big = r["sizes"][-1]
    if big.get("heap"):
        out.append(f"\nMemory at {big['agents']:,} agents (tracemalloc): the parsed JSON documents hold "
                   f"{big['heap']['documents_mib']:.0f} MiB and the Snapshot built from them "
                   f"{big['heap']['snapshot_mib']:.0f} MiB. `RegistryReader` keeps both alive between reads, the "
                   "documents only as the \"unchanged\" cache key. Peak RSS counts the process after importing the "
                   "agent's modules and reading the registry once.\n")
    if r.get("profile_cold_largest"):
        out.append("Profile of the cold read at the largest size (cProfile, self time):\n")
        out.append(_table(["Function", "Calls", "Self", "Cumulative"],
                          [[p["function"], f"{p['calls']:,}", _ms(p["self_s"]), _ms(p["cum_s"])]
                           for p in r["profile_cold_largest"]]))
    return "\n".join(out) + "\n"


def detail_4(r: dict) -> str:
    s = r["start_to_first_transition"]
    rows = [["spawn → first `transition` line", _ms(s["median"]), _ms(s["min"]), _ms(s["max"])],
            ["spawn → `agent_started` line", _ms(r["start_to_agent_started"]["median"]),
             _ms(r["start_to_agent_started"]["min"]), _ms(r["start_to_agent_started"]["max"])],
            ["bare `python3 -c` (baseline)", _ms(r["bare_start"]["median"]), _ms(r["bare_start"]["min"]),
             _ms(r["bare_start"]["max"])]]
    total = r["imports"]["total_us"]
    imp = [[name, f"{us / 1000:.1f} ms", f"{100 * us / total:.0f}%"] for name, us in r["imports"]["top"]]
    return "\n".join([
        "### 4. Start-up and memory\n",
        f"`python3 -m fsm_distributor --id distributor --shared-dir D --log-level INFO --attributes ...` with "
        f"Monerosim's environment, {s['n']} runs after a warm-up one; a small registry whose wallets refuse "
        f"connections, so the agent cycles without sending. First transition: `{r.get('first_transition', '')}`. "
        f"Peak RSS (VmHWM) after one second of cycles: median {r['peak_rss_mib']['median']:.1f} MiB, max "
        f"{r['peak_rss_mib']['max']:.1f} MiB (bare interpreter {r['bare_rss_mib']['max']:.1f} MiB). Exit status "
        f"after SIGTERM: {r['exit_codes']}.\n",
        _table(["Interval", "Median", "Min", "Max"], rows), "",
        f"Importing `fsm_distributor.cli` takes {fmt_s(r['imports']['wall']['median'])} in a fresh interpreter "
        f"(median of {r['imports']['wall']['n']}). Where it goes (`python3 -X importtime -c \"import "
        f"fsm_distributor.cli\"`, self time grouped by top-level package; importtime's own overhead makes the "
        f"total {total / 1000:.0f} ms, so read the shares):\n",
        _table(["Package", "Self time", "Share"], imp), ""])


def detail_5(r: dict) -> str:
    rows = []
    for e in r["sizes"]:
        rows.append([f"{e['records']:,}", f"{e['file_mb']:.1f}", _ms(e["ledger_append"]["median"]),
                     _ms(e["journal_put"]["median"]), _ms(e["byte_append"]["median"]),
                     _ms(e["byte_append_nofsync"]["median"]), _ms(e["jsonl_journal_put"]["median"])])
    brows = []
    for e in r["sizes"]:
        b = e["breakdown"]
        brows.append([f"{e['records']:,}"] + [_ms(b[k]) for k in ("read", "JSON decode", "JSON encode compact",
                                                                   "JSON encode indent=2", "write", "fsync")])
    big = r["sizes"][-1]
    return "\n".join([
        "### 5. Recording cost\n",
        "One append of one new record to a transactions.json that already holds N records (records as "
        "`actions.recording.ledger_records` makes them, written by the agent's own SharedDir: compact JSON since "
        "R3), and one "
        "`Journal.put` into a journal of N intents (a payment makes three journal writes). Median of "
        "several appends, each after `os.sync()` so that no earlier write's dirty pages are flushed by this "
        "one's fsync.\n",
        _table(["N", "MB", "TransactionLedger.append", "Journal.put", "remedy: byte append",
                "byte append, no fsync", "remedy: JSON-lines journal put"], rows), "",
        f"**It grows linearly per append** (log-log slope {r['ledger_slope']:.2f} for the ledger, "
        f"{r['journal_slope']:.2f} for the journal), so recording N transactions costs O(N²) in all: at "
        f"{big['records']:,} records one append takes {fmt_s(big['ledger_append']['median'])}, "
        f"{big['ledger_append']['median'] / REAL_TRANSFER_S:.0f}× one real transfer. Each append takes the "
        "lock, reads and parses the whole array, adds the record, serialises everything again (compact, with "
        "`json`'s C encoder since R3) and writes, fsyncs and renames it. Where one append's time goes:\n",
        _table(["N", "read", "JSON decode", "JSON encode (compact, as written)", "(indent=2, as before R3)",
                "write", "fsync"], brows),
        "",
        "**Remedy that keeps Monerosim's readers working** (prototype in `bench/remedy.py`, measured above): "
        "`transactions.json` stays one JSON array, written under Monerosim's `.lock` sidecar through "
        "`transactions.tmp` and an atomic rename, so lock-free readers still never see a partial file and "
        "Monerosim's analysis (serde `Vec<Transaction>`) reads it unchanged. What changes is that the old "
        "records are never parsed nor re-encoded: under the lock the writer reads the bytes, checks that they "
        "end with `]`, searches them for the new record's tx_hash (a hit, i.e. a recovery re-recording, falls "
        "back to today's full parse and de-duplication), and writes the old bytes (from a memoryview, no copy) "
        "followed by `,` + the new record + `]`. The copy is still O(file size) but at memory speed: "
        f"{fmt_s(big['byte_append']['median'])} at {big['records']:,} records instead of "
        f"{fmt_s(big['ledger_append']['median'])}. A truly O(1) append (seek before the `]` and write in place) "
        "would break the atomic-rename guarantee that lock-free readers rely on, so it is not proposed. The "
        "agent's own journal is read by nobody else, so its format is free: an append-only JSON-lines file "
        f"(one line per status change, fsynced; last line per tx_hash wins when loaded) costs "
        f"{fmt_s(big['jsonl_journal_put']['median'])} per write at {big['records']:,} intents instead of "
        f"{fmt_s(big['journal_put']['median'])}.\n"])


def detail_6(r: dict) -> str:
    raws = [p["per_minute"] for p in r["phases"] if p["kind"] == "raw"]
    spread = max(raws) / min(raws)
    rows = [[p["kind"], p["transactions"], f"{p['recipients']:,}", fmt_s(p["elapsed"]), f"{p['per_minute']:.0f}",
             f"{p['fee_total'] / XMR:.6f}", " → ".join(f"{x:.1f}" for x in p.get("load", []))] for p in r["phases"]]
    return "\n".join([
        "### 6. Funding at scale\n",
        f"{r['recipients']:,} recipients, subaddress stand-ins of {r['shared_wallets']} shared wallets (the sandbox's "
        f"layout above `--max-wallets`), funded from 2 miners (60/40) with Monerosim's batch rules "
        f"({r['recipients_per_transaction']} recipients x 2 outputs per transaction); the network "
        f"({r['network']['wallet_rpcs']} wallet-rpcs, height {r['network']['height']}) started in "
        f"{fmt_s(r['network']['start_s'])}. Phases ran raw, agent, raw; the ratio is the agent's rate over the "
        f"mean of the two raw rates (`bench/b6_scale.py`). The two raw phases differ by {spread:.2f}x in this run: "
        "other work on the machine moves every phase (see the load averages), so read the ratio against that "
        "spread.\n",
        _table(["phase", "transactions", "recipients", "time", "recipients/min", "fees XMR",
                "load average (start → end)"], rows),
        f"\nOn chain after one more block: {r['chain']['mined']} of {r['chain']['checked']} agent transactions "
        f"mined, {r['chain']['funded_once_by_the_agent']:,} of {r['recipients']:,} recipients funded exactly once "
        "by the agent (2 outputs each, counted by subaddress).\n"])


DETAILS = {"b1_cycle": detail_1, "b2_throughput": detail_2, "b3_discovery": detail_3, "b4_startup": detail_4,
           "b5_recording": detail_5, "b6_scale": detail_6}


class _Items(list):
    def append(self, label: str, text: str) -> None:  # noqa: D102 - (label, text) pairs
        super().append((label, text))


def _factor(before, after) -> str:
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)) or after <= 0:
        return ""
    if 0.95 <= before / after <= 1.05:
        return "about the same"
    return f"{before / after:.1f}× less" if before >= after else f"{after / before:.1f}× more"


def done_section(results: dict) -> str:
    """R3-R6, made in the agent after the run kept in bench/results/before_r3_r6/: what changed, before/after."""
    b1, b3, b5 = (results.get(k) for k in ("b1_cycle", "b3_discovery", "b5_recording"))
    p1, p3, p5, prun = (load_before(k) for k in ("b1_cycle", "b3_discovery", "b5_recording", "run"))
    rows = []

    def add(label, what, before, after, fmt=fmt_s):
        if before is None or after is None:
            return
        rows.append([label, what, fmt(before), fmt(after), _factor(before, after)])

    if b5 and p5:
        big, pbig = b5["sizes"][-1], p5["sizes"][-1]
        n = f"{big['records']:,}"
        add("R3", f"JSON encode of transactions.json, {n} records (part 5)", pbig["breakdown"]["JSON encode indent=2"],
            big["breakdown"]["JSON encode compact"])
        add("R3", f"`TransactionLedger.append`, {n} records (5b)", pbig["ledger_append"]["median"],
            big["ledger_append"]["median"])
        add("R3", f"`Journal.put`, {n} intents (part 5)", pbig["journal_put"]["median"], big["journal_put"]["median"])
        add("R3", f"transactions.json size, {n} records (MB)", pbig["file_mb"], big["file_mb"], lambda x: f"{x:.1f}")
    if b1 and p1:
        add("R3", "Full cycle, file-backed journal + ledger, median (1b)", p1["variants"]["file"]["cycles"]["median"],
            b1["variants"]["file"]["cycles"]["median"])
        h, ph = b1["history"][-1], p1["history"][-1]
        add("R3", f"Full cycle, file-backed, after {h['history']:,} payments (1c)", ph["file"]["median"],
            h["file"]["median"])
        add("R4", f"Full cycle, in-memory, after {h['history']:,} payments (1c)", ph["memory"]["median"],
            h["memory"]["median"])
        h0, ph0 = b1["history"][0], p1["history"][0]
        add("R4", f"the same ÷ the in-memory cycle at H = {h0['history']} (same run)",
            ph["memory"]["median"] / ph0["memory"]["median"], h["memory"]["median"] / h0["memory"]["median"],
            lambda x: f"{x:.2f}×")
        for key, name in (("Idle → Discovering (wake)", "Idle step"),
                          ("SelectingMiner → CheckingBalance (miner_selected)", "SelectingMiner step")):
            add("R4", f"{name}, in-memory, after {h['history']:,} payments (1c)", ph["memory_transitions"].get(key),
                h["memory_transitions"].get(key))
    if b3 and p3:
        big, pbig = b3["sizes"][-1], p3["sizes"][-1]
        n = f"{big['agents']:,}"
        add("R5", f"SelectingRecipient step, {n} agents (part 3)", pbig["cycle"]["per_state_median"].get("SelectingRecipient"),
            big["cycle"]["per_state_median"].get("SelectingRecipient"))
        add("R5", f"Full cycle, {n} agents in the registry (3d)", pbig["cycle"]["cycles"]["median"],
            big["cycle"]["cycles"]["median"])
        add("R6", f"Cold read, {n} agents (3a)", pbig["cold"]["median"], big["cold"]["median"])
        add("R6", "its CPU time (3a)", pbig["cold_cpu"]["median"], big["cold_cpu"]["median"])
        add("R6", f"Re-read after one entry changed, {n} agents (part 3)", pbig["changed"], big["changed"])
        add("R6", f"Peak RSS after reading {n} agents (MiB, part 3)", pbig["rss_peak_kib"] / 1024,
            big["rss_peak_kib"] / 1024, lambda x: f"{x:.0f}")
        if pbig.get("heap") and big.get("heap"):
            add("R6", f"Snapshot of {n} agents in memory (MiB, tracemalloc; attributes no longer copied)",
                pbig["heap"]["snapshot_mib"], big["heap"]["snapshot_mib"], lambda x: f"{x:.0f}")
        add("R6", f"`parse_agents`, warm process, {n} agents (part 3)", pbig["breakdown"]["parse_agents"],
            big["breakdown"]["parse_agents"])
        sizes, psizes = b3["sizes"], p3["sizes"]
        if len(sizes) == len(psizes) == 3:
            g = lambda ss: " / ".join(f"{ss[i + 1]['cold_cpu']['min'] / ss[i]['cold_cpu']['min']:.1f}×"
                                      for i in range(len(ss) - 1))
            rows.append(["R6", "Cold read CPU growth per 10× agents (3b)", g(psizes), g(sizes), ""])
    what = [
        ("R3", "`fsm_distributor/shared_state.py`, `_dumps`: `SharedDir` writes compact JSON by default "
               "(`indent=None`, separators without spaces), so `json` uses its C encoder; still ASCII-only and "
               "without NaN/Infinity. An explicit `indent` is still honoured."),
        ("R4", "`fsm_distributor/context.py`: `Context.put_intent`/`load_intents` are the only writers of "
               "`ctx.intents` (used by `actions/intents.advance`, `actions/journaling.write_intent` and "
               "`actions/recovering._load`) and keep an index of the open intents in journal order; "
               "`open_intents()`/`busy_miners()` read it (O(open intents)). `Context.paid_recipients(purpose)` "
               "caches `journal.paid_recipients` until `ctx.intents` changes (PlanningBatch and the funding status "
               "used to scan every intent on each call)."),
        ("R5", "`fsm_distributor/registry.py`: `Snapshot` works out once, on first use, the agents with a wallet, "
               "their positions and the agents that receive distributions (`cached_property`; a Snapshot only "
               "changes when the files do). `recipient_selection.eligible` returns `registry.WalletAgents`, a "
               "view that skips the few excluded ids (O(excluded) per cycle; the random draw and the round-robin "
               "cursor give the same agent as the old list, tested item by item), and `batch_planning.fundable` "
               "filters `Snapshot.receivers`."),
        ("R6", "`fsm_distributor/registry.py`: `RegistryReader.read` and `build_snapshot` pause the cyclic garbage "
               "collector (re-enabled in a `finally`, only if it was enabled); `parse_agents` keeps the entry's "
               "own `attributes` dict (the cached documents are never mutated) and `_port` takes integers "
               "without the `str()` round trip. The collector's first pass over the new objects comes when it is "
               "re-enabled and is part of the measured read (`contextlib` `__exit__` in the profile of part 3); the "
               "older generations' passes come later, as for any long-lived data."),
    ]
    when = _when(prun.get("finished_at")) if prun else "?"
    load = ""
    if prun:
        la, le = prun["machine"].get("loadavg", [0])[0], prun.get("loadavg_end", [0])[0]
        load = f", 1-minute load average {la:.1f} at the start and {le:.1f} at the end"
    out = ["## Changes made since the previous run (R3–R6)\n",
           "The bench touches no source file; after the run of " + when + " (its results are kept in "
           "`bench/results/before_r3_r6/`" + load + ") these recommendations of that run were made in the "
           "agent, behaviour unchanged (same decisions for the same seed; the unit tests check each change "
           "against the code it replaced):\n",
           "\n".join(f"- **{label}.** {text}" for label, text in what), ""]
    if rows:
        out += ["Before = that run, after = this run: two runs on a shared machine, so read the factors, not the "
                "last digit.\n",
                _table(["Change", "Figure", f"Before ({when})", "After (this run)", "Change"], rows), ""]
    return "\n".join(out) + "\n"


def recommendations(results: dict) -> str:
    b1, b3, b5, b4 = (results.get(k) for k in ("b1_cycle", "b3_discovery", "b5_recording", "b4_startup"))
    items = _Items()
    if b5:
        big = b5["sizes"][-1]
        items.append("R1", f"**`fsm_distributor/journal.py`, `Journal.put`/`load`**: an append-only JSON-lines journal "
                     f"(append one line + fsync per status change; compact it in `load`, i.e. in Recovering). "
                     f"O(1) per write: {fmt_s(big['jsonl_journal_put']['median'])} vs "
                     f"{fmt_s(big['journal_put']['median'])} at {big['records']:,} intents (part 5).")
        items.append("R2", f"**`fsm_distributor/ledger.py`, `TransactionLedger.append`**: the byte append of "
                     f"`bench/remedy.py::byte_append` (same lock, temp file and rename; full parse only when the "
                     f"tx_hash is already in the file). {fmt_s(big['byte_append']['median'])} vs "
                     f"{fmt_s(big['ledger_append']['median'])} at {big['records']:,} records.")
    if b3:
        big = b3["sizes"][-1]
        heap = big.get("heap") or {}
        items.append("R6 (rest)", "**`fsm_distributor/registry.py`, `RegistryReader`**: keep only the (ino, size, "
                     "mtime) key and the Snapshot as the cache instead of the parsed documents"
                     + (f" (they hold {heap.get('documents_mib', 0):.0f} MiB at {big['agents']:,} agents, the "
                        f"Snapshot {heap.get('snapshot_mib', 0):.0f} MiB)" if heap else "")
                     + "; this needs `SharedDir.read_json_cached` to report \"unchanged\" without keeping the "
                       "document (today the reader detects a change by the identity of the cached document).")
    if b4:
        share = dict(b4["imports"]["top"]).get("numpy", 0) / b4["imports"]["total_us"]
        within = "within target today" if b4["start_to_first_transition"]["median"] <= 0.5 else "over target"
        items.append("R7", f"**Start-up (`fsm_distributor/cli.py`, `context.py`, `actions/*`)**: {within}. The "
                     f"largest import is numpy ({100 * share:.0f}% of the import time), used only for the seeded RNG; "
                     f"`random.Random(seed)` from the standard library would remove it (a behaviour change: the "
                     f"draws for a given SIMULATION_SEED would differ). `requests` could be imported on the first "
                     f"wallet call, which only moves its cost past the first transition.")
    if b3:
        big = b3["sizes"][-1]
        per = big["cycle"]["per_state_median"]
        items.append("R8", f"**`fsm_distributor/actions/miner_selection.py` `candidates` and "
                     f"`actions/discovery.discover`**: the miners with a wallet endpoint (and their weights) worked "
                     f"out once per snapshot, as R5 does for recipients: SelectingMiner takes "
                     f"{fmt_s(per.get('SelectingMiner'))} and Discovering {fmt_s(per.get('Discovering'))} per cycle "
                     f"with {big['miners']:,} miners among {big['agents']:,} agents.")
    if not items:
        return ""
    return ("## Recommended code changes (still open)\n\nNot made yet; each with the figure that motivates it, "
            "from this run. R1 and R2 are the plan for the file-backed cycle (1b).\n\n"
            + "\n".join(f"- **{label}.** {text}" for label, text in items) + "\n")


def render() -> str:
    run = load_result("run")
    results = {part: load_result(part) for part in PARTS}
    stamps = [f"{TITLES[p].split('.')[0]}: {_when(r.get('finished_at'))}" for p, r in results.items() if r]
    parts = [
        "# Benchmarks\n",
        "Generated by `make bench` (`python3 -m bench`, sources in `bench/`) from `bench/results/*.json`; do not "
        "edit by hand, run it again. The test suite times nothing: speed and memory targets live here, measured "
        "as ratios against a baseline in the same run where that makes sense.\n",
        machine_section(run),
        headline(results, run),
        missed_section(results),
        done_section(results),
        recommendations(results),
        "## Details\n",
    ]
    for part in PARTS:
        r = results.get(part)
        if r is None:
            parts.append(f"### {TITLES[part]}\n\nNot measured in this run.\n")
            continue
        try:
            parts.append(DETAILS[part](r, results) if part == "b2_throughput" else DETAILS[part](r))
        except (KeyError, TypeError, ZeroDivisionError) as exc:  # a partial result: say so, keep the rest
            parts.append(f"### {TITLES[part]}\n\nDetails unavailable ({type(exc).__name__}: {exc}).\n")
    parts.append("## Reproduce\n\n```\nmake bench            # everything: runs each part, rewrites this file\n"
                 "python3 -m bench --only 3     # one part (others keep their last results)\n"
                 "python3 -m bench --quick      # a smoke run with smaller sizes\n"
                 "python3 -m bench --report-only  # re-render this file from bench/results/\n```\n\n"
                 "Part 2 needs `monerod` and `monero-wallet-rpc` (`make setup`); without them it is reported as "
                 "not measured. Every process a part starts is stopped by its PID. Results of each part: "
                 + "; ".join(stamps) + ".\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render())

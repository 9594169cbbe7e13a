"""docs/benchmarks.md from bench/results/latest.json (this run) and previous.json (the report before issue 10)."""

from __future__ import annotations

import datetime as dt
import importlib
import re

from bench.common import REAL_TRANSFER_S, fmt_s

PARTS = {"1": ("cycle", "Overhead per full cycle"), "2": ("throughput", "Throughput against the wallet's limit"),
         "3": ("discovery", "Scale of discovery"), "4": ("startup", "Start-up and memory"),
         "5": ("recording", "Recording cost"), "6": ("scale", "Funding at scale"),
         "7": ("network", "Network reads")}
#: A figure this much worse than the previous code's is called worse; below it, this shared machine moves figures
#: as much between runs of the same code (and more where the previous code's own runs differ more).
NOISE = 1.3
#: The figures of what issue 10 changed, before and after: (change, figure key).
CHANGED = [("R1 done", k) for k in ("1b.file", "1b.fsyncs", "1b.fsync", "1c.H0.file", "1c.H1000.file",
                                    "1c.H10000.file", "1.step.journaled.file", "1.step.relayed.file",
                                    "1.step.recorded.file", "5.100000.journal_put")] + \
          [("R6 removed", k) for k in ("3.100000.cold", "3.100000.cold_cpu", "3.100000.cold_paused",
                                       "3.100000.changed", "3.10000.cold")] + \
          [("R5 removed", k) for k in ("3.100000.SelectingRecipient", "3.100000.cycle", "3.10000.SelectingRecipient",
                                       "1.step.recipient_selected.memory")]
#: Why figures are worse than the previous code's (regular expressions over figure keys), written after
#: looking into them for this report; said only where a figure is worse beyond noise.
EXPLAINED = [
    (r"3\.\d+\.cycle$", "R5 removed: SelectingRecipient builds its list of eligible agents each cycle (see What "
     "issue 10 changed), on top of the machine's own cost per step since the restructuring (see 1a)"),
    (r"1a\.(memory|memory_cpu|nolog)$|1\.step\.\w+\.(memory|file)$|1c\.H\d+\.memory$|3\.\d+\.(Discovering|Selecting"
     r"Miner)$", "the machine's own cost per step since the restructuring: `Distributor.step` (machine.py) calls "
     "`Machine.get_triggers(source)`, which scans the whole table, on every step (`1.get_triggers`, nine times a "
     "cycle), and the machine's states are Enum members, which `transitions` handles more slowly (`1a.bare_enum`); "
     "see 1a. Left as it is here (the bench does not change the agent)"),
    (r"1a\.memory_p99$", "the tail is the cyclic garbage collector's passes falling inside a cycle: in repeated runs "
     "of 200 cycles its p99 ranged from 1.7 to 6.4 ms, and from 1.5 to 2.3 ms with the collector paused; the "
     "restructured cycle allocates more (8 young-generation collections per 400 cycles against 6), so passes come "
     "more often. The median is the figure the target is about"),
    (r"3\.\d+\.SelectingRecipient$", "R5 removed (see What issue 10 changed): the eligible recipients are a list "
     "comprehension over every agent with a wallet, each cycle"),
    (r"3\.\d+\.(cold|cold_cpu|changed)$", "R6 removed (see What issue 10 changed): the parse runs with the garbage "
     "collector on, whose passes over the new objects are part of the read"),
]


def explained(key: str) -> str:
    return next((f": {text}" for pattern, text in EXPLAINED if re.match(pattern, key)), "")


def table(headers: list, rows: list) -> str:
    return "\n".join(["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
                     + ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows])


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def value(fig: dict, v: float) -> str:
    unit = fig["unit"]
    if unit == "s":
        return fmt_s(v)
    if unit == "XMR":
        return f"{v:,.6f} XMR"
    return f"{v:,.0f}{unit}" if unit == "/min" or float(v).is_integer() else f"{v:,.2f} {unit}".strip()


def verdict(fig: dict, before: float, noise: float = NOISE) -> tuple[str, float]:
    """('better' | 'same' | 'worse, within noise' | '**worse**', factor now/before, oriented so > 1 is worse)."""
    now = fig["value"]
    if not before or not now:
        return ("same" if now == before else "changed"), 1.0
    worse = now / before if fig["better"] == "lower" else before / now
    if fig["unit"] == "" and fig["better"] == "lower" and abs(now - before) < 0.05:  # slopes, counts
        worse = 1.0
    label = "better" if worse < 1 / 1.1 else "same" if worse <= 1.1 else "worse, within noise" if worse <= noise \
        else "**worse**"
    return label, worse


def comparison(figures: dict, previous: dict, control: list[dict], keys) -> list[list]:
    """Rows: figure, what, previous report, previous code on this machine, this run, factor, verdict.  Where
    the previous code was run again on this machine (`control`: one dict of figures per run), the verdict
    compares with the mean of those runs, and their own spread widens the noise band."""
    out = []
    for key in keys:
        fig, before, again = figures.get(key), previous.get(key), [c[key] for c in control if key in c]
        if fig is None or (before is None and not again):
            continue
        noise = max([NOISE] + [max(again) / min(again)] if again and min(again) > 0 else [NOISE])
        label, factor = verdict(fig, sum(again) / len(again) if again else before, noise)
        out.append([f"`{key}`", fig["label"], "" if before is None else value(fig, before),
                    ", ".join(value(fig, v) for v in again), value(fig, fig["value"]),
                    f"{factor:.2f}×" if factor >= 0.1 else f"1/{1 / factor:,.0f}",
                    label + (explained(key) if label == "**worse**" else "")])
    return out


HEADERS = ["Figure", "What", "Previous report", "Previous code, this machine", "This run", "Factor (> 1: worse)",
           "Verdict"]


def render(results: dict, previous: dict, control: dict) -> str:
    parts = results["parts"]
    figures = {k: v for p in parts.values() for k, v in p.get("figures", {}).items()}
    out = ["# Benchmarks\n\nGenerated by `make bench` (`python3 -m bench`, sources in `bench/`) from "
           "`bench/results/latest.json`; do not edit by hand, run it again. The test suite times nothing: speed and "
           "memory targets live here, as ratios against a baseline measured in the same run where that makes sense.",
           machine(results["run"], parts), *headline(parts)]
    if all(k in figures for k in ("1c.H10000.journal", "3.100000.cold", "3.100000.SelectingRecipient")):
        met = {r["id"]: r["met"] for p in parts.values() for r in p.get("rows", [])}
        out.append(changes(figures, previous["figures"], control.get("runs", []), met))
    rest = comparison(figures, previous["figures"], control.get("runs", []),
                      [k for k in figures if k not in {k for _, k in CHANGED}])
    out.append(f"## Every other figure against the previous report\n\nThe previous report: {previous['about']} "
               + (f"The previous code on this machine: {control['about']} " if control else "")
               + f"The verdict compares this run with the previous code on this machine where it was measured again, "
               f"else with the previous report; more than {NOISE}× worse (or more than the spread of the previous "
               f"code's own runs) is called worse: below that, this shared machine moves figures as much. "
               f"{len(rest)} figures, {sum(r[-1].startswith('**worse**') for r in rest)} of them worse.\n\n"
               + table(HEADERS, rest))
    out.append("## Details")
    for n, (module, title) in PARTS.items():
        part = parts.get(n, {})
        doc = importlib.import_module(f"bench.{module}").__doc__.split("\n", 2)[2].strip()
        out += [f"### {n}. {title}\n\n{doc}" + (f" Run of {when(part['finished_at'])}." if part else "")] + [
            f"**{t['title']}**" + (f"\n\n{t['text']}" if t.get("text") else "") + "\n\n"
            + table(t["headers"], t["rows"])
            for t in part.get("tables", [])]
    out.append("## Reproduce\n\n```\nmake bench                      # every part, rewrites this file (about 12 "
               "minutes on 2 cores)\npython3 -m bench --only 1,3     # some parts; the others keep their last results"
               "\npython3 -m bench --quick         # a smoke run with smaller sizes\npython3 -m bench --report-only   "
               "# rewrite this file from bench/results/\n```\n\nParts 2 and 6 need `monerod` and `monero-wallet-rpc` "
               "(`make setup`); without them they are reported as not measured. Every process a part starts is "
               "stopped by its PID, also when the part fails.")
    return "\n\n".join(out) + "\n"


def machine(run: dict, parts: dict) -> str:
    m, la, le = run["machine"], run["load_start"], run["load_end"]
    return (f"## Machine\n\nEvery figure below was measured on this machine in the run of {when(run['finished_at'])} "
            f"(`{run['command']}`){', a smoke run with reduced sizes' if run['quick'] else ''}.\n\n"
            + table(["", ""], [["CPU", f"{m['cpu']} ({m['cores']} cores)"], ["Memory", f"{m['memory_gib']:.1f} GiB"],
                               ["Python", m["python"]], ["Monero", m["monero"]], ["Kernel", m["kernel"]],
                               ["Temp-dir filesystem (fsync target)", m["tmp_filesystem"]],
                               ["Packages", ", ".join(f"{k} {v}" for k, v in m["packages"].items())],
                               ["Load average (1/5/15 min) at start / end", " ".join(f"{x:.2f}" for x in la) + " / "
                                + " ".join(f"{x:.2f}" for x in le)],
                               ["Parts (duration; 1-minute load average at their start → end)", ", ".join(
                                   f"{n} {p['duration_s']:.0f} s ({p['load'][0]:.1f} → {p['load'][1]:.1f})"
                                   for n, p in parts.items() if "duration_s" in p)]]))


def headline(parts: dict) -> list[str]:
    """The results table (a row per target) and the prose for each target not met."""
    rows, missed = [], []
    for n, (module, title) in PARTS.items():
        part = parts.get(n, {"failed": "not run"})
        if "failed" in part:
            rows.append([n, f"{title}: not measured ({part['failed']})", "", "", "", "", "**no**"])
            missed.append(f"- **Part {n}, {title}**, was not measured: {part['failed']}.")
        for r in part.get("rows", []):
            rows.append([r["id"], r["what"], r["target"], r["measured"], r["baseline"], r["ratio"],
                         {True: "yes", False: "**no**", None: "n/a (reported)"}[r["met"]]])
            if r["met"] is False:
                missed.append(f"- **{r['id']}, {r['what']}** ({r['measured']}; target {r['target']}). {r['why']}")
    return [f"## Results\n\nSame-run ratios are the headline; absolute times are context (a machine shared with other "
            f"work: see the load averages, which disturb tail latencies and fsync most). \"One real transfer\" is the "
            f"{REAL_TRANSFER_S} s median of one `transfer` on regtest (docs/wallet-facts.md); part 2 measures it "
            "again.\n\n"
            + table(["#", "What", "Target", "Measured", "Baseline (same run)", "Ratio", "Met?"], rows),
            "## Targets not met\n\n" + ("\n".join(missed) or "None: every target with a number was met.")]


CHANGES = """## What issue 10 changed

- **R1 done**: the journal is append-only JSON lines (`adapters/journal.py`), compacted when it is loaded. The \
file-backed cycle (1b) takes {1b.file} ({was:1b.file}) with {1b.fsyncs} fsyncs instead of {was:1b.fsyncs}, and \
its journal writes cost the same at every history size (1c: {1c.H0.journal} per cycle at H = 0, \
{1c.H10000.journal} at H = 10,000). What still grows with H is the rewrite of transactions.json \
({1c.H0.ledger} at H = 0, {1c.H10000.ledger} at H = 10,000: Monerosim's format, R2 in part 5, still open). \
The new cost is the compaction when the journal is loaded, once per start (`Journal.load`, part 5).
- **R6 removed** (the registry reader no longer pauses the garbage collector): the cold read of 100,000 agents \
takes {3.100000.cold} ({was:3.100000.cold}: with the pause); in this run the same read with the collector paused \
by the caller takes {3.100000.cold_paused}, which is what the pause would still buy. Target 3a (≤ 1 s): {met:3a}.
- **R5 removed** (no bisect view of the registry; the eligible recipients are a list comprehension per cycle): \
SelectingRecipient at 100,000 agents takes {3.100000.SelectingRecipient} per cycle \
({was:3.100000.SelectingRecipient}), the full cycle at 100,000 agents (3d) {3.100000.cycle} \
({was:3.100000.cycle}), {share:3.100000.cycle} of one real transfer. Target 3d (< 1 ms): {met:3d}, as before.

"""


def changes(figures: dict, pf: dict, cf: list[dict], met: dict) -> str:
    """What issue 10 changed (R1 done, R6 and R5 removed): CHANGES filled in, then its figures before and after."""
    def fill(m: re.Match) -> str:
        kind, _, key = m.group(1).rpartition(":")
        if kind == "met":
            return {True: "met", False: "not met", None: "not measured"}[met.get(key)]
        fig = figures[key]
        if kind == "share":
            return f"{100 * fig['value'] / REAL_TRANSFER_S:.1f}%"
        if kind == "was":
            return f"{value(fig, pf[key])} in the previous report" + "".join(
                f", {value(fig, c[key])} for the previous code on this machine" for c in cf if key in c)
        return value(fig, fig["value"])
    return re.sub(r"\{([\w.:]+)\}", fill, CHANGES) + table(
        ["Change"] + HEADERS[1:], [[tag] + r[1:] for tag, key in CHANGED for r in comparison(figures, pf, cf, [key])])

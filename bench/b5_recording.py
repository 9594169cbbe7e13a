"""5. Recording cost: one append to a transactions.json that already holds N records.

For N in 1k, 10k and 100k, transactions.json is written as the agent writes it
(records of `actions.recording.ledger_records`, compact JSON as SharedDir writes it
since R3) and timed:
- `TransactionLedger.append` of one new record (the agent's Recording state);
- where that time goes (read, JSON decode, JSON encode as the agent does it
  and, for comparison, with indent=2 as before R3, write, fsync);
- `Journal.put` of one intent into a journal of N intents (three per payment);
- the remedies prototyped in bench/remedy.py: byte append (with and without
  fsync) for transactions.json, an append-only JSON-lines journal.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import dump_progress, fmt_s, loglog_slope, row, stats, write_result

AGENT = "distributor"


def synthetic(n: int):
    """`n` confirmed intents and their ledger records (as in part 1's history)."""
    from bench.b1_cycle import history_intents
    return history_intents(n)


def new_intent(k: int):
    from dataclasses import replace

    from bench.b1_cycle import history_intents
    from fsm_distributor.adapters.journal import RELAYED
    intent = history_intents(1)[0][0]
    return replace(intent, tx_hash=f"{0xbeef:08x}{k:056x}", status=RELAYED)


def breakdown(path: Path, reps: int) -> dict:
    """The steps of one append today, each timed on its own (the agent's compact encoding,
    `shared_state._dumps(doc, None)`, is what is written; indent=2, as before R3, is timed for comparison)."""
    from fsm_distributor.adapters.shared_state import _dumps

    parts = {k: [] for k in ("read", "JSON decode", "JSON encode indent=2", "JSON encode compact",
                             "write", "fsync")}
    for _ in range(reps):
        t0 = time.perf_counter()
        raw = path.read_bytes()
        t1 = time.perf_counter()
        doc = json.loads(raw.decode("utf-8"))
        t2 = time.perf_counter()
        (json.dumps(doc, ensure_ascii=True, allow_nan=False, indent=2) + "\n").encode("ascii")
        t3 = time.perf_counter()
        data = _dumps(doc, None)
        t4 = time.perf_counter()
        tmp = path.with_suffix(".benchtmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        t5 = time.perf_counter()
        os.fsync(fd)
        t6 = time.perf_counter()
        os.close(fd)
        os.unlink(tmp)
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            parts[key].append(dt)
        del doc, data, raw
    return {k: stats(v)["median"] for k, v in parts.items()}


def measure_size(root: Path, n: int, reps: int, check: bool) -> dict:
    from bench.remedy import JsonLinesJournal, byte_append
    from fsm_distributor.actions.recording import ledger_records
    from fsm_distributor.adapters.journal import Journal
    from fsm_distributor.adapters.ledger import TRANSACTIONS, TransactionLedger
    from fsm_distributor.adapters.shared_state import SharedDir

    d = root / f"n{n}"
    d.mkdir()
    shared = SharedDir(d)
    intents, records = synthetic(n)
    shared.write_json_atomic(TRANSACTIONS, records)
    shared.write_json_atomic(f"{AGENT}_distributor_journal.json", {"intents": [i.to_json() for i in intents]})
    jsonl = d / f"{AGENT}_journal.jsonl"
    with open(jsonl, "w") as f:  # the same history for the JSON-lines journal, one line per intent
        for intent in intents:
            f.write(json.dumps(intent.to_json(), separators=(",", ":")) + "\n")
    del intents, records
    gc.collect()
    entry = {"records": n, "file_mb": (d / TRANSACTIONS).stat().st_size / 1e6,
             "journal_mb": (d / f"{AGENT}_distributor_journal.json").stat().st_size / 1e6}
    ledger, journal = TransactionLedger(shared, AGENT), Journal(shared, AGENT)
    k = n * 10 + 1

    def timed_reps(fn):
        nonlocal k
        out = []
        for _ in range(reps):
            k += 1
            intent = new_intent(k)
            recs = ledger_records(intent, AGENT, 946684800.0)
            gc.collect()
            os.sync()  # no dirty pages of an earlier write are flushed by this one's fsync
            t0 = time.perf_counter()
            fn(intent, recs)
            out.append(time.perf_counter() - t0)
        return stats(out)

    entry["ledger_append"] = timed_reps(lambda i, r: ledger.append(r))
    entry["journal_put"] = timed_reps(lambda i, r: journal.put(i))
    hows = []
    entry["byte_append"] = timed_reps(lambda i, r: hows.append(byte_append(shared, TRANSACTIONS, r,
                                                                           fallback=ledger.append)))
    entry["byte_append_nofsync"] = timed_reps(lambda i, r: hows.append(byte_append(
        shared, TRANSACTIONS, r, fsync=False, fallback=ledger.append)))
    entry["byte_append_paths"] = sorted(set(hows))
    jl = JsonLinesJournal(jsonl)
    entry["jsonl_journal_put"] = timed_reps(lambda i, r: jl.put_json(i.to_json()))
    jl.close()
    entry["breakdown"] = breakdown(d / TRANSACTIONS, max(1, reps - 1))
    if check:  # the byte-appended file is the same array the full rewrite would have made
        doc = json.loads((d / TRANSACTIONS).read_text())
        keys = [(r["tx_hash"], r["recipient_id"]) for r in doc]
        assert len(keys) == len(set(keys)) == n + 3 * reps, (len(keys), n, reps)
        entry["byte_append_checked"] = True
    shutil_rmtree(d)
    return entry


def shutil_rmtree(path: Path) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    sizes = (1000, 10000) if args.quick else (1000, 10000, 100000)
    per_size = []
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as root:
        for n in sizes:
            reps = 2 if n >= 100000 else 5
            dump_progress(f"5. recording with {n} records already there")
            entry = measure_size(Path(root), n, reps, check=n == sizes[0])
            dump_progress(f"   ledger append {fmt_s(entry['ledger_append']['median'])}, journal put "
                          f"{fmt_s(entry['journal_put']['median'])}, byte append "
                          f"{fmt_s(entry['byte_append']['median'])}")
            per_size.append(entry)
    slope = loglog_slope([e["records"] for e in per_size], [e["ledger_append"]["median"] for e in per_size])
    jslope = loglog_slope([e["records"] for e in per_size], [e["journal_put"]["median"] for e in per_size])
    results = {"sizes": per_size, "ledger_slope": slope, "journal_slope": jslope}
    by_n = {e["records"]: e for e in per_size}
    rows = []
    for n in (10000, 100000):
        e = by_n.get(n)
        if e is None:
            continue
        rows.append(row(f"5{'a' if n == 10000 else 'b'}",
                        f"Recording: one append to transactions.json holding {n:,} records ({e['file_mb']:.0f} MB)",
                        "report; linear growth?", fmt_s(e["ledger_append"]["median"]),
                        baseline=f"journal put at {n:,} intents {fmt_s(e['journal_put']['median'])}",
                        ratio=f"{100 * e['ledger_append']['median'] / 0.31:.0f}% of a transfer; remedy "
                              f"(byte append) {fmt_s(e['byte_append']['median'])}, without fsync "
                              f"{fmt_s(e['byte_append_nofsync']['median'])}",
                        met=None, note=f"grows linearly (log-log slope {slope:.2f}); see the remedy below"))
    results["rows"] = rows
    path = write_result("b5_recording", results)
    dump_progress(f"5. written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

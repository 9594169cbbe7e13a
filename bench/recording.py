"""5. Recording: one append to transactions.json and one journal put, when N are already there.

For N in 1k, 10k, 100k: `TransactionLedger.append` of one record (Recording), where
its time goes, `Journal.put` (one JSON line, fsynced: R1), `Journal.load` (the
compaction, once per start), and the remedy still open for transactions.json (R2,
`byte_append` below).  Each write after `os.sync()`, so that its fsync does not
flush an earlier write's pages.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import REAL_TRANSFER_S, Figures, fmt_s, laps, progress, row, slope, summary

AGENT = "distributor"


def byte_append(shared, name: str, records: list[dict], fsync: bool = True) -> bool:
    """R2, a prototype: append `records` to the JSON array `name` without parsing or re-encoding it.

    Same protocol as Monerosim's writers (lock, `<stem>.tmp`, fsync, rename,
    directory fsync), so lock-free readers still see a whole array; the old bytes
    are copied, not parsed.  False (nothing written) when the file does not end in
    ``]`` or already names one of the tx hashes (a re-recording: the full path
    de-duplicates it).
    """
    from fsm_distributor.adapters.shared_state import tmp_name
    with shared.locked(name):
        raw = shared.path_of(name).read_bytes()
        end = _before_space(raw, len(raw))  # scanned, not stripped: a copy of the file would cost as much as R2
        if not end or raw[end - 1] != ord("]") or any(r["tx_hash"].encode() in raw for r in records):
            return False
        head = _before_space(raw, end - 1)
        tail = (b"" if raw[head - 1] == ord("[") else b",") + ",".join(
            json.dumps(r, separators=(",", ":")) for r in records).encode()
        tmp = shared.path / tmp_name(name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for piece in (memoryview(raw)[:head], tail, b"]\n"):
                os.write(fd, piece)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, shared.path_of(name))
        if fsync:
            shared._fsync_dir()
    return True


def _before_space(raw: bytes, end: int) -> int:
    """`end` moved back over trailing whitespace."""
    while end and raw[end - 1] in b" \t\r\n":
        end -= 1
    return end


def breakdown(path: Path, reps: int) -> dict:
    """One append's steps, each timed alone (compact as the agent writes; indent=2 as before R3)."""
    from fsm_distributor.adapters.shared_state import _dumps
    tmp = path.with_suffix(".benchtmp")

    def write(data: bytes) -> int:  # a new file each time, as the agent's temp file is
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        return fd
    steps = laps(path, {"read": Path.read_bytes, "decode": json.loads, "encode": lambda doc: (doc, _dumps(doc, None)),
                        "encode_indent2": lambda both: _dumps(both[0], 2) and both[1], "write": write,
                        "fsync": lambda fd: os.fsync(fd) or os.close(fd) or tmp.unlink()}, reps)
    return steps


def measure(root: Path, n: int, reps: int) -> dict:
    from bench.cycle import history
    from fsm_distributor.actions.shared import ledger_records
    from fsm_distributor.adapters.journal import Journal
    from fsm_distributor.adapters.ledger import TRANSACTIONS, TransactionLedger
    from fsm_distributor.adapters.shared_state import SharedDir
    from fsm_distributor.core.names import Status
    d = root / str(n)
    d.mkdir()
    shared = SharedDir(d)
    intents, records = history(n)
    shared.write_json_atomic(TRANSACTIONS, records)
    journal, ledger = Journal(shared, AGENT), TransactionLedger(shared, AGENT)
    journal.put_many(intents)
    template = replace(intents[0], status=Status.RELAYED)
    del intents, records
    out = {"mb": (d / TRANSACTIONS).stat().st_size / 1e6, "journal_mb": journal.path.stat().st_size / 1e6}
    k = 0

    def timed(fn) -> float:
        nonlocal k
        times = []
        for _ in range(reps):
            k += 1
            intent = replace(template, tx_hash=f"{0xbeef:08x}{k:056x}")
            recs = ledger_records(intent, AGENT, 946684800.0)
            gc.collect()
            os.sync()
            t0 = time.perf_counter()
            assert fn(intent, recs) is not False
            times.append(time.perf_counter() - t0)
        return summary(times)["median"]
    out["ledger_append"] = timed(lambda i, r: ledger.append(r))
    out["journal_put"] = timed(lambda i, r: journal.put(i))
    out["byte_append"] = timed(lambda i, r: byte_append(shared, TRANSACTIONS, r))
    out["byte_append_nofsync"] = timed(lambda i, r: byte_append(shared, TRANSACTIONS, r, fsync=False))
    t0 = time.perf_counter()
    assert len(Journal(shared, AGENT).load().intents) == n + reps
    out["journal_load"] = time.perf_counter() - t0
    keys = [(r["tx_hash"], r["recipient_id"]) for r in json.loads((d / TRANSACTIONS).read_bytes())]
    assert len(keys) == len(set(keys)) == n + 3 * reps  # the byte-appended file is the whole array
    out.update(breakdown(d / TRANSACTIONS, max(1, reps - 1)))
    return out


LABELS = {"ledger_append": "TransactionLedger.append", "journal_put": "Journal.put (one JSON line, fsync)",
          "byte_append": "R2: byte append", "byte_append_nofsync": "R2: byte append, no fsync",
          "journal_load": "Journal.load (compaction, once per start)", "read": "its read", "decode": "its JSON decode",
          "encode": "its JSON encode (compact, as written)", "encode_indent2": "JSON encode with indent=2 (before R3)",
          "write": "its write", "fsync": "its fsync", "mb": "transactions.json size (MB)"}


def run(quick: bool) -> dict:
    f = Figures()
    sizes = (1000, 10000) if quick else (1000, 10000, 100000)
    by_n = {}
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as root:
        for n in sizes:
            progress(f"5. recording with {n:,} records and intents already there")
            by_n[n] = measure(Path(root), n, 2 if n >= 100000 else 5)
            for key, label in LABELS.items():
                f.add(f"5.{n}.{key}", f"{label}, N = {n:,}", by_n[n][key], "MB" if key == "mb" else "s")
    ledger_slope = f.add("5.slope.ledger", "TransactionLedger.append, log-log slope over N",
                         slope(sizes, [by_n[n]["ledger_append"] for n in sizes]), "")
    journal_slope = f.add("5.slope.journal", "Journal.put, log-log slope over N",
                          slope(sizes, [by_n[n]["journal_put"] for n in sizes]), "")
    rows = [row(f"5{'ab'[i]}", f"Recording: one append to transactions.json holding {n:,} records "
                f"({by_n[n]['mb']:.0f} MB)", "report; linear growth?",
                f"{fmt_s(e['ledger_append'])} (log-log slope {ledger_slope:.2f}: linear per append)",
                f"journal put at {n:,} intents {fmt_s(e['journal_put'])} (slope {journal_slope:.2f})",
                f"{100 * e['ledger_append'] / REAL_TRANSFER_S:.0f}% of a transfer; remedy R2 (byte append) "
                f"{fmt_s(e['byte_append'])}, without fsync {fmt_s(e['byte_append_nofsync'])}")
            for i, (n, e) in enumerate((n, by_n[n]) for n in sizes[1:])]
    cols = ("ledger_append", "journal_put", "journal_load", "byte_append", "byte_append_nofsync")
    steps = ("read", "decode", "encode", "encode_indent2", "write", "fsync")
    return {"figures": f, "rows": rows, "tables": [
        {"title": "5. One write when N are already there (median)", "headers": ["N", "MB"] + [LABELS[c] for c in cols],
         "rows": [[f"{n:,}", f"{by_n[n]['mb']:.1f}"] + [fmt_s(by_n[n][c]) for c in cols] for n in sizes]},
        {"title": "Where one TransactionLedger.append goes", "headers": ["N"] + [LABELS[s] for s in steps],
         "rows": [[f"{n:,}"] + [fmt_s(by_n[n][s]) for s in steps] for n in sizes]}]}

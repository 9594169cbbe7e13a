"""Prototypes of the recording remedies that part 5 measures (bench only: the agent does not use them).

Today every append to transactions.json (and every journal write) reads the
whole file, parses it, adds one entry, serialises everything again (compact,
with `json`'s C encoder since R3; before, indent=2 put it on the pure-Python
encoder), writes a temp file, fsyncs and renames it: the cost of one append
grows with the file.

`byte_append` keeps everything Monerosim's readers and writers rely on (one
JSON array, Monerosim's `.lock` sidecar, temp file + atomic rename, so a
lock-free reader never sees a partial file) but never parses or re-encodes the
old records: under the lock it reads the bytes, checks the file still ends
with ``]``, searches the bytes for the new records' tx_hash (the
de-duplication; only a hit, i.e. recovery re-recording, falls back to the full
parse), and writes old bytes + new records.  Still O(file size) in bytes
copied, but with memcpy's constant instead of the JSON encoder's.

`JsonLinesJournal` is the remedy for the agent's own journal, which nobody
else reads: one JSON line per status change, appended and fsynced, O(1) per
write; the last line per tx_hash wins when it is loaded (and compacted) at start-up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from fsm_distributor.adapters.shared_state import SharedDir, tmp_name


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def byte_append(shared: SharedDir, name: str, records: list[dict], *, fsync: bool = True,
                fallback=None) -> str:
    """Append `records` to the JSON array `name`; returns how: 'bytes' or 'fallback'.

    `fallback(records)` is the full parse-and-rewrite path (e.g. the real
    TransactionLedger.append), used when the file is missing, is not an array
    ending in ``]``, or already mentions one of the new tx hashes.  The old
    bytes are never copied in memory: they are written out from a memoryview.
    """
    path = shared.path_of(name)
    with shared.locked(name):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        end = _close_bracket(raw) if raw is not None else None
        if end is not None and not any(r["tx_hash"].encode() in raw for r in records):
            head_end = end
            while head_end and raw[head_end - 1] in _SPACE:
                head_end -= 1
            empty = raw[head_end - 1] == ord("[")
            if shared.indent is None:  # the agent's format since R3: compact, `[{...},{...}]`
                encoded = ",".join(json.dumps(r, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
                                   for r in records).encode("ascii")
                tail = (b"" if empty else b",") + encoded + b"]\n"
            else:
                encoded = ",\n".join(_indent(json.dumps(r, ensure_ascii=True, allow_nan=False, indent=shared.indent))
                                      for r in records).encode("ascii")
                tail = (b"\n" if empty else b",\n") + encoded + b"\n]\n"
            _replace(shared, name, (memoryview(raw)[:head_end], tail), fsync=fsync)
            return "bytes"
    if fallback is None:
        raise RuntimeError(f"{name}: byte append not possible and no fallback given")
    fallback(records)
    return "fallback"


_SPACE = b" \t\r\n"


def _close_bracket(raw: bytes):
    """Index of the array's closing ``]`` if `raw` looks like one JSON array, else None."""
    if not raw[:64].lstrip().startswith(b"["):
        return None
    i = len(raw)
    while i and raw[i - 1] in _SPACE:
        i -= 1
    return i - 1 if i and raw[i - 1] == ord("]") else None


def _replace(shared: SharedDir, name: str, pieces, *, fsync: bool) -> None:
    """Monerosim's protocol under a lock already held: <stem>.tmp, [fsync], rename, [fsync dir]."""
    tmp = shared.path / tmp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, shared.path_of(name))
    if fsync:
        dfd = os.open(shared.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class JsonLinesJournal:
    """An append-only journal: one line per intent change, fsynced; O(1) per write."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: Optional[int] = None

    def put_json(self, record: dict) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("ascii")
        os.write(self._fd, line)
        os.fsync(self._fd)

    def load(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        try:
            with open(self.path, "rb") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash
                    out[entry["tx_hash"]] = entry
        except FileNotFoundError:
            pass
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

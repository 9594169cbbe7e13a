"""`{id}_distributor_journal.jsonl`: the durable record of every intent (see `core.intent`).

Append-only: each status change is one JSON line, appended and fsynced before
the next phase of the payment starts, so a write costs the same however long
the run has been (the previous format rewrote the whole file three times per
payment).  The last line of an intent wins.  Loading compacts the file (one
line per intent, written to a temp file, fsynced and renamed), which is when
its size is paid for: once per start.

Only this agent writes the file (one agent per id: `instance_lock`), so it
needs no Monerosim lock.  A line that cannot be read is a problem: the file is
copied aside byte for byte (`*.corrupt-N.jsonl`, never overwritten) before
the compaction drops it.  A torn last line (a crash in the middle of an
append, whose fsync therefore never returned, so nothing acted on it) is
dropped quietly.  A journal in the previous single-document format
(`*_distributor_journal.json`) is read once and moved aside as `*.migrated`.
Two kinds of line are not intents: recipients adopted by a rebuild, and the
schedule's clock (`schedule_anchor`, the agent's first start; written once).
`advance` refuses a move the intent lifecycle (`core.names.LIFECYCLE`) does
not allow, before anything is written.

Besides intents the journal holds two other line types: `adopted_funded`
(recipients a rebuild counted as funded) and `multisig` (issue 13: the
treasury's set-up progress and its txsets while they gather signatures, see
`core.multisig`; the last line of each key wins, like an intent's).  They are
lines of their own, not intent fields, because neither has a transaction hash,
the intents' key: a set-up never has one, a txset only once fully signed, when
it becomes an intent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from fsm_distributor.adapters.shared_state import SharedDir, SharedIOError, fsync_dir, write_all, write_aside
from fsm_distributor.core.intent import Intent, Loaded
from fsm_distributor.core.multisig import kept_when_compacted
from fsm_distributor.core.names import Status

#: The key of a line that records funded recipients adopted by a rebuild (not an intent).
ADOPTED = "adopted_funded"
#: The key of a multisig treasury line (issue 13): {"multisig": {"key": ..., "body": {...}}}.
MULTISIG = "multisig"
#: The key of the line that keeps the schedule's clock, the agent's first start (not an intent; issue 12).
ANCHOR = "schedule_anchor"


class Journal:
    """The journal of one agent in the shared dir."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self.dir = shared.path
        self.name = f"{agent_id}_distributor_journal.jsonl"
        self.path = self.dir / self.name
        self._legacy = self.dir / f"{agent_id}_distributor_journal.json"

    # ------------------------------------------------------------ reading

    def load(self) -> Loaded:
        """Every intent (the last line of each), compacted on disk; problems for unreadable lines.

        Raises SharedIOError (a StoreError) when the file cannot be read or rewritten.
        """
        legacy = self._migrate()
        raw = self._read()
        if raw is None and not legacy:
            return Loaded({}, found=False)
        parsed = parse_lines(raw or b"")
        intents = {**legacy, **parsed.intents}
        set_aside = self._copy_aside(raw) if parsed.problems and raw is not None else None
        multisig = {k: b for k, b in parsed.multisig.items() if kept_when_compacted(b, intents)}
        self._compact(intents, parsed.adopted, multisig, parsed.anchor)
        return Loaded(intents, parsed.adopted, tuple(parsed.problems), set_aside=set_aside,
                      torn_tail=parsed.torn_tail, multisig=multisig, schedule_anchor=parsed.anchor)

    def _read(self) -> Optional[bytes]:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SharedIOError(self.path, f"cannot be read: {exc.strerror}") from exc

    def _migrate(self) -> dict[str, Intent]:
        """The intents of a journal in the previous format (read once, then moved aside)."""
        try:
            data = json.loads(self._legacy.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: left where it is, the rebuild covers what it held
        entries = data.get("intents") if isinstance(data, dict) else None
        intents = {}
        for entry in entries if isinstance(entries, list) else []:
            try:
                intent = Intent.from_json(entry)
            except ValueError:
                continue
            intents[intent.tx_hash] = intent
        try:
            os.replace(self._legacy, self._legacy.with_name(self._legacy.name + ".migrated"))
        except OSError:
            pass
        return intents

    # ------------------------------------------------------------ writing

    def put(self, intent: Intent) -> None:
        """Write `intent` (new or changed) durably: one line appended and fsynced."""
        self.put_many([intent])

    def put_many(self, intents: list[Intent]) -> None:
        """Several intents in one append and one fsync."""
        self._append(json.dumps(i.to_json(), separators=(",", ":")) for i in intents)

    def adopt_funded(self, funded: dict[str, str]) -> None:
        """Remember recipients funded without an intent of ours (from a rebuild), durably."""
        self._append([json.dumps({ADOPTED: funded}, separators=(",", ":"))])

    def put_multisig(self, key: str, body: dict[str, Any]) -> None:
        """One treasury set-up or txset line (issue 13), durably."""
        self._append([_multisig_line(key, body)])
    def set_schedule_anchor(self, anchor: float) -> None:
        """Keep the schedule's clock durably: one line, written once (at the first start with a schedule)."""
        self._append([json.dumps({ANCHOR: anchor}, separators=(",", ":"))])

    def advance(self, intent: Intent, status: Status, **changes: Any) -> Intent:
        """Move `intent` to `status` (dropping metadata once relayed) and persist it.

        Raises `names.IllegalMove`, before anything is written, for a move its lifecycle refuses.
        """
        updated = intent.moved(status, **changes)
        self.put(updated)
        return updated

    def _append(self, lines: Iterable[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("ascii")
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SharedIOError(self.path, f"could not be appended to: {exc.strerror or exc}") from exc
        if created:
            fsync_dir(self.dir)

    def _compact(self, intents: dict[str, Intent], adopted: dict[str, str],
                 multisig: Optional[dict[str, dict[str, Any]]] = None, anchor: Optional[float] = None) -> None:
        lines = [json.dumps({ANCHOR: anchor}, separators=(",", ":"))] if anchor is not None else []
        lines += [json.dumps(i.to_json(), separators=(",", ":")) for i in intents.values()]
        if adopted:
            lines.append(json.dumps({ADOPTED: adopted}, separators=(",", ":")))
        lines += [_multisig_line(key, body) for key, body in (multisig or {}).items()]
        tmp = self.path.with_name(self.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                write_all(fd, "".join(line + "\n" for line in lines).encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise SharedIOError(self.path, f"could not be compacted: {exc.strerror or exc}") from exc
        fsync_dir(self.dir)

    def _copy_aside(self, raw: bytes) -> str:
        """The damaged file's bytes under the first free `*.corrupt-N.jsonl`."""
        return write_aside(self.dir, lambda n: f"{self.name[:-6]}.corrupt-{n}.jsonl", raw).name


@dataclass(frozen=True)
class Parsed:
    """A journal's lines read back: the last line of each intent wins."""

    intents: dict[str, Intent]
    adopted: dict[str, str]
    #: One per line that is not an intent (nor an adopted-recipients or multisig line).
    problems: list[str]
    #: The last line was a JSON object cut short (a crash in the middle of its append): dropped.
    torn_tail: bool = False
    #: The multisig lines (issue 13), the last of each key, in the order of their latest line.
    multisig: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The schedule's clock, if a line keeps it (the first such line: it is written once).
    anchor: Optional[float] = None


def parse_lines(raw: bytes) -> Parsed:
    """Read-only: tools and tests use it to look at a journal without compacting it."""
    intents: dict[str, Intent] = {}
    adopted: dict[str, str] = {}
    multisig: dict[str, dict[str, Any]] = {}
    anchor: Optional[float] = None
    problems: list[str] = []
    lines = raw.split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline, as every complete append does
    torn_tail = bool(last) and _cut_short(last)
    if last and not torn_tail:
        lines.append(last)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if isinstance(entry, dict) and set(entry) == {ADOPTED} and isinstance(entry[ADOPTED], dict):
                adopted.update({str(k): str(v) for k, v in entry[ADOPTED].items()})
                continue
            if isinstance(entry, dict) and set(entry) == {MULTISIG}:
                key, body = _multisig_entry(entry[MULTISIG])
                multisig.pop(key, None)
                multisig[key] = body
                continue
            if isinstance(entry, dict) and set(entry) == {ANCHOR} and _is_time(entry[ANCHOR]):
                anchor = float(entry[ANCHOR]) if anchor is None else anchor
                continue
            intent = Intent.from_json(entry)
        except ValueError as exc:
            problems.append(f"journal line {number}: {exc}"[:300])
            continue
        intents.pop(intent.tx_hash, None)  # a key's place is its latest line
        intents[intent.tx_hash] = intent
    return Parsed(intents, adopted, problems, torn_tail, multisig, anchor)


def _multisig_line(key: str, body: dict[str, Any]) -> str:
    return json.dumps({MULTISIG: {"key": key, "body": body}}, separators=(",", ":"))


def _multisig_entry(value: Any) -> tuple[str, dict[str, Any]]:
    if not (isinstance(value, dict) and isinstance(value.get("key"), str) and isinstance(value.get("body"), dict)):
        raise ValueError(f"malformed multisig line {str(value)[:120]}: needs a string 'key' and an object 'body'")
    return value["key"], value["body"]


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")


def _cut_short(line: bytes) -> bool:
    """A line that is the beginning of one of ours, cut off: JSON that ends before it is complete."""
    if not line.startswith(b'{"'):
        return False
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(exc.doc.rstrip()) - 1
    except ValueError:
        return False
    return False


def read_journal(path: Path) -> dict[str, Intent]:
    """The intents of a journal file as they stand, without touching it (for tools and tests)."""
    return parse_lines(path.read_bytes()).intents if path.exists() else {}

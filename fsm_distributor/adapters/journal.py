"""`{id}_distributor_journal.json`: the durable record of every intent (see `core.intent`).

Each phase of a payment is written here (temp file, fsync, rename, under
Monerosim's lock) before the next phase starts; `advance` refuses a move the
intent lifecycle (`core.names.LIFECYCLE`) does not allow.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from fsm_distributor.adapters.shared_state import SharedDir, SharedIOError, SharedStateError
from fsm_distributor.core.intent import Intent, Loaded
from fsm_distributor.core.names import Status, check_move

def shape_problem(data: Any) -> Optional[str]:
    """Why `data` is not a journal document, or None (entries are checked one by one later)."""
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not an object with an 'intents' list"
    if not isinstance(data.get("intents"), list):
        return f"has 'intents' of type {type(data.get('intents')).__name__}, not a list"
    if not isinstance(data.get("adopted_funded", {}), dict):
        return "has 'adopted_funded' that is not an object"
    return None


class Journal:
    """`{agent_id}_distributor_journal.json`: every intent by tx_hash, in creation order."""

    def __init__(self, shared: SharedDir, agent_id: str):
        self._shared = shared
        self.name = f"{agent_id}_distributor_journal.json"

    def load(self) -> Loaded:
        """All intents, plus a problem line per entry that could not be read (kept on disk).

        A file that is not a journal at all (truncated, not JSON, the wrong shape) is moved
        aside, never overwritten, and reported in `set_aside`; an I/O error raises.
        """
        try:
            data = self._shared.read_json(self.name, default=None)
        except SharedIOError:
            raise
        except SharedStateError as exc:
            return Loaded({}, problems=(f"journal {exc.problem}",), set_aside=self._set_aside())
        if data is None:
            return Loaded({}, found=False)
        problem = shape_problem(data)
        if problem:
            return Loaded({}, problems=(f"journal {problem}",), set_aside=self._set_aside())
        intents: dict[str, Intent] = {}
        problems: list[str] = []
        for entry in data["intents"]:
            try:
                intent = Intent.from_json(entry)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            intents[intent.tx_hash] = intent
        adopted = {str(k): str(v) for k, v in data.get("adopted_funded", {}).items()}
        return Loaded(intents, adopted, tuple(problems))

    def _set_aside(self) -> Optional[str]:
        path = self._shared.set_aside(self.name)
        return path.name if path else None

    def put(self, intent: Intent) -> None:
        """Write `intent` (new or changed) durably; the rest of the journal is kept as is."""
        self.put_many([intent])

    def put_many(self, intents: list[Intent]) -> None:
        """Write several intents in one durable write."""
        records = [i.to_json() for i in intents]
        hashes = {i.tx_hash for i in intents}

        def change(current: Any) -> dict:
            entries = current.get("intents", [])
            out = [e for e in entries if not (isinstance(e, dict) and e.get("tx_hash") in hashes)]
            out += records
            return {**current, "intents": out}

        self._shared.update_json(self.name, change, default={"intents": []}, check=shape_problem)

    def adopt_funded(self, funded: dict[str, str]) -> None:
        """Remember recipients funded without an intent of ours (from a rebuild), durably."""
        def change(current: Any) -> dict:
            return {**current, "adopted_funded": {**current.get("adopted_funded", {}), **funded}}

        self._shared.update_json(self.name, change, default={"intents": []}, check=shape_problem)

    def advance(self, intent: Intent, status: Status, **changes: Any) -> Intent:
        """Move `intent` to `status` (dropping metadata once relayed) and persist it.

        Raises `names.IllegalMove`, before anything is written, for a move its lifecycle refuses.
        """
        check_move(intent.tx_hash, intent.status, status)
        if status is not Status.BUILT:
            changes.setdefault("tx_metadata", "")
        updated = replace(intent, status=status, **changes)
        self.put(updated)
        return updated

"""The registry files of the shared dir, read into `core.registry` snapshots.

Parsed again only when a file changed (size, mtime, inode); see
`SharedDir.read_json_cached`.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from fsm_distributor.adapters.shared_state import InvalidJSONError, SharedDir, TruncatedJSONError
from fsm_distributor.core.registry import AGENT_REGISTRY, INFO_SUFFIXES, MINERS_REGISTRY, Snapshot, build_snapshot


class RegistryReader:
    """Reads the registries from the shared dir; parses again only when a file changed."""

    def __init__(self, shared: SharedDir):
        self._shared = shared
        self._last_inputs: Optional[tuple[Any, Any]] = None
        self._last: Optional[Snapshot] = None
        self._lenient: dict[str, tuple[bytes, Any]] = {}

    def _load(self, name: str) -> Any:
        """The parsed file; the same object while the file is unchanged.

        SharedDir refuses NaN/Infinity, but Python writers (`json.dump`) emit
        them, e.g. for a weight or a hash rate; one such value must not hide
        every entry, so the file is parsed again with them allowed and the
        entry checks reject the bad value with a problem line.
        """
        try:
            value = self._shared.read_json_cached(name)
        except TruncatedJSONError:
            raise
        except InvalidJSONError as exc:
            try:
                data = self._shared.path_of(name).read_bytes()
                hit = self._lenient.get(name)
                if hit is not None and hit[0] == data:
                    return hit[1]
                value = json.loads(data.decode("utf-8"))
            except (OSError, UnicodeDecodeError, ValueError, RecursionError):
                raise exc from None
            self._lenient[name] = (data, value)
            return value
        self._lenient.pop(name, None)
        return value

    def read(self) -> tuple[Snapshot, bool]:
        """The current snapshot and whether it differs from the previous read."""
        agent_data = self._load(AGENT_REGISTRY)
        miner_data = self._load(MINERS_REGISTRY)
        last = self._last_inputs
        # The cached loader returns the very same objects while the files are unchanged.
        if self._last is not None and last and last[0] is agent_data and last[1] is miner_data:
            return self._last, False
        snapshot = build_snapshot(agent_data, miner_data)
        self._last_inputs, self._last = (agent_data, miner_data), snapshot
        return snapshot, True

    def info_address(self, agent_id: str) -> Optional[str]:
        """The address an agent published in {id}_user_info.json or {id}_miner_info.json."""
        for suffix in INFO_SUFFIXES:
            try:
                data = self._shared.read_json(f"{agent_id}{suffix}", default=None)
            except ValueError:  # an id that cannot name a file has no info file
                return None
            address = data.get("wallet_address") if isinstance(data, dict) else None
            if isinstance(address, str) and address.strip():
                return address.strip()
        return None

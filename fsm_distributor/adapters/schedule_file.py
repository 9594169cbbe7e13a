"""The schedule file (the `schedule` attribute naming a JSON file): read, and read again only when it changed.

Like the registry reader, a read that finds the file unchanged (inode, size,
mtime) returns the schedule it parsed last, so the agent can look at the file
at every Idle step.  Numbers are parsed as Decimal (amounts stay exact).  At
run time every problem is a `StoreError` whose message names it (the agent logs
it and keeps the last good schedule); at start-up `open_schedule` refuses a
missing or invalid file with the one-line `ConfigError` the command line prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

from fsm_distributor.core.config import SCHEDULE_ACCEPTED, ConfigError, schedule_error
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.ports import ScheduleSource
from fsm_distributor.core.schedule import (FixedSchedule, Schedule, ScheduleError, ScheduleSetting, loads,
                                           parse_schedule)


class ScheduleFileError(StoreError):
    """The schedule file cannot be used now: `problem` says why (missing, unreadable, not JSON, invalid)."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class ScheduleFile:
    """One schedule file; parsed again only when its (inode, size, mtime) changed."""

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = Path(path)
        #: (inode, size, mtime) of the last read and what it gave.
        self._last: Optional[tuple[tuple[int, int, int], Union[Schedule, ScheduleError, ScheduleFileError]]] = None

    def read(self) -> Schedule:
        """The schedule (the ScheduleSource port); ScheduleFileError for any problem."""
        try:
            return self.load()
        except ScheduleError as exc:
            raise ScheduleFileError(self.path, f"invalid: {exc}") from None

    def load(self) -> Schedule:
        """Like `read`, but an invalid schedule raises its ScheduleError (entry, field, value, accepted)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                key = (st.st_ino, st.st_size, st.st_mtime_ns)
                if self._last is None or self._last[0] != key:
                    self._last = (key, _parse(self.path, f.read()))
        except FileNotFoundError:
            self._last = None
            raise ScheduleFileError(self.path, "does not exist") from None
        except OSError as exc:
            raise ScheduleFileError(self.path, f"cannot be read: {exc.strerror or exc}") from None
        result = self._last[1]
        if isinstance(result, Schedule):
            return result
        raise result


def _parse(path: Path, data: bytes) -> Union[Schedule, ScheduleError, ScheduleFileError]:
    try:
        document = loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return ScheduleFileError(path, f"is not UTF-8 text (bad byte at offset {exc.start})")
    except json.JSONDecodeError as exc:
        return ScheduleFileError(path, f"is not valid JSON: {exc.msg}: line {exc.lineno}, column {exc.colno}")
    except (ValueError, RecursionError) as exc:
        return ScheduleFileError(path, f"is not valid JSON: {exc}")
    try:
        return parse_schedule(document)
    except ScheduleError as exc:
        return exc


def schedule_path(setting: ScheduleSetting, shared_dir: Union[str, os.PathLike]) -> Path:
    """The file a `schedule` attribute names: absolute as given, else inside the shared dir."""
    path = Path(setting.path)
    return path if path.is_absolute() else Path(shared_dir) / path


def open_schedule(setting: ScheduleSetting, shared_dir: Union[str, os.PathLike]) -> ScheduleSource:
    """The agent's schedule source, checked now: a bad file is refused with one line (ConfigError)."""
    if not setting.path:
        return FixedSchedule(setting.inline)
    reader = ScheduleFile(schedule_path(setting, shared_dir))
    try:
        reader.load()
    except ScheduleError as exc:
        raise schedule_error(exc, str(reader.path)) from None
    except ScheduleFileError as exc:
        raise ConfigError("schedule", setting.path, SCHEDULE_ACCEPTED, f"{exc.path} {exc.problem}") from None
    return reader

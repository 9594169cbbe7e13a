"""JSON files in Monerosim's shared directory, with Monerosim's locking protocol.

Why: several agents write the same files (``transactions.json`` above all),
and readers take no lock.  So every writer, for ``<stem>.json``:

1. takes an exclusive ``flock`` on the sidecar ``<stem>.lock``;
2. reads, modifies, writes ``<stem>.tmp`` (a fixed name: only under the lock),
   fsyncs it, renames it over ``<stem>.json``, fsyncs the directory;
3. releases the lock.

Readers see either the old or the new file, never a partial one.

The lock is taken with ``LOCK_NB`` and polled with ``time.sleep``: under Shadow
a blocking ``flock`` runs natively on a simulator worker thread and can freeze
the whole simulation (Shadow issue #2258; Monerosim's agents poll too).  The
lock is the same ``LOCK_EX`` other agents take, so they stay compatible.

Nothing already recorded is ever lost: a file that is corrupt (empty,
truncated, invalid JSON, or of the wrong type) when we must rewrite it is first
copied byte for byte to ``<stem>.corrupt-<n>.json`` (a name never used before)
and the returned `WriteResult` says so, for the caller to log.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.registry import json_kind

__all__ = [
    "SharedDir",
    "WriteResult",
    "SharedStateError",
    "MissingFileError",
    "EmptyFileError",
    "InvalidJSONError",
    "TruncatedJSONError",
    "LockTimeout",
    "SharedIOError",
    "lock_name",
    "tmp_name",
]

_MISSING = object()


# ---------------------------------------------------------------- errors


class SharedStateError(StoreError):
    """Base class; ``path`` is the file concerned, ``problem`` what is wrong."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MissingFileError(SharedStateError):
    """The file does not exist (yet)."""


class EmptyFileError(SharedStateError):
    """The file has no content (a non-atomic writer may be mid-write)."""


class InvalidJSONError(SharedStateError):
    """The file is not valid JSON (also: not UTF-8, or NaN/Infinity)."""


class TruncatedJSONError(InvalidJSONError):
    """The JSON text stops before the document is complete."""


class LockTimeout(SharedStateError):
    """The ``.lock`` sidecar stayed locked by someone else for too long."""


class SharedIOError(SharedStateError):
    """An OS error while reading or writing; the OSError is ``__cause__``."""


@dataclass(frozen=True)
class WriteResult:
    """What a write did.  If ``quarantined_to`` is set, the previous file was
    unusable (``problem`` says why) and its bytes were saved there."""

    path: Path
    value: Any
    written: bool = True
    quarantined_to: Optional[Path] = None
    problem: Optional[str] = None
    #: How many whole elements of an unusable JSON array were kept (``update_json(salvage=True)``).
    salvaged: int = 0

    @property
    def quarantined(self) -> bool:
        return self.quarantined_to is not None


# ---------------------------------------------------------------- names


def _stem(name: str) -> str:
    if not isinstance(name, str) or not name.endswith(".json") or len(name) <= 5:
        raise ValueError(f"shared file name must end in .json: {name!r}")
    if "/" in name or "\0" in name or name.startswith("."):
        raise ValueError(f"shared file name must be a plain file name: {name!r}")
    return name[:-5]


def lock_name(name: str) -> str:
    """``transactions.json`` -> ``transactions.lock`` (Monerosim's sidecar)."""
    return _stem(name) + ".lock"


def tmp_name(name: str) -> str:
    """``transactions.json`` -> ``transactions.tmp``."""
    return _stem(name) + ".tmp"


def quarantine_name(name: str, n: int) -> str:
    """``transactions.json``, 3 -> ``transactions.corrupt-3.json``."""
    return f"{_stem(name)}.corrupt-{n}.json"


# ---------------------------------------------------------------- encoding


def _reject_constant(token: str):
    raise ValueError(f"contains {token}, which JSON does not allow")


def _parse(path: Path, data: bytes) -> Any:
    """Parse file bytes or raise the SharedStateError that says what is wrong."""
    if not data.strip():
        what = "is empty" if not data else f"contains only whitespace ({len(data)} bytes)"
        raise EmptyFileError(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidJSONError(path, f"is not UTF-8 text (bad byte at offset {e.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        where = f"{e.msg}: line {e.lineno}, column {e.colno}"
        if e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string"):
            raise TruncatedJSONError(
                path, f"is truncated: the JSON stops early after {len(data)} bytes ({where})"
            ) from None
        raise InvalidJSONError(path, f"is not valid JSON: {where}") from None
    except (ValueError, RecursionError) as e:
        raise InvalidJSONError(path, f"is not valid JSON: {e}") from None


def salvage_array(data: bytes) -> list:
    """The complete leading elements of a damaged JSON array (truncated, or garbage after some
    elements); [] when not even the opening bracket can be read."""
    try:
        text = data.decode("utf-8", errors="replace")
    except Exception:  # pragma: no cover - decode with errors="replace" does not raise
        return []
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    pos = len(text) - len(text.lstrip())
    if not text.startswith("[", pos):
        return []
    pos += 1
    items: list = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return items
        rest = text[end:].lstrip()
        # A number or literal at the very end may have been cut short; anything else is complete.
        if rest or isinstance(value, (dict, list, str)):
            items.append(value)
        if not rest or rest[0] != ",":
            return items
        pos = len(text) - len(rest) + 1


def _dumps(value: Any, indent: Optional[int]) -> bytes:
    """ASCII JSON without NaN/Infinity (other agents' parsers reject them).

    ``indent=None`` (the default of `SharedDir`) writes compact JSON, which
    `json` encodes with its C encoder; any indent makes it fall back to the
    pure-Python encoder, 2-3x slower (docs/benchmarks.md, part 5).
    Monerosim's readers do not care about whitespace.
    """
    separators = (",", ":") if indent is None else None
    return (json.dumps(value, ensure_ascii=True, allow_nan=False, indent=indent,
                       separators=separators) + "\n").encode("ascii")


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: Path) -> None:
    """Durability of a rename only; the data is already in place, so a filesystem (or simulator)
    that refuses directory fsync is tolerated."""
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def write_aside(directory: Path, name_of: Callable[[int], str], raw: bytes) -> Path:
    """Save ``raw`` in ``directory`` under the first free ``name_of(1)``, ``name_of(2)``, ...

    The name is claimed with O_EXCL, so an earlier copy is never overwritten.
    Raises SharedIOError when the copy cannot be made.
    """
    n = 1
    while True:
        dest = directory / name_of(n)
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            n += 1
            continue
        except OSError as e:
            raise SharedIOError(dest, f"cannot be created: {e.strerror}") from e
        try:
            write_all(fd, raw)
            os.fsync(fd)
        except OSError as e:
            raise SharedIOError(dest, f"could not be written: {e.strerror}") from e
        finally:
            os.close(fd)
        return dest


# ---------------------------------------------------------------- the directory


class SharedDir:
    """One shared directory.  Names are plain ``*.json`` file names.

    ``lock_timeout`` bounds the wait for another writer (seconds of simulated
    time under Shadow); ``poll_interval`` is the sleep between lock attempts.
    """

    def __init__(self, path: str | os.PathLike, *, lock_timeout: float = 60.0,
                 poll_interval: float = 0.05, indent: Optional[int] = None):
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.poll_interval = poll_interval
        self.indent = indent
        self._cache: dict[str, tuple[tuple[int, int, int], Any]] = {}

    def path_of(self, name: str) -> Path:
        _stem(name)
        return self.path / name

    # ------------------------------------------------------------ reading

    def read_json(self, name: str, default: Any = _MISSING) -> Any:
        """Parse ``name`` without a lock (writers replace files atomically).

        Returns ``default`` if given and the file does not exist; otherwise
        raises MissingFileError, EmptyFileError, TruncatedJSONError or
        InvalidJSONError.  Empty/truncated usually means a non-atomic writer
        was caught mid-write: retry later.
        """
        path = self.path_of(name)
        data = self._read_bytes(path)
        if data is None:
            if default is _MISSING:
                raise MissingFileError(path, "does not exist")
            return default
        return _parse(path, data)

    def read_json_cached(self, name: str, default: Any = _MISSING) -> Any:
        """Like `read_json`, but re-parses only when (st_ino, st_size,
        st_mtime_ns) changed since the last read through this object.

        For big registry files read often.  The returned object is shared
        between calls: callers must NOT mutate it (copy it first).
        """
        path = self.path_of(name)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            self._cache.pop(name, None)
            if default is _MISSING:
                raise MissingFileError(path, "does not exist") from None
            return default
        except OSError as e:
            raise SharedIOError(path, f"cannot be opened: {e.strerror}") from e
        with f:
            st = os.fstat(f.fileno())
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            hit = self._cache.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
            data = f.read()
        self._cache.pop(name, None)
        value = _parse(path, data)
        self._cache[name] = (key, value)
        return value

    # ------------------------------------------------------------ writing

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold ``<stem>.lock`` exclusively (non-blocking polls + sleep)."""
        lock_path = self.path / lock_name(name)
        try:
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise SharedIOError(lock_path, f"cannot be opened: {e.strerror}") from e
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise SharedIOError(lock_path, f"cannot be locked: {e.strerror}") from e
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        lock_path, f"still locked by another writer after {self.lock_timeout} s"
                    )
                time.sleep(self.poll_interval)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def write_json_atomic(self, name: str, value: Any) -> WriteResult:
        """Replace ``name`` with ``value`` under the lock (whatever it held)."""
        data = _dumps(value, self.indent)
        with self.locked(name):
            self._replace_locked(name, data)
        return WriteResult(self.path_of(name), value)

    def update_json(self, name: str, fn: Callable[[Any], Any], default: Any = None,
                    expected_type: type | tuple[type, ...] | None = None,
                    check: Optional[Callable[[Any], Optional[str]]] = None,
                    salvage: bool = False) -> WriteResult:
        """Locked read-modify-write: store ``fn(current)``.

        ``current`` is a deep copy of ``default`` when the file is missing, or
        when it is unusable (empty, invalid, not an ``expected_type``, or what
        ``check`` calls a problem): then the old bytes are quarantined first
        (see `WriteResult`).  If ``fn`` raises, or its result is not JSON (NaN,
        sets, ...), nothing changes.  ``fn`` must not write the same file (it
        would wait for itself).  With ``salvage``, the complete leading elements
        of an unusable JSON array are kept in ``current`` (another writer's
        truncation loses only what it cut).
        """
        path = self.path_of(name)
        with self.locked(name):
            raw = self._read_bytes(path)
            problem = None
            current = _MISSING
            if raw is not None:
                try:
                    current = _parse(path, raw)
                except SharedStateError as e:
                    problem = e.problem
                else:
                    if expected_type is not None and not isinstance(current, expected_type):
                        problem = f"holds a JSON {json_kind(current)}, not the expected {_type_names(expected_type)}"
                    elif check is not None:
                        problem = check(current)
                    if problem:
                        current = _MISSING
            kept = salvage_array(raw) if problem and salvage and raw is not None else []
            if current is _MISSING:
                current = kept or copy.deepcopy(default)
            new = fn(current)
            data = _dumps(new, self.indent)
            moved = self._quarantine_locked(name, raw) if problem and raw is not None else None
            self._replace_locked(name, data)
        return WriteResult(path, new, quarantined_to=moved, problem=problem, salvaged=len(kept))

    def set_aside(self, name: str) -> Optional[Path]:
        """Move an unusable ``name`` out of the way (to ``<stem>.corrupt-<n>.json``), under the lock.

        Returns where its bytes went, or None if there was no file.
        """
        path = self.path_of(name)
        with self.locked(name):
            raw = self._read_bytes(path)
            if raw is None:
                return None
            dest = self._quarantine_locked(name, raw)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise SharedIOError(path, f"cannot be removed after saving it to {dest.name}: {e.strerror}") from e
            fsync_dir(self.path)
        return dest

    def append_records(self, name: str, records: Iterable[Any]) -> WriteResult:
        """Append ``records`` to the JSON array in ``name`` (e.g. Monerosim's
        ``transactions.json``), creating it if missing.  A file that is not a
        readable array is quarantined, never overwritten, and a fresh array
        holding just ``records`` is written.  No records: nothing is done."""
        records = list(records)
        self.path_of(name)
        if not records:
            return WriteResult(self.path_of(name), None, written=False)
        _dumps(records, None)  # fail before locking if they are not JSON
        return self.update_json(name, lambda cur: cur + records, default=[], expected_type=list)

    # ------------------------------------------------------------ internals

    def _read_bytes(self, path: Path) -> Optional[bytes]:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SharedIOError(path, f"cannot be read: {e.strerror}") from e

    def _replace_locked(self, name: str, data: bytes) -> None:
        """Write tmp, fsync, rename over the target, fsync the directory."""
        target = self.path_of(name)
        tmp = self.path / tmp_name(name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise SharedIOError(target, f"could not be written: {e.strerror or e}") from e
        fsync_dir(self.path)

    def _quarantine_locked(self, name: str, raw: bytes) -> Path:
        """Save ``raw`` under the first free ``<stem>.corrupt-<n>.json``; the original stays in place
        until the atomic replace, so readers never see the file missing."""
        return write_aside(self.path, lambda n: quarantine_name(name, n), raw)


_KIND_OF_TYPE = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _type_names(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    return " or ".join(_KIND_OF_TYPE.get(x, x.__name__) for x in types)

"""Tests for fsm_distributor.adapters.shared_state: Monerosim's locking protocol, atomic
replacement, quarantine of corrupt files, multi-process appends, and the
read cache."""

from __future__ import annotations

import errno
import fcntl
import json
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from fsm_distributor.adapters import shared_state
from fsm_distributor.adapters.shared_state import (
    EmptyFileError,
    InvalidJSONError,
    LockTimeout,
    MissingFileError,
    SharedDir,
    SharedIOError,
    SharedStateError,
    TruncatedJSONError,
    WriteResult,
    lock_name,
    tmp_name,
)

TX = "transactions.json"


@pytest.fixture
def sd(tmp_path):
    return SharedDir(tmp_path, poll_interval=0.001, lock_timeout=5)


def leftovers(directory: Path) -> list[str]:
    """Files a finished writer must not leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".tmp")


def corrupt_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".corrupt-" in p.name)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name,lock,tmp", [
    ("transactions.json", "transactions.lock", "transactions.tmp"),
    ("alice_user_info.json", "alice_user_info.lock", "alice_user_info.tmp"),
    ("initial_funding_status.json", "initial_funding_status.lock", "initial_funding_status.tmp"),
    ("a.b.json", "a.b.lock", "a.b.tmp"),
])
def test_lock_and_tmp_name_mapping(name, lock, tmp):
    assert lock_name(name) == lock
    assert tmp_name(name) == tmp
    assert shared_state.quarantine_name(name, 4) == name[:-5] + ".corrupt-4.json"


@pytest.mark.parametrize("bad", ["transactions", "transactions.lock", ".json", "a/b.json",
                                 "../x.json", ".hidden.json", "", None])
def test_bad_names_are_refused(sd, bad):
    with pytest.raises(ValueError):
        sd.read_json(bad)
    with pytest.raises(ValueError):
        sd.append_records(bad, [1])


def test_writer_creates_and_keeps_the_sidecar_lock(sd, tmp_path):
    sd.append_records(TX, [{"a": 1}])
    assert (tmp_path / "transactions.lock").exists()
    sd.write_json_atomic("x_distributor_info.json", {"ok": True})
    assert (tmp_path / "x_distributor_info.lock").exists()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- atomic writes


def test_write_and_read_round_trip(sd, tmp_path):
    value = {"agent_id": "d", "n": [1, 2.5, None, True], "s": "é✓"}
    res = sd.write_json_atomic("d_distributor_info.json", value)
    assert res == WriteResult(tmp_path / "d_distributor_info.json", value)
    assert sd.read_json("d_distributor_info.json") == value
    assert leftovers(tmp_path) == []


def test_replace_is_atomic_an_open_reader_keeps_the_old_version(sd, tmp_path):
    sd.write_json_atomic("f.json", {"v": 1})
    path = tmp_path / "f.json"
    old_inode = path.stat().st_ino
    with open(path, "rb") as old:
        sd.write_json_atomic("f.json", {"v": 2})
        # A reader that opened before the rename still sees a whole old file.
        assert json.loads(old.read()) == {"v": 1}
    assert path.stat().st_ino != old_inode  # replaced, not rewritten in place
    assert sd.read_json("f.json") == {"v": 2}


def test_written_json_is_ascii(sd, tmp_path):
    sd.write_json_atomic("f.json", {"name": "Zoë", "emoji": "\U0001F600"})
    raw = (tmp_path / "f.json").read_bytes()
    raw.decode("ascii")  # raises if any non-ASCII byte was written
    assert b"\\u00eb" in raw
    assert sd.read_json("f.json") == {"name": "Zoë", "emoji": "\U0001F600"}


def test_default_output_is_compact_json_from_the_c_encoder(sd, tmp_path, monkeypatch):
    # indent=None is what keeps `json` on its C encoder; the pure-Python one must not be reached.
    if json.encoder.c_make_encoder is None:
        pytest.skip("this Python has no C JSON encoder")

    def python_encoder(*args, **kwargs):
        raise AssertionError("json fell back to its pure-Python encoder")

    monkeypatch.setattr(json.encoder, "_make_iterencode", python_encoder)
    value = {"agents": [{"id": "a", "n": [1, 2.5, None, True]}], "s": "Zo\u00eb"}
    sd.write_json_atomic("f.json", value)
    sd.append_records(TX, [{"tx_hash": "h", "amount": 1.5}])
    sd.update_json(TX, lambda cur: cur + [{"tx_hash": "i"}], default=[])
    assert (tmp_path / "f.json").read_bytes() == b'{"agents":[{"id":"a","n":[1,2.5,null,true]}],"s":"Zo\\u00eb"}\n'
    assert (tmp_path / TX).read_bytes() == b'[{"tx_hash":"h","amount":1.5},{"tx_hash":"i"}]\n'
    assert sd.read_json("f.json") == value


def test_an_explicit_indent_is_still_honoured(tmp_path):
    sd = SharedDir(tmp_path, indent=2)
    sd.write_json_atomic("f.json", {"v": [1]})
    assert (tmp_path / "f.json").read_text() == '{\n  "v": [\n    1\n  ]\n}\n'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_is_refused_and_nothing_changes(sd, tmp_path, bad):
    sd.append_records(TX, [{"amount": 1.0}])
    before = (tmp_path / TX).read_bytes()
    with pytest.raises(ValueError):
        sd.append_records(TX, [{"amount": bad}])
    with pytest.raises(ValueError):
        sd.write_json_atomic(TX, [{"amount": bad}])
    with pytest.raises(ValueError):
        sd.update_json(TX, lambda cur: cur + [bad], default=[])
    assert (tmp_path / TX).read_bytes() == before
    assert leftovers(tmp_path) == []


def test_write_order_fsync_tmp_then_rename_then_fsync_dir(sd, tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", Path(target).name if not os.path.isdir(target) else "<dir>"))
        return real_fsync(fd)

    def replace(src, dst):
        # The lock must be held while tmp is renamed: another taker fails.
        probe = os.open(tmp_path / "transactions.lock", os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
        events.append(("replace", Path(src).name, Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(shared_state.os, "fsync", fsync)
    monkeypatch.setattr(shared_state.os, "replace", replace)
    sd.append_records(TX, [{"a": 1}])
    assert events == [
        ("fsync", "transactions.tmp"),
        ("replace", "transactions.tmp", "transactions.json"),
        ("fsync", "<dir>"),
    ]


def test_failed_rename_keeps_the_old_file_and_removes_tmp(sd, tmp_path, monkeypatch):
    sd.append_records(TX, [{"a": 1}])
    before = (tmp_path / TX).read_bytes()

    def broken(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shared_state.os, "replace", broken)
    with pytest.raises(SharedIOError) as exc:
        sd.append_records(TX, [{"a": 2}])
    assert "transactions.json" in str(exc.value) and "No space" in str(exc.value)
    assert isinstance(exc.value.__cause__, OSError)
    assert (tmp_path / TX).read_bytes() == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    # The lock was released: the next append goes through at once.
    sd.lock_timeout = 0
    sd.append_records(TX, [{"a": 3}])
    assert sd.read_json(TX) == [{"a": 1}, {"a": 3}]


def test_stale_tmp_from_a_crashed_writer_is_harmless(sd, tmp_path):
    (tmp_path / "transactions.tmp").write_text('[{"half": ')
    sd.append_records(TX, [{"a": 1}])
    assert sd.read_json(TX) == [{"a": 1}]
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- reading errors


@pytest.mark.parametrize("content,error,words", [
    (b"", EmptyFileError, "is empty"),
    (b"  \n\t", EmptyFileError, "whitespace"),
    (b'[{"tx_hash": "ab", "amount": 1', TruncatedJSONError, "truncated"),
    (b'[{"tx_hash": "ab', TruncatedJSONError, "truncated"),
    (b'[1, 2,, 3]', InvalidJSONError, "line 1, column 7"),
    (b'[1]\n[2]', InvalidJSONError, "Extra data"),
    (b'{"a": NaN}', InvalidJSONError, "NaN"),
    (b'[Infinity]', InvalidJSONError, "Infinity"),
    (b'\xff\xfe[]', InvalidJSONError, "UTF-8"),
])
def test_read_errors_name_the_file_and_the_problem(sd, tmp_path, content, error, words):
    (tmp_path / "registry.json").write_bytes(content)
    with pytest.raises(error) as exc:
        sd.read_json("registry.json")
    msg = str(exc.value)
    assert str(tmp_path / "registry.json") in msg and words in msg
    assert exc.value.path == tmp_path / "registry.json"
    if error is InvalidJSONError:
        assert not isinstance(exc.value, TruncatedJSONError)


def test_missing_file(sd, tmp_path):
    with pytest.raises(MissingFileError) as exc:
        sd.read_json("agent_registry.json")
    assert "agent_registry.json" in str(exc.value) and "does not exist" in str(exc.value)
    assert isinstance(exc.value, SharedStateError)
    sentinel = object()
    assert sd.read_json("agent_registry.json", default=sentinel) is sentinel
    assert sd.read_json_cached("agent_registry.json", default=None) is None


# ---------------------------------------------------------------- appending


def test_append_creates_then_extends_in_order(sd, tmp_path):
    r1 = sd.append_records(TX, [{"tx_hash": "a"}])
    r2 = sd.append_records(TX, iter([{"tx_hash": "b"}, {"tx_hash": "c"}]))
    assert r1.value == [{"tx_hash": "a"}] and not r1.quarantined
    assert r2.value == [{"tx_hash": "a"}, {"tx_hash": "b"}, {"tx_hash": "c"}]
    assert sd.read_json(TX) == r2.value
    assert leftovers(tmp_path) == [] and corrupt_files(tmp_path) == []


def test_append_keeps_records_written_by_other_agents(sd, tmp_path):
    theirs = [{"tx_hash": "f" * 64, "sender_id": "miner001", "recipient_id": "user1",
               "amount": 3.5, "timestamp": 946699200, "extra": {"k": [1]}}]
    (tmp_path / TX).write_text(json.dumps(theirs))
    sd.append_records(TX, [{"tx_hash": "e" * 64}])
    assert sd.read_json(TX) == theirs + [{"tx_hash": "e" * 64}]


def test_append_nothing_does_nothing(sd, tmp_path):
    res = sd.append_records(TX, [])
    assert res.written is False
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,problem", [
    (b"", "is empty"),
    (b"\n", "whitespace"),
    (b'[{"tx_hash": "aa"}, {"tx_hash": "b', "truncated"),
    (b'[{"tx_hash": "aa"},, ]', "not valid JSON"),
    (b'{"transactions": [1, 2]}', "JSON object, not the expected array"),
    (b'"just a string"', "JSON string"),
    (b"42", "JSON number"),
    (b"null", "JSON null"),
    (b"[NaN]", "NaN"),
    (b"\xc3\x28[]", "UTF-8"),
])
def test_unusable_file_is_quarantined_not_overwritten(sd, tmp_path, content, problem):
    (tmp_path / TX).write_bytes(content)
    res = sd.append_records(TX, [{"tx_hash": "new"}])
    q = tmp_path / "transactions.corrupt-1.json"
    assert res.quarantined and res.quarantined_to == q
    assert problem in res.problem
    assert q.read_bytes() == content  # every byte kept
    assert sd.read_json(TX) == [{"tx_hash": "new"}]
    assert leftovers(tmp_path) == []


def test_quarantine_never_overwrites_an_earlier_one(sd, tmp_path):
    (tmp_path / "transactions.corrupt-1.json").write_bytes(b"first")
    (tmp_path / "transactions.corrupt-2.json").write_bytes(b"second")
    (tmp_path / TX).write_bytes(b"third")
    res = sd.append_records(TX, [1])
    assert res.quarantined_to == tmp_path / "transactions.corrupt-3.json"
    (tmp_path / TX).write_bytes(b"{fourth")
    res = sd.append_records(TX, [2])
    assert res.quarantined_to == tmp_path / "transactions.corrupt-4.json"
    got = {p: (tmp_path / p).read_bytes() for p in corrupt_files(tmp_path)}
    assert got == {
        "transactions.corrupt-1.json": b"first",
        "transactions.corrupt-2.json": b"second",
        "transactions.corrupt-3.json": b"third",
        "transactions.corrupt-4.json": b"{fourth",
    }
    assert sd.read_json(TX) == [2]


def test_healthy_file_is_not_quarantined(sd, tmp_path):
    (tmp_path / TX).write_text("[]")
    res = sd.append_records(TX, [1])
    assert not res.quarantined and res.problem is None
    assert corrupt_files(tmp_path) == []


def test_quarantine_failure_leaves_the_original_in_place(sd, tmp_path, monkeypatch):
    (tmp_path / TX).write_bytes(b"{broken")
    real_open = os.open

    def no_excl(path, flags, mode=0o777, **kw):
        if flags & os.O_EXCL:
            raise OSError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(shared_state.os, "open", no_excl)
    with pytest.raises(SharedIOError):
        sd.append_records(TX, [1])
    assert (tmp_path / TX).read_bytes() == b"{broken"


# ---------------------------------------------------------------- update_json


def test_update_json_read_modify_write(sd, tmp_path):
    seen = []

    def bump(cur):
        seen.append(cur)
        cur = dict(cur)
        cur["n"] = cur.get("n", 0) + 1
        return cur

    sd.update_json("s.json", bump, default={})
    sd.update_json("s.json", bump, default={})
    assert seen == [{}, {"n": 1}]
    assert sd.read_json("s.json") == {"n": 2}


def test_update_json_default_is_copied_not_shared(sd):
    default = {"funded_recipients": []}
    sd.update_json("s.json", lambda cur: (cur["funded_recipients"].append("u1"), cur)[1], default=default)
    assert default == {"funded_recipients": []}


def test_update_json_when_fn_raises_nothing_changes_and_lock_is_freed(sd, tmp_path):
    sd.write_json_atomic("s.json", {"n": 1})
    before = (tmp_path / "s.json").read_bytes()

    def boom(cur):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        sd.update_json("s.json", boom)
    assert (tmp_path / "s.json").read_bytes() == before
    sd.lock_timeout = 0
    sd.update_json("s.json", lambda cur: {"n": cur["n"] + 1})
    assert sd.read_json("s.json") == {"n": 2}


def test_update_json_not_serialisable_changes_nothing(sd, tmp_path):
    sd.write_json_atomic("s.json", {"n": 1})
    (tmp_path / "s.json").write_bytes(b'{broken')
    with pytest.raises(TypeError):
        sd.update_json("s.json", lambda cur: {"s": {1, 2}}, default={})
    # The broken file was not quarantined either: nothing happened at all.
    assert (tmp_path / "s.json").read_bytes() == b"{broken"
    assert corrupt_files(tmp_path) == []


def test_update_json_expected_type_quarantines_wrong_type(sd, tmp_path):
    (tmp_path / "s.json").write_text("[1, 2]")
    res = sd.update_json("s.json", lambda cur: {**cur, "ok": 1}, default={}, expected_type=dict)
    assert res.quarantined and "array" in res.problem and "object" in res.problem
    assert json.loads(res.quarantined_to.read_text()) == [1, 2]
    assert sd.read_json("s.json") == {"ok": 1}


# ---------------------------------------------------------------- lock waiting


def _hold(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_waits_by_polling_and_sleeping_never_a_blocking_flock(sd, tmp_path, monkeypatch):
    """Under Shadow a blocking flock can freeze the simulation: every attempt
    must be LOCK_NB and the wait must go through time.sleep."""
    holder = _hold(tmp_path / "transactions.lock")  # another agent's lock
    ops, sleeps = [], []
    real_flock = fcntl.flock

    def flock(fd, op):
        ops.append(op)
        if op & fcntl.LOCK_EX and not op & fcntl.LOCK_NB:
            raise AssertionError("blocking flock: would hang a Shadow worker")
        return real_flock(fd, op)

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            real_flock(holder, fcntl.LOCK_UN)  # the other agent finishes

    monkeypatch.setattr(shared_state.fcntl, "flock", flock)
    monkeypatch.setattr(shared_state.time, "sleep", sleep)
    try:
        res = sd.append_records(TX, [{"a": 1}])
    finally:
        os.close(holder)
    assert res.value == [{"a": 1}]
    assert sleeps == [sd.poll_interval] * 3
    takes = [op for op in ops if op & fcntl.LOCK_EX]
    assert len(takes) == 4 and all(op & fcntl.LOCK_NB for op in takes)
    assert fcntl.LOCK_UN in ops  # released afterwards


def test_lock_timeout(tmp_path):
    sd = SharedDir(tmp_path, poll_interval=0.01, lock_timeout=0.2)
    sd.write_json_atomic(TX, [1])
    holder = _hold(tmp_path / "transactions.lock")
    try:
        t0 = time.monotonic()
        with pytest.raises(LockTimeout) as exc:
            sd.append_records(TX, [2])
        assert 0.2 <= time.monotonic() - t0 < 3
        assert "transactions.lock" in str(exc.value)
    finally:
        os.close(holder)
    assert sd.read_json(TX) == [1]
    sd.append_records(TX, [2])
    assert sd.read_json(TX) == [1, 2]


# ---------------------------------------------------------------- several processes

WRITERS, APPENDS = 6, 50


def _writer(directory, w, start):
    sd = SharedDir(directory, poll_interval=0.001, lock_timeout=120)
    start.wait()
    for i in range(APPENDS):
        sd.append_records(TX, [{"writer": w, "seq": i, "pad": "x" * (i % 13)}])


def _reader(directory, start, stop, out):
    sd = SharedDir(directory)
    path = Path(directory) / TX
    start.wait()
    reads, errors, lengths, not_prefix = 0, [], [], 0
    prev = []
    deadline = time.monotonic() + 300  # safety net if the test dies
    while True:
        finished = stop.is_set() or time.monotonic() > deadline
        try:
            value = sd.read_json(TX)
            json.loads(path.read_bytes())  # independent parser, separate read
        except Exception as e:  # noqa: BLE001 - every failure is reported
            errors.append(repr(e))
        else:
            if not isinstance(value, list) or value[:len(prev)] != prev:
                not_prefix += 1
            prev = value
            lengths.append(len(value))
        reads += 1
        if finished:
            break
    out.put({"reads": reads, "errors": errors[:5], "n_errors": len(errors),
             "lengths": lengths, "not_prefix": not_prefix})


def test_concurrent_appends_from_several_processes(tmp_path):
    SharedDir(tmp_path).write_json_atomic(TX, [])
    ctx = multiprocessing.get_context("fork")
    start, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(str(tmp_path), start, stop, out), daemon=True)
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), w, start), daemon=True)
               for w in range(WRITERS)]
    try:
        for p in [reader, *writers]:
            p.start()
        start.set()
        for p in writers:
            p.join(120)
        stop.set()
        assert [p.exitcode for p in writers] == [0] * WRITERS
        summary = out.get(timeout=60)
        reader.join(30)
        assert reader.exitcode == 0
    finally:  # never leave a child behind, even when an assertion failed
        stop.set()
        for p in [reader, *writers]:
            if p.is_alive():
                p.terminate()
            p.join(5)

    records = SharedDir(tmp_path).read_json(TX)
    counts = Counter((r["writer"], r["seq"]) for r in records)
    assert len(records) == WRITERS * APPENDS
    assert set(counts) == {(w, i) for w in range(WRITERS) for i in range(APPENDS)}
    assert set(counts.values()) == {1}
    for w in range(WRITERS):  # each writer's records are in its own order
        assert [r["seq"] for r in records if r["writer"] == w] == list(range(APPENDS))

    # The reader never saw a partial file, and each version extended the last.
    assert summary["n_errors"] == 0, summary["errors"]
    assert summary["not_prefix"] == 0
    assert summary["lengths"] == sorted(summary["lengths"])
    assert summary["lengths"][-1] == WRITERS * APPENDS
    assert len(set(summary["lengths"])) >= 3  # it really read during the writes
    assert leftovers(tmp_path) == [] and corrupt_files(tmp_path) == []


# ---------------------------------------------------------------- read cache


def test_cache_returns_the_same_object_until_the_file_changes(sd, tmp_path, monkeypatch):
    calls = []
    real_parse = shared_state._parse
    monkeypatch.setattr(shared_state, "_parse", lambda p, d: calls.append(p) or real_parse(p, d))
    sd.write_json_atomic("agent_registry.json", {"agents": [{"id": "a"}]})
    first = sd.read_json_cached("agent_registry.json")
    again = sd.read_json_cached("agent_registry.json")
    assert again is first and len(calls) == 1
    # Same size, new content: the atomic replace gives a new inode.
    sd.write_json_atomic("agent_registry.json", {"agents": [{"id": "b"}]})
    assert (tmp_path / "agent_registry.json").stat().st_size == len(shared_state._dumps(
        {"agents": [{"id": "a"}]}, sd.indent))
    new = sd.read_json_cached("agent_registry.json")
    assert new == {"agents": [{"id": "b"}]} and new is not first and len(calls) == 2


def test_cache_sees_in_place_rewrites_of_another_size(sd, tmp_path):
    path = tmp_path / "miners.json"
    path.write_text('{"miners": []}')
    assert sd.read_json_cached("miners.json") == {"miners": []}
    with open(path, "w") as f:  # a non-atomic writer: same inode
        f.write('{"miners": [{"agent_id": "m1", "weight": 100}]}')
    assert sd.read_json_cached("miners.json")["miners"][0]["agent_id"] == "m1"


def test_cache_sees_in_place_rewrite_of_same_size_by_mtime(sd, tmp_path):
    path = tmp_path / "miners.json"
    path.write_text('{"w": 1}')
    assert sd.read_json_cached("miners.json") == {"w": 1}
    path.write_text('{"w": 2}')
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert sd.read_json_cached("miners.json") == {"w": 2}


def test_cache_after_delete_and_corruption(sd, tmp_path):
    sd.write_json_atomic("r.json", [1])
    assert sd.read_json_cached("r.json") == [1]
    (tmp_path / "r.json").unlink()
    with pytest.raises(MissingFileError):
        sd.read_json_cached("r.json")
    (tmp_path / "r.json").write_text("[1, 2")
    with pytest.raises(TruncatedJSONError):
        sd.read_json_cached("r.json")
    sd.write_json_atomic("r.json", [3])
    assert sd.read_json_cached("r.json") == [3]


def test_cache_is_per_file(sd):
    sd.write_json_atomic("a.json", {"x": 1})
    sd.write_json_atomic("b.json", {"x": 1})
    a, b = sd.read_json_cached("a.json"), sd.read_json_cached("b.json")
    assert a == b and a is not b

"""The agent never dies of its own log output: a full disk or a closed pipe on stdout
(then on stderr too) makes the lines fall back to stderr, then to nothing, and the
agent goes on paying, recording and stopping cleanly."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

import pytest
from agent_processes import ROOT, agent_argv, clean_env
from fakes import make_world

from fsm_distributor.adapters import logs


class DeadStream(io.StringIO):
    """A stream whose every write fails like a full disk or a closed pipe; counts the attempts."""

    def __init__(self, error: OSError):
        super().__init__()
        self.error = error
        self.attempts = 0

    def write(self, text: str) -> int:
        self.attempts += 1
        raise self.error


@pytest.fixture
def restore_logging():
    yield
    logs.configure("DEBUG", stream=open(os.devnull, "w"))  # as conftest.py set it up


def pay(world, cycles: int) -> None:
    for _ in range(cycles):
        world.cycle()


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   BrokenPipeError(errno.EPIPE, "Broken pipe")], ids=["ENOSPC", "EPIPE"])
def test_a_failing_stdout_falls_back_to_stderr_and_the_agent_goes_on_paying(restore_logging, error):
    stdout, stderr = DeadStream(error), io.StringIO()
    output = logs.configure("DEBUG", stream=stdout, fallback=stderr)
    output.context["agent_id"] = "distributor"
    world = make_world()
    pay(world, 3)
    assert len(world.ledger.records) == 3  # paid and recorded
    assert stdout.attempts == 1  # given up after the first failure, never tried again
    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    note = lines[0]
    assert note["event"] == "log_output_failed" and note["agent_id"] == "distributor"
    assert f"{type(error).__name__}: {error}" in note["message"] and "logging to" in note["message"]
    recorded = [e["tx_hash"] for e in lines if e["event"] == "tx_recorded"]
    assert recorded == [r["tx_hash"] for r in world.ledger.records]  # every line after the failure is there
    assert output.failures == [f"DeadStream: {type(error).__name__}: {error}"]


def test_with_stdout_and_stderr_dead_the_agent_pays_and_logs_nothing(restore_logging):
    stdout = DeadStream(OSError(errno.ENOSPC, "No space left on device"))
    stderr = DeadStream(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    output = logs.configure("DEBUG", stream=stdout, fallback=stderr)
    world = make_world()
    pay(world, 3)
    assert len(world.ledger.records) == 3
    assert (stdout.attempts, stderr.attempts) == (1, 1)
    assert len(output.failures) == 2
    world.distributor.request_stop()
    assert world.step().dest.value == "Stopped"


# ---------------------------------------------------------------- the real command line


def read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got:
        assert time.monotonic() < deadline, got
        chunk = os.read(fd, 65536)
        assert chunk, got
        got += chunk
    return got


def wait_for_text(path, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text()
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in {path}: {path.read_text()[-2000:]}")


def activity(pid: int) -> int:
    """Bytes read and written (/proc/PID/io) plus the times the process went to sleep and woke
    (/proc/PID/status): grows with every cycle, even when every write fails and the registry is
    only stat()ed. A process blocked for good on a write would not grow it."""
    io = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
    status = dict(line.split(":\t") for line in open(f"/proc/{pid}/status").read().splitlines())
    return int(io["rchar"]) + int(io["wchar"]) + int(status["voluntary_ctxt_switches"])


@contextmanager
def spawned(shared_dir, stdout, stderr) -> Iterator[subprocess.Popen]:
    """The agent with the given stdout/stderr; killed by its PID if the test leaves it running."""
    proc = subprocess.Popen(agent_argv(shared_dir), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                            env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def keeps_running_then_stops(proc: subprocess.Popen) -> None:
    """Alive and cycling (one cycle a second) for more than two cycles, then SIGTERM: exit 0."""
    before = activity(proc.pid)
    time.sleep(2.5)
    assert proc.poll() is None
    assert activity(proc.pid) > before
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def assert_clean_fallback(text: str, failed: str) -> None:
    """stderr: the note, then JSON lines only (the agent went on), the last one agent_stopped; no traceback."""
    assert "Traceback" not in text and "Exception ignored" not in text
    events = [json.loads(line) for line in text.splitlines()]
    assert events[0]["event"] == "log_output_failed" and events[0]["failed"] == failed
    assert events[0]["agent_id"] == "distributor"
    assert sum(e["event"] == "transition" for e in events) >= 3
    assert events[-1]["event"] == "agent_stopped"


@pytest.mark.timeout(60)
def test_stdout_to_a_full_filesystem(unreachable_registry, tmp_path):
    err_path = tmp_path / "stderr"
    with open("/dev/full", "w") as full, open(err_path, "w") as err, spawned(unreachable_registry, full, err) as proc:
        wait_for_text(err_path, '"event": "agent_started"')
        keeps_running_then_stops(proc)
    assert_clean_fallback(err_path.read_text(), "<stdout>")


@pytest.mark.timeout(60)
def test_stdout_to_a_pipe_whose_reader_closed(unreachable_registry, tmp_path):
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err, spawned(unreachable_registry, subprocess.PIPE, err) as proc:
        read_until(proc.stdout.fileno(), b'"event": "agent_started"')
        proc.stdout.close()  # the only reader goes away: the agent's next write gets EPIPE
        wait_for_text(err_path, "log_output_failed")
        keeps_running_then_stops(proc)
    assert_clean_fallback(err_path.read_text(), "<stdout>")


@pytest.mark.timeout(60)
def test_stdout_and_stderr_both_on_a_full_filesystem(unreachable_registry):
    with open("/dev/full", "w") as full, spawned(unreachable_registry, full, full) as proc:
        keeps_running_then_stops(proc)


@pytest.mark.timeout(60)
def test_stdout_and_stderr_both_closed_pipes(unreachable_registry):
    with spawned(unreachable_registry, subprocess.PIPE, subprocess.PIPE) as proc:
        read_until(proc.stdout.fileno(), b'"event": "agent_started"')
        proc.stdout.close()
        proc.stderr.close()
        keeps_running_then_stops(proc)

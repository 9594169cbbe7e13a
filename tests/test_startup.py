"""Start-up of the real command line: one agent per id, signals from the first moment.

Each test runs the agent as Monerosim does (`python3 -m fsm_distributor.cli`)
over a shared directory whose registry names wallets on a loopback port
nothing listens on (conftest's `unreachable_registry`), so the agent runs its
cycles without paying anyone.
Every process is stopped by its PID in a `finally`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from agent_processes import PACKAGE_DIR, ROOT, AgentProcess, agent_argv, clean_env, idle_sleep

from fsm_distributor.adapters.instance_lock import lock_path


def start(shared_dir, agent_id: str = "distributor") -> AgentProcess:
    return AgentProcess(agent_argv(shared_dir, agent_id), env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)


def started(agent: AgentProcess) -> dict:
    return agent.wait_for(lambda e: e["event"] == "agent_started")


def refused(shared_dir, agent_id: str = "distributor") -> tuple[int, str, str]:
    proc = subprocess.Popen(agent_argv(shared_dir, agent_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return proc.returncode, out.decode(), err.decode()


# ---------------------------------------------------------------- one agent per id


@pytest.mark.timeout(90)
def test_a_second_agent_with_the_same_id_exits_2_naming_id_lock_and_holder(unreachable_registry):
    first = start(unreachable_registry)
    others = []
    try:
        event = started(first)
        path = lock_path(unreachable_registry, "distributor")
        assert event["lock"] == str(path) and event["pid"] == first.proc.pid
        # The first one really runs its cycles (selects the miner, finds it unreachable).
        first.wait_for(lambda e: e["event"] == "miner_cooldown")

        status, out, err = refused(unreachable_registry)
        assert status == 2 and out == ""
        assert err == (f"fsm_distributor: refusing to start: another agent with id 'distributor' is running "
                       f"(pid {first.proc.pid} holds {path}); accepted: one agent per id\n")
        # ... and touched nothing of the first one's: its journal is its own, the lock still names it.
        assert path.read_text() == f"{first.proc.pid}\n"

        # Another id is another agent: it starts beside the first.
        others.append(start(unreachable_registry, "distributor2"))
        assert started(others[-1])["lock"] == str(lock_path(unreachable_registry, "distributor2"))

        # SIGKILL leaves no stale lock: the kernel drops it with the process.
        first.proc.kill()
        first.proc.wait(10)
        others.append(start(unreachable_registry))
        assert started(others[-1])["pid"] == others[-1].proc.pid
        assert path.read_text() == f"{others[-1].proc.pid}\n"
        for agent in others:
            status, _ = agent.stop_when_idle(signal.SIGTERM)
            assert status == 0, agent.stderr
    finally:
        for agent in [first, *others]:
            agent.kill()


@pytest.mark.timeout(30)
def test_a_shared_dir_that_does_not_exist_is_refused_at_start_up(tmp_path):
    status, out, err = refused(tmp_path / "missing")
    assert status == 2 and out == ""
    lock = tmp_path / "missing" / "distributor_distributor.lock"
    assert err == (f"fsm_distributor: refusing to start: cannot create the agent lock {lock}: "
                   f"No such file or directory; accepted: an existing, writable shared directory\n")


# ---------------------------------------------------------------- signals at start-up

FORMS = {  # Monerosim's two forms (dotted: `-m`; bare name: the package directory as a script), and `-m` of the package
    "m_cli": ["-m", "fsm_distributor.cli"],
    "m_package": ["-m", "fsm_distributor"],
    "package_dir": [str(PACKAGE_DIR)],
}
SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


def caught_signals(pid: int) -> int:
    """The process's mask of signals with a handler (/proc/PID/status SigCgt); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def wait_until_handled(proc: subprocess.Popen, timeout: float = 30.0) -> float:
    """Seconds from now until our first handler for SIGTERM is installed (Python itself handles
    only SIGINT): before that, no code of ours runs and nothing of ours can answer a signal."""
    t0 = time.monotonic()
    while not caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout
        time.sleep(0.0005)
    return time.monotonic() - t0


def numpy_loaded(pid: int) -> bool:
    """Whether numpy's C core is mapped into the process yet (the bulk of the agent's imports)."""
    with open(f"/proc/{pid}/maps") as maps:
        return "_multiarray_umath" in maps.read()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_our_handler_is_in_place_before_the_heavy_imports(tmp_path, form):
    """The window no code of ours can cover is the interpreter's own start (site, .pth files):
    our handler comes before numpy, not after every import (then SIGTERM killed the process for
    the first 0.6 s).  Three tries: the check races the child by a few microseconds."""
    argv = [sys.executable, *FORMS[form], "--id", "distributor", "--shared-dir", str(tmp_path)]
    early = []
    for _ in range(3):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
        try:
            wait_until_handled(proc)
            early.append(not numpy_loaded(proc.pid))
        finally:
            proc.kill()
            proc.wait(10)
    assert any(early), early


@dataclass
class Stopped:
    status: int
    events: list  # stdout, each line checked to be a JSON object with the stable keys
    stderr: str

    def check(self) -> None:
        """Exit 0, nothing on stderr (no traceback); a stop logged once at most."""
        assert self.status == 0, self
        assert self.stderr == "", self
        events = self.events
        assert all(e["agent_id"] == "distributor" for e in events), self
        assert sum(e["event"] == "agent_stopped" for e in events) <= 1, self
        assert sum(e.get("trigger") == "shutdown" for e in events) <= 1, self
        if any(e["event"] == "agent_started" for e in events):  # the machine ran: it stopped through Stopped
            assert events[-1]["event"] == "agent_stopped", self


def signal_during_start(shared_dir, form: str, signum: int, after: float | str, count: int = 1,
                        spread: float = 0.0) -> Stopped:
    """Start the agent in `form`; `after` seconds past its first handler (or once it sleeps in Idle:
    "idle"), send `count` signals over `spread` seconds; collect how it ended."""
    argv = [sys.executable, *FORMS[form], "--id", "distributor", "--shared-dir", str(shared_dir),
            "--log-level", "DEBUG", "--attributes", "balance_check_interval", "1"]
    agent = AgentProcess(argv, env=clean_env(PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        if after == "idle":
            agent.wait_for(idle_sleep, timeout=60)
        else:
            wait_until_handled(agent.proc)
            time.sleep(after)
        for _ in range(count):
            if agent.proc.poll() is not None:
                break
            agent.proc.send_signal(signum)
            time.sleep(spread / count)
        status = agent.finish(timeout=30)
        return Stopped(status, agent.events, agent.stderr)
    finally:
        agent.kill()


def run_all(cases: list[tuple], shared_dir) -> None:
    """Each case in its own shared dir (one agent per id), four at a time; every one checked."""
    def one(i_case):
        i, case = i_case
        where = shared_dir / str(i)
        where.mkdir()
        return case, signal_during_start(where, *case)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, enumerate(cases)))
    failures = []
    for case, result in results:
        try:
            result.check()
        except AssertionError:
            failures.append((case, result))
    assert not failures, failures


@pytest.mark.timeout(240)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_signal_at_any_moment_of_start_up_exits_0_without_a_traceback(tmp_path, form):
    run_all([(form, signum, after) for signum in SIGNALS.values() for after in (0.0, 0.03, 0.1, 0.25, 0.5)],
            tmp_path)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_storm_of_60_signals_in_120_ms_exits_0_with_one_stop(tmp_path, form):
    storms = [(form, signal.SIGTERM, after, 60, 0.12) for after in (0.0, 0.2, "idle")]
    run_all(storms + [(form, signal.SIGINT, "idle", 60, 0.12)], tmp_path)

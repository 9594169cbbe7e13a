"""What the benchmark parts share: statistics, figures and rows, machine facts, fakes that cost nothing."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import queue
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # `tests.fakes` and the package, from this checkout
    sys.path.insert(0, str(PROJECT_ROOT))

XMR = 10**12
#: One real single-destination `transfer` on regtest (docs/wallet-facts.md, 0.18, 2 cores).
REAL_TRANSFER_S = 0.31


def summary(samples: Sequence[float]) -> dict:
    """median, p99 (linear interpolation), min, max and n of non-empty `samples`."""
    xs = sorted(samples)

    def q(p: float) -> float:
        k = (len(xs) - 1) * p
        lo = int(k)
        return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (k - lo)
    return {"n": len(xs), "median": q(0.5), "p99": q(0.99), "min": xs[0], "max": xs[-1]}


def laps(value, steps: dict, reps: int) -> dict:
    """Median seconds of each named step, run in order on the previous one's result, over `reps` runs."""
    times: dict = {name: [] for name in steps}
    for _ in range(reps):
        v = value
        for name, step in steps.items():
            t0 = time.perf_counter()
            v = step(v)
            times[name].append(time.perf_counter() - t0)
    return {name: summary(ts)["median"] for name, ts in times.items()}


def slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) over log(size): 1 is linear growth, 2 quadratic."""
    import math
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def fmt_s(seconds: Optional[float]) -> str:
    """Seconds in the unit that reads best."""
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


class Figures(dict):
    """key -> {label, value, unit, better}: what the report compares with the previous run."""

    def add(self, key: str, label: str, value: float, unit: str = "s", better: str = "lower") -> float:
        self[key] = {"label": label, "value": value, "unit": unit, "better": better}
        return value


def row(ident: str, what: str, target: str, measured: str, baseline: str = "", ratio: str = "",
        met: Optional[bool] = None, why: str = "") -> dict:
    """One line of the headline table; `met` None: reported, no target; `why`: said when it is not met."""
    return {"id": ident, "what": what, "target": target, "measured": measured, "baseline": baseline,
            "ratio": ratio, "met": met, "why": why}


def progress(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine_info() -> dict:
    def first_line(path: str, prefix: str) -> str:
        try:
            return next(line.split(":", 1)[1].strip() for line in open(path) if line.startswith(prefix))
        except (OSError, StopIteration):
            return "?"
    monero = "not installed"
    if shutil.which("monerod"):
        monero = subprocess.run(["monerod", "--version"], capture_output=True, text=True).stdout.strip()
    mount = max((line.split()[:3] for line in open("/proc/mounts")
                 if os.path.abspath(os.environ.get("TMPDIR", "/tmp")).startswith(line.split()[1])),
                key=lambda m: len(m[1]))
    return {"cpu": first_line("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "memory_gib": int(first_line("/proc/meminfo", "MemTotal").split()[0]) / 2**20,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "kernel": platform.release(), "monero": monero, "tmp_filesystem": f"{mount[2]} ({mount[0]} on {mount[1]})",
            "packages": {p: version(p) for p in ("transitions", "structlog", "numpy", "requests")}}


# -- fakes that cost nothing, so that only the agent is timed -----------------------------

class ZeroWallet:
    """Answers every call at once and in O(1) (tests/fakes.FakeWallet scans its past sends)."""

    def __init__(self, address: str, tag: int):
        from fsm_distributor.core.ports import Balance
        self.address, self.tag, self.n = address, tag, 0
        self._balance = Balance(10**9 * XMR, 10**9 * XMR)

    def get_balance(self):
        return self._balance

    def get_address(self) -> str:
        return self.address

    def refresh(self) -> None:
        return None

    def transfer(self, destinations, *, priority: int, do_not_relay: bool = False):
        from fsm_distributor.core.ports import Transfer
        self.n += 1
        tx_hash = f"{self.tag:08x}{self.n:056x}"
        return Transfer(tx_hash, 2_605_200_000, sum(d[-1] for d in destinations), "m" + tx_hash if do_not_relay else "")

    def relay_tx(self, tx_metadata: str) -> str:
        return tx_metadata[1:]


class ZeroWallets:
    """The wallet factory: every endpoint answers, one ZeroWallet each, with a valid address."""

    def __init__(self):
        self.by_endpoint: dict = {}

    def __call__(self, host: str, port: int) -> ZeroWallet:
        key = (host, int(port))
        if key not in self.by_endpoint:
            self.by_endpoint[key] = ZeroWallet(valid_address(f"{host}:{port}"), len(self.by_endpoint) + 1)
        return self.by_endpoint[key]


def cached_ledger(records=()):
    """tests.fakes.FakeLedger, de-duplicating incrementally (its own append rescans every record)."""
    from fsm_distributor.core.ports import LedgerWrite
    from tests.fakes import FakeLedger
    ledger, keys = FakeLedger(), set()

    def append(new):
        fresh = [r for r in new if (r["tx_hash"], r["recipient_id"]) not in keys]
        keys.update((r["tx_hash"], r["recipient_id"]) for r in fresh)
        ledger.records.extend(fresh)
        return LedgerWrite()
    ledger.append = append
    append(records)
    return ledger


@functools.lru_cache(maxsize=None)
def valid_address(label: str) -> str:
    """A checksum-valid mainnet address (hash keys: fine for the agent's checks, not for a real wallet)."""
    from tests.fakes import make_address
    return make_address(label)


def curve_address(label: str) -> str:
    """A mainnet address whose keys are real Ed25519 points: a real wallet accepts it as a destination."""
    from Crypto.PublicKey import ECC

    from fsm_distributor.core.address import encode_address
    spend, view = (ECC.construct(curve="Ed25519", seed=hashlib.sha256(f"{part}:{label}".encode()).digest())
                   .public_key().export_key(format="raw") for part in ("spend", "view"))
    return encode_address("mainnet", "standard", spend, view)


def start_agent(agent_id: str, shared: Path, attributes: dict, workdir: Path):
    """The agent as Monerosim starts it (`tools.agent_run`), logging at INFO; stop it with `.stop()` (by PID)."""
    from fsm_distributor.tools.agent_run import AgentProcess, agent_command, agent_env
    argv = agent_command(agent_id, shared, attributes, sys.executable)
    argv[argv.index("--log-level") + 1] = "INFO"
    proc = AgentProcess(argv, agent_env(shared, 12345), workdir / f"{agent_id}.log", workdir)
    proc.start()
    return proc


def log_lines(proc, timeout: float):
    """The agent's JSON log lines as they come, for `timeout` seconds or until it exits."""
    from fsm_distributor.tools.agent_run import parse_line
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            obj = parse_line(proc.lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if obj:
            yield obj

"""What the benchmark parts share: statistics, machine facts, a zero-latency wallet, registries."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
DOC = PROJECT_ROOT / "docs" / "benchmarks.md"

if str(PROJECT_ROOT) not in sys.path:  # `tests.fakes` and the package, from a checkout
    sys.path.insert(0, str(PROJECT_ROOT))

XMR = 10**12
#: One real single-destination `transfer` on regtest (docs/monero-wallet-rpc.md, 0.18.0.0, 2 cores).
REAL_TRANSFER_S = 0.31


# -- statistics ------------------------------------------------------------------------

def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of non-empty `samples`."""
    xs = sorted(samples)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats(samples: Sequence[float]) -> dict:
    """median, p99, mean, min, max and n of `samples` (same unit as the samples)."""
    xs = list(samples)
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "median": percentile(xs, 50), "p99": percentile(xs, 99),
            "mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) over log(size): 1 is linear growth, 2 quadratic."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-12)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den if den else math.nan


# -- results ---------------------------------------------------------------------------

def write_result(part: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{part}.json"
    data = {"part": part, "finished_at": time.time(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def load_result(part: str) -> Optional[dict]:
    try:
        return json.loads((RESULTS_DIR / f"{part}.json").read_text())
    except (OSError, ValueError):
        return None


def row(ident: str, what: str, target: str, measured: str, *, baseline: str = "", ratio: str = "",
        met: Optional[bool] = None, note: str = "") -> dict:
    """One line of the headline table; `met` None means 'no target, reported only'."""
    return {"id": ident, "what": what, "target": target, "measured": measured, "baseline": baseline,
            "ratio": ratio, "met": met, "note": note}


# -- machine -----------------------------------------------------------------------------

def _first(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def filesystem_of(path: str) -> str:
    """Filesystem type and device of `path` (from /proc/mounts, longest mount prefix)."""
    best = ("", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype = line.split()[:3]
            if os.path.abspath(path).startswith(mnt) and len(mnt) > len(best[0]):
                best = (mnt, fstype, dev)
    except OSError:
        pass
    return f"{best[1]} ({best[2]} on {best[0]})"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        mem_gib = f"{int(mem) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        mem_gib = "?"
    versions = {}
    for pkg in ("transitions", "structlog", "numpy", "requests"):
        try:
            from importlib.metadata import version
            versions[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing distribution is just reported
            versions[pkg] = "?"
    monero = _first(["monerod", "--version"]) if shutil.which("monerod") else "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory": mem_gib,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "monero": monero,
        "tmp_filesystem": filesystem_of(os.environ.get("TMPDIR", "/tmp")),
        "packages": versions,
        "loadavg": os.getloadavg(),
    }


# -- subprocess environment ----------------------------------------------------------

def agent_env(shared_dir: Optional[Path] = None, seed: int = 12345) -> dict:
    """Monerosim's environment for an agent process, with this checkout on PYTHONPATH."""
    env = dict(os.environ)
    path = [str(PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update(SIMULATION_SEED=str(seed), PYTHONHASHSEED="0", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(path))
    if shared_dir is not None:
        env["MONEROSIM_SHARED_DIR"] = str(shared_dir)
    return env


def agent_argv(agent_id: str, shared_dir: Path, attributes: dict, log_level: str = "INFO") -> list[str]:
    """The argv Monerosim generates for a distributor entry (attributes sorted by key)."""
    argv = [sys.executable, "-m", "fsm_distributor", "--id", agent_id, "--shared-dir", str(shared_dir),
            "--log-level", log_level]
    for key in sorted(attributes):
        argv += ["--attributes", key, str(attributes[key])]
    return argv


# -- a zero-latency wallet -------------------------------------------------------------

class ZeroWallet:
    """Answers every call at once and in O(1): only the agent's own work is left to time.

    (tests/fakes.FakeWallet checks every relay against all earlier sends, which
    grows with the run and would be charged to the agent.)
    """

    def __init__(self, address: str, tag: int):
        from fsm_distributor.adapters.wallet import Balance
        self.address = address
        self.tag = tag
        self.n = 0
        self._balance = Balance(10**9 * XMR, 10**9 * XMR)

    def get_balance(self):
        return self._balance

    def get_address(self) -> str:
        return self.address

    def refresh(self) -> None:
        return None

    def transfer(self, destinations, *, priority: int, do_not_relay: bool = False):
        from fsm_distributor.adapters.wallet import Transfer
        self.n += 1
        tx_hash = f"{self.tag:08x}{self.n:056x}"
        return Transfer(tx_hash=tx_hash, fee=2_605_200_000, amount=sum(a for _, a in destinations),
                        tx_metadata=("m" + tx_hash) if do_not_relay else "")

    def relay_tx(self, tx_metadata: str) -> str:
        return tx_metadata[1:]

    def get_transfer_by_txid(self, txid: str) -> dict:
        return {"type": "out", "height": 100, "confirmations": 10, "txid": txid}


class ZeroWallets:
    """The wallet factory: any endpoint answers, one ZeroWallet per endpoint."""

    def __init__(self):
        self.by_endpoint: dict = {}

    def __call__(self, host: str, port: int) -> ZeroWallet:
        key = (host, int(port))
        wallet = self.by_endpoint.get(key)
        if wallet is None:
            wallet = self.by_endpoint[key] = ZeroWallet(f"addr-{host}:{port}", len(self.by_endpoint) + 1)
        return wallet


# -- registries in Monerosim's schema -----------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def address_like(label: str) -> str:
    """95 base58 characters starting with 4: the shape of a mainnet address, made fast.

    Registry parsing does not check addresses (recipient selection does, for the
    one chosen), so a 100k-agent registry does not need 100k checksums.
    """
    digest = hashlib.sha512(label.encode()).digest() * 2
    return "4" + "".join(_B58[b % 58] for b in digest[:94])


@functools.lru_cache(maxsize=4096)
def valid_address(label: str) -> str:
    """A checksum-valid mainnet address (keys are hashes; fine for fakes, not for a real wallet)."""
    from tests.fakes import make_address
    return make_address(label)


def curve_address(label: str) -> str:
    """A mainnet address whose keys are real Ed25519 points: a real wallet accepts it as a destination."""
    from Crypto.PublicKey import ECC

    from fsm_distributor.core.address import encode_address
    keys = [ECC.construct(curve="Ed25519", seed=hashlib.sha256(f"{part}:{label}".encode()).digest())
            .public_key().export_key(format="raw") for part in ("spend", "view")]
    return encode_address("mainnet", "standard", keys[0], keys[1])


def registry_documents(n_agents: int, n_miners: int, *, distributor_id: str = "distributor",
                       with_address: float = 0.5, address=address_like,
                       base_port: int = 20000) -> tuple[dict, dict]:
    """agent_registry.json and miners.json for `n_agents` agents (the first `n_miners` mine).

    Each agent has its own IP as in Monerosim; a share `with_address` of them has
    already written its wallet_address (early in a run many have not).
    """
    agents = []
    miners = []
    weight_left = 100
    for i in range(n_agents):
        aid = f"miner{i + 1:06d}" if i < n_miners else f"user{i - n_miners + 1:06d}"
        ip = f"11.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        is_miner = i < n_miners
        attributes = {"is_miner": "true" if is_miner else "false",
                      "can_receive_distributions": "true",
                      "transaction_interval": "60", "activity_start_time": "18000"}
        if is_miner:
            weight = max(1, weight_left // max(1, n_miners - i)) if i < n_miners - 1 else max(1, weight_left)
            weight_left = max(0, weight_left - weight)
            attributes["hashrate"] = str(weight)
            miners.append({"agent_id": aid, "ip_addr": ip, "weight": weight})
        entry = {"id": aid, "ip_addr": ip, "daemon": True, "wallet": True,
                 "user_script": "agents.autonomous_miner" if is_miner else "agents.regular_user",
                 "attributes": attributes, "wallet_rpc_port": base_port + 1, "daemon_rpc_port": 18081,
                 "is_public_node": False}
        if (i * 2654435761) % 1000 < with_address * 1000:
            entry["wallet_address"] = address(aid)
        agents.append(entry)
    agents.append({"id": distributor_id, "ip_addr": "11.255.255.254", "daemon": False, "wallet": False,
                   "user_script": "fsm_distributor", "attributes": {"transaction_frequency": "60"}})
    return {"agents": agents}, {"miners": miners}


def write_registry(shared_dir: Path, agents: dict, miners: dict) -> None:
    """Written as Monerosim writes them (pretty-printed, replaced atomically; the agent's own SharedDir
    writes compact JSON since R3, so the indent is asked for here)."""
    from fsm_distributor.adapters.shared_state import SharedDir
    shared = SharedDir(shared_dir, indent=2)
    shared.write_json_atomic("agent_registry.json", agents)
    shared.write_json_atomic("miners.json", miners)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - t0, value


def fmt_s(seconds: float) -> str:
    """Seconds in the unit that reads best."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def dump_progress(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

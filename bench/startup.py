"""4. Start-up and memory of `python3 -m fsm_distributor`, started as Monerosim starts it.

Each run spawns the agent (Monerosim's argv and environment; a small registry
whose wallets refuse connections, so it cycles without sending) and reads its
log: start-up = the first `transition` line's timestamp - the spawn time.  After
a second, its peak RSS (VmHWM) is read and it is stopped by SIGTERM, by PID.
Baseline: a bare `python3 -c` that prints its own time and VmHWM.  Where the time
goes: `python3 -X importtime -c "import fsm_distributor.cli"`, by top-level package.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import Figures, fmt_s, log_lines, progress, row, start_agent, summary

AGENT = "distributor"
BARE = ("import time; t = time.time()\n"
        "print(t, next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')))")
IMPORT = "import time; t = time.perf_counter(); import fsm_distributor.cli; print(time.perf_counter() - t)"


def small_registry(shared: Path) -> None:
    """tests.fakes' world (2 miners, 8 users) as files, every wallet and daemon on a port nobody listens on."""
    from fsm_distributor.adapters.shared_state import SharedDir
    from tests.fakes import make_world
    world, sockets = make_world(users=8, recovered=False), []

    def closed_port() -> int:  # bound to no listener, so connections are refused
        sockets.append(socket.socket())
        sockets[-1].bind(("127.0.0.1", 0))
        return sockets[-1].getsockname()[1]
    agents = [{**a, **{k: closed_port() for k in ("wallet_rpc_port", "daemon_rpc_port") if k in a}}
              for a in world.registry.agents]
    shared = SharedDir(shared, indent=2)
    shared.write_json_atomic("agent_registry.json", {"agents": agents})
    shared.write_json_atomic("miners.json", {"miners": world.registry.miners})
    for s in sockets:
        s.close()


def agent_start(shared: Path, cwd: Path) -> dict:
    out: dict = {"spawn": time.time()}
    proc = start_agent(AGENT, shared, {"transaction_frequency": "0", "initial_funding": "false",
                                       "balance_check_interval": "5"}, cwd)
    try:
        for obj in log_lines(proc, 30):
            if obj.get("event") in ("agent_started", "transition"):
                out.setdefault(obj["event"], float(obj["timestamp"]))
            if obj.get("event") == "transition":
                out["first"] = obj.get("message", "")
                break
        else:
            raise RuntimeError(f"no transition line within 30 s (exit {proc.poll()}); log {proc.log_path}")
        time.sleep(1.0)
        out["rss_mib"] = next(int(line.split()[1]) for line in open(f"/proc/{proc.pid}/status")
                              if line.startswith("VmHWM:")) / 1024
    finally:
        out["exit"] = proc.stop()  # SIGTERM by PID, SIGKILL after the timeout
    return out


def py(code: str, *flags: str) -> subprocess.CompletedProcess:
    from fsm_distributor.tools.agent_run import agent_env
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60, env=agent_env(Path("/nonexistent"), 1))


def run(quick: bool) -> dict:
    f = Figures()
    runs = 3 if quick else 7
    progress(f"4. start-up: {runs} agent runs and bare interpreters, after a warm-up each")
    agent, bare = [], []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        for i in range(runs + 1):
            shared = Path(tmp) / f"shared{i}"
            shared.mkdir()
            small_registry(shared)
            one = agent_start(shared, Path(tmp))
            t0 = time.time()
            t, hwm = py(BARE).stdout.split()
            if i:  # the first of each warms the page cache
                agent.append(one)
                bare.append((float(t) - t0, int(hwm) / 1024))
    imports = summary([float(py(IMPORT).stdout) for _ in range(runs)])["median"]
    by_package: Counter = Counter()
    for line in py("import fsm_distributor.cli", "-X", "importtime").stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            us, _, name = line[len("import time:"):].split("|", 2)
            by_package[name.strip().split(".")[0]] += int(us)
    total = sum(by_package.values())
    s = f.add("4a.start", "Start-up: spawn → first transition", summary([a["transition"] - a["spawn"] for a in agent])
              ["median"])
    f.add("4a.started", "Start-up: spawn → agent_started", summary([a["agent_started"] - a["spawn"] for a in agent])
          ["median"])
    b = f.add("4a.bare", "Bare `python3 -c` start", summary([x for x, _ in bare])["median"])
    f.add("4a.imports", "import fsm_distributor.cli, fresh interpreter", imports)
    rss = f.add("4b.rss", "Peak RSS of the agent (MiB)", max(a["rss_mib"] for a in agent), "MiB")
    brss = f.add("4b.bare_rss", "Peak RSS of a bare interpreter (MiB)", max(m for _, m in bare), "MiB")
    top = ", ".join(f"{name} {100 * us / total:.0f}%" for name, us in by_package.most_common(4))
    exits = sorted({a["exit"] for a in agent})
    return {"figures": f, "rows": [
        row("4a", "Start-up: process spawn → first `transition` log line", "≤ 0.5 s",
            f"{fmt_s(s)} (of which imports {fmt_s(imports)}; by package (-X importtime): {top})",
            f"bare `python3 -c` {fmt_s(b)}", f"{s / b:.1f}× a bare interpreter", s <= 0.5),
        row("4b", "Peak RSS of `python3 -m fsm_distributor` (start-up + 1 s of cycles)", "≤ 80 MiB",
            f"{rss:.1f} MiB (small registry; see 3d for 100k agents)", f"bare interpreter {brss:.1f} MiB",
            f"{rss / brss:.1f}× a bare interpreter", rss <= 80)],
        "tables": [{"title": "4. Where start-up goes",
                    "text": f"First transition: `{agent[0]['first']}`; exit statuses after SIGTERM: {exits}. "
                            f"Import self time by package (importtime's total {total / 1e6:.2f} s includes its own "
                            "overhead; read the shares):",
                    "headers": ["Package", "Self time", "Share"],
                    "rows": [[n, fmt_s(us / 1e6), f"{100 * us / total:.0f}%"] for n, us in by_package.most_common(8)]}]}

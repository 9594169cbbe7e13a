"""4. Start-up and memory of `python3 -m fsm_distributor`, started as Monerosim starts it.

Each run spawns the agent (Monerosim's argv and environment, a small registry
whose wallets refuse connections, so it cycles without sending), notes the
wall-clock time just before the spawn, and reads the agent's JSON log:
start-up = timestamp of the first `transition` line - spawn time.  After a
second of running, the peak RSS (VmHWM from /proc/PID/status; `ru_maxrss`
would carry the parent's RSS over exec) is read and the agent is stopped
with SIGTERM (it must exit 0).  Baseline in the same run: a bare
`python3 -c` that prints its own time.time() and VmHWM the same way.
Where the time goes: `python3 -X importtime -c "import fsm_distributor.cli"`,
grouped by top-level package.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench.common import (agent_argv, agent_env, dump_progress, fmt_s, row, stats, valid_address,
                          write_result, write_registry)

AGENT = "distributor"
BARE = ("import time; t = time.time()\n"
        "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "print(t, hwm)")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_registry(shared: Path) -> None:
    agents = [{"id": AGENT, "ip_addr": "127.0.0.1", "daemon": False, "wallet": False,
               "user_script": "fsm_distributor", "attributes": {}}]
    miners = []
    for i in range(2):
        agents.append({"id": f"miner{i + 1:03d}", "ip_addr": "127.0.0.1", "daemon": True, "wallet": True,
                       "user_script": "agents.autonomous_miner", "wallet_rpc_port": closed_port(),
                       "attributes": {"is_miner": "true", "hashrate": "50"}})
        miners.append({"agent_id": f"miner{i + 1:03d}", "ip_addr": "127.0.0.1", "weight": 50})
    for i in range(8):
        agents.append({"id": f"user{i + 1:03d}", "ip_addr": "127.0.0.1", "daemon": True, "wallet": True,
                       "user_script": "agents.regular_user", "wallet_rpc_port": closed_port(),
                       "wallet_address": valid_address(f"user{i}"),
                       "attributes": {"is_miner": "false", "can_receive_distributions": "true"}})
    write_registry(shared, {"agents": agents}, {"miners": miners})


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def agent_run(shared: Path, cwd: Path, settle: float) -> dict:
    attrs = {"transaction_frequency": "0", "initial_funding": "false", "balance_check_interval": "5"}
    argv = agent_argv(AGENT, shared, attrs, log_level="INFO")
    lines: "queue.Queue[str]" = queue.Queue()
    t_spawn = time.time()
    proc = subprocess.Popen(argv, env=agent_env(shared), cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    reader = threading.Thread(target=lambda: [lines.put(raw.decode("utf-8", "replace")) for raw in proc.stdout],
                              daemon=True)
    reader.start()
    out = {"spawn": t_spawn}
    try:
        deadline = time.monotonic() + 30
        while "first_transition" not in out and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            _note(out, line)
        if "first_transition" not in out:
            raise RuntimeError(f"no transition line within 30 s (exit {proc.poll()})")
        time.sleep(settle)
        out["vm_hwm_kib"] = vm_hwm_kib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out["exit"] = proc.wait(15)
    finally:
        if proc.poll() is None:  # only our own child, by its PID
            proc.kill()
            proc.wait(10)
        reader.join(5)
    while not lines.empty():
        _note(out, lines.get_nowait())
    return out


def _note(out: dict, line: str) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        return
    if not isinstance(obj, dict):
        return
    event = obj.get("event")
    out["transitions"] = out.get("transitions", 0) + (event == "transition")
    if event == "agent_started" and "agent_started" not in out:
        out["agent_started"] = float(obj["timestamp"])
    if event == "transition" and "first_transition" not in out:
        out["first_transition"] = float(obj["timestamp"])
        out["first_transition_name"] = obj.get("message", "")


def bare_run(cwd: Path) -> dict:
    t_spawn = time.time()
    done = subprocess.run([sys.executable, "-c", BARE], env=agent_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=30, check=True)
    t, hwm = done.stdout.split()
    return {"start": float(t) - t_spawn, "vm_hwm_kib": int(hwm)}


IMPORT_WALL = ("import time; t0 = time.perf_counter(); import fsm_distributor.cli; "
               "print(time.perf_counter() - t0)")


def import_wall(cwd: Path, runs: int) -> dict:
    """Wall time of `import fsm_distributor.cli` in a fresh interpreter, without -X importtime's overhead."""
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", IMPORT_WALL], env=agent_env(), cwd=cwd, capture_output=True,
                              text=True, timeout=60, check=True)
        times.append(float(done.stdout))
    return stats(times)


def import_times(cwd: Path) -> dict:
    """Self time per top-level package from -X importtime (µs), and the total."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import fsm_distributor.cli"],
                          env=agent_env(), cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    by_package: dict[str, int] = defaultdict(int)
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:"):].split("|", 2)
        by_package[name.strip().split(".")[0]] += int(self_us)
        total += int(self_us)
    ranked = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
    return {"total_us": total, "top": ranked[:10]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    runs = 3 if args.quick else 7
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp = Path(tmp)
        cwd = tmp / "cwd"
        cwd.mkdir()
        bare = []
        agent = []
        dump_progress(f"4. start-up: {runs} agent runs and {runs} bare interpreters (after one warm-up each)")
        bare_run(cwd)
        for i in range(runs + 1):
            shared = tmp / f"shared{i}"
            shared.mkdir()
            small_registry(shared)
            result = agent_run(shared, cwd, settle=1.0)
            if i > 0:  # the first run warms the page cache
                agent.append(result)
            bare.append(bare_run(cwd))
        imports = import_times(cwd)
        imports["wall"] = import_wall(cwd, runs)
    start = [r["first_transition"] - r["spawn"] for r in agent]
    started = [r["agent_started"] - r["spawn"] for r in agent]
    rss = [r["vm_hwm_kib"] / 1024 for r in agent]
    bare_start = [r["start"] for r in bare]
    bare_rss = [r["vm_hwm_kib"] / 1024 for r in bare]
    results = {"agent_runs": agent, "bare_runs": bare, "start_to_first_transition": stats(start),
               "start_to_agent_started": stats(started), "peak_rss_mib": stats(rss),
               "bare_start": stats(bare_start), "bare_rss_mib": stats(bare_rss), "imports": imports,
               "exit_codes": sorted({r.get("exit") for r in agent}),
               "first_transition": agent[0].get("first_transition_name", "")}
    s, b = results["start_to_first_transition"]["median"], results["bare_start"]["median"]
    top = ", ".join(f"{name} {100 * us / imports['total_us']:.0f}%" for name, us in imports["top"][:4])
    results["rows"] = [
        row("4a", "Start-up: process spawn → first `transition` log line", "≤ 0.5 s", fmt_s(s),
            baseline=f"bare `python3 -c` {fmt_s(b)}", ratio=f"{s / b:.1f}× a bare interpreter",
            met=s <= 0.5,
            note=f"of which imports {fmt_s(imports['wall']['median'])}; by package (-X importtime): {top}"),
        row("4b", "Peak RSS of `python3 -m fsm_distributor` (start-up + 1 s of cycles)", "≤ 80 MiB",
            f"{results['peak_rss_mib']['max']:.1f} MiB", baseline=f"bare interpreter {stats(bare_rss)['max']:.1f} MiB",
            ratio=f"{results['peak_rss_mib']['max'] / stats(bare_rss)['max']:.1f}× a bare interpreter",
            met=results["peak_rss_mib"]["max"] <= 80, note="small registry; see 3d for 100k agents"),
    ]
    path = write_result("b4_startup", results)
    dump_progress(f"4. start-up median {fmt_s(s)}, peak RSS {results['peak_rss_mib']['max']:.1f} MiB; written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

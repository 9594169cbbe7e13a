"""`fsm-distributor sandbox`: the agent end to end on a real regtest network.

Brings up a `RegtestNetwork`, starts the agent exactly as Monerosim's wrapper
would (same argv, same environment), mines a block every few seconds, follows
the agent's JSON log live, stops it with SIGTERM once enough transactions were
recorded, and then checks every record in transactions.json on chain: the
sender's wallet must know the transaction as confirmed, the recipient's wallet
must have received what was recorded.  Exits non-zero when that falls short.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from fsm_distributor.tools.regtest import (Interrupted, RegtestError, RegtestNetwork, add_network_arguments,
                                     describe, network_from_args, raise_on_sigterm, stop_processes)
from fsm_distributor.core.amounts import AmountError, parse_xmr
from fsm_distributor.core.config import load_config
from fsm_distributor.core.errors import WalletError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ATOMIC = 10**12

DEFAULT_ATTRIBUTES = {
    "transaction_frequency": "1",
    "min_transaction_amount": "0.1",
    "max_transaction_amount": "1.0",
    "miner_selection_strategy": "weighted",
    "transaction_priority": "1",
    "max_retries": "3",
    "recipient_selection": "random",
    "balance_check_interval": "2",
}


# -- the agent process ---------------------------------------------------------------

def agent_command(agent_id: str, shared_dir: Path, attributes: Mapping[str, str],
                  python: str = "python3") -> list[str]:
    """The argv Monerosim generates for a distributor entry (attributes sorted by key)."""
    argv = [python, "-m", "fsm_distributor", "--id", agent_id, "--shared-dir", str(shared_dir),
            "--log-level", "DEBUG"]
    for key in sorted(attributes):
        argv += ["--attributes", key, str(attributes[key])]
    return argv


def agent_env(shared_dir: Path, seed: int, base: Optional[Mapping[str, str]] = None) -> dict:
    """Monerosim's environment for an agent, with this checkout first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    path = [str(PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update(SIMULATION_SEED=str(seed), MONEROSIM_SHARED_DIR=str(shared_dir),
               PYTHONHASHSEED="0", PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(path))
    return env


class AgentProcess:
    """The agent as a child process; a thread copies its output to a log file and a queue."""

    def __init__(self, argv: list[str], env: dict, log_path: Path, cwd: Path):
        self.argv, self.env, self.log_path, self.cwd = argv, env, log_path, cwd
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.process: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None

    def start(self) -> None:
        # stderr joins stdout as in Monerosim's wrapper (`2>&1`)
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._copy, daemon=True)
        self._reader.start()

    def _copy(self) -> None:
        with open(self.log_path, "ab") as out:
            for raw in self.process.stdout:
                out.write(raw)
                out.flush()
                self.lines.put(raw.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> Optional[int]:
        return self.process.poll()

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM (the agent should leave its step and exit 0), then SIGKILL."""
        if self.process is not None:
            stop_processes([self.process], timeout=timeout)
            if self._reader is not None:
                self._reader.join(5)
            return self.process.returncode
        return None


def parse_line(line: str) -> Optional[dict]:
    """A log line as a dict, or None for anything that is not a JSON object."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class Progress:
    """What the agent's log said so far."""

    events: Counter = field(default_factory=Counter)
    transitions: int = 0
    state: str = "?"
    other_lines: int = 0
    failures: list = field(default_factory=list)
    sent_hashes: list = field(default_factory=list)

    def feed(self, line: str) -> Optional[tuple[str, str]]:
        """Count one log line; return (kind, short text) when worth showing."""
        obj = parse_line(line)
        if obj is None:
            self.other_lines += 1
            return ("text", f"(agent) {line}") if line.strip() else None
        event = str(obj.get("event", ""))
        self.events[event] += 1
        if event == "transition":
            self.transitions += 1
            self.state = str(obj.get("to", "?"))
            return event, f"{obj.get('from')} -> {obj.get('to')} ({obj.get('trigger')})"
        if event == "tx_sent":
            self.sent_hashes.append(str(obj.get("tx_hash", "")))
            to = obj.get("recipient") or f"{len(obj.get('recipients') or [])} recipients"
            return event, (f"sent {str(obj.get('tx_hash', ''))[:12]}.. {obj.get('miner')} -> {to} "
                           f"{_xmr(obj.get('amount_atomic'))} XMR, fee {_xmr(obj.get('fee'))}"
                           + (f" ({obj['purpose']})" if obj.get("purpose") not in (None, "distribution") else ""))
        if event == "tx_failed":
            self.failures.append(obj.get("message", ""))
            return event, f"FAILED: {obj.get('message', '')}"
        if obj.get("level") in ("error", "critical"):
            return "error", f"{obj.get('level')}: {obj.get('message') or event}"
        return None


# -- checking records on chain -------------------------------------------------------

def read_records(shared_dir: Path) -> list[dict]:
    """transactions.json as a list (empty while absent or being replaced)."""
    try:
        data = json.loads((Path(shared_dir) / "transactions.json").read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def is_distribution(record: dict) -> bool:
    """Random-amount sends; initial-funding batches pay md_output_amount per output instead."""
    return record.get("purpose", "distribution") == "distribution"


def record_atomic(record: dict) -> int:
    """The exact amount; records of other writers may only carry the XMR number."""
    if isinstance(record.get("amount_atomic"), int):
        return record["amount_atomic"]
    try:
        return parse_xmr(repr(record.get("amount", 0)))
    except AmountError:
        return 0


@dataclass
class TxCheck:
    """The sender wallet's view of one transaction hash."""

    tx_hash: str
    sender_id: str
    type: str = ""
    height: int = 0
    confirmations: int = 0
    fee: int = 0
    recorded_fees: list = field(default_factory=list)
    error: str = ""

    @property
    def confirmed(self) -> bool:
        return self.type == "out" and self.confirmations >= 1


@dataclass
class ReceiptCheck:
    """What one recipient's wallet received in one transaction vs what was recorded."""

    tx_hash: str
    recipient_id: str
    recorded: int
    received: int = 0
    confirmations: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.received == self.recorded and self.confirmations >= 1


def verify_records(net: RegtestNetwork, records: Sequence[dict]) -> tuple[dict, dict]:
    """Check records on chain; returns ({tx_hash: TxCheck}, {(tx_hash, recipient): ReceiptCheck}).

    Refresh the wallets first (`net.refresh`) or recent blocks are not seen."""
    txs: dict[str, TxCheck] = {}
    receipts: dict[tuple[str, str], ReceiptCheck] = {}
    for rec in records:
        h, sender, recipient = str(rec.get("tx_hash", "")), str(rec.get("sender_id", "")), str(rec.get("recipient_id", ""))
        tx = txs.setdefault(h, TxCheck(h, sender))
        tx.recorded_fees.append(rec.get("fee"))
        key = (h, recipient)
        receipts.setdefault(key, ReceiptCheck(h, recipient, 0)).recorded += record_atomic(rec)
    for tx in txs.values():
        if tx.sender_id not in net.nodes:
            tx.error = f"sender {tx.sender_id!r} is not a wallet of this network"
            continue
        try:
            t = net.wallet(tx.sender_id).get_transfer_by_txid(tx.tx_hash)
        except WalletError as exc:
            tx.error = str(exc)
            continue
        tx.type, tx.height = str(t.get("type", "")), int(t.get("height", 0))
        tx.confirmations, tx.fee = int(t.get("confirmations", 0)), int(t.get("fee", 0))
    for rc in receipts.values():
        if rc.recipient_id not in net.nodes:
            rc.error = f"recipient {rc.recipient_id!r} is not a wallet of this network"
            continue
        try:
            answer = net.wallet(rc.recipient_id).call("get_transfer_by_txid", {"txid": rc.tx_hash})
        except WalletError as exc:
            rc.error = str(exc)
            continue
        entries = answer.get("transfers") or [answer.get("transfer", {})]
        incoming = [e for e in entries if e.get("type") in ("in", "pool")]
        rc.received = sum(int(e.get("amount", 0)) for e in incoming)
        rc.confirmations = min((int(e.get("confirmations", 0)) for e in incoming), default=0)
    return txs, receipts


def find_problems(records: Sequence[dict], txs: dict, receipts: dict, min_atomic: int, max_atomic: int,
                  sent_hashes: Sequence[str] = ()) -> list[str]:
    """Everything about the records that is wrong, one line each.

    `sent_hashes` (from the agent's tx_sent lines) catches transactions that
    went on chain but never reached transactions.json."""
    problems = []
    recorded = {str(r.get("tx_hash")) for r in records}
    for h in dict.fromkeys(sent_hashes):
        if h not in recorded:
            problems.append(f"{h[:12]}..: logged as sent but not in transactions.json")
    for rec in records:
        who = f"{str(rec.get('tx_hash', ''))[:12]}.. {rec.get('sender_id')}->{rec.get('recipient_id')}"
        if rec.get("sender_id") == rec.get("recipient_id"):
            problems.append(f"{who}: sent to the selected miner itself")
        if is_distribution(rec) and not min_atomic <= record_atomic(rec) <= max_atomic:
            problems.append(f"{who}: amount {_xmr(record_atomic(rec))} outside [{_xmr(min_atomic)}, {_xmr(max_atomic)}]")
        if not isinstance(rec.get("fee"), int) or rec["fee"] <= 0:
            problems.append(f"{who}: fee not recorded ({rec.get('fee')!r})")
    for tx in txs.values():
        if tx.error:
            problems.append(f"{tx.tx_hash[:12]}..: sender {tx.sender_id}: {tx.error}")
        elif not tx.confirmed:
            problems.append(f"{tx.tx_hash[:12]}..: not confirmed (type {tx.type!r}, {tx.confirmations} conf)")
        elif tx.fee and tx.fee not in tx.recorded_fees and sum(f for f in tx.recorded_fees if isinstance(f, int)) != tx.fee:
            problems.append(f"{tx.tx_hash[:12]}..: recorded fee {tx.recorded_fees} but the wallet says {tx.fee}")
    for rc in receipts.values():
        if rc.error:
            problems.append(f"{rc.tx_hash[:12]}..: recipient {rc.recipient_id}: {rc.error}")
        elif rc.received != rc.recorded:
            problems.append(f"{rc.tx_hash[:12]}..: {rc.recipient_id} received {_xmr(rc.received)}, "
                            f"recorded {_xmr(rc.recorded)}")
    return problems


# -- output -------------------------------------------------------------------------

def _xmr(atomic) -> str:
    return f"{atomic / ATOMIC:.6f}" if isinstance(atomic, int) else "?"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def fmt(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]])


def summary(net: RegtestNetwork, records: Sequence[dict], txs: dict, receipts: dict) -> str:
    by_sender: dict[str, list] = defaultdict(list)
    for rec in records:
        by_sender[str(rec.get("sender_id"))].append(rec)
    total_weight = sum(m.weight for m in net.miners) or 1
    miner_rows = []
    for m in net.miners + [n for n in net.nodes.values() if n.role != "miner" and n.id in by_sender]:
        recs = by_sender.get(m.id, [])
        hashes = {r.get("tx_hash") for r in recs}
        fees = sum(txs[h].fee for h in hashes if h in txs)
        confirmed = sum(1 for h in hashes if h in txs and txs[h].confirmed)
        miner_rows.append([m.id, m.weight, f"{100 * m.weight / total_weight:.0f}%", len(recs), len(hashes),
                           f"{100 * len(hashes) / max(1, len(txs)):.0f}%",
                           _xmr(sum(record_atomic(r) for r in recs)), _xmr(fees), confirmed])
    rcpt_rows = []
    per_recipient: dict[str, list[ReceiptCheck]] = defaultdict(list)
    for rc in receipts.values():
        per_recipient[rc.recipient_id].append(rc)
    for rid in sorted(per_recipient):
        rcs = per_recipient[rid]
        rcpt_rows.append([rid, len(rcs), _xmr(sum(r.recorded for r in rcs)), _xmr(sum(r.received for r in rcs)),
                          min(r.confirmations for r in rcs), max(r.confirmations for r in rcs),
                          "yes" if all(r.ok for r in rcs) else "NO"])
    return "\n\n".join([
        format_table(["miner", "weight", "weight %", "records", "txs", "selected %", "XMR sent", "fees XMR",
                      "confirmed txs"], miner_rows),
        format_table(["recipient", "txs", "XMR recorded", "XMR on chain", "min conf", "max conf", "match"],
                     rcpt_rows)])


# -- the run ------------------------------------------------------------------------

class Echo:
    """Prints what `Progress.feed` found worth showing; an agent stuck in a loop
    repeats itself, so identical lines are counted instead of printed."""

    def __init__(self, stamp, quiet: bool):
        self.stamp, self.quiet = stamp, quiet
        self.last, self.repeats = "", 0

    def __call__(self, shown: Optional[tuple[str, str]]) -> None:
        if not shown or (self.quiet and shown[0] == "transition"):
            return
        if shown[1] == self.last:
            self.repeats += 1
            return
        self.flush()
        self.last = shown[1]
        print(self.stamp(), shown[1], flush=True)

    def flush(self) -> None:
        if self.repeats:
            print(f"{self.stamp()} (previous line repeated {self.repeats} more times)", flush=True)
        self.last, self.repeats = "", 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fsm-distributor sandbox",
                                description="Run the distributor against a local regtest network and check "
                                            "its transactions on chain.")
    add_network_arguments(p)
    p.add_argument("--transactions", type=int, default=20,
                   help="stop after this many recorded transactions (20; a batch counts once)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workdir (always kept on failure)")
    p.add_argument("--block-interval", type=float, default=3.0, help="seconds between mined blocks (3)")
    p.add_argument("--confirm-blocks", type=int, default=2, help="blocks mined after the agent stopped (2)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (600)")
    p.add_argument("--stall-timeout", type=float, default=120.0,
                   help="give up when no new record arrived for this many seconds (120)")
    p.add_argument("--seed", type=int, default=12345, help="SIMULATION_SEED for the agent (12345)")
    p.add_argument("--attribute", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="override or add one agent attribute")
    p.add_argument("--python", default=sys.executable, help="interpreter for the agent (this one)")
    p.add_argument("--quiet", action="store_true", help="show status lines only, not every transition")
    return p


def run(args: argparse.Namespace, net: RegtestNetwork, attributes: Mapping[str, str]) -> int:
    """Drive the agent on a started network; print progress and the summary; return the exit status."""
    argv = agent_command("distributor", net.shared_dir, attributes, python=args.python)
    print("agent: python3 " + " ".join(argv[1:]), flush=True)
    agent = AgentProcess(argv, agent_env(net.shared_dir, args.seed), net.workdir / "agent.log", net.workdir)
    progress = Progress()
    t0 = time.monotonic()
    stamp = lambda: f"[{time.monotonic() - t0:6.1f}s]"
    agent.start()
    died = None
    seen_records, last_new_record = 0, time.monotonic()
    echo = Echo(stamp, quiet=args.quiet)
    try:
        next_block = time.monotonic() + args.block_interval
        next_check = time.monotonic()
        while True:
            try:
                line = agent.lines.get(timeout=max(0.05, min(next_block, next_check) - time.monotonic()))
                echo(progress.feed(line))
                if time.monotonic() < next_check:
                    continue
            except queue.Empty:
                pass
            next_check = time.monotonic() + 0.5   # even while the agent floods its log
            if agent.poll() is not None:
                died = agent.poll()
                print(f"{stamp()} the agent exited on its own with status {died}", flush=True)
                break
            records = read_records(net.shared_dir)
            sends = len({str(r.get("tx_hash")) for r in records})   # a batch is one send, many records
            if sends >= args.transactions:
                break
            if len(records) > seen_records:
                seen_records, last_new_record = len(records), time.monotonic()
            if time.monotonic() - t0 > args.timeout or time.monotonic() - last_new_record > args.stall_timeout:
                print(f"{stamp()} giving up: {len(records)} records, the last new one "
                      f"{time.monotonic() - last_new_record:.0f}s ago", flush=True)
                break
            if time.monotonic() >= next_block:
                height = net.mine(1)
                next_block = time.monotonic() + args.block_interval
                heights = net.tx_heights(sorted({str(r.get("tx_hash")) for r in records}))
                echo.flush()
                print(f"{stamp()} height {height} | sent {progress.events['tx_sent']} txs, "
                      f"recorded {len(records)} confirmed {sum(1 for h in heights.values() if h)}/{len(heights)} txs "
                      f"failed {progress.events['tx_failed']} | state {progress.state}", flush=True)
    finally:
        status = agent.stop()
        while not agent.lines.empty():
            progress.feed(agent.lines.get_nowait())
    print(f"{stamp()} agent stopped (status {status}); mining {args.confirm_blocks} more blocks", flush=True)
    net.mine(args.confirm_blocks)
    records = read_records(net.shared_dir)
    involved = {str(r.get(k)) for r in records for k in ("sender_id", "recipient_id")} & set(net.nodes)
    net.refresh(sorted(involved))
    txs, receipts = verify_records(net, records)
    config = load_config(attributes)
    min_atomic, max_atomic = config.min_amount, config.max_amount
    problems = find_problems(records, txs, receipts, min_atomic, max_atomic, progress.sent_hashes)
    confirmed = sum(1 for h, tx in txs.items() if tx.confirmed
                    and all(rc.ok for (rh, _), rc in receipts.items() if rh == h))
    print()
    print(summary(net, records, txs, receipts))
    print(f"\nrecords {len(records)} in {len(txs)} txs; txs confirmed and fully received {confirmed}, "
          f"asked {args.transactions} | log: sent {progress.events['tx_sent']} recorded {progress.events['tx_recorded']} "
          f"failed {progress.events['tx_failed']}, {progress.transitions} transitions, "
          f"{progress.other_lines} non-JSON lines | agent status {status} | {time.monotonic() - t0:.1f}s")
    for p in problems:
        print("PROBLEM:", p)
    ok = confirmed >= args.transactions and not problems and died is None and status == 0
    print("RESULT:", "ok" if ok else "FAILED", flush=True)
    return 0 if ok else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    raise_on_sigterm()
    attributes = {**DEFAULT_ATTRIBUTES, **dict(args.attribute)}
    workdir_given = args.workdir is not None
    if not workdir_given:
        args.workdir = tempfile.mkdtemp(prefix="fsm-sandbox-")
    status = 2
    try:
        net = network_from_args(args, distributor_attributes=attributes, keep_workdir=True)
        t0 = time.monotonic()
        print("starting the regtest network ...", flush=True)
        with net:
            print(describe(net))
            print(f"network up in {time.monotonic() - t0:.1f}s", flush=True)
            status = run(args, net, attributes)
    except RegtestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; everything stopped", file=sys.stderr)
        status = 130
    finally:
        if not workdir_given and status == 0 and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
        else:
            print(f"workdir kept: {args.workdir} (agent log: {Path(args.workdir) / 'agent.log'})")
    return status


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())

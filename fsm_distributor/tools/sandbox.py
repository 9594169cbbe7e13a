"""`fsm-distributor sandbox`: the agent end to end on a real regtest network.

Brings up a `RegtestNetwork` (its own default one, or a Monerosim scenario
mapped onto regtest: sandbox_plan.py), starts the agent exactly as Monerosim's
wrapper would (same argv, same environment), mines a block every few seconds,
follows the agent's JSON log live, stops it with SIGTERM once its job is done
(initial funding, then enough transactions), and then checks everything on
chain (onchain.py): each sender's wallet must know its transactions as
confirmed, each recipient's wallet (or subaddress) must have received what was
recorded and nothing unrecorded, and every eligible recipient must have been
funded once, as configured.  Prints a summary, writes summary.json into the
workdir, and exits non-zero when anything falls short.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from fsm_distributor.tools.agent_run import DEFAULT_ATTRIBUTES, AgentProcess, agent_command, agent_env, parse_line
from fsm_distributor.tools.onchain import (ReceiptCheck, find_problems, funding_checks, incoming_by_recipient,
                                     is_distribution, min_funding_txs, record_atomic, summary_document, unrecorded,
                                     verify_records, xmr)
from fsm_distributor.tools.regtest import (Interrupted, RegtestError, RegtestNetwork, add_network_arguments, describe,
                                     raise_on_sigterm)
from fsm_distributor.tools.sandbox_plan import (DEFAULT_MAX_WALLETS, Plan, PlanError, build_network,
                                          make_plan)

__all__ = ["DEFAULT_ATTRIBUTES", "AgentProcess", "Progress", "agent_command", "agent_env", "main", "parse_line",
           "read_records", "run"]

SUMMARY_FILE = "summary.json"
#: Recipients listed one per line in the printed summary up to this many (all of them are in summary.json).
LISTED_RECIPIENTS = 30
LISTED_PROBLEMS = 20


@dataclass
class Progress:
    """What the agent's log said so far."""

    events: Counter = field(default_factory=Counter)
    transitions: int = 0
    state: str = "?"
    other_lines: int = 0
    failures: list = field(default_factory=list)
    sent_hashes: list = field(default_factory=list)
    #: the agent's own timestamps (Unix seconds) of these events, first occurrence
    times: dict = field(default_factory=dict)

    @property
    def funding_finished(self) -> bool:
        return bool(self.events["initial_funding_complete"] or self.events["initial_funding_abandoned"])

    def feed(self, line: str) -> Optional[tuple[str, str]]:
        """Count one log line; return (kind, short text) when worth showing."""
        obj = parse_line(line)
        if obj is None:
            self.other_lines += 1
            return ("text", f"(agent) {line}") if line.strip() else None
        event = str(obj.get("event", ""))
        self.events[event] += 1
        if isinstance(obj.get("timestamp"), (int, float)):
            self.times.setdefault(event, float(obj["timestamp"]))
        if event == "transition":
            self.transitions += 1
            self.state = str(obj.get("to", "?"))
            return event, f"{obj.get('from')} -> {obj.get('to')} ({obj.get('trigger')})"
        if event == "tx_sent":
            self.sent_hashes.append(str(obj.get("tx_hash", "")))
            to = obj.get("recipient") or f"{len(obj.get('recipients') or [])} recipients"
            return event, (f"sent {str(obj.get('tx_hash', ''))[:12]}.. {obj.get('miner')} -> {to} "
                           f"{xmr(obj.get('amount_atomic'))} XMR, fee {xmr(obj.get('fee'))}"
                           + (f" ({obj['purpose']})" if obj.get("purpose") not in (None, "distribution") else ""))
        if event == "tx_failed":
            self.failures.append(obj.get("message", ""))
            return event, f"FAILED: {obj.get('message', '')}"
        if obj.get("level") in ("error", "critical"):
            return "error", f"{obj.get('level')}: {obj.get('message') or event}"
        return None


# -- the shared dir ------------------------------------------------------------------

def read_records(shared_dir: Path) -> list[dict]:
    """transactions.json as a list (empty while absent or being replaced)."""
    try:
        data = json.loads((Path(shared_dir) / "transactions.json").read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


# -- output -------------------------------------------------------------------------

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
                           xmr(sum(record_atomic(r) for r in recs)), xmr(fees), confirmed])
    per_recipient: dict[str, list[ReceiptCheck]] = defaultdict(list)
    for rc in receipts.values():
        per_recipient[rc.recipient_id].append(rc)
    rcpt_rows = []
    for rid in sorted(per_recipient):
        rcs = per_recipient[rid]
        rcpt_rows.append([rid, len(rcs), sum(r.outputs for r in rcs), xmr(sum(r.recorded for r in rcs)),
                          xmr(sum(r.received for r in rcs)), min(r.confirmations for r in rcs),
                          max(r.confirmations for r in rcs), "yes" if all(r.ok for r in rcs) else "NO"])
    if len(rcpt_rows) > LISTED_RECIPIENTS:
        matching = sum(1 for row in rcpt_rows if row[-1] == "yes")
        confs = [min(r.confirmations for r in rcs) for rcs in per_recipient.values()] + \
            [max(r.confirmations for r in rcs) for rcs in per_recipient.values()]
        recipients = (f"{len(rcpt_rows)} recipients (each in {SUMMARY_FILE}): {matching} received exactly what "
                      f"was recorded; confirmations {min(confs)}..{max(confs)}")
    else:
        recipients = format_table(["recipient", "txs", "outputs", "XMR recorded", "XMR on chain", "min conf",
                                   "max conf", "match"], rcpt_rows)
    return "\n\n".join([
        format_table(["miner", "weight", "weight %", "records", "txs", "selected %", "XMR sent", "fees XMR",
                      "confirmed txs"], miner_rows), recipients])


def funding_line(fundings: dict, plan: Plan, records: Sequence[dict], seconds: Optional[float]) -> str:
    cfg = plan.config
    if not fundings:
        return ("initial funding: nobody to fund (no wallet agent is marked can_receive_distributions)"
                if cfg.initial_funding else "initial funding: off (initial_funding false)")
    good = sum(1 for f in fundings.values() if not f.problem(cfg))
    hashes = {h for f in fundings.values() for h in f.txs}
    confs = [f.confirmations for f in fundings.values() if f.txs] or [0]
    return (f"initial funding: {good} of {len(fundings)} eligible recipients funded once as configured "
            f"({cfg.outputs_per_recipient} x {xmr(cfg.output_amount)} XMR) in {len(hashes)} transactions "
            f"(fewest possible {min_funding_txs(len(fundings), cfg)}), "
            f"{xmr(sum(sum(f.amounts) for f in fundings.values()))} XMR on chain, confirmations "
            f"{min(confs)}..{max(confs)}" + (f"; everyone funded {seconds:.1f}s after the agent started"
                                            if seconds is not None else ""))


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
    p.set_defaults(miners=None, users=None)  # 2 and 8 unless --scenario names the agents
    p.add_argument("--scenario", metavar="FILE.yaml",
                   help="a Monerosim scenario (list or map form): its miners, wallet agents and distributor entry "
                        "on regtest, start and wait times not waited for")
    p.add_argument("--max-wallets", type=int, default=DEFAULT_MAX_WALLETS,
                   help=f"with --scenario: above this many wallets the wallet agents become subaddresses of a "
                        f"few shared wallets ({DEFAULT_MAX_WALLETS})")
    p.add_argument("--transactions", type=int, default=None,
                   help="default network: stop after this many recorded transactions (20; a batch counts once); "
                        "--scenario: payments to wait for after initial funding (2, or 1 when "
                        "transaction_frequency > 90 s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workdir (always kept on failure)")
    p.add_argument("--block-interval", type=float, default=3.0, help="seconds between mined blocks (3)")
    p.add_argument("--confirm-blocks", type=int, default=2, help="blocks mined after the agent stopped (2)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (600)")
    p.add_argument("--stall-timeout", type=float, default=120.0,
                   help="give up when no new record arrived for this many seconds (120)")
    p.add_argument("--seed", type=int, default=None,
                   help="SIMULATION_SEED for the agent (12345, or the scenario's general.simulation_seed)")
    p.add_argument("--attribute", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="override or add one agent attribute")
    p.add_argument("--python", default=sys.executable, help="interpreter for the agent (this one)")
    p.add_argument("--quiet", action="store_true", help="show status lines only, not every transition")
    return p


def goal_reached(plan: Plan, progress: Progress, records: Sequence[dict], eligible: Sequence[str]) -> bool:
    """Initial funding finished (when anyone is eligible), then the sends or payments the plan asks for."""
    if eligible and not progress.funding_finished:
        return False
    if plan.sends:
        return len({str(r.get("tx_hash")) for r in records}) >= plan.sends   # a batch is one send, many records
    return len({str(r.get("tx_hash")) for r in records if is_distribution(r)}) >= plan.payments


def run(args: argparse.Namespace, net: RegtestNetwork, plan: Plan) -> int:
    """Drive the agent on a started network; print progress and the summary, write summary.json;
    return the exit status (0 only when everything checked out)."""
    argv = agent_command(plan.agent_id, net.shared_dir, plan.attributes, python=args.python)
    env = agent_env(net.shared_dir, plan.seed)
    print("agent: SIMULATION_SEED=%d python3 %s" % (plan.seed, " ".join(argv[1:])), flush=True)
    agent = AgentProcess(argv, env, net.workdir / "agent.log", net.workdir)
    eligible = plan.eligible(net)
    progress = Progress()
    t0 = time.monotonic()
    stamp = lambda: f"[{time.monotonic() - t0:6.1f}s]"
    agent.start()
    died, reached = None, False
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
            if goal_reached(plan, progress, records, eligible):
                reached = True
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
    run_s = time.monotonic() - t0
    print(f"{stamp()} agent stopped (status {status}); mining {args.confirm_blocks} more blocks", flush=True)
    net.mine(args.confirm_blocks)
    records = read_records(net.shared_dir)
    net.refresh()
    recipients = [n.id for n in net.nodes.values() if n.role in ("miner", "user")]
    found, wallet_errors = incoming_by_recipient(net, recipients)
    txs, receipts = verify_records(net, records, (found, wallet_errors))
    cfg = plan.config
    problems = find_problems(records, txs, receipts, cfg.min_amount, cfg.max_amount, progress.sent_hashes)
    problems += unrecorded(records, found) + [f"{aid}: wallet: {err}" for aid, err in sorted(wallet_errors.items())]
    fundings = funding_checks(eligible, records, found)
    problems += [p for p in (f.problem(cfg) for f in fundings.values()) if p]
    confirmed = sum(1 for h, tx in txs.items() if tx.confirmed
                    and all(rc.ok for (rh, _), rc in receipts.items() if rh == h))
    payments = len({h for r in records if is_distribution(r) for h in [str(r.get("tx_hash"))]
                    if h in txs and txs[h].confirmed})
    started, complete = progress.times.get("agent_started"), progress.times.get("initial_funding_complete")
    funding_s = complete - started if started is not None and complete is not None and fundings else None
    print()
    print(summary(net, records, txs, receipts))
    print()
    print(funding_line(fundings, plan, records, funding_s))
    print(f"records {len(records)} in {len(txs)} txs ({payments} confirmed payments); txs confirmed and fully "
          f"received {confirmed}; fees {xmr(sum(t.fee for t in txs.values()))} XMR | log: sent "
          f"{progress.events['tx_sent']} recorded {progress.events['tx_recorded']} failed "
          f"{progress.events['tx_failed']}, {progress.transitions} transitions, {progress.other_lines} non-JSON "
          f"lines | agent status {status} | {run_s:.1f}s")
    for p in problems[:LISTED_PROBLEMS]:
        print("PROBLEM:", p)
    if len(problems) > LISTED_PROBLEMS:
        print(f"PROBLEM: ... and {len(problems) - LISTED_PROBLEMS} more (all in {SUMMARY_FILE})")
    why = []
    if died is not None or status != 0:
        why.append(f"the agent {'exited on its own' if died is not None else 'stopped'} with status "
                   f"{died if died is not None else status}")
    if not reached:
        why.append("it stopped before its job was done (initial funding, then "
                   + (f"{plan.sends} transactions)" if plan.sends else f"{plan.payments} payments)"))
    if plan.sends and confirmed < plan.sends:
        why.append(f"{confirmed} of {plan.sends} transactions confirmed and received")
    if not plan.sends and payments < plan.payments:
        why.append(f"{payments} of {plan.payments} payments confirmed")
    bad_funding = sum(1 for f in fundings.values() if f.problem(cfg))
    if bad_funding:
        why.append(f"{bad_funding} of {len(fundings)} eligible recipients not funded as configured")
    if problems:
        why.append(f"{len(problems)} problem(s) above")
    ok = not why
    done = ([f"{len(fundings)} of {len(fundings)} eligible recipients funded once as configured"] if fundings else [])
    done += [f"{payments} payment(s)"] if plan.payments else [f"{len(txs)} transactions"] if plan.sends else []
    verdict = ", ".join(done + [f"all {len(records)} records match the chain"]) if ok else "; ".join(why)
    document = summary_document(
        net=net, config=cfg, records=records, txs=txs, receipts=receipts, fundings=fundings, problems=problems,
        verdict=verdict, ok=ok, extra={
            "scenario": plan.scenario, "notes": plan.notes,
            "agent": {"id": plan.agent_id, "argv": argv[1:], "SIMULATION_SEED": plan.seed, "exit_status": status,
                      "exited_on_its_own": died is not None},
            "network": {"wallet_rpcs": len(net.wallet_nodes), "stand_ins": len(net.stand_ins),
                        "height": net.height()},
            "seconds": {"run": round(run_s, 3),
                        "fund_everyone": round(funding_s, 3) if funding_s is not None else None}})
    path = Path(net.workdir) / SUMMARY_FILE
    path.write_text(json.dumps(document, indent=2) + "\n")
    print("VERDICT:", ("ok" if ok else "FAILED") + f" ({verdict})", flush=True)
    return 0 if ok else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    raise_on_sigterm()
    try:
        plan = make_plan(args)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in plan.notes:
        print(note)
    workdir_given = args.workdir is not None
    if not workdir_given:
        args.workdir = tempfile.mkdtemp(prefix="fsm-sandbox-")
    status = 2
    try:
        net = build_network(args, plan)
        t0 = time.monotonic()
        print("starting the regtest network ...", flush=True)
        with net:
            print(describe(net))
            print(f"network up in {time.monotonic() - t0:.1f}s", flush=True)
            status = run(args, net, plan)
    except RegtestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 2
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; everything stopped", file=sys.stderr)
        status = 130
    finally:
        if not workdir_given and status == 0 and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
            print(f"workdir removed (--keep or --workdir DIR keeps agent.log, {SUMMARY_FILE} and shared/)")
        else:
            print(f"workdir kept: {args.workdir} (agent log: {Path(args.workdir) / 'agent.log'}, summary: "
                  f"{Path(args.workdir) / SUMMARY_FILE})")
    return status


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())

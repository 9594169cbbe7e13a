"""The agent, started as Monerosim starts it, against the real regtest network:
every record it writes must be a real, confirmed transaction that paid the
recorded amount to the recorded recipient."""

from __future__ import annotations

import json
import sys
import time

import pytest

from fsm_distributor.core.amounts import parse_xmr

from fsm_distributor.tools.onchain import find_problems, is_distribution, record_atomic, verify_records
from fsm_distributor.tools.sandbox import DEFAULT_ATTRIBUTES, AgentProcess, Progress, agent_command, agent_env, read_records

from .conftest import MINERS

pytestmark = pytest.mark.regtest

MIN_ATOMIC = parse_xmr(DEFAULT_ATTRIBUTES["min_transaction_amount"])
MAX_ATOMIC = parse_xmr(DEFAULT_ATTRIBUTES["max_transaction_amount"])


class AgentRun:
    """Records and log of one agent run, checked on chain after it stopped."""

    def __init__(self, network, workdir):
        self.network, self.workdir = network, workdir
        self.progress = Progress()
        self.records: list[dict] = []
        self.status = None
        self.exited_early = None

    def drive(self, want, fault=None, timeout=150.0, block_interval=2.0):
        """Run the agent until `want` new distribution records (and `fault(run)` returns True),
        mining meanwhile.  Initial-funding batches come on top."""
        shared = self.network.shared_dir
        before = len(read_records(shared))
        attributes = {**DEFAULT_ATTRIBUTES, "transaction_frequency": "0.3"}  # the sandbox's, a bit faster
        agent = AgentProcess(agent_command("distributor", shared, attributes, python=sys.executable),
                             agent_env(shared, 12345), self.workdir / "agent.log", self.workdir)
        agent.start()
        deadline, next_block = time.monotonic() + timeout, time.monotonic() + block_interval
        try:
            while True:
                while not agent.lines.empty():
                    self.progress.feed(agent.lines.get_nowait())
                if agent.poll() is not None:
                    self.exited_early = agent.poll()
                    break
                self.records = read_records(shared)[before:]
                done = fault(self) if fault else True
                if sum(map(is_distribution, self.records)) >= want and done:
                    break
                if time.monotonic() > deadline:
                    break
                if time.monotonic() >= next_block:
                    self.network.mine(1)
                    next_block = time.monotonic() + block_interval
                time.sleep(0.1)
        finally:
            self.status = agent.stop()
            while not agent.lines.empty():
                self.progress.feed(agent.lines.get_nowait())
        self.records = read_records(shared)[before:]
        self.network.mine(2)
        involved = {r[k] for r in self.records for k in ("sender_id", "recipient_id")} & set(self.network.nodes)
        self.network.refresh(sorted(involved))
        self.txs, self.receipts = verify_records(self.network, self.records)
        return self

    def log_tail(self, n=15):
        lines = (self.workdir / "agent.log").read_text(errors="replace").splitlines()
        return "\n".join(line[:300] for line in lines[-n:])


@pytest.fixture(scope="module")
def normal_run(fresh_outputs, tmp_path_factory):
    return AgentRun(fresh_outputs, tmp_path_factory.mktemp("agent")).drive(want=20)


def test_agent_keeps_running_and_exits_0_on_sigterm(normal_run):
    assert normal_run.exited_early is None, normal_run.log_tail()
    assert normal_run.status == 0, normal_run.log_tail()
    assert sum(map(is_distribution, normal_run.records)) >= 20, normal_run.log_tail()
    assert normal_run.progress.transitions > 0 and normal_run.progress.other_lines == 0


def test_every_record_is_a_confirmed_transaction_of_its_sender(normal_run):
    assert normal_run.txs
    for tx in normal_run.txs.values():
        assert tx.error == "" and tx.type == "out" and tx.confirmations >= 1, tx
        assert tx.sender_id in dict(MINERS)


def test_recipients_received_exactly_what_was_recorded(normal_run):
    assert normal_run.receipts
    per_recipient: dict[str, list[int]] = {}
    for rc in normal_run.receipts.values():
        assert rc.error == "" and rc.confirmations >= 1, rc
        got = per_recipient.setdefault(rc.recipient_id, [0, 0])
        got[0] += rc.recorded
        got[1] += rc.received
    for recipient, (recorded, received) in per_recipient.items():
        assert received == recorded, recipient


def test_records_respect_the_configuration(normal_run):
    registry = {a["id"]: a for a in
                json.loads((normal_run.network.shared_dir / "agent_registry.json").read_text())["agents"]}
    for rec in normal_run.records:
        assert rec["recipient_id"] != rec["sender_id"], rec
        assert registry[rec["recipient_id"]]["attributes"]["can_receive_distributions"] == "true"
        if is_distribution(rec):
            assert MIN_ATOMIC <= record_atomic(rec) <= MAX_ATOMIC, rec
        else:   # an initial-funding batch: whole outputs of md_output_amount
            assert record_atomic(rec) == rec["num_outputs"] * round(rec["amount_per_output"] * 10**12), rec
        assert isinstance(rec["fee"], int) and rec["fee"] > 0, rec
        assert rec["fee"] == normal_run.txs[rec["tx_hash"]].fee, rec
        assert abs(rec["amount"] * 10**12 - rec["amount_atomic"]) < 1, rec
    assert sum(map(is_distribution, normal_run.records)) > 0
    assert {r["sender_id"] for r in normal_run.records} == set(dict(MINERS))  # weighted, both used


def test_every_logged_send_was_recorded(normal_run):
    assert normal_run.progress.sent_hashes and normal_run.records
    problems = find_problems(normal_run.records, normal_run.txs, normal_run.receipts, MIN_ATOMIC, MAX_ATOMIC,
                             normal_run.progress.sent_hashes)
    assert problems == [], normal_run.log_tail()


def test_agent_survives_a_miner_wallet_restart(network, tmp_path):
    """miner001's wallet-rpc dies after 3 records and comes back 6 s later."""
    state = {}

    def fault(run):
        now = time.monotonic()
        if "stopped" not in state and len(run.records) >= 3:
            network.stop_wallet("miner001")
            state.update(stopped=now, mark=len(run.records))
        elif "stopped" in state and "restarted" not in state and now - state["stopped"] > 6:
            network.start_wallet("miner001")
            state.update(restarted=now, mark=len(run.records))
        return "restarted" in state and any(r["sender_id"] == "miner001" for r in run.records[state["mark"]:])

    run = AgentRun(network, tmp_path).drive(want=8, fault=fault, timeout=180)
    assert run.exited_early is None and run.status == 0, run.log_tail()
    assert "restarted" in state, run.log_tail()
    assert any(r["sender_id"] == "miner001" for r in run.records[state["mark"]:]), run.log_tail()
    assert find_problems(run.records, run.txs, run.receipts, MIN_ATOMIC, MAX_ATOMIC,
                         run.progress.sent_hashes) == [], run.log_tail()

"""A 2-of-3 multisig treasury on real wallets (issue 13): made, funded by the miner, paying, exactly once.

A network of its own (the session network's registry is shared by the other modules, whose agents
would pay the signers, whose wallet-rpcs serve the treasury): one miner, five recipients and three
dedicated signer agents, each a wallet-rpc.  The agent makes the treasury from the signers' wallets,
funds it from the miner as an ordinary batch, and pays single payments from it.  Then it is
SIGKILLed between signing a spend and submitting it, and restarted: the spend is on chain once.
Last, scheduled payments (issue 12) come from it too, one of them time-locked on chain.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter

import pytest

from fsm_distributor.adapters.journal import parse_lines
from fsm_distributor.cli import CRASH_ENV
from fsm_distributor.core import multisig
from fsm_distributor.core.amounts import parse_xmr
from fsm_distributor.tools.onchain import incoming_by_recipient
from fsm_distributor.tools.regtest import RegtestNetwork
from fsm_distributor.tools.sandbox import read_records

from .agent import Agent
from .conftest import binaries_missing

pytestmark = pytest.mark.regtest

AGENT = "treasurer"
SIGNERS = ("signer1", "signer2", "signer3")
RECIPIENTS = tuple(f"user{i:03d}" for i in range(1, 6))
TREASURY = multisig.treasury_id(AGENT)
ATTRIBUTES = {
    "multisig_mode": "payments", "multisig_signers": ",".join(SIGNERS), "multisig_threshold": "2",
    "multisig_funding_amount": "24", "multisig_funding_outputs": "8", "multisig_refill_below": "2",
    "initial_funding": "false", "transaction_frequency": "0.5", "recipient_selection": "round_robin",
    "min_transaction_amount": "0.1", "max_transaction_amount": "0.9", "transaction_priority": "1",
    "balance_check_interval": "1", "verification_interval": "1", "max_retries": "3",
}


class Miner:
    """A block every `interval` seconds while the agent runs (spends wait for their block)."""

    def __init__(self, net: RegtestNetwork, interval: float = 1.0):
        self.net, self.interval = net, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.net.mine(1)
            except Exception:  # the daemon is being stopped: the test is over
                return

    def __enter__(self) -> "Miner":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    if binaries_missing():
        pytest.fail("needs monerod and monero-wallet-rpc: apt-get update && apt-get install -y monero")
    users = [(s, {"is_miner": "false", "can_receive_distributions": "false"}) for s in SIGNERS] + list(RECIPIENTS)
    network = RegtestNetwork(tmp_path_factory.mktemp("multisig"), miners=[("miner001", 100)], users=users,
                             coinbase_blocks=30, miners_receive=False, distributor_id=AGENT,
                             distributor_attributes=ATTRIBUTES)
    network.start()
    yield network
    network.stop()
    assert network.pids and not network.alive_pids(), f"left running after teardown: {network.alive_pids()}"


def records(net) -> list[dict]:
    return [r for r in read_records(net.shared_dir) if r.get("distributor_id") == AGENT]


def journal(net):
    return parse_lines((net.shared_dir / f"{AGENT}_distributor_journal.jsonl").read_bytes())


def spends(net) -> list[dict]:
    return [r for r in records(net) if r.get("sender_id") == TREASURY]


def treasury_outgoing(net) -> set[str]:
    """Every transaction the treasury sent, as its signers' wallets know them (pool included)."""
    sent: set[str] = set()
    for signer in SIGNERS:
        wallet = net.wallet(signer)
        wallet.refresh()
        answer = wallet.call("get_transfers", {"out": True, "pending": True, "failed": True, "pool": True})
        sent |= {t["txid"] for kind in ("out", "pending", "failed") for t in answer.get(kind, [])}
    return sent


def paid_recipients(net) -> set[str]:
    return {r["recipient_id"] for r in spends(net)}


def test_a_2_of_3_treasury_is_made_funded_by_the_miner_and_pays_five_recipients(net, tmp_path):
    agent = Agent(net, tmp_path, AGENT, ATTRIBUTES, seed=1313)
    try:
        with Miner(net):
            assert agent.until(lambda: agent.events("treasury_ready"), 240), f"no treasury: {agent.tail(12)}"
            ready = agent.events("treasury_ready")[0]
            assert agent.until(lambda: len(paid_recipients(net) & set(RECIPIENTS)) >= 5
                               and all(r.get("status") == "confirmed" for r in spends(net)), 240), \
                f"paid {sorted(paid_recipients(net))}: {agent.tail(12)}"
    finally:
        assert agent.stop() == 0
    address = ready["address"]
    # made once, from the three dedicated wallets: each is a ready 2-of-3 at the one address
    assert len(agent.events("treasury_setup_started")) == 1 and not agent.events("treasury_setup_discarded")
    for signer in SIGNERS:
        state = net.wallet(signer).call("is_multisig", {})
        assert (state["multisig"], state["ready"], state["threshold"], state["total"]) == (True, True, 2, 3)
        assert net.wallet(signer).get_address() == address
    info = json.loads((net.shared_dir / multisig.info_file(AGENT)).read_text())
    assert (info["wallet_address"], info["multisig"], info["signers"]) == (address, "2-of-3", list(SIGNERS))
    # funded by the miner, as a batch of several outputs to the treasury's address
    funding = [r for r in records(net) if r.get("purpose") == "treasury_funding"]
    assert funding and {r["sender_id"] for r in funding} == {"miner001"}
    assert {(r["recipient_id"], r["recipient_address"], r["num_outputs"]) for r in funding} == {(TREASURY, address, 8)}
    assert_paid_exactly_once(net)


def test_sigkill_between_signing_and_submitting_then_restart_pays_once(net, tmp_path):
    before = {r["tx_hash"] for r in spends(net)}
    with Miner(net):
        crashing = Agent(net, tmp_path, AGENT, ATTRIBUTES, seed=1314, env={CRASH_ENV: "after_signed_journal"})
        assert crashing.exit_status(240) == -signal.SIGKILL, crashing.tail(12)
    signed = [i for i in journal(net).intents.values() if i.multisig and i.status == "built"]
    assert len(signed) == 1, [(i.tx_hash, i.status) for i in journal(net).intents.values() if i.multisig]
    tx_hash = signed[0].tx_hash
    assert signed[0].signers and len(signed[0].signers) == 2 and signed[0].tx_metadata
    assert net.tx_heights([tx_hash])[tx_hash] is None, "killed before submitting: the daemon must not have it"
    assert tx_hash not in treasury_outgoing(net)
    agent = Agent(net, tmp_path, AGENT, ATTRIBUTES, seed=1315)
    try:
        with Miner(net):
            assert agent.until(lambda: any(r["tx_hash"] == tx_hash and r.get("status") == "confirmed"
                                           for r in spends(net)), 180), agent.tail(12)
    finally:
        assert agent.stop() == 0
    resumed = [e for e in agent.events("recovering_intent") if e.get("tx_hash") == tx_hash]
    assert resumed and "treasury spend" in resumed[0]["message"]
    assert not agent.events("treasury_setup_started"), "a ready treasury is reopened, never made again"
    assert tx_hash not in before
    assert_paid_exactly_once(net)


SCHEDULE = [{"id": "locked", "at": "0s", "to": "user004", "amount": "0.35", "unlock_after_blocks": 8},
            {"id": "tick", "every": "2s", "count": 2, "to": "user002", "amount": "0.2"}]


def test_scheduled_payments_come_from_the_treasury_once_each_one_time_locked_on_chain(net, tmp_path):
    attributes = {**ATTRIBUTES, "transaction_frequency": "off", "schedule": json.dumps(SCHEDULE)}
    agent = Agent(net, tmp_path, AGENT, attributes, seed=1316)
    try:
        with Miner(net):
            assert agent.until(lambda: len([r for r in spends(net) if r.get("schedule_id")]) == 3
                               and all(r.get("status") == "confirmed" for r in spends(net)), 240), agent.tail(12)
    finally:
        assert agent.stop() == 0
    done = {(r["schedule_id"], r["occurrence"]): r for r in spends(net) if r.get("schedule_id")}
    assert sorted(done) == [("locked", 1), ("tick", 1), ("tick", 2)]
    assert {r["recipient_id"] for k, r in done.items() if k[0] == "tick"} == {"user002"}
    assert all(r["purpose"] == "scheduled" and r["multisig"] == "2-of-3" for r in done.values())
    assert not [r for r in records(net) if r.get("schedule_id") and r["sender_id"] != TREASURY]
    # the time lock is on chain: the recipient's wallet sees the lock its intent was built with
    locked = done[("locked", 1)]
    intent = journal(net).intents[locked["tx_hash"]]
    [told] = [e for e in agent.events("unlock_time")]
    assert intent.unlock_time == told["unlock_time"] == told["height"] + 8
    net.refresh(["user004"])
    seen = net.wallet("user004").call("get_transfer_by_txid", {"txid": locked["tx_hash"]})["transfer"]
    assert (seen["unlock_time"], seen["amount"]) == (intent.unlock_time, parse_xmr("0.35"))
    assert_paid_exactly_once(net)


def assert_paid_exactly_once(net) -> None:
    """Every treasury spend is recorded once, on chain once, and its recipient's wallet got the amount."""
    net.mine(1)
    out = spends(net)
    keys = [(r["tx_hash"], r["recipient_id"]) for r in out]
    assert len(keys) == len(set(keys)), "a spend was recorded twice"
    assert all(r["multisig"] == "2-of-3" and len(r["signers"]) == 2 and set(r["signers"]) <= set(SIGNERS)
               for r in out)
    assert treasury_outgoing(net) == {r["tx_hash"] for r in out}, "paid but not recorded, or recorded, not paid"
    heights = net.tx_heights([r["tx_hash"] for r in out])
    assert all(h for h in heights.values()), f"not in a block: {heights}"
    net.refresh(sorted({r["recipient_id"] for r in out}))
    found, errors = incoming_by_recipient(net, sorted({r["recipient_id"] for r in out}))
    assert not errors
    for r in out:
        incoming = found[r["recipient_id"]].get(r["tx_hash"])
        assert incoming is not None, f"{r['recipient_id']} never received {r['tx_hash']}"
        assert sum(incoming.amounts) == r["amount_atomic"]
        assert parse_xmr("0.1") <= r["amount_atomic"] <= parse_xmr("0.9")
    assert not [i for i in journal(net).intents.values() if i.status in ("built", "relayed")], "an intent is open"
    assert Counter(r["tx_hash"] for r in out) == Counter({h: 1 for h in heights})

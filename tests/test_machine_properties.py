"""Hypothesis stateful test: random wallet answers, faults and clock jumps between steps.

After every step: never a send to the selected miner or to the agent itself,
never more than max_retries attempts per send, amounts always in range,
every recorded transaction really sent, and nothing sent ever lost.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fakes import XMR, make_address, make_world, rpc_error
from fsm_distributor.core.errors import BadAnswer, WalletUnavailable
from fsm_distributor.core.cycle import Payment
from fsm_distributor.states import State

ERRORS = st.sampled_from([
    WalletUnavailable("transfer", "timed out"),
    BadAnswer("transfer", "answer is not JSON"),
    rpc_error(-38, "no connection to daemon"),
    rpc_error(0, ""),
    rpc_error(-37, "not enough unlocked money"),
    rpc_error(-19, "not enough outputs to mix"),
    rpc_error(-17, "not enough money"),
    rpc_error(-2, "wrong address"),
    rpc_error(-18, "tx too large"),
    rpc_error(-4, "transaction was rejected by daemon"),
    rpc_error(-13, "No wallet file"),
])


class DistributorMachine(RuleBasedStateMachine):
    @initialize(max_retries=st.integers(1, 4), strategy=st.sampled_from(["weighted", "balance", "random"]),
                recipients=st.sampled_from(["random", "round_robin"]), seed=st.integers(0, 2**32))
    def build(self, max_retries, strategy, recipients, seed):
        self.world = make_world({"max_retries": str(max_retries), "miner_selection_strategy": strategy,
                                 "recipient_selection": recipients, "transaction_frequency": "5",
                                 "min_transaction_amount": "0.5", "max_transaction_amount": "2"},
                                users=3, seed=seed, unlocked=20 * XMR)
        self.attempts: Counter = Counter()

    def _wallet(self, index: int):
        wallets = list(self.world.miners.values()) + list(self.world.users.values())
        return wallets[index % len(wallets)]

    @rule(n=st.integers(1, 12))
    def steps(self, n):
        world = self.world
        for _ in range(n):
            if world.distributor.current is State.BUILDING:
                payment = world.data
                self.attempts[(payment.cycle.number, payment.miner.agent_id, payment.destinations[0].recipient)] += 1
            result = world.step()
            world.clock.sleep(result.delay)

    @rule(index=st.integers(0, 1), error=ERRORS, times=st.integers(1, 3))
    def fail_transfers(self, index, error, times):
        list(self.world.miners.values())[index].fail_next("transfer", *([error] * times))

    @rule(index=st.integers(0, 4), method=st.sampled_from(["get_balance", "get_address", "refresh"]))
    def fail_call(self, index, method):
        self._wallet(index).fail_next(method, WalletUnavailable(method, "HTTP 500"))

    @rule(index=st.integers(0, 4))
    def toggle_down(self, index):
        wallet = self._wallet(index)
        wallet.down = not wallet.down

    @rule(index=st.integers(0, 1), unlocked=st.integers(0, 30 * XMR), extra=st.integers(0, 30 * XMR))
    def set_balance(self, index, unlocked, extra):
        wallet = list(self.world.miners.values())[index]
        wallet.unlocked, wallet.total = unlocked, unlocked + extra

    @rule(seconds=st.floats(0, 600))
    def advance_clock(self, seconds):
        self.world.clock.sleep(seconds)

    @rule()
    def ledger_fails_once(self):
        self.world.ledger.fail += 1

    @rule()
    def journal_fails_once(self):
        self.world.journal.fail += 1

    @rule(index=st.integers(0, 1))
    def mine_a_block(self, index):
        list(self.world.miners.values())[index].confirm_all()

    @invariant()
    def never_to_self_or_selected_miner(self):
        own = make_address("distributor")
        for sender, tx in self.world.wallets.all_sent():
            for address, _ in tx.destinations:
                assert address not in (own, sender.address)
        for record in self.world.ledger.records:
            assert record["recipient_id"] not in ("distributor", record["sender_id"])
        for intent in self.world.mem.intents.values():
            assert all(r not in ("distributor", intent.miner) for r, _, _ in intent.destinations)

    @invariant()
    def attempts_bounded(self):
        limit = self.world.config.max_retries
        assert all(n <= limit for n in self.attempts.values()), self.attempts
        data = self.world.data
        payment = data if isinstance(data, Payment) else getattr(data, "payment", None)
        assert payment is None or payment.attempt <= limit

    @invariant()
    def amounts_in_range(self):
        cfg = self.world.config
        for _, tx in self.world.wallets.all_sent():
            for _, amount in tx.destinations:
                assert type(amount) is int and cfg.min_amount <= amount <= cfg.max_amount

    @invariant()
    def recorded_means_sent_and_sent_means_kept(self):
        sent = {tx.tx_hash: (where, tx) for where, tx in self.world.wallets.all_sent()}
        recorded = [r["tx_hash"] for r in self.world.ledger.records]
        pending = [i.tx_hash for i in self.world.mem.open_intents() if i.status == "relayed"]
        assert len(set(recorded)) == len(recorded), "a transaction was recorded twice"
        assert set(recorded) <= set(sent), "recorded a transaction that was never sent"
        assert set(recorded) | set(pending) == set(sent), "a sent transaction was lost"
        journaled = {tx for tx, status in self.world.journal.writes if status == "built"}
        assert set(sent) <= journaled, "a transaction was relayed before its intent was journaled"
        for record in self.world.ledger.records:
            _, tx = sent[record["tx_hash"]]
            assert tx.destinations == [(record["recipient_address"], record["amount_atomic"])]

    @invariant()
    def intent_indexes_match_a_full_scan(self):
        ctx = self.world.mem
        assert ctx.open_intents() == [i for i in ctx.intents.values() if i.status in ("built", "relayed")]
        assert ctx.busy_miners() == {i.miner for i in ctx.intents.values() if i.status == "built"}

    @invariant()
    def never_stopped_on_its_own(self):
        assert not self.world.distributor.stopped


DistributorMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_distributor_machine = DistributorMachine.TestCase

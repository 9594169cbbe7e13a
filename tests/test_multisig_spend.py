"""Paying from the treasury over fakes (issue 13): each signing step, a crash after each journal write,
signers down, inputs spent meanwhile.  Whatever happens, nothing leaves the treasury twice.

The fake signers answer as wallet-rpc 0.18.0.0 did: one spend per export/import round (-35 stale
data after a signer built or signed), -35 for a second signature by the same key, -33 for a
half-signed submit, -36 when the inputs are gone, and the same hash for a resubmitted set.
"""

from __future__ import annotations

from collections import Counter

import pytest
from structlog.testing import capture_logs

from fakes import (XMR, Crash, crash_at, restart_after_crash, run_treasury, treasury_paid, treasury_world)
from fsm_distributor.core import multisig
from fsm_distributor.core.multisig import Txset, TxsetStatus
from fsm_distributor.core.names import Purpose, Status, Verdict
from fsm_distributor.core.ports import KeyImage

TREASURY = "distributor-multisig"

SPEND_PATH = [
    ("Idle", "wake", "Discovering"),
    ("Discovering", "discovered", "CheckingTreasuryBalance"),
    ("CheckingTreasuryBalance", "balance_ok", "SelectingRecipient"),
    ("SelectingRecipient", "recipient_selected", "SyncingMultisig"),
    ("SyncingMultisig", "multisig_synced", "BuildingTxset"),
    ("BuildingTxset", "txset_built", "JournalingTxset"),
    ("JournalingTxset", "txset_journaled", "SigningTxset"),
    ("SigningTxset", "txset_signed", "JournalingTxset"),
    ("JournalingTxset", "txset_complete", "Submitting"),
    ("Submitting", "submitted", "Recording"),
    ("Recording", "recorded", "Idle"),
]


def path(results):
    return [(r.source.value, r.trigger.value, r.dest.value) for r in results]


def funded(attributes=None, **kwargs):
    """A ready treasury holding five unlocked outputs of 6 XMR, Idle, its first payment due."""
    world = treasury_world(attributes, **kwargs)
    run_treasury(world, 60, until=lambda w: any(r["purpose"] == "treasury_funding" for r in w.ledger.records))
    assert world.mem.treasury.ready() is not None
    # the funding batch's own verification and the next balance look are not what these tests are about
    world.mem.verify_due_at.clear()
    world.mem.treasury.tend_due_at = world.clock.now + 10**6
    world.clock.sleep(60)
    return world


def signed_not_submitted(world):
    """The agent killed between signing a spend and submitting it; the spend's intent (built)."""
    crash_at(world, "after_signed_journal")
    with pytest.raises(Crash):
        run_treasury(world, 30)
    [intent] = [i for i in world.journal.intents.values() if i.multisig and i.status is Status.BUILT]
    return intent


def txsets(world) -> list[Txset]:
    return [Txset.from_json(b) for b in world.journal.multisig.values() if b["kind"] == "txset"]


def spends(world) -> list[dict]:
    return [r for r in world.ledger.records if r["sender_id"] == TREASURY]


def assert_exactly_once(world) -> None:
    """Every set that left the treasury is recorded once, with its amounts; no record without a set."""
    paid = dict(treasury_paid(world))
    recorded = Counter((r["tx_hash"], r["recipient_id"]) for r in spends(world))
    assert set(paid) == {h for h, _ in recorded}, (set(paid), set(recorded))
    assert all(n == 1 for n in recorded.values()), recorded
    for record in spends(world):
        outputs = [a for address, a in paid[record["tx_hash"]] if address == record["recipient_address"]]
        assert sum(outputs) == record["amount_atomic"] and len(outputs) == record["num_outputs"]
        assert record["multisig"] == "2-of-3" and len(record["signers"]) == 2
    open_intents = [i for i in world.journal.intents.values() if i.status in (Status.BUILT, Status.RELAYED)]
    assert not open_intents and not world.mem.treasury.open_txsets()


def test_one_payment_step_by_step_journals_before_every_call_that_follows():
    world = funded()
    writes_before = len(world.journal.writes)
    results = [world.step() for _ in SPEND_PATH]
    assert path(results) == SPEND_PATH
    written = world.journal.writes[writes_before:]
    kinds = [w[1] for w in written]
    # partial set (builder's signature), then the signed set, then its intent; relayed; recorded
    assert kinds == ["partial", "signed", "built", "relayed", "recorded"], written
    [record] = spends(world)
    [tx] = txsets(world)
    assert tx.status is TxsetStatus.SIGNED and tx.signed_by == ("s1", "s2") and tx.tx_hash == record["tx_hash"]
    intent = world.journal.intents[record["tx_hash"]]
    assert (intent.miner, intent.multisig, intent.signers, intent.status) == (TREASURY, "2-of-3", ("s1", "s2"),
                                                                              Status.RECORDED)
    assert intent.sender_address == world.mem.treasury.ready().address and intent.key_images
    assert (record["sender_id"], record["multisig"], record["signers"]) == (TREASURY, "2-of-3", ["s1", "s2"])
    assert record["amount_atomic"] == intent.amount and record["purpose"] == Purpose.DISTRIBUTION
    assert_exactly_once(world)
    # every signer exported and imported once for this spend; s1 built, s2 signed, s2 submitted
    s1, s2, s3 = (world.signers[s] for s in ("s1", "s2", "s3"))
    assert s1.calls.count("transfer") == 1 and s2.calls.count("sign_multisig") == 1
    assert s2.calls.count("submit_multisig") == 1 and not s3.calls.count("sign_multisig")
    assert all(s.calls.count("import_multisig_info") >= 1 for s in (s1, s2, s3))


def test_a_3_of_4_spend_takes_two_co_signatures_each_journaled():
    world = funded({"multisig_signers": "s1,s2,s3,s4", "multisig_threshold": "3"})
    writes_before = len(world.journal.writes)
    results = run_treasury(world, 30, until=lambda w: len(spends(w)) == 1)
    signing = [r for r in results if r.source.value == "SigningTxset"]
    assert len(signing) == 2
    kinds = [w[1] for w in world.journal.writes[writes_before:]]
    assert kinds[:4] == ["partial", "partial", "signed", "built"], kinds
    [record] = spends(world)
    assert record["multisig"] == "3-of-4" and record["signers"] == ["s1", "s2", "s3"]


@pytest.mark.parametrize("phase", ["after_txset_build", "after_txset_journal", "after_txset_sign",
                                   "after_signed_journal", "after_submit", "after_record"])
def test_a_crash_after_each_step_then_restart_pays_once(phase):
    world = funded()
    crash_at(world, phase)
    with pytest.raises(Crash):
        run_treasury(world, 30)
    before = dict(treasury_paid(world))
    restart_after_crash(world)
    with capture_logs() as logs:
        run_treasury(world, 80, until=lambda w: len(spends(w)) >= 3)
    assert_exactly_once(world)
    assert len(spends(world)) >= 3
    if phase in ("after_txset_journal", "after_txset_sign"):
        # the half-signed set was finished, not dropped: its builder's signature is in the first spend
        assert [e for e in logs if e["event"] == "recovering_txset"]
        first = txsets(world)[0]
        assert first.status is TxsetStatus.SIGNED
        if phase == "after_txset_sign":  # s2's signature was lost with the process: s2 refuses, s3 signs
            assert first.signed_by == ("s1", "s3")
            assert [e for e in logs if e["event"] == "txset_sign_refused" and e["signer"] == "s2"]
    if phase == "after_signed_journal":
        assert not before, "killed between signing and submitting: nothing had left the treasury"
        assert [e for e in logs if e["event"] == "recovering_intent" and "treasury spend" in e["message"]]
    if phase == "after_submit":  # submitted again after the restart: the same hash, one transaction
        assert len(before) == 1 and list(before)[0] in {r["tx_hash"] for r in spends(world)}


def test_a_resubmitted_signed_set_answers_the_same_hash_even_once_mined():
    world = funded()
    crash_at(world, "after_submit")
    with pytest.raises(Crash):
        run_treasury(world, 30, mine=False)
    [(tx_hash, _)] = treasury_paid(world)
    world.treasury.daemon.mine(1)  # mined before the agent comes back
    restart_after_crash(world)
    results = run_treasury(world, 30, until=lambda w: len(spends(w)) >= 1)
    assert ("Recovering", "resume_submit", "Submitting") in path(results)
    assert [r["tx_hash"] for r in spends(world)] == [tx_hash]
    assert len(world.treasury.daemon.blocks) == 1


def test_a_lost_signature_in_a_2_of_2_abandons_the_set_and_pays_nothing_for_it():
    world = funded({"multisig_signers": "s1,s2", "multisig_threshold": "2"})
    crash_at(world, "after_txset_sign")
    with pytest.raises(Crash):
        run_treasury(world, 30)
    restart_after_crash(world)
    with capture_logs() as logs:
        results = run_treasury(world, 60, until=lambda w: len(spends(w)) >= 1)
    assert ("SigningTxset", "txset_abandoned", "Idle") in path(results)
    [abandoned] = [e for e in logs if e["event"] == "txset_abandoned"]
    assert "nothing was paid" in abandoned["message"]
    assert txsets(world)[0].status is TxsetStatus.ABANDONED
    paid = treasury_paid(world)
    assert len(paid) == 1 and paid[0][0] == spends(world)[0]["tx_hash"], "the next payment went out, once"
    assert spends(world)[0]["multisig"] == "2-of-2"


def test_one_signer_down_the_other_two_pay():
    world = funded()
    world.signers["s2"].down = True
    with capture_logs() as logs:
        run_treasury(world, 30, until=lambda w: len(spends(w)) >= 1)
    [record] = spends(world)
    assert record["signers"] == ["s1", "s3"]
    [synced] = [e for e in logs if e["event"] == "multisig_synced"]
    assert synced["down"] == ["s2"] and synced["signers"] == ["s1", "s3"]


def test_two_signers_down_nothing_is_built_until_one_comes_back():
    world = funded()
    world.signers["s2"].down = world.signers["s3"].down = True
    results = run_treasury(world, 8)
    assert ("SyncingMultisig", "signer_down", "Idle") in path(results)
    assert "transfer" not in world.signers["s1"].calls and not world.journal.multisig.keys() - {
        k for k in world.journal.multisig if k.startswith("setup:")}
    world.signers["s3"].down = False
    run_treasury(world, 40, until=lambda w: len(spends(w)) >= 1)
    assert spends(world)[0]["signers"] == ["s1", "s3"]
    assert_exactly_once(world)


def test_co_signers_down_after_the_build_leave_the_set_open_and_recovery_finishes_it():
    world = funded()
    results = []
    for _ in range(7):  # up to SigningTxset
        results.append(world.step())
    assert results[-1].dest.value == "SigningTxset"
    world.signers["s2"].down = world.signers["s3"].down = True
    result = world.step()
    assert (result.trigger.value, result.dest.value) == ("signer_down", "Idle")
    assert [t.status for t in txsets(world)] == [TxsetStatus.PARTIAL]
    waiting = run_treasury(world, 12)  # the set stays open: no other spend starts meanwhile
    assert "wake" not in [r.trigger.value for r in waiting]
    assert world.signers["s1"].calls.count("transfer") == 1
    world.signers["s2"].down = world.signers["s3"].down = False
    world.clock.sleep(result.delay)
    more = waiting + run_treasury(world, 30, until=lambda w: len(spends(w)) >= 1)
    assert ("Idle", "recover", "Recovering") in path(more)
    assert ("Recovering", "resume_signing", "SigningTxset") in path(more)
    assert path(more)[-4] == ("SigningTxset", "txset_signed", "JournalingTxset")
    assert_exactly_once(world)


def test_a_signed_set_whose_inputs_were_spent_meanwhile_is_failed_and_nothing_is_paid_twice():
    world = funded()
    intent = signed_not_submitted(world)
    # meanwhile another set spent the same inputs and was mined (another process of the signers)
    book = next(iter(world.treasury.books.values()))
    fake = world.treasury.sets[intent.tx_metadata]
    for index in fake.inputs:
        book.outputs[index].spent_by = "f" * 64
    world.treasury.daemon.spent.update({k: KeyImage.SPENT_IN_CHAIN for k in intent.key_images})
    restart_after_crash(world)
    with capture_logs() as logs:
        results = run_treasury(world, 60, until=lambda w: len(spends(w)) >= 1)
    assert ("Submitting", "submit_rejected", "Idle") in path(results)
    failed = world.journal.intents[intent.tx_hash]
    assert (failed.status, failed.verdict) == (Status.FAILED, Verdict.INPUTS_SPENT)
    assert [e for e in logs if e["event"] == "tx_failed" and "inputs" in e["message"]]
    assert intent.tx_hash not in dict(treasury_paid(world))
    assert intent.tx_hash not in {r["tx_hash"] for r in world.ledger.records}
    assert_exactly_once(world)


def test_a_half_signed_set_is_never_sent_submit_refuses_it():
    world = funded()
    intent = signed_not_submitted(world)
    partial = next(t for t, fake in world.treasury.sets.items() if len(fake.signed_by) == 1)  # the builder's
    from dataclasses import replace
    world.journal.intents[intent.tx_hash] = replace(intent, tx_metadata=partial)
    restart_after_crash(world)
    results = run_treasury(world, 10)
    assert ("Submitting", "submit_rejected", "Idle") in path(results)
    assert world.journal.intents[intent.tx_hash].status is Status.FAILED
    assert not treasury_paid(world) or intent.tx_hash not in dict(treasury_paid(world))


def test_the_treasury_is_busy_until_its_last_spend_is_in_a_block():
    world = funded()
    run_treasury(world, 30, until=lambda w: len(spends(w)) >= 1, mine=False)
    with capture_logs() as logs:
        results = run_treasury(world, 30, mine=False)
    assert "wake" not in [r.trigger.value for r in results], "no second spend before the first is mined"
    assert [e for e in logs if e["event"] == "payment_waits_for_treasury" and e["reason"] == "busy"]
    world.treasury.daemon.mine(1)
    world.treasury.unlock()
    run_treasury(world, 40, until=lambda w: len(spends(w)) >= 2)
    assert len(spends(world)) == 2
    assert_exactly_once(world)


def test_payments_wait_for_the_treasury_and_never_come_from_a_miner():
    world = treasury_world()
    for signer in world.signers.values():
        signer.down = True
    with capture_logs() as logs:
        run_treasury(world, 40)
    assert not world.ledger.records and not world.wallets.all_sent()
    assert [e for e in logs if e["event"] == "payment_waits_for_treasury" and e["reason"] == "not_ready"]


def test_a_funding_batch_refills_the_treasury_only_when_low_and_not_twice():
    world = treasury_world({"multisig_refill_below": "6", "min_transaction_amount": "4",
                            "max_transaction_amount": "5"})
    run_treasury(world, 300)
    fundings = [r for r in world.ledger.records if r["purpose"] == "treasury_funding"]
    # 30 XMR in 5 outputs; refilled once the spends brought it below 5 XMR, never while one was pending
    assert len({r["tx_hash"] for r in fundings}) >= 2
    assert all(r["num_outputs"] == 5 and r["amount_atomic"] == 30 * XMR for r in fundings)
    intents = sorted((i for i in world.journal.intents.values() if i.purpose is Purpose.TREASURY_FUNDING),
                     key=lambda i: i.created_at)
    for earlier, later in zip(intents, intents[1:]):
        spent_between = [r for r in spends(world) if earlier.created_at <= r["timestamp"] <= later.created_at]
        assert spent_between, "a refill only after spends brought the treasury low again"


def test_in_mode_all_funding_batches_come_from_the_treasury_once_it_can_pay_them():
    world = treasury_world({"multisig_mode": "all", "initial_funding": "true", "md_n_recipients": "3",
                            "md_out_per_tx": "1", "md_output_amount": "1", "multisig_refill_below": "2",
                            "distribution_mode": "funding_cycle", "md_funding_cycle_interval": "50"}, users=3)
    run_treasury(world, 300)
    batches = [r for r in world.ledger.records if r["purpose"] in ("initial_funding", "funding_cycle")]
    senders = [r["sender_id"] for r in batches]
    assert "distributor-multisig" in senders, senders
    first_from_treasury = senders.index("distributor-multisig")
    # before the treasury was funded the miners paid; afterwards the treasury did
    treasury_funded_at = min(r["timestamp"] for r in world.ledger.records if r["purpose"] == "treasury_funding")
    assert all(r["timestamp"] >= treasury_funded_at for r in batches[first_from_treasury:])
    assert all(r.get("multisig") == "2-of-3" for r in batches if r["sender_id"] == TREASURY)
    assert_exactly_once(world)


def test_txset_lifecycle_refuses_moves_it_does_not_allow():
    tx = Txset("x", "w", 2, 3, ("s1", "s2"), ("s1",), "set", (), 0, Purpose.DISTRIBUTION, 1)
    done = tx.moved(TxsetStatus.SIGNED, 1.0)
    with pytest.raises(ValueError, match="signed -> abandoned is not a legal move"):
        done.moved(TxsetStatus.ABANDONED, 2.0)
    assert Txset.from_json(done.to_json()) == done
    assert multisig.kept_when_compacted(done.to_json(), {}) and not multisig.kept_when_compacted(
        done.to_json(), {"": None})

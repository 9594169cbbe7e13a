"""The treasury's set-up over fakes (issue 13): each round, a signer down, a restart, a lost answer.

The fake signers behave as wallet-rpc 0.18.0.0 did (tests/fakes.py, docs/wallet-facts.md): one
round cannot be asked twice, make_multisig saves the enable flag only if prepare_multisig set it in
the same session, a ready wallet refuses more rounds.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from fakes import (Crash, crash_at, make_address, restart_after_crash, run_treasury, treasury_world)
from fsm_distributor.core import multisig
from fsm_distributor.core.errors import SignerLost
from fsm_distributor.core.multisig import Setup, Step
from fsm_distributor.states import State

SETUP_PATH = [
    ("Idle", "set_up_treasury", "OpeningSigners"),
    ("OpeningSigners", "signers_open", "PreparingMultisig"),
    ("PreparingMultisig", "multisig_prepared", "MakingMultisig"),
    ("MakingMultisig", "multisig_made", "ExchangingMultisigKeys"),
    ("ExchangingMultisigKeys", "keys_exchanged", "ExchangingMultisigKeys"),
    ("ExchangingMultisigKeys", "keys_exchanged", "CheckingTreasury"),
    ("CheckingTreasury", "treasury_ready", "Idle"),
]


def path(results):
    return [(r.source.value, r.trigger.value, r.dest.value) for r in results]


def setups(world) -> list[Setup]:
    """The set-up lines of the journal, parsed (what a restart finds)."""
    return [Setup.from_json(b) for b in world.journal.multisig.values() if b["kind"] == "setup"]


def until_idle(world, limit=40):
    return world.steps_until("Idle", limit)


def die_writing(world, lost, why: str) -> None:
    """The next step dies in the journal write `lost(body)` picks (its call done, its answer not kept);
    then a new process recovers from the journal."""
    original = world.journal.put_multisig

    def write(key, body):
        if lost(body):
            raise Crash(why)
        original(key, body)
    world.journal.put_multisig = write
    with pytest.raises(Crash):
        for _ in range(5):
            world.step()
    world.journal.put_multisig = original
    restart_after_crash(world)
    assert world.step().trigger.value == "recovered"


def test_each_round_is_a_state_and_each_answer_is_journaled_before_the_next_call():
    world = treasury_world()
    seen = []
    rounds_after = [None, 0, 1, 2, 3, 4, 4]  # rounds journaled after each step (None: no line yet)
    with capture_logs() as logs:
        for expected in rounds_after:
            seen.append(world.step())
            lines = setups(world)
            if expected is None:
                assert not lines, "Idle hands the set-up on; OpeningSigners journals it"
                continue
            [journaled] = lines
            assert len(journaled.rounds) == expected, (seen[-1], journaled.rounds)
            assert all(set(r) == {"s1", "s2", "s3"} for r in journaled.rounds), "every signer's answer"
    assert path(seen) == SETUP_PATH
    [setup] = setups(world)
    address = world.treasury.book(world.signers["s1"].wallet().members).address
    assert setup.ready and setup.address == address and setup.wallet == "distributor-multisig-1"
    assert setup.step is Step.READY and setup.created == ("s1", "s2", "s3")
    for sid, signer in world.signers.items():
        f = signer.wallet()
        assert (f.multisig, f.ready, f.threshold, f.total, f.enabled) == (True, True, 2, 3, True), sid
        assert "finalize_multisig" not in signer.calls
        # each signer: one create, one prepare for round 0 and one more right before make, 1 make, 2 exchanges
        assert signer.calls.count("create_wallet") == 1 and signer.calls.count("make_multisig") == 1
        assert signer.calls.count("exchange_multisig_keys") == 2 and signer.calls.count("prepare_multisig") == 2
    info = world.status_files()["distributor_multisig_info.json"]
    assert (info["wallet_address"], info["multisig"], info["signers"], info["agent_id"]) == \
        (address, "2-of-3", ["s1", "s2", "s3"], "distributor-multisig")
    ready = [e for e in logs if e["event"] == "treasury_ready"]
    assert ready and ready[0]["address"] == address
    # made once: the next Idle step does not set it up again, it looks at its balance
    assert world.step().trigger.value == "tend_treasury"


@pytest.mark.parametrize("threshold,signers", [(2, 2), (3, 3), (2, 4), (3, 4)])
def test_as_many_exchange_rounds_as_the_scheme_needs(threshold, signers):
    ids = ",".join(f"s{i}" for i in range(1, signers + 1))
    world = treasury_world({"multisig_signers": ids, "multisig_threshold": str(threshold)})
    results = until_idle(world)
    exchanges = [r for r in results if r.source is State.EXCHANGING_KEYS]
    assert len(exchanges) == signers - threshold + 1 == multisig.exchange_rounds(signers, threshold)
    [setup] = setups(world)
    assert setup.ready and setup.label == f"{threshold}-of-{signers}"
    assert {(s.wallet().threshold, s.wallet().total) for s in world.signers.values()} == {(threshold, signers)}


def test_a_signer_down_mid_set_up_waits_and_resumes_where_the_journal_says():
    world = treasury_world()
    world.steps_until("MakingMultisig")
    s2 = world.signers["s2"]
    s2.down = True
    result = world.step()  # s1 makes, s2 is unreachable
    assert (result.trigger.value, result.dest.value) == ("signer_down", "Idle")
    [setup] = setups(world)
    assert set(setup.rounds[1]) == {"s1"}, "s1's answer is kept; s2 and s3 are still to be asked"
    # Idle waits for the set-up's next try; meanwhile nothing pays
    waited = world.step()
    assert waited.trigger.value == "keep_waiting" and waited.delay == pytest.approx(30)
    world.clock.sleep(waited.delay)
    s2.down = False
    makes_before = world.signers["s1"].calls.count("make_multisig")
    results = until_idle(world)
    assert [r.trigger.value for r in results][-1] == "treasury_ready"
    assert world.signers["s1"].calls.count("make_multisig") == makes_before, "s1 is not asked round 1 again"
    assert setups(world)[0].ready and setups(world)[0].generation == 1


def test_a_restart_mid_set_up_resumes_from_the_journal_under_the_same_name():
    world = treasury_world()
    crash_at(world, "after_setup_round_2", nth=2)  # the second signer's first exchange is journaled
    with pytest.raises(Crash):
        for _ in range(20):
            world.step()
    restart_after_crash(world)
    assert world.step().trigger.value == "recovered"
    with capture_logs() as logs:
        results = until_idle(world)
    assert path(results)[0] == ("Idle", "set_up_treasury", "OpeningSigners")
    assert results[-1].trigger.value == "treasury_ready"
    assert not [e for e in logs if e["event"] == "treasury_setup_discarded"]
    [setup] = setups(world)
    assert setup.ready and setup.wallet == "distributor-multisig-1"
    # the resumed process reopened the wallets (it had created them before the crash) and asked only
    # the signers still without an answer in round 2
    assert all(s.calls.count("create_wallet") == 1 for s in world.signers.values())
    assert [s.calls.count("exchange_multisig_keys") for s in world.signers.values()] == [2, 2, 2]


def test_a_wallet_rpc_restarted_between_prepare_and_make_still_saves_the_enable_flag():
    """0.18: the flag given to prepare_multisig is lost when the wallet is reopened before make_multisig,
    and the rounds after it are refused (-48).  MakingMultisig asks prepare again, in the session."""
    world = treasury_world()
    world.steps_until("MakingMultisig")
    for signer in world.signers.values():
        signer.restart()  # SIGTERM and start again: no wallet open, the in-memory flag gone
        world.mem.treasury.opened.pop(signer.id)
    results = until_idle(world)
    assert results[-1].trigger.value == "treasury_ready", path(results)
    assert all(s.wallet().enabled for s in world.signers.values())


def test_an_answer_lost_in_a_crash_discards_the_set_up_and_makes_it_again_under_a_new_name():
    """The process died between s2's make_multisig and the journal (simulated: that write failed, then
    a restart): s2's wallet is multisig, the journal lacks its message, which no call gives again."""
    world = treasury_world()
    world.steps_until("MakingMultisig")
    die_writing(world, lambda body: len(body.get("rounds") or []) > 1 and set(body["rounds"][1]) == {"s1", "s2"},
                "between s2's make_multisig and its journal line")
    with capture_logs() as logs:
        first = until_idle(world)
    assert path(first)[-1] == ("OpeningSigners", "setup_discarded", "Idle")
    [discard] = [e for e in logs if e["event"] == "treasury_setup_discarded"]
    assert "s2" in discard["message"] and "distributor-multisig-2" in discard["message"]
    # made again, under the next name, after the back-off
    results = run_treasury(world, 40, until=lambda w: w.mem.treasury.ready() is not None)
    assert results[-1].trigger.value == "treasury_ready"
    done = {s.wallet: s for s in setups(world)}
    assert done["distributor-multisig-1"].discarded and not done["distributor-multisig-1"].ready
    assert done["distributor-multisig-2"].ready
    assert all(set(s.files) == {"distributor-multisig-1", "distributor-multisig-2"} for s in world.signers.values())


def test_an_exchange_answer_lost_in_a_crash_is_found_by_the_wrong_round_answer():
    world = treasury_world()
    world.steps_until("ExchangingMultisigKeys")
    die_writing(world, lambda body: len(body.get("rounds") or []) > 2,
                "between s1's exchange_multisig_keys and its journal line")
    with capture_logs() as logs:
        until_idle(world)
    [discard] = [e for e in logs if e["event"] == "treasury_setup_discarded"]
    assert "kex round number" in discard["message"] and "s1" in discard["message"]


def test_a_wallet_created_before_a_crash_is_opened_not_created_again():
    world = treasury_world()
    die_writing(world, lambda body: body.get("created") == ["s1"], "after create_wallet on s1, before its journal line")
    results = until_idle(world)
    assert results[-1].trigger.value == "treasury_ready"
    s1 = world.signers["s1"]
    assert s1.calls.count("create_wallet") == 2 and s1.calls.count("open_wallet") >= 1  # -21, then opened
    assert setups(world)[0].generation == 1


def test_a_ready_treasury_is_reopened_after_a_restart_never_made_twice():
    world = treasury_world()
    until_idle(world)
    for signer in world.signers.values():
        signer.restart()  # the signers' wallet-rpcs restarted too: nothing open
    world.restart()
    with capture_logs() as logs:
        results = run_treasury(world, 30, until=lambda w: len(w.ledger.records) >= 2)
    assert "set_up_treasury" not in [r.trigger.value for r in results]
    assert not [e for e in logs if e["event"] in ("treasury_setup_started", "treasury_setup_discarded")]
    assert [e for e in logs if e["event"] == "treasury_reopened"], "the spend path opened the wallet again"
    assert "distributor-multisig" in {r["sender_id"] for r in world.ledger.records}
    assert all(list(s.files) == ["distributor-multisig-1"] for s in world.signers.values())


def test_a_lost_journal_adopts_the_treasury_of_the_info_file():
    world = treasury_world()
    until_idle(world)
    address = setups(world)[0].address
    world.lose_journal()
    world.journal.multisig.clear()
    world.restart()
    with capture_logs() as logs:
        assert world.step().trigger.value == "recovered"
        results = until_idle(world)
    [adopted] = [e for e in logs if e["event"] == "treasury_adopted"]
    assert adopted["address"] == address
    assert results[-1].trigger.value == "treasury_ready"
    assert [s.wallet for s in setups(world)] == ["distributor-multisig-1"]
    assert all(s.calls.count("create_wallet") == 1 for s in world.signers.values())


def test_a_ready_treasury_whose_signer_disagrees_is_waited_for_never_discarded():
    world = treasury_world()
    until_idle(world)
    world.signers["s3"].files["distributor-multisig-1"].ready = False  # e.g. a wallet file restored from before
    world.lose_journal()
    world.journal.multisig.clear()
    world.restart()
    with capture_logs() as logs:
        run_treasury(world, 12)
    assert not [e for e in logs if e["event"] == "treasury_setup_discarded"]
    down = [e for e in logs if e["event"] == "treasury_signer_down"]
    assert down and down[0]["signer"] == "s3" and "ready" in down[0]["message"]


def test_the_set_up_gives_up_after_repeated_discards_and_says_so():
    world = treasury_world()
    # every make_multisig of s3 is refused as if its wallet were multisig already
    world.signers["s3"].script["make_multisig"] = [SignerLost("make_multisig", "This wallet is already multisig",
                                                              code=-28)] * multisig.MAX_DISCARDS
    with capture_logs() as logs:
        run_treasury(world, 200)
    discards = [e for e in logs if e["event"] == "treasury_setup_discarded"]
    assert len(discards) == multisig.MAX_DISCARDS
    assert "giving up" in discards[-1]["message"]
    assert world.mem.treasury.ready() is None
    assert len(world.signers["s1"].files) == multisig.MAX_DISCARDS
    assert not world.ledger.records, "payments wait for the treasury: none from the miners"


def test_signers_are_never_recipients_while_the_treasury_is_on():
    world = treasury_world({"multisig_mode": "payments"}, users=2)
    run_treasury(world, 120)
    paid_to = {r["recipient_id"] for r in world.ledger.records}
    assert paid_to and not paid_to & {"s1", "s2", "s3"}
    assert make_address("s1") not in {r["recipient_address"] for r in world.ledger.records}


def test_a_signer_that_is_a_miner_is_refused_in_one_line_and_its_wallet_left_alone():
    world = treasury_world({"multisig_signers": "s1,m1,s2"})
    with capture_logs() as logs:
        results = run_treasury(world, 10)
    assert ("OpeningSigners", "signer_down", "Idle") in path(results)
    refused = [e for e in logs if e["event"] == "treasury_signers_refused"]
    assert len(refused) == 1 and "m1" in refused[0]["message"] and "accepted: dedicated agents" in refused[0]["message"]
    assert "create_wallet" not in world.signers["s1"].calls and not world.miners["m1"].calls.count("create_wallet")
    assert not setups(world)

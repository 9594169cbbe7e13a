"""Context's indexes over the journal mirror: open intents, busy miners and paid recipients.

`Context.open_intents()`/`busy_miners()` read an index kept by
`put_intent`/`load_intents` instead of scanning every intent ever made; these
tests check the index against the full scan through every status change, the
journal load of Recovering and the machine's own cycles.
"""

from __future__ import annotations

from dataclasses import replace

from fakes import XMR, FakeJournal, make_world, rpc_error
from fsm_distributor.core.memory import Memory as Context
from fsm_distributor.core.intent import Intent, paid_recipients

OPEN = ("built", "relayed")


def scanned_open(ctx: Context) -> list[Intent]:
    """What open_intents() returned before the index: every intent, scanned."""
    return [i for i in ctx.intents.values() if i.status in OPEN]


def scanned_busy(ctx: Context) -> set[str]:
    return {i.miner for i in ctx.intents.values() if i.status == "built"}


def assert_indexes(ctx: Context) -> None:
    assert ctx.open_intents() == scanned_open(ctx)
    assert ctx.busy_miners() == scanned_busy(ctx)
    for purpose in ("distribution", "initial_funding", "funding_cycle"):
        assert ctx.paid_recipients(purpose) == paid_recipients(ctx.intents, purpose)


def intent(tx: str, miner: str, recipient: str, status: str = "built", purpose: str = "distribution") -> Intent:
    return Intent(tx_hash=tx, miner=miner, miner_endpoint=("127.0.0.1", 28001),
                  destinations=((recipient, f"addr-{recipient}", XMR),), fee=1, status=status,
                  tx_metadata="meta" if status == "built" else "", purpose=purpose)


def test_open_and_busy_follow_built_relayed_recorded_failed():
    ctx = Context()
    a, b, c = intent("a", "m1", "u1"), intent("b", "m2", "u2"), intent("c", "m1", "u3")
    for i in (a, b, c):
        ctx.put_intent(i)
        assert_indexes(ctx)
    assert [i.tx_hash for i in ctx.open_intents()] == ["a", "b", "c"]
    assert ctx.busy_miners() == {"m1", "m2"}

    ctx.put_intent(replace(a, status="relayed", tx_metadata=""))
    assert_indexes(ctx)
    # Still open, still first (journal order); m1 stays busy because of c.
    assert [(i.tx_hash, i.status) for i in ctx.open_intents()] == [("a", "relayed"), ("b", "built"),
                                                                   ("c", "built")]
    assert ctx.busy_miners() == {"m1", "m2"}

    ctx.put_intent(replace(b, status="failed"))
    assert_indexes(ctx)
    assert [i.tx_hash for i in ctx.open_intents()] == ["a", "c"] and ctx.busy_miners() == {"m1"}

    ctx.put_intent(replace(c, status="relayed"))
    assert_indexes(ctx)
    assert ctx.busy_miners() == set()

    ctx.put_intent(replace(a, status="recorded"))
    ctx.put_intent(replace(c, status="recorded"))
    assert_indexes(ctx)
    assert ctx.open_intents() == [] and ctx.busy_miners() == set()

    ctx.put_intent(replace(a, status="confirmed"))
    ctx.put_intent(replace(c, status="failed"))
    assert_indexes(ctx)
    assert ctx.open_intents() == []


def test_a_reopened_intent_takes_its_journal_place_not_the_last_one():
    ctx = Context()
    for tx in ("a", "b", "c"):
        ctx.put_intent(intent(tx, "m1", "u1"))
    ctx.put_intent(replace(ctx.intents["a"], status="recorded"))
    ctx.put_intent(replace(ctx.intents["a"], status="relayed"))  # no action does this; the index copes
    assert [i.tx_hash for i in ctx.open_intents()] == ["a", "b", "c"]
    assert_indexes(ctx)


def test_load_intents_rebuilds_the_index_and_later_puts_keep_it():
    ctx = Context()
    ctx.put_intent(intent("old", "m9", "u9"))  # replaced by the load, must not linger
    loaded = {i.tx_hash: i for i in (intent("r1", "m1", "u1", "recorded"), intent("b1", "m1", "u2"),
                                     intent("f1", "m2", "u3", "failed"), intent("l1", "m2", "u1", "relayed"),
                                     intent("c1", "m2", "u2", "confirmed"))}
    ctx.load_intents(loaded)
    assert_indexes(ctx)
    assert [i.tx_hash for i in ctx.open_intents()] == ["b1", "l1"] and ctx.busy_miners() == {"m1"}
    ctx.put_intent(replace(loaded["b1"], status="relayed"))
    ctx.put_intent(intent("n1", "m2", "u3"))
    assert_indexes(ctx)
    assert [i.tx_hash for i in ctx.open_intents()] == ["b1", "l1", "n1"] and ctx.busy_miners() == {"m2"}


def test_paid_recipients_cache_follows_every_change():
    ctx = Context()
    funding = intent("f", "m1", "u1", purpose="initial_funding")
    ctx.put_intent(funding)
    assert ctx.paid_recipients("initial_funding") == {}  # built is not paid
    ctx.put_intent(replace(funding, status="relayed"))
    assert ctx.paid_recipients("initial_funding") == {"u1": "f"}
    assert ctx.paid_recipients("distribution") == {}
    ctx.put_intent(replace(funding, status="failed"))
    assert ctx.paid_recipients("initial_funding") == {}
    ctx.load_intents({"g": intent("g", "m1", "u2", "confirmed", purpose="initial_funding")})
    assert ctx.paid_recipients("initial_funding") == {"u2": "g"}
    assert_indexes(ctx)


def test_recovery_load_and_the_machine_keep_the_index_right_step_by_step():
    """Journal left by a crash (one built, one relayed, history), then cycles with faults."""
    journal = FakeJournal()
    world = make_world({"transaction_frequency": "0"}, weights=(100, 100), users=2, recovered=False,
                       journal=journal)
    m1, u1 = world.miners["m1"], world.users["u1"]
    built = m1.transfer([(u1.address, XMR)], priority=1, do_not_relay=True)
    relayed = m1.transfer([(u1.address, 2 * XMR)], priority=1, do_not_relay=True)
    m1.relay_tx(relayed.tx_metadata)
    m1.calls.clear()
    endpoint = ("127.0.0.1", 28001)
    dest = (("u1", u1.address, XMR),)
    for tx_hash, status, metadata in ((f"{i:064x}", "confirmed", "") for i in range(5)):
        journal.intents[tx_hash] = Intent(tx_hash, "m2", endpoint, dest, 1, status=status, tx_metadata=metadata)
    journal.intents[built.tx_hash] = Intent(built.tx_hash, "m1", endpoint, dest, built.fee, status="built",
                                            tx_metadata=built.tx_metadata)
    journal.intents[relayed.tx_hash] = Intent(relayed.tx_hash, "m1", endpoint, dest, relayed.fee,
                                              status="relayed")
    ctx = world.mem
    first = world.step()  # Recovering: loads the journal, hands over the built intent
    assert first.trigger == "resume_relay"
    assert_indexes(ctx)
    assert [i.tx_hash for i in ctx.open_intents()] == [built.tx_hash, relayed.tx_hash]
    assert ctx.busy_miners() == {"m1"}
    seen = set()
    # m2's first relay dies with a bug (a fault: the intent stays built, busy), the retry is refused
    # by a wallet that does not know the tx (failed); one ledger write fails (stays relayed).
    world.miners["m2"].fail_next("relay_tx", RuntimeError("boom"),
                                 rpc_error(-4, "Failed to commit tx.", "relay_tx"))
    world.ledger.fail = 1
    for _ in range(120):
        result = world.step()
        world.clock.sleep(result.delay)
        assert_indexes(ctx)
        seen.update(i.status for i in ctx.intents.values())
    assert {"built", "relayed", "recorded", "failed"} <= seen
    assert journal.intents[built.tx_hash].status == "recorded"
    assert journal.intents[relayed.tx_hash].status == "recorded"
    assert [i.status for i in journal.intents.values()].count("failed") == 1
    assert len(world.ledger.records) >= 5

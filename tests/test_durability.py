"""The journal is not the only memory, and this agent's records survive other writers.

Over fakes: a journal lost or damaged between runs is rebuilt from this
distributor's records, the funding status and the miners' wallets before
anything is paid; records that transactions.json lost are written back.  Over
real files: a damaged journal is set aside (never overwritten), a truncated
transactions.json keeps every whole record.  tests/regtest/test_durability.py
runs the same faults against real wallets.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from fakes import XMR, make_world
from fsm_distributor.adapters.journal import Journal, parse_lines
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.names import IllegalMove, Status
from fsm_distributor.adapters.ledger import TransactionLedger
from fsm_distributor.adapters.shared_state import SharedDir, salvage_array

FUNDING = {"initial_funding": "true", "md_n_recipients": "8", "md_out_per_tx": "2", "md_output_amount": "5",
           "distribution_mode": "funding_cycle", "md_funding_cycle_interval": "100000",
           "verification_interval": "600"}


def funded_world(users: int = 10):
    """Initial funding of `users` recipients done (two transactions from m1), the agent idle."""
    world = make_world(FUNDING, weights=(100,), users=users, unlocked=1000 * XMR)
    run(world, 60)
    assert world.mem.funding_done and len(world.ledger.records) == users
    return world


def run(world, steps: int):
    """Step, sleeping through every wait, like the run loop."""
    out = []
    for _ in range(steps):
        out.append(world.step())
        if out[-1].delay:
            world.clock.sleep(out[-1].delay)
    return out


def funding_txs(world) -> list[str]:
    return [tx.tx_hash for w, tx in world.wallets.all_sent()]


@pytest.mark.parametrize("damage", ["missing", "journal is truncated", "journal has 'intents' of type int"])
def test_a_lost_or_damaged_journal_is_rebuilt_from_the_records_and_nobody_is_funded_twice(damage):
    world = funded_world()
    sent = funding_txs(world)
    world.lose_journal(damage)
    world.restart()
    with capture_logs() as logs:
        run(world, 60)
    assert funding_txs(world) == sent, "nobody funded twice"
    [rebuilt] = [e for e in logs if e["event"] == "journal_rebuilt"]
    assert rebuilt["sources"]["transactions.json"] == len(sent) and rebuilt["log_level"] == "error"
    assert set(world.journal.intents) == set(sent), "the rebuilt intents are journaled again"
    assert all(i.status == "recorded" and i.purpose == "initial_funding" for i in world.journal.intents.values())
    assert world.mem.funding_done


def test_with_records_lost_too_the_funding_status_and_the_wallet_say_who_was_paid():
    world = funded_world(users=10)
    sent = funding_txs(world)
    first, second = sent
    # The second transaction's records never made it (crash between relay and record, say) and
    # the first one's were lost with the journal; the status file still names the first batch.
    world.ledger.records = []
    status = world.status_files()["initial_funding_status.json"]
    status["funded_recipients"] = sorted(r for r, tx in status["funding_transactions"].items() if tx == first)
    status["funding_transactions"] = {r: first for r in status["funded_recipients"]}
    world.lose_journal("journal is not valid JSON")
    world.restart()
    with capture_logs() as logs:
        run(world, 60)
    assert funding_txs(world) == sent, "nobody funded twice"
    [rebuilt] = [e for e in logs if e["event"] == "journal_rebuilt"]
    assert rebuilt["sources"]["initial_funding_status.json"] == 7
    assert rebuilt["sources"]["miner m1's wallet"] == 2, "both transactions are in the miner's wallet"
    # The wallet's transactions are real intents: recorded again (records come back); the status
    # file's recipients are remembered in the journal.
    assert {r["tx_hash"] for r in world.ledger.records} == set(sent)
    assert len(world.ledger.records) == 10
    assert set(world.journal.adopted) == set(status["funded_recipients"])


def test_a_payment_some_other_tool_made_from_a_miner_wallet_is_not_claimed():
    world = funded_world(users=3)
    world.miners["m1"].transfer([(world.users["u1"].address, XMR // 2)], priority=1)  # a raw transfer
    world.lose_journal("journal is truncated")
    world.restart()
    run(world, 30)
    assert len(world.ledger.records) == 3 and all(r["purpose"] == "initial_funding" for r in world.ledger.records)


def test_another_distributors_funding_status_is_never_taken_for_ours():
    # One initial_funding_status.json serves every distributor of a run: the last writer's.
    world = make_world(FUNDING, weights=(100,), users=3, recovered=False, unlocked=1000 * XMR)
    world.status_files()["initial_funding_status.json"] = {
        "funded_recipients": ["u1", "u2", "u3"], "funding_transactions": {"u1": "a" * 64}, "completed": True,
        "distributor_id": "someone-else"}
    world.journal.damage = "journal is truncated"
    run(world, 40)
    assert sorted(r["recipient_id"] for r in world.ledger.records) == ["u1", "u2", "u3"], "funded by us all the same"


def test_a_first_start_asks_no_wallet_for_its_history():
    world = make_world(FUNDING, weights=(100,), users=3, recovered=False)
    world.journal.damage = "missing"
    run(world, 3)
    assert "get_transfers" not in world.miners["m1"].calls


def test_nothing_is_paid_while_the_journal_cannot_be_checked():
    world = make_world(FUNDING, weights=(100,), users=3, recovered=False)
    world.ledger.fail = 3  # transactions.json unreadable for three tries
    with capture_logs() as logs:
        results = run(world, 20)
    assert [e for e in logs if e["event"] == "journal_unreadable"]
    first_send = next(i for i, r in enumerate(results) if r.trigger == "fund")
    assert all(r.trigger in ("recovered", "keep_waiting", "recover") for r in results[:first_send])
    assert world.mem.journal_loaded and world.miners["m1"].sent


def test_records_another_writer_removed_are_written_back_at_the_next_start():
    world = funded_world(users=10)
    before = sorted(world.ledger.records, key=lambda r: (r["tx_hash"], r["recipient_id"]))
    world.ledger.records = [{"tx_hash": "f" * 64, "recipient_id": "someone", "sender_id": "x"}]
    world.restart()
    with capture_logs() as logs:
        run(world, 3)
    mine = sorted((r for r in world.ledger.records if r.get("distributor_id")),
                  key=lambda r: (r["tx_hash"], r["recipient_id"]))
    assert mine == before, "the same records, field for field"
    assert world.ledger.records[0]["recipient_id"] == "someone", "the other writer's record is kept"
    assert [e for e in logs if e["event"] == "ledger_restored"]


def test_records_removed_at_run_time_are_written_back_by_verification():
    world = make_world({"verification_interval": "10", "transaction_frequency": "1000"}, weights=(100,))
    world.cycle()
    [record] = world.ledger.records
    world.ledger.records = []  # another writer replaced the file
    world.miners["m1"].confirm_all(height=120)
    world.clock.sleep(10)
    world.steps_until("Verifying"), world.step()
    [back] = world.ledger.records
    assert back["tx_hash"] == record["tx_hash"] and back["status"] == "confirmed" and back["height"] == 120


# ---------------------------------------------------------------- real files


def intent(n: int, status: str = "recorded") -> Intent:
    return Intent(tx_hash=f"{n:064x}", miner="m1", miner_endpoint=("127.0.0.1", 1),
                  destinations=((f"u{n}", f"addr{n}", n * XMR),), fee=7, status=status, relayed_at=100.0 + n)


def line(i: Intent) -> bytes:
    return json.dumps(i.to_json()).encode() + b"\n"


@pytest.mark.parametrize("damage", [b"\x00\xff garbage\n", b'{"intents": 5}\n', b"[]\n", b'{"tx_hash": 7}\n'])
def test_a_damaged_journal_is_copied_aside_and_its_good_lines_kept(tmp_path, damage):
    journal = Journal(SharedDir(tmp_path), "d")
    content = line(intent(1)) + damage + line(intent(2))
    journal.path.write_bytes(content)
    loaded = journal.load()
    assert loaded.damaged and list(loaded.intents) == [intent(1).tx_hash, intent(2).tx_hash]
    assert (tmp_path / loaded.set_aside).read_bytes() == content, "the damaged bytes are kept, never overwritten"
    assert parse_lines(journal.path.read_bytes()).problems == [], "compacted: only what could be read"
    journal.put(intent(3))
    assert list(journal.load().intents) == [intent(1).tx_hash, intent(2).tx_hash, intent(3).tx_hash]


def test_a_journal_of_nothing_but_garbage_loads_empty_and_damaged(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    journal.path.write_bytes(b"\x00\xffnot a journal\x7f" * 40)
    loaded = journal.load()
    assert loaded.damaged and loaded.intents == {} and loaded.set_aside is not None and not loaded.torn_tail


def test_the_last_line_cut_short_by_a_crash_is_dropped_but_not_damage(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    built, relayed = intent(1, "built"), replace(intent(1, "built"), status="relayed")
    journal.path.write_bytes(line(built) + line(relayed)[:-40])
    loaded = journal.load()
    assert not loaded.damaged and loaded.torn_tail
    assert loaded.intents[built.tx_hash].status == "built", "the relay was not acknowledged: relay again"


def test_a_status_change_appends_one_line_and_the_last_line_wins(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    journal.put(intent(1, "built"))
    journal.put(intent(2, "built"))
    before = journal.path.read_bytes()
    journal.advance(intent(1, "built"), Status.RELAYED, relayed_at=9.0)
    after = journal.path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 3, "appended, nothing rewritten"
    loaded = journal.load()
    assert [i.status for i in loaded.intents.values()] == ["built", "relayed"], "ordered by their last line"
    assert list(loaded.intents) == [intent(2).tx_hash, intent(1).tx_hash]
    assert journal.path.read_bytes().count(b"\n") == 2, "loading compacts: one line per intent"
    with pytest.raises(IllegalMove, match="relayed -> built"):
        journal.advance(loaded.intents[intent(1).tx_hash], Status.BUILT)


def test_a_journal_in_the_previous_format_is_read_once_and_moved_aside(tmp_path):
    old = tmp_path / "d_distributor_journal.json"
    old.write_text(json.dumps({"intents": [intent(1).to_json(), intent(2, "confirmed").to_json()]}))
    loaded = Journal(SharedDir(tmp_path), "d").load()
    assert [i.status for i in loaded.intents.values()] == ["recorded", "confirmed"]
    assert not old.exists() and (tmp_path / "d_distributor_journal.json.migrated").exists()
    assert list(Journal(SharedDir(tmp_path), "d").load().intents) == list(loaded.intents)


def test_the_journal_keeps_adopted_recipients_and_new_fields(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    journal.adopt_funded({"u9": ""})
    journal.put(Intent(tx_hash="a" * 64, miner="m1", miner_endpoint=("h", 1), destinations=(("u1", "x", 1),),
                       fee=1, key_images=("b" * 64,), sender_address="4abc", relayed_at=5.0, verdict="absent"))
    loaded = journal.load()
    assert loaded.adopted_funded == {"u9": ""}
    [back] = loaded.intents.values()
    assert (back.key_images, back.sender_address, back.relayed_at, back.verdict) == (("b" * 64,), "4abc", 5.0, "absent")


def test_a_truncated_transactions_file_keeps_every_whole_record_and_the_agents_come_back(tmp_path):
    shared = SharedDir(tmp_path)
    ledger = TransactionLedger(shared, "d")
    others = [{"tx_hash": f"{n:064x}", "recipient_id": f"o{n}", "sender_id": "x", "amount": 1.0} for n in range(5)]
    text = json.dumps(others)
    (tmp_path / "transactions.json").write_text(text[: text.index('"o4"') + 3])  # cut inside the last record
    result = ledger.append([{"tx_hash": "c" * 64, "recipient_id": "u1", "distributor_id": "d"}])
    assert result.quarantined and "4 whole records" in result.note
    kept = json.loads((tmp_path / "transactions.json").read_text())
    assert kept[:4] == others[:4] and kept[4]["tx_hash"] == "c" * 64
    assert len(list(tmp_path.glob("transactions.corrupt-*.json"))) == 1


def test_an_update_reports_our_records_the_file_no_longer_holds(tmp_path):
    ledger = TransactionLedger(SharedDir(tmp_path), "d")
    ledger.append([{"tx_hash": "a" * 64, "recipient_id": "u1", "distributor_id": "d"}])
    result = ledger.update({"a" * 64: {"status": "confirmed"}, "b" * 64: {"status": "confirmed"}})
    assert result.missing == {"b" * 64} and not result.quarantined
    (tmp_path / "transactions.json").write_text("[")  # another writer's wreck
    result = ledger.update({"a" * 64: {"status": "confirmed"}})
    assert result.quarantined and result.missing == {"a" * 64}
    assert json.loads((tmp_path / "transactions.json").read_text()) == []


@pytest.mark.parametrize("data, expected", [
    (b'[{"a": 1}, {"b": 2}, {"c": ', [{"a": 1}, {"b": 2}]),
    (b"[1, 2, 3]", [1, 2, 3]),
    (b"[1, 2, 23", [1, 2]),  # the last number may have been cut short
    (b'[{"a": 1}{', [{"a": 1}]),
    (b"garbage", []),
    (b"", []),
])
def test_salvage_keeps_the_whole_leading_elements(data, expected):
    assert salvage_array(data) == expected

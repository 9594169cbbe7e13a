"""The schedule around the machine: the start-up refusal, `schedule --check`, the file reader, the journal's anchor."""

from __future__ import annotations

import json
import subprocess

import pytest
from agent_processes import ROOT, clean_env, module_cmd

from fsm_distributor import cli
from fsm_distributor.adapters.journal import Journal, parse_lines
from fsm_distributor.adapters.schedule_file import ScheduleFile, ScheduleFileError
from fsm_distributor.adapters.shared_state import SharedDir
from fsm_distributor.core.config import ConfigError
from fsm_distributor.core.intent import Intent
from fsm_distributor.tools import schedule_check

GOOD = [{"id": "bonus", "at": "30s", "to": "u1", "amount": "2.5", "from": "m2"},
        {"id": "drip", "every": "10m", "count": 6, "to": "round_robin", "amount": "0.1-0.3"}]
BAD = [{"id": "fine", "at": "1s", "to": "u1", "amount": "1"},
       {"id": "pay-2", "at": "1s", "to": "u1", "amount": "abc"}]


def write(path, data):
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------- start-up


def agent_args(shared, *extra):
    return cli.agent_parser().parse_args(["--id", "distributor", "--shared-dir", str(shared), *extra])


def test_a_relative_schedule_file_is_read_from_the_shared_dir_at_start_up(tmp_path):
    write(tmp_path / "plan.json", GOOD)
    distributor, config, wallets = cli.build_agent(agent_args(tmp_path, "--attributes", "schedule", "plan.json"), {})
    wallets.close()
    source = distributor.deps.schedule
    assert isinstance(source, ScheduleFile) and source.path == tmp_path / "plan.json"
    assert [e.id for e in source.read().entries] == ["bonus", "drip"]


@pytest.mark.parametrize("value, words", [
    ("plan.json", ["invalid attribute schedule='plan.json'", "does not exist", "accepted: a JSON file"]),
    ("bad.json", ["invalid schedule (", "bad.json) entry 'pay-2' field amount='abc' (", "accepted: XMR"]),
    (json.dumps(BAD), ["invalid schedule (inline) entry 'pay-2' field amount='abc'", "accepted: XMR"]),
])
def test_a_bad_schedule_is_refused_before_anything_runs(tmp_path, value, words):
    write(tmp_path / "bad.json", BAD)
    with pytest.raises(ConfigError) as info:
        cli.build_agent(agent_args(tmp_path, "--attributes", "schedule", value), {})
    for word in words:
        assert word in str(info.value)


@pytest.mark.timeout(60)
def test_the_agent_exits_2_with_one_line_naming_entry_field_value_and_accepted(tmp_path):
    write(tmp_path / "bad.json", BAD)
    argv = module_cmd("fsm_distributor", "--id", "distributor", "--shared-dir", str(tmp_path),
                      "--attributes", "schedule", "bad.json")
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT)),
                          timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "entry 'pay-2' field amount='abc'" in line and "accepted: XMR as a string" in line
    assert not (tmp_path / "distributor_distributor_journal.jsonl").exists()


# ---------------------------------------------------------------- schedule --check


def test_check_prints_the_next_occurrences_of_a_valid_file(tmp_path, capsys):
    path = write(tmp_path / "plan.json", GOOD)
    assert cli.main(["schedule", "--check", str(path), "--next", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid, 2 entries" in out
    assert "bonus: at +30s: 2.5 XMR to u1 (from m2)" in out
    assert "    #1    +10m\n    #2    +20m\n    ... 6 occurrences in all" in out


def test_check_refuses_an_invalid_file_with_the_agents_line(tmp_path, capsys):
    path = write(tmp_path / "bad.json", BAD)
    assert schedule_check.main(["--check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "entry 'pay-2' field amount='abc'" in err[0] and "accepted:" in err[0]


def test_check_takes_the_first_start_from_a_journal(tmp_path, capsys):
    path = write(tmp_path / "plan.json", GOOD)
    journal = Journal(SharedDir(tmp_path), "distributor")
    journal.set_schedule_anchor(946684800.0)
    assert schedule_check.main(["--check", str(path), "--journal", str(journal.path),
                                "--now", str(946684800 + 1500), "--next", "1"]) == 0
    out = capsys.readouterr().out
    assert "#1-#2 past" in out and "#3    2000-01-01 00:30:00 UTC (+30m)" in out


# ---------------------------------------------------------------- the reader and the journal


def test_the_reader_parses_again_only_when_the_file_changed(tmp_path):
    path = write(tmp_path / "plan.json", GOOD)
    reader = ScheduleFile(path)
    first = reader.read()
    assert reader.read() is first, "unchanged: the same object, not parsed again"
    write(path, BAD)
    with pytest.raises(ScheduleFileError, match="entry 'pay-2' field amount='abc'"):
        reader.read()
    path.unlink()
    with pytest.raises(ScheduleFileError, match="does not exist"):
        reader.read()
    path.write_text("[{")
    with pytest.raises(ScheduleFileError, match="not valid JSON"):
        reader.read()


def test_the_anchor_is_one_journal_line_kept_by_the_compaction(tmp_path):
    journal = Journal(SharedDir(tmp_path), "distributor")
    intent = Intent(tx_hash="a" * 64, miner="m1", miner_endpoint=("127.0.0.1", 1), destinations=(("u1", "x", 5),),
                    fee=1, schedule_id="drip", occurrence=3, unlock_time=161)
    journal.set_schedule_anchor(946684800.5)
    journal.put(intent)
    loaded = journal.load()  # compacts
    assert loaded.schedule_anchor == 946684800.5 and not loaded.problems
    assert loaded.intents[intent.tx_hash] == intent
    assert journal.load().schedule_anchor == 946684800.5
    assert parse_lines(journal.path.read_bytes()).anchor == 946684800.5


def test_other_intents_lines_are_unchanged_and_old_lines_load():
    plain = Intent(tx_hash="b" * 64, miner="m1", miner_endpoint=("127.0.0.1", 1), destinations=(("u1", "x", 5),),
                   fee=1)
    assert not {"schedule_id", "occurrence", "unlock_time"} & set(plain.to_json())
    assert Intent.from_json(plain.to_json()) == plain

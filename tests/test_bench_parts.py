"""The benchmarks keep up with the agent: the parts that read the transition table or drive the machine
run against today's table, and the report renders every part from the committed results.  (The suite
times nothing: these check that `make bench` still works, not how fast anything is.)"""

from __future__ import annotations

import json
import os

import pytest

from bench import cycle, network, report
from bench.common import PROJECT_ROOT
from fsm_distributor.adapters import logs
from fsm_distributor.states import TRANSITIONS


@pytest.mark.parametrize("enum", [False, True], ids=["names", "enum"])
def test_part_1s_bare_machine_runs_a_whole_cycle_of_todays_table(enum):
    """Part 1's baseline is the agent's table in a bare `transitions` Machine: every guard the table
    names must be answerable there (a guard added by a feature broke it once)."""
    laps = cycle.bare_cycles(3, enum=enum, warmup=0)
    assert len(laps) == 3 and all(t > 0 for t in laps)
    assert set(cycle.CYCLE) <= {t.trigger.value for t in TRANSITIONS}


@pytest.fixture
def restore_logging():
    yield
    logs.configure("DEBUG", stream=open(os.devnull, "w"))  # as conftest.py set it up (part 7 quiets it)


def test_part_7_reads_the_network_once_per_new_block_and_never_within_one(restore_logging):
    m = network.measure(payments=40)
    assert m["calls_within_a_block_max"] == 0 and m["payments_within_a_block"] > 0
    assert 0 < m["calls_per_new_block"] <= 4 and m["met"]


def test_the_report_renders_every_part_from_the_committed_results():
    results = json.loads((PROJECT_ROOT / "bench" / "results" / "latest.json").read_text())
    previous = json.loads((PROJECT_ROOT / "bench" / "results" / "previous.json").read_text())
    text = report.render(results, previous, {})
    for number, (_, title) in report.PARTS.items():
        assert f"### {number}. {title}" in text
        assert number in results["parts"] and "failed" not in results["parts"][number], number
    assert text == (PROJECT_ROOT / "docs" / "benchmarks.md").read_text(), \
        "docs/benchmarks.md is not what bench/results renders: run `python3 -m bench --report-only`"

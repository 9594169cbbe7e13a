"""The committed trace example of a real sandbox run is current and tells the truth."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from fsm_distributor.tools import diagram
from fsm_distributor.tools.trace import parse_lines

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "diagrams" / "examples").iterdir()
                  if (p / "agent.log").exists())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_trace_counts_agree_with_the_runs_transactions(example):
    stats = parse_lines((example / "agent.log").read_text().splitlines())
    records = json.loads((example / "transactions.json").read_text())
    hashes = {r["tx_hash"] for r in records}
    # a miner's transaction is relayed, a multisig treasury's spend submitted (issue 13): each once
    sent = sum(stats.counts.get((state, trigger, "Recording"), 0)
               for state, trigger in (("Relaying", "relayed"), ("Submitting", "submitted")))
    assert sent == len(hashes)
    assert stats.counts[("Recording", "recorded", "Idle")] == len(hashes)
    assert stats.skipped == ()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_committed_trace_files_match_a_regeneration(example, tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        assert diagram.main(["--trace", str(example / "agent.log"), "--format", "mermaid",
                             "--out", str(tmp_path / "trace.mmd")]) == 0
    assert (tmp_path / "trace.mmd").read_text() == (example / "trace.mmd").read_text()
    assert out.getvalue() == (example / "trace.txt").read_text()


def test_there_is_an_example():
    assert EXAMPLES, "diagrams/examples/ must hold at least one real run"

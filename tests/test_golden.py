"""Behaviour unchanged: each golden decision log (tests/golden/) is reproduced byte for byte."""

from __future__ import annotations

import pytest

from golden.decisions import SCENARIOS, decision_log, path_of


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_decisions_match_the_golden_log(scenario):
    expected = path_of(scenario).read_text()
    assert decision_log(scenario) == expected, (
        f"the decisions of {scenario!r} changed; if that is intended, regenerate with "
        f"`python3 tests/golden/decisions.py --write` and say why in the commit")


def test_the_logs_cover_every_state_and_most_triggers():
    text = "".join(path_of(s).read_text() for s in SCENARIOS)
    for state in ("Recovering", "Discovering", "SelectingMiner", "CheckingBalance", "SelectingRecipient",
                  "PlanningBatch", "Building", "Retrying", "Journaling", "Relaying", "Recording", "Verifying"):
        assert f"-> {state}" in text, state
    for trigger in ("retry", "miner_locked", "miner_broke", "give_up", "resume_relay", "resume_record",
                    "relay_deferred", "batch_planned", "funding_complete", "verified", "recipient_unreachable"):
        assert f"-{trigger}->" in text, trigger

"""The README's promises that code can check: its diagram and state table are current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_readme", ROOT / "scripts" / "sync_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_diagram_and_states_match_the_table():
    readme = (ROOT / "README.md").read_text()
    assert _sync_module().synced(readme) == readme, "README.md is stale: run `make diagrams`"


def test_readme_mermaid_is_the_committed_diagram():
    readme = (ROOT / "README.md").read_text()
    committed = (ROOT / "diagrams" / "machine.mmd").read_text()
    assert "```mermaid\n" + committed + "```" in readme


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make sandbox" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()

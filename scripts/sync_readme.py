"""Copy the generated Mermaid diagram and the state descriptions into README.md.

Run by `make diagrams`; tests/test_readme.py fails while README.md is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fsm_distributor.tools.diagram import build_model, to_mermaid  # noqa: E402
from fsm_distributor.states import DESCRIPTIONS  # noqa: E402

MERMAID = re.compile(r"(```mermaid\n).*?(```)", re.S)
STATES = re.compile(r"(<!-- states: [^\n]*-->\n)(?:\|[^\n]*\n)*")


def states_table() -> str:
    return "| state | what its action does |\n|---|---|\n" + "".join(f"| `{state}` | {text.replace('|', chr(92) + '|')} |\n" for state, text in DESCRIPTIONS.items())


def synced(readme: str) -> str:
    readme = MERMAID.sub(lambda m: m.group(1) + to_mermaid(build_model()) + m.group(2), readme, count=1)
    return STATES.sub(lambda m: m.group(1) + states_table(), readme, count=1)


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = synced(text)
    if new != text:
        path.write_text(new)
        print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Developer entry points.  Each target is a thin wrapper over a Python
# command, so CI and a shell without make can run the same thing.
PYTHON ?= python3

.PHONY: setup test sandbox diagrams

# Install monero + graphviz (apt) and the package with its test tools (pip); idempotent.
setup:
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh

# The whole test suite, regtest tests included (they start real monerod/wallet-rpc).
test: setup
	$(PYTHON) -m pytest -q

# The main job: a local regtest network with the agent distributing real coins.
sandbox: setup
	$(PYTHON) -m fsm_distributor sandbox --miners 2 --users 8 --transactions 20

# Redraw diagrams/ from states.TRANSITIONS (svg needs Debian's graphviz) and README's copy;
# tests/test_diagram.py and tests/test_readme.py fail until the committed files match.
diagrams:
	$(PYTHON) -m fsm_distributor.diagram --write-all diagrams
	$(PYTHON) scripts/sync_readme.py

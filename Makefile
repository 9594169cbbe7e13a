# Developer entry points.  Each target is a thin wrapper over a Python
# command, so CI and a shell without make can run the same thing.
PYTHON ?= python3

.PHONY: setup test sandbox diagrams

# Install monero + graphviz + faketime (apt) and the package with its test tools (pip); idempotent.
setup:
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh

# The whole test suite, regtest tests included (they start real monerod/wallet-rpc).
test: setup
	$(PYTHON) -m pytest -q

# The main job: a local regtest network with the agent distributing real coins.
# `make sandbox SCENARIO=FILE.yaml` runs a Monerosim scenario file instead of the default network.
SCENARIO ?=
sandbox: setup
	$(PYTHON) -m fsm_distributor sandbox $(if $(SCENARIO),--scenario $(SCENARIO),--miners 2 --users 8 --transactions 20)

# Redraw diagrams/ from states.TRANSITIONS (svg needs Debian's graphviz) and README's copy;
# tests/test_diagram.py and tests/test_readme.py fail until the committed files match.
diagrams:
	$(PYTHON) -m fsm_distributor.tools.diagram --write-all diagrams
	$(PYTHON) scripts/sync_readme.py
	for d in diagrams/examples/*/; do \
	  $(PYTHON) -m fsm_distributor diagram --trace $$d/agent.log --format svg --out $$d/trace.svg > $$d/trace.txt && \
	  $(PYTHON) -m fsm_distributor diagram --trace $$d/agent.log --format mermaid --out $$d/trace.mmd > /dev/null; \
	done

# Benchmarks (bench/): cycle overhead, throughput against the wallet (regtest), discovery at
# 1k/10k/100k agents, start-up and memory, recording cost, funding 1,000 recipients (regtest),
# daemon reads per payment;
# rewrites docs/benchmarks.md. About 12 minutes on 2 cores; `python3 -m bench --only N` runs one part.
.PHONY: bench
bench: setup
	$(PYTHON) -m bench

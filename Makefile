# Developer entry points.  Each target is a thin wrapper over a Python
# command, so CI and a shell without make can run the same thing.
PYTHON ?= python

.PHONY: diagrams

# Redraw diagrams/ from states.TRANSITIONS (svg needs Debian's graphviz);
# tests/test_diagram.py fails until the committed files match.
diagrams:
	$(PYTHON) -m fsm_distributor.diagram --write-all diagrams

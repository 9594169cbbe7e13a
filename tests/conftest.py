import os
import sys

import pytest
import structlog

sys.path.insert(0, os.path.dirname(__file__))

from fsm_distributor import logs  # noqa: E402

# The agent's own JSON set-up, written nowhere: tests read logs with capture_logs().
logs.configure("DEBUG", stream=open(os.devnull, "w"))


@pytest.fixture(autouse=True)
def _fresh_log_context():
    """Each test starts without context bound by an earlier one."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()

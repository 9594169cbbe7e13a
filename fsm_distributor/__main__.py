"""`python3 -m fsm_distributor` and `python3 fsm_distributor` (Monerosim's non-dotted form).

Run as a directory, this file is a plain script: sys.path[0] is then the
package directory itself, whose module names must not shadow anything, so
it is replaced by the directory that holds the package.
"""

import os
import signal
import sys


def _stopped_while_starting(_signum, _frame):
    """SIGTERM/SIGINT during the imports below: nothing has started yet (early_signals says why)."""
    os._exit(0)


for _signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT first: see early_signals.SIGNALS
    signal.signal(_signum, _stopped_while_starting)

if not __package__:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, os.path.dirname(here))

from fsm_distributor.cli import main  # noqa: E402  (absolute import: works both ways)

if __name__ == "__main__":
    sys.exit(main())

"""fsm_distributor: a Monerosim distributor agent as an explicit finite-state machine.

`python3 -m fsm_distributor[.cli]` imports this package before anything
else of ours: the earliest moment a SIGTERM/SIGINT can be handled
(`early_signals`).  Imported any other way, this does nothing.
"""

import sys as _sys

if _sys.argv[:1] == ["-m"]:
    from fsm_distributor import early_signals as _early_signals

    if _early_signals.started_as_agent(_sys.argv, getattr(_sys, "orig_argv", ())):
        _early_signals.install()

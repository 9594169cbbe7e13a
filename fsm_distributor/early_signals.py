"""SIGTERM/SIGINT while the agent starts: exit 0 at once, without a line or a traceback.

Shadow (or a person) may stop an agent at any moment, also while Python is
still importing numpy.  Until the run loop installs its own handler
(`cli.SignalStop`) nothing has been started that needs finishing, so the
process simply ends with status 0 (`os._exit`: an exception raised from a
handler could land in an import, a `finally` or a `__del__` and become a
traceback, or be swallowed).  Both of Monerosim's entry points install this
as their first act: `python3 -m fsm_distributor[.cli]` through the
package's `__init__` (imported first by `-m`), `python3 fsm_distributor`
through `__main__.py`.  This module imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
from typing import Optional, Sequence

#: The modules whose `python3 -m` start is the agent.
AGENT_MODULES = frozenset({"fsm_distributor", "fsm_distributor.__main__", "fsm_distributor.cli"})
#: SIGINT first: Python already catches it (KeyboardInterrupt), so until ours replaces that handler a
#: SIGINT would become a traceback; once SIGTERM (which nothing else catches) is ours, so is SIGINT.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_now(_signum, _frame) -> None:
    os._exit(0)


def install() -> None:
    for signum in SIGNALS:
        signal.signal(signum, _exit_now)


def restore() -> None:
    """Python's defaults again, for a subcommand (sandbox, regtest) that cleans up after itself."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def ignore() -> None:
    """For the last moments of the process: the stop is under way, further signals change nothing.

    Needed because the interpreter's finalisation puts SIG_DFL back for every
    signal that has a Python handler (it leaves SIG_IGN alone), so a signal
    of a storm arriving then would kill the process (status -15)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


#: Interpreter options that take the next argument as their value.
_OPTIONS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})


def module_run(orig_argv: Sequence[str]) -> Optional[str]:
    """The module of `python3 [options] -m MODULE ...` (`sys.orig_argv`), else None."""
    args = list(orig_argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-m":
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("-m"):
            return arg[2:]
        if not arg.startswith("-") or arg == "-c" or arg == "-":
            return None  # a script, a command or stdin: not a module run
        i += 2 if arg in _OPTIONS_WITH_VALUE else 1
    return None


def started_as_agent(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """True while `python3 -m fsm_distributor[.cli]` imports the package (runpy sets
    argv[0] to '-m' until the module itself runs)."""
    return argv[:1] == ["-m"] and module_run(orig_argv) in AGENT_MODULES

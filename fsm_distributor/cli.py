"""Command line: the Monerosim user-script interface, plus the project's subcommands.

`python3 -m fsm_distributor --id X --shared-dir D --log-level DEBUG
--attributes KEY VALUE ...` runs the agent exactly as Monerosim's wrapper
scripts start a user script; every flag Monerosim may pass is accepted.
`fsm-distributor sandbox|regtest|diagram|schedule ...` run the project's tools.
"""

from __future__ import annotations

if __name__ == "__main__":  # `python3 -m fsm_distributor.cli`: handle signals before the imports below
    from fsm_distributor import early_signals as _early_signals

    _early_signals.install()

import argparse
import hashlib
import importlib
import os
import signal
import sys
import time
from typing import Optional, Sequence

import numpy as np

from fsm_distributor import early_signals

from fsm_distributor.adapters import logs
from fsm_distributor.core.config import Config, ConfigError, attributes_from, load_config, validate_agent_id
from fsm_distributor.adapters.clock import SystemClock
from fsm_distributor.core.context import Deps, no_checkpoint
from fsm_distributor.adapters.daemon import DaemonPool
from fsm_distributor.adapters.instance_lock import InstanceLock, LockRefused
from fsm_distributor.adapters.journal import Journal
from fsm_distributor.adapters.ledger import StatusFiles, TransactionLedger
from fsm_distributor.adapters.multisig import SignerPool
from fsm_distributor.machine import Distributor
from fsm_distributor.adapters.registry import RegistryReader
from fsm_distributor.adapters.schedule_file import open_schedule
from fsm_distributor.adapters.shared_state import SharedDir
from fsm_distributor.adapters.wallet import WalletPool

SUBCOMMANDS = {
    "sandbox": "fsm_distributor.tools.sandbox",
    "regtest": "fsm_distributor.tools.regtest",
    "diagram": "fsm_distributor.tools.diagram",
    "schedule": "fsm_distributor.tools.schedule_check",  # issue 12: `schedule --check FILE`
}
DEFAULT_SHARED_DIR = "/tmp/monerosim_shared"
DEFAULT_SEED = 12345
EXIT_CONFIG = 2
#: Test-only: "PHASE[:N]" makes the process SIGKILL itself the N-th time it passes PHASE
#: (after_build, after_journal, after_relay, after_record; a treasury's (issue 13): after_setup_round_R,
#: after_txset_build, after_txset_journal, after_txset_sign, after_signed_journal, after_submit), to
#: prove crash safety.
CRASH_ENV = "FSM_DISTRIBUTOR_CRASH_AT"


def agent_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fsm-distributor",
        description="Distribute XMR from miner wallets to the other agents of a Monerosim run "
                    "(a drop-in for agents.miner_distributor). Subcommands: "
                    + ", ".join(SUBCOMMANDS) + " (try '<subcommand> --help').")
    p.add_argument("--id", required=True, help="this agent's id in agent_registry.json")
    p.add_argument("--shared-dir", help=f"Monerosim's shared dir (default $MONEROSIM_SHARED_DIR, "
                   f"then {DEFAULT_SHARED_DIR})")
    p.add_argument("--rpc-host", default="127.0.0.1", help="this agent's host (unused: wallets come "
                   "from the registry)")
    p.add_argument("--log-level", default=os.environ.get("MONEROSIM_LOG_LEVEL", "INFO"),
                   type=str.upper, choices=sorted(logs.LEVELS))
    p.add_argument("--log-format", default="json", choices=("json", "console"),
                   help="json: one JSON object per line (default); console: for people")
    p.add_argument("--attributes", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="one agent attribute; repeat once per attribute")
    p.add_argument("--tx-frequency", type=float, help="Monerosim's transaction_interval; used as "
                   "transaction_frequency when that attribute is absent")
    # Accepted because Monerosim may pass them; the distributor finds wallets through the registry.
    for flag in ("--daemon-rpc-port", "--agent-rpc-port", "--wallet-rpc-port", "--p2p-port", "--hash-rate"):
        p.add_argument(flag, type=int, help=argparse.SUPPRESS)
    for flag in ("--remote-daemon", "--daemon-selection-strategy", "--stop-time"):
        p.add_argument(flag, help=argparse.SUPPRESS)
    return p


def rng_seed(simulation_seed: int, agent_id: str) -> int:
    """Monerosim's convention: SIMULATION_SEED + sha256(agent id) mod 2**31."""
    return simulation_seed + int(hashlib.sha256(agent_id.encode()).hexdigest(), 16) % 2**31


def crash_hook(spec: str):
    if not spec:
        return no_checkpoint
    phase, _, nth = spec.partition(":")
    target = int(nth or 1)
    seen = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == phase:
            seen["n"] += 1
            if seen["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)
    return checkpoint


def simulation_seed(environ: dict) -> int:
    raw = environ.get("SIMULATION_SEED", str(DEFAULT_SEED))
    try:
        seed = int(raw)
    except ValueError:
        seed = -1
    if seed < 0:  # numpy's default_rng refuses a negative seed: the agent would crash
        raise ConfigError("SIMULATION_SEED", raw, "an integer >= 0 (environment variable)")
    return seed


def shared_dir_of(args: argparse.Namespace, environ: dict) -> str:
    return str(args.shared_dir or environ.get("MONEROSIM_SHARED_DIR") or DEFAULT_SHARED_DIR)


def build_agent(args: argparse.Namespace, environ: dict[str, str]) -> tuple[Distributor, Config, WalletPool]:
    """Parse and validate everything; raises ConfigError before anything runs."""
    validate_agent_id(args.id)
    attributes = attributes_from(args.attributes)
    if args.tx_frequency is not None and "transaction_frequency" not in attributes:
        attributes["transaction_frequency"] = str(args.tx_frequency)
    config = load_config(attributes)
    seed = rng_seed(simulation_seed(environ), args.id)
    shared = SharedDir(shared_dir_of(args, environ))
    schedule = open_schedule(config.schedule, shared.path)  # a bad schedule file: refused now (issue 12)
    wallets = WalletPool()
    deps = Deps(
        config=config,
        agent_id=args.id,
        registry=RegistryReader(shared),
        wallets=wallets,
        daemons=DaemonPool(),
        ledger=TransactionLedger(shared, args.id),
        journal=Journal(shared, args.id),
        status=StatusFiles(shared),
        clock=SystemClock(),
        rng=np.random.default_rng(seed),
        log=logs.get_logger(agent_id=args.id),
        checkpoint=crash_hook(environ.get(CRASH_ENV, "")),
        signers=SignerPool(wallets),
        schedule=schedule,
    )
    return Distributor(deps), config, wallets


class _Wakeup(Exception):
    """Raised by the signal handler only while the run loop sleeps, to end the sleep."""


class SignalStop:
    """SIGTERM/SIGINT: ask the machine to stop; cut short a sleep, never an RPC call.

    Storm-safe: the handler only sets flags, and raises `_Wakeup` at most once
    per sleep (it clears `sleeping` itself first), so a burst of signals ends
    one sleep and is otherwise absorbed.  `_Wakeup` can only come out of
    `sleep()`, which only the run loop calls, inside run_agent's handler.
    """

    def __init__(self, distributor: Distributor):
        self.distributor = distributor
        self.sleeping = False

    def install(self) -> None:
        for signum in early_signals.SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.distributor.request_stop()
        if self.sleeping:
            self.sleeping = False
            raise _Wakeup()

    def sleep(self, seconds: float) -> None:
        self.sleeping = True  # before the check: a signal after it raises, one before it is seen
        try:
            if not self.distributor.stop_requested:
                time.sleep(seconds)
        except _Wakeup:
            pass
        finally:
            self.sleeping = False


def run_agent(argv: Sequence[str], environ: Optional[dict] = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    args = agent_parser().parse_args(argv)
    output = logs.configure(args.log_level, console=args.log_format == "console")
    output.context["agent_id"] = args.id
    try:
        distributor, config, wallets = build_agent(args, environ)
    except ConfigError as exc:
        logs.say(f"fsm_distributor: invalid configuration: {exc}")
        return EXIT_CONFIG
    shared_dir = shared_dir_of(args, environ)
    try:
        instance = InstanceLock.acquire(shared_dir, args.id)  # held until the process ends
    except LockRefused as exc:
        logs.say(f"fsm_distributor: refusing to start: {exc}")
        return EXIT_CONFIG
    log = distributor.deps.log
    stopper = SignalStop(distributor)
    stopper.install()
    log.info("agent_started", message=f"Distributor {args.id} started", pid=os.getpid(),
             shared_dir=shared_dir, lock=str(instance.path),
             config={k: v for k, v in vars(config).items() if k != "ignored"})
    for key in sorted(config.ignored):
        log.debug("attribute_ignored", message=f"Attribute {key} is not used by this agent")
    while not distributor.stopped:
        try:
            distributor.run(sleep=stopper.sleep)
        except _Wakeup:  # the signal landed between the sleep and its bookkeeping
            continue
    early_signals.ignore()  # stopping: a storm's later signals must not kill the exit (status -15)
    mem = distributor.mem
    log.info("agent_stopped", message=f"Distributor {args.id} stopped", sent=mem.sent,
             recorded=mem.recorded, failed=mem.failed, open_intents=len(mem.open_intents()))
    wallets.close()
    daemons = distributor.deps.daemons
    if isinstance(daemons, DaemonPool):
        daemons.close()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        early_signals.restore()  # the tools clean up on KeyboardInterrupt / their own handlers
        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    return run_agent(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Golden decision logs: what the machine decides, as text, for fixed inputs.

Each scenario builds the fakes with a fixed seed, registry and scripted
wallet answers, drives the real machine, and writes one line per transition
(state, trigger, destination, delay and the bound context: miner, recipient,
amount, attempt, tx) followed by what the wallets sent and what was recorded.
A change that moves code without changing behaviour must leave every log
byte-identical (tests/test_golden.py); regenerate them only for a change of
behaviour, on purpose:

    python3 tests/golden/decisions.py --write
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import structlog
from structlog.testing import LogCapture

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]  # this checkout's package, and tests/ for fakes

from fakes import XMR, FakeJournal, make_world, rpc_error, transfer_error  # noqa: E402
from fsm_distributor.core.intent import Intent  # noqa: E402

CONTEXT = ("cycle", "purpose", "miner", "recipient", "amount", "attempt", "tx_hash", "schedule_id", "occurrence")


@contextmanager
def transitions() -> Iterator[list[dict]]:
    """Every log event with the bound context merged in (the same lists `capture_logs` swaps)."""
    capture = LogCapture()
    processors = structlog.get_config()["processors"]
    saved = processors.copy()
    processors.clear()
    processors.extend([structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture.entries
    finally:
        processors.clear()
        processors.extend(saved)


def _line(event: dict) -> str:
    # A batch cycle's `amount` is no decision (the balance it asks for is derived from the config).
    shown = [k for k in CONTEXT if k in event
             and not (k == "amount" and event.get("purpose") not in ("distribution", "scheduled"))]
    context = " ".join(f"{k}={str(event[k])[:16]}" for k in shown)
    return f"{event['from']} -{event['trigger']}-> {event['to']} delay={event['delay']:.3f} {context}".rstrip()


def _outcome(world) -> list[str]:
    lines = ["-- sent"]
    for wallet, tx in world.wallets.all_sent():
        owner = next(name for name, w in {**world.miners, **world.users}.items() if w is wallet)
        outputs = ", ".join(f"{next((u for u, w in world.users.items() if w.address == a), a[:8])}:{n}"
                            for a, n in tx.destinations)
        lines.append(f"{owner} {tx.tx_hash[:16]} p{tx.priority} [{outputs}]")
    lines.append("-- records")
    for r in world.ledger.records:
        lines.append(f"{r['tx_hash'][:16]} {r['sender_id']}->{r['recipient_id']} {r['amount_atomic']} "
                     f"{r.get('purpose')} {r.get('status')} h{r.get('height', '-')} t{r['timestamp']:.3f}"
                     + (f" {r['schedule_id']}#{r['occurrence']} unlock={r.get('unlock_time', 0)}"
                        if "schedule_id" in r else ""))
    lines.append("-- journal")
    for tx_hash, intent in sorted(world.journal.intents.items()):
        lines.append(f"{tx_hash[:16]} {intent.status} {intent.purpose} {intent.miner} attempts={intent.attempts}")
    return lines


def run(world, steps: int, *, sleep: bool = True) -> None:
    """`steps` steps, sleeping through each wait like the run loop."""
    for _ in range(steps):
        result = world.step()
        if sleep and result.delay > 0:
            world.clock.sleep(result.delay)


def single_payments() -> object:
    world = make_world({"transaction_frequency": "60", "verification_interval": "600"}, users=5, seed=11)
    run(world, 120)
    return world


def round_robin_and_balance() -> object:
    world = make_world({"recipient_selection": "round_robin", "miner_selection_strategy": "balance",
                        "transaction_frequency": "30", "verification_interval": "600"}, users=4, seed=12)
    world.miners["m2"].unlocked = world.miners["m2"].total = 150 * XMR
    run(world, 90)
    return world


def batch_funding() -> object:
    world = make_world({"initial_funding": "true", "md_n_recipients": "8", "md_out_per_tx": "2",
                        "md_output_amount": "5", "md_funding_cycle_interval": "300", "verification_interval": "600",
                        "distribution_mode": "funding_cycle"},
                       users=20, seed=13, unlocked=80 * XMR)
    run(world, 60)  # each miner funds a batch, then neither can pay the third: wait
    for wallet in world.miners.values():  # blocks unlocked more coins
        wallet.unlocked = wallet.total = 500 * XMR
    run(world, 100)  # the rest of initial funding, then a funding cycle
    return world


def retries() -> object:
    world = make_world({"transaction_frequency": "10", "verification_interval": "600", "max_retries": "3"},
                       users=3, seed=14, user_addresses="wallet")
    m1, m2 = world.miners["m1"], world.miners["m2"]
    for wallet in (m1, m2):
        wallet.fail_next("transfer", transfer_error("transient"), transfer_error("daemon"), None,
                         transfer_error("locked"), transfer_error("broke"), None,
                         rpc_error(-4, "transaction was rejected by daemon"), None,
                         transfer_error("too_large"), transfer_error("transient"), transfer_error("transient"),
                         transfer_error("transient"))
    m1.fail_next("get_balance", None, transfer_error("transient"))
    world.users["u2"].down = True
    run(world, 160)
    return world


def recovery_after_crash() -> object:
    world = make_world({"transaction_frequency": "20", "verification_interval": "600"}, users=2, seed=15,
                       recovered=False, journal=FakeJournal())
    miner, user = world.miners["m1"], world.users["u1"]
    built = [miner.transfer([(user.address, (n + 1) * XMR)], priority=1, do_not_relay=True) for n in range(3)]
    miner.relay_tx(built[1].tx_metadata)
    miner.relay_tx(built[2].tx_metadata)
    statuses = ("built", "built", "relayed")
    for n, (b, status) in enumerate(zip(built, statuses)):
        world.journal.intents[b.tx_hash] = Intent(
            tx_hash=b.tx_hash, miner="m1", miner_endpoint=("127.0.0.1", 28001),
            destinations=(("u1", user.address, (n + 1) * XMR),), fee=b.fee, status=status,
            tx_metadata=b.tx_metadata if status == "built" else "", priority=1, created_at=1.0, updated_at=2.0)
    miner.fail_next("relay_tx", transfer_error("transient"))
    run(world, 60)
    return world


def verification() -> object:
    world = make_world({"transaction_frequency": "5", "verification_interval": "10"}, users=3, seed=16)
    run(world, 30)
    hashes = [r["tx_hash"] for r in world.ledger.records]
    daemon = world.daemons["m1"] if "m1" in world.daemons else None
    world.miners["m1"].confirm_all(height=130, confirmations=2)
    world.miners["m2"].confirm_all(height=131, confirmations=1)
    if daemon is not None and len(hashes) > 2:
        world.miners["m1"].forget(hashes[-1])
        world.miners["m2"].forget(hashes[-1])
    run(world, 60)
    return world


# -- scheduled payments (issue 12) ----------------------------------------------------------------


def scheduled() -> object:
    """A one-off from a named miner that first has nothing unlocked (it waits) and is time-locked, a
    recurring round-robin entry with a drawn amount, an unknown recipient, and single payments between."""
    entries = [{"id": "once", "at": "45s", "to": "u2", "amount": "2.5", "from": "m2", "unlock_after_blocks": 20},
               {"id": "tick", "every": "20s", "count": 4, "to": "round_robin", "amount": "0.1-0.3"},
               {"id": "ghost", "at": "10s", "to": "u9", "amount": "1"}]
    world = make_world({"schedule": json.dumps(entries), "transaction_frequency": "60",
                        "verification_interval": "600"}, users=3, seed=17)
    world.miners["m2"].unlocked = 0
    start = world.clock.now
    while world.clock.now < start + 75:  # once#1 (at 45 s) waits for m2: it is never paid by m1
        run(world, 1)
    world.miners["m2"].unlocked = world.miners["m2"].total = 100 * XMR
    run(world, 40)
    return world


SCENARIOS: dict[str, Callable[[], object]] = {
    "single_payments": single_payments,
    "round_robin_and_balance": round_robin_and_balance,
    "batch_funding": batch_funding,
    "retries": retries,
    "recovery_after_crash": recovery_after_crash,
    "verification": verification,
    "scheduled": scheduled,  # issue 12
}


def decision_log(name: str) -> str:
    """The golden text of scenario `name`."""
    structlog.contextvars.clear_contextvars()
    with transitions() as events:
        world = SCENARIOS[name]()
    lines = [_line(e) for e in events if e.get("event") == "transition"]
    structlog.contextvars.clear_contextvars()
    return "\n".join(lines + _outcome(world)) + "\n"


def path_of(name: str) -> Path:
    return HERE / f"{name}.log"


if __name__ == "__main__":
    from fsm_distributor.adapters import logs  # noqa: E402
    import os  # noqa: E402

    logs.configure("DEBUG", stream=open(os.devnull, "w"))
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python3 tests/golden/decisions.py --write")
    for scenario in SCENARIOS:
        path_of(scenario).write_text(decision_log(scenario))
        print(f"wrote {path_of(scenario).relative_to(HERE.parent.parent)}")

"""7. Network-aware distribution (issue 11): daemon calls per payment in steady state.

Target: at most one read of the miner's monerod per new block, no daemon call within a block.
The real machine runs over the project's fakes (tests/fakes.py) on a simulated clock, with
Monerosim's pace: a block every 120 s, a payment every `transaction_frequency` seconds, the pool
holding others' transactions.  Every call the FakeDaemon answers is counted per payment cycle;
the regtest module tests/regtest/test_network_aware.py prints the same figures from a real run's
log (`network_conditions.daemon_calls`).

Self-contained (it imports nothing else of bench/): `python3 -m bench.b7_network` prints the
figures as JSON; `measure()` returns them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (str(ROOT), str(ROOT / "tests")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

#: The reads of ReadingNetwork; Verifying's own look-ups (locate, key images, height) are counted apart.
NETWORK_CALLS = frozenset({"get_info", "get_transaction_pool_stats", "get_fee_estimate", "get_last_block_header"})


def measure(payments: int = 600, block_seconds: int = 120, frequency: int = 60, pool_kb: float = 450.0) -> dict:
    """Run `payments` single payments with pool_aware fees; count the daemon calls of each cycle."""
    from fakes import make_world
    from fsm_distributor.adapters import logs

    logs.configure("WARNING", stream=open(os.devnull, "w"))
    world = make_world({"fee_strategy": "pool_aware", "max_pool_kb": "5000", "transaction_frequency": str(frequency),
                        "verification_interval": "600"}, users=8, weights=(100,), unlocked=10**9 * 10**12)
    daemon = world.daemons["m1"]
    daemon.fill(pool_kb)
    start = world.clock.now
    per_cycle: list[tuple[bool, int]] = []  # (a new block since the last payment, daemon calls)
    seen_height = daemon.height_now
    while len(per_cycle) < payments:
        blocks_due = int((world.clock.now - start) // block_seconds) + 100 - daemon.height_now
        if blocks_due > 0:
            daemon.mine(blocks_due)  # own transactions into a block; others' stay (a full pool)
        before = sum(1 for c in daemon.calls if c in NETWORK_CALLS)
        sent = len(world.miners["m1"].sent)
        world.cycle()
        assert len(world.miners["m1"].sent) == sent + 1, "every cycle pays once"
        calls = sum(1 for c in daemon.calls if c in NETWORK_CALLS) - before
        per_cycle.append((daemon.height_now != seen_height, calls))
        seen_height = daemon.height_now
    verification = sum(1 for c in daemon.calls if c not in NETWORK_CALLS)
    steady = per_cycle[1:]  # the first payment reads the network cold
    new_block = [c for fresh, c in steady if fresh]
    within = [c for fresh, c in steady if not fresh]
    blocks = daemon.height_now - 100
    first = per_cycle[0][1]
    return {
        "payments": payments, "blocks": blocks, "block_seconds": block_seconds, "frequency_s": frequency,
        "pool_kb": pool_kb,
        "first_payment_calls": first,
        "calls_per_payment": sum(c for _, c in steady) / len(steady),
        "reads_per_new_block": sum(1 for c in new_block if c) / max(1, len(new_block)),
        "calls_per_new_block": sum(new_block) / max(1, len(new_block)),
        "calls_within_a_block_max": max(within, default=0),
        "payments_within_a_block": len(within),
        "verification_calls_per_payment": verification / payments,
        "target": "<= 1 read per new block, 0 calls within a block",
        "met": all(c == 0 for c in within) and all(c <= 4 for c in new_block)
        and sum(1 for c in new_block if c) <= len(new_block),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))

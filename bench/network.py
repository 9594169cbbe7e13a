"""7. Network reads: daemon calls per payment in steady state (issue 11).

Target: at most one read of the miner's monerod per new block, no daemon call within a block.
The real machine runs over the project's fakes (tests/fakes.py) on a simulated clock, with
Monerosim's pace: a block every 120 s, a payment every `transaction_frequency` seconds (60), the
pool holding 450 kB of others' transactions, `fee_strategy pool_aware`.  Every call the fake
daemon answers is counted per payment cycle; the regtest module tests/regtest/test_network_aware.py
prints the same figures from a real run's log (`network_conditions.daemon_calls`).
`python3 -m bench.network` prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import sys

from bench.common import PROJECT_ROOT, Figures, row

if str(PROJECT_ROOT / "tests") not in sys.path:  # tests/fakes.py
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))

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


def run(quick: bool) -> dict:
    m = measure(payments=120 if quick else 600)
    f = Figures()
    per_payment = f.add("7.calls_per_payment", "Network reads per payment, steady state (daemon calls)",
                        m["calls_per_payment"], "")
    per_block = f.add("7.calls_per_new_block", "Network reads in the first payment after a new block (daemon calls)",
                      m["calls_per_new_block"], "")
    within = f.add("7.calls_within_a_block", "Most network reads in a payment within the same block (daemon calls)",
                   m["calls_within_a_block_max"], "")
    f.add("7.verification_calls", "Verifying's own daemon calls per payment", m["verification_calls_per_payment"], "")
    return {"figures": f, "rows": [
        row("7", f"Network reads per payment, {m['payments']} payments over {m['blocks']} blocks (a payment every "
            f"{m['frequency_s']} s, a block every {m['block_seconds']} s, pool_aware fees)",
            "≤ 1 read per new block, 0 calls within a block",
            f"{per_payment:.2f} calls per payment; {per_block:.1f} calls (one read) after a new block, at most {within:.0f} within one",
            "", "", m["met"],
            why="A daemon call within a block, or more than one read per block, means ReadingNetwork's cheap "
                "height check no longer holds the read back.")],
        "tables": [{"title": "7. Daemon calls", "headers": ["Figure", "Value"], "rows": [
            ["Payments (the first reads the network cold)", m["payments"]],
            ["Calls of the first payment", m["first_payment_calls"]],
            ["Payments within a block (no new height)", m["payments_within_a_block"]],
            ["Share of new blocks that caused a read", f"{m['reads_per_new_block']:.2f}"],
            ["Verifying's calls per payment (locate, key images, height)",
             f"{m['verification_calls_per_payment']:.2f}"]]}]}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))

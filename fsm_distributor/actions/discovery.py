"""Discovering: read the registries and keep the miners that have a wallet."""

from __future__ import annotations

from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle
from fsm_distributor.core.errors import StoreError
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.registry import Snapshot
from fsm_distributor.states import Outcome, Trigger


def discover(deps: Deps, mem: Memory, cycle: Cycle) -> Outcome:
    """Registry trouble is normal early in a run: log it, go back to Idle, retry later."""
    wait = deps.config.balance_check_interval
    try:
        snapshot, changed = deps.registry.read()
    except StoreError as exc:
        deps.log.warning("registry_unavailable", message=f"Registry not usable, retrying in {wait:g}s: {exc}")
        return Outcome(Trigger.REGISTRY_UNAVAILABLE, delay=wait)
    mem.snapshot = snapshot
    if changed or mem.registry_unreported:
        mem.registry_unreported = False
        _report(deps, snapshot)
    usable = [m for m in snapshot.miners if m.endpoint]
    if not usable:
        deps.log.warning("no_miners", message=f"No miner with a wallet endpoint in the registry; "
                         f"retrying in {wait:g}s")
        return Outcome(Trigger.NO_MINERS, delay=wait)
    return Outcome(Trigger.DISCOVERED, data=cycle)


def _report(deps: Deps, snapshot: Snapshot) -> None:
    """The problems of a new read (the first few per file, then how many more), and what it holds."""
    for problem in snapshot.problems:
        deps.log.warning("registry_problem", message=problem)
    shown = {name: sum(p.startswith(f"{name}:") for p in snapshot.problems) for name, _ in snapshot.problem_totals}
    for name, total in snapshot.problem_totals:
        if total > shown[name]:
            deps.log.warning("registry_problems_truncated", message=f"{name}: {total - shown[name]} more "
                             f"problems not shown ({total} in all)", file=name, total=total, shown=shown[name])
    deps.log.info("registry_loaded", message=f"Discovered {len(snapshot.miners)} miners "
                  f"and {len(snapshot.agents)} agents", miners=len(snapshot.miners),
                  agents=len(snapshot.agents))

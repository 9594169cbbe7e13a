"""Discovering: read the registries and keep the miners that have a wallet."""

from __future__ import annotations

from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.registry import RegistryError
from fsm_distributor.shared_state import SharedStateError


def discover(deps: Deps, ctx: Context) -> Outcome:
    """Registry trouble is normal early in a run: log it, go back to Idle, retry later."""
    wait = deps.config.balance_check_interval
    try:
        snapshot, changed = deps.registry.read()
    except (RegistryError, SharedStateError, OSError) as exc:
        deps.log.warning("registry_unavailable", message=f"Registry not usable, retrying in {wait:g}s: {exc}")
        return Outcome("registry_unavailable", delay=wait)
    ctx.snapshot = snapshot
    if changed or ctx.registry_unreported:
        ctx.registry_unreported = False
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
    usable = [m for m in snapshot.miners if m.endpoint]
    if not usable:
        deps.log.warning("no_miners", message=f"No miner with a wallet endpoint in the registry; "
                         f"retrying in {wait:g}s")
        return Outcome("no_miners", delay=wait)
    return Outcome("discovered")

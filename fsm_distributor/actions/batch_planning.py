"""PlanningBatch: choose who a funding transaction pays, shrunk to what the miner can pay."""

from __future__ import annotations

from fsm_distributor import funding
from fsm_distributor.actions.recipient_selection import resolve_address
from fsm_distributor.amounts import format_xmr
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.journal import BUILT
from fsm_distributor.registry import Agent
from fsm_distributor.shared_state import SharedStateError

INITIAL, CYCLE = "initial_funding", "funding_cycle"


def fundable(deps: Deps, ctx: Context) -> list[Agent]:
    """Agents marked can_receive_distributions that have a wallet, other than this agent
    (registry order; the snapshot works the list out once per registry change)."""
    agents = ctx.snapshot.receivers if ctx.snapshot else ()
    return [a for a in agents if a.id != deps.agent_id]


def plan_batch(deps: Deps, ctx: Context) -> Outcome:
    cfg = deps.config
    miner = ctx.miner
    assert miner is not None, "PlanningBatch without a miner"
    paid = ctx.paid_recipients(INITIAL)
    pending = {r for i in ctx.open_intents() if i.status == BUILT for r in i.recipients}
    everyone = fundable(deps, ctx)
    if ctx.purpose == INITIAL:
        todo = [a for a in everyone if a.id not in paid and a.id not in ctx.permanently_failed]
        if not todo:
            finish_initial_funding(deps, ctx, completed=True)
            return Outcome("funding_complete")
        waiting = [a for a in todo if a.id not in pending]
    else:
        waiting = _rotation(ctx, [a for a in everyone if a.id in paid])
    candidates = [a for a in waiting if a.id != miner.agent_id and a.id not in ctx.excluded_recipients]
    balance = ctx.balances.get(miner.agent_id)
    room = funding.affordable(cfg, balance.unlocked if balance else 0)
    if room == 0:
        ctx.excluded_miners.add(miner.agent_id)
        deps.log.info("batch_unaffordable", message=f"Miner {miner.agent_id} cannot fund even one recipient "
                      f"({format_xmr(funding.cost_per_recipient(cfg))} XMR + fee reserve)")
        return Outcome("batch_unaffordable")
    chosen = _resolve(deps, ctx, candidates, room)
    if not chosen:
        wait = cfg.balance_check_interval
        deps.log.info("nothing_to_fund", message=f"No recipient can be funded now ({len(candidates)} waiting, "
                      f"{len(pending)} pending); retrying in {wait:g}s")
        return Outcome("nothing_to_fund", delay=wait)
    wanted = min(funding.recipients_per_transaction(cfg), len(candidates))
    if len(chosen) < wanted and room < wanted:
        deps.log.info("batch_shrunk", message=f"Batch shrunk to {len(chosen)} of {wanted} recipients: miner "
                      f"{miner.agent_id} has {format_xmr(balance.unlocked)} XMR unlocked")
    ctx.destinations = funding.destinations_for(cfg, chosen)
    if ctx.purpose == CYCLE and chosen:
        ctx.funding_cycle_last = chosen[-1][0]
    return Outcome("batch_planned")


def _rotation(ctx: Context, agents: list[Agent]) -> list[Agent]:
    """Funded recipients starting after the last one served (round robin across cycles)."""
    ids = [a.id for a in agents]
    if ctx.funding_cycle_last in ids:
        start = ids.index(ctx.funding_cycle_last) + 1
        return agents[start:] + agents[:start]
    return agents


def _resolve(deps: Deps, ctx: Context, candidates: list[Agent], room: int) -> list[tuple[str, str]]:
    chosen: list[tuple[str, str]] = []
    for agent in candidates:
        if len(chosen) == room:
            break
        address = resolve_address(deps, ctx, agent)
        if address is not None:
            ctx.lookup_failures.pop(agent.id, None)
            chosen.append((agent.id, address))
            continue
        ctx.excluded_recipients.add(agent.id)
        failures = ctx.lookup_failures.get(agent.id, 0) + 1
        ctx.lookup_failures[agent.id] = failures
        if failures >= funding.MAX_LOOKUP_FAILURES and ctx.purpose == INITIAL:
            ctx.permanently_failed.add(agent.id)
            deps.log.error("recipient_given_up", message=f"Giving up on funding {agent.id}: no address after "
                           f"{failures} look-ups", recipient=agent.id)
    return chosen


def finish_initial_funding(deps: Deps, ctx: Context, *, completed: bool, timed_out: bool = False) -> None:
    ctx.funding_done = True
    ctx.next_funding_at = deps.clock.time() + deps.config.funding_cycle_interval
    paid = ctx.paid_recipients(INITIAL)
    write_funding_status(deps, ctx, completed=completed, timed_out=timed_out)
    deps.log.info("initial_funding_complete" if completed else "initial_funding_abandoned",
                  message=f"Initial funding {'complete' if completed else 'stopped waiting'}: {len(paid)} funded, "
                  f"{len(ctx.permanently_failed)} given up", funded=len(paid))


def write_funding_status(deps: Deps, ctx: Context, *, completed: bool = False, timed_out: bool = False) -> None:
    """Monerosim's progress file, derived from the journal (which stays the source of truth)."""
    failed = {r for i in ctx.intents.values() if i.purpose == INITIAL and i.status == "failed" for r in i.recipients}
    paid = ctx.paid_recipients(INITIAL)
    doc = funding.status_document(funded=paid, failed=failed - set(paid), permanently_failed=ctx.permanently_failed,
                                  completed=completed, timed_out=timed_out, timestamp=deps.clock.time(),
                                  distributor_id=deps.agent_id)
    try:
        deps.status.write(funding.STATUS_FILE, doc)
    except (SharedStateError, OSError) as exc:
        deps.log.error("funding_status_unwritten", message=f"Could not write {funding.STATUS_FILE} ({exc}); "
                       f"the journal keeps the progress")

"""PlanningBatch: choose who a funding transaction pays, shrunk to what the miner can pay."""

from __future__ import annotations

from fsm_distributor.actions.shared import finish_initial_funding, resolve_address, treasury_signers
from fsm_distributor.core import funding, multisig
from fsm_distributor.core.amounts import format_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Payer, Payment
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose, Status
from fsm_distributor.core.registry import Agent, Miner
from fsm_distributor.states import Outcome, Trigger


def fundable(deps: Deps, mem: Memory) -> list[Agent]:
    """Agents marked can_receive_distributions that have a wallet, other than this agent
    (registry order; the snapshot works the list out once per registry change)."""
    agents = mem.snapshot.receivers if mem.snapshot else ()
    signers = treasury_signers(deps)  # multisig (issue 13): their wallet-rpcs serve the treasury
    return [a for a in agents if a.id != deps.agent_id and a.id not in signers]


def plan_batch(deps: Deps, mem: Memory, payer: Payer) -> Outcome:
    cfg = deps.config
    cycle, miner = payer.cycle, payer.miner
    if cycle.purpose is Purpose.TREASURY_FUNDING:
        return _treasury_batch(deps, mem, payer)
    paid = mem.paid_recipients(Purpose.INITIAL_FUNDING)
    pending = {r for i in mem.open_intents() if i.status is Status.BUILT for r in i.recipients}
    everyone = fundable(deps, mem)
    if cycle.purpose is Purpose.INITIAL_FUNDING:
        todo = [a for a in everyone if a.id not in paid and a.id not in mem.permanently_failed]
        if not todo:
            finish_initial_funding(deps, mem, completed=True)
            return Outcome(Trigger.FUNDING_COMPLETE)
        waiting = [a for a in todo if a.id not in pending]
    else:
        waiting = _rotation(mem, [a for a in everyone if a.id in paid])
    candidates = [a for a in waiting if a.id != miner.agent_id and a.id not in cycle.excluded_recipients]
    room = funding.affordable(cfg, payer.balance.unlocked)
    if room == 0:
        cycle.excluded_miners.add(miner.agent_id)
        deps.log.info("batch_unaffordable", message=f"Miner {miner.agent_id} cannot fund even one recipient "
                      f"({format_xmr(funding.cost_per_recipient(cfg))} XMR + fee reserve)")
        return Outcome(Trigger.BATCH_UNAFFORDABLE, data=cycle)
    chosen = _resolve(deps, mem, payer, candidates, room)
    if not chosen:
        wait = cfg.balance_check_interval
        deps.log.info("nothing_to_fund", message=f"No recipient can be funded now ({len(candidates)} waiting, "
                      f"{len(pending)} pending); retrying in {wait:g}s")
        return Outcome(Trigger.NOTHING_TO_FUND, delay=wait)
    wanted = min(funding.recipients_per_transaction(cfg), len(candidates))
    if len(chosen) < wanted and room < wanted:
        deps.log.info("batch_shrunk", message=f"Batch shrunk to {len(chosen)} of {wanted} recipients: miner "
                      f"{miner.agent_id} has {format_xmr(payer.balance.unlocked)} XMR unlocked")
    if cycle.purpose is Purpose.FUNDING_CYCLE:
        mem.funding_cycle_last = chosen[-1][0]
    return Outcome(Trigger.BATCH_PLANNED, data=Payment(payer, funding.destinations_for(cfg, chosen)))


def _treasury_batch(deps: Deps, mem: Memory, payer: Payer) -> Outcome:
    """multisig treasury (issue 13): the refill, `multisig_funding_amount` in several outputs."""
    setup = mem.treasury.ready()
    if setup is None:
        return Outcome(Trigger.NOTHING_TO_FUND, delay=deps.config.balance_check_interval)
    if payer.balance.unlocked < payer.cycle.need:
        payer.cycle.excluded_miners.add(payer.miner.agent_id)
        return Outcome(Trigger.BATCH_UNAFFORDABLE, data=payer.cycle)
    destinations = multisig.funding_destinations(deps.config, deps.agent_id, setup.address)
    return Outcome(Trigger.BATCH_PLANNED, data=Payment(payer, destinations))


def _rotation(mem: Memory, agents: list[Agent]) -> list[Agent]:
    """Funded recipients starting after the last one served (round robin across cycles)."""
    ids = [a.id for a in agents]
    if mem.funding_cycle_last in ids:
        start = ids.index(mem.funding_cycle_last) + 1
        return agents[start:] + agents[:start]
    return agents


def _resolve(deps: Deps, mem: Memory, payer: Payer, candidates: list[Agent], room: int) -> list[tuple[str, str]]:
    miner: Miner = payer.miner
    chosen: list[tuple[str, str]] = []
    for agent in candidates:
        if len(chosen) == room:
            break
        address = resolve_address(deps, mem, miner, agent)
        if address is not None:
            mem.lookup_failures.pop(agent.id, None)
            chosen.append((agent.id, address))
            continue
        payer.cycle.excluded_recipients.add(agent.id)
        failures = mem.lookup_failures.get(agent.id, 0) + 1
        mem.lookup_failures[agent.id] = failures
        if failures >= funding.MAX_LOOKUP_FAILURES and payer.cycle.purpose is Purpose.INITIAL_FUNDING:
            mem.permanently_failed.add(agent.id)
            deps.log.error("recipient_given_up", message=f"Giving up on funding {agent.id}: no address after "
                           f"{failures} look-ups", recipient=agent.id)
    return chosen

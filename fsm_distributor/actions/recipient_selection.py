"""SelectingRecipient: random | round_robin over agents with a wallet, then find the address."""

from __future__ import annotations

from typing import Optional, Sequence

import structlog

from fsm_distributor.address import InvalidAddress, validate_address
from fsm_distributor.context import Context, Deps, Outcome
from fsm_distributor.registry import Agent, WalletAgents
from fsm_distributor.rpc_errors import WalletError
from fsm_distributor.shared_state import SharedStateError


def eligible(deps: Deps, ctx: Context) -> Sequence[Agent]:
    """Agents with a wallet, other than this agent and the selected miner, not skipped this cycle.

    In registry order.  A view over the snapshot's agents with a wallet (worked
    out once per registry change) that skips the excluded ids: O(excluded) per
    cycle, not O(agents).
    """
    snapshot = ctx.snapshot
    if snapshot is None or ctx.miner is None:
        return ()
    excluded = {deps.agent_id, ctx.miner.agent_id} | ctx.excluded_recipients
    return WalletAgents(snapshot, excluded)


def select_recipient(deps: Deps, ctx: Context) -> Outcome:
    pool = eligible(deps, ctx)
    if not pool:
        wait = deps.config.balance_check_interval
        deps.log.warning("no_recipient", message=f"No eligible recipient; waiting {wait:g}s",
                         skipped=sorted(ctx.excluded_recipients))
        return Outcome("no_recipient", delay=wait)
    recipient = _pick(deps, ctx, pool)
    address = resolve_address(deps, ctx, recipient)
    if address is None:
        ctx.excluded_recipients.add(recipient.id)
        return Outcome("recipient_unreachable")
    ctx.set_recipient(recipient, address)
    ctx.destinations = [(recipient.id, address, ctx.amount)]
    structlog.contextvars.bind_contextvars(recipient=recipient.id)
    return Outcome("recipient_selected")


def _pick(deps: Deps, ctx: Context, pool: WalletAgents) -> Agent:
    if deps.config.recipient_strategy == "round_robin":
        return _next_after(ctx, pool)
    return pool[int(deps.rng.integers(len(pool)))]


def _next_after(ctx: Context, pool: WalletAgents) -> Agent:
    """The first eligible agent after the last one served, in registry order, wrapping.

    A cursor on the agent id (not an index) keeps the rotation fair when
    agents join, leave or are skipped.
    """
    chosen = pool.first_after(ctx.round_robin_last)
    ctx.round_robin_last = chosen.id
    return chosen


def resolve_address(deps: Deps, ctx: Context, agent: Agent) -> Optional[str]:
    """Registry entry, then {id}_user_info/_miner_info.json, then the agent's own wallet-rpc.

    Every candidate is checked in full (base58 + Keccak checksum); a bad one
    is logged and the next source is tried.  Addresses the wallet rejected
    before, or the selected miner's own, are never used.
    """
    miner = ctx.miner
    miner_address = (miner.wallet_address or ctx.address_cache.get(miner.agent_id)) if miner else None
    sources = (("registry", lambda: agent.wallet_address),
               ("info_file", lambda: deps.registry.info_address(agent.id)),
               ("cache", lambda: ctx.address_cache.get(agent.id)),
               ("wallet_rpc", lambda: _ask_wallet(deps, agent)))
    for source, lookup in sources:
        try:
            address = lookup()
        except (WalletError, SharedStateError, OSError, ValueError) as exc:
            deps.log.warning("address_lookup_failed", message=f"Failed to get address for recipient "
                             f"{agent.id} from {source}: {exc}", recipient=agent.id, source=source)
            continue
        if not address:
            continue
        try:
            validate_address(address)
        except InvalidAddress as exc:
            deps.log.warning("address_invalid", message=f"Recipient {agent.id} has an invalid address "
                             f"from {source}: {exc}", recipient=agent.id, source=source)
            continue
        if ctx.rejected_addresses.get(agent.id) == address:
            deps.log.info("address_rejected_before", message=f"Skipping {agent.id}: the wallet "
                          f"rejected its address before", recipient=agent.id)
            return None
        if miner_address and address == miner_address:
            deps.log.warning("address_is_miner", message=f"Recipient {agent.id} shares the selected "
                             f"miner's address; skipped", recipient=agent.id)
            return None
        if source == "wallet_rpc":
            ctx.address_cache[agent.id] = address
        return address
    deps.log.warning("recipient_unreachable", message=f"No usable address for recipient {agent.id}; "
                     f"skipped this cycle", recipient=agent.id)
    return None


def _ask_wallet(deps: Deps, agent: Agent) -> Optional[str]:
    if agent.endpoint is None:
        return None
    return deps.wallets(*agent.endpoint).get_address()

"""Building: sign the transfer without relaying it, so nothing leaves the wallet yet."""

from __future__ import annotations

import structlog

from fsm_distributor.context import Context, Deps, Outcome, Wallet
from fsm_distributor.rpc_errors import BadAnswer, WalletError


def build(deps: Deps, ctx: Context) -> Outcome:
    """A failed build is safe to retry: an unrelayed transaction spends nothing."""
    miner = ctx.miner
    assert miner is not None and ctx.destinations, "Building entered unprepared"
    ctx.attempt += 1
    structlog.contextvars.bind_contextvars(attempt=ctx.attempt)
    wallet = deps.wallets(*miner.endpoint)
    _learn_sender_address(deps, ctx, wallet, miner.agent_id)
    try:
        if miner.agent_id in ctx.needs_refresh:
            wallet.refresh()
            ctx.needs_refresh.discard(miner.agent_id)
        built = wallet.transfer([(address, amount) for _, address, amount in ctx.destinations],
                                priority=deps.config.priority, do_not_relay=True)
        if not built.tx_metadata:
            raise BadAnswer("transfer", "no tx_metadata in the answer to a do_not_relay build")
    except WalletError as exc:
        ctx.error = exc
        deps.log.warning("build_failed", message=f"Transaction attempt {ctx.attempt} failed: {exc}",
                         error_code=exc.code, error_kind=exc.kind.value)
        return Outcome("build_failed")
    ctx.built = built
    deps.log.debug("tx_built", message=f"Built {built.tx_hash} (not relayed)", tx_hash=built.tx_hash,
                   fee=built.fee)
    deps.checkpoint("after_build")
    return Outcome("built")


def _learn_sender_address(deps: Deps, ctx: Context, wallet: Wallet, miner_id: str) -> None:
    """Which wallet pays: journaled with each intent, so a wallet swapped later is noticed."""
    if miner_id in ctx.sender_addresses:
        return
    try:
        ctx.sender_addresses[miner_id] = wallet.get_address()
    except WalletError as exc:
        deps.log.debug("sender_address_unknown", message=f"Could not ask miner {miner_id}'s wallet for its "
                       f"address ({exc}); asked again at its next build")

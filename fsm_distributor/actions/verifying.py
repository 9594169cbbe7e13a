"""Verifying: follow recorded transactions until the chain settles them, confirmed or failed.

Failed means failed: a transaction is marked failed only when it can no longer
confirm: another transaction spent its inputs (the daemon's key images), or it
has been neither in the daemon's pool nor in a block for `ABSENT_BLOCKS`
blocks, or (with no daemon in the registry to ask) the wallet itself calls it
failed.  A sender wallet that does not know the transaction (restarted from an
older wallet file, or another wallet opened in its wallet-rpc) is a reason to
ask the daemon, never a verdict.  Failed transactions whose verdict could be
wrong are watched: found in a block later, they become confirmed, and nobody is
paid again for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fsm_distributor.actions.shared import WATCH_FACTOR, advance, daemon_for, own_recorded, schedule_watch, write_back
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import StoreError, TxUnknown, WalletError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import PAID, WATCHED, Purpose, Status, Verdict
from fsm_distributor.core.ports import Daemon, KeyImage, Record, Wallet, Where
from fsm_distributor.states import Outcome, Trigger

CONFIRMED, FAILED, RECORDED = Status.CONFIRMED, Status.FAILED, Status.RECORDED

#: Checks per step, so one step stays short however many transactions are pending.
BATCH = 16
#: Blocks a transaction may be absent from the daemon's pool and chain before it counts as dropped.
ABSENT_BLOCKS = 10


@dataclass(frozen=True)
class Finding:
    """What one check concluded: a new status (or None: look again later) and its evidence."""

    status: Optional[Status] = None
    height: int = 0
    confirmations: int = 0
    why: str = ""
    verdict: Optional[Verdict] = None


LATER = Finding()


def verify(deps: Deps, mem: Memory, _: None) -> Outcome:
    now = deps.clock.time()
    settled: list[tuple[Intent, Finding]] = []
    refreshed: set[str] = set()
    for tx_hash in _due(mem.verify_due_at, now):
        intent = mem.intents.get(tx_hash)
        if intent is None or intent.status != RECORDED:
            mem.verify_due_at.pop(tx_hash, None)
            continue
        if intent.miner not in refreshed:  # a wallet sees new blocks only after a refresh
            refreshed.add(intent.miner)
            try:
                deps.wallets(*intent.miner_endpoint).refresh()
            except WalletError:
                pass
        finding = _check(deps, mem, intent)
        if finding.status is None:
            mem.verify_due_at[tx_hash] = now + deps.config.verification_interval
            continue
        mem.verify_due_at.pop(tx_hash, None)
        mem.missing_since.pop(tx_hash, None)
        settled.append((intent, finding))
    for tx_hash in _due(mem.watch_due_at, now):
        intent = mem.intents.get(tx_hash)
        if intent is None or intent.status != FAILED or intent.verdict not in WATCHED:
            mem.watch_due_at.pop(tx_hash, None)
            continue
        finding = _recheck_failed(deps, mem, intent)
        if finding.status is None:
            mem.watch_due_at[tx_hash] = now + WATCH_FACTOR * deps.config.verification_interval
            continue
        mem.watch_due_at.pop(tx_hash, None)
        settled.append((intent, finding))
    _settle(deps, mem, settled, now)
    return Outcome(Trigger.VERIFIED)


def _due(schedule: dict[str, float], now: float) -> list[str]:
    return [tx for _, tx in sorted((at, tx) for tx, at in schedule.items() if at <= now)[:BATCH]]


def _settle(deps: Deps, mem: Memory, settled: list[tuple[Intent, Finding]], now: float) -> None:
    """Journal, then transactions.json, then the log lines (a reader of the log finds them on disk)."""
    changes: dict[str, Record] = {}
    done: list[tuple[Intent, Intent, Finding]] = []
    for intent, finding in settled:
        fields = {"height": finding.height, "confirmations": finding.confirmations}
        status = finding.status or RECORDED  # settled findings always have one
        updated = advance(deps, mem, intent, status, updated_at=now, note=finding.why,
                          verdict=finding.verdict, **fields)
        if finding.status == FAILED and finding.verdict in WATCHED:
            schedule_watch(deps, mem, updated, now)
        changes[intent.tx_hash] = {"status": status.value, **fields}
        done.append((intent, updated, finding))
    if changes:
        _update_ledger(deps, mem, changes)
    for before, intent, finding in done:
        if finding.status == CONFIRMED and before.status == FAILED:
            again = _paid_again(mem, intent)
            deps.log.warning("tx_revived", message=f"Transaction {intent.tx_hash} was marked failed "
                             f"({before.note or before.verdict}) but is in block {finding.height}: now confirmed; "
                             f"its recipients count as paid" + (f" (paid again meanwhile: {again})" if again else
                                                                "; nobody is paid again for it"),
                             tx_hash=intent.tx_hash, earlier_verdict=before.verdict, height=finding.height,
                             paid_again=again)
        elif finding.status == CONFIRMED:
            deps.log.info("tx_confirmed", message=f"Transaction {intent.tx_hash} confirmed at height "
                          f"{finding.height} ({finding.confirmations} confirmations)",
                          tx_hash=intent.tx_hash, height=finding.height, confirmations=finding.confirmations)
        elif before.status == FAILED:
            deps.log.info("tx_failure_settled", message=f"Transaction {intent.tx_hash} can no longer confirm: "
                          f"{finding.why}", tx_hash=intent.tx_hash, verdict=finding.verdict)
        else:
            mem.failed += 1
            deps.log.error("tx_verification_failed", message=f"Transaction {intent.tx_hash} failed on chain "
                           f"({finding.why}); recipients {intent.recipients} are eligible again",
                           tx_hash=intent.tx_hash, recipients=intent.recipients, verdict=finding.verdict)


def _update_ledger(deps: Deps, mem: Memory, changes: dict[str, Record]) -> None:
    try:
        result = deps.ledger.update(changes)
    except StoreError as exc:
        deps.log.error("ledger_update_failed", message=f"Could not write statuses to transactions.json "
                       f"({exc}); the journal has them")
        return
    if result.note:
        deps.log.warning("ledger_quarantined", message=result.note)
        write_back(deps, mem, own_recorded(mem), "the file had to be set aside")
    elif result.missing:
        write_back(deps, mem, [mem.intents[h] for h in sorted(result.missing) if h in mem.intents],
                   "their records were no longer in the file")


def _check(deps: Deps, mem: Memory, intent: Intent) -> Finding:
    wallet = deps.wallets(*intent.miner_endpoint)
    kind, height, confirmations = _wallet_says(wallet, intent.tx_hash)
    if kind == "out" and confirmations >= deps.config.confirmations_required:
        return Finding(CONFIRMED, height, confirmations)
    if kind == "unknown":
        _report_changed_wallet(deps, mem, wallet, intent)
    daemon = daemon_for(deps, mem, intent.miner)
    if daemon is None:
        if kind == "failed":
            return Finding(FAILED, why="the wallet marks it failed (no daemon in the registry to ask)",
                           verdict=Verdict.WALLET_FAILED)
        return LATER
    return _ask_daemon(deps, mem, daemon, intent)


def _wallet_says(wallet: Wallet, tx_hash: str) -> tuple[str, int, int]:
    """(type, height, confirmations) from the sender's wallet; type 'unknown' if it does not know the
    transaction, '' if it cannot say now."""
    try:
        info = wallet.transfer_info(tx_hash)
    except TxUnknown:
        return "unknown", 0, 0
    except WalletError:
        return "", 0, 0
    return info.type, info.height, info.confirmations


def _ask_daemon(deps: Deps, mem: Memory, daemon: Daemon, intent: Intent) -> Finding:
    """The daemon decides: in a block, in the pool, or gone (then: inputs spent, or for how long)."""
    tx_hash = intent.tx_hash
    try:
        where = daemon.locate([tx_hash])[tx_hash]
    except WalletError:
        return LATER
    if where.where is Where.CHAIN:
        if where.confirmations >= deps.config.confirmations_required:
            return Finding(CONFIRMED, where.height, where.confirmations)
        return LATER
    if where.where is Where.POOL:
        mem.missing_since.pop(tx_hash, None)
        return LATER
    if _inputs_spent_elsewhere(daemon, intent):
        return Finding(FAILED, why="its inputs were spent by another transaction (double spend)",
                       verdict=Verdict.INPUTS_SPENT)
    try:
        height = daemon.height()
    except WalletError:
        return LATER
    since = mem.missing_since.setdefault(tx_hash, height)
    if height - since >= ABSENT_BLOCKS:
        return Finding(FAILED, why=f"neither in the pool nor in a block for {height - since} blocks (dropped)",
                       verdict=Verdict.ABSENT)
    return LATER


def _inputs_spent_elsewhere(daemon: Daemon, intent: Intent) -> bool:
    """True only if a key image of the intent is spent in a block while the intent itself is in none."""
    if not intent.key_images:
        return False
    try:
        spent = daemon.key_images_spent(intent.key_images)
        if KeyImage.SPENT_IN_CHAIN not in spent:
            return False
        # Mined between the two questions? Then the spender is the intent itself.
        return daemon.locate([intent.tx_hash])[intent.tx_hash].where is Where.MISSING
    except WalletError:
        return False


def _recheck_failed(deps: Deps, mem: Memory, intent: Intent) -> Finding:
    """A watched failure: revived if it is in a block now, settled if its inputs went elsewhere."""
    daemon = daemon_for(deps, mem, intent.miner)
    if daemon is None:
        return LATER
    try:
        where = daemon.locate([intent.tx_hash])[intent.tx_hash]
    except WalletError:
        return LATER
    if where.where is Where.CHAIN and where.confirmations >= deps.config.confirmations_required:
        return Finding(CONFIRMED, where.height, where.confirmations)
    if where.where is Where.MISSING and _inputs_spent_elsewhere(daemon, intent):
        return Finding(FAILED, why="its inputs were spent by another transaction (double spend)",
                       verdict=Verdict.INPUTS_SPENT)
    return LATER


def _report_changed_wallet(deps: Deps, mem: Memory, wallet: Wallet, intent: Intent) -> None:
    """A wallet that does not know our transaction may be another wallet: say so once."""
    if not intent.sender_address:
        return
    try:
        address = wallet.get_address()
    except WalletError:
        return
    if address == intent.sender_address or (intent.miner, address) in mem.changed_wallets:
        return
    mem.changed_wallets.add((intent.miner, address))
    host, port = intent.miner_endpoint
    deps.log.warning("wallet_changed", message=f"The wallet-rpc of miner {intent.miner} at {host}:{port} now "
                     f"serves address {address[:12]}..., not {intent.sender_address[:12]}... (another wallet was "
                     f"opened): its transactions are verified through the daemon", miner=intent.miner,
                     address=address, expected=intent.sender_address)


def _paid_again(mem: Memory, revived: Intent) -> list[str]:
    """Other paid intents of the same purpose to the revived intent's recipients (of a scheduled payment:
    of the same occurrence)."""
    if revived.schedule_id:
        return sorted(i.tx_hash for i in mem.intents.values() if i.tx_hash != revived.tx_hash and i.status in PAID
                      and (i.schedule_id, i.occurrence) == (revived.schedule_id, revived.occurrence))
    recipients = set(revived.recipients)
    return sorted(i.tx_hash for i in mem.intents.values()
                  if i.tx_hash != revived.tx_hash and i.purpose == revived.purpose and i.status in PAID
                  and recipients.intersection(i.recipients) and revived.purpose.batch)

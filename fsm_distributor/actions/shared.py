"""What the actions share: one place, so that no action imports another.

Journal and ledger writes of an intent, the registry and daemon a state may
need before Discovering ran, a miner's balance and cool-down, a recipient's
address, back-off, and Monerosim's funding progress file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Optional

from fsm_distributor.core import funding, network
from fsm_distributor.core.address import InvalidAddress, validate_address
from fsm_distributor.core.amounts import to_float_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle
from fsm_distributor.core.errors import StoreError, WalletError
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.names import Purpose, Status
from fsm_distributor.core.ports import Balance, Daemon, Record, Wallet
from fsm_distributor.core.registry import Agent, Miner, Snapshot

#: A failed transaction under watch is looked up every WATCH_FACTOR verification intervals.
WATCH_FACTOR = 4
#: Intent statuses whose records belong in transactions.json, and the record's `status` for each.
LEDGER_STATUS = {Status.RECORDED: "relayed", Status.CONFIRMED: "confirmed", Status.FAILED: "failed"}


# ---------------------------------------------------------------- intents


def advance(deps: Deps, mem: Memory, intent: Intent, status: Status, **changes: object) -> Intent:
    """Persist a status change; if the journal cannot be written, carry on from memory.

    Safe by construction: a journal left at `built` makes recovery relay the
    same metadata (idempotent) or find the tx in the wallet; one left at
    `relayed` makes it record again, which is deduplicated by tx_hash.
    """
    try:
        updated = deps.journal.advance(intent, status, **changes)
    except StoreError as exc:
        metadata = intent.tx_metadata if status is Status.BUILT else ""
        updated = replace(intent, status=status, **{"tx_metadata": metadata, **changes})  # type: ignore[arg-type]
        deps.log.error("journal_write_failed", message=f"Could not write {status} for {intent.tx_hash} to the "
                       f"journal ({exc}); continuing, recovery is idempotent", tx_hash=intent.tx_hash)
    mem.put_intent(updated)
    return updated


def ledger_records(intent: Intent, distributor_id: str, timestamp: float) -> list[Record]:
    """One record per recipient, in the format Monerosim's analysis reads, plus exact fields.

    A batch pays several recipients in one transaction: each record carries
    the transaction's own hash, the recipient's total and its outputs.  A
    verified intent's record carries its verdict (status, height, confirmations).
    """
    records = []
    verified = intent.status in (Status.CONFIRMED, Status.FAILED)
    for recipient_id in intent.recipients:
        outputs = [d for d in intent.destinations if d.recipient == recipient_id]
        total = sum(d.amount for d in outputs)
        record: Record = {
            "tx_hash": intent.tx_hash,
            "sender_id": intent.miner,
            "recipient_id": recipient_id,
            "amount": to_float_xmr(total),
            "amount_atomic": total,
            "num_outputs": len(outputs),
            "amount_per_output": to_float_xmr(outputs[0].amount),
            "fee": intent.fee,
            "priority": intent.priority,
            "attempts": intent.attempts,
            "recipient_address": outputs[0].address,
            "distributor_id": distributor_id,
            "purpose": intent.purpose,
            "num_recipients": len(intent.recipients),
            "status": LEDGER_STATUS.get(intent.status, "relayed"),
            "timestamp": timestamp,
        }
        if intent.strategy:  # the inputs of the decision (issue 11); older intents have none
            record.update(strategy=intent.strategy, fee_strategy=intent.fee_strategy, pool_kb=intent.pool_kb)
        if verified:
            record.update(height=intent.height, confirmations=intent.confirmations)
        records.append(record)
    return records


def record_timestamp(intent: Intent) -> float:
    """A record's `timestamp`: when the transaction was relayed."""
    return intent.relayed_at or intent.updated_at or intent.created_at


def write_back(deps: Deps, mem: Memory, intents: Iterable[Intent], why: str) -> int:
    """Append the records of `intents` that transactions.json lost (another writer replaced it).

    Idempotent (the ledger skips records it holds); returns how many intents were written back.
    """
    recordable = [i for i in intents if i.status in LEDGER_STATUS and i.destinations and i.destinations[0].address]
    if not recordable:
        return 0
    records = [r for i in recordable for r in ledger_records(i, deps.agent_id, record_timestamp(i))]
    try:
        result = deps.ledger.append(records)
    except StoreError as exc:
        deps.log.error("ledger_restore_failed", message=f"Could not write back {len(recordable)} transactions "
                       f"to transactions.json ({exc}); the journal keeps them, tried again later")
        return 0
    if result.note:
        deps.log.warning("ledger_quarantined", message=result.note)
    deps.log.warning("ledger_restored", message=f"Wrote back {len(recordable)} of this distributor's "
                     f"transactions ({len(records)} records) to transactions.json: {why}",
                     transactions=len(recordable), records=len(records))
    return len(recordable)


def own_recorded(mem: Memory) -> list[Intent]:
    """Every intent of ours that has (or should have) records in transactions.json."""
    return [i for i in mem.intents.values() if i.status in LEDGER_STATUS]


def schedule_watch(deps: Deps, mem: Memory, intent: Intent, now: float) -> None:
    """Keep looking for a failed transaction whose verdict a later block could overturn."""
    mem.watch_due_at[intent.tx_hash] = now + WATCH_FACTOR * deps.config.verification_interval


# ---------------------------------------------------------------- registry and daemons


def registry_snapshot(deps: Deps, mem: Memory) -> Optional[Snapshot]:
    """The registry as last read; read now if no state has read it yet (recovery runs first).

    Problems found in such a read are left for Discovering to report.
    """
    if mem.snapshot is None:
        try:
            mem.snapshot, changed = deps.registry.read()
        except StoreError:
            return None
        mem.registry_unreported = mem.registry_unreported or changed
    return mem.snapshot


def daemon_for(deps: Deps, mem: Memory, miner_id: str) -> Optional[Daemon]:
    """The monerod of `miner_id` (registry ip_addr + daemon_rpc_port), if the registry names one."""
    snapshot = registry_snapshot(deps, mem)
    miners = snapshot.miners if snapshot else ()
    miner = next((m for m in miners if m.agent_id == miner_id), None)
    if miner is None or miner.daemon_endpoint is None:
        return None
    return deps.daemons(*miner.daemon_endpoint)


# ---------------------------------------------------------------- miners


def wallet_of(deps: Deps, miner: Miner) -> Wallet:
    """The miner's wallet client (Discovering and SelectingMiner only pass on miners that have one)."""
    if miner.endpoint is None:
        raise WalletError("wallet", f"miner {miner.agent_id} has no wallet endpoint in the registry")
    return deps.wallets(*miner.endpoint)


def fetch_balance(deps: Deps, mem: Memory, cycle: Cycle, miner: Miner, *, refresh: bool = False) -> Balance:
    """The miner's balance, refreshing its wallet first when blocks may have unlocked coins."""
    wallet = wallet_of(deps, miner)
    if refresh or miner.agent_id in mem.needs_refresh:
        wallet.refresh()
        mem.needs_refresh.discard(miner.agent_id)
        cycle.refreshed.add(miner.agent_id)
    balance = wallet.get_balance()
    cycle.balances[miner.agent_id] = balance
    mem.miner_failures.pop(miner.agent_id, None)
    return balance


def cool_down(deps: Deps, mem: Memory, cycle: Cycle, miner: Miner, *, reason: str,
              seconds: Optional[float] = None) -> float:
    """Leave an unreachable or locked miner alone for a while (doubling while it keeps failing)."""
    cfg = deps.config
    if seconds is None:
        failures = mem.miner_failures.get(miner.agent_id, 0) + 1
        mem.miner_failures[miner.agent_id] = failures
        seconds = min(cfg.miner_cooldown_cap, cfg.miner_cooldown * 2 ** (failures - 1))
    mem.cooldown_until[miner.agent_id] = deps.clock.time() + seconds
    cycle.excluded_miners.add(miner.agent_id)
    deps.log.warning("miner_cooldown", message=f"Miner {miner.agent_id} left alone for {seconds:g}s: {reason}",
                     miner=miner.agent_id, cooldown=seconds)
    return seconds


def backoff(deps: Deps, attempt: int) -> float:
    """Exponential, capped, with 'equal jitter' from the seeded RNG (reproducible)."""
    ceiling = min(deps.config.backoff_cap, deps.config.backoff_base * float(2 ** max(0, attempt - 1)))
    jitter: float = deps.rng.uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


# ---------------------------------------------------------------- recipients


def resolve_address(deps: Deps, mem: Memory, miner: Miner, agent: Agent) -> Optional[str]:
    """Registry entry, then {id}_user_info/_miner_info.json, then the agent's own wallet-rpc.

    Every candidate is checked in full (base58 + Keccak checksum); a bad one
    is logged and the next source is tried.  Addresses the wallet rejected
    before, or the paying miner's own, are never used.
    """
    miner_address = miner.wallet_address or mem.address_cache.get(miner.agent_id)
    sources: tuple[tuple[str, Callable[[], Optional[str]]], ...] = (
        ("registry", lambda: agent.wallet_address),
        ("info_file", lambda: deps.registry.info_address(agent.id)),
        ("cache", lambda: mem.address_cache.get(agent.id)),
        ("wallet_rpc", lambda: _ask_wallet(deps, agent)))
    for source, lookup in sources:
        try:
            address = lookup()
        except (WalletError, StoreError) as exc:
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
        if mem.rejected_addresses.get(agent.id) == address:
            deps.log.info("address_rejected_before", message=f"Skipping {agent.id}: the wallet "
                          f"rejected its address before", recipient=agent.id)
            return None
        if miner_address and address == miner_address:
            deps.log.warning("address_is_miner", message=f"Recipient {agent.id} shares the selected "
                             f"miner's address; skipped", recipient=agent.id)
            return None
        if source == "wallet_rpc":
            mem.address_cache[agent.id] = address
        return address
    deps.log.warning("recipient_unreachable", message=f"No usable address for recipient {agent.id}; "
                     f"skipped this cycle", recipient=agent.id)
    return None


def _ask_wallet(deps: Deps, agent: Agent) -> Optional[str]:
    if agent.endpoint is None:
        return None
    return deps.wallets(*agent.endpoint).get_address()


# ---------------------------------------------------------------- topup (issue 11)


def holding_of(deps: Deps, mem: Memory, agent: Agent) -> network.Holding:
    """What `agent` holds as far as this agent can tell: its wallet's balance (locked coins included)
    when the wallet answers, else what this agent paid it; plus this agent's payments to it that the
    wallet does not show yet.  The wallet's height is asked before its balance, so a refresh between
    the two can only count a payment twice (pay less), never miss it (pay too much)."""
    balance: Optional[int] = None
    height: Optional[int] = None
    if agent.endpoint is not None:
        wallet = deps.wallets(*agent.endpoint)
        try:
            height = wallet.height()
            balance = wallet.get_balance().total
        except WalletError as exc:
            deps.log.debug("recipient_balance_unknown", message=f"Could not ask {agent.id}'s wallet for its "
                           f"balance ({exc}); counting what this agent paid it", recipient=agent.id)
            balance = None
    paid, in_flight = network.paid_to(mem.intents.values(), agent.id, height if balance is not None else None)
    if balance is None:
        return network.Holding(paid, None, paid, "records")
    return network.Holding(balance + in_flight, balance, in_flight, "wallet")


# ---------------------------------------------------------------- funding progress


def finish_initial_funding(deps: Deps, mem: Memory, *, completed: bool, timed_out: bool = False) -> None:
    mem.funding_done = True
    mem.next_funding_at = deps.clock.time() + deps.config.funding_cycle_interval
    paid = mem.paid_recipients(Purpose.INITIAL_FUNDING)
    write_funding_status(deps, mem, completed=completed, timed_out=timed_out)
    deps.log.info("initial_funding_complete" if completed else "initial_funding_abandoned",
                  message=f"Initial funding {'complete' if completed else 'stopped waiting'}: {len(paid)} funded, "
                  f"{len(mem.permanently_failed)} given up", funded=len(paid))


def write_funding_status(deps: Deps, mem: Memory, *, completed: bool = False, timed_out: bool = False) -> None:
    """Monerosim's progress file, derived from the journal (which stays the source of truth)."""
    failed = {r for i in mem.intents.values()
              if i.purpose is Purpose.INITIAL_FUNDING and i.status is Status.FAILED for r in i.recipients}
    paid = mem.paid_recipients(Purpose.INITIAL_FUNDING)
    doc = funding.status_document(funded=paid, failed=sorted(failed - set(paid)),
                                  permanently_failed=sorted(mem.permanently_failed), completed=completed,
                                  timed_out=timed_out, timestamp=deps.clock.time(), distributor_id=deps.agent_id)
    try:
        deps.status.write(funding.STATUS_FILE, doc)
    except StoreError as exc:
        deps.log.error("funding_status_unwritten", message=f"Could not write {funding.STATUS_FILE} ({exc}); "
                       f"the journal keeps the progress")

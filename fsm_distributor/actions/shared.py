"""What the actions share: one place, so that no action imports another.

Journal and ledger writes of an intent, the registry and daemon a state may
need before Discovering ran, a miner's balance and cool-down, a recipient's
address, back-off, and Monerosim's funding progress file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Optional

from fsm_distributor.core import funding, multisig, network
from fsm_distributor.core.address import InvalidAddress, validate_address
from fsm_distributor.core.amounts import format_xmr, to_float_xmr
from fsm_distributor.core.context import Deps
from fsm_distributor.core.cycle import Cycle, Payment
from fsm_distributor.core.errors import ErrorKind, SignerLost, StoreError, WalletError, WalletUnavailable
from fsm_distributor.core.intent import Intent
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import Setup, Txset
from fsm_distributor.core.names import Purpose, Status, Verdict
from fsm_distributor.core.ports import Balance, Daemon, KeyImage, MultisigSigner, Record, Wallet, Where
from fsm_distributor.core.registry import Agent, Miner, Snapshot
from fsm_distributor.states import Outcome, Trigger

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
        if intent.multisig:  # a treasury spend (issue 13): sender_id is the treasury's id
            record.update(multisig=intent.multisig, signers=list(intent.signers))
        if intent.strategy:  # the inputs of the decision (issue 11); older intents have none
            record.update(strategy=intent.strategy, fee_strategy=intent.fee_strategy, pool_kb=intent.pool_kb)
        if verified:
            record.update(height=intent.height, confirmations=intent.confirmations)
        if intent.schedule_id:  # issue 12: which occurrence of the schedule it paid
            record.update(schedule_id=intent.schedule_id, occurrence=intent.occurrence)
        if intent.unlock_time:
            record["unlock_time"] = intent.unlock_time
        records.append(record)
    return records


def payment_priority(deps: Deps, payment: Payment) -> int:
    """The transfer priority: a scheduled payment's own (its entry's, else the configured one); any
    other payment's as ReadingNetwork stepped it (issue 11), else transaction_priority."""
    cycle = payment.cycle
    return cycle.scheduled.priority if cycle.scheduled is not None else payment.payer.priority(deps.config)


def scheduled_unlock_time(deps: Deps, wallet: Wallet | MultisigSigner, payment: Payment) -> int:
    """A scheduled payment's time lock (issue 12): the chain's height now + unlock_after_blocks, from a
    refreshed wallet (a miner's, or the treasury's signer that builds the set: a stale height would
    unlock it early); 0 for every other payment."""
    scheduled = payment.cycle.scheduled
    if scheduled is None or not scheduled.unlock_after_blocks:
        return 0
    wallet.refresh()
    height = wallet.height()
    deps.log.info("unlock_time", message=f"Scheduled payment {scheduled} is locked until height "
                  f"{height + scheduled.unlock_after_blocks} (height {height} + {scheduled.unlock_after_blocks})",
                  height=height, unlock_time=height + scheduled.unlock_after_blocks)
    return height + scheduled.unlock_after_blocks


def cycle_wait(cycle: Cycle, wait: float) -> float:
    """The sleep after a cycle that could not pay: `wait`, except for a scheduled occurrence, which waits
    on its own (Idle tries it again after balance_check_interval) while the machine does other due work."""
    return 0.0 if cycle.scheduled is not None else wait


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
    if miner is None and miner_id == multisig.treasury_id(deps.agent_id) and snapshot is not None:
        return _signer_daemon(deps, snapshot)
    if miner is None or miner.daemon_endpoint is None:
        return None
    return deps.daemons(*miner.daemon_endpoint)


def daemon_knows(deps: Deps, mem: Memory, intent: Intent) -> Optional[Where]:
    """POOL or CHAIN if the sender's daemon has the transaction; MISSING if another transaction
    spent its inputs; None if nobody can say it was sent (no daemon, no answer, or just absent)."""
    daemon = daemon_for(deps, mem, intent.miner)
    if daemon is None:
        return None
    try:
        where = daemon.locate([intent.tx_hash])[intent.tx_hash].where
        if where is not Where.MISSING:
            return where
        if intent.key_images and KeyImage.SPENT_IN_CHAIN in daemon.key_images_spent(intent.key_images):
            return Where.MISSING
    except WalletError:
        pass
    return None


def close_failed(deps: Deps, mem: Memory, intent: Intent, why: str, verdict: Verdict) -> None:
    """A built intent that was never sent: failed (watched if a later block could prove it sent)."""
    mem.failed += 1
    mem.relay_failures.pop(intent.tx_hash, None)
    now = deps.clock.time()
    failed = advance(deps, mem, intent, Status.FAILED, updated_at=now, note=why, verdict=verdict)
    if verdict is Verdict.RELAY_REJECTED:
        schedule_watch(deps, mem, failed, now)
    deps.log.error("tx_failed", message=f"Failed to send transaction {intent.tx_hash}: {why}; nothing was paid",
                   tx_hash=intent.tx_hash)


def defer_send(deps: Deps, mem: Memory, intent: Intent, exc: WalletError, event: str, what: str) -> None:
    """A send that could not be made now: the intent stays open; recovery tries again after a back-off."""
    failures = mem.relay_failures.get(intent.tx_hash, 0) + 1
    mem.relay_failures[intent.tx_hash] = failures
    wait = backoff(deps, failures)
    mem.recovery_due_at = deps.clock.time() + wait
    deps.log.warning(event, message=f"{what} of {intent.tx_hash} failed ({exc}); the intent stays "
                     f"open and is tried again in {wait:.1f}s", error_code=exc.code)


def mark_sent(deps: Deps, mem: Memory, intent: Intent) -> Intent:
    """The intent was broadcast (relay_tx, submit_multisig): relayed, counted, and said."""
    now = deps.clock.time()
    relayed = advance(deps, mem, intent, Status.RELAYED, updated_at=now, relayed_at=now)
    mem.sent += 1
    if intent.purpose is not Purpose.SCHEDULED:  # a scheduled payment does not move the single payments' clock
        mem.last_success_at = now
    mem.recovery_due_at = 0.0
    mem.relay_failures.pop(intent.tx_hash, None)
    log_sent(deps, relayed)
    return relayed


def log_sent(deps: Deps, intent: Intent) -> None:
    """The line Monerosim's scripts grep for: `Transaction sent successfully: <hash>`."""
    if len(intent.destinations) == 1:
        recipient_id, _address, amount = intent.destinations[0]  # one output: its amount is the payment
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Sent transaction: "
                      f"{intent.miner} -> {recipient_id}, {format_xmr(amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipient=recipient_id,
                      amount_atomic=amount, fee=intent.fee, **_occurrence(intent))
    else:
        deps.log.info("tx_sent", message=f"Transaction sent successfully: {intent.tx_hash} (Batch transaction sent "
                      f"successfully: {intent.miner} -> {len(intent.recipients)} recipients, "
                      f"{len(intent.destinations)} outputs, {format_xmr(intent.amount)} XMR)",
                      tx_hash=intent.tx_hash, miner=intent.miner, recipients=intent.recipients,
                      outputs=len(intent.destinations), amount_atomic=intent.amount, fee=intent.fee,
                      purpose=intent.purpose)


def _occurrence(intent: Intent) -> dict[str, object]:
    """A scheduled payment's key and time lock for its tx_sent line (issue 12); nothing for the others."""
    if not intent.schedule_id:
        return {}
    return {"schedule_id": intent.schedule_id, "occurrence": intent.occurrence, "unlock_time": intent.unlock_time}


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


# ---------------------------------------------------------------- multisig treasury (issue 13)
# What the treasury's states share: its signers' wallet-rpcs, and writing its set-up and txsets.


def treasury_signers(deps: Deps) -> frozenset[str]:
    """The signer agents while the treasury is on: never recipients (their wallet-rpc serves it)."""
    return frozenset(deps.config.multisig_signers) if deps.config.multisig_mode != "off" else frozenset()


def signer_agent(deps: Deps, mem: Memory, signer_id: str) -> Agent:
    """The signer's registry entry; WalletUnavailable while it has no wallet endpoint there."""
    snapshot = registry_snapshot(deps, mem)
    agent = next((a for a in snapshot.agents if a.id == signer_id), None) if snapshot else None
    if agent is None or agent.endpoint is None:
        raise WalletUnavailable("multisig", f"signer {signer_id} has no wallet endpoint in the registry")
    return agent


def signer_endpoint(deps: Deps, mem: Memory, signer_id: str) -> tuple[str, int]:
    try:
        return signer_agent(deps, mem, signer_id).endpoint or ("", 0)
    except WalletError:
        return "", 0


def _signer_daemon(deps: Deps, snapshot: Snapshot) -> Optional[Daemon]:
    """The treasury's spends are asked of a signer's monerod (the first with one in the registry)."""
    for signer_id in deps.config.multisig_signers:
        agent = next((a for a in snapshot.agents if a.id == signer_id), None)
        if agent is not None and agent.ip_addr and agent.daemon_rpc_port:
            return deps.daemons(agent.ip_addr, agent.daemon_rpc_port)
    return None


def open_for_setup(deps: Deps, mem: Memory, setup: Setup, signer_id: str) -> MultisigSigner:
    """The signer's wallet-rpc with the set-up's wallet open (opened once per process)."""
    agent = signer_agent(deps, mem, signer_id)
    signer = deps.signers(*(agent.endpoint or ("", 0)))
    if mem.treasury.opened.get(signer_id) != setup.wallet:
        signer.open_wallet(setup.wallet, multisig.PASSWORD)
        mem.treasury.opened[signer_id] = setup.wallet
    return signer


def open_treasury(deps: Deps, mem: Memory, setup: Setup, signer_id: str) -> MultisigSigner:
    """The signer's wallet-rpc serving the ready treasury, checked by its address (a wallet-rpc
    restarted has none open; one that serves another wallet must never be asked to spend)."""
    agent = signer_agent(deps, mem, signer_id)
    signer = deps.signers(*(agent.endpoint or ("", 0)))
    try:
        address = signer.address()
    except WalletError as exc:
        if exc.kind is not ErrorKind.WALLET_CLOSED:
            raise
        address = ""
    if address != setup.address:
        signer.open_wallet(setup.wallet, multisig.PASSWORD)
        address = signer.address()
        if address != setup.address:
            raise SignerLost("open_wallet", f"{setup.wallet} in signer {signer_id} serves {address[:12]}..., "
                             f"not the treasury's {setup.address[:12]}...")
        deps.log.info("treasury_reopened", message=f"Opened the treasury's wallet {setup.wallet} in signer "
                      f"{signer_id}'s wallet-rpc", signer=signer_id, wallet=setup.wallet)
    mem.treasury.opened[signer_id] = setup.wallet
    return signer


def treasury_balance(deps: Deps, mem: Memory, setup: Setup) -> Balance:
    """The treasury's balance from the first signer that answers (refreshed first)."""
    error: Optional[WalletError] = None
    for signer_id in setup.signers:
        try:
            signer = open_treasury(deps, mem, setup, signer_id)
            signer.refresh()
            balance = signer.balance()
        except WalletError as exc:
            error = error or exc
            continue
        mem.treasury.unlocked, mem.treasury.total = balance.unlocked, balance.total
        return balance
    raise error or WalletUnavailable("multisig", "the treasury has no signers")


def treasury_payer_miner(deps: Deps, mem: Memory, setup: Setup) -> Miner:
    """The treasury in the shape of a payer: its id and address, the first signer's endpoints."""
    try:
        agent = signer_agent(deps, mem, setup.signers[0])
        host, port = agent.endpoint or ("", 0)
        daemon_port = agent.daemon_rpc_port
    except WalletError:
        host, port, daemon_port = "", 0, None
    return Miner(multisig.treasury_id(deps.agent_id), host or None, port or None, 0.0, setup.address, daemon_port)


def journal_setup(deps: Deps, mem: Memory, setup: Setup) -> Setup:
    """Remember a set-up's progress, durably if the journal can be written (if not, a crash before
    the next write loses the answer: the set-up is then discarded and made again; no coins are at
    stake before it is ready)."""
    mem.treasury.setups[setup.wallet] = setup
    try:
        deps.journal.put_multisig(setup.key, setup.to_json())
    except StoreError as exc:
        deps.log.error("journal_write_failed", message=f"Could not write the treasury set-up {setup.wallet} to "
                       f"the journal ({exc}); continuing from memory", wallet=setup.wallet)
    return setup


def journal_txset(deps: Deps, mem: Memory, txset: Txset) -> None:
    """Write a txset line; raises StoreError (the caller decides what a set not on disk may do)."""
    deps.journal.put_multisig(txset.key, txset.to_json())
    mem.treasury.txsets[txset.id] = txset


def signer_down(deps: Deps, mem: Memory, signer_id: str, exc: WalletError) -> Outcome:
    """A signer cannot be asked now: the treasury's work waits (the journal keeps what was done).

    A set-up is tried again when Idle finds it due (meanwhile Idle does the rest); a payment or a
    balance look waits here, since Idle would start it again at once."""
    wait = deps.config.balance_check_interval
    if exc.kind is ErrorKind.WALLET_CLOSED:  # its wallet-rpc restarted: open the wallet again next time
        mem.treasury.opened.pop(signer_id, None)
    setting_up = mem.treasury.ready() is None
    if setting_up:
        mem.treasury.setup_due_at = deps.clock.time() + wait
    deps.log.warning("treasury_signer_down", message=f"Signer {signer_id} cannot be asked now ({exc}); the "
                     f"treasury waits, trying again in {wait:g}s", signer=signer_id, error_code=exc.code)
    return Outcome(Trigger.SIGNER_DOWN, delay=0.0 if setting_up else wait)


def setup_discarded(deps: Deps, mem: Memory, setup: Setup, why: str) -> Outcome:
    """Give a half-made set-up up (it holds no coins) and make the next one under a new wallet name."""
    now = deps.clock.time()
    journal_setup(deps, mem, setup.discard(why, now))
    for signer_id in setup.signers:
        if mem.treasury.opened.get(signer_id) == setup.wallet:
            del mem.treasury.opened[signer_id]
    mem.treasury.discards += 1
    wait = deps.config.balance_check_interval * mem.treasury.discards
    mem.treasury.setup_due_at = now + wait
    if mem.treasury.discards < multisig.MAX_DISCARDS:
        then = (f"made again as {multisig.wallet_name(deps.agent_id, mem.treasury.next_generation())} "
                f"in {wait:g}s")
    else:
        then = f"giving up after {multisig.MAX_DISCARDS} discarded set-ups in a row: the treasury pays nothing"
    deps.log.error("treasury_setup_discarded", message=f"Treasury set-up {setup.wallet} discarded: {why}; {then}",
                   wallet=setup.wallet, reason=why, discards=mem.treasury.discards)
    return Outcome(Trigger.SETUP_DISCARDED)


def setup_round(deps: Deps, mem: Memory, setup: Setup, round_: int,
                ask: Callable[[MultisigSigner, str], tuple[str, str]]) -> Outcome | Setup:
    """Ask every signer still without an answer in `round_` (`ask` makes the call: (message, address)),
    journaling each answer as it comes; the set-up as it then stands, or the outcome that stops it."""
    for signer_id in setup.waiting(round_):
        try:
            try:
                info, address = ask(open_for_setup(deps, mem, setup, signer_id), signer_id)
            except WalletError as exc:
                if exc.kind is not ErrorKind.WALLET_CLOSED:
                    raise
                mem.treasury.opened.pop(signer_id, None)  # its wallet-rpc restarted between two calls
                info, address = ask(open_for_setup(deps, mem, setup, signer_id), signer_id)
        except SignerLost as exc:
            return setup_discarded(deps, mem, setup, f"signer {signer_id}, round {round_}: {exc}")
        except WalletError as exc:
            return signer_down(deps, mem, signer_id, exc)
        setup = journal_setup(deps, mem, setup.answered(round_, signer_id, info, address, deps.clock.time()))
        deps.checkpoint(f"after_setup_round_{round_}")
        deps.log.info("multisig_round", message=f"Signer {signer_id} answered round {round_} of {setup.wallet}"
                      + (f": address {address[:12]}..." if address and round_ >= 2 else ""),
                      signer=signer_id, round=round_, wallet=setup.wallet)
    return setup

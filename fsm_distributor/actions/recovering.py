"""Recovering: finish what a crash left open, before (and between) new cycles.

At start-up it first loads the journal and checks it against the other
witnesses of what this distributor paid (see `rebuild`): its records in
transactions.json always, and when the journal was missing or damaged also
initial_funding_status.json and the miners' wallets.  Nothing is paid before
that has succeeded; records that transactions.json lost are written back.
"""

from __future__ import annotations

from typing import Optional

import structlog

from fsm_distributor.actions.shared import LEDGER_STATUS, registry_snapshot, signer_endpoint, write_back
from fsm_distributor.core import multisig, rebuild
from fsm_distributor.core.context import Deps
from fsm_distributor.core.errors import StoreError, WalletError
from fsm_distributor.core.funding import STATUS_FILE
from fsm_distributor.core.intent import Intent, Loaded
from fsm_distributor.core.memory import Memory
from fsm_distributor.core.multisig import TxsetStatus
from fsm_distributor.core.names import PAID, WATCHED, Purpose, Status
from fsm_distributor.core.ports import Record
from fsm_distributor.core.registry import Snapshot
from fsm_distributor.states import Outcome, Trigger


def recover(deps: Deps, mem: Memory, _: None) -> Outcome:
    """Load the journal once; then hand the first open intent to Relaying or Recording."""
    if mem.started_at is None:  # this process's start: the schedule's anchor, if none was kept (issue 12)
        mem.started_at = deps.clock.time()
    if not mem.journal_loaded and not _load(deps, mem):
        wait = deps.config.balance_check_interval
        mem.recovery_due_at = deps.clock.time() + wait
        return Outcome(Trigger.RECOVERED, delay=wait)
    for intent in mem.open_intents():
        structlog.contextvars.bind_contextvars(tx_hash=intent.tx_hash, miner=intent.miner)
        if intent.status is Status.BUILT and intent.multisig:  # a treasury spend (issue 13)
            deps.log.info("recovering_intent", message=f"Submitting journaled treasury spend {intent.tx_hash} "
                          f"(fully signed, maybe never submitted)", status=intent.status)
            return Outcome(Trigger.RESUME_SUBMIT, data=intent)
        if intent.status is Status.BUILT:
            deps.log.info("recovering_intent", message=f"Relaying journaled intent {intent.tx_hash} "
                          f"(built, maybe never relayed)", status=intent.status)
            return Outcome(Trigger.RESUME_RELAY, data=intent)
        deps.log.info("recovering_intent", message=f"Recording relayed intent {intent.tx_hash}",
                      status=intent.status)
        return Outcome(Trigger.RESUME_RECORD, data=intent)
    return _resume_txset(deps, mem) or Outcome(Trigger.RECOVERED)


def _resume_txset(deps: Deps, mem: Memory) -> Optional[Outcome]:
    """multisig treasury (issue 13): a set journaled signed whose intent is not (a crash between the two
    writes) gets its intent now; a partially signed one is signed further."""
    for txset in list(mem.treasury.txsets.values()):
        if txset.status is TxsetStatus.SIGNED and txset.tx_hash not in mem.intents:
            setup = mem.treasury.setups.get(txset.wallet)
            intent = multisig.spend_intent(txset, deps.agent_id, signer_endpoint(deps, mem, txset.signed_by[-1]),
                                           setup.address if setup else "", deps.clock.time())
            try:
                deps.journal.put(intent)
            except StoreError as exc:
                deps.log.error("journal_write_failed", message=f"Could not write the intent of signed treasury "
                               f"txset {txset.id} ({exc}); submitting it from memory")
            mem.put_intent(intent)
            deps.log.info("recovering_intent", message=f"Submitting treasury spend {intent.tx_hash} (journaled "
                          f"fully signed, its intent not yet)", status=intent.status, tx_hash=intent.tx_hash)
            return Outcome(Trigger.RESUME_SUBMIT, data=intent)
        if txset.status is TxsetStatus.PARTIAL:
            deps.log.info("recovering_txset", message=f"Signing journaled treasury txset {txset.id} further "
                          f"({len(txset.signed_by)} of {txset.threshold} signatures)", txset=txset.id)
            return Outcome(Trigger.RESUME_SIGNING, data=txset)
    return None


class _NotYet(Exception):
    """A witness the load needs cannot be read now: try the whole load again later."""


def _load(deps: Deps, mem: Memory) -> bool:
    """The journal, completed from the other witnesses; False if it must be tried again later."""
    wait = deps.config.balance_check_interval
    try:
        loaded = deps.journal.load()
        for problem in loaded.problems:
            deps.log.error("journal_problem", message=problem)
        if loaded.torn_tail:
            deps.log.warning("journal_torn_tail", message="The journal's last line was cut short (the agent "
                             "stopped while writing it); that line is dropped and the witnesses fill in")
        if loaded.set_aside:
            deps.log.error("journal_set_aside", message=f"The journal was unusable; its bytes are kept in "
                           f"{loaded.set_aside}; rebuilding what was paid from the other witnesses")
        records = _records(deps)
        found = _rebuild(deps, mem, loaded, records)
        anchor = _schedule_anchor(deps, mem, loaded)
    except (StoreError, _NotYet) as exc:
        deps.log.error("journal_unreadable", message=f"Cannot load the journal yet ({exc}); nothing is paid "
                       f"until it can be; trying again in {wait:g}s")
        return False
    intents = {**loaded.intents, **found.intents}
    adopted = {**loaded.adopted_funded, **found.funded}
    for problem in mem.treasury.load(loaded.multisig):  # multisig treasury (issue 13)
        deps.log.error("journal_problem", message=problem)
    if found:
        _persist(deps, found)
    mem.load_intents(intents, adopted)
    mem.schedule_anchor = anchor
    mem.journal_loaded = True
    now = deps.clock.time()
    for tx_hash, intent in intents.items():
        if intent.status is Status.RECORDED:
            mem.verify_due_at[tx_hash] = now
        elif intent.status is Status.FAILED and intent.verdict in WATCHED:
            mem.watch_due_at[tx_hash] = now
    have = {(r.get("tx_hash"), r.get("recipient_id")) for r in records}
    lost = [i for i in intents.values() if i.status in LEDGER_STATUS
            and any((i.tx_hash, r) not in have for r in i.recipients)]
    write_back(deps, mem, lost, "transactions.json no longer held them (another writer replaced it?)")
    open_count = len(mem.open_intents())
    deps.log.info("journal_loaded", message=f"Journal: {len(intents)} intents, {open_count} open"
                  + (f", {len(adopted)} recipients funded without an intent (adopted)" if adopted else ""),
                  intents=len(intents), open=open_count, adopted=len(adopted))
    return True


def _schedule_anchor(deps: Deps, mem: Memory, loaded: Loaded) -> Optional[float]:
    """The schedule's clock: the first start, as the journal keeps it; at the first start with a schedule,
    this start, written to the journal before anything is paid (a failed write: the load is tried again)."""
    anchor = loaded.schedule_anchor
    if anchor is not None:
        if deps.config.schedule.configured:
            deps.log.info("schedule_anchor", message=f"The schedule's clock started at {anchor:.3f} (the first "
                          f"start, kept in the journal)", anchor=anchor, kept=True)
        return anchor
    if not deps.config.schedule.configured:
        return None
    anchor = mem.started_at if mem.started_at is not None else deps.clock.time()
    deps.journal.set_schedule_anchor(anchor)
    deps.log.info("schedule_anchor", message=f"The schedule's clock starts now, at {anchor:.3f} (the first "
                  f"start; kept in the journal so that a restart does not shift it)", anchor=anchor, kept=False)
    return anchor


def _records(deps: Deps) -> list[Record]:
    try:
        return deps.ledger.read()
    except StoreError as exc:
        raise _NotYet(f"transactions.json cannot be read to check the journal against it: {exc}") from None


def _rebuild(deps: Deps, mem: Memory, loaded: Loaded, records: list[Record]) -> rebuild.Rebuilt:
    """What the journal lacks: always this distributor's own records; when the journal was damaged,
    or missing although something says this distributor paid before, also the funding status and
    the miners' wallets."""
    out = rebuild.Rebuilt()
    known = set(loaded.intents)
    mine = [r for r in records if r.get("distributor_id") == deps.agent_id]
    snapshot: Optional[Snapshot] = None
    if any(r.get("tx_hash") not in known for r in mine):
        snapshot = _snapshot(deps, mem)
        endpoints = {m.agent_id: m.endpoint for m in snapshot.miners if m.endpoint}
        intents, problems = rebuild.intents_from_records(mine, deps.agent_id, known, endpoints)
        out.intents.update(intents)
        out.sources["transactions.json"] += len(intents)
        out.problems += problems
    status = _status_document(deps)
    paid_before = bool(mine) or bool(rebuild.funded_from_status(status, deps.agent_id, ()))
    if loaded.damaged or (not loaded.found and paid_before):
        paid = {r for i in {**loaded.intents, **out.intents}.values()
                if i.purpose is Purpose.INITIAL_FUNDING and i.status in PAID for r in i.recipients}
        out.funded = rebuild.funded_from_status(status, deps.agent_id, paid | set(loaded.adopted_funded))
        out.sources[STATUS_FILE] += len(out.funded)
        snapshot = snapshot or _snapshot(deps, mem)
        _from_wallets(deps, snapshot, records, {**loaded.intents, **out.intents}, out)
    for problem in out.problems:
        deps.log.warning("rebuild_problem", message=problem)
    if out:
        what = ", ".join(f"{n} from {source}" for source, n in out.sources.items() if n)
        deps.log.error("journal_rebuilt", message=f"The journal lacked what this distributor paid: adopted {what}; "
                       f"those recipients are not paid again", sources=dict(out.sources),
                       intents=len(out.intents), funded=len(out.funded))
    return out


def _from_wallets(deps: Deps, snapshot: Snapshot, records: list[Record], intents: dict[str, Intent],
                  out: rebuild.Rebuilt) -> None:
    recorded = {str(r.get("tx_hash")) for r in records} | set(intents)
    paid_initial = {r for i in intents.values() if i.purpose is Purpose.INITIAL_FUNDING
                    for r in i.recipients} | set(out.funded)
    book = _address_book(deps, snapshot)
    now = deps.clock.time()
    for miner in snapshot.miners:
        if not miner.endpoint:
            continue
        try:
            transfers = deps.wallets(*miner.endpoint).get_transfers()
        except WalletError as exc:
            deps.log.warning("rebuild_wallet_unreachable", message=f"Could not ask miner {miner.agent_id}'s wallet "
                             f"for its outgoing transfers ({exc}); the rebuild goes on without them")
            continue
        view = rebuild.WalletView(miner.agent_id, miner.endpoint, tuple(transfers))
        found, foreign = rebuild.intents_from_wallet(view, book, recorded, paid_initial, deps.config, now)
        out.intents.update(found)
        out.sources[f"miner {miner.agent_id}'s wallet"] += len(found)
        if foreign:
            deps.log.info("rebuild_foreign_transfers", message=f"{foreign} outgoing transfers of miner "
                          f"{miner.agent_id} do not look like this distributor's and are left alone")


def _address_book(deps: Deps, snapshot: Snapshot) -> dict[str, str]:
    """address -> agent id, from the registry, the info files, and the wallets of the rest."""
    book = {a.wallet_address: a.id for a in snapshot.agents if a.wallet_address}
    for agent in snapshot.with_wallet:
        if agent.wallet_address:
            continue
        try:
            address = deps.registry.info_address(agent.id)
            if address is None and agent.endpoint:
                address = deps.wallets(*agent.endpoint).get_address()
        except (StoreError, WalletError):
            continue
        if address:
            book.setdefault(address, agent.id)
    return book


def _snapshot(deps: Deps, mem: Memory) -> Snapshot:
    snapshot = registry_snapshot(deps, mem)
    if snapshot is None:
        raise _NotYet("the registry, needed to rebuild the journal, cannot be read")
    return snapshot


def _status_document(deps: Deps) -> Optional[Record]:
    try:
        return deps.status.read(STATUS_FILE)
    except StoreError as exc:
        deps.log.warning("funding_status_unreadable", message=f"{STATUS_FILE} cannot be read ({exc}); "
                         f"the rebuild goes on without it")
        return None


def _persist(deps: Deps, found: rebuild.Rebuilt) -> None:
    """Write what was adopted into the journal, so that the next start finds it there."""
    try:
        if found.intents:
            deps.journal.put_many(list(found.intents.values()))
        if found.funded:
            deps.journal.adopt_funded(found.funded)
    except StoreError as exc:
        deps.log.error("journal_write_failed", message=f"Could not write the rebuilt intents to the journal "
                       f"({exc}); they are kept in memory and rebuilt again at the next start")

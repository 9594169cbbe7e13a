"""What this distributor has paid, rebuilt from the other witnesses when its journal is not enough.

The journal is the first memory of who was paid, not the only one: this
distributor's own records in transactions.json (`distributor_id`), the
`funding_transactions` of initial_funding_status.json, and the miners' wallets'
outgoing transfers all say the same thing in part.  The functions here are
pure: they turn what those witnesses hold into intents (or funded recipients)
that the journal lacks; `actions/recovering.py` does the reading and writing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from fsm_distributor.core.config import Config
from fsm_distributor.core.intent import Destination, Intent
from fsm_distributor.core.names import Purpose, Status
from fsm_distributor.core.ports import Outgoing

#: A record's `status` -> the status of the intent it shows (a record exists: at least recorded).
RECORD_STATUS = {"relayed": Status.RECORDED, "recorded": Status.RECORDED, "confirmed": Status.CONFIRMED,
                 "failed": Status.FAILED}


@dataclass
class Rebuilt:
    """Intents and funded recipients the journal lacked, and where each came from."""

    intents: dict[str, Intent] = field(default_factory=dict)
    funded: dict[str, str] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.intents or self.funded)


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower())


def _uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def intents_from_records(records: Iterable[Mapping[str, Any]], agent_id: str, known: Iterable[str],
                         endpoints: Mapping[str, tuple[str, int]]) -> tuple[dict[str, Intent], list[str]]:
    """This distributor's records (one per recipient) grouped back into intents, for the tx_hashes
    not in `known`.  A record that cannot be read back exactly is skipped with a problem line."""
    known = set(known)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    problems: list[str] = []
    for index, record in enumerate(records):
        if record.get("distributor_id") != agent_id:
            continue
        tx_hash = record.get("tx_hash")
        why = _record_problem(record)
        if why:
            problems.append(f"transactions.json record {index} ({str(tx_hash)[:16]}): {why}; not rebuilt")
            continue
        if tx_hash not in known:
            groups.setdefault(str(tx_hash), []).append(record)
    intents = {}
    for tx_hash, group in groups.items():
        first = group[0]
        destinations: list[Destination] = []
        for record in group:
            n, total = record["num_outputs"], record["amount_atomic"]
            per = total // n
            destinations += [Destination(record["recipient_id"], record["recipient_address"], per)] * (n - 1)
            destinations.append(Destination(record["recipient_id"], record["recipient_address"], total - per * (n - 1)))
        at = float(first.get("timestamp") or 0.0)
        intents[tx_hash] = Intent(
            tx_hash=tx_hash, miner=first["sender_id"], miner_endpoint=endpoints.get(first["sender_id"], ("", 0)),
            destinations=tuple(destinations), fee=first["fee"] if _uint(first.get("fee")) else 0,
            status=RECORD_STATUS[first.get("status", "relayed")],
            attempts=first["attempts"] if _uint(first.get("attempts")) else 1,
            priority=first["priority"] if _uint(first.get("priority")) else 0,
            created_at=at, updated_at=at, relayed_at=at,
            height=first["height"] if _uint(first.get("height")) else 0,
            confirmations=first["confirmations"] if _uint(first.get("confirmations")) else 0,
            purpose=_purpose(first.get("purpose")), note="rebuilt from transactions.json",
            # a treasury spend's records (issue 13) say so; its sender_address is not in them
            multisig=first["multisig"] if isinstance(first.get("multisig"), str) else "",
            signers=tuple(str(s) for s in first.get("signers") or ()) if isinstance(first.get("signers"), list) else (),
            **_occurrence(first))
    return intents, problems


def _occurrence(record: Mapping[str, Any]) -> dict[str, Any]:
    """A scheduled payment's occurrence key and time lock, read back from its record (issue 12): without
    them a lost journal would make the occurrence due again."""
    schedule_id, number = record.get("schedule_id"), record.get("occurrence")
    if not isinstance(schedule_id, str) or not schedule_id or not _uint(number):
        return {}
    return {"schedule_id": schedule_id, "occurrence": number,
            "unlock_time": record["unlock_time"] if _uint(record.get("unlock_time")) else 0}


def _purpose(value: Any) -> Purpose:
    try:
        return Purpose(value)
    except ValueError:
        return Purpose.DISTRIBUTION


def _record_problem(record: Mapping[str, Any]) -> str:
    if not _is_hash(record.get("tx_hash")):
        return "no 64-hex-digit tx_hash"
    for key in ("sender_id", "recipient_id", "recipient_address"):
        if not isinstance(record.get(key), str) or not record.get(key):
            return f"no string {key!r}"
    if not _uint(record.get("amount_atomic")):
        return f"amount_atomic {record.get('amount_atomic')!r} is not an integer >= 0"
    if not _uint(record.get("num_outputs")) or record["num_outputs"] < 1:
        return f"num_outputs {record.get('num_outputs')!r} is not an integer >= 1"
    if record.get("status", "relayed") not in RECORD_STATUS:
        return f"unknown status {record.get('status')!r}"
    return ""


def funded_from_status(document: Any, agent_id: str, paid: Iterable[str]) -> dict[str, str]:
    """Recipients initial_funding_status.json calls funded that are not in `paid`: recipient ->
    its funding tx_hash (our `funding_transactions`) or '' when the file names none.

    Only a document this distributor wrote counts: every distributor of a run writes the same file.
    """
    if not isinstance(document, dict) or document.get("distributor_id") != agent_id:
        return {}
    paid = set(paid)
    hashes = document.get("funding_transactions")
    hashes = hashes if isinstance(hashes, dict) else {}
    funded = document.get("funded_recipients")
    names = [r for r in funded if isinstance(r, str)] if isinstance(funded, list) else []
    names += [r for r in hashes if isinstance(r, str)]
    return {r: (str(hashes[r]) if _is_hash(hashes.get(r)) else "") for r in dict.fromkeys(names) if r not in paid}


@dataclass(frozen=True)
class WalletView:
    """One miner wallet's outgoing transfers, as `wallet.Outgoing`-like tuples."""

    miner: str
    endpoint: tuple[str, int]
    transfers: tuple[Outgoing, ...]


def intents_from_wallet(view: WalletView, addresses: Mapping[str, str], recorded: Iterable[str],
                        paid_initial: Iterable[str], config: Config, now: float) -> tuple[dict[str, Intent], int]:
    """Outgoing transfers of a miner that look like this distributor's and that no record holds,
    as `relayed` intents (Recording then writes their records).  Returns them and how many
    transfers were left alone because they do not look like ours.

    Ours means: every output goes to a known agent other than the miner, and the transfer has the
    shape of a funding batch (each recipient `md_out_per_tx` outputs of `md_output_amount`).  A
    single payment is not adopted: one output of a common amount to a known agent is what any tool
    sending from a miner's wallet makes (seen in the test network), and adopting it would record a
    payment this agent never made; losing the record of a random payment harms nobody.
    """
    recorded, paid_initial = set(recorded), set(paid_initial)
    intents: dict[str, Intent] = {}
    foreign = 0
    for tx in view.transfers:
        if tx.tx_hash in recorded:
            continue
        owners = [addresses.get(address) for address, _ in tx.destinations]
        if not tx.destinations or None in owners or view.miner in owners:
            foreign += 1
            continue
        destinations = tuple(Destination(owner, address, amount)
                             for owner, (address, amount) in zip(owners, tx.destinations) if owner is not None)
        purpose = _shape(destinations, config, paid_initial)
        if purpose is None:
            foreign += 1
            continue
        intents[tx.tx_hash] = Intent(
            tx_hash=tx.tx_hash, miner=view.miner, miner_endpoint=view.endpoint, destinations=destinations,
            fee=tx.fee, status=Status.RELAYED, priority=config.priority, created_at=now, updated_at=now, relayed_at=now,
            purpose=purpose, note=f"rebuilt from miner {view.miner}'s wallet ({tx.type})")
    return intents, foreign


def _shape(destinations: tuple[Destination, ...], config: Config, paid_initial: set[str]) -> Optional[Purpose]:
    """The funding purpose whose shape the outputs have, or None."""
    per_recipient = Counter(d.recipient for d in destinations)
    batch = all(n == config.outputs_per_recipient for n in per_recipient.values()) and \
        all(d.amount == config.output_amount for d in destinations)
    if not batch:
        return None
    return Purpose.FUNDING_CYCLE if set(per_recipient) <= paid_initial else Purpose.INITIAL_FUNDING

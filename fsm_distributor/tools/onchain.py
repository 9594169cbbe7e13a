"""What the chain says about a run's records: the sandbox's checks, and its machine-readable summary.

Every recipient's incoming transfers come from one `get_transfers` per wallet,
told apart by subaddress index, so a stand-in (a subaddress of a shared wallet)
is checked exactly like an agent with its own wallet-rpc.  Each transaction is
asked of its sender's wallet.  Amounts are integers of atomic units throughout.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

from fsm_distributor.core import funding
from fsm_distributor.core.amounts import AmountError, parse_xmr, to_decimal
from fsm_distributor.core.config import Config
from fsm_distributor.core.errors import WalletError

if TYPE_CHECKING:  # the network is a tool of the same layer; only its type is needed here
    from fsm_distributor.tools.regtest import RegtestNetwork

INITIAL = "initial_funding"


def xmr(atomic) -> str:
    """Six decimals for tables (exact Decimal rounding, no float)."""
    return f"{to_decimal(atomic):.6f}" if isinstance(atomic, int) else "?"


def is_distribution(record: dict) -> bool:
    """Random-amount sends; initial-funding batches pay md_output_amount per output instead."""
    return record.get("purpose", "distribution") == "distribution"


def record_atomic(record: dict) -> int:
    """The exact amount; records of other writers may only carry the XMR number."""
    if isinstance(record.get("amount_atomic"), int):
        return record["amount_atomic"]
    try:
        return parse_xmr(repr(record.get("amount", 0)))
    except AmountError:
        return 0


# -- the chain -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Incoming:
    """One transaction's outputs to one recipient (a get_transfers entry of its wallet and subaddress)."""

    tx_hash: str
    amounts: tuple[int, ...]
    confirmations: int


def incoming_by_recipient(net: "RegtestNetwork", agent_ids: Iterable[str]
                          ) -> tuple[dict[str, dict[str, Incoming]], dict[str, str]]:
    """({agent: {tx_hash: Incoming}}, {agent: error}): one get_transfers per wallet that holds them."""
    by_wallet: dict[str, list[str]] = defaultdict(list)
    for agent_id in agent_ids:
        by_wallet[net.wallet_of(agent_id)].append(agent_id)
    found: dict[str, dict[str, Incoming]] = {aid: {} for ids in by_wallet.values() for aid in ids}
    errors: dict[str, str] = {}
    for wallet_id, ids in by_wallet.items():
        by_index = {net.nodes[aid].subaddress_index: aid for aid in ids}
        try:
            answer = net.wallet(wallet_id).call("get_transfers", {"in": True, "pool": True, "coinbase": False,
                                                                   "account_index": 0}, timeout=120)
        except WalletError as exc:
            errors.update({aid: str(exc) for aid in ids})
            continue
        for entry in (answer.get("in") or []) + (answer.get("pool") or []):
            index = entry.get("subaddr_index") or {}
            aid = by_index.get(int(index.get("minor", -1))) if int(index.get("major", 0)) == 0 else None
            if aid is None or entry.get("type") not in ("in", "pool"):
                continue
            amounts = tuple(int(a) for a in entry.get("amounts") or [entry.get("amount", 0)])
            found[aid][str(entry["txid"])] = Incoming(str(entry["txid"]), amounts,
                                                      int(entry.get("confirmations", 0)))
    return found, errors


@dataclass
class TxCheck:
    """The sender wallet's view of one transaction hash."""

    tx_hash: str
    sender_id: str
    type: str = ""
    height: int = 0
    confirmations: int = 0
    fee: int = 0
    recorded_fees: list = field(default_factory=list)
    error: str = ""

    @property
    def confirmed(self) -> bool:
        return self.type == "out" and self.confirmations >= 1


@dataclass
class ReceiptCheck:
    """What one recipient's wallet received in one transaction vs what was recorded."""

    tx_hash: str
    recipient_id: str
    recorded: int
    received: int = 0
    outputs: int = 0
    confirmations: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.received == self.recorded and self.confirmations >= 1


def verify_records(net: "RegtestNetwork", records: Sequence[dict],
                   incoming: Optional[tuple[dict, dict]] = None) -> tuple[dict, dict]:
    """Check records on chain; returns ({tx_hash: TxCheck}, {(tx_hash, recipient): ReceiptCheck}).

    Refresh the wallets first (`net.refresh`) or recent blocks are not seen.  `incoming`
    is `incoming_by_recipient` of (at least) the recorded recipients, if already asked."""
    txs: dict[str, TxCheck] = {}
    receipts: dict[tuple[str, str], ReceiptCheck] = {}
    for rec in records:
        h, sender, recipient = str(rec.get("tx_hash", "")), str(rec.get("sender_id", "")), str(rec.get("recipient_id", ""))
        tx = txs.setdefault(h, TxCheck(h, sender))
        tx.recorded_fees.append(rec.get("fee"))
        receipts.setdefault((h, recipient), ReceiptCheck(h, recipient, 0)).recorded += record_atomic(rec)
    for tx in txs.values():
        if tx.sender_id not in net.nodes:
            tx.error = f"sender {tx.sender_id!r} is not a wallet of this network"
            continue
        try:
            t = net.wallet(tx.sender_id).get_transfer_by_txid(tx.tx_hash)
        except WalletError as exc:
            tx.error = str(exc)
            continue
        tx.type, tx.height = str(t.get("type", "")), int(t.get("height", 0))
        tx.confirmations, tx.fee = int(t.get("confirmations", 0)), int(t.get("fee", 0))
    known = sorted({rc.recipient_id for rc in receipts.values()} & set(net.nodes))
    found, errors = incoming if incoming is not None else incoming_by_recipient(net, known)
    for rc in receipts.values():
        if rc.recipient_id not in net.nodes:
            rc.error = f"recipient {rc.recipient_id!r} is not a wallet of this network"
        elif rc.recipient_id in errors:
            rc.error = errors[rc.recipient_id]
        else:
            got = found.get(rc.recipient_id, {}).get(rc.tx_hash)
            if got is not None:
                rc.received, rc.outputs, rc.confirmations = sum(got.amounts), len(got.amounts), got.confirmations
    return txs, receipts


def find_problems(records: Sequence[dict], txs: dict, receipts: dict, min_atomic: int, max_atomic: int,
                  sent_hashes: Sequence[str] = ()) -> list[str]:
    """Everything about the records that is wrong, one line each.

    `sent_hashes` (from the agent's tx_sent lines) catches transactions that
    went on chain but never reached transactions.json."""
    problems = []
    recorded = {str(r.get("tx_hash")) for r in records}
    for h in dict.fromkeys(sent_hashes):
        if h not in recorded:
            problems.append(f"{h[:12]}..: logged as sent but not in transactions.json")
    for rec in records:
        who = f"{str(rec.get('tx_hash', ''))[:12]}.. {rec.get('sender_id')}->{rec.get('recipient_id')}"
        if rec.get("sender_id") == rec.get("recipient_id"):
            problems.append(f"{who}: sent to the selected miner itself")
        if is_distribution(rec) and not min_atomic <= record_atomic(rec) <= max_atomic:
            problems.append(f"{who}: amount {xmr(record_atomic(rec))} outside [{xmr(min_atomic)}, {xmr(max_atomic)}]")
        if not isinstance(rec.get("fee"), int) or rec["fee"] <= 0:
            problems.append(f"{who}: fee not recorded ({rec.get('fee')!r})")
    for tx in txs.values():
        if tx.error:
            problems.append(f"{tx.tx_hash[:12]}..: sender {tx.sender_id}: {tx.error}")
        elif not tx.confirmed:
            problems.append(f"{tx.tx_hash[:12]}..: not confirmed (type {tx.type!r}, {tx.confirmations} conf)")
        elif tx.fee and tx.fee not in tx.recorded_fees and sum(f for f in tx.recorded_fees if isinstance(f, int)) != tx.fee:
            problems.append(f"{tx.tx_hash[:12]}..: recorded fee {tx.recorded_fees} but the wallet says {tx.fee}")
    for rc in receipts.values():
        if rc.error:
            problems.append(f"{rc.tx_hash[:12]}..: recipient {rc.recipient_id}: {rc.error}")
        elif rc.received != rc.recorded:
            problems.append(f"{rc.tx_hash[:12]}..: {rc.recipient_id} received {xmr(rc.received)}, "
                            f"recorded {xmr(rc.recorded)}")
    return problems


def unrecorded(records: Sequence[dict], found: Mapping[str, Mapping[str, Incoming]]) -> list[str]:
    """Payments on chain that no record names (on a fresh network everything incoming is the agent's)."""
    recorded = {(str(r.get("tx_hash")), str(r.get("recipient_id"))) for r in records}
    return [f"{h[:12]}..: {aid} received {xmr(sum(got.amounts))} on chain, but no record says so"
            for aid, txs in sorted(found.items()) for h, got in txs.items() if (h, aid) not in recorded]


# -- initial funding -------------------------------------------------------------------------

@dataclass
class Funding:
    """One eligible recipient's initial funding: its records and what the chain shows of those txs."""

    recipient_id: str
    txs: tuple[str, ...] = ()
    amounts: tuple[int, ...] = ()          # every output received in those txs
    confirmations: int = 0                 # the least of them

    def problem(self, config: Config) -> str:
        want = (config.output_amount,) * config.outputs_per_recipient
        if not self.txs:
            return f"{self.recipient_id}: not funded (no {INITIAL} record)"
        if len(self.txs) > 1:
            return f"{self.recipient_id}: funded {len(self.txs)} times ({', '.join(h[:12] for h in self.txs)})"
        if tuple(sorted(self.amounts)) != want:
            return (f"{self.recipient_id}: received {len(self.amounts)} output(s) "
                    f"[{', '.join(xmr(a) for a in self.amounts)}], configured {len(want)} x {xmr(want[0])} XMR")
        if self.confirmations < 1:
            return f"{self.recipient_id}: funding {self.txs[0][:12]}.. not confirmed"
        return ""


def funding_checks(eligible: Iterable[str], records: Sequence[dict],
                   found: Mapping[str, Mapping[str, Incoming]]) -> dict[str, Funding]:
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        if rec.get("purpose") == INITIAL and str(rec.get("tx_hash")) not in by_recipient[str(rec.get("recipient_id"))]:
            by_recipient[str(rec.get("recipient_id"))].append(str(rec.get("tx_hash")))
    checks = {}
    for rid in eligible:
        hashes = tuple(by_recipient.get(rid, ()))
        got = [found.get(rid, {}).get(h) for h in hashes]
        checks[rid] = Funding(rid, hashes, tuple(a for g in got if g for a in g.amounts),
                              min((g.confirmations if g else 0 for g in got), default=0))
    return checks


def min_funding_txs(n_recipients: int, config: Config) -> int:
    """ceil(recipients / recipients per transaction): the fewest transactions the batch rules allow."""
    return math.ceil(n_recipients / funding.recipients_per_transaction(config))


# -- the summary document --------------------------------------------------------------------

def summary_document(*, net: "RegtestNetwork", config: Config, records: Sequence[dict], txs: Mapping[str, TxCheck],
                     receipts: Mapping, fundings: Mapping[str, Funding], problems: Sequence[str],
                     verdict: str, ok: bool, extra: Mapping) -> dict:
    """summary.json: funding per recipient, the miners' spending, fees, the verdict (amounts atomic)."""
    funding_hashes = sorted({h for f in fundings.values() for h in f.txs})
    per_sender: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        per_sender[str(rec.get("sender_id"))].append(rec)
    miners = {}
    for sender, recs in sorted(per_sender.items()):
        hashes = {str(r.get("tx_hash")) for r in recs}
        node = net.nodes.get(sender)
        miners[sender] = {"weight": node.weight if node else None, "transactions": len(hashes), "records": len(recs),
                          "sent_atomic": sum(record_atomic(r) for r in recs),
                          "fees_atomic": sum(txs[h].fee for h in hashes if h in txs),
                          "confirmed_transactions": sum(1 for h in hashes if h in txs and txs[h].confirmed)}
    return {
        **extra,
        "verdict": verdict, "ok": ok,
        "funding": {
            "configured": {"outputs_per_recipient": config.outputs_per_recipient,
                           "output_amount_atomic": config.output_amount,
                           "recipients_per_transaction": funding.recipients_per_transaction(config)},
            "eligible": len(fundings),
            "funded_as_configured": sum(1 for f in fundings.values() if not f.problem(config)),
            "transactions": len(funding_hashes),
            "minimum_transactions": min_funding_txs(len(fundings), config) if fundings else 0,
            "amount_atomic": sum(sum(f.amounts) for f in fundings.values()),
            "recipients": {rid: {"transactions": list(f.txs), "outputs": len(f.amounts),
                                 "amount_atomic": sum(f.amounts), "confirmations": f.confirmations,
                                 "problem": f.problem(config) or None} for rid, f in fundings.items()},
        },
        "transactions": {"count": len(txs), "records": len(records),
                         "payments": len({str(r.get("tx_hash")) for r in records if is_distribution(r)}),
                         "confirmed": sum(1 for t in txs.values() if t.confirmed),
                         "fees_atomic": sum(t.fee for t in txs.values()),
                         "receipts_matching_chain": sum(1 for rc in receipts.values() if rc.ok),
                         "receipts": len(receipts)},
        "miners": miners,
        "problems": list(problems),
    }

"""The treasury's parts (issue 13): its attributes, its journal lines, and the wallet-rpc adapter."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from fakes import make_address
from fsm_distributor.adapters.journal import Journal, parse_lines
from fsm_distributor.adapters.multisig import MultisigRpc
from fsm_distributor.adapters.rpc_errors import RpcError
from fsm_distributor.adapters.shared_state import SharedDir
from fsm_distributor.core import multisig
from fsm_distributor.core.config import ConfigError, load_config
from fsm_distributor.core.errors import (BadAnswer, ErrorKind, SignerLost, TxsetIncomplete, TxsetRejected, TxsetStale,
                                         WalletExists)
from fsm_distributor.core.intent import Destination, Intent
from fsm_distributor.core.multisig import Setup, Txset, TxsetStatus
from fsm_distributor.core.names import Purpose, Status

ON = {"multisig_mode": "payments", "multisig_signers": "a,b,c"}


# ---------------------------------------------------------------- attributes


def refused(attributes: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(attributes)
    return str(info.value)


def test_off_by_default_and_the_defaults_change_nothing_else():
    config = load_config({})
    assert (config.multisig_mode, config.multisig_signers, config.multisig_threshold) == ("off", (), 2)
    assert load_config({"multisig_signers": "x"}).multisig_signers == ("x",), "not checked while off"


def test_the_treasury_attributes_are_parsed_exactly():
    config = load_config({**ON, "multisig_threshold": "3", "multisig_funding_amount": "12.5",
                          "multisig_funding_outputs": "4", "multisig_refill_below": "2.000000000001",
                          "multisig_mode": "ALL"})
    assert config.multisig_signers == ("a", "b", "c") and config.multisig_threshold == 3
    assert config.multisig_funding_amount == 12_500_000_000_000 and config.multisig_refill_below == 2_000_000_000_001
    assert config.multisig_mode == "all" and config.multisig_funding_outputs == 4
    destinations = multisig.funding_destinations(config, "d", "ADDR")
    assert [d.amount for d in destinations] == [3_125_000_000_000] * 4 and sum(d.amount for d in destinations) == \
        config.multisig_funding_amount


@pytest.mark.parametrize("attributes,words", [
    ({"multisig_mode": "payments"}, ["multisig_signers", "at least 2"]),
    ({**ON, "multisig_signers": "a"}, ["multisig_signers='a'", "at least 2"]),
    ({**ON, "multisig_signers": "a,b,a"}, ["multisig_signers='a,b,a'", "a given twice"]),
    ({**ON, "multisig_signers": "a,b/c"}, ["'b/c'", "a path separator"]),
    ({**ON, "multisig_threshold": "4"}, ["multisig_threshold='4'", "an integer 2-3"]),
    ({**ON, "multisig_threshold": "1"}, ["multisig_threshold='1'", "an integer 2-16"]),
    ({**ON, "multisig_refill_below": "50"}, ["multisig_refill_below='50'", "less than multisig_funding_amount"]),
    ({**ON, "multisig_refill_below": "0.5"}, ["multisig_refill_below='0.5'", "at least max_transaction_amount"]),
    ({**ON, "multisig_funding_outputs": "16"}, ["multisig_funding_outputs='16'", "1-15"]),
    ({"multisig_mode": "sometimes"}, ["multisig_mode='sometimes'", "off | payments | all"]),
])
def test_bad_treasury_attributes_are_refused_in_one_line_naming_them(attributes, words):
    message = refused(attributes)
    assert "\n" not in message
    for word in words:
        assert word in message, message


# ---------------------------------------------------------------- journal lines


def setup_line(**changes) -> Setup:
    base = Setup(1, "d-multisig-1", ("a", "b", "c"), 2, created=("a", "b", "c"),
                 rounds=({"a": ("i0a", ""), "b": ("i0b", ""), "c": ("i0c", "")},))
    return replace(base, **changes)


def txset_line(status=TxsetStatus.PARTIAL, tx_hash="") -> Txset:
    return Txset("abc", "d-multisig-1", 2, 3, ("a", "b"), ("a",), "set-hex",
                 (Destination("u1", make_address("u1"), 5),), 7, Purpose.DISTRIBUTION, 1, ("k" * 64,),
                 status=status, tx_hash=tx_hash)


def test_multisig_lines_round_trip_through_the_journal_and_compaction_keeps_what_matters(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    setup = setup_line()
    journal.put_multisig(setup.key, setup.to_json())
    ready = setup.checked(make_address("t"), 5.0)
    journal.put_multisig(ready.key, ready.to_json())  # the last line of a key wins
    partial, open_signed, done, dropped = (txset_line(), replace(txset_line(TxsetStatus.SIGNED, "1" * 64), id="o"),
                                           replace(txset_line(TxsetStatus.SIGNED, "2" * 64), id="d"),
                                           replace(txset_line(TxsetStatus.ABANDONED), id="x"))
    for line in (partial, open_signed, done, dropped):
        journal.put_multisig(line.key, line.to_json())
    intent = multisig.spend_intent(done, "d", ("127.0.0.1", 1), ready.address, 6.0)
    journal.put(intent)
    loaded = journal.load()
    assert Setup.from_json(loaded.multisig[setup.key]) == ready
    assert {k for k, b in loaded.multisig.items() if b["kind"] == "txset"} == {partial.key, open_signed.key}
    assert Txset.from_json(loaded.multisig[partial.key]) == partial
    assert loaded.intents[intent.tx_hash] == intent and intent.multisig == "2-of-3"
    # compacted on disk: the same again, the dropped lines gone
    again = parse_lines(journal.path.read_bytes())
    assert set(again.multisig) == set(loaded.multisig) and not again.problems
    assert len(journal.path.read_bytes().splitlines()) == 1 + 3


def test_a_miners_intent_is_written_as_before_and_old_journals_load(tmp_path):
    intent = Intent("a" * 64, "m1", ("127.0.0.1", 1), (Destination("u1", "addr", 1),), 2)
    data = intent.to_json()
    assert "multisig" not in data and "signers" not in data
    assert Intent.from_json(data) == intent
    spend = replace(intent, miner="d-multisig", multisig="2-of-3", signers=("a", "b"))
    assert Intent.from_json(json.loads(json.dumps(spend.to_json()))) == spend


def test_a_malformed_multisig_line_is_a_problem_and_the_file_is_kept_aside(tmp_path):
    journal = Journal(SharedDir(tmp_path), "d")
    journal.put_multisig("setup:x", setup_line().to_json())
    with open(journal.path, "ab") as out:
        out.write(b'{"multisig": {"key": 3}}\n')
    loaded = journal.load()
    assert loaded.problems and "malformed multisig line" in loaded.problems[0]
    assert loaded.set_aside and (tmp_path / loaded.set_aside).exists()
    assert set(loaded.multisig) == {"setup:x"}
    assert multisig.TreasuryState().load({"k": {"kind": "setup", "wallet": 1}}) != []


# ---------------------------------------------------------------- the adapter


class StubClient:
    """WalletClient's `call`, scripted: method -> answer dict or RpcError."""

    host, port = "127.0.0.1", 1

    def __init__(self, **answers):
        self.answers = answers
        self.sent: list[tuple[str, object]] = []

    def call(self, method, params=None, *, timeout=None):
        self.sent.append((method, params))
        answer = self.answers[method]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize("method,call,code,message,error", [
    ("create_wallet", lambda s: s.create_wallet("w", ""), -21, "Cannot create wallet. Already exists.", WalletExists),
    ("make_multisig", lambda s: s.make(["i"], 2, ""), -28, "This wallet is already multisig", SignerLost),
    ("exchange_multisig_keys", lambda s: s.exchange(["i"], ""), -1,
     "Error calling exchange_multisig_info: Messages don't have the expected kex round number.", SignerLost),
    ("exchange_multisig_keys", lambda s: s.exchange(["i"], ""), -48, "multisig is disabled", SignerLost),
    ("open_wallet", lambda s: s.open_wallet("w", ""), -1, "Failed to open wallet", SignerLost),
    ("sign_multisig", lambda s: s.sign("t"), -35, "Failed to sign multisig tx: This signature was made with stale "
     "data", TxsetStale),
    ("submit_multisig", lambda s: s.submit("t"), -33, "Not enough signers signed this transaction.",
     TxsetIncomplete),
    ("submit_multisig", lambda s: s.submit("t"), -36, "Failed to submit multisig tx: transaction was rejected by "
     "daemon", TxsetRejected),
])
def test_the_codes_of_0_18_become_the_ports_multisig_errors(method, call, code, message, error):
    signer = MultisigRpc(StubClient(**{method: RpcError(method, code, message)}))
    with pytest.raises(error) as info:
        call(signer)
    assert info.value.code == code and message in str(info.value)


def test_other_errors_keep_their_kind():
    signer = MultisigRpc(StubClient(import_multisig_info=RpcError("import_multisig_info", -1, "Bad multisig info")))
    with pytest.raises(RpcError) as info:
        signer.import_info(["x"])
    assert info.value.kind is ErrorKind.TRANSIENT


def test_the_calls_send_what_0_18_needs():
    client = StubClient(close_wallet={}, prepare_multisig={"multisig_info": "MultisigxV2R1x"},
                        transfer={"multisig_txset": "4d6f", "fee": 5, "amount": 9,
                                  "spent_key_images": {"key_images": ["a" * 64]}, "tx_hash": ""},
                        describe_transfer={"desc": [{"recipients": [{"address": "A", "amount": 9}],
                                                     "change_amount": 1}]},
                        sign_multisig={"tx_data_hex": "4d6f2", "tx_hash_list": ["b" * 64]},
                        submit_multisig={"tx_hash_list": ["b" * 64]},
                        is_multisig={"multisig": True, "ready": False, "threshold": 2, "total": 3})
    signer = MultisigRpc(client)
    signer.close_wallet()
    assert client.sent[-1] == ("close_wallet", {"autosave_current": True}), "params, or it does not save"
    assert signer.prepare() == "MultisigxV2R1x"
    assert client.sent[-1][1] == {"enable_multisig_experimental": True}
    built = signer.transfer([Destination("u", "A", 9)], priority=1)
    assert (built.txset, built.fee, built.key_images) == ("4d6f", 5, ("a" * 64,))
    assert client.sent[-1][1]["do_not_relay"] is True
    assert signer.describe("4d6f") == (("A", 9),)
    assert signer.sign("4d6f").tx_hashes == ("b" * 64,)
    assert signer.submit("4d6f2") == ("b" * 64,)
    assert signer.state().total == 3
    with pytest.raises(TypeError):
        signer.transfer([Destination("u", "A", 9.0)], priority=1)  # type: ignore[arg-type]


def test_a_transfer_on_a_wallet_that_is_not_multisig_is_refused_not_sent():
    signer = MultisigRpc(StubClient(transfer={"tx_hash": "c" * 64, "fee": 1, "amount": 1, "multisig_txset": ""}))
    with pytest.raises(BadAnswer, match="not multisig"):
        signer.transfer([Destination("u", "A", 1)], priority=1)


def test_finalize_multisig_is_never_called():
    package = Path(__file__).resolve().parents[1] / "fsm_distributor"
    calls = [p for p in package.rglob("*.py") if '"finalize_multisig"' in p.read_text()]
    assert not calls, calls

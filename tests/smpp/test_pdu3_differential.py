"""Differential decoding: smpp.pdu3 (Jasmin's codec, written independently of ours) reads the PDUs we
encode, and every field it finds must be the field we meant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smpp.codec import encode
from smpp.constants import Tag
from smpp.pdu import (
    CSTR,
    SM,
    U8,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    EnquireLink,
    GenericNack,
    NetworkErrorCode,
    Pdu,
    QuerySm,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smpp.tlv import encode_value

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv" / "peers"
ORACLE = Path(__file__).with_name("pdu3_oracle.py")

pytestmark = pytest.mark.skipif(
    not (PEERS / "smpp" / "pdu").is_dir(),
    reason="smpp.pdu3 not installed in .venv/peers (make install does it)",
)


def oracle(frames: list[bytes]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-S", str(ORACLE), str(PEERS)],
        input="".join(f.hex() + "\n" for f in frames),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def expected_fields(pdu: Pdu) -> dict[str, str | None]:
    """Each body field as the wire bytes smpp.pdu3 should re-encode it to (None where it reads NULL)."""
    out: dict[str, str | None] = {}
    for name, kind, _, _ in type(pdu)._body:
        value = getattr(pdu, name)
        if kind == CSTR:
            out[name] = (value.encode("latin-1") + b"\0").hex()
        elif kind == U8:
            out[name] = bytes([value]).hex()
        elif kind == SM:
            out[name] = value.hex()
    if isinstance(pdu, SubmitSm | DeliverSm):
        for name in ("schedule_delivery_time", "validity_period"):
            if not getattr(pdu, name):
                out[name] = None  # smpp.pdu3 reads an empty time as NULL
    return out


def compare(pdus: list[Pdu]) -> int:
    answers = oracle([encode(p) for p in pdus])
    assert len(answers) == len(pdus)
    for pdu, answer in zip(pdus, answers, strict=True):
        assert "error" not in answer, (pdu, answer)
        assert answer["command_id"] == pdu.command_id
        assert answer["sequence_number"] == pdu.sequence_number
        assert answer["command_status"] == pdu.command_status
        for name, value in expected_fields(pdu).items():
            assert answer["fields"].get(name) == value, (name, pdu)
        tlvs = getattr(pdu, "tlvs", {})
        assert {int(t): v for t, v in answer["options"].items()} == {
            # smpp.pdu3 hands back C-string TLVs without their terminating NUL
            int(tag): (value.encode("latin-1") if isinstance(value, str) else encode_value(tag, value)).hex()
            for tag, value in tlvs.items()
        }
    return len(pdus)


ASCII = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=15)
TIMES = st.sampled_from(["", "261123080000000+", "261124120000032-"])
TLVS = st.fixed_dictionaries(
    {},
    optional={
        Tag.USER_MESSAGE_REFERENCE: st.integers(0, 0xFFFF),
        Tag.SAR_MSG_REF_NUM: st.integers(0, 0xFFFF),
        Tag.SAR_TOTAL_SEGMENTS: st.integers(1, 255),
        Tag.SAR_SEGMENT_SEQNUM: st.integers(1, 255),
        Tag.SOURCE_PORT: st.integers(0, 0xFFFF),
        Tag.DESTINATION_PORT: st.integers(0, 0xFFFF),
        Tag.MESSAGE_PAYLOAD: st.binary(min_size=1, max_size=300),
    },
)
RECEIPT_TLVS = st.fixed_dictionaries(
    {
        Tag.RECEIPTED_MESSAGE_ID: st.text(
            st.sampled_from("0123456789abcdefABCDEF-"), min_size=1, max_size=64
        ),
        Tag.MESSAGE_STATE: st.integers(1, 8),
    },
    optional={Tag.NETWORK_ERROR_CODE: st.builds(NetworkErrorCode, st.integers(1, 3), st.integers(0, 0xFFFF))},
)


def messages(
    cls: type[SubmitSm] | type[DeliverSm], tlvs: st.SearchStrategy[dict[int, Any]]
) -> st.SearchStrategy[Pdu]:
    return st.builds(
        cls,
        sequence_number=st.integers(1, 0x7FFFFFFF),
        service_type=st.sampled_from(["", "CMT", "WAP"]),
        source_addr_ton=st.integers(0, 6),
        source_addr_npi=st.sampled_from([0, 1, 3, 4, 6, 8, 9, 10, 14, 18]),
        source_addr=ASCII,
        dest_addr_ton=st.integers(0, 6),
        dest_addr_npi=st.sampled_from([0, 1, 8]),
        destination_addr=st.text(st.sampled_from("0123456789"), max_size=20),
        esm_class=st.sampled_from([0, 0x40]) if cls is SubmitSm else st.sampled_from([0, 4, 0x40]),
        protocol_id=st.integers(0, 255),
        priority_flag=st.integers(0, 3),
        schedule_delivery_time=TIMES if cls is SubmitSm else st.just(""),
        validity_period=TIMES,
        registered_delivery=st.sampled_from([0, 1, 2]),
        replace_if_present_flag=st.integers(0, 1),
        data_coding=st.sampled_from([0, 1, 3, 4, 8, 0xF0, 0xF2, 0xF5]),
        short_message=st.binary(max_size=160),
        tlvs=tlvs,
    )


FIXED: list[Pdu] = [
    BindTransmitter(sequence_number=1, system_id="acme", password="secret", system_type="VMA"),
    BindReceiver(sequence_number=2, system_id="acme", password="pw", addr_ton=1, addr_npi=1,
                 address_range="44"),
    BindTransceiver(sequence_number=3, system_id="acme", password="pw"),
    SubmitSmResp(sequence_number=4, message_id="0A1B2C3D"),
    EnquireLink(sequence_number=5),
    Unbind(sequence_number=6),
    GenericNack(sequence_number=7, command_status=3),
    QuerySm(sequence_number=8, message_id="123", source_addr_ton=1, source_addr_npi=1,
            source_addr="447700900123"),
    DataSm(sequence_number=9, source_addr="Acme", destination_addr="447700900123", data_coding=8,
           tlvs={Tag.MESSAGE_PAYLOAD: "héllo".encode("utf-16-be")}),
]  # fmt: skip


def test_fixed_pdus_of_every_kind_decode_identically_in_smpp_pdu3() -> None:
    assert compare(FIXED) == len(FIXED)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    st.lists(messages(SubmitSm, TLVS), min_size=40, max_size=40),
    st.lists(messages(DeliverSm, RECEIPT_TLVS), min_size=40, max_size=40),
)
def test_random_submit_sm_and_receipt_deliver_sm_decode_identically(subs: list[Pdu], dlrs: list[Pdu]) -> None:
    assert compare(subs + dlrs) == 80

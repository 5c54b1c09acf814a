"""The codec: every PDU round-trips byte for byte; a byte stream splits the same however it arrives;
arbitrary bytes give a PDU, need-more-data or a protocol error, never anything else."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smpp.codec import MAX_PDU_LENGTH, PduReader, decode, decode_generic, encode, encode_generic
from smpp.constants import CommandStatus, Tag
from smpp.errors import (
    InvalidBody,
    InvalidCommandLength,
    LocalProtocolError,
    RemoteProtocolError,
    UnknownCommand,
)
from smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindTransceiverResp,
    DataSm,
    DeliverSm,
    NetworkErrorCode,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)

from .strategies import any_pdu, pdus_of, sequences


@pytest.mark.parametrize("command_id", sorted(PDU_CLASSES), ids=lambda c: PDU_CLASSES[c].__name__)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_pdu_round_trips_byte_for_byte(command_id: int, data: st.DataObject) -> None:
    pdu = data.draw(pdus_of(PDU_CLASSES[command_id]))
    wire = encode(pdu)
    decoded = decode(wire)
    assert encode(decoded) == wire
    assert type(decoded) is type(pdu)
    if not (pdu.command_status and pdu._body_omitted_on_error and len(wire) == 16):
        assert decoded == pdu


@settings(max_examples=300)
@given(any_pdu)
def test_generated_fast_path_agrees_with_the_generic_codec(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert wire == encode_generic(pdu)
    assert decode(wire) == decode_generic(wire)


@settings(max_examples=100)
@given(st.lists(any_pdu, min_size=1, max_size=6), st.data())
def test_stream_splits_the_same_whole_byte_at_a_time_or_split_anywhere(
    pdus: list[Pdu], data: st.DataObject
) -> None:
    stream = b"".join(encode(p) for p in pdus)
    expected = [decode(encode(p)) for p in pdus]

    def read(chunks: list[bytes]) -> list[Pdu]:
        reader, out = PduReader(), []
        for chunk in chunks:
            reader.feed(chunk)
            while (pdu := reader.next_pdu()) is not None:
                out.append(pdu)
        assert reader.buffered == 0
        return out

    assert read([stream]) == expected
    assert read([stream[i : i + 1] for i in range(len(stream))]) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    bounds = [0, *cuts, len(stream)]
    assert read([stream[a:b] for a, b in itertools.pairwise(bounds)]) == expected


def _drain(reader: PduReader) -> list[object]:
    events: list[object] = []
    for _ in range(10_000):
        try:
            pdu = reader.next_pdu()
        except RemoteProtocolError as exc:
            events.append(exc)
            continue
        if pdu is None:
            return events
        assert isinstance(pdu, Pdu)
        events.append(pdu)
    raise AssertionError("reader never asked for more data")


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_give_a_pdu_need_more_data_or_a_protocol_error(data: bytes) -> None:
    whole = PduReader()
    whole.feed(data)
    _drain(whole)
    trickle = PduReader()
    for i in range(len(data)):
        trickle.feed(data[i : i + 1])
        _drain(trickle)


@settings(max_examples=500)
@given(
    st.one_of(st.sampled_from(sorted(PDU_CLASSES)), st.integers(0, 2**32 - 1)),
    sequences,
    st.binary(max_size=300),
)
def test_fuzz_any_body_behind_a_valid_header_decodes_or_names_its_error(
    cid: int, seq: int, body: bytes
) -> None:
    frame = (
        (16 + len(body)).to_bytes(4, "big")
        + cid.to_bytes(4, "big")
        + bytes(4)
        + seq.to_bytes(4, "big")
        + body
    )
    try:
        decode(frame)
    except RemoteProtocolError as exc:
        assert exc.sequence_number == seq
        assert exc.status != 0


# Real PDUs with where they came from. The Jasmin vectors are from jookies/jasmin,
# jasmin/vendor/smpp/pdu/tests/test_pdu_encoding.py (captured from its SMSC peers).
VECTORS = {
    "jasmin SubmitSM HELLO class-2 (mobileway)": (
        "000000360000000400000000000024440005006d6f62696c65776179000101313230383233300000000000000100f2000548454c4c4f",
        SubmitSm(
            sequence_number=9284,
            source_addr_ton=5,
            source_addr="mobileway",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="1208230",
            registered_delivery=1,
            data_coding=0xF2,
            short_message=b"HELLO",
        ),
    ),
    "jasmin DeliverSM with source and dest subaddress TLVs": (
        "00000066000000050000000000000001424d38000101343631323334353637383900010131343034363635333431300000"
        "000000000000f2001b48656c6c6f2049276d206120626967672066616e206f6620796f7502020004a037343202030005a034313331",
        DeliverSm(
            sequence_number=1,
            service_type="BM8",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="46123456789",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="14046653410",
            data_coding=0xF2,
            short_message=b"Hello I'm a bigg fan of you",
            tlvs={Tag.SOURCE_SUBADDRESS: b"\xa0742", Tag.DEST_SUBADDRESS: b"\xa04131"},
        ),
    ),
    "jasmin AlertNotification with 54-character addresses": (
        "000000890000010200000000000000000201585858585858585858585858585858585858585858585858585858585858"
        "585858585858585858585858585858585858585858585858000106595959595959595959595959595959595959595959"
        "5959595959595959595959595959595959595959595959595959595959595959595959000422000101",
        AlertNotification(
            source_addr_ton=2,
            source_addr_npi=1,
            source_addr="X" * 54,
            esme_addr_ton=1,
            esme_addr_npi=6,
            esme_addr="Y" * 56,
            tlvs={Tag.MS_AVAILABILITY_STATUS: 1},
        ),
    ),
    "jasmin SubmitSMResp ESME_RMSGQFUL without body": (
        "000000108000000400000014000004d2",
        SubmitSmResp(sequence_number=1234, command_status=CommandStatus.ESME_RMSGQFUL),
    ),
    "jasmin BindTransceiverResp ESME_RINVPASWD without body": (
        "00000010800000090000000e00000d80",
        BindTransceiverResp(sequence_number=3456, command_status=CommandStatus.ESME_RINVPASWD),
    ),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_real_captured_pdus_decode_to_their_fields_and_encode_back(name: str) -> None:
    hexdata, expected = VECTORS[name]
    wire = bytes.fromhex(hexdata)
    assert decode(wire) == expected
    assert encode(expected) == wire


def test_vendor_tlv_and_wrong_length_standard_tlv_are_kept_raw_and_written_back_verbatim() -> None:
    # a 1-octet message_state sent as 2 octets, and a vendor tag: neither is guessed at
    pdu = DeliverSm(tlvs={Tag.MESSAGE_STATE: b"\x00\x02", 0x1401: b"\x00\xffbinary\x00"})
    decoded = decode(encode(pdu))
    assert decoded.tlvs == {Tag.MESSAGE_STATE: b"\x00\x02", 0x1401: b"\x00\xffbinary\x00"}


def test_network_error_code_is_three_binary_octets_never_text() -> None:
    pdu = DeliverSm(tlvs={Tag.NETWORK_ERROR_CODE: NetworkErrorCode(3, 0x0A0B)})
    wire = encode(pdu)
    assert wire.endswith(b"\x04\x23\x00\x03\x03\x0a\x0b")
    assert decode(wire).tlvs[Tag.NETWORK_ERROR_CODE] == NetworkErrorCode(3, 0x0A0B)


def test_vendor_command_status_is_carried_as_an_int() -> None:
    resp = decode(encode(SubmitSmResp(sequence_number=5, command_status=0x0000040F)))
    assert resp.command_status == 0x40F


def test_bad_command_length_is_reported_with_rinvcmdlen_and_the_reader_recovers() -> None:
    reader = PduReader()
    reader.feed(bytes.fromhex("0000000f000000060000000000000000"))  # jasmin: command_length too short
    with pytest.raises(InvalidCommandLength) as info:
        reader.next_pdu()
    assert info.value.status == CommandStatus.ESME_RINVCMDLEN
    reader.feed(encode(SubmitSm(sequence_number=2, short_message=b"next")))
    assert reader.next_pdu() == SubmitSm(sequence_number=2, short_message=b"next")


def test_oversized_command_length_is_refused_before_buffering_it() -> None:
    reader = PduReader()
    reader.feed((MAX_PDU_LENGTH + 1).to_bytes(4, "big") + bytes(12))
    with pytest.raises(InvalidCommandLength):
        reader.next_pdu()
    assert reader.buffered == 0


def test_unknown_command_id_skips_exactly_that_frame() -> None:
    reader = PduReader()
    reader.feed(bytes.fromhex("00000014000000ff0000000000000009deadbeef"))
    reader.feed(encode(SubmitSm(sequence_number=10)))
    with pytest.raises(UnknownCommand) as info:
        reader.next_pdu()
    assert (info.value.status, info.value.sequence_number) == (CommandStatus.ESME_RINVCMDID, 9)
    assert reader.next_pdu() == SubmitSm(sequence_number=10)


# submit_sm with every field before sm_length empty or zero: 16 octets
EMPTY_FIELDS = bytes(16)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\x00\x00\x00" + b"A" * 30 + b"\x00", CommandStatus.ESME_RINVSRCADR),  # source_addr > 20 octets
        (b"\x00\x00\x00\x00\x00\x00" + b"9" * 25, CommandStatus.ESME_RINVDSTADR),  # unterminated destination
        (EMPTY_FIELDS + b"\x10ab", CommandStatus.ESME_RINVMSGLEN),  # sm_length 16, 2 octets follow
        (EMPTY_FIELDS + b"\x00\x04\x24", CommandStatus.ESME_RINVOPTPARSTREAM),  # half a TLV header
    ],
    ids=["long-source", "unterminated-destination", "sm_length-past-body", "truncated-tlv"],
)
def test_malformed_submit_sm_body_names_the_status_to_answer_with(body: bytes, status: int) -> None:
    frame = (16 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000004000000000000002a") + body
    with pytest.raises(InvalidBody) as info:
        decode(frame)
    assert (info.value.status, info.value.sequence_number, info.value.command_id) == (status, 42, 4)


def test_values_smpp_cannot_carry_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(LocalProtocolError, match="short_message"):
        encode(SubmitSm(short_message=b"x" * 255))
    with pytest.raises(LocalProtocolError, match="destination_addr"):
        encode(SubmitSm(destination_addr="1" * 21))
    with pytest.raises(LocalProtocolError, match="source_addr"):
        encode(SubmitSm(source_addr="ü€"))
    with pytest.raises(LocalProtocolError, match="SAR_TOTAL_SEGMENTS"):
        encode(SubmitSm(tlvs={Tag.SAR_TOTAL_SEGMENTS: 256}))


def test_data_sm_allows_65_octet_addresses() -> None:
    pdu = DataSm(source_addr="s" * 64, destination_addr="d" * 64)
    assert decode(encode(pdu)) == pdu

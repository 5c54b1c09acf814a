"""Reassembling multipart MO messages: any order, UDH 8/16-bit or SAR, timeouts, and nothing lost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smpp.text import (
    Carriage,
    InboundPart,
    MultipartReassembler,
    SarInfo,
    build_segments,
    decode_short_message,
    plan_text,
)


def _parts(
    text: str, reference: int, source: str = "447700900001", reference_bits: int = 8
) -> list[InboundPart]:
    plan = plan_text(text, reference_bits=reference_bits)
    return [
        InboundPart(
            source, "12345", decode_short_message(segment.short_message, plan.data_coding, udhi=segment.udhi)
        )
        for segment in build_segments(plan, reference)
    ]


LONG_GSM = "The quick brown fox [jumps] over the lazy dog €. " * 8
LONG_UCS2 = "Привет 😀 мир! " * 20


@given(st.permutations(range(len(_parts(LONG_GSM, 1)))))
def test_gsm7_parts_in_any_order_give_the_text(order: list[int]) -> None:
    parts = _parts(LONG_GSM, 42)
    reassembler = MultipartReassembler(timeout=60)
    delivered = []
    for index in order:
        delivered += reassembler.add(parts[index], now=0.0)
    assert len(delivered) == 1
    message = delivered[0]
    assert message.text == LONG_GSM and message.complete and message.reference == 42
    assert len(reassembler) == 0


@given(st.permutations(range(len(_parts(LONG_UCS2, 1, reference_bits=16)))))
def test_ucs2_parts_with_sixteen_bit_reference_in_any_order(order: list[int]) -> None:
    parts = _parts(LONG_UCS2, 0x1234, reference_bits=16)
    reassembler = MultipartReassembler()
    delivered = [message for index in order for message in reassembler.add(parts[index], now=5.0)]
    assert [message.text for message in delivered] == [LONG_UCS2]


def test_sar_parts_reassemble() -> None:
    plan = plan_text("a" * 200 + "b" * 200, carriage=Carriage.SAR)
    segments = build_segments(plan, 7)
    reassembler = MultipartReassembler()
    delivered = []
    for segment in reversed(segments):
        inbound = InboundPart("1", "2", decode_short_message(segment.short_message, 0), sar=segment.sar)
        delivered += reassembler.add(inbound, now=1.0)
    assert [message.text for message in delivered] == ["a" * 200 + "b" * 200]


def test_missing_part_is_delivered_incomplete_after_the_timeout() -> None:
    parts = _parts(LONG_GSM, 3)
    reassembler = MultipartReassembler(timeout=30)
    assert reassembler.add(parts[0], now=100.0) == []
    assert reassembler.add(parts[2], now=110.0) == []
    assert reassembler.next_deadline() == 130.0
    assert reassembler.expire(now=129.9) == []
    [message] = reassembler.expire(now=130.0)
    assert not message.complete
    assert message.received == (1, 3) and message.missing == (2,)
    assert message.text is not None and message.text.startswith(LONG_GSM[:100])
    assert reassembler.next_deadline() is None


def test_same_reference_from_different_sources_never_mix() -> None:
    from_anna = _parts(LONG_GSM, 9, source="anna")
    from_bob = _parts(LONG_UCS2, 9, source="bob")
    reassembler = MultipartReassembler()
    delivered = []
    for anna, bob in zip(from_anna, from_bob, strict=False):
        delivered += reassembler.add(anna, now=0) + reassembler.add(bob, now=0)
    for rest in from_anna[len(from_bob) :] + from_bob[len(from_anna) :]:
        delivered += reassembler.add(rest, now=0)
    assert sorted((m.source, m.text) for m in delivered) == [("anna", LONG_GSM), ("bob", LONG_UCS2)]


def test_a_duplicated_part_does_not_corrupt_the_message() -> None:
    parts = _parts(LONG_GSM, 5)
    reassembler = MultipartReassembler()
    delivered = reassembler.add(parts[0], now=0) + reassembler.add(parts[0], now=1)
    for part in parts[1:]:
        delivered += reassembler.add(part, now=2)
    assert [m.text for m in delivered] == [LONG_GSM]


def test_single_part_messages_are_delivered_at_once() -> None:
    reassembler = MultipartReassembler()
    [message] = reassembler.add(InboundPart("1", "2", decode_short_message(b"STOP", 0)), now=0)
    assert message.text == "STOP" and message.complete and message.reference is None


def test_escape_pair_split_by_a_sloppy_sender_is_joined_back() -> None:
    # Some senders cut between ESC and its septet; joining the bodies before decoding repairs it.
    first = decode_short_message(bytes.fromhex("050003110201") + b"price \x1b", 0, udhi=True)
    second = decode_short_message(bytes.fromhex("050003110202") + b"e5", 0, udhi=True)
    reassembler = MultipartReassembler()
    delivered = reassembler.add(InboundPart("1", "2", second), 0) + reassembler.add(
        InboundPart("1", "2", first), 0
    )
    assert [m.text for m in delivered] == ["price €5"]


def test_surrogate_pair_split_by_a_sloppy_sender_is_joined_back() -> None:
    utf16 = "ok😀".encode("utf-16-be")
    first = decode_short_message(bytes.fromhex("050003120201") + utf16[:6], 8, udhi=True)
    second = decode_short_message(bytes.fromhex("050003120202") + utf16[6:], 8, udhi=True)
    reassembler = MultipartReassembler()
    delivered = reassembler.add(InboundPart("1", "2", first), 0) + reassembler.add(
        InboundPart("1", "2", second), 0
    )
    assert [m.text for m in delivered] == ["ok😀"]


def test_memory_bound_pushes_out_the_oldest_message_incomplete() -> None:
    reassembler = MultipartReassembler(max_pending=2)
    first = _parts(LONG_GSM, 1, source="a")
    second = _parts(LONG_GSM, 2, source="b")
    third = _parts(LONG_GSM, 3, source="c")
    assert reassembler.add(first[0], now=0) == []
    assert reassembler.add(second[0], now=1) == []
    [pushed] = reassembler.add(third[0], now=2)
    assert pushed.source == "a" and not pushed.complete
    assert len(reassembler) == 2


def test_nonsense_numbering_is_delivered_as_a_message_of_its_own() -> None:
    reassembler = MultipartReassembler()
    bad = decode_short_message(bytes.fromhex("050003010305") + b"orphan", 0, udhi=True)  # part 5 of 3
    [message] = reassembler.add(InboundPart("1", "2", bad), now=0)
    assert message.text == "orphan"
    assert len(reassembler) == 0


def test_sar_info_takes_precedence_over_nothing_and_numbers_from_one() -> None:
    reassembler = MultipartReassembler()
    part = InboundPart("1", "2", decode_short_message(b"x", 0), sar=SarInfo(1, 2, 2))
    assert reassembler.add(part, now=0) == []
    [message] = reassembler.expire(now=1e9)
    assert message.missing == (1,) and message.received == (2,)

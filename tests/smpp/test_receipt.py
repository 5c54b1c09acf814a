"""Delivery receipt text: what we build is Appendix B; what carriers send is read whatever its shape."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.constants import MessageState
from smpp.receipt import STAT_WORDS, format_receipt, parse_receipt

IDS = st.one_of(
    st.integers(0, 2**64).map(str),  # decimal
    st.integers(0, 2**64).map(lambda n: f"{n:x}"),  # hex
    st.uuids().map(str),
    st.text(st.sampled_from("0123456789ABCDEFabcdef-"), min_size=1, max_size=65),
)
MINUTES = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@given(IDS, st.sampled_from(list(MessageState)), MINUTES, MINUTES, st.integers(0, 999), st.text(max_size=30))
def test_built_receipt_reads_back_field_for_field(
    message_id: str, state: MessageState, submitted: datetime, done: datetime, err: int, text: str
) -> None:
    receipt = parse_receipt(
        format_receipt(message_id, state, submit_date=submitted, done_date=done, err=err, text=text)
    )
    assert receipt is not None
    assert receipt.message_id == message_id
    assert receipt.state == state
    assert (receipt.submit_date, receipt.done_date) == (submitted, done)
    assert receipt.err == f"{err:03d}"
    assert receipt.text == text[:20]


def test_built_receipt_is_appendix_b_to_the_letter() -> None:
    text = format_receipt(
        "0A1B2C",
        MessageState.DELIVERED,
        submit_date=datetime(2026, 11, 23, 8, 0),
        done_date=datetime(2026, 11, 23, 8, 1),
        text="Hello from smsengine, this is long",
    )
    assert text == (
        "id:0A1B2C sub:001 dlvrd:001 submit date:2611230800 done date:2611230801 "
        "stat:DELIVRD err:000 text:Hello from smsengine"
    )


@pytest.mark.parametrize(
    ("raw", "message_id", "state", "done"),
    [
        # SMPP 3.4 Appendix B layout, as Kannel's fakesmsc and most SMSCs send it
        (
            "id:1234567890 sub:001 dlvrd:001 submit date:0610190000 done date:0610190001 "
            "stat:DELIVRD err:000 text:",
            "1234567890",
            MessageState.DELIVERED,
            datetime(2006, 10, 19, 0, 1),
        ),
        # upper-case keys, reordered, underscore date keys, 12-digit dates
        (
            "STAT:UNDELIV ERR:012 ID:0a1B2c SUBMIT_DATE:261123080012 DONE_DATE:261123080112",
            "0a1B2c",
            MessageState.UNDELIVERABLE,
            datetime(2026, 11, 23, 8, 1, 12),
        ),
        # a UUID id, the stat word spelt out, no dates at all
        (f"id:{uuid.UUID(int=7)} stat:DELIVERED", str(uuid.UUID(int=7)), MessageState.DELIVERED, None),
        # a 65-character id and an expired message
        ("id:" + "9" * 65 + " sub:001 dlvrd:000 stat:EXPIRED err:001", "9" * 65, MessageState.EXPIRED, None),
        # text carrying another key: the real fields win
        ("id:77 stat:REJECTD text:stat:DELIVRD id:99", "77", MessageState.REJECTED, None),
    ],
)
def test_carrier_receipts_in_any_shape_are_read(
    raw: str, message_id: str, state: MessageState, done: datetime | None
) -> None:
    receipt = parse_receipt(raw)
    assert receipt is not None
    assert (receipt.message_id, receipt.state, receipt.done_date) == (message_id, state, done)


def test_non_ascii_receipt_text_is_read_not_rejected() -> None:
    # Jasmin's AMQP channel dies on this; the bytes arrive as short_message
    raw = "id:42 stat:DELIVRD err:000 text:Grüße €".encode("latin-1", "replace")
    receipt = parse_receipt(raw)
    assert receipt is not None and receipt.message_id == "42" and receipt.state == MessageState.DELIVERED


def test_text_without_an_id_is_not_a_receipt() -> None:
    assert parse_receipt("Hello, are we meeting at 10?") is None
    assert parse_receipt("stat:DELIVRD err:000") is None


def test_unknown_stat_word_leaves_the_state_unknown_not_wrong() -> None:
    receipt = parse_receipt("id:1 stat:WEIRD")
    assert receipt is not None and receipt.stat == "WEIRD" and receipt.state is None


@given(st.one_of(st.text(), st.binary()))
def test_parsing_never_raises(data: str | bytes) -> None:
    parse_receipt(data)


def test_every_state_has_its_appendix_b_word() -> None:
    assert set(STAT_WORDS) == set(MessageState)


@given(IDS, st.sampled_from(list(MessageState)), MINUTES, MINUTES, st.integers(0, 999), st.text(max_size=30))
def test_canonical_fast_path_reads_what_the_tolerant_parser_reads(
    message_id: str, state: MessageState, submitted: datetime, done: datetime, err: int, text: str
) -> None:
    from smpp.receipt import _parse_tolerantly

    raw = format_receipt(message_id, state, submit_date=submitted, done_date=done, err=err, text=text)
    assert parse_receipt(raw) == _parse_tolerantly(raw)

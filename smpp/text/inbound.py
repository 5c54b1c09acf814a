"""Decoding a received short_message (deliver_sm, or a customer's submit_sm) into text and UDH elements.

Any data_coding is accepted: text alphabets decode (leniently: U+FFFD for what does not decode), binary
and unknown values come back as bytes with text None. A UDH whose lengths do not add up is reported and
the whole short_message is kept as the body: this module must never raise on what a peer sends, nor lose
a received octet.
"""

from __future__ import annotations

import msgspec

from smpp.text.data_coding import Alphabet, alphabet_of, decode_octet_text, message_class_of
from smpp.text.errors import MalformedUdhError
from smpp.text.gsm7 import decode_gsm7, unpack_septets
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES
from smpp.text.udh import Concatenation, InformationElement, concatenation_of, national_shifts_of, split_udh


class InboundText(msgspec.Struct, frozen=True):
    """One received short_message, decoded."""

    data_coding: int
    alphabet: Alphabet
    text: str | None  # None when the data_coding carries octets
    body: bytes  # user data after the UDH; GSM-7 as septets, one per octet, even when received packed
    information_elements: tuple[InformationElement, ...] = ()
    concatenation: Concatenation | None = None  # from the UDH (SAR TLVs are the caller's to pass on)
    locking_shift: int = 0
    single_shift: int = 0
    message_class: int | None = None
    malformed_udh: bool = False  # UDHI was set but the header did not parse; body is the whole message


def decode_short_message(
    short_message: bytes, data_coding: int, *, udhi: bool = False, packed: bool = False
) -> InboundText:
    """Text and UDH of a received short_message. `udhi` is esm_class & 0x40; `packed` says the connector
    receives GSM-7 packed 8-into-7."""
    alphabet = alphabet_of(data_coding)
    elements: tuple[InformationElement, ...] = ()
    body = short_message
    malformed = False
    udh_length = 0
    if udhi:
        try:
            elements, body = split_udh(short_message)
            udh_length = len(short_message) - len(body)
        except MalformedUdhError:
            malformed = True
    locking, shift = national_shifts_of(elements)
    if alphabet is Alphabet.GSM7:
        if packed:
            body = unpack_septets(body, (7 - (udh_length * 8) % 7) % 7)
        # A table we do not hold falls back to the default one, as a handset without it would.
        text: str | None = decode_gsm7(
            body,
            locking if locking in LOCKING_SHIFT_TABLES else 0,
            shift if shift in SINGLE_SHIFT_TABLES else 0,
        )
    elif alphabet is Alphabet.OCTETS:
        text = None
    else:
        text = decode_octet_text(body, alphabet)
    return InboundText(
        data_coding,
        alphabet,
        text,
        body,
        elements,
        concatenation_of(elements),
        locking,
        shift,
        message_class_of(data_coding),
        malformed,
    )

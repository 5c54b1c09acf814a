"""SMS text: GSM-7 (with national shift tables), UCS-2 and the other SMPP alphabets; encoding choice,
segmentation, explanation, inbound decoding and multipart reassembly.

Everything here is pure: no I/O, no clock, no asyncio, no import of the SMPP codec (which turns the
Segments built here into PDUs). The engine, the HTTP preview and pricing, and the benchmarks call it.
"""

from __future__ import annotations

from smpp.text.data_coding import Alphabet, DataCoding, alphabet_of, message_class_of
from smpp.text.encoding_choice import EncodingChoice, choose_encoding
from smpp.text.errors import (
    BinaryPayloadRequiredError,
    MalformedUdhError,
    MessageTooLongError,
    TextError,
    UnencodableTextError,
)
from smpp.text.explain import ForcedCharacter, SegmentExplanation, TextExplanation, explain_text
from smpp.text.gsm7 import decode_gsm7, encode_gsm7, pack_septets, septet_count, unpack_septets
from smpp.text.inbound import InboundText, decode_short_message
from smpp.text.national_languages import NationalLanguage, national_languages_for_country
from smpp.text.reassembly import InboundPart, MultipartReassembler, ReassembledMessage
from smpp.text.reference_allocator import ConcatReferenceAllocator
from smpp.text.segment_capacity import Carriage
from smpp.text.segmentation import (
    MessagePlan,
    SarInfo,
    Segment,
    build_segments,
    plan_binary,
    plan_choice,
    plan_text,
)
from smpp.text.smart_encoding import Replacement, replace_look_alikes
from smpp.text.udh import Concatenation, InformationElement

__all__ = [
    "Alphabet",
    "BinaryPayloadRequiredError",
    "Carriage",
    "ConcatReferenceAllocator",
    "Concatenation",
    "DataCoding",
    "EncodingChoice",
    "ForcedCharacter",
    "InboundPart",
    "InboundText",
    "InformationElement",
    "MalformedUdhError",
    "MessagePlan",
    "MessageTooLongError",
    "MultipartReassembler",
    "NationalLanguage",
    "ReassembledMessage",
    "Replacement",
    "SarInfo",
    "Segment",
    "SegmentExplanation",
    "TextError",
    "TextExplanation",
    "UnencodableTextError",
    "alphabet_of",
    "build_segments",
    "choose_encoding",
    "decode_gsm7",
    "decode_short_message",
    "encode_gsm7",
    "explain_text",
    "message_class_of",
    "national_languages_for_country",
    "pack_septets",
    "plan_binary",
    "plan_choice",
    "plan_text",
    "replace_look_alikes",
    "septet_count",
    "unpack_septets",
]

"""Hypothesis strategies that build any SMPP 3.4 PDU from the layout tables in smpp.pdu."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from smpp.pdu import (
    CSTR,
    DESTS,
    PDU_CLASSES,
    SM,
    U8,
    U16,
    U32,
    UNSUCCESS,
    DistributionList,
    NetworkErrorCode,
    Pdu,
    SmeAddress,
    UnsuccessSme,
)
from smpp.tlv import CSTRING, INT, NETERR, TLV_KINDS

LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def cstr(size: int) -> st.SearchStrategy[str]:
    return st.text(LATIN1_NO_NUL, max_size=size - 1)


def tlv_value(tag: int) -> st.SearchStrategy[Any]:
    kind, size = TLV_KINDS[tag]
    if kind == INT:
        return st.integers(0, 256**size - 1)
    if kind == CSTRING:
        return cstr(min(size, 66))
    if kind == NETERR:
        return st.builds(NetworkErrorCode, st.integers(0, 255), st.integers(0, 0xFFFF))
    return st.binary(max_size=min(size, 300))


standard_tlvs = st.sampled_from(sorted(TLV_KINDS)).flatmap(
    lambda tag: st.tuples(st.just(tag), tlv_value(tag))
)
vendor_tlvs = st.tuples(
    st.integers(0x1400, 0x3FFF).filter(lambda t: t not in TLV_KINDS), st.binary(max_size=40)
)
tlv_dicts = st.lists(st.one_of(standard_tlvs, vendor_tlvs), max_size=6).map(dict)

dest_addresses = st.lists(
    st.one_of(
        st.builds(SmeAddress, st.integers(0, 255), st.integers(0, 255), cstr(21)),
        st.builds(DistributionList, cstr(21)),
    ),
    max_size=8,
)
unsuccess = st.lists(
    st.builds(UnsuccessSme, st.integers(0, 255), st.integers(0, 255), cstr(21), st.integers(0, 2**32 - 1)),
    max_size=5,
)
statuses = st.one_of(st.just(0), st.integers(0, 0xFF), st.integers(0x400, 0x4FF), st.integers(0, 2**32 - 1))
sequences = st.integers(0, 0x7FFFFFFF)


def field_strategy(kind: int, size: int) -> st.SearchStrategy[Any]:
    return {
        CSTR: lambda: cstr(size),
        U8: lambda: st.integers(0, 255),
        U16: lambda: st.integers(0, 0xFFFF),
        U32: lambda: st.integers(0, 2**32 - 1),
        SM: lambda: st.binary(max_size=size),
        DESTS: lambda: dest_addresses,
        UNSUCCESS: lambda: unsuccess,
    }[kind]()


def pdus_of(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {
        name: field_strategy(kind, size) for name, kind, size, _ in cls._body
    }
    if cls._has_tlvs:
        kwargs["tlvs"] = tlv_dicts
    return st.builds(cls, sequence_number=sequences, command_status=statuses, **kwargs)


any_pdu = st.sampled_from(sorted(PDU_CLASSES)).flatmap(lambda cid: pdus_of(PDU_CLASSES[cid]))

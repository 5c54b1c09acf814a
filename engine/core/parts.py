"""A message's segments as they go to the carrier, and their compact storage on the message row.

`PartSpec` is one submit_sm's content (short_message, esm_class, data_coding, SAR numbers or the
message_payload flag). `encode_parts` packs a message's parts into the `messages.parts` bytea:

    per part: esm_class u8 | data_coding u8 | flags u8 (1: payload, 2: SAR) | [ref u16 | total u8 | seq u8]
              | length u16 | short_message

big-endian, in part order — a format the migration that introduced it (engine 0004) also writes in SQL.
This module must never decide how a message is cut (that is smpp.text, through engine.core.intake).
"""

from __future__ import annotations

import struct

import msgspec

_HEAD = struct.Struct(">BBB")
_SAR = struct.Struct(">HBB")
_LEN = struct.Struct(">H")
_PAYLOAD, _HAS_SAR = 1, 2


class PartSpec(msgspec.Struct, frozen=True, gc=False):
    """One submit_sm's content towards the carrier."""

    short_message: bytes
    esm_class: int
    data_coding: int
    sar: tuple[int, int, int] | None = None  # (reference, total, seqnum)
    payload: bool = False  # carried in message_payload instead of short_message


_ONE = struct.Struct(">BBBH")  # a part without SAR: head and length in one go


def encode_parts(parts: tuple[PartSpec, ...]) -> bytes:
    if len(parts) == 1 and parts[0].sar is None:  # most messages: one part
        p = parts[0]
        return _ONE.pack(p.esm_class, p.data_coding, _PAYLOAD if p.payload else 0, len(p.short_message)) + (
            p.short_message
        )
    out = bytearray()
    for p in parts:
        flags = (_PAYLOAD if p.payload else 0) | (_HAS_SAR if p.sar is not None else 0)
        out += _HEAD.pack(p.esm_class, p.data_coding, flags)
        if p.sar is not None:
            out += _SAR.pack(*p.sar)
        out += _LEN.pack(len(p.short_message))
        out += p.short_message
    return bytes(out)


def decode_parts(blob: bytes) -> tuple[PartSpec, ...]:
    parts = []
    view = memoryview(blob)
    at = 0
    while at < len(view):
        esm, dc, flags = _HEAD.unpack_from(view, at)
        at += _HEAD.size
        sar = None
        if flags & _HAS_SAR:
            sar = _SAR.unpack_from(view, at)
            at += _SAR.size
        (length,) = _LEN.unpack_from(view, at)
        at += _LEN.size
        parts.append(PartSpec(bytes(view[at : at + length]), esm, dc, sar, bool(flags & _PAYLOAD)))
        at += length
    return tuple(parts)

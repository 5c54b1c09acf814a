"""Bytes to PDUs and back: the sans-IO SMPP 3.4 codec.

`encode(pdu) -> bytes` and `decode(frame) -> Pdu` work on whole PDUs; `PduReader` splits a byte stream
into frames (`feed(data)`, then `next_pdu()` until it returns None for "need more data").

Every body is read and written from its class's layout table (`smpp.pdu`), so there is one description
of each PDU. Malformed input raises a `RemoteProtocolError` subclass that carries the command_status to
answer with; the reader has always consumed the offending bytes first, so the caller answers and goes on
reading. This module never does I/O, never blocks, and never lets a peer's bytes crash it with anything
but a RemoteProtocolError.
"""

from __future__ import annotations

import struct
from typing import Any

from smpp.codegen import Decoder, Encoder, build_decoder, build_encoder
from smpp.constants import HEADER_LENGTH, RESPONSE_BIT, CommandId, CommandStatus
from smpp.errors import InvalidBody, InvalidCommandLength, LocalProtocolError, UnknownCommand
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
    Pdu,
    SmeAddress,
    UnsuccessSme,
)
from smpp.tlv import decode_tlvs, encode_tlvs

# A PDU carrying a full 64 KiB message_payload stays under this; anything longer is not SMPP.
MAX_PDU_LENGTH = 70_000

_HEADER = struct.Struct(">IIII")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


# ---------------------------------------------------------------------------------------------- encode


def _cstr(value: str, size: int, name: str) -> bytes:
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name}: only Latin-1 characters fit a C-octet string") from None
    if len(data) >= size or b"\0" in data:
        raise LocalProtocolError(f"{name}: at most {size - 1} octets without NUL, got {value!r}")
    return data + b"\0"


def _encode_body(pdu: Pdu) -> bytes:
    cls = type(pdu)
    if cls._body_omitted_on_error and pdu.command_status and _body_is_default(pdu):
        return b""
    out: list[bytes] = []
    for name, kind, size, _ in cls._body:
        value: Any = getattr(pdu, name)
        try:
            if kind == CSTR:
                out.append(_cstr(value, size, name))
            elif kind == U8:
                out.append(value.to_bytes(1, "big"))
            elif kind == SM:
                if len(value) > size:
                    raise LocalProtocolError(
                        f"short_message: {len(value)} octets > {size}; use message_payload"
                    )
                out.append(len(value).to_bytes(1, "big"))
                out.append(value)
            elif kind == U16:
                out.append(_U16.pack(value))
            elif kind == U32:
                out.append(_U32.pack(value))
            elif kind == DESTS:
                out.append(_encode_dests(value))
            elif kind == UNSUCCESS:
                out.append(_encode_unsuccess(value))
        except (OverflowError, struct.error):
            raise LocalProtocolError(f"{name}: {value!r} out of range") from None
    if cls._has_tlvs:
        out.append(encode_tlvs(pdu.tlvs))  # type: ignore[attr-defined]
    return b"".join(out)


def _body_is_default(pdu: Pdu) -> bool:
    for name, *_ in type(pdu)._body:
        if getattr(pdu, name):
            return False
    return not getattr(pdu, "tlvs", None)


def _encode_dests(dests: list[SmeAddress | DistributionList]) -> bytes:
    if len(dests) > 255:
        raise LocalProtocolError("submit_multi: at most 255 destinations")
    out = [len(dests).to_bytes(1, "big")]
    for dest in dests:
        if isinstance(dest, SmeAddress):
            out.append(bytes((1, dest.ton, dest.npi)) + _cstr(dest.address, 21, "destination_addr"))
        else:
            out.append(b"\x02" + _cstr(dest.name, 21, "dl_name"))
    return b"".join(out)


def _encode_unsuccess(items: list[UnsuccessSme]) -> bytes:
    if len(items) > 255:
        raise LocalProtocolError("submit_multi_resp: at most 255 unsuccessful destinations")
    out = [len(items).to_bytes(1, "big")]
    for item in items:
        out.append(bytes((item.ton, item.npi)) + _cstr(item.address, 21, "destination_addr"))
        out.append(_U32.pack(item.error_status))
    return b"".join(out)


def encode(pdu: Pdu) -> bytes:
    """The wire form of a PDU, header included. Raises LocalProtocolError for values SMPP cannot carry."""
    fast = _FAST_ENCODERS.get(pdu.command_id)
    body = fast(pdu) if fast is not None else None
    if body is None:
        body = _encode_body(pdu)
    return (
        _HEADER.pack(HEADER_LENGTH + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number)
        + body
    )


# ---------------------------------------------------------------------------------------------- decode


class _Malformed(Exception):
    def __init__(self, status: int, why: str) -> None:
        self.status = status
        self.why = why


def _read_cstr(data: bytes, pos: int, end: int, size: int, status: int, last: bool) -> tuple[str, int]:
    nul = data.find(b"\0", pos, min(end, pos + size))
    if nul < 0:
        if last and end - pos < size:
            # Some SMSCs omit the final NUL of a response body (a bare system_id or message_id):
            # the frame boundary tells us where it ends, so accept it.
            return data[pos:end].decode("latin-1"), end
        raise _Malformed(status, f"C-octet string longer than {size - 1} octets or unterminated")
    return data[pos:nul].decode("latin-1"), nul + 1


def _decode_body(cls: type[Pdu], data: bytes, pos: int, end: int) -> list[Any]:
    values: list[Any] = []
    layout = cls._body
    last_index = len(layout) - 1
    for index, (_name, kind, size, status) in enumerate(layout):
        if kind == CSTR:
            value, pos = _read_cstr(data, pos, end, size, status, index == last_index and not cls._has_tlvs)
            values.append(value)
        elif kind == U8:
            if pos >= end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends early")
            values.append(data[pos])
            pos += 1
        elif kind == SM:
            if pos >= end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends before sm_length")
            length = data[pos]
            pos += 1
            if pos + length > end or length > size:
                raise _Malformed(status, f"sm_length {length} exceeds the body")
            values.append(data[pos : pos + length])
            pos += length
        elif kind == DESTS:
            dests, pos = _decode_dests(data, pos, end)
            values.append(dests)
        elif kind == UNSUCCESS:
            items, pos = _decode_unsuccess(data, pos, end)
            values.append(items)
        else:
            width = 2 if kind == U16 else 4
            if pos + width > end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends early")
            values.append(int.from_bytes(data[pos : pos + width], "big"))
            pos += width
    if cls._has_tlvs:
        tlvs = decode_tlvs(data, pos, end)
        if isinstance(tlvs, int):
            raise _Malformed(tlvs, "malformed optional parameters")
        values.append(tlvs)
    elif pos != end:
        raise _Malformed(CommandStatus.ESME_RINVCMDLEN, f"{end - pos} unexpected octets after the body")
    return values


def _decode_dests(data: bytes, pos: int, end: int) -> tuple[list[SmeAddress | DistributionList], int]:
    if pos >= end:
        raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends before number_of_dests")
    count = data[pos]
    pos += 1
    dests: list[SmeAddress | DistributionList] = []
    for _ in range(count):
        if pos >= end:
            raise _Malformed(CommandStatus.ESME_RINVNUMDESTS, "fewer destinations than number_of_dests")
        flag = data[pos]
        if flag == 1:
            if pos + 3 > end:
                raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends inside a destination")
            ton, npi = data[pos + 1], data[pos + 2]
            address, pos = _read_cstr(data, pos + 3, end, 21, CommandStatus.ESME_RINVDSTADR, False)
            dests.append(SmeAddress(ton, npi, address))
        elif flag == 2:
            name, pos = _read_cstr(data, pos + 1, end, 21, CommandStatus.ESME_RINVDLNAME, False)
            dests.append(DistributionList(name))
        else:
            raise _Malformed(CommandStatus.ESME_RINVDESTFLAG, f"dest_flag {flag}")
    return dests, pos


def _decode_unsuccess(data: bytes, pos: int, end: int) -> tuple[list[UnsuccessSme], int]:
    if pos >= end:
        return [], pos  # some SMSCs stop after message_id when every destination succeeded
    count = data[pos]
    pos += 1
    items: list[UnsuccessSme] = []
    for _ in range(count):
        if pos + 2 > end:
            raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends inside unsuccess_sme")
        ton, npi = data[pos], data[pos + 1]
        address, pos = _read_cstr(data, pos + 2, end, 21, CommandStatus.ESME_RINVDSTADR, False)
        if pos + 4 > end:
            raise _Malformed(CommandStatus.ESME_RINVCMDLEN, "body ends inside unsuccess_sme")
        items.append(UnsuccessSme(ton, npi, address, int.from_bytes(data[pos : pos + 4], "big")))
        pos += 4
    return items, pos


def decode(frame: bytes) -> Pdu:
    """One whole PDU (header included) to its object. Raises a RemoteProtocolError subclass."""
    if len(frame) < HEADER_LENGTH:
        raise InvalidCommandLength(f"{len(frame)} octets is shorter than a PDU header", framing_lost=False)
    length, command_id, status, sequence = _HEADER.unpack_from(frame, 0)
    if length != len(frame):
        raise InvalidCommandLength(
            f"command_length {length} != frame length {len(frame)}", sequence_number=sequence
        )
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise UnknownCommand(
            f"unknown command_id 0x{command_id:08X}", command_id=command_id, sequence_number=sequence
        )
    if cls._body and length == HEADER_LENGTH and command_id & RESPONSE_BIT:
        return cls(sequence, status)  # responses may come without a body, on error or not
    try:
        fast = _FAST_DECODERS.get(command_id)
        if fast is not None:
            return fast(frame, HEADER_LENGTH, length, sequence, status)
        values = _decode_body(cls, frame, HEADER_LENGTH, length)
    except _Malformed as exc:
        raise InvalidBody(
            f"{CommandId(command_id).name.lower()}: {exc.why}",
            status=exc.status,
            command_id=command_id,
            sequence_number=sequence,
        ) from None
    return cls(sequence, status, *values)


def _build_fast_paths() -> tuple[dict[int, Encoder], dict[int, Decoder]]:
    encoders: dict[int, Encoder] = {}
    decoders: dict[int, Decoder] = {}
    for command_id, cls in PDU_CLASSES.items():
        encoder = build_encoder(cls, encode_tlvs)
        if encoder is not None:
            encoders[command_id] = encoder
        decoder = build_decoder(cls, decode_tlvs, _Malformed, _read_cstr)
        if decoder is not None:
            decoders[command_id] = decoder
    return encoders, decoders


_FAST_ENCODERS, _FAST_DECODERS = _build_fast_paths()


def encode_generic(pdu: Pdu) -> bytes:
    """encode() without the generated fast path: the reference the tests compare against."""
    body = _encode_body(pdu)
    return (
        _HEADER.pack(HEADER_LENGTH + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number)
        + body
    )


def decode_generic(frame: bytes) -> Pdu:
    """decode() without the generated fast path: the reference the tests compare against."""
    length, command_id, status, sequence = _HEADER.unpack_from(frame, 0)
    cls = PDU_CLASSES[command_id]
    if cls._body and length == HEADER_LENGTH and command_id & RESPONSE_BIT:
        return cls(sequence, status)
    return cls(sequence, status, *_decode_body(cls, frame, HEADER_LENGTH, length))


class PduReader:
    """Splits a byte stream into PDUs. feed() only buffers; next_pdu() does the work.

    next_pdu() returns a PDU, None when more bytes are needed, or raises a RemoteProtocolError after
    consuming the offending bytes: a bad frame is skipped whole; a command_length that cannot be trusted
    discards what is buffered (framing_lost=True), since no boundary can be found in it.
    """

    __slots__ = ("_buffer", "max_length")

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._buffer = bytearray()
        self.max_length = max_length

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_pdu(self) -> Pdu | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        length = int.from_bytes(buffer[:4], "big")
        if length < HEADER_LENGTH or length > self.max_length:
            sequence = int.from_bytes(buffer[12:16], "big") if len(buffer) >= HEADER_LENGTH else 0
            del buffer[:]
            raise InvalidCommandLength(f"command_length {length} out of range", sequence_number=sequence)
        if len(buffer) < length:
            return None
        frame = bytes(buffer[:length])
        del buffer[:length]
        return decode(frame)

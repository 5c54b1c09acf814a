"""Straight-line encoders and decoders generated from the PDU layout tables, for speed.

The generic loops in `smpp.codec` interpret a layout field by field; that costs about twice as much as
code written out by hand. This module writes that code out once per PDU class at import time, from the
same `_body` tables, so there is still one description of each PDU. The generated encoder covers the
common case only: on any doubt (a value out of range, a string too long) it returns None and the caller
uses the generic encoder, which produces the precise LocalProtocolError. The generated decoder raises
the same `_Malformed` as the generic one. Tests check both paths agree on every PDU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smpp.pdu import CSTR, SM, U8, U16, U32, Pdu

Encoder = Callable[[Pdu], "bytes | None"]
Decoder = Callable[[bytes, int, int, int, int], Pdu]


def _simple(cls: type[Pdu]) -> bool:
    return all(kind in (CSTR, U8, U16, U32, SM) for _, kind, _, _ in cls._body)


def build_encoder(cls: type[Pdu], encode_tlvs: Callable[[Any], bytes]) -> Encoder | None:
    if not _simple(cls) or not cls._body:
        return None
    lines = ["def encode_body(pdu):", "    try:"]
    if cls._body_omitted_on_error:
        # an error response may drop its body: the generic encoder decides that
        lines.append("        if pdu.command_status: return None")
    parts: list[str] = []
    checks: list[str] = []
    u8_run: list[str] = []

    def flush_u8() -> None:
        if u8_run:
            parts.append(f"bytes(({', '.join(u8_run)},))")
            u8_run.clear()

    for i, (name, kind, size, _) in enumerate(cls._body):
        if kind == U8:
            u8_run.append(f"pdu.{name}")
            continue
        flush_u8()
        if kind == CSTR:
            lines.append(f"        v{i} = pdu.{name}.encode('latin-1')")
            checks.append(f"len(v{i}) >= {size} or 0 in v{i}")
            parts.extend([f"v{i}", "NUL"])
        elif kind == SM:
            lines.append(f"        v{i} = pdu.{name}")
            checks.append(f"len(v{i}) > {size}")
            parts.extend([f"bytes((len(v{i}),))", f"v{i}"])
        else:
            width = 2 if kind == U16 else 4
            parts.append(f"pdu.{name}.to_bytes({width}, 'big')")
    flush_u8()
    if cls._has_tlvs:
        parts.append("(encode_tlvs(pdu.tlvs) if pdu.tlvs else b'')")
    if checks:
        lines.append(f"        if {' or '.join(checks)}:")
        lines.append("            return None")
    lines.append(f"        return b''.join(({', '.join(parts)},))")
    lines.append("    except Exception:")
    lines.append("        return None")
    namespace: dict[str, Any] = {"NUL": b"\0", "encode_tlvs": encode_tlvs}
    exec("\n".join(lines), namespace)
    encoder: Encoder = namespace["encode_body"]
    return encoder


def build_decoder(
    cls: type[Pdu],
    decode_tlvs: Callable[[bytes, int, int], Any],
    malformed: type[Exception],
    read_cstr: Callable[..., tuple[str, int]],
) -> Decoder | None:
    if not _simple(cls) or not cls._body:
        return None
    lines = ["def decode_body(data, pos, end, seq, status):"]
    names: list[str] = []
    layout = cls._body
    last = len(layout) - 1
    i = 0
    while i <= last:
        _name, kind, size, status = layout[i]
        var = f"v{i}"
        if kind == U8:
            run = 1
            while i + run <= last and layout[i + run][1] == U8:
                run += 1
            lines.append(f"    if pos + {run} > end: raise Malformed(0x02, 'body ends early')")
            for k in range(run):
                lines.append(f"    v{i + k} = data[pos + {k}]")
                names.append(f"v{i + k}")
            lines.append(f"    pos += {run}")
            i += run
            continue
        if kind == CSTR:
            lenient = i == last and not cls._has_tlvs
            lines += [
                f"    nul = data.find(b'\\0', pos, pos + {size})",
                "    if nul >= end: nul = -1",
                "    if nul < 0:",
                f"        {var}, pos = read_cstr(data, pos, end, {size}, {status}, {lenient})",
                "    else:",
                f"        {var} = data[pos:nul].decode('latin-1')",
                "        pos = nul + 1",
            ]
        elif kind == SM:
            lines += [
                "    if pos >= end: raise Malformed(0x02, 'body ends before sm_length')",
                "    n = data[pos]",
                "    pos += 1",
                f"    if pos + n > end or n > {size}:",
                f"        raise Malformed({status}, f'sm_length {{n}} exceeds the body')",
                f"    {var} = data[pos:pos + n]",
                "    pos += n",
            ]
        else:
            width = 2 if kind == U16 else 4
            lines += [
                f"    if pos + {width} > end: raise Malformed(0x02, 'body ends early')",
                f"    {var} = int.from_bytes(data[pos:pos + {width}], 'big')",
                f"    pos += {width}",
            ]
        names.append(var)
        i += 1
    if cls._has_tlvs:
        lines += [
            "    tlvs = decode_tlvs(data, pos, end) if pos < end else {}",
            "    if tlvs.__class__ is not dict: raise Malformed(tlvs, 'malformed optional parameters')",
        ]
        names.append("tlvs")
    else:
        lines.append(
            "    if pos != end: raise Malformed(0x02, f'{end - pos} unexpected octets after the body')"
        )
    lines.append(f"    return cls(seq, status, {', '.join(names)})")
    namespace: dict[str, Any] = {
        "cls": cls,
        "decode_tlvs": decode_tlvs,
        "Malformed": malformed,
        "read_cstr": read_cstr,
    }
    exec("\n".join(lines), namespace)
    decoder: Decoder = namespace["decode_body"]
    return decoder

"""The GSM 7-bit alphabet of 3GPP TS 23.038: text <-> septets for any locking/single-shift pair, and packing.

Septets here are one per octet (the SMPP default: the SMSC packs them for the air interface); `pack_septets`
and `unpack_septets` convert to and from the packed form for connectors that want it.

Speed matters (every outgoing message passes here), so the work is done by the C charmap codec of the
standard library: one `EncodingMap` for characters of the locking-shift table, and a dict that also maps
single-shift characters to their two-octet escape sequence. This module must never guess: a character
that is not in the chosen tables is an error on encode, and is shown as U+FFFD (or as the spec's
fallback) on decode, never silently dropped.
"""

from __future__ import annotations

import codecs
from typing import Final

from smpp.text.errors import UnencodableTextError
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES

ESCAPE: Final = 0x1B
CARRIAGE_RETURN: Final = 0x0D
UNDEFINED: Final = "\ufffd"


class Gsm7Codec:
    """One locking-shift table with one single-shift table (language ids of TS 23.038 6.2.1 and Annex A)."""

    __slots__ = (
        "_decode_locking",
        "_decode_shift",
        "_encode_full",
        "_identity",
        "_latin1_to_septet",
        "_marker_pairs",
        "locking",
        "shift",
    )

    def __init__(self, locking: int, shift: int) -> None:
        if locking not in LOCKING_SHIFT_TABLES:
            raise ValueError(f"no locking-shift table for national language {locking}")
        if shift not in SINGLE_SHIFT_TABLES:
            raise ValueError(f"no single-shift table for national language {shift}")
        self.locking = locking
        self.shift = shift
        locking_table = LOCKING_SHIFT_TABLES[locking]
        shift_table = SINGLE_SHIFT_TABLES[shift]
        basic: dict[int, int] = {}
        for septet, char in enumerate(locking_table):
            # 0x1B is the escape, not a second space. A character the spec lists twice encodes to its
            # later position: the Kannada table prints U+0CAA at 0x24 (a misprint that Android reads as
            # U+0CA1) and again at 0x3D, which every receiver reads as U+0CAA.
            if septet != ESCAPE and char != UNDEFINED:
                basic[ord(char)] = septet
        full: dict[int, int | bytes] = dict(basic)
        for septet, char in enumerate(shift_table):
            if septet != ESCAPE and char != UNDEFINED and ord(char) not in basic:
                full[ord(char)] = bytes((ESCAPE, septet))
        self._encode_full = full
        # Fast paths for the common case (most SMS text is ASCII or Latin-1): ASCII characters whose
        # septet equals their code encode as themselves; other Latin-1 characters go through one
        # bytes.translate, 0xFF marking the ones that are not in the locking table.
        self._identity = bytes(code for code, septet in basic.items() if code == septet)
        # Latin-1 single-shift characters ([ ] { } ...) translate to a marker octet >= 0x80 (never a
        # septet), which one bytes.replace per marker present turns into the escape pair.
        latin1 = bytearray(b"\xff" * 256)
        for code, septet in basic.items():
            if code < 256:
                latin1[code] = septet
        markers: list[tuple[bytes, bytes]] = []
        for code, encoded in full.items():
            if isinstance(encoded, bytes) and code < 256 and 0x80 + len(markers) < 0xFF:
                latin1[code] = 0x80 + len(markers)
                markers.append((bytes((0x80 + len(markers),)), encoded))
        self._latin1_to_septet = bytes(latin1)
        self._marker_pairs = tuple(markers)
        self._decode_locking = locking_table + UNDEFINED * 128  # octets >= 0x80 are not septets
        self._decode_shift = shift_table

    def encode(self, text: str) -> bytes:
        """Septets, one per octet; a single-shift character becomes ESC + septet.

        Raises UnencodableTextError."""
        septets = self.encode_or_none(text)
        if septets is None:
            raise UnencodableTextError(self.name, self.unencodable(text))
        return septets

    def encode_or_none(self, text: str) -> bytes | None:
        """Septets (as `encode`), or None when some character is not in the table pair."""
        if text.isascii():
            raw = text.encode("ascii")
            if not raw.translate(None, self._identity):
                return raw
        else:
            try:
                raw = text.encode("latin-1")
            except UnicodeEncodeError:
                raw = b""
        if raw:
            septets = raw.translate(self._latin1_to_septet)
            if 0xFF not in septets:
                if not septets.isascii():
                    for marker, pair in self._marker_pairs:
                        if marker in septets:
                            septets = septets.replace(marker, pair)
                return septets
        try:
            return codecs.charmap_encode(text, "strict", self._encode_full)[0]
        except UnicodeEncodeError:
            return None

    def septet_count(self, text: str) -> int | None:
        """Septets the text needs in this table pair, or None if some character is not in it."""
        septets = self.encode_or_none(text)
        return None if septets is None else len(septets)

    def unencodable(self, text: str) -> tuple[tuple[int, str], ...]:
        """(index, character) of every character the table pair cannot carry."""
        full = self._encode_full
        return tuple((index, char) for index, char in enumerate(text) if ord(char) not in full)

    def decode(self, septets: bytes) -> str:
        """Text from septets (one per octet). Lenient, as TS 23.038 6.2.1.1 asks of a receiver:
        an escape before an undefined single-shift code shows the locking-table character, a lone
        trailing escape shows a space, and an undefined code shows U+FFFD."""
        if ESCAPE not in septets:
            return codecs.charmap_decode(septets, "replace", self._decode_locking)[0]
        chunks = septets.split(b"\x1b")
        out = [codecs.charmap_decode(chunks[0], "replace", self._decode_locking)[0]]
        index = 1
        last = len(chunks) - 1
        while index <= last:
            chunk = chunks[index]
            if not chunk:
                if index == last:
                    out.append(" ")  # escape at the very end
                    break
                # ESC ESC: the spec reserves the pair for a future extension; show the space fallback
                # for the first escape and let the second one act on what follows.
                out.append(" ")
                index += 1
                chunk = chunks[index]
                if not chunk:
                    continue
            code = chunk[0] & 0x7F
            shifted = self._decode_shift[code]
            out.append(shifted if shifted != UNDEFINED else self._decode_locking[code])
            out.append(codecs.charmap_decode(chunk[1:], "replace", self._decode_locking)[0])
            index += 1
        return "".join(out)

    @property
    def name(self) -> str:
        return f"GSM-7 (locking {self.locking}, single shift {self.shift})"


_CODECS: dict[tuple[int, int], Gsm7Codec] = {}


def gsm7_codec(locking: int = 0, shift: int = 0) -> Gsm7Codec:
    """The (shared, immutable) codec for a locking-shift / single-shift language pair."""
    codec = _CODECS.get((locking, shift))
    if codec is None:
        codec = _CODECS[(locking, shift)] = Gsm7Codec(locking, shift)
    return codec


def encode_gsm7(text: str, locking: int = 0, shift: int = 0) -> bytes:
    """Unpacked septets for `text`; raises UnencodableTextError naming the characters that do not fit."""
    return gsm7_codec(locking, shift).encode(text)


def decode_gsm7(septets: bytes, locking: int = 0, shift: int = 0) -> str:
    """Text from unpacked septets (one per octet), lenient as a handset is."""
    return gsm7_codec(locking, shift).decode(septets)


def septet_count(text: str, locking: int = 0, shift: int = 0) -> int | None:
    """Septets `text` takes (escapes count two), or None if it does not fit the table pair."""
    return gsm7_codec(locking, shift).septet_count(text)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets 8-into-7 octets, least significant bit first (TS 23.038 6.1.2.1.1).

    `fill_bits` zero bits come first, so that septets after a user data header start on a septet
    boundary. When the last octet would have 7 spare bits, a CR is packed into them (6.1.2.3.1) so a
    receiver does not read an extra '@'; a wanted CR that ends exactly on an octet boundary is doubled,
    as the spec says (CR CR means the same as CR)."""
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    count = len(septets)
    if count and (
        (count * 7 + fill_bits) % 8 == 1
        or ((count * 7 + fill_bits) % 8 == 0 and septets[-1] == CARRIAGE_RETURN)
    ):
        septets += b"\r"
        count += 1
    value = 0
    for index, septet in enumerate(septets):
        value |= (septet & 0x7F) << (index * 7)
    total_bits = count * 7 + fill_bits
    return (value << fill_bits).to_bytes((total_bits + 7) // 8, "little")


def unpack_septets(packed: bytes, fill_bits: int = 0, septet_count: int | None = None) -> bytes:
    """Septets (one per octet) from packed octets; the inverse of `pack_septets`.

    Without `septet_count` (SMPP carries no UDL) the count is what fits, minus a padding CR in the
    last 7 bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    available = len(packed) * 8 - fill_bits
    count = max(available, 0) // 7 if septet_count is None else septet_count
    value = int.from_bytes(packed, "little") >> fill_bits
    out = bytes((value >> (index * 7)) & 0x7F for index in range(count))
    if septet_count is None and count and available % 7 == 0 and out[-1] == CARRIAGE_RETURN:
        out = out[:-1]
    return out

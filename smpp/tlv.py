"""Optional parameters (TLVs, 5.3): typed values for every standard tag, raw bytes for everything else.

- Integer tags decode to `int` when their length is the one the spec gives; C-octet-string tags
  (receipted_message_id, additional_status_info_text) to `str`; network_error_code to
  `NetworkErrorCode`; octet-string tags (message_payload, subaddresses, callback_num ...) to `bytes`.
- Unknown and vendor tags (0x1400-0x3FFF) stay `bytes` and are written back byte for byte. So does a
  standard integer tag that arrives with the wrong length: we cannot know what the peer meant, and we
  never guess.
- A binary TLV is never decoded as text.
"""

from __future__ import annotations

import struct

from smpp.constants import CommandStatus, Tag
from smpp.errors import LocalProtocolError
from smpp.pdu import NetworkErrorCode, TlvValue

INT, CSTRING, OCTETS, NETERR = range(4)

# tag -> (kind, size): size is the integer width for INT, the maximum length for CSTRING/OCTETS.
TLV_KINDS: dict[int, tuple[int, int]] = {
    Tag.DEST_ADDR_SUBUNIT: (INT, 1),
    Tag.DEST_NETWORK_TYPE: (INT, 1),
    Tag.DEST_BEARER_TYPE: (INT, 1),
    Tag.DEST_TELEMATICS_ID: (INT, 2),
    Tag.SOURCE_ADDR_SUBUNIT: (INT, 1),
    Tag.SOURCE_NETWORK_TYPE: (INT, 1),
    Tag.SOURCE_BEARER_TYPE: (INT, 1),
    Tag.SOURCE_TELEMATICS_ID: (INT, 1),
    Tag.QOS_TIME_TO_LIVE: (INT, 4),
    Tag.PAYLOAD_TYPE: (INT, 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: (CSTRING, 256),
    Tag.RECEIPTED_MESSAGE_ID: (CSTRING, 65),
    Tag.MS_MSG_WAIT_FACILITIES: (INT, 1),
    Tag.PRIVACY_INDICATOR: (INT, 1),
    Tag.SOURCE_SUBADDRESS: (OCTETS, 23),
    Tag.DEST_SUBADDRESS: (OCTETS, 23),
    Tag.USER_MESSAGE_REFERENCE: (INT, 2),
    Tag.USER_RESPONSE_CODE: (INT, 1),
    Tag.SOURCE_PORT: (INT, 2),
    Tag.DESTINATION_PORT: (INT, 2),
    Tag.SAR_MSG_REF_NUM: (INT, 2),
    Tag.LANGUAGE_INDICATOR: (INT, 1),
    Tag.SAR_TOTAL_SEGMENTS: (INT, 1),
    Tag.SAR_SEGMENT_SEQNUM: (INT, 1),
    Tag.SC_INTERFACE_VERSION: (INT, 1),
    Tag.CALLBACK_NUM_PRES_IND: (INT, 1),
    Tag.CALLBACK_NUM_ATAG: (OCTETS, 65),
    Tag.NUMBER_OF_MESSAGES: (INT, 1),
    Tag.CALLBACK_NUM: (OCTETS, 19),
    Tag.DPF_RESULT: (INT, 1),
    Tag.SET_DPF: (INT, 1),
    Tag.MS_AVAILABILITY_STATUS: (INT, 1),
    Tag.NETWORK_ERROR_CODE: (NETERR, 3),
    Tag.MESSAGE_PAYLOAD: (OCTETS, 65535),
    Tag.DELIVERY_FAILURE_REASON: (INT, 1),
    Tag.MORE_MESSAGES_TO_SEND: (INT, 1),
    Tag.MESSAGE_STATE: (INT, 1),
    Tag.USSD_SERVICE_OP: (INT, 1),
    Tag.DISPLAY_TIME: (INT, 1),
    Tag.SMS_SIGNAL: (INT, 2),
    Tag.MS_VALIDITY: (INT, 1),
    Tag.ALERT_ON_MESSAGE_DELIVERY: (OCTETS, 0),
    Tag.ITS_REPLY_TYPE: (INT, 1),
    Tag.ITS_SESSION_INFO: (OCTETS, 2),
}

_HEAD = struct.Struct(">HH")
_NETERR = struct.Struct(">BH")


def decode_value(tag: int, raw: bytes) -> TlvValue:
    """The typed value of one TLV; raw bytes when the tag is unknown or the length is not the spec's."""
    kind_size = TLV_KINDS.get(tag)
    if kind_size is None:
        return raw
    kind, size = kind_size
    if kind == INT:
        return int.from_bytes(raw, "big") if len(raw) == size else raw
    if kind == CSTRING:
        # Tolerate a missing terminator (common in the wild); stop at the first NUL.
        nul = raw.find(b"\0")
        return (raw if nul < 0 else raw[:nul]).decode("latin-1")
    if kind == NETERR:
        if len(raw) != 3:
            return raw
        network_type, error_code = _NETERR.unpack(raw)
        return NetworkErrorCode(network_type, error_code)
    return raw


def encode_value(tag: int, value: TlvValue) -> bytes:
    """The value octets of one TLV (without tag and length)."""
    if isinstance(value, bytes):
        return value
    kind_size = TLV_KINDS.get(tag)
    if isinstance(value, bool) or kind_size is None:
        raise LocalProtocolError(f"TLV 0x{tag:04X}: a {type(value).__name__} needs a known tag; pass bytes")
    kind, size = kind_size
    if kind == INT and isinstance(value, int):
        try:
            return value.to_bytes(size, "big")
        except OverflowError:
            raise LocalProtocolError(f"TLV {Tag(tag).name}: {value} does not fit {size} octet(s)") from None
    if kind == CSTRING and isinstance(value, str):
        data = value.encode("latin-1") + b"\0"
        if len(data) > size:
            raise LocalProtocolError(f"TLV {Tag(tag).name}: longer than {size - 1} characters")
        return data
    if kind == NETERR and isinstance(value, NetworkErrorCode):
        return _NETERR.pack(value.network_type, value.error_code)
    raise LocalProtocolError(f"TLV {Tag(tag).name}: {type(value).__name__} is not its type")


def encode_tlvs(tlvs: dict[int, TlvValue]) -> bytes:
    out = []
    for tag, value in tlvs.items():
        data = encode_value(tag, value)
        if len(data) > 0xFFFF:
            raise LocalProtocolError(f"TLV 0x{tag:04X}: value longer than 65535 octets")
        out.append(_HEAD.pack(tag, len(data)))
        out.append(data)
    return b"".join(out)


def decode_tlvs(data: bytes, pos: int, end: int) -> dict[int, TlvValue] | int:
    """The TLVs in data[pos:end], or the command_status to answer with when they are malformed."""
    tlvs: dict[int, TlvValue] = {}
    while pos < end:
        if end - pos < 4:
            return CommandStatus.ESME_RINVOPTPARSTREAM
        tag, length = _HEAD.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            return CommandStatus.ESME_RINVPARLEN
        tlvs[tag] = decode_value(tag, data[pos : pos + length])
        pos += length
    return tlvs

"""SMPP 3.4 PDUs as msgspec Structs, one class per command (section 4 of the specification).

Each class declares its body layout once, in `_body`: the codec (`smpp.codec`) reads and writes every
PDU from that table, so a field is described in exactly one place. C-octet strings are `str` (decoded as
Latin-1, so any byte survives a round trip), integers `int`, short_message `bytes` (its sm_length is
derived, never stored). Optional parameters live in `tlvs`, keyed by tag, in arrival order; their values
are typed by `smpp.tlv`.

This module holds data only: no I/O, no encoding logic beyond the layout tables.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from smpp.constants import CommandId, CommandStatus, Tag

S = CommandStatus

# Field kinds of a body layout.
U8, U16, U32, CSTR, SM, DESTS, UNSUCCESS = range(7)


class NetworkErrorCode(msgspec.Struct, frozen=True, gc=False):
    """The network_error_code TLV (5.3.2.31): network type (1 ANSI-136, 2 IS-95, 3 GSM) and error code."""

    network_type: int
    error_code: int


class SmeAddress(msgspec.Struct, frozen=True, gc=False):
    """A submit_multi destination that is an SME address (dest_flag 1)."""

    ton: int = 0
    npi: int = 0
    address: str = ""


class DistributionList(msgspec.Struct, frozen=True, gc=False):
    """A submit_multi destination that is a distribution list name (dest_flag 2)."""

    name: str = ""


class UnsuccessSme(msgspec.Struct, frozen=True, gc=False):
    """One failed destination in submit_multi_resp (4.5.2)."""

    ton: int = 0
    npi: int = 0
    address: str = ""
    error_status: int = 0


TlvValue = int | str | bytes | NetworkErrorCode
Field = tuple[str, int, int, int]  # (name, kind, max size including NUL for CSTR, status if malformed)


class Pdu(msgspec.Struct, gc=False):
    """Common header. Subclasses add their body fields, then `tlvs`."""

    command_id: ClassVar[int]
    _body: ClassVar[tuple[Field, ...]] = ()
    _has_tlvs: ClassVar[bool] = False
    # Responses whose body the spec says is not returned when command_status is non-zero.
    _body_omitted_on_error: ClassVar[bool] = False

    sequence_number: int = 0
    command_status: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)

    @property
    def name(self) -> str:
        return CommandId(self.command_id).name.lower()


_SOURCE: tuple[Field, ...] = (
    ("source_addr_ton", U8, 1, S.ESME_RINVSRCTON),
    ("source_addr_npi", U8, 1, S.ESME_RINVSRCNPI),
    ("source_addr", CSTR, 21, S.ESME_RINVSRCADR),
)
_DEST: tuple[Field, ...] = (
    ("dest_addr_ton", U8, 1, S.ESME_RINVDSTTON),
    ("dest_addr_npi", U8, 1, S.ESME_RINVDSTNPI),
    ("destination_addr", CSTR, 21, S.ESME_RINVDSTADR),
)
_BIND: tuple[Field, ...] = (
    ("system_id", CSTR, 16, S.ESME_RINVSYSID),
    ("password", CSTR, 9, S.ESME_RINVPASWD),
    ("system_type", CSTR, 13, S.ESME_RINVSYSTYP),
    ("interface_version", U8, 1, S.ESME_RINVPARLEN),
    ("addr_ton", U8, 1, S.ESME_RINVSRCTON),
    ("addr_npi", U8, 1, S.ESME_RINVSRCNPI),
    ("address_range", CSTR, 41, S.ESME_RINVPARLEN),
)
_MESSAGE_TAIL: tuple[Field, ...] = (
    ("esm_class", U8, 1, S.ESME_RINVESMCLASS),
    ("protocol_id", U8, 1, S.ESME_RINVPARLEN),
    ("priority_flag", U8, 1, S.ESME_RINVPRTFLG),
    ("schedule_delivery_time", CSTR, 17, S.ESME_RINVSCHED),
    ("validity_period", CSTR, 17, S.ESME_RINVEXPIRY),
    ("registered_delivery", U8, 1, S.ESME_RINVREGDLVFLG),
    ("replace_if_present_flag", U8, 1, S.ESME_RINVREPFLAG),
    ("data_coding", U8, 1, S.ESME_RINVPARLEN),
    ("sm_default_msg_id", U8, 1, S.ESME_RINVDFTMSGID),
    ("short_message", SM, 254, S.ESME_RINVMSGLEN),
)
_MESSAGE_ID: Field = ("message_id", CSTR, 65, S.ESME_RINVMSGID)


class _Bind(Pdu):
    _body = _BIND
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


class BindTransmitter(_Bind):
    command_id = CommandId.BIND_TRANSMITTER


class BindReceiver(_Bind):
    command_id = CommandId.BIND_RECEIVER


class BindTransceiver(_Bind):
    command_id = CommandId.BIND_TRANSCEIVER


class _BindResp(Pdu):
    _body = (("system_id", CSTR, 16, S.ESME_RINVSYSID),)
    _has_tlvs = True
    _body_omitted_on_error = True
    system_id: str = ""
    tlvs: dict[int, TlvValue] = {}


class BindTransmitterResp(_BindResp):
    command_id = CommandId.BIND_TRANSMITTER_RESP


class BindReceiverResp(_BindResp):
    command_id = CommandId.BIND_RECEIVER_RESP


class BindTransceiverResp(_BindResp):
    command_id = CommandId.BIND_TRANSCEIVER_RESP


class Outbind(Pdu):
    command_id = CommandId.OUTBIND
    _body = (("system_id", CSTR, 16, S.ESME_RINVSYSID), ("password", CSTR, 9, S.ESME_RINVPASWD))
    system_id: str = ""
    password: str = ""


class Unbind(Pdu):
    command_id = CommandId.UNBIND


class UnbindResp(Pdu):
    command_id = CommandId.UNBIND_RESP


class GenericNack(Pdu):
    command_id = CommandId.GENERIC_NACK


class EnquireLink(Pdu):
    command_id = CommandId.ENQUIRE_LINK


class EnquireLinkResp(Pdu):
    command_id = CommandId.ENQUIRE_LINK_RESP


class _Message(Pdu):
    """The body shared by submit_sm and deliver_sm (4.4.1, 4.6.1)."""

    _body = (("service_type", CSTR, 6, S.ESME_RINVSERTYP), *_SOURCE, *_DEST, *_MESSAGE_TAIL)
    _has_tlvs = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, TlvValue] = {}


class SubmitSm(_Message):
    command_id = CommandId.SUBMIT_SM


class DeliverSm(_Message):
    command_id = CommandId.DELIVER_SM


class SubmitSmResp(Pdu):
    command_id = CommandId.SUBMIT_SM_RESP
    _body = (_MESSAGE_ID,)
    _body_omitted_on_error = True
    message_id: str = ""


class DeliverSmResp(Pdu):
    command_id = CommandId.DELIVER_SM_RESP
    _body = (_MESSAGE_ID,)
    _body_omitted_on_error = True
    message_id: str = ""


class SubmitMulti(Pdu):
    command_id = CommandId.SUBMIT_MULTI
    _body = (
        ("service_type", CSTR, 6, S.ESME_RINVSERTYP),
        *_SOURCE,
        ("dest_addresses", DESTS, 255, S.ESME_RINVNUMDESTS),
        *_MESSAGE_TAIL,
    )
    _has_tlvs = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: list[SmeAddress | DistributionList] = []
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, TlvValue] = {}


class SubmitMultiResp(Pdu):
    command_id = CommandId.SUBMIT_MULTI_RESP
    _body = (_MESSAGE_ID, ("unsuccess_smes", UNSUCCESS, 255, S.ESME_RINVNUMDESTS))
    _body_omitted_on_error = True
    message_id: str = ""
    unsuccess_smes: list[UnsuccessSme] = []


# data_sm and alert_notification allow 65-octet addresses (4.7.1, 4.12.1).
_SOURCE_65: tuple[Field, ...] = (*_SOURCE[:2], ("source_addr", CSTR, 65, S.ESME_RINVSRCADR))
_DEST_65: tuple[Field, ...] = (*_DEST[:2], ("destination_addr", CSTR, 65, S.ESME_RINVDSTADR))


class DataSm(Pdu):
    command_id = CommandId.DATA_SM
    _body = (
        ("service_type", CSTR, 6, S.ESME_RINVSERTYP),
        *_SOURCE_65,
        *_DEST_65,
        ("esm_class", U8, 1, S.ESME_RINVESMCLASS),
        ("registered_delivery", U8, 1, S.ESME_RINVREGDLVFLG),
        ("data_coding", U8, 1, S.ESME_RINVPARLEN),
    )
    _has_tlvs = True
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: dict[int, TlvValue] = {}


class DataSmResp(Pdu):
    command_id = CommandId.DATA_SM_RESP
    _body = (_MESSAGE_ID,)
    _has_tlvs = True
    _body_omitted_on_error = True
    message_id: str = ""
    tlvs: dict[int, TlvValue] = {}


class QuerySm(Pdu):
    command_id = CommandId.QUERY_SM
    _body = (_MESSAGE_ID, *_SOURCE)
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


class QuerySmResp(Pdu):
    command_id = CommandId.QUERY_SM_RESP
    _body = (
        _MESSAGE_ID,
        ("final_date", CSTR, 17, S.ESME_RINVPARLEN),
        ("message_state", U8, 1, S.ESME_RINVPARLEN),
        ("error_code", U8, 1, S.ESME_RINVPARLEN),
    )
    _body_omitted_on_error = True
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


class CancelSm(Pdu):
    command_id = CommandId.CANCEL_SM
    _body = (("service_type", CSTR, 6, S.ESME_RINVSERTYP), _MESSAGE_ID, *_SOURCE, *_DEST)
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


class CancelSmResp(Pdu):
    command_id = CommandId.CANCEL_SM_RESP


class ReplaceSm(Pdu):
    command_id = CommandId.REPLACE_SM
    _body = (
        _MESSAGE_ID,
        *_SOURCE,
        ("schedule_delivery_time", CSTR, 17, S.ESME_RINVSCHED),
        ("validity_period", CSTR, 17, S.ESME_RINVEXPIRY),
        ("registered_delivery", U8, 1, S.ESME_RINVREGDLVFLG),
        ("sm_default_msg_id", U8, 1, S.ESME_RINVDFTMSGID),
        ("short_message", SM, 254, S.ESME_RINVMSGLEN),
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


class ReplaceSmResp(Pdu):
    command_id = CommandId.REPLACE_SM_RESP


class AlertNotification(Pdu):
    command_id = CommandId.ALERT_NOTIFICATION
    _body = (
        *_SOURCE_65,
        ("esme_addr_ton", U8, 1, S.ESME_RINVPARLEN),
        ("esme_addr_npi", U8, 1, S.ESME_RINVPARLEN),
        ("esme_addr", CSTR, 65, S.ESME_RINVPARLEN),
    )
    _has_tlvs = True
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: dict[int, TlvValue] = {}


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Outbind,
        Unbind,
        UnbindResp,
        GenericNack,
        EnquireLink,
        EnquireLinkResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        SubmitMulti,
        SubmitMultiResp,
        DataSm,
        DataSmResp,
        QuerySm,
        QuerySmResp,
        CancelSm,
        CancelSmResp,
        ReplaceSm,
        ReplaceSmResp,
        AlertNotification,
    )
}


def response_class(command_id: int) -> type[Pdu] | None:
    """The response class for a request's command_id (None for generic_nack, outbind, alert)."""
    return PDU_CLASSES.get(command_id | 0x80000000) if not command_id & 0x80000000 else None


def get_tlv(pdu: Pdu, tag: Tag | int) -> TlvValue | None:
    """The value of an optional parameter, or None when the PDU has no such TLV."""
    tlvs: dict[int, TlvValue] | None = getattr(pdu, "tlvs", None)
    return None if tlvs is None else tlvs.get(tag)

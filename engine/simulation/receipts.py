"""The simulator's delivery receipts: a deliver_sm per accepted submit_sm, Appendix B text and TLVs.

The text comes from `smpp.receipt.format_receipt`, the one formatter of Appendix B in the code base,
but not once per message: it renders a template per (submit minute, done minute, outcome) with
placeholders for the id and the text, and each receipt is that template with its id and the first 20
characters of the message spliced in (about a sixth of the cost, and receipts are half of the
simulator's traffic). Pure: the wall-clock time is an argument.
"""

from __future__ import annotations

from datetime import datetime

from engine.simulation.config import OUTCOMES, SimulatorConfig, format_carrier_id
from smpp.constants import EsmClass, Tag
from smpp.pdu import DeliverSm, NetworkErrorCode, SubmitSm, TlvValue
from smpp.receipt import format_receipt

GSM_NETWORK = 3  # network_error_code network_type for GSM (SMPP 3.4, 5.3.2.31)
_RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
_UDHI = int(EsmClass.UDHI)
_ID_MARK, _TEXT_MARK = "\x01", "\x02"  # never produced by format_receipt itself
# Receipt text is ASCII: every other byte of the preview becomes '?'.
_PRINTABLE = bytes(c if 0x20 <= c < 0x7F else 0x3F for c in range(256))


def preview(submit: SubmitSm) -> bytes:
    """The first 20 characters of the submitted text for the receipt's `text:` field, in ASCII."""
    data = submit.short_message or submit.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
    if not isinstance(data, bytes):
        return b""
    if submit.esm_class & _UDHI and data:
        data = data[1 + data[0] :]
    if submit.data_coding == 8:
        data = data[:40].decode("utf-16-be", "replace").encode("ascii", "replace")
    return data[:20].translate(_PRINTABLE)


class ReceiptFactory:
    """Builds receipts as the configured carrier writes them."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._id_format = config.receipt_id_format
        self._hex_width = config.hex_id_width
        self._with_tlvs = config.receipts_in == "tlv+text"
        self._templates: dict[tuple[int, int, str], tuple[bytes, bytes, bytes]] = {}

    def _template(self, submitted: int, done: int, outcome: str) -> tuple[bytes, bytes, bytes]:
        key = (submitted, done, outcome)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 64:
                self._templates.clear()
            state, error = OUTCOMES[outcome]
            text = format_receipt(
                _ID_MARK,
                state,
                submit_date=datetime.fromtimestamp(submitted * 60),
                done_date=datetime.fromtimestamp(done * 60),
                err=error,
                text=_TEXT_MARK,
            )
            head, _, rest = text.partition(_ID_MARK)
            middle, _, tail = rest.partition(_TEXT_MARK)
            template = self._templates[key] = (head.encode(), middle.encode(), tail.encode())
        return template

    def build(self, submit: SubmitSm, value: int, outcome: str, *, now: float, delay: float) -> DeliverSm:
        """The receipt for the submit_sm accepted under id `value`, accepted at `now` (epoch seconds),
        final `delay` seconds later."""
        receipt_id = format_carrier_id(value, self._id_format, self._hex_width)
        head, middle, tail = self._template(int(now // 60), int((now + delay) // 60), outcome)
        tlvs: dict[int, TlvValue] = {}
        if self._with_tlvs:
            state, error = OUTCOMES[outcome]
            tlvs = {
                Tag.RECEIPTED_MESSAGE_ID: receipt_id,
                Tag.MESSAGE_STATE: int(state),
                Tag.NETWORK_ERROR_CODE: NetworkErrorCode(GSM_NETWORK, error),
            }
        return DeliverSm(
            source_addr_ton=submit.dest_addr_ton,
            source_addr_npi=submit.dest_addr_npi,
            source_addr=submit.destination_addr,
            dest_addr_ton=submit.source_addr_ton,
            dest_addr_npi=submit.source_addr_npi,
            destination_addr=submit.source_addr,
            esm_class=_RECEIPT,
            short_message=b"".join((head, receipt_id.encode(), middle, preview(submit), tail)),
            tlvs=tlvs,
        )

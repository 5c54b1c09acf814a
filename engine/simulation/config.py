"""Settings of the carrier simulator (`engine.simulation.carrier`), validated once at construction.

Every knob a real SMSC turns that our engine must survive is a field here, documented where it is
declared: response latency, receipt delay and outcome mix, the shape of message ids (and the classic
hex-response / decimal-receipt mismatch), where receipts go and whether they race the response,
throttling, rejects, disconnects and generated MO. Also the small pure helpers the simulator and its
CLI share: carrier id formatting and the parsers for "5-20" ranges and "DELIVRD=90,UNDELIV=10" mixes.
This module holds data and pure functions only.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

import msgspec

from smpp.constants import CommandStatus, MessageState

IdFormat = Literal["hex", "dec", "uuid"]

# Receipt outcome word (Appendix B) -> (message_state, GSM network error code for network_error_code/err).
# The error codes are the MAP errors a real network gives for that outcome (unknown subscriber, absent
# subscriber, call barred); DELIVRD has none.
OUTCOMES: dict[str, tuple[MessageState, int]] = {
    "DELIVRD": (MessageState.DELIVERED, 0),
    "UNDELIV": (MessageState.UNDELIVERABLE, 1),
    "EXPIRED": (MessageState.EXPIRED, 27),
    "REJECTD": (MessageState.REJECTED, 13),
}

DEFAULT_MO_TEXTS = (
    "STOP",
    "Yes, see you at 7",
    "Thanks! Can you also send the invoice for last month's order? I could not find it in my inbox "
    "or in the spam folder, and accounting needs it before Friday. The order number is 4711-0815 and "
    "it was placed on the web shop. Best regards",
)


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the simulated carrier behaves. Construct directly or with msgspec.convert(mapping, ...);
    both validate (ValueError, or msgspec.ValidationError from convert)."""

    system_id: str = ""
    """The system_id a bind must present; empty accepts any."""
    password: str = ""
    """The password a bind must present; empty accepts any."""
    smsc_system_id: str = "carrier-sim"
    """Our system_id in bind_resp."""

    latency_ms: float = 0.0
    """Delay before submit_sm_resp, in ms. With latency_max_ms, the lower bound of a uniform draw."""
    latency_max_ms: float | None = None
    """Upper bound of the response latency (uniform between latency_ms and this); None: fixed."""
    receipt_delay_ms: float = 0.0
    """Delay between submit_sm_resp and the receipt, in ms (lower bound with receipt_delay_max_ms)."""
    receipt_delay_max_ms: float | None = None
    """Upper bound of the receipt delay (uniform); None: fixed."""
    outcomes: dict[str, float] = msgspec.field(default_factory=lambda: {"DELIVRD": 100.0})
    """Relative weights of the receipt outcomes, keys among DELIVRD, UNDELIV, EXPIRED, REJECTD."""

    id_format: IdFormat = "hex"
    """Message ids in submit_sm_resp: 'hex' (upper case, zero-padded to hex_id_width), 'dec', 'uuid'."""
    dlr_id_format: IdFormat | None = None
    """Ids in receipts (receipted_message_id TLV and the text's id:), when carriers write them in
    another format than the response (hex response, decimal receipt is the classic); None: id_format."""
    hex_id_width: int = 16
    """Hex ids are zero-padded to this many digits (leading zeros are part of what the engine must match)."""
    first_id: int | None = None
    """The first id's numeric value (then +1 per accepted submit_sm); None: microseconds since the epoch,
    so a restarted simulator never reissues an id of its previous run."""

    receipts_in: Literal["tlv+text", "text"] = "tlv+text"
    """'tlv+text': receipted_message_id, message_state and network_error_code TLVs plus the Appendix B
    text; 'text': the text only (some carriers send no TLVs)."""
    receipts_on: Literal["same", "other"] = "same"
    """'same': the receipt goes on the bind the submit_sm came on (when it can receive), else any
    receiver of that system_id; 'other': on another RX/TRX bind of the same system_id when one exists."""
    receipt_before_resp: bool = False
    """Send the receipt first and the submit_sm_resp only once the customer answered the receipt's
    deliver_sm (or its first attempt failed): receipts racing the response. receipt_delay is ignored."""

    throttle_rate: float = 0.0
    """Fraction of submit_sm answered ESME_RTHROTTLED at once (nothing recorded, no id, no receipt)."""
    reject_rate: float = 0.0
    """Fraction of submit_sm answered with reject_status at once (nothing recorded)."""
    reject_status: int = CommandStatus.ESME_RSUBMITFAIL
    """command_status of the rejected ones."""
    disconnect_every: int = 0
    """After every N submit_sm received, drop a random bind's TCP connection without an unbind; 0: never."""

    mo_per_second: float = 0.0
    """Generated mobile-originated messages per second (while a receiver is bound); 0: none."""
    mo_from: tuple[str, ...] = ("447700900001", "447700900002", "447700900003")
    """MO senders (handsets), drawn at random."""
    mo_to: tuple[str, ...] = ("447700100100",)
    """MO recipients (the customers' numbers), drawn at random."""
    mo_texts: tuple[str, ...] = DEFAULT_MO_TEXTS
    """MO texts, drawn at random; long ones go as concatenated parts with a UDH."""

    seed: int | None = None
    """Seed of the simulator's random.Random: same seed and same traffic, same decisions."""

    window: int = 500
    """deliver_sm (receipts, MO) awaiting deliver_sm_resp per bind."""
    max_senders: int = 2000
    """deliver_sm awaiting deliver_sm_resp across all binds."""
    max_pending: int = 10_000
    """submit_sm received and not answered yet per bind, beyond which the bind stops reading."""
    deliver_timeout: float = 30.0
    """Seconds to wait for a deliver_sm_resp before giving the attempt up (and retrying)."""
    redelivery_delay_ms: float = 1000.0
    """Wait before retrying a receipt or MO the customer refused or that a dropped bind lost."""
    max_recorded: int = 100_000
    """Accepted submit_sm kept in CarrierSimulator.received (oldest dropped first); 0: none."""

    def __post_init__(self) -> None:
        for name in ("latency_ms", "receipt_delay_ms", "redelivery_delay_ms", "mo_per_second"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for low, high in (("latency_ms", "latency_max_ms"), ("receipt_delay_ms", "receipt_delay_max_ms")):
            upper = getattr(self, high)
            if upper is not None and upper < getattr(self, low):
                raise ValueError(f"{high} must not be below {low}")
        unknown = set(self.outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}; expected some of {list(OUTCOMES)}")
        if any(weight < 0 for weight in self.outcomes.values()) or sum(self.outcomes.values()) <= 0:
            raise ValueError("outcome weights must be non-negative with a positive sum")
        if not 0 <= self.throttle_rate <= 1 or not 0 <= self.reject_rate <= 1:
            raise ValueError("throttle_rate and reject_rate are fractions between 0 and 1")
        if self.throttle_rate + self.reject_rate > 1:
            raise ValueError("throttle_rate + reject_rate must not exceed 1")
        if self.disconnect_every < 0:
            raise ValueError("disconnect_every must not be negative")
        if self.hex_id_width < 1 or (self.first_id is not None and self.first_id < 0):
            raise ValueError("hex_id_width must be positive and first_id non-negative")
        if self.window < 1 or self.max_senders < 1 or self.max_pending < 1 or self.deliver_timeout <= 0:
            raise ValueError("window, max_senders, max_pending and deliver_timeout must be positive")
        if self.max_recorded < 0:
            raise ValueError("max_recorded must not be negative")
        if self.mo_per_second and not (self.mo_from and self.mo_to and self.mo_texts):
            raise ValueError("generated MO needs mo_from, mo_to and mo_texts")

    @property
    def receipt_id_format(self) -> IdFormat:
        return self.dlr_id_format or self.id_format

    def initial_id(self) -> int:
        return self.first_id if self.first_id is not None else time.time_ns() // 1000


def format_carrier_id(value: int, fmt: IdFormat, hex_width: int = 16) -> str:
    """One id value written the way a carrier writes it: '000000000000AF12', '44818', or a UUID."""
    if fmt == "hex":
        return f"{value:0{hex_width}X}"
    if fmt == "dec":
        return str(value)
    return str(uuid.UUID(int=value & ((1 << 128) - 1)))


def parse_range_ms(text: str) -> tuple[float, float | None]:
    """'5' -> (5.0, None): fixed; '2-10' -> (2.0, 10.0): uniform between the two."""
    low, sep, high = text.partition("-")
    try:
        return (float(low), float(high)) if sep else (float(low), None)
    except ValueError:
        raise ValueError(f"expected milliseconds as N or MIN-MAX, got {text!r}") from None


def parse_outcomes(text: str) -> dict[str, float]:
    """'DELIVRD=90,UNDELIV=8,EXPIRED=2' -> {'DELIVRD': 90.0, ...} (keys upper-cased, checked later)."""
    weights: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            weights[key.strip().upper()] = float(value) if sep else 1.0
        except ValueError:
            raise ValueError(f"expected OUTCOME=WEIGHT, got {item!r}") from None
    if not weights:
        raise ValueError("no outcomes given")
    return weights

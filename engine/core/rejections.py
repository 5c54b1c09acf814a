"""Why a message is refused, and how each channel says it: one table for SMPP and HTTP alike.

Every refusal the accept path can make is a `Reject` member carrying the SMPP command_status, the HTTP
status and the API error code, so the two front doors can never disagree about the same mistake.
"""

from __future__ import annotations

from enum import Enum

from smpp.constants import CommandStatus as S


class Reject(Enum):
    #                      SMPP status            HTTP  API code
    INVALID_DESTINATION = (S.ESME_RINVDSTADR, 400, "INVALID_PHONE_NUMBER")
    INVALID_SOURCE = (S.ESME_RINVSRCADR, 400, "INVALID_SENDER_ID")
    MESSAGE_TOO_LONG = (S.ESME_RINVMSGLEN, 400, "MESSAGE_TOO_LONG")
    INVALID_TEXT = (S.ESME_RINVPARLEN, 400, "VALIDATION_ERROR")
    INVALID_DATA_CODING = (S.ESME_RINVPARLEN, 400, "VALIDATION_ERROR")
    INVALID_VALIDITY = (S.ESME_RINVEXPIRY, 400, "VALIDATION_ERROR")
    INVALID_SCHEDULE = (S.ESME_RINVSCHED, 400, "VALIDATION_ERROR")
    NO_ROUTE = (S.ESME_RINVDSTADR, 422, "NO_ROUTE")
    NO_PRICE = (S.ESME_RINVDSTADR, 422, "NO_ROUTE")
    OPT_OUT = (S.ESME_RINVDSTADR, 422, "OPT_OUT")
    # SMPP 3.4 has no "insufficient funds"; ESME_RSUBMITFAIL is what Kannel and most SMSCs answer
    INSUFFICIENT_BALANCE = (S.ESME_RSUBMITFAIL, 422, "INSUFFICIENT_BALANCE")
    THROTTLED = (S.ESME_RTHROTTLED, 429, "RATE_LIMITED")
    QUEUE_FULL = (S.ESME_RMSGQFUL, 503, "SERVICE_UNAVAILABLE")
    SYSTEM_ERROR = (S.ESME_RSYSERR, 503, "SERVICE_UNAVAILABLE")

    @property
    def smpp_status(self) -> int:
        return int(self.value[0])

    @property
    def http_status(self) -> int:
        return int(self.value[1])

    @property
    def api_code(self) -> str:
        return str(self.value[2])


class Rejected(Exception):
    """A message refused at accept time, with a reason a person can read."""

    def __init__(self, reject: Reject, reason: str) -> None:
        super().__init__(f"{reject.name}: {reason}")
        self.reject = reject
        self.reason = reason

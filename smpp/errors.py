"""Exceptions of the SMPP layer.

    SmppError
    ├── LocalProtocolError     we misused the API (sent a PDU the state forbids, a field too long, ...)
    └── RemoteProtocolError    the peer sent something wrong; carries what goes on the wire in answer
        ├── InvalidCommandLength   command_length out of range: answer generic_nack ESME_RINVCMDLEN
        ├── UnknownCommand         command_id not defined: answer generic_nack ESME_RINVCMDID
        └── InvalidBody            the body does not decode: answer the command's own _resp with `status`

A RemoteProtocolError never means the session must close: the reader has already skipped the offending
bytes and the session answers and carries on. `framing_lost` says whether bytes had to be discarded
because the stream could not be re-synchronised (a command_length that cannot be trusted).
"""

from __future__ import annotations

from smpp.constants import CommandStatus


class SmppError(Exception):
    """Base of every error raised by the smpp package."""


class LocalProtocolError(SmppError):
    """We asked for something SMPP does not allow; nothing was sent."""


class RemoteProtocolError(SmppError):
    """The peer broke the protocol. `status` is the command_status to answer with."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        command_id: int | None = None,
        sequence_number: int = 0,
        framing_lost: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.framing_lost = framing_lost


class InvalidCommandLength(RemoteProtocolError):
    def __init__(self, message: str, *, sequence_number: int = 0, framing_lost: bool = True) -> None:
        super().__init__(
            message,
            status=CommandStatus.ESME_RINVCMDLEN,
            sequence_number=sequence_number,
            framing_lost=framing_lost,
        )


class UnknownCommand(RemoteProtocolError):
    def __init__(self, message: str, *, command_id: int, sequence_number: int) -> None:
        super().__init__(
            message,
            status=CommandStatus.ESME_RINVCMDID,
            command_id=command_id,
            sequence_number=sequence_number,
        )


class InvalidBody(RemoteProtocolError):
    """A known command whose body is malformed; answer its response with `status`."""

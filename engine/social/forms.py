"""multipart/form-data and urlencoded bodies read with the standard library (no extra dependency).

    parts = form_parts(request.headers["content-type"], raw)   # {name: Part(data, filename, content_type)}

This module is pure.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl

import msgspec


class Part(msgspec.Struct, frozen=True):
    data: bytes
    filename: str | None = None
    content_type: str = "application/octet-stream"

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def form_parts(content_type: str, raw: bytes) -> dict[str, Part]:
    """The parts of a multipart/form-data or application/x-www-form-urlencoded body by name (the first
    of a repeated name); {} for any other body."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: Part(v.encode()) for k, v in reversed(pairs)}
    if media != "multipart/form-data":
        return {}
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        return {}
    parts: dict[str, Part] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in parts:
            continue
        payload = part.get_payload(decode=True)
        parts[name] = Part(
            payload if isinstance(payload, bytes) else b"",
            part.get_filename(),
            part.get_content_type(),
        )
    return parts

"""Texts that may reach storage, checked where they enter: no U+0000, no lone surrogate, not over-long.

PostgreSQL `text` and `jsonb` cannot hold U+0000, and a lone surrogate (U+D800..U+DFFF alone) cannot be
encoded to UTF-8 at all: either one, let through, fails the statement that stores it — and with group
commit, everyone else's messages in the same batch. So every text a customer gives is checked at the
door, once, by the functions here:

- `check_submit(request)` for what the accept path stores (sender, client_ref, batch id, system_id) and
  for the message text (which is encoded, so it must be encodable): the intake calls it first, for
  SMPP and HTTP alike, and a refusal is an ordinary `Rejected` (the channel's 400 / command_status);
- `find_bad_text(value)` for anything decoded from an HTTP body or query (Structs, lists, dicts, strings
  at any depth): the HTTP API answers 400 VALIDATION_ERROR naming the field.

Lengths of HTTP fields are the schemas' own `max_length`; here only what has no schema (the accept
path's own limits). This module must never do I/O nor know a channel's wire format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.core.rejections import Reject, Rejected

# Longest values the accept path stores (SMPP 3.4 caps source_addr at 21 octets and system_id at 16;
# client references and batch ids are ours, and as the HTTP schema says).
MAX_SOURCE = 21
MAX_CLIENT_REF = 64
MAX_BATCH_ID = 64
MAX_SYSTEM_ID = 16

_BAD = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str, max_length: int | None = None) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    match = _BAD.search(value)
    if match is not None:
        char = match.group()
        if char == "\x00":
            return "must not contain U+0000 (NUL)"
        return f"must not contain a lone surrogate (U+{ord(char):04X})"
    if max_length is not None and len(value) > max_length:
        return f"longer than {max_length} characters"
    return None


def check_submit(request: Any) -> None:
    """Raise `Rejected` if a text of this SubmitRequest could not be stored or encoded."""
    for field, value, limit, reject in (
        ("source", request.source, MAX_SOURCE, Reject.INVALID_SOURCE),
        ("client_ref", request.client_ref, MAX_CLIENT_REF, Reject.INVALID_TEXT),
        ("batch_id", request.batch_id, MAX_BATCH_ID, Reject.INVALID_TEXT),
        ("system_id", request.system_id, MAX_SYSTEM_ID, Reject.INVALID_TEXT),
    ):
        problem = text_problem(value, limit)
        if problem is not None:
            raise Rejected(reject, f"{field} {problem}")
    if request.text is not None:
        # the text is encoded (GSM-7 or UCS-2), never stored as text: only what cannot be encoded
        match = _BAD.search(request.text)
        if match is not None and match.group() != "\x00":
            raise Rejected(Reject.INVALID_TEXT, f"text {text_problem(request.text)}")


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _fields_of(kind: type) -> tuple[tuple[str, str], ...]:
    """(attribute, name on the wire) of a Struct type's fields, looked up once per type."""
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _FIELDS[kind] = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(kind))
    return fields


def find_bad_text(value: Any, path: str = "$") -> tuple[str, str] | None:
    """(field path, problem) of the first string at any depth of `value` that cannot be stored, or None.

    The path is written as msgspec writes it in its own validation errors: `$.messages[3].to`."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem is not None else None
    if isinstance(value, msgspec.Struct):
        for field, wire in _fields_of(type(value)):
            found = find_bad_text(getattr(value, field), f"{path}.{wire}")
            if found is not None:
                return found
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}"
            found = find_bad_text(key, where) if isinstance(key, str) else None
            found = found or find_bad_text(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_bad_text(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None

"""CSV uploads for contacts and campaign recipients: reading the upload, rows, per-row errors.

Accepts text/csv (or text/plain) bodies and multipart/form-data with a file part. Rows are numbered as a
spreadsheet shows them (the header is row 1). This module only parses: it never touches the database.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

import msgspec

from http_api.errors import ApiError, validation_error
from http_api.operations import Call
from routing.numbers import InvalidDestination, normalise_destination

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CSV_TYPES = ("text/csv", "application/csv", "text/plain")


class CsvRowError(msgspec.Struct, frozen=True):
    row: int  # as in a spreadsheet: the header is row 1
    field: str  # the column, "" for the row as a whole
    reason: str


@dataclass
class CsvUpload:
    text: str
    fields: dict[str, str] = field(default_factory=dict)  # the other parts of a multipart form


# The request bodies a CSV endpoint takes, for the OpenAPI document.
FORM_FIELDS = frozenset({"group_id"})  # the form parts read besides the file; others are ignored
CSV_TEXT: dict[str, Any] = {"description": "CSV: a header row, then one row each (any text is read)"}
CSV_BODY: dict[str, dict[str, Any]] = {
    "text/csv": CSV_TEXT,
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}},
        "required": ["file"],
    },
}


def read_csv_upload(call: Call) -> CsvUpload:
    """The CSV of a text/csv body, or of a multipart/form-data body's file part (plus its other fields)."""
    raw = call.raw
    content_type = call.request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    upload = CsvUpload("")
    if media == "multipart/form-data":
        # The standard library's MIME parser reads form data: no extra dependency for one endpoint.
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        found = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None or name == "file":
                found = found if found is not None else data
            elif name in FORM_FIELDS:
                upload.fields[name] = data.decode("utf-8", "replace").strip()
        if found is None:
            raise validation_error("the multipart body has no file part", field="file")
        raw = found
    elif media not in _CSV_TYPES:
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", "send text/csv, or multipart/form-data with a file part"
        )
    try:
        upload.text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise validation_error(f"the CSV is not UTF-8: {exc}") from None
    reject_nul(upload.fields)  # the CSV's own NULs are reported per row (csv_records)
    return upload


def csv_records(text: str, required: tuple[str, ...]) -> tuple[list[dict[str, str]], list[CsvRowError]]:
    """Rows as {column: cell} with their spreadsheet row number in "#", and the rows that are not.

    Any text is an answer, not a refusal: a header naming no `required` column is reported as row 1's
    error (nothing imported), an empty or repeated column name is ignored (the first one counts), and a
    row of the wrong width or holding U+0000 (which PostgreSQL cannot store) is reported by its number.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if not any(name in header for name in required) or any("\x00" in h for h in header):
            reason = f"the header row names no {' or '.join(required)} column"
            return [], [CsvRowError(1, required[0], reason)]
        keep = [i for i, h in enumerate(header) if h and h not in header[:i]]
        records, errors = [], []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if any("\x00" in c for c in cells):
                errors.append(CsvRowError(number, "", "the row holds the character U+0000"))
            elif len(cells) != len(header):
                errors.append(CsvRowError(number, "", f"expected {len(header)} columns, got {len(cells)}"))
            else:
                records.append({"#": str(number), **{header[i]: cells[i].strip() for i in keep}})
    except csv.Error as exc:
        raise validation_error(f"malformed CSV: {exc}") from None
    return records, errors


@dataclass
class ContactRow:
    phone: str
    name: str
    email: str
    tags: list[str]
    fields: dict[str, str]


@dataclass
class ParsedContacts:
    rows: list[ContactRow]
    errors: list[CsvRowError]


def parse_contacts_csv(text: str) -> ParsedContacts:
    records, errors = csv_records(text, ("phone",))
    rows: list[ContactRow] = []
    seen: dict[str, int] = {}
    for record in records:
        number = int(record.pop("#"))
        try:
            digits = normalise_destination(record.pop("phone"))
        except InvalidDestination as exc:
            errors.append(CsvRowError(number, "phone", str(exc)))
            continue
        name, email = record.pop("name", ""), record.pop("email", "")
        tags = sorted({t.strip() for t in record.pop("tags", "").split(";") if t.strip()})
        if email and not _EMAIL.match(email):
            errors.append(CsvRowError(number, "email", f"not an email address: {email!r}"))
        elif len(name) > 200:
            errors.append(CsvRowError(number, "name", "longer than 200 characters"))
        elif digits in seen:
            errors.append(CsvRowError(number, "phone", f"+{digits} is also on row {seen[digits]}"))
        else:
            seen[digits] = number
            rows.append(ContactRow(digits, name, email, tags, {k: v for k, v in record.items() if v}))
    errors.sort(key=lambda e: e.row)
    return ParsedContacts(rows, errors)


def reject_nul(value: Any) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: a 400 here rather than a failed INSERT (500)."""
    if b"\\u0000" in msgspec.json.encode(value):
        raise validation_error("text must not contain the character U+0000")

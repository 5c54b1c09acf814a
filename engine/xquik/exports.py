"""Exports of draws and extractions: csv, json, md, md-document, pdf, txt, xlsx.

    body, media_type, filename = render("xlsx", title, columns, rows)

csv (the csv module, RFC 4180), json (an array of objects), md (a Markdown table), md-document (a
heading, the export's facts, then the table), txt (one block of `column: value` lines per row), xlsx
(openpyxl, write-only, one header row) and pdf (fpdf2, one line of text per row, cut at 240
characters). Rows are capped by the caller: MAX_ROWS, PDF MAX_PDF_ROWS.
This module must never read the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import msgspec

FORMATS = ("csv", "json", "md", "md-document", "pdf", "txt", "xlsx")
MAX_ROWS = 100_000
MAX_PDF_ROWS = 10_000

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "md-document": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
    "txt": "text/plain; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"md-document": "md"}


def cap(fmt: str) -> int:
    return MAX_PDF_ROWS if fmt == "pdf" else MAX_ROWS


def columns_of(rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    seen = list(first)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.append(key)
    return seen


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _md(value: Any) -> str:
    return _cell(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render(
    fmt: str,
    title: str,
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    facts: Sequence[tuple[str, str]] = (),
) -> tuple[bytes, str, str]:
    """(body, media type, file extension) of the export."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        body = out.getvalue().encode()
    elif fmt == "json":
        body = msgspec.json.encode([{c: row.get(c) for c in columns} for row in rows])
    elif fmt == "md":
        body = _table(columns, rows).encode()
    elif fmt == "md-document":
        head = [f"# {title}", ""] + [f"- **{k}:** {_md(v)}" for k, v in facts] + ["", f"{len(rows)} rows", ""]
        body = ("\n".join(head) + "\n" + _table(columns, rows)).encode()
    elif fmt == "txt":
        blocks = [title, "=" * len(title), ""]
        for n, row in enumerate(rows, 1):
            blocks.append(f"#{n}")
            blocks += [f"{c}: {_cell(row.get(c))}" for c in columns]
            blocks.append("")
        body = "\n".join(blocks).encode()
    elif fmt == "xlsx":
        body = _xlsx(title, columns, rows)
    elif fmt == "pdf":
        body = _pdf(title, columns, rows, facts)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return body, MEDIA_TYPES[fmt], EXTENSIONS.get(fmt, fmt)


def _xlsx(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "export")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_xlsx_value(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return "'" + text if text[:1] in "=+-@" else text  # never a formula


def _latin(text: str) -> str:
    # fpdf2's core fonts are Latin-1: other characters become '?' (the other formats keep them)
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf(
    title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], facts: Sequence[tuple[str, str]]
) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=10)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for key, value in facts:
        pdf.cell(0, 5, _latin(f"{key}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, _latin(" | ".join(columns)), new_x="LMARGIN", new_y="NEXT")
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for row in rows:
        line = _latin(" | ".join(_cell(row.get(c)).replace("\n", " ") for c in columns))
        pdf.cell(width, 4, line[:240], new_x="LMARGIN", new_y="NEXT")  # one line a row, cut at 240
    return bytes(pdf.output())

"""An invoice as a one-page PDF, written directly (PDF 1.4, the standard Helvetica fonts, no dependency).

`render_invoice_pdf(doc) -> bytes`. The page: the seller and the invoice number at the top, the customer
billed, the date and status, a table of lines (description, quantity, unit price, amount), and the totals.
Text is encoded in WinAnsi (cp1252), so £, € and accented Latin letters print; anything else prints as
'?'. Amounts are integer minor units, printed with the currency's decimals. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from billing.money import minor_exponent

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
WIDTH, HEIGHT = 595, 842  # A4, points


class InvoiceLine(msgspec.Struct, frozen=True):
    description: str
    quantity: int
    unit_amount: int  # minor units
    amount: int


class InvoiceDocument(msgspec.Struct, frozen=True):
    number: str
    issued_at: datetime
    status: str
    currency: str
    seller: Sequence[str]  # name, then address lines
    bill_to: Sequence[str]
    lines: Sequence[InvoiceLine]
    subtotal: int
    tax: int
    total: int


def format_money(minor: int, currency: str) -> str:
    places = minor_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**places) if places else (abs(minor), 0)
    digits = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency.upper()}"


def _text(value: str) -> bytes:
    raw = value.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


class _Page:
    def __init__(self) -> None:
        self.ops: list[bytes] = []

    def text(self, x: float, y: float, value: str, *, size: float = 10, bold: bool = False,
             right: bool = False) -> None:  # fmt: skip
        if right:  # Helvetica averages ~0.5 em per character: near enough to right-align figures
            x -= _width(value, size)
        font = b"/F2" if bold else b"/F1"
        self.ops.append(b"BT %s %.1f Tf %.1f %.1f Td (%s) Tj ET" % (font, size, x, y, _text(value)))

    def rect(self, x: float, y: float, w: float, h: float, grey: float) -> None:
        self.ops.append(b"%.2f g %.1f %.1f %.1f %.1f re f 0 g" % (grey, x, y, w, h))

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.ops.append(b"0.5 w %.1f %.1f m %.1f %.1f l S" % (x1, y1, x2, y2))


# Helvetica advance widths (per 1000 em) of the characters figures and amounts use; others ~ 556.
_WIDTHS = {" ": 278, ",": 278, ".": 278, "-": 333, "£": 556, "€": 556, "$": 556, "I": 278, "N": 722, "V": 667}


def _width(value: str, size: float) -> float:
    return sum(_WIDTHS.get(ch, 556) for ch in value) * size / 1000


def _content(doc: InvoiceDocument) -> bytes:
    p = _Page()
    p.rect(0, HEIGHT - 110, WIDTH, 110, 0.93)
    top = HEIGHT - 50
    p.text(50, top, doc.seller[0] if doc.seller else "", size=18, bold=True)
    for i, line in enumerate(doc.seller[1:4]):
        p.text(50, top - 18 - 12 * i, line, size=9)
    p.text(WIDTH - 50, top, "INVOICE", size=18, bold=True, right=True)
    p.text(WIDTH - 50, top - 20, doc.number, size=11, right=True)

    y = HEIGHT - 150
    p.text(50, y, "Bill to", size=9, bold=True)
    for i, line in enumerate(doc.bill_to[:5]):
        p.text(50, y - 14 - 13 * i, line, size=10)
    p.text(360, y, "Date", size=9, bold=True)
    p.text(WIDTH - 50, y, doc.issued_at.strftime("%d %B %Y"), size=10, right=True)
    p.text(360, y - 14, "Status", size=9, bold=True)
    p.text(WIDTH - 50, y - 14, doc.status.upper(), size=10, right=True)
    p.text(360, y - 28, "Currency", size=9, bold=True)
    p.text(WIDTH - 50, y - 28, doc.currency.upper(), size=10, right=True)

    y = HEIGHT - 260
    p.rect(50, y - 6, WIDTH - 100, 20, 0.85)
    p.text(56, y, "Description", size=10, bold=True)
    p.text(360, y, "Qty", size=10, bold=True, right=True)
    p.text(450, y, "Unit price", size=10, bold=True, right=True)
    p.text(WIDTH - 56, y, "Amount", size=10, bold=True, right=True)
    for item in doc.lines[:25]:
        y -= 22
        p.text(56, y, item.description[:60], size=10)
        p.text(360, y, str(item.quantity), size=10, right=True)
        p.text(450, y, format_money(item.unit_amount, doc.currency), size=10, right=True)
        p.text(WIDTH - 56, y, format_money(item.amount, doc.currency), size=10, right=True)
    y -= 14
    p.line(50, y, WIDTH - 50, y)
    for label, amount, bold in (("Subtotal", doc.subtotal, False), ("Tax", doc.tax, False),
                                ("Total", doc.total, True)):  # fmt: skip
        y -= 20
        p.text(380, y, label, size=11 if bold else 10, bold=bold)
        p.text(
            WIDTH - 56, y, format_money(amount, doc.currency), size=11 if bold else 10, bold=bold, right=True
        )
    p.text(50, 60, "Prepaid credit: paid in full. Thank you for your business.", size=9)
    return b"\n".join(p.ops)


def render_invoice_pdf(doc: InvoiceDocument) -> bytes:
    content = _content(doc)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>" % (WIDTH, HEIGHT),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content) + 1, content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (%s) /Producer (smsengine) >>" % _text(f"Invoice {doc.number}"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, len(objects), xref,
    )  # fmt: skip
    return bytes(out)

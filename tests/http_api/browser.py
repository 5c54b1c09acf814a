"""A real browser for the tests: Debian's chromium driven by selenium through Debian's chromedriver.

Both are installed by the test setup itself (tests/debian.py) when missing. `png_colours(png)` reads a
screenshot (8-bit RGB/RGBA PNG, as Chromium writes them) with zlib alone and counts its distinct colours:
a blank page has one or two.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.debian import debian_tool

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-dev-shm-usage", "--window-size=1440,1100", "--disable-extensions", "--no-first-run",
)  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    return debian_tool("chromium", ["chromium", "chromium-driver"]), debian_tool(
        "chromedriver", ["chromium", "chromium-driver"]
    )


@pytest.fixture
def browser(chromium: tuple[str, str]) -> Iterator[webdriver.Chrome]:
    binary, driver_path = chromium
    os.environ["SE_OFFLINE"] = "true"  # never let selenium look for a driver or browser online
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def png_colours(png: bytes, step: int = 7) -> int:
    """Distinct colours among every `step`-th pixel of an 8-bit, non-interlaced RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks.append(data)
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        if y % step == 0:
            for x in range(0, width, step):
                colours.add(bytes(line[x * bpp : x * bpp + 3]))
        previous = line
    return len(colours)

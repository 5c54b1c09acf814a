"""Cross-check against gsmcodecs, an independent TS 23.038 implementation, on thousands of random texts."""

from __future__ import annotations

import random

import gsmcodecs  # noqa: F401  (registers the gsm23.038 codecs)
import pytest

from smpp.text import decode_gsm7, encode_gsm7, septet_count
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES
from tests.smpp.text.air_interface import ORACLE_ERRATA, oracle_errata_characters

PAIRS = [
    (locking, shift) for locking in sorted(LOCKING_SHIFT_TABLES) for shift in sorted(SINGLE_SHIFT_TABLES)
]


def _oracle_encode(text: str, locking: int, shift: int) -> bytes | None:
    try:
        return text.encode(f"gsm23.038_{locking}_{shift}")
    except UnicodeEncodeError:
        return None


def _repertoire(locking: int, shift: int) -> list[str]:
    chars = set(LOCKING_SHIFT_TABLES[locking]) | set(SINGLE_SHIFT_TABLES[shift])
    return sorted(chars - {"\ufffd", "\x1b"} - oracle_errata_characters(locking, shift))


@pytest.mark.parametrize(("locking", "shift"), PAIRS)
def test_random_texts_encode_like_the_oracle(locking: int, shift: int) -> None:
    rng = random.Random(f"{locking}-{shift}")
    repertoire = _repertoire(locking, shift)
    strangers = ["😀", "ж", "中", "`", "\u00a0", "ё"]
    for _ in range(60):  # 196 table pairs x 60 = 11,760 texts
        text = "".join(rng.choice(repertoire) for _ in range(rng.randint(0, 200)))
        if rng.random() < 0.2:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(strangers) + text[at:]
        oracle = _oracle_encode(text, locking, shift)
        ours = septet_count(text, locking, shift)
        if oracle is None:
            assert ours is None, text
            continue
        assert ours == len(oracle)
        encoded = encode_gsm7(text, locking, shift)
        # The spec lists a few characters twice; both implementations may pick either septet,
        # so compare what each side's octets mean rather than the octets themselves.
        assert decode_gsm7(oracle, locking, shift) == text
        assert encoded.decode(f"gsm23.038_{locking}_{shift}") == text


@pytest.mark.parametrize(("locking", "shift"), PAIRS)
def test_random_septet_strings_decode_like_the_oracle(locking: int, shift: int) -> None:
    rng = random.Random(f"decode-{locking}-{shift}")
    defined_locking = [
        s
        for s, c in enumerate(LOCKING_SHIFT_TABLES[locking])
        if c != "\ufffd" and s != 0x1B and ("locking", locking, s) not in ORACLE_ERRATA
    ]
    defined_shift = [
        s
        for s, c in enumerate(SINGLE_SHIFT_TABLES[shift])
        if c != "\ufffd" and s != 0x1B and ("singleShift", shift, s) not in ORACLE_ERRATA
    ]
    for _ in range(30):
        septets = bytearray()
        for _ in range(rng.randint(0, 160)):
            if rng.random() < 0.15:
                septets += bytes((0x1B, rng.choice(defined_shift)))
            else:
                septets.append(rng.choice(defined_locking))
        assert decode_gsm7(bytes(septets), locking, shift) == bytes(septets).decode(
            f"gsm23.038_{locking}_{shift}"
        )

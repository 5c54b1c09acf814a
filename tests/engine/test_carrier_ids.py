import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.carriers.id_formats import normalise
from engine.core.throttle import TokenBucket


@given(st.integers(0, 2**80))
def test_hex_response_id_meets_decimal_receipt_id(value: int) -> None:
    for hex_form in (f"{value:x}", f"{value:X}", f"{value:020x}"):
        assert normalise(hex_form, "hex") == normalise(str(value), "dec") == normalise(f"{value:030d}", "dec")


@pytest.mark.parametrize(("a", "b"), [("0A1B", "0a1b"), ("00abc", "ABC"), ("UUID-X", "uuid-x")])
def test_text_ids_match_across_case_and_leading_zeros(a: str, b: str) -> None:
    assert normalise(a, "text") == normalise(b, "text")


def test_a_text_id_from_a_hex_carrier_still_gets_a_key() -> None:
    assert normalise("not-hex", "hex") == normalise("NOT-HEX", "text")


def test_bucket_admits_its_rate_and_refuses_beyond() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=0.0)
    assert sum(bucket.try_take(0.0) for _ in range(15)) == 10
    assert not bucket.try_take(0.05)
    assert bucket.try_take(0.1)  # one token refilled after 100 ms
    assert bucket.delay(0.1) == pytest.approx(0.1)


def test_bucket_debt_tells_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=100, burst=1, now=0.0)
    assert bucket.take(0.0, 3) == pytest.approx(0.02)

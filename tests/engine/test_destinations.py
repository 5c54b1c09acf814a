"""The fast destination check agrees with routing's phonenumbers-based one on every input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.destinations import normalise_cached
from routing.numbers import InvalidDestination, normalise_destination


def outcome(fn: object, address: str, ton: int) -> str:
    try:
        return str(fn(address, ton, 1, None))  # type: ignore[operator]
    except InvalidDestination as exc:
        return f"invalid:{exc.reason}"


def reference(address: str, ton: int, npi: int, region: str | None) -> str:
    return normalise_destination(address, ton=ton, npi=npi, default_region=region)


NUMBERS = st.one_of(
    st.text(st.sampled_from("0123456789"), min_size=1, max_size=17),
    st.builds(lambda d: "+" + d, st.text(st.sampled_from("0123456789"), min_size=1, max_size=16)),
    st.sampled_from(["+447700900123", "447700900123", "0044 7700 900123", "12025550123", "+8613800138000",
                     "4477009001", "+39061234567", "33612345678", "+1", "00", "+999123456789"]),
)  # fmt: skip


@settings(max_examples=2000)
@given(NUMBERS, st.sampled_from([0, 1]))
def test_fast_path_gives_what_phonenumbers_gives(address: str, ton: int) -> None:
    assert outcome(normalise_cached, address, ton) == outcome(reference, address, ton)

"""Exact platform text limits: X's weighted length against twitter-text's own conformance cases, URL
finding against its extraction cases, properties of the count (hypothesis), and each platform's check.

Vectors: vectors/twitter_text_conformance.json, taken unchanged from twitter/twitter-text
conformance/validate.yml (WeightedTweetsCounterTest with config v2,
WeightedTweetsWithDiscountedEmojiCounterTest and UnicodeDirectionalMarkerCounterTest with v3) and
conformance/extract.yml (urls, urls_with_indices, urls_with_directional_markers, tco_urls_with_params),
at commit 30e2430d90cff3b46393ea54caf511441983c260.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.social.text.limits import check_text, graphemes
from engine.social.text.urls import find_urls
from engine.social.text.weighted import X_V2, X_V3, weigh

VECTORS = json.loads((Path(__file__).parent / "vectors" / "twitter_text_conformance.json").read_text())
CONFIGS = {"v2": X_V2, "v3": X_V3}


def _weighted_cases() -> list[Any]:
    return [
        pytest.param(section, case, id=f"{section}: {case['description']}")
        for section, cases in VECTORS["weighted"].items()
        for case in cases
    ]


def _url_cases() -> list[Any]:
    return [
        pytest.param(case, id=f"{section}: {case['description']}")
        for section, cases in VECTORS["extract_urls"].items()
        for case in cases
    ]


@pytest.mark.parametrize("section, case", _weighted_cases())
def test_weighted_length_matches_twitter_text(section: str, case: dict[str, Any]) -> None:
    result = weigh(case["text"], CONFIGS[VECTORS["configs"][section]])
    assert {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    } == case["expected"]


@pytest.mark.parametrize("case", _url_cases())
def test_urls_are_found_as_twitter_text_finds_them(case: dict[str, Any]) -> None:
    spans = find_urls(case["text"])
    expected = case["expected"]
    if expected and isinstance(expected[0], dict):
        assert [{"url": case["text"][a:b], "indices": [a, b]} for a, b in spans] == expected
    else:
        assert [case["text"][a:b] for a, b in spans] == expected


def test_explain_says_what_counted_how() -> None:
    result = weigh("Hello 👋🏽 https://example.com/a/very/long/path/that/still/counts/23 世界")
    assert [(s.kind, s.text, s.weight) for s in result.segments] == [
        ("text", "Hello ", 6),
        ("emoji", "👋🏽", 2),
        ("text", " ", 1),
        ("url", "https://example.com/a/very/long/path/that/still/counts/23", 23),
        ("text", " ", 1),
        ("text", "世界", 4),
    ]
    assert result.weighted_length == 37 and result.valid


text_strategy = st.lists(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["👨‍👩‍👧", "🇫🇷", "1️⃣", " https://x.com/a ", "e\u0301", "\ufeff", "。", "."]),
    ),
    max_size=80,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text_strategy)
def test_the_segments_are_the_normalised_text_and_add_up_to_the_length(text: str) -> None:
    result = weigh(text)
    assert "".join(s.text for s in result.segments) == unicodedata.normalize("NFC", text)
    assert sum(s.weight for s in result.segments) == result.weighted_length
    has_invalid = any(s.kind == "invalid" for s in result.segments)
    assert result.valid == (0 < result.weighted_length <= 280 and not has_invalid)


@settings(max_examples=200, deadline=None)
@given(text_strategy)
def test_the_count_does_not_depend_on_the_normalisation_form(text: str) -> None:
    assert weigh(unicodedata.normalize("NFD", text)).weighted_length == weigh(text).weighted_length


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(lambda c: c not in ".:"),
        max_size=400,
    )
)
def test_plain_ascii_without_links_counts_one_per_character(text: str) -> None:
    assert weigh(text).weighted_length == len(text)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=60), st.sampled_from(["example.com", "https://t.co/abc", "x.co/p?q=1"])
)
def test_every_link_counts_23_whatever_its_length(padding: int, link: str) -> None:
    assert (
        weigh(f"see {link}{'/a' * padding if '?' not in link else ''}").weighted_length == 4 + 23
        or "t.co" in link
    )


def test_each_platform_checks_its_own_limit() -> None:
    assert check_text("x", "post", "x" * 280).ok and not check_text("x", "post", "x" * 281).ok
    assert check_text("x", "post", "世" * 140).ok and not check_text("x", "post", "世" * 141).ok
    assert check_text("x", "dm", "x" * 10_000).ok and not check_text("x", "dm", "x" * 10_001).ok
    over = check_text("x", "post", "x" * 300)
    assert (
        over.problems == ("text_too_long: 300 weighted characters, X allows 280",) and over.remaining == -20
    )
    assert check_text("bluesky", "post", "👨‍👩‍👧" * 300).length == 300  # graphemes, not code points
    assert not check_text("bluesky", "post", "👨‍👩‍👧" * 300).ok  # but 5,400 UTF-8 bytes > 3,000
    assert check_text("bluesky", "post", "a" * 300).ok and not check_text("bluesky", "post", "a" * 301).ok
    assert check_text("bluesky", "dm", "a" * 1000).ok and not check_text("bluesky", "dm", "a" * 1001).ok
    assert check_text("x", "post", "   ").problems == ("empty_text: the text is empty",)
    assert graphemes("e\u0301🇫🇷") == 2
    with pytest.raises(ValueError):
        check_text("myspace", "post", "hi")

"""X's weighted post length (twitter-text "parseTweet"), with an explanation of what counted how.

    result = weigh("Hello 👋 https://example.com/a/long/path", X_V3)
    result.weighted_length   # 31: 6 letters x 1, the emoji 2, the URL 23
    result.valid             # True: 0 < 31 <= 280 and no invalid characters
    result.segments          # [text "Hello " 1 each = 6, emoji "👋" = 2, text " " = 1, url ... = 23]

The rules (twitter-text configuration v3, github.com/twitter/twitter-text config/v3.json):
- the text is NFC-normalised first; a character (code point) weighs the weight of the range it falls
  in (0-4351, 8192-8205, 8208-8223, 8242-8247: 100) or `default_weight` (200), over `scale` (100),
  so Latin, Cyrillic, Greek, Arabic, Hebrew... count 1 and CJK, most symbols count 2;
- each URL (engine.social.text.urls) weighs `url_length` (23) whatever its length;
- with emoji parsing on, an emoji sequence (a grapheme cluster that is an emoji: presentation emoji,
  text emoji made emoji by U+FE0F, keycaps, modifier and ZWJ sequences, flags, tag sequences) weighs
  `default_weight` once, however many code points it holds (a family of 7 code points counts 2);
- valid: 0 < weighted length <= max and none of U+FFFE, U+FEFF, U+FFFF.
`valid_range_end` / `display_range_end` are UTF-16 indexes (inclusive) into the original text, as
twitter-text reports them: where a UI would start greying out the text.
This module is pure.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

import msgspec
import regex

from engine.social.text.urls import find_urls

INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")
_CLUSTER = regex.compile(r"\X")
_PRESENTATION = regex.compile(r"\p{Emoji_Presentation}")
_EMOJI = regex.compile(r"\p{Emoji}")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_MODIFIER = regex.compile(r"[\p{Emoji_Modifier}\u200d\U000e0020-\U000e007f]")
_REGIONAL = regex.compile(r"[\U0001f1e6-\U0001f1ff]")


SegmentKind = Literal["text", "url", "emoji", "invalid"]


class WeightedRange(msgspec.Struct, frozen=True):
    start: int
    end: int
    weight: int


class TextConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A twitter-text configuration (config/v1.json, v2.json, v3.json)."""

    max_weighted_length: int
    scale: int
    default_weight: int
    url_length: int = 23
    emoji_parsing: bool = False
    ranges: tuple[WeightedRange, ...] = ()

    def weight_of(self, char: str) -> int:
        code = ord(char)
        for r in self.ranges:
            if r.start <= code <= r.end:
                return r.weight
        return self.default_weight


_V2_RANGES = (
    WeightedRange(0, 4351, 100),
    WeightedRange(8192, 8205, 100),
    WeightedRange(8208, 8223, 100),
    WeightedRange(8242, 8247, 100),
)
X_V1 = TextConfig(max_weighted_length=140, scale=1, default_weight=1)
X_V2 = TextConfig(max_weighted_length=280, scale=100, default_weight=200, ranges=_V2_RANGES)
X_V3 = TextConfig(
    max_weighted_length=280, scale=100, default_weight=200, emoji_parsing=True, ranges=_V2_RANGES
)


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """A run of the (normalised) text and what it counted: `weight` in characters of the limit."""

    kind: SegmentKind
    text: str
    weight: float
    each: float | None = None  # per character, for runs of text


class WeightedText(msgspec.Struct, frozen=True, kw_only=True):
    weighted_length: int
    max_length: int
    valid: bool
    permillage: int
    valid_range_start: int
    valid_range_end: int
    display_range_start: int
    display_range_end: int
    normalized: bool
    """True when NFC normalisation changed the text (lengths are those of the normalised text)."""
    segments: tuple[Segment, ...]


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def is_emoji_cluster(cluster: str) -> bool:
    first = cluster[0]
    if _REGIONAL.match(first) or _PRESENTATION.match(first):
        return True
    if ("\ufe0f" in cluster or "\u20e3" in cluster) and _EMOJI.match(first):
        return True
    return len(cluster) > 1 and bool(_PICTOGRAPHIC.match(first)) and bool(_MODIFIER.search(cluster))


def _units(text: str, config: TextConfig) -> list[tuple[SegmentKind, str, int]]:
    """(kind, text, scaled weight) for each counted unit: a URL, an emoji sequence, or a character."""
    urls = dict(find_urls(text))
    units: list[tuple[SegmentKind, str, int]] = []
    index = 0
    clusters = _CLUSTER.finditer(text) if config.emoji_parsing else None
    cluster_at: dict[int, str] = {}
    if clusters is not None:
        cluster_at = {m.start(): m.group() for m in clusters}
    while index < len(text):
        if index in urls:
            end = urls[index]
            units.append(("url", text[index:end], config.url_length * config.scale))
            index = end
            continue
        cluster = cluster_at.get(index)
        if cluster is not None and is_emoji_cluster(cluster):
            units.append(("emoji", cluster, config.default_weight))
            index += len(cluster)
            continue
        char = text[index]
        units.append(("invalid" if char in INVALID_CHARACTERS else "text", char, config.weight_of(char)))
        index += 1
    return units


def weigh(text: str, config: TextConfig = X_V3) -> WeightedText:
    normalized = unicodedata.normalize("NFC", text)
    scaled_max = config.max_weighted_length * config.scale
    scaled = 0
    valid = True
    position = 0  # UTF-16 index just past the current unit
    valid_end = 0
    segments: list[Segment] = []
    for kind, unit, weight in _units(normalized, config):
        scaled += weight
        position += _utf16(unit)
        if valid and kind == "invalid":
            valid = False
        if valid and scaled <= scaled_max:
            valid_end = position - 1
        each = weight / config.scale
        last = segments[-1] if segments else None
        if kind == "text" and last is not None and last.kind == "text" and last.each == each:
            segments[-1] = Segment(kind="text", text=last.text + unit, weight=last.weight + each, each=each)
        else:
            segments.append(Segment(kind=kind, text=unit, weight=each, each=each if kind == "text" else None))
    weighted = scaled // config.scale
    valid = valid and 0 < weighted <= config.max_weighted_length
    offset = _utf16(text) - _utf16(normalized)
    return WeightedText(
        weighted_length=weighted,
        max_length=config.max_weighted_length,
        valid=valid,
        permillage=weighted * 1000 // config.max_weighted_length,
        valid_range_start=0,
        valid_range_end=valid_end + offset,
        display_range_start=0,
        display_range_end=_utf16(text) - 1 if text else 0,
        normalized=normalized != text,
        segments=tuple(segments),
    )

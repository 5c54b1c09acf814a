"""Finding URLs in post text the way X counts them: each one found weighs 23 whatever its length.

X counts a post's length with twitter-text's rules (github.com/twitter/twitter-text), and a URL is
whatever twitter-text's extractor recognises: with or without http(s)://, a domain of labels that
end in a known top-level domain (tlds.txt: the IANA root zone as twitter-text lists it) or punycode,
optional port, path (balanced parentheses, no trailing punctuation) and query. The grammar here is
written from twitter-text's published rules and checked against its conformance cases
(tests/engine/social/vectors); the notable details:

- the character before a URL may not be a letter, digit, @, $ or # (so "foo@bar.com" is no URL);
  without a protocol it may not be - _ . / either;
- a domain without protocol counts only as its ASCII parts ("www.例え.jp" holds none);
- every label, punycode-encoded, must be 1 to 63 characters, and the whole URL at most 4096;
- https://t.co/slug keeps no path after the slug, and a slug longer than 40 is no t.co URL.

`find_urls(text)` returns (start, end) code point spans, in order, never overlapping.
This module is pure and holds no state but compiled patterns.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$"
_SPACES = "\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u180E\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000"
_INVALID = "\\uFFFE\\uFEFF\\uFFFF"
_DIRECTIONAL = "\\u202A-\\u202E\\u061C\\u200E\\u200F\\u2066-\\u2069"
_LATIN_ACCENTS = (
    "\\xC0-\\xD6\\xD8-\\xF6\\xF8-\\xFF\\u0100-\\u024F\\u0253\\u0254\\u0256\\u0257\\u0259\\u025B"
    "\\u0263\\u0268\\u026F\\u0272\\u0289\\u028B\\u02BB\\u0300-\\u036F\\u1E00-\\u1EFF"
)
_CYRILLIC = "\\u0400-\\u04FF"
MAX_URL_LENGTH = 4096
MAX_LABEL_LENGTH = 63
MAX_TCO_SLUG = 40


@cache
def top_level_domains() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(country, generic) TLDs from tlds.txt."""
    sections: dict[str, list[str]] = {}
    current = ""
    text = resources.files("engine.social.text").joinpath("tlds.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        sections.setdefault(current, []).append(line)
    return tuple(sections.get("country", ())), tuple(sections.get("generic", ()))


def _alternation(words: tuple[str, ...]) -> str:
    # Longest first, so that a TLD that is a prefix of another never wins by order alone.
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    country, generic = top_level_domains()
    tld_end = r"(?=[^0-9a-zA-Z@+\-]|$)"
    tld = rf"(?:(?:{_alternation(generic)}){tld_end}|(?:{_alternation(country)}){tld_end}|xn--[\-0-9a-z]+)"
    domain_char = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
    subdomain = rf"(?:(?:{domain_char}(?:[_\-]|{domain_char})*)?{domain_char}\.)"
    domain_name = rf"(?:(?:{domain_char}(?:-|{domain_char})*)?{domain_char}\.)"
    domain = rf"(?:{subdomain}*{domain_name}{tld})"
    path_char = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
    parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
    path_end = rf"(?:[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|{parens})"
    path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:@{path_char}+/))"
    query_char = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
    query_end = r"[a-z0-9\-_&=#/]"
    preceding = rf"(?:[^A-Za-z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
    url = re.compile(
        rf"({preceding})"  # 1: the character before
        rf"((https?://)?"  # 2: the URL, 3: protocol
        rf"({domain})"  # 4: domain
        rf"(?::([0-9]+))?"  # 5: port
        rf"(/{path}*)?"  # 6: path
        rf"(\?{query_char}*{query_end})?)",  # 7: query
        re.IGNORECASE,
    )
    ascii_domain = re.compile(rf"(?:(?:[\-a-z0-9{_LATIN_ACCENTS}]+)\.)+{tld}", re.IGNORECASE)
    tco = re.compile(rf"^https?://t\.co/([a-z0-9]+)(?:\?{query_char}*{query_end})?", re.IGNORECASE)
    return url, ascii_domain, tco


def _punycode_host_ok(domain: str) -> int | None:
    """The domain's punycode-encoded length when every label is 1-63 characters, else None."""
    ascii_domain = _patterns()[1]
    if domain[:4].lower() == "xn--" and not ascii_domain.fullmatch(domain):
        return None
    total = 0
    for label in domain.split("."):
        try:
            encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        except UnicodeError:
            return None
        if not 1 <= len(encoded) <= MAX_LABEL_LENGTH:
            return None
        total += len(encoded) + 1
    return total - 1


def find_urls(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the URLs twitter-text would find in `text`, in order."""
    if "." not in text:
        return []
    url_pattern, ascii_domain, tco = _patterns()
    spans: list[tuple[int, int]] = []
    for match in url_pattern.finditer(text):
        before, url, protocol, domain, path = (
            match.group(1),
            match.group(2),
            match.group(3),
            match.group(4),
            match.group(6),
        )
        start, end = match.start(2), match.end(2)
        encoded_length = _punycode_host_ok(domain)
        if encoded_length is None:
            continue
        if len(protocol or "https://") + len(url) + encoded_length - len(domain) > MAX_URL_LENGTH:
            continue
        if not protocol:
            if before and before in "-_./":
                continue
            found = [(start + m.start(), start + m.end()) for m in ascii_domain.finditer(domain)]
            if not found:
                continue
            if path:  # the path belongs to the last ASCII domain
                found[-1] = (found[-1][0], end)
            spans.extend(found)
            continue
        short = tco.match(url)
        if short is not None:
            if len(short.group(1)) > MAX_TCO_SLUG:
                continue
            end = start + short.end()
        spans.append((start, end))
    return spans

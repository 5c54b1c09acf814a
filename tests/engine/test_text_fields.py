"""Texts that could not be stored are refused at the door, with the channel's own answer."""

from __future__ import annotations

import msgspec
import pytest

from engine.core.intake import SubmitRequest
from engine.core.rejections import Reject, Rejected
from engine.core.text_fields import check_submit, find_bad_text, text_problem
from smpp.constants import CommandStatus


def request(**fields: object) -> SubmitRequest:
    base: dict[str, object] = {"account_id": 1, "channel": "http", "source": "Acme", "destination": "+44"}
    return SubmitRequest(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reject"),
    [
        ({"source": "Ac\x00me"}, Reject.INVALID_SOURCE),
        ({"source": "4" * 22}, Reject.INVALID_SOURCE),
        ({"client_ref": "order\x00"}, Reject.INVALID_TEXT),
        ({"client_ref": "x" * 65}, Reject.INVALID_TEXT),
        ({"batch_id": "\ud800"}, Reject.INVALID_TEXT),
        ({"text": "hello \udc00"}, Reject.INVALID_TEXT),
    ],
)
def test_a_text_no_table_can_store_is_refused_with_the_channels_code(
    fields: dict[str, object], reject: Reject
) -> None:
    with pytest.raises(Rejected) as caught:
        check_submit(request(**fields))
    assert caught.value.reject is reject
    assert reject.http_status == 400
    assert reject.smpp_status in (CommandStatus.ESME_RINVSRCADR, CommandStatus.ESME_RINVPARLEN)


def test_ordinary_texts_pass_and_a_nul_inside_the_message_text_is_only_encoded() -> None:
    check_submit(request(source="+447700900123", client_ref="x" * 64, text="Grüße 👋 \x00"))


class Inner(msgspec.Struct):
    to: str


class Outer(msgspec.Struct):
    from_: str = msgspec.field(name="from")
    messages: list[Inner] = msgspec.field(default_factory=list)
    variables: dict[str, str] = msgspec.field(default_factory=dict)


def test_find_bad_text_names_the_field_as_the_client_wrote_it() -> None:
    assert find_bad_text(Outer("ok", [Inner("1"), Inner("2\x00")])) == (
        "$.messages[1].to", "must not contain U+0000 (NUL)",
    )  # fmt: skip
    assert find_bad_text(Outer("a\x00")) == ("$.from", "must not contain U+0000 (NUL)")
    assert find_bad_text(Outer("ok", variables={"n\x00": "v"}))[0] == "$.variables.n\x00"  # type: ignore[index]
    assert find_bad_text({"to": "\x00"}) == ("$.to", "must not contain U+0000 (NUL)")
    assert find_bad_text(Outer("ok", [Inner("fine")], {"k": "v"})) is None
    assert text_problem("abc", 2) == "longer than 2 characters"

from engine.core.ids import MessageIdGenerator, format_id, parse_id
from engine.customers.credentials import (
    SmppCredential,
    check_bind,
    hash_password,
    ip_allowed,
    verify_password,
)
from smpp.constants import CommandStatus


def test_password_is_stored_hashed_salted_and_checked() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert "s3cret" not in first and first != second
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("S3cret", first)
    assert not verify_password("s3cret", "garbage")


def test_bind_checks_name_the_reason_and_the_status() -> None:
    cred = SmppCredential(1, "acme", hash_password("pw"), allowed_ips=("10.0.0.0/8",), max_binds=2)
    assert check_bind(None, "pw", "10.1.1.1", 0)[0] == CommandStatus.ESME_RINVSYSID
    assert check_bind(cred, "nope", "10.1.1.1", 0)[0] == CommandStatus.ESME_RINVPASWD
    assert check_bind(cred, "pw", "192.0.2.1", 0) == (
        CommandStatus.ESME_RBINDFAIL,
        "source address 192.0.2.1 not allowed",
    )
    assert check_bind(cred, "pw", "10.1.1.1", 2)[0] == CommandStatus.ESME_RBINDFAIL
    assert check_bind(cred, "pw", "10.1.1.1", 1) == (CommandStatus.ESME_ROK, "ok")


def test_ip_allow_list_empty_means_anywhere() -> None:
    assert ip_allowed("203.0.113.9", ())
    assert ip_allowed("::1", ("::1/128",))
    assert not ip_allowed("not-an-ip", ("0.0.0.0/0",))


def test_message_ids_are_unique_ordered_and_differ_between_nodes() -> None:
    a, b = MessageIdGenerator(1), MessageIdGenerator(2)
    ids = [a.next_id() for _ in range(20_000)] + [b.next_id() for _ in range(20_000)]
    assert len(set(ids)) == 40_000
    assert ids[:20_000] == sorted(ids[:20_000])
    assert all(parse_id(format_id(i)) == i for i in ids[:100])
    assert parse_id(format_id(ids[0]).upper()) == ids[0]
    assert parse_id("zz") is None and parse_id("") is None and parse_id("f" * 17) is None

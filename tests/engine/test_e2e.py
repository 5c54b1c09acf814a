"""End to end over real sockets, real PostgreSQL: customer -> engine -> simulated carrier -> receipt back."""

from __future__ import annotations

import asyncio

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.core.ids import parse_id
from engine.simulation.config import SimulatorConfig
from smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from smpp.pdu import SubmitSm, SubmitSmResp
from smpp.receipt import parse_receipt
from tests.engine.harness import WAIT, Receiver, StackOptions, customer, running_stack


def submit(destination: str, text: str = "Hello", **kw: object) -> SubmitSm:
    return SubmitSm(
        source_addr="Acme", source_addr_ton=5, destination_addr=destination, dest_addr_ton=1, dest_addr_npi=1,
        registered_delivery=1, short_message=text.encode(), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_message_goes_to_the_carrier_and_its_receipt_comes_back_with_our_id(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            resp = await client.request(submit("447700900123", "Hello from the test"))
            assert isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK
            our_id = resp.message_id
            assert parse_id(our_id) is not None
            async with asyncio.timeout(WAIT):
                dlr = await receiver.received.get()
            assert dlr.esm_class & EsmClass.DELIVERY_RECEIPT
            assert dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID] == our_id
            assert dlr.tlvs[Tag.MESSAGE_STATE] == MessageState.DELIVERED
            receipt = parse_receipt(dlr.short_message)
            assert receipt is not None and receipt.message_id == our_id and receipt.stat == "DELIVRD"
            carrier_copy = next(iter(stack.sim.received.values()))
            assert carrier_copy.short_message == b"Hello from the test"
            assert carrier_copy.destination_addr == "447700900123"
        row = await stack.pool.fetchrow(
            "SELECT status, cost, price FROM messages WHERE id = $1", parse_id(our_id)
        )
        assert row is not None and row["status"] == "delivered" and row["cost"] == 3_000
        charged = await stack.pool.fetchval("SELECT money FROM messages WHERE id = $1", parse_id(our_id))
        assert charged == "captured"
        async with stack.pool.acquire() as conn:
            report = await check_engine_ledger(conn)
        assert report.ok and report.items_checked == 1, format_report(report)


async def test_receipt_before_the_response_still_matches(database_url: str, redis_url: str) -> None:
    options = StackOptions(sim=SimulatorConfig(receipt_before_resp=True))
    async with running_stack(database_url, redis_url, options) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            ids = [(await client.request(submit(f"4477009001{i:02d}"))).message_id for i in range(20)]  # type: ignore[attr-defined]
            got = set()
            async with asyncio.timeout(WAIT):
                while len(got) < 20:
                    got.add((await receiver.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID])
            assert got == set(ids)
        # every receipt that waited in carrier_keys for its submit_sm_resp was met by it
        unmatched = await stack.pool.fetchval(
            "SELECT count(*) FROM carrier_keys WHERE message_id IS NULL AND receipt_state IS NOT NULL"
        )
        assert unmatched == 0
        assert {r["status"] for r in await stack.pool.fetch("SELECT status FROM messages")} == {"delivered"}


async def test_hex_response_ids_meet_decimal_receipt_ids(database_url: str, redis_url: str) -> None:
    options = StackOptions(
        sim=SimulatorConfig(id_format="hex", dlr_id_format="dec", receipts_in="text"),
        resp_id_format="hex",
        dlr_id_format="dec",
    )
    async with running_stack(database_url, redis_url, options) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            ids = {(await client.request(submit(f"4477009002{i:02d}"))).message_id for i in range(10)}  # type: ignore[attr-defined]
            got = set()
            async with asyncio.timeout(WAIT):
                while len(got) < 10:
                    got.add((await receiver.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID])
            assert got == ids
        statuses = await stack.pool.fetch("SELECT DISTINCT status FROM messages")
        assert [r["status"] for r in statuses] == ["delivered"]


async def _receipts(receiver: Receiver, count: int) -> dict[str, int]:
    """our message id -> message_state, for `count` receipts."""
    states: dict[str, int] = {}
    async with asyncio.timeout(WAIT):
        while len(states) < count:
            dlr = await receiver.received.get()
            states[str(dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID])] = int(dlr.tlvs[Tag.MESSAGE_STATE])  # type: ignore[arg-type]
    return states


async def test_receipts_on_another_bind_of_the_carrier_still_match(database_url: str, redis_url: str) -> None:
    options = StackOptions(sim=SimulatorConfig(receipts_on="other"), binds=2)
    async with running_stack(database_url, redis_url, options) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            ids = [(await client.request(submit(f"4477009003{i:02d}"))).message_id for i in range(30)]  # type: ignore[attr-defined]
            assert set(await _receipts(receiver, 30)) == set(ids)


async def test_carrier_throttling_is_retried_without_reordering_a_destination(
    database_url: str, redis_url: str
) -> None:
    options = StackOptions(sim=SimulatorConfig(throttle_rate=0.4, seed=3))
    async with running_stack(database_url, redis_url, options) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            texts = [f"step {i:02d}" for i in range(25)]
            ids = [(await client.request(submit("447700900400", t))).message_id for t in texts]  # type: ignore[attr-defined]
            states = await _receipts(receiver, 25)
        assert set(states) == set(ids) and set(states.values()) == {MessageState.DELIVERED}
        assert stack.sim.throttled > 0
        # the carrier saw the texts to that number in the order the customer sent them
        arrived = [pdu.short_message.decode() for pdu in stack.sim.received.values()]
        assert arrived == texts


async def test_carrier_disconnects_mid_window_lose_nothing(database_url: str, redis_url: str) -> None:
    options = StackOptions(sim=SimulatorConfig(disconnect_every=15, seed=5), binds=2)
    async with running_stack(database_url, redis_url, options) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            ids = await asyncio.gather(
                *(client.request(submit(f"44770090{i:04d}", f"msg {i}")) for i in range(120))
            )
            our_ids = {r.message_id for r in ids}  # type: ignore[attr-defined]
            assert len(our_ids) == 120
            states = await _receipts(receiver, 120)
        assert set(states) == our_ids
        assert stack.sim.disconnects > 0
        rows = await stack.pool.fetch("SELECT status, possible_duplicate FROM messages")
        assert {r["status"] for r in rows} == {"delivered"}
        # a text the carrier received twice is one the engine flagged as a possible duplicate
        seen: dict[bytes, int] = {}
        for pdu in stack.sim.received.values():
            seen[pdu.short_message] = seen.get(pdu.short_message, 0) + 1
        duplicated = sum(1 for n in seen.values() if n > 1)
        flagged = sum(1 for r in rows if r["possible_duplicate"])
        assert duplicated <= flagged


async def test_long_message_goes_as_parts_and_their_receipts_roll_up_to_one(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            text = "".join(f"word{i} " for i in range(60))  # 390 GSM-7 characters: 3 parts of 153
            resp = await client.request(submit("447700900500", "", tlvs={Tag.MESSAGE_PAYLOAD: text.encode()}))
            states = await _receipts(receiver, 1)
        assert states == {resp.message_id: MessageState.DELIVERED}  # type: ignore[attr-defined]
        parts = list(stack.sim.received.values())
        assert len(parts) == 3 and all(p.esm_class & EsmClass.UDHI for p in parts)
        assert b"".join(p.short_message[6:] for p in parts).decode() == text
        row = await stack.pool.fetchrow("SELECT segments, status, cost FROM messages")
        assert row is not None and (row["segments"], row["status"], row["cost"]) == (3, "delivered", 9_000)
        await asyncio.sleep(0)
        assert receiver.received.empty()  # one receipt for the message, not one per part


async def test_multipart_mo_is_reassembled_and_stop_opts_the_sender_out(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            long_text = "This reply is long enough to need more than one SMS part to arrive. " * 4
            stack.sim.inject_mo("447700900777", stack.mo_number, long_text)
            async with asyncio.timeout(WAIT):
                mo = await receiver.received.get()
            content = mo.tlvs.get(Tag.MESSAGE_PAYLOAD) or mo.short_message
            assert content == long_text.encode()  # GSM-7 unpacked, one septet per octet, all of it
            assert mo.source_addr == "447700900777"
            stack.sim.inject_mo("447700900777", stack.mo_number, "STOP")
            async with asyncio.timeout(WAIT):
                stop = await receiver.received.get()
            assert stop.short_message == b"STOP"
            refused = await client.request(submit("447700900777", "Are you still there?"))
            assert refused.command_status == CommandStatus.ESME_RINVDSTADR
            stack.sim.inject_mo("447700900777", stack.mo_number, "START")
            async with asyncio.timeout(WAIT):
                await receiver.received.get()
            allowed = await client.request(submit("447700900777", "Welcome back"))
            assert allowed.command_status == CommandStatus.ESME_ROK
        opted = await stack.pool.fetchval("SELECT count(*) FROM opt_outs")
        assert opted == 0
        assert await stack.pool.fetchval("SELECT count(*) FROM mo_parts") == 0


async def test_over_the_balance_is_refused_with_submitfail_and_leaves_no_trace(
    database_url: str, redis_url: str
) -> None:
    # the price is 5,000 micro-units a segment: room for exactly two messages
    async with running_stack(database_url, redis_url, StackOptions(balance=10_000)) as stack:
        async with customer(stack) as client:
            statuses = [(await client.request(submit(f"4477009006{i:02d}"))).command_status for i in range(3)]
        assert statuses == [CommandStatus.ESME_ROK, CommandStatus.ESME_ROK, CommandStatus.ESME_RSUBMITFAIL]
        assert await stack.pool.fetchval("SELECT count(*) FROM messages") == 2
        held = await stack.pool.fetchval("SELECT sum(amount) FROM messages WHERE money <> 'none'")
        assert held == 10_000

"""The customer side with an independent SMPP implementation, and receipts owed to a customer who is not
bound yet."""

from __future__ import annotations

import asyncio

import aiosmpplib
from aiosmpplib import BindMode, PhoneNumber

from smpp.constants import CommandStatus, MessageState, Tag
from smpp.pdu import SubmitSm
from smpp.receipt import parse_receipt
from tests.engine.harness import WAIT, Receiver, customer, running_stack
from tests.smpp.test_interop import RecordingHook


async def test_aiosmpplib_customer_gets_our_id_and_its_receipt_through_the_engine(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        hook = RecordingHook()
        esme = aiosmpplib.ESME(
            smsc_host="127.0.0.1", smsc_port=stack.engine.smpp_port, system_id=stack.system_id,
            password=stack.password, bind_mode=BindMode.TRANSCEIVER, hook=hook, log_level="WARNING",
            socket_timeout=5.0,
        )  # fmt: skip
        runner = asyncio.create_task(esme.start())
        try:
            async with asyncio.timeout(WAIT):
                await hook.next(aiosmpplib.BindTransceiverResp)
                await esme.broker.enqueue(
                    aiosmpplib.SubmitSm(
                        short_message="Hello from aiosmpplib through smsengine",
                        source=PhoneNumber("Acme"),
                        destination=PhoneNumber("+447700900123"),
                        registered_delivery=1,
                        log_id="order-1",
                    )
                )
                response = await hook.next(aiosmpplib.SubmitSmResp)
                assert response.command_status.value == 0 and response.log_id == "order-1"
                receipt = await hook.next(aiosmpplib.DeliverSm)
            parsed = parse_receipt(receipt.short_message)
            assert parsed is not None and parsed.message_id == response.message_id
            assert parsed.state == MessageState.DELIVERED
            sent = next(iter(stack.sim.received.values()))
            assert sent.short_message == b"Hello from aiosmpplib through smsengine"
        finally:
            writer = esme._writer
            await esme.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            if writer is not None:
                writer.close()
                await asyncio.gather(writer.wait_closed(), return_exceptions=True)
        assert hook.errors == []


async def test_receipt_waits_for_the_customer_to_bind_a_receiver(database_url: str, redis_url: str) -> None:
    async with running_stack(database_url, redis_url) as stack:
        async with customer(stack, bind_type="transmitter") as tx:
            resp = await tx.request(
                SubmitSm(
                    source_addr="Acme",
                    source_addr_ton=5,
                    destination_addr="447700900123",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    registered_delivery=1,
                    short_message=b"bind later",
                )
            )
            assert resp.command_status == CommandStatus.ESME_ROK
            await stack.sim.wait_receipts_acked(1)  # the engine stored the carrier's receipt
        receiver = Receiver()
        async with customer(stack, receiver, bind_type="receiver"):
            async with asyncio.timeout(WAIT):
                dlr = await receiver.received.get()
                await stack.engine.forwarder.wait_delivered(1)
        assert dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID] == resp.message_id  # type: ignore[attr-defined]
        # acknowledged by the customer: nothing is owed any more
        assert await stack.pool.fetchval("SELECT count(*) FROM deliveries") == 0

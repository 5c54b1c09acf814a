"""Receipts for a customer bound on the node are sent from memory (engine/outbox/forwarder.py): nothing is
left owed once the customer acknowledges them, a refused one becomes a `deliveries` row that is retried,
and a batch a node was still holding when it stopped is owed again by recovery. kill -9: test_kill9.py."""

from __future__ import annotations

import asyncio

from engine.core.ids import parse_id
from engine.core.recovery import receipts_taker, recover
from smpp.constants import CommandStatus, Tag
from smpp.pdu import SubmitSm, SubmitSmResp
from tests.engine.harness import WAIT, Receiver, Stack, customer, running_stack


def submit(n: int) -> SubmitSm:
    return SubmitSm(source_addr="Acme", source_addr_ton=5, destination_addr=f"4477009002{n:02d}",
                    dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1,
                    short_message=b"held")  # fmt: skip


async def owed(stack: Stack) -> tuple[int, int]:
    """(deliveries rows, receipt_batches rows) once the forwarder has recorded what it knows."""
    async with asyncio.timeout(WAIT):
        while stack.engine.forwarder.pending:  # noqa: ASYNC110 (acknowledgements being recorded)
            await asyncio.sleep(0.02)
    rows = await stack.pool.fetchval("SELECT count(*) FROM deliveries")
    batches = await stack.pool.fetchval("SELECT count(*) FROM receipt_batches")
    return int(rows), int(batches)


async def test_receipts_on_the_customers_bind_leave_nothing_owed_refusals_are_retried_and_recovery_owes_held(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        forwarder = stack.engine.forwarder
        # 1. the customer acknowledges: every receipt arrives, and nothing is owed afterwards
        receiver = Receiver()
        async with customer(stack, receiver) as client:
            ids = []
            for n in range(20):
                resp = await client.request(submit(n))
                assert isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK
                ids.append(resp.message_id)
            got: set[object] = set()
            async with asyncio.timeout(WAIT):
                while len(got) < len(ids):
                    got.add((await receiver.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID])
            assert got == set(ids)
            assert await owed(stack) == (0, 0)

        # 2. the customer refuses them: each becomes a row of its own, retried later; no batch row stays
        refuser = Receiver(CommandStatus.ESME_RX_T_APPN)
        failed_before = forwarder.failed_attempts
        async with customer(stack, refuser) as client:
            for n in range(20, 25):
                resp = await client.request(submit(n))
                assert isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK
            async with asyncio.timeout(WAIT):
                while forwarder.failed_attempts < failed_before + 5:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert await owed(stack) == (5, 0)
            rows = await stack.pool.fetch("SELECT attempts, last_error FROM deliveries")
            assert all(r["attempts"] == 1 and "0x00000064" in r["last_error"] for r in rows)
        await stack.pool.execute("DELETE FROM deliveries")

        # 3. a batch row left by a previous run of this node (stopped before its receipts were
        #    acknowledged) is owed again by recovery: the receipts reach the customer once more
        again = [parse_id(i) for i in ids[:3]]
        await stack.pool.execute(
            "INSERT INTO receipt_batches (id, node, message_ids) VALUES (1, $1, $2::bigint[])",
            stack.engine.node,
            again,
        )
        receiver = Receiver()
        async with customer(stack, receiver):
            await recover(stack.pool, stack.engine.node, [receipts_taker(forwarder.sweep_soon)])
            got: set[object] = set()
            async with asyncio.timeout(WAIT):
                while len(got) < len(again):
                    got.add((await receiver.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID])
            assert got == set(ids[:3])
            async with asyncio.timeout(WAIT):
                while await owed(stack) != (0, 0):  # noqa: ASYNC110 (the sweeper's deliveries acknowledged)
                    await asyncio.sleep(0.02)

        # 4. a batch row of this node that nothing in memory owes (a commit that succeeded although its
        #    answer was lost, then retried with nothing left to owe) is owed again by the running node
        #    itself once it is older than ORPHAN_AFTER, without a restart; one still held is left alone
        orphan = [parse_id(i) for i in ids[3:5]]
        await stack.pool.execute(
            "INSERT INTO receipt_batches (id, node, message_ids, created_at)"
            " VALUES (2, $1, $2::bigint[], now() - make_interval(secs => $3))",
            stack.engine.node, orphan, forwarder.ORPHAN_AFTER + 1,
        )  # fmt: skip
        forwarder._held[3] = 1  # a batch this node still owes from memory
        await stack.pool.execute(
            "INSERT INTO receipt_batches (id, node, message_ids, created_at)"
            " VALUES (3, $1, $2::bigint[], now() - interval '1 hour')",
            stack.engine.node, [parse_id(ids[5])],
        )  # fmt: skip
        receiver = Receiver()
        async with customer(stack, receiver):
            await forwarder._reclaim_orphans()
            got = set()
            async with asyncio.timeout(WAIT):
                while len(got) < len(orphan):
                    got.add((await receiver.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID])
            assert got == set(ids[3:5])
        assert await stack.pool.fetchval("SELECT array_agg(id) FROM receipt_batches") == [3]
        del forwarder._held[3]

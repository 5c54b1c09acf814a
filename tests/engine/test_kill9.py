"""kill -9 of the engine process during load: after a restart, every message that was acknowledged
(submit_sm_resp ROK) reaches a final state, with exactly one capture or release in the ledger, and its
receipt reaches the customer: the first run's customer leaves its receipts unanswered, so every one of
them is still owed when the process dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import (
    add_carrier,
    add_funds,
    create_account,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.carriers.link import CarrierConnection
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from smpp.client import SmppClient
from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandStatus, Tag
from smpp.errors import SmppError
from smpp.pdu import DeliverSm, Pdu, SubmitSm, SubmitSmResp
from tests.engine.harness import ALL_PREFIXES, Receiver
from tests.processes import started

pytestmark = pytest.mark.slow


class Unanswering(Receiver):
    """A customer that takes receipts and never answers them (a deliver_sm_resp that never comes)."""

    def __init__(self) -> None:
        super().__init__()
        self.unanswered = 0

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if isinstance(pdu, DeliverSm):
            self.unanswered += 1
        else:
            conn.respond(pdu, CommandStatus.ESME_ROK)


async def final_count(pool: asyncpg.Pool, ids: list[int]) -> int:
    sql = "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) AND final_at IS NOT NULL"
    return int(await pool.fetchval(sql, ids))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def engine_process(
    database_url: str, redis_url: str, port: int, data_dir: Path, *args: str, **more_env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`smsengine run [args]` on SMPP `port` until the test leaves (then killed if still running)."""
    env = dict(os.environ, SMSENGINE_DATABASE_URL=database_url, SMSENGINE_REDIS_URL=redis_url,
               SMSENGINE_SMPP_PORT=str(port), SMSENGINE_DATA_DIR=str(data_dir),
               SMSENGINE_HTTP_PORT="0",  # the default 8080 collides with any other engine on the machine
               SMSENGINE_LOG_LEVEL="warning")  # fmt: skip
    env.update(more_env)
    command = ("--config", str(data_dir / "none.toml"), "run", *args)
    async with started(sys.executable, "-m", "smsengine.cli", *command, env=env) as process:
        yield process


async def test_kill_9_during_load_then_restart_finishes_every_accepted_message(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    async with CarrierSimulator(SimulatorConfig(receipt_delay_ms=20, latency_ms=1)) as sim:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        sim_carrier = CarrierConnection(
            carrier="sim", host="127.0.0.1", port=sim.port, system_id="engine", password="pw", window_size=20
        )
        await add_carrier(pool, sim_carrier)
        await set_rates(pool, "sim", flat_tariff(ALL_PREFIXES, 3_000))
        account = await create_account(pool, "acme")
        await add_funds(pool, account, 1_000_000_000)
        await set_smpp_credentials(pool, account, "acme", "secret", throughput=100_000)
        await set_prices(pool, account, flat_tariff(ALL_PREFIXES, 5_000))
        port = free_port()
        accepted: set[str] = set()
        enough = asyncio.Event()

        async def load(client: SmppClient, stop: asyncio.Event) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                pdu = SubmitSm(source_addr="Acme", source_addr_ton=5, destination_addr=f"4477009{n:05d}",
                               dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1,
                               short_message=b"x" * 20)  # fmt: skip
                try:
                    resp = await client.request(pdu)
                except (SmppError, RequestFailedError):
                    return
                if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
                    accepted.add(resp.message_id)
                    if len(accepted) >= 400:
                        enough.set()

        before = Unanswering()
        async with engine_process(database_url, redis_url, port, tmp_path) as first:
            client = SmppClient("127.0.0.1", port, system_id="acme", password="secret", window=50,
                                handler=before, enquire_link_interval=None,
                                reconnect_delay=0.2)  # fmt: skip
            client.start()
            await asyncio.wait_for(client.wait_bound(), 30)
            stop = asyncio.Event()
            senders = [asyncio.create_task(load(client, stop)) for _ in range(40)]
            await asyncio.wait_for(enough.wait(), 60)
            first.send_signal(signal.SIGKILL)  # no goodbye: mid-window, mid-commit
            await first.wait()
            stop.set()
            await asyncio.gather(*senders, return_exceptions=True)
            await client.close()
        assert len(accepted) >= 400

        after = Receiver()
        async with engine_process(database_url, redis_url, port, tmp_path):
            ids = [int(i, 16) for i in accepted]
            client = SmppClient("127.0.0.1", port, system_id="acme", password="secret", window=50,
                                handler=after, enquire_link_interval=None,
                                reconnect_delay=0.2)  # fmt: skip
            client.start()
            async with asyncio.timeout(120):
                # the restarted engine is another process: its progress is only visible in the database
                while await final_count(pool, ids) < len(ids):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                # every receipt reaches the customer: before the kill, or after the restart (the ones the
                # first run was sending from memory are owed again by recovery)
                assert before.unanswered  # the first run had receipts out, none acknowledged
                told: set[str] = set()
                while not accepted <= told:
                    told.add(str((await after.received.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID]))
            await client.close()
            # every acknowledged message: settled exactly once (captured or released, in one batch), and
            # the batched postings equal the sums of the messages that name them
            settled = await pool.fetch(
                "SELECT money, settle_batch FROM messages WHERE id = ANY($1::bigint[])", ids
            )
            assert len(settled) == len(accepted)
            assert all(r["money"] in ("captured", "released") and r["settle_batch"] for r in settled)
            async with pool.acquire() as conn:
                report = await check_engine_ledger(conn)
            assert report.ok and (report.items_checked or 0) >= len(accepted), format_report(report)
        await pool.close()

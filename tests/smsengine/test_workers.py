"""`smsengine run --workers N`: worker nodes sharing the SMPP and HTTP ports, supervised.

The README's command, run as an operator runs it (from a shell, on the embedded servers, real sockets):
the supervisor starts the servers once and hands their URLs to the workers; SMPP customers and HTTP
sends on the one port of each are spread over the workers; messages flow; a worker killed with -9 is
restarted under its own node name and nothing it acknowledged is lost; SIGTERM drains every worker,
stops the servers, exits 0.
The supervisor's restart of a worker whose node was taken over (exit 3), a worker that never starts, and
the combinations that cannot work, refused with a clear message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import create_api_key
from engine.core.ids import SEQUENCE_BITS
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from smsengine.cli import main
from smsengine.workers import Supervisor
from tests.engine.harness import WAIT
from tests.engine.test_kill9 import free_port
from tests.engine.test_nodes import NODE_ENV, Load, provision_carrier, provision_customer, wait_final
from tests.processes import wait_for_line
from tests.smsengine.operator_shell import ROOT, Shell
from tests.smsengine.test_operating import stop

pytestmark = pytest.mark.slow

_WORKERS = """
SELECT node, name, pid FROM engine_nodes
WHERE name LIKE '%:w_' AND stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => lease_seconds)
ORDER BY name
"""


def node_of(message_id: int) -> int:
    return (message_id >> SEQUENCE_BITS) & 1023


async def live_workers(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch(_WORKERS))


def readme_workers_command() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Several nodes", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    (line,) = [line.strip() for line in block.splitlines() if line.strip()]
    return line


async def test_the_readmes_workers_share_the_ports_and_a_killed_worker_is_restarted_losing_nothing(
    shell: Shell,
) -> None:
    line = readme_workers_command()
    assert line.startswith("smsengine run --workers ")
    count = int(line.split()[-1])
    smpp_port, http_port = free_port(), free_port()
    async with CarrierSimulator(SimulatorConfig(receipt_delay_ms=20, latency_ms=1)) as sim:
        supervisor = await shell.start(
            f"{line} --data-dir {shell.data_dir}", SMSENGINE_SMPP_PORT=str(smpp_port),
            SMSENGINE_HTTP_PORT=str(http_port), SMSENGINE_LOG_LEVEL="warning", **NODE_ENV,
        )  # fmt: skip
        try:
            output = await wait_for_line(supervisor, b"smsengine running")
            assert b"Traceback" not in output and output.count(b"ready (pid") == count
            # one PostgreSQL (and one Valkey), started once by the supervisor, whose workers get the URLs
            assert len(shell.servers()) == 1  # the one postmaster working in the data directory
            children = psutil.Process(supervisor.pid).children()
            urls = {
                (p.environ()["SMSENGINE_DATABASE_URL"], p.environ()["SMSENGINE_REDIS_URL"])
                for p in children
                if "--worker-index" in p.cmdline()
            }
            ((database_url, redis_url),) = urls
            assert database_url and redis_url
            pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
            assert pool is not None
            try:
                await served_by_workers(pool, sim, supervisor.pid, count, smpp_port, http_port)
            finally:
                await pool.close()
        finally:
            assert await stop(supervisor) == 0  # SIGTERM: every worker drains, then the supervisor leaves
    assert shell.servers() == [], "the supervisor left its servers running"
    assert not [p for p in children if p.is_running()], "a worker outlived the supervisor"


async def served_by_workers(
    pool: asyncpg.Pool, sim: CarrierSimulator, supervisor: int, count: int, smpp_port: int, http_port: int
) -> None:
    workers = await live_workers(pool)
    assert [w["name"].rsplit(":", 1)[1] for w in workers] == [f"w{k}" for k in range(count)]
    assert all(psutil.Process(w["pid"]).ppid() == supervisor for w in workers)
    by_node = {w["node"]: w for w in workers}
    await provision_carrier(pool, sim, binds=count)  # the workers hear of it (NOTIFY) and bind
    account = await provision_customer(pool, "acme", "secret", max_binds=20)
    async with asyncio.timeout(WAIT):
        await sim.wait_bound(count)
    # HTTP sends on the one HTTP port, each on a new connection, reach both workers too
    key, secret = await create_api_key(pool, account)
    sent_by_http: set[int] = set()
    async with asyncio.timeout(WAIT):
        while {node_of(i) for i in sent_by_http} != set(by_node) and len(sent_by_http) < 16:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
                r = await http.post(
                    "/v1/sms/send", json={"to": "+447700900123", "from": "Acme", "body": "Hello"},
                    headers={"X-API-Key": key, "X-API-Secret": secret},
                )  # fmt: skip
            assert r.status_code == 202, r.text
            sent_by_http.add(int(r.json()["id"], 16))
    assert {node_of(i) for i in sent_by_http} == set(by_node), "16 HTTP connections, and a worker got none"

    # customers bind to the one port; the kernel spreads them over the workers
    loads: list[Load] = []
    seen: set[int] = set()
    async with asyncio.timeout(WAIT):
        while seen != set(by_node) and len(loads) < 16:
            load = Load(smpp_port, senders=2)
            await load.start()
            await load.wait_accepted(5)
            loads.append(load)
            seen |= {node_of(i) for i in load.accepted}
    assert seen == set(by_node), "16 customers, and a worker got none"

    # kill -9 one worker under load: the supervisor starts it again, as the same node
    victim = by_node[min(by_node)]
    psutil.Process(victim["pid"]).send_signal(signal.SIGKILL)
    async with asyncio.timeout(WAIT):
        while True:
            again = {w["name"]: w for w in await live_workers(pool)}.get(victim["name"])
            if again is not None and again["pid"] != victim["pid"]:
                break
            await asyncio.sleep(0.1)  # the supervisor is another process: read the database
    assert again["node"] == victim["node"]
    await asyncio.gather(*(load.stop() for load in loads))

    # messages flow through the restarted worker too (new customers, until one lands there)
    after: list[Load] = []
    async with asyncio.timeout(WAIT):
        while not any(node_of(i) == victim["node"] for load in after for i in load.accepted):
            load = Load(smpp_port, senders=2)
            await load.start()
            await load.wait_accepted(5)
            after.append(load)
    await asyncio.gather(*(load.stop() for load in after))
    accepted = set().union(sent_by_http, *(load.accepted for load in loads + after))
    async with asyncio.timeout(WAIT):
        await wait_final(pool, accepted)  # nothing acknowledged is lost
    async with pool.acquire() as conn:
        report = await check_engine_ledger(conn)
    assert report.ok, format_report(report)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--workers", "2", "--demo"], {}, "--demo runs in one process"),
        (["--workers", "2"], {"SMSENGINE_SMPP_PORT": "0"}, "--workers needs fixed ports"),
        (["--workers", "0"], {}, "--workers must be at least 1"),
    ],
)
def test_workers_refuse_what_cannot_work(
    args: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(tmp_path / "none.toml"), "run", *args]) == 2
    assert message in capsys.readouterr().err


# A stand-in worker: says it is ready, then exits 3 (its node was taken over) on its first start, and on
# later starts serves until SIGTERM.
_STAND_IN = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
first = not marker.exists()
marker.touch()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("smsengine running", flush=True)
if first:
    sys.exit(3)
signal.pause()
"""


async def test_a_worker_whose_node_was_taken_over_is_started_again(tmp_path: Path) -> None:
    ready: asyncio.Queue[int] = asyncio.Queue()
    supervisor = Supervisor(
        [sys.executable, "-c", _STAND_IN, str(tmp_path / "started")], 1, dict(os.environ),
        on_ready=lambda worker, pid: ready.put_nowait(pid),
    )  # fmt: skip
    running = asyncio.create_task(supervisor.run("all ready"))
    async with asyncio.timeout(WAIT):
        first, second = await ready.get(), await ready.get()
    assert first != second and supervisor.workers[0].restarts == 1
    supervisor.stop()  # SIGTERM to the worker, which stops; so does the supervisor, with 0
    async with asyncio.timeout(WAIT):
        assert await running == 0
    assert supervisor.workers[0].process is not None and supervisor.workers[0].process.returncode == 0


async def test_a_worker_that_never_starts_stops_the_supervisor_with_its_exit_code() -> None:
    supervisor = Supervisor([sys.executable, "-c", "import sys; sys.exit(2)"], 2, dict(os.environ))
    async with asyncio.timeout(WAIT):
        assert await supervisor.run("never printed") == 2

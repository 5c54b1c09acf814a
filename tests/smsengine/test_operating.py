"""Every command of the README's "Operating it" block, from a shell, on the embedded servers; the data
directory option in either place; one clear line for an operator's mistake; and a kill -9 of the engine
leaves nothing that the next command does not reuse or stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest

from tests.processes import wait_for_line
from tests.smsengine.operator_shell import Shell, readme_commands

RATES = "prefix,cost,currency,effective_from\n44,0.0030,EUR,2025-01-01\n1,0.0040,EUR,2025-01-01\n"
pytestmark = pytest.mark.slow  # whole engines from a shell: scheduled first (tests/conftest.py)
PRICES = "prefix,cost,currency,effective_from\n44,0.0050,EUR,2025-01-01\n1,0.0060,EUR,2025-01-01\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        await process.communicate()
    assert process.returncode is not None
    return process.returncode


async def test_every_command_of_the_readme_runs_from_the_shell_on_the_embedded_servers(shell: Shell) -> None:
    commands = readme_commands()
    assert len(commands) >= 12, commands
    (shell.cwd / "rates.csv").write_text(RATES)
    (shell.cwd / "prices.csv").write_text(PRICES)
    sim_port = free_port()
    d = shell.data_dir
    long_running = {}
    for n, readme_line in enumerate(commands):
        # This machine reaches no outside host and tests use free ports: the README's carrier host and
        # fixed ports become the local simulator's; the data directory goes before or after the command.
        line = readme_line.replace("--host smsc.example --port 2775", f"--host 127.0.0.1 --port {sim_port}")
        line = line.replace("--port 2776", f"--port {sim_port}")
        line = (
            line.replace("smsengine ", f"smsengine --data-dir {d} ", 1) if n % 2 else f"{line} --data-dir {d}"
        )
        if readme_line.split()[1] in ("run", "simulate-carrier"):
            long_running[line] = n
            continue
        result = shell.run(line)
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, line
        assert shell.servers() == [], f"{line} left its servers running"
    # the engine against the README's carrier, served by the README's simulator
    simulator = next(line for line in long_running if "simulate-carrier" in line)
    run = next(line for line in long_running if "simulate-carrier" not in line)
    sim = await shell.start(simulator)
    engine = await shell.start(run, SMSENGINE_SMPP_PORT="0", SMSENGINE_HTTP_PORT="0")
    try:
        await wait_for_line(sim, b"listening")
        output = await wait_for_line(engine, b"smsengine running")
        assert b"Traceback" not in output
    finally:
        assert await stop(engine) == 0
        await stop(sim)
    assert shell.servers() == [], "the engine left its servers running"
    listed = shell.run(f"smsengine accounts list --data-dir {d}")
    assert "acme" in listed.stdout and "250.000000" in listed.stdout


async def test_the_data_directory_is_one_option_before_or_after_the_command(shell: Shell) -> None:
    d = shell.data_dir
    assert shell.run(f"smsengine --data-dir {d} accounts create first").returncode == 0
    after = shell.run(f"smsengine accounts list --data-dir {d}")
    before = shell.run(f"smsengine --data-dir {d} accounts list")
    assert "first" in after.stdout and after.stdout == before.stdout
    engine = await shell.start(
        f"smsengine --data-dir {d} run", SMSENGINE_SMPP_PORT="0", SMSENGINE_HTTP_PORT="0"
    )
    try:
        await wait_for_line(engine, b"smsengine running")
        assert (d / "postgres" / "PG_VERSION").exists()  # the global option was not overridden by run's
    finally:
        assert await stop(engine) == 0
    assert not (shell.cwd / ".data").exists()


async def test_an_operators_mistake_is_one_line_and_a_non_zero_exit(shell: Shell) -> None:
    d = shell.data_dir
    (shell.cwd / "bad.csv").write_text("prefix,price\n44,1\n")
    assert (
        shell.run(
            f"smsengine carriers add v --host 127.0.0.1 --port 1 --system-id s --password p --data-dir {d}"
        ).returncode
        == 0
    )
    for line in (
        f"smsengine rates import v bad.csv --data-dir {d}",
        f"smsengine rates import v missing.csv --data-dir {d}",
        f"smsengine prices import nobody bad.csv --data-dir {d}",
        f"smsengine accounts topup nobody 1.00 --data-dir {d}",
        f"smsengine accounts create evil --callback-url http://169.254.169.254/ --data-dir {d}",
        f"smsengine smpp set nobody x y --data-dir {d}",
    ):
        result = shell.run(line)
        assert result.returncode != 0, line
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            line,
            result.stderr,
        )
        assert result.stderr.startswith("smsengine: "), result.stderr


async def test_after_a_kill_9_the_next_command_reuses_and_stops_what_the_crash_left(shell: Shell) -> None:
    d = shell.data_dir
    engine = await shell.start(
        f"smsengine run --data-dir {d}", SMSENGINE_SMPP_PORT="0", SMSENGINE_HTTP_PORT="0"
    )
    await wait_for_line(engine, b"smsengine running")
    os.kill(engine.pid, signal.SIGKILL)
    await engine.wait()
    assert shell.servers(), "the crash left the embedded servers running (as a kill -9 does)"
    result = shell.run(f"smsengine accounts create after-crash --data-dir {d}")
    assert result.returncode == 0, result.stderr
    assert [p for p in shell.servers() if "postgres" in (p.name() or "")] == [], "PostgreSQL left running"
    engine = await shell.start(
        f"smsengine run --data-dir {d}", SMSENGINE_SMPP_PORT="0", SMSENGINE_HTTP_PORT="0"
    )
    try:
        await wait_for_line(engine, b"smsengine running")
    finally:
        assert await stop(engine) == 0
    assert shell.servers() == [], "a server of the crashed engine or of the restarted one is still running"
    assert "after-crash" in shell.run(f"smsengine accounts list --data-dir {d}").stdout

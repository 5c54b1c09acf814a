"""Child processes of tests: started, awaited until they say they are ready, killed when the test leaves.

    async with started(sys.executable, "-m", "smsengine.cli", "run", env=env) as process:
        ...                                     # the process printed "smsengine running"

The test may kill it itself (kill -9 tests do); whatever is still running at the end is killed and
reaped, so no test leaves an engine behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

READY = b"smsengine running"
ROOT = Path(__file__).resolve().parents[1]


async def wait_for_line(process: asyncio.subprocess.Process, marker: bytes, within: float = 90.0) -> bytes:
    """Read the process' output until a line holds `marker`; return all read so far."""
    assert process.stdout is not None
    seen = b""
    async with asyncio.timeout(within):
        while marker not in seen:
            line = await process.stdout.readline()
            if not line:
                raise AssertionError(f"exited before printing {marker!r}:\n{seen.decode(errors='replace')}")
            seen += line
    return seen


@contextlib.asynccontextmanager
async def started(
    *argv: str, env: Mapping[str, str], ready: bytes = READY, within: float = 60.0, cwd: Path = ROOT
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`argv` with stdout and stderr piped together, once it has printed `ready`."""
    process = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await wait_for_line(process, ready, within)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

"""`smsengine run --workers N`: N engine node processes on one machine, sharing its SMPP and HTTP ports.

The supervisor (this module, in the process the operator started) runs no engine itself. It is given the
database and Redis URLs (embedded servers, if any, were started once by its caller) and starts N
workers: `smsengine run --worker-index K`, each a whole engine node named `<node name>:wK` (so a
restarted worker is the same node and resumes its own messages), listening with SO_REUSEPORT so that
the kernel spreads new connections over them. It then:

- relays each worker's output, prefixed `[wK]`, and says `smsengine running` once every worker is up;
- restarts a worker that exits (a crash, kill -9, or exit 3: its node was taken over while it could not
  reach the database), after a backoff that doubles from 0.5 s to 30 s and resets once a worker has run
  for a minute. A worker that fails before it was ever ready is a configuration error: all stop;
- on SIGTERM or SIGINT forwards SIGTERM to every worker (each drains: refuses new messages, answers what
  it accepted, finishes its commits) and waits for them, killing only those still alive after
  `stop_grace` seconds.

Workers die with the supervisor (PR_SET_PDEATHSIG on Linux: `die_with_parent`), so a killed supervisor
leaves no engine behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("smsengine.workers")

READY = b"smsengine running"  # what `smsengine run` prints once it serves (cli._run)
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0  # a worker that ran this long starts its backoff afresh


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = FIRST_BACKOFF
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ever_ready: bool = False


class Supervisor:
    def __init__(
        self, command: Sequence[str], count: int, env: dict[str, str], *, stop_grace: float = 60.0,
        on_ready: Callable[[Worker, int], None] = lambda worker, pid: None,
    ) -> None:  # fmt: skip
        """command: a worker's command line (python -m smsengine.cli ... run), without the hidden options."""
        self._command = list(command)
        self._env = env
        self._grace = stop_grace
        self._on_ready = on_ready  # each time a worker (re)started is serving: (worker, its pid)
        self.workers = [Worker(k) for k in range(count)]
        self._stop = asyncio.Event()
        self._failed: int | None = None  # exit code of a worker that never started
        self._relays: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, banner: str) -> int:
        """Start the workers and keep them running until stop(); the exit code of the whole."""
        watchers = [asyncio.create_task(self._keep(w)) for w in self.workers]
        ready = asyncio.create_task(self._announce(banner))
        await self._stop.wait()
        ready.cancel()
        await self._terminate()
        await asyncio.gather(*watchers, ready, return_exceptions=True)
        return self._failed or 0

    async def _announce(self, banner: str) -> None:
        await asyncio.gather(*(w.ready.wait() for w in self.workers))
        print(banner, flush=True)

    async def _keep(self, worker: Worker) -> None:
        while not self._stop.is_set():
            await self._start(worker)
            assert worker.process is not None
            if self._stop.is_set():  # stopping began while it was being started: it drains too
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
            code = await worker.process.wait()
            if self._stop.is_set():
                return
            if not worker.ever_ready:
                log.error("worker failed to start: stopping", worker=worker.index, exit_code=code)
                self._failed = code or 1
                self._stop.set()
                return
            if time.monotonic() - worker.started_at >= HEALTHY_AFTER:
                worker.backoff = FIRST_BACKOFF
            why = "its node was taken over" if code == 3 else "it exited"
            log.warning(f"worker restarting: {why}", worker=worker.index, exit_code=code,
                        delay=worker.backoff)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), worker.backoff)  # a backoff: a wait by design
            worker.backoff = min(MAX_BACKOFF, worker.backoff * 2)
            worker.restarts += 1

    async def _start(self, worker: Worker) -> None:
        worker.ready.clear()
        worker.process = await asyncio.create_subprocess_exec(
            *self._command, "--worker-index", str(worker.index), "--supervisor-pid", str(os.getpid()),
            env=self._env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        worker.started_at = time.monotonic()
        relay = asyncio.get_running_loop().create_task(self._relay(worker, worker.process))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    async def _relay(self, worker: Worker, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        prefix = f"[w{worker.index}] ".encode()
        out = sys.stdout.buffer
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # a line longer than the stream's limit: pass it on in pieces
                line = await process.stdout.read(1 << 16)
            if not line:
                return
            if READY in line:  # the supervisor's own banner says it for all of them
                worker.ever_ready = True
                worker.ready.set()
                self._on_ready(worker, process.pid)
                line = f"ready (pid {process.pid})\n".encode()
            with contextlib.suppress(OSError):  # no one reads ours: keep draining theirs all the same
                out.write(prefix + line)
                out.flush()

    async def _terminate(self) -> None:
        alive = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self._grace):
                await asyncio.gather(*(p.wait() for p in alive))
        except TimeoutError:
            for process in alive:
                if process.returncode is None:
                    log.error("worker did not stop in time: killed", pid=process.pid)
                    process.kill()
            await asyncio.gather(*(p.wait() for p in alive))


def die_with_parent(supervisor: int) -> None:
    """In a worker: get SIGTERM when the supervisor dies (Linux), and leave if it is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if supervisor and os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)  # it died before we could ask to follow it


async def supervise(command: Sequence[str], count: int, env: dict[str, str], banner: str) -> int:
    """Run `count` workers until SIGTERM/SIGINT; 0, or the exit code of a worker that could not start."""
    supervisor = Supervisor(command, count, env)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, supervisor.stop)
    return await supervisor.run(banner)

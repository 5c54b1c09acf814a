"""Kannel (Debian's kannel package) as a customer of the engine: bearerbox + smsbox, one SMPP transceiver.

`Kannel(engine_port, system_id, password, dlr_base_url)` writes a private kannel.conf under a temporary
directory (free ports for the admin, smsbox and sendsms interfaces), starts bearerbox then smsbox, and
waits until the SMPP bind to the engine is online (Kannel's own status page says so). `send(...)` is a
call to smsbox's sendsms HTTP interface, as a Kannel user's application makes it; Kannel then calls the
`dlr-url` given with each message back for every receipt type in its dlr-mask.

No code of ours runs inside: Kannel speaks to the engine with its own SMPP implementation.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """\
group = core
admin-port = {admin_port}
admin-password = admin
status-password = admin
smsbox-port = {smsbox_port}
admin-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{dir}/bearerbox.log"
log-level = {log_level}
access-log = "{dir}/access.log"
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = engine
host = 127.0.0.1
port = {engine_port}
receive-port = 0
transceiver-mode = true
smsc-username = {system_id}
smsc-password = {password}
system-type = ""
source-addr-ton = 5
source-addr-npi = 0
source-addr-autodetect = true
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = {window}
enquire-link-interval = 30
reconnect-delay = 1
log-file = "{dir}/smsc.log"
log-level = {log_level}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{dir}/smsbox.log"
log-level = {log_level}
mo-recode = false

group = sendsms-user
username = app
password = app
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
max-messages = 0
text = ""
"""


class Kannel:
    def __init__(
        self, directory: Path, *, bearerbox: str, smsbox: str, engine_port: int, system_id: str,
        password: str, window: int = 10, log_level: int = 1,
    ) -> None:  # fmt: skip
        self.directory = directory
        self.bearerbox = bearerbox
        self.smsbox = smsbox
        self.admin_port, self.smsbox_port, self.sendsms_port = free_port(), free_port(), free_port()
        self.config = directory / "kannel.conf"
        self.config.write_text(
            CONFIG.format(
                dir=directory, admin_port=self.admin_port, smsbox_port=self.smsbox_port,
                sendsms_port=self.sendsms_port, engine_port=engine_port, system_id=system_id,
                password=password, window=window, log_level=log_level,
            )
        )  # fmt: skip
        self._processes: list[subprocess.Popen[bytes]] = []
        self._outputs: list[IO[bytes]] = []
        self.http = httpx.AsyncClient(timeout=10.0)

    async def start(self, within: float = 30.0) -> None:
        self._spawn(self.bearerbox, "bearerbox")
        await self._wait_port(self.smsbox_port, within)
        self._spawn(self.smsbox, "smsbox")
        await self._wait_port(self.sendsms_port, within)
        await self.wait_online(within)

    def _spawn(self, binary: str, name: str) -> None:
        out = open(self.directory / f"{name}.stdout", "wb")
        self._outputs.append(out)
        self._processes.append(
            subprocess.Popen(
                [binary, str(self.config)], stdout=out, stderr=subprocess.STDOUT, cwd=self.directory
            )
        )

    async def _wait_port(self, port: int, within: float) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self._processes):
                    raise RuntimeError(f"Kannel did not open port {port}: {self.logs()}") from None
                await asyncio.sleep(0.1)  # a process coming up: nothing to await but its socket

    async def status(self) -> str:
        r = await self.http.get(f"http://127.0.0.1:{self.admin_port}/status.txt?password=admin")
        return r.text

    async def wait_online(self, within: float) -> None:
        deadline = time.monotonic() + within
        while "online" not in (text := await self.status()).split("SMSC connections:")[-1]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kannel's SMPP bind did not come online:\n{text}\n{self.logs()}")
            await asyncio.sleep(0.1)  # Kannel's bind state is only visible by polling its status page

    async def send(self, to: str, text: str, *, sender: str, dlr_url: str, dlr_mask: int = 31) -> int:
        url = (
            f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms?username=app&password=app"
            f"&from={quote(sender)}&to={quote(to)}&text={quote(text)}&dlr-mask={dlr_mask}"
            f"&dlr-url={quote(dlr_url, safe='')}"
        )
        r = await self.http.get(url)
        return r.status_code

    def logs(self, tail: int = 4000) -> str:
        out = []
        for name in ("bearerbox.log", "smsc.log", "smsbox.log", "bearerbox.stdout", "smsbox.stdout"):
            path = self.directory / name
            if path.exists():
                out.append(f"--- {name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    async def stop(self) -> None:
        await self.http.aclose()
        for process in reversed(self._processes):  # smsbox first, then bearerbox
            if process.poll() is None:
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, 15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    await asyncio.to_thread(process.wait)
        for out in self._outputs:
            out.close()

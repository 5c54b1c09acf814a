"""Running `smsengine` commands from a shell, as an operator does, on the embedded servers.

`Shell(data_dir)` runs command lines with bash in a scratch working directory, with the venv's bin on
PATH and no SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL (so each command starts the embedded
PostgreSQL and Valkey in the data directory, and must stop them). `readme_commands()` reads the
README's "Operating it" block, so the commands tested are the ones the README shows.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The command lines of README.md's "Operating it" block, continuation lines joined, comments and
    [optional] parts dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Operating it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"\s#\s.*$", "", line)
        line = re.sub(r"\[[^\]]*\]", "", line)
        line = " ".join(line.split())
        if line.startswith("smsengine "):
            commands.append(line)
    return commands


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Shell:
    def __init__(self, data_dir: Path, cwd: Path) -> None:
        self.data_dir = data_dir
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSENGINE_")}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        self.env = env

    def run(self, line: str, timeout: float = 120.0) -> Result:
        done = subprocess.run(
            ["bash", "-c", line], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    async def start(self, line: str, **env: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "bash", "-c", f"exec {line}", cwd=self.cwd, env={**self.env, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip

    def servers(self) -> list[psutil.Process]:
        """Embedded server processes (postgres, valkey) working in our data directory."""
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            name = process.info["name"] or ""
            if str(self.data_dir) in cmdline and ("postgres" in name or "valkey" in name):
                found.append(process)
        return found

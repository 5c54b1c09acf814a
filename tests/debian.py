"""Debian packages a test needs (Kannel, Chromium), installed by the test setup itself.

`debian_tool(binary, packages)` returns the path of `binary`, running `apt-get install -y packages` first
when it is missing (after an `apt-get update` if the first try fails: a fresh machine may have no package
lists yet). When apt itself is impossible (not root, no apt-get, no network) it skips the calling test
with the reason, so a machine that cannot install them says why instead of failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence

import pytest

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", *args],
        env=_APT_ENV, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def _which(binary: str) -> str | None:
    return shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)


def debian_tool(binary: str, packages: Sequence[str]) -> str:
    found = _which(binary)
    if found:
        return found
    # the suite runs in several processes (pytest-xdist): one installs, the others wait for it
    with open("/tmp/smsengine-tests-apt.lock", "w") as lock, contextlib.ExitStack() as held:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held.callback(fcntl.flock, lock, fcntl.LOCK_UN)
        return _install(binary, packages)


def _install(binary: str, packages: Sequence[str]) -> str:
    found = _which(binary)
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip(f"{binary} is not installed and this machine has no apt-get to install {packages}")
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is not installed and installing {list(packages)} needs root")
    result = _apt("install", "-y", *packages)
    if result.returncode != 0:
        _apt("update")
        result = _apt("install", "-y", *packages)
    found = _which(binary)
    if result.returncode != 0 or not found:
        pytest.skip(f"apt-get could not install {list(packages)}: {result.stderr.strip()[-300:]}")
    return found

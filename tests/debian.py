"""Debian packages a test needs (Kannel, Chromium), installed by the test setup itself.

`debian_tool(binary, packages)` returns the path of `binary`, running `apt-get install -y packages` first
when it is missing (after an `apt-get update` if the first try fails: a fresh machine may have no package
lists yet). When apt itself is impossible (not root, no apt-get, no network) it skips the calling test
with the reason, so a machine that cannot install them says why instead of failing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

import pytest

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", *args], env=_APT_ENV, capture_output=True, text=True, timeout=900, check=False
    )


def debian_tool(binary: str, packages: Sequence[str]) -> str:
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
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
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if result.returncode != 0 or not found:
        pytest.skip(f"apt-get could not install {list(packages)}: {result.stderr.strip()[-300:]}")
    return found

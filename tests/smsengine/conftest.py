"""The operator's shell (tests/smsengine/operator_shell.py) on a data directory of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import embedded_data_dir
from tests.smsengine.operator_shell import Shell


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    with embedded_data_dir("cli") as data_dir:
        shell = Shell(data_dir, tmp_path)
        try:
            yield shell
        finally:
            for process in shell.servers():  # a failed test must not leave servers behind either
                process.kill()

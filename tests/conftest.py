"""Fixtures that give each test its own task-spooler server, never the user's default one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tsq.backends.tsclient import Spooler

pytest_plugins = ["sweeps", "slurm", "postgres"]


def _server_alive(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@pytest.fixture
def ts_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private TS_SOCKET, killed and removed afterwards.

    The directory is a short mkdtemp under /tmp, not pytest's tmp_path: AF_UNIX paths are limited
    to 107 bytes. TMPDIR points there too, so the jobs' ts-out.* files go away with it.
    """
    directory = tempfile.mkdtemp(prefix="tsq-", dir="/tmp")
    path = os.path.join(directory, "socket")
    monkeypatch.setenv("TS_SOCKET", path)
    monkeypatch.setenv("TMPDIR", directory)
    yield path
    tsp = shutil.which("tsp")
    if tsp is not None and _server_alive(path):
        subprocess.run(
            [tsp, "-K"],
            env={**os.environ, "TS_SOCKET": path},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def spooler(ts_socket: str) -> Spooler:
    return Spooler.detect(socket=ts_socket)

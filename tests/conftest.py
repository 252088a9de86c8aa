"""Fixtures that give each test its own task-spooler server, never the user's default one.

Every test that runs a real ts runs twice, once per variant (`ts_variant`): Debian's `tsp`
(task-spooler 1.0.1) and the GPU fork's CPU build (2.0.0, built by scripts/build-ts-fork.sh). A
test about one variant only says so with `@debian_only` / `@fork_only` (`tests/sweeps.py`), which
parametrise `ts_variant` to that one value.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


FORK_BINARY = Path(__file__).parents[1] / ".cache/ts-fork/task-spooler-gpu-fork/ts"
VARIANTS = ("debian", "fork")


@pytest.fixture(scope="session")
def fork_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that puts the fork first on PATH, as both `tsp` and `ts`: `auto` (which tries
    `tsp`, then `ts`) and every process of the test then find the fork. tsq tells the variants
    apart by their `-V` banner, never by the binary's name."""
    if not os.access(FORK_BINARY, os.X_OK):
        pytest.fail(f"{FORK_BINARY} is missing: run `bash scripts/setup.sh` (it builds the fork)")
    directory = tmp_path_factory.mktemp("fork-bin")
    for name in ("tsp", "ts"):
        (directory / name).symlink_to(FORK_BINARY)
    return directory


@pytest.fixture(params=VARIANTS)
def ts_variant(request: pytest.FixtureRequest) -> str:
    """Which task-spooler a test's ts server is: "debian" (`tsp`) or "fork"."""
    return str(request.param)


@pytest.fixture
def ts_binary(
    ts_variant: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The variant's binary, first on PATH for this test (and the processes it starts)."""
    if ts_variant == "fork":
        directory: Path = request.getfixturevalue("fork_path")
        monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
        return str(directory / "tsp")
    found = shutil.which("tsp")
    if found is None:
        pytest.fail("Debian's task-spooler (`tsp`) is not installed: run `bash scripts/setup.sh`")
    return found


@pytest.fixture
def ts_socket(ts_binary: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private TS_SOCKET of the test's ts variant, killed and removed afterwards.

    The directory is a short mkdtemp under /tmp, not pytest's tmp_path: AF_UNIX paths are limited
    to 107 bytes. TMPDIR points there too, so the jobs' ts-out.* files go away with it.
    """
    directory = tempfile.mkdtemp(prefix="tsq-", dir="/tmp")
    path = os.path.join(directory, "socket")
    monkeypatch.setenv("TS_SOCKET", path)
    monkeypatch.setenv("TMPDIR", directory)
    yield path
    if _server_alive(path):
        subprocess.run(
            [ts_binary, "-K"],
            env={**os.environ, "TS_SOCKET": path},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def spooler(ts_binary: str, ts_socket: str) -> Spooler:
    return Spooler.detect(ts_binary, ts_socket)

"""Hydra's own launcher test suites, run against the ts launcher in blocking mode.

They ship in hydra-core (`hydra.test_utils.launcher_common_tests`) and are what Hydra's own
launchers (joblib, ray, rq, submitit) must pass. They assume a launcher that waits for its jobs,
which is what `hydra.launcher.wait=true` does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)
from sweeps import debian_only

from hydra_plugins.hydra_ts_launcher.ts_launcher import TsLauncher

WAIT = ["hydra.launcher.wait=true"]


@pytest.fixture(autouse=True)
def private_queue_and_store(
    ts_socket: str, ts_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every suite test, in-process or in a subprocess, gets its own ts server and store."""
    monkeypatch.setenv("TSQ_STORE", str(tmp_path / "store" / "tsq.db"))
    subprocess.run(
        [ts_binary, "-S", "2"], check=True, capture_output=True, stdin=subprocess.DEVNULL
    )


def test_discovery() -> None:
    """Hydra loads plugin modules on its own (not through sys.modules), so compare by name."""
    found = {f"{p.__module__}.{p.__qualname__}" for p in Plugins.instance().discover(Launcher)}
    assert f"{TsLauncher.__module__}.{TsLauncher.__qualname__}" in found


# Fixtures, not parametrize: the suites extend `overrides` in place, and a parametrized list is
# one object shared by every run of the test (here one per ts variant).
@pytest.fixture
def launcher_name() -> str:
    return "ts"


class TestTsLauncher(LauncherTestSuite):
    @pytest.fixture
    def overrides(self) -> list[str]:
        return [*WAIT]


class TestTsLauncherBatched(BatchedSweeperTestSuite):
    @pytest.fixture
    def overrides(self) -> list[str]:
        return [*WAIT, "hydra.sweeper.max_batch_size=2"]


class TestTsLauncherIntegration(IntegrationTestSuite):
    @pytest.fixture
    def task_launcher_cfg(self) -> dict[str, str]:
        return {}

    @pytest.fixture
    def extra_flags(self) -> list[str]:
        return ["-m", "hydra/launcher=ts", *WAIT]


# The same suites on Slurm (`hydra/launcher=tsq_slurm`), against the one-node cluster; once, not
# per ts variant (`debian_only`: no ts is involved), and with fixtures for the same reason as above.
SLURM_WAIT = [*WAIT, "hydra.launcher.timeout_min=5"]


@debian_only
@pytest.mark.usefixtures("slurm_cluster")
class TestTsqSlurmLauncher(LauncherTestSuite):
    @pytest.fixture
    def launcher_name(self) -> str:
        return "tsq_slurm"

    @pytest.fixture
    def overrides(self) -> list[str]:
        return [*SLURM_WAIT]


@debian_only
@pytest.mark.usefixtures("slurm_cluster")
class TestTsqSlurmLauncherBatched(BatchedSweeperTestSuite):
    @pytest.fixture
    def launcher_name(self) -> str:
        return "tsq_slurm"

    @pytest.fixture
    def overrides(self) -> list[str]:
        return [*SLURM_WAIT, "hydra.sweeper.max_batch_size=2"]


@debian_only
@pytest.mark.usefixtures("slurm_cluster")
class TestTsqSlurmLauncherIntegration(IntegrationTestSuite):
    @pytest.fixture
    def task_launcher_cfg(self) -> dict[str, str]:
        return {}

    @pytest.fixture
    def extra_flags(self) -> list[str]:
        return ["-m", "hydra/launcher=tsq_slurm", *SLURM_WAIT]

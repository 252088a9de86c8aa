"""The launch benchmark's floor: `hydra/launcher=floor` hands back pending JobReturns without
queueing or recording anything, so a sweep with it costs Hydra's own sweep expansion and per-job
validation, and nothing else. Only on the path when `benchmarks/launch.py` runs."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


@dataclass
class FloorLauncherConf:
    _target_: str = "hydra_plugins.tsq_floor_launcher.floor_launcher.FloorLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="floor", node=FloorLauncherConf)


class Pending(JobReturn):
    @property  # type: ignore[override]
    def return_value(self) -> Any:
        return None


class FloorLauncher(Launcher):
    def __init__(self, **options: Any) -> None:
        """Takes the options another launcher is given and ignores them: the floor composes
        every job with the same command-line overrides as the launcher it is the floor of."""

    def setup(self, **kwargs: Any) -> None:
        pass

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return [Pending(overrides=list(overrides)) for overrides in job_overrides]

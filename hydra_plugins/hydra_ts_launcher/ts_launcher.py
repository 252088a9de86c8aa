"""Hydra launcher plugins `hydra/launcher=ts` and `hydra/launcher=tsq_slurm`: queue every job in
task-spooler or Slurm and return.

Hydra imports every module under `hydra_plugins` when any Hydra app starts, so this module stays
light: the config node (the options live in `tsq.options`, which imports only the standard
library) and a thin Launcher whose work is imported from `tsq` only when a sweep uses it.

No `from __future__ import annotations` here: Hydra executes plugin modules without registering
them in sys.modules, and dataclasses then cannot resolve string annotations.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from tsq.options import CommonOptions, LaunchOptions, SlurmLaunchOptions


@dataclass
class TsLauncherConf(LaunchOptions):
    _target_: str = "hydra_plugins.hydra_ts_launcher.ts_launcher.TsLauncher"


@dataclass
class TsqSlurmLauncherConf(SlurmLaunchOptions):
    _target_: str = "hydra_plugins.hydra_ts_launcher.ts_launcher.TsqSlurmLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="ts", node=TsLauncherConf, provider="tsq")
ConfigStore.instance().store(
    group="hydra/launcher", name="tsq_slurm", node=TsqSlurmLauncherConf, provider="tsq"
)


class TsLauncher(Launcher):
    options_class: type[CommonOptions] = LaunchOptions

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sweep: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from tsq.launch import SweepLauncher, user_errors

        with user_errors():
            self.sweep = SweepLauncher(
                self.options_class.from_config(self.options),
                config=config,
                hydra_context=hydra_context,
                task_function=task_function,
            )

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from tsq.launch import user_errors

        with user_errors():
            return self.sweep.launch(job_overrides, initial_job_idx)


class TsqSlurmLauncher(TsLauncher):
    options_class = SlurmLaunchOptions

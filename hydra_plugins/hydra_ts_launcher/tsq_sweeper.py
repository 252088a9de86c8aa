"""Hydra sweeper plugin `hydra/sweeper=tsq`: the basic sweeper's grid, queued without composing
every job in the launching process (`tsq.launch.sweeper`).

Light, as every module under `hydra_plugins` (Hydra imports them all when any app starts): the
config node (options in `tsq.options`) and a thin Sweeper whose work is imported when it sweeps.
No `from __future__ import annotations` (see `ts_launcher`).
"""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from tsq.options import SweepOptions


@dataclass
class TsqSweeperConf(SweepOptions):
    _target_: str = "hydra_plugins.hydra_ts_launcher.tsq_sweeper.TsqSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="tsq", node=TsqSweeperConf, provider="tsq")


class TsqSweeper(Sweeper):
    def __init__(self, **options: Any) -> None:
        self.options = SweepOptions(**options)
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from tsq.launch.errors import user_errors
        from tsq.launch.sweeper import sweep

        with user_errors():
            return sweep(self.options, arguments, self.config, self.hydra_context, self.launcher)

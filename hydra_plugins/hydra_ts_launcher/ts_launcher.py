"""Hydra launcher plugin `hydra/launcher=ts`: queue every job in task-spooler and return.

Hydra imports every module under `hydra_plugins` when any Hydra app starts, so this module stays
light: the config dataclass and a thin Launcher whose work is imported from `tsq` only when a
sweep actually uses it.

No `from __future__ import annotations` here: Hydra executes plugin modules without registering
them in sys.modules, and dataclasses then cannot resolve string annotations.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class TsLauncherConf:
    _target_: str = "hydra_plugins.hydra_ts_launcher.ts_launcher.TsLauncher"
    # Block until every job has ended and return the real results (needed by adaptive sweepers).
    wait: bool = False
    # Store URL or path; default: $TSQ_STORE, else $XDG_STATE_HOME/tsq/tsq.db.
    store: str | None = None
    # ts socket; default: $TS_SOCKET, else task-spooler's own default.
    socket: str | None = None
    # `auto` finds `tsp` (Debian) or `ts`; or a name or path.
    binary: str = "auto"
    # ts slots each job takes (`ts -N`).
    slots: int = 1
    # GPUs each job takes (`ts -G`, GPU fork of task-spooler only).
    gpus: int = 0
    # Extra environment variables for the jobs (on top of the launching shell's).
    env: dict[str, str] = field(default_factory=dict)
    # Start the jobs after a ts job (its id) or after every job of a sweep (id, prefix or dir).
    depends_on: str | None = None


ConfigStore.instance().store(group="hydra/launcher", name="ts", node=TsLauncherConf, provider="tsq")


class TsLauncher(Launcher):
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sweep: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from tsq.launch import LaunchOptions, SweepLauncher, user_errors

        with user_errors():
            self.sweep = SweepLauncher(
                LaunchOptions.from_config(self.options),
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

"""Hydra launcher plugins `hydra/launcher=ts` and `hydra/launcher=tsq_slurm`: queue every job in
task-spooler or Slurm and return.

Hydra imports every module under `hydra_plugins` when any Hydra app starts, so this module stays
light: the config node (the options live in `tsq.options`, which imports only the standard
library) and a thin Launcher whose work is imported from `tsq` only when a sweep uses it.

No `from __future__ import annotations` here: Hydra executes plugin modules without registering
them in sys.modules, and dataclasses then cannot resolve string annotations.

One check runs before Hydra builds the launcher: Hydra resolves the launcher's whole config node
(`OmegaConf.resolve` in `hydra.utils.instantiate`, called by `Plugins.instantiate_launcher`)
before tsq's code sees any option, so `notify='... ${TSQ_COUNTS}'` (an OmegaConf interpolation
to a key no config has) failed there with a traceback. `instantiate_launcher` is wrapped to check
`notify` first when the launcher is tsq's, and passes through untouched for any other.
"""

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError

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
        from tsq.launch.errors import user_errors
        from tsq.launch.launcher import SweepLauncher

        options = self.options_class.from_config(self.options)
        launcher: Any = SweepLauncher
        if options.dry_run:
            from tsq.launch.plan import DryRun as launcher
        with user_errors():
            self.sweep = launcher(
                options,
                config=config,
                hydra_context=hydra_context,
                task_function=task_function,
            )

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from tsq.launch.errors import user_errors

        with user_errors():
            return self.sweep.launch(job_overrides, initial_job_idx)


class TsqSlurmLauncher(TsLauncher):
    options_class = SlurmLaunchOptions


TARGETS = {TsLauncherConf._target_, TsqSlurmLauncherConf._target_}


def notify_problem(launcher: DictConfig) -> str | None:
    """Why Hydra cannot read the launcher node's `notify`, or None: an OmegaConf interpolation
    it cannot resolve, e.g. `${TSQ_COUNTS}` meant for the shell. Read as Hydra's `instantiate`
    reads it: on a copy, resolved in place and then read again, so an escape undone by the first
    reading (`\\${TSQ_COUNTS}`) fails here too."""
    node = copy.deepcopy(launcher)
    node._set_flag(["struct", "readonly"], [False, False])
    node._set_parent(launcher._get_parent())
    try:
        for _ in range(2):
            node["notify"] = node.get("notify")
    except InterpolationResolutionError as e:
        raw = str(launcher._get_node("notify")._value())  # type: ignore[union-attr]
        found = re.search(r"\$\{([^}]*)\}", raw)
        shown, name = (found.group(0), found.group(1)) if found else (raw, "")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return f"tsq: hydra.launcher.notify: {str(e).splitlines()[0]}; nothing was queued"
        return (
            f"tsq: hydra.launcher.notify: {shown} is read by OmegaConf as an interpolation; "
            f"write ${name}, or \\\\\\${{{name}}} (Hydra reads the option twice); "
            "nothing was queued"
        )
    return None


def _checks_notify(instantiate_launcher: Any) -> Any:
    def checked(self: Plugins, *args: Any, **kwargs: Any) -> Launcher:
        config = kwargs.get("config", args[-1] if args else None)
        launcher = None if config is None else config.hydra.get("launcher")
        if launcher is not None and launcher.get("_target_") in TARGETS:
            try:
                problem = notify_problem(launcher)
            except Exception:  # OmegaConf's internals moved: Hydra's own error then
                problem = None
            if problem is not None:
                from tsq.launch.errors import TsqLaunchError

                raise TsqLaunchError(problem)
        return instantiate_launcher(self, *args, **kwargs)

    checked.tsq_checks_notify = True  # type: ignore[attr-defined]
    return checked


if not getattr(Plugins.instantiate_launcher, "tsq_checks_notify", False):
    Plugins.instantiate_launcher = _checks_notify(Plugins.instantiate_launcher)  # type: ignore[method-assign]

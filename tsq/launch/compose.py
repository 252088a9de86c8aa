"""Every job's config is composed at submit time, in the launching process, once.

A queued job may start hours after launch and must run the config as it was when it was queued,
not whatever the user has edited since; and composing costs ~0.1 s per job even for a tiny app.
Hydra's BasicSweeper already composes every job of a batch (`validate_batch_is_legal`) just before
it calls `launch()`, through the config loader it shares with the launcher in `hydra_context`.
Recording those composes gives the launcher each job's config at no extra cost; jobs the sweeper
did not compose (sweepers that skip the check, direct `launch()` calls) are composed here, as
Hydra's BasicLauncher would. The job's interpreter then composes nothing. Each config's task part
is digested while it is at hand, for the job's reuse key (`tsq.launch.reuse`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NamedTuple

from tsq.errors import SpecError
from tsq.files.jobspec import pickled
from tsq.launch.reuse import TaskConfig, task_config

if TYPE_CHECKING:
    from hydra.core.config_loader import ConfigLoader
    from hydra.types import HydraContext
    from omegaconf import DictConfig


class Composed(NamedTuple):
    """A job's composed config: pickled for its spec, and its task part's digest (None: it
    cannot be written down, and the job is never reused)."""

    pickled: bytes
    task: TaskConfig | None


def _composed(config: DictConfig, main_by_name: bool) -> Composed:
    return Composed(pickled(config, "the job's config", main_by_name), task_config(config))


class RecordingLoader:
    """Stands in for Hydra's config loader in `hydra_context`: the same loader, except that the
    sweep configs it composes for `master` are kept, pickled (a composed config is ~170 kB of
    objects but ~12 kB pickled), until the launcher takes them."""

    def __init__(self, loader: ConfigLoader, master: DictConfig, main_by_name: bool) -> None:
        self._loader = loader
        self._master = master
        self._main_by_name = main_by_name
        self._composed: dict[tuple[str, ...], Composed] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        config = self._loader.load_sweep_config(
            master_config=master_config, sweep_overrides=sweep_overrides
        )
        if master_config is self._master:
            # One that cannot be pickled is composed again by `take`, which says so to the user.
            with suppress(SpecError):
                self._composed[tuple(sweep_overrides)] = _composed(config, self._main_by_name)
        return config

    def take(self, overrides: Sequence[str]) -> Composed:
        """The job's config: the sweeper's compose if it made one, else a new one."""
        recorded = self._composed.pop(tuple(overrides), None)
        if recorded is not None:
            return recorded
        config = self._loader.load_sweep_config(
            master_config=self._master, sweep_overrides=list(overrides)
        )
        return _composed(config, self._main_by_name)


def record_composes(
    hydra_context: HydraContext, master: DictConfig, main_by_name: bool
) -> RecordingLoader:
    """Put a recording loader in `hydra_context`, which the sweeper shares with the launcher.
    `main_by_name`: the jobs run the app's script as `__main__` (`tsq.files.jobspec.pickled`)."""
    loader = hydra_context.config_loader
    if isinstance(loader, RecordingLoader):  # an earlier launcher's, for another master
        loader = loader._loader
    recorder = RecordingLoader(loader, master, main_by_name)
    hydra_context.config_loader = recorder
    return recorder

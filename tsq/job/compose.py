"""A job of a `hydra/sweeper=tsq` sweep composes its own config, from what the launch froze.

The launch composed a few jobs to check the sweep and none of the others (`tsq.launch.sweeper`):
each job composes its config here, as Hydra's basic launcher would in the launching process
(`ConfigLoader.load_sweep_config` on the launch's master config with the job's overrides), and
gets the same config, because what composing reads is what the launch had:

- the master config (its `hydra.overrides.hydra`, config name, and the cache of what it
  resolved: `${now:}` in the sweep dir gives the launch's time), pickled in the spec;
- Hydra's state (the ConfigStore with the structured configs the app registered, the
  resolvers, the job name), restored from the spec before this runs (`tsq.job.runner`);
- the config search path, with each config dir on it (the app's `config_path`,
  `--config-dir`, `hydra.searchpath` entries) read from its frozen copy: Hydra's file source
  is replaced by one that keeps the dir's own path (what `hydra.runtime.config_sources` and
  error messages show) but reads the copy. A dir that did not exist at launch stays absent.
  Configs in packages (`pkg://`) are imported from the job's `sys.path`: the code snapshot.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tsq.files.jobspec import BatchSpec, ComposeSpec, ToCompose

if TYPE_CHECKING:
    from omegaconf import DictConfig

# What a config dir the launch did not find reads from: nothing is there.
ABSENT = "/nonexistent/tsq-absent-config-dir"


class ConfigNotComposed(Exception):
    """The job's config does not compose: the job could not be set up (exit 2)."""


def frozen_file_source(frozen: dict[str, str]) -> type:
    """Hydra's file config source, reading each dir from its copy in `frozen`."""
    from hydra._internal.core_plugins.file_config_source import FileConfigSource

    class FrozenFileConfigSource(FileConfigSource):  # type: ignore[misc]
        def __init__(self, provider: str, path: str) -> None:
            super().__init__(provider=provider, path=path)
            copy = frozen.get(os.path.realpath(self.path), ABSENT)
            self._copy = FileConfigSource(provider=provider, path=copy)

        def load_config(self, config_path: str) -> Any:
            result = self._copy.load_config(config_path)
            result.path = f"{self.scheme()}://{self.path}"
            return result

        def available(self) -> bool:
            return bool(self._copy.available())

        def is_group(self, config_path: str) -> bool:
            return bool(self._copy.is_group(config_path))

        def is_config(self, config_path: str) -> bool:
            return bool(self._copy.is_config(config_path))

        def list(self, config_path: str, results_filter: Any) -> list[str]:
            return list(self._copy.list(config_path, results_filter))

    FrozenFileConfigSource.__name__ = FileConfigSource.__name__
    return FrozenFileConfigSource


def compose(spec: ComposeSpec, overrides: list[str]) -> DictConfig:
    """The config of the job with `overrides`, as the launch's loader would compose it.
    Hydra's state must be the launch's already (`Singleton.set_state`)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra._internal.sources_registry import SourcesRegistry

    SourcesRegistry.instance().types["file"] = frozen_file_source(spec.frozen)
    search_path = ConfigSearchPathImpl()
    for provider, path in spec.search_path:
        search_path.append(provider=provider, path=path)
    try:
        loader = ConfigLoaderImpl(config_search_path=search_path)
        return loader.load_sweep_config(spec.master, list(overrides))
    except Exception as e:
        cause = str(e).strip() or str(e.__cause__ or "").strip() or type(e).__name__
        raise ConfigNotComposed(f"could not be set up: its config does not compose: {cause}") from e


def composed(batch: BatchSpec, num: int, config: ToCompose) -> DictConfig:
    """Job `num`'s config, composed here, in the dir a retry holds it to (`config.at`)."""
    assert batch.compose is not None, "a spec without configs says how to compose them"
    made = compose(batch.compose, batch.overrides[num])
    return made if config.at is None else config.at.hold(made)

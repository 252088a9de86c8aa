"""Freeze a sweep's YAML config at submit time.

A queued job may start hours after launch; it must run the config as it was when submitted, not
whatever the user has edited since. Composing every job's config in the parent would double the
launch cost (Hydra's sweeper already composes each job once), so instead the file-based config
sources are copied once per sweep, and the job composes against the copies.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

YAML_SUFFIXES = (".yaml", ".yml")


def _is_hydra_output(dirpath: Path) -> bool:
    """A run's output dir (it has `.hydra/`) holds YAML that is output, not config."""
    return (dirpath / ".hydra").is_dir()


def copy_yaml_tree(src: Path, dest: Path) -> None:
    """Copy the YAML files below `src`, skipping hidden dirs and Hydra output dirs."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        here = Path(dirpath)
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and not _is_hydra_output(here / d)
        ]
        target = dest / here.relative_to(src)
        for name in filenames:
            if name.endswith(YAML_SUFFIXES):
                target.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.copyfile(here / name, target / name)


def file_sources(config_sources: Iterable[Any]) -> list[str]:
    """The file-based entries of `hydra.runtime.config_sources` (the master config lists all
    sources the primary composition used, `hydra.searchpath` entries included)."""
    return [str(src.path) for src in config_sources if src.schema == "file"]


def snapshot(config_sources: Iterable[Any], dest: Path) -> dict[str, str]:
    """Copy every file config source below `dest`; returns original path -> copy."""
    frozen: dict[str, str] = {}
    for index, path in enumerate(file_sources(config_sources)):
        if path in frozen or not Path(path).is_dir():
            continue
        copy = dest / str(index)
        copy.mkdir(mode=0o700, parents=True, exist_ok=True)
        copy_yaml_tree(Path(path), copy)
        frozen[path] = str(copy)
    return frozen


def install(frozen: Mapping[str, str], config_loader: Any) -> None:
    """In the job's interpreter: make every `file://` source read from its frozen copy.

    The pickled config loader holds source objects built in the parent, and `hydra.searchpath`
    sources are built during composition; swapping the class registered for the `file` scheme
    and rebuilding the loader's sources covers both.
    """
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra._internal.sources_registry import SourcesRegistry

    class FrozenFileConfigSource(FileConfigSource):
        def __init__(self, provider: str, path: str) -> None:
            super().__init__(provider=provider, path=path)
            self.path = frozen.get(self.path, self.path)

    SourcesRegistry.instance().types["file"] = FrozenFileConfigSource
    config_loader.repository.initialize_sources(config_loader.get_search_path())


def restore_paths(frozen: Mapping[str, str], cfg: Any) -> None:
    """Show the user's own config dirs, not the copies, in the job's `.hydra/hydra.yaml`."""
    back = {copy: original for original, copy in frozen.items()}
    for src in cfg.hydra.runtime.config_sources:
        if src.schema == "file" and src.path in back:
            src.path = back[src.path]
